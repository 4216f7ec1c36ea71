"""A store credentials Secret that is missing, wrong, or rotated mid-execution.

The run pods and the operator reach moto through a proxy that accepts only the access
key ids it is told (``FaultProxy.accept_keys``), answering 403 ``InvalidAccessKeyId``
otherwise, as S3 does. In each case the Execution keeps its phase, a condition and an
Event name the Secret and the key to fix, and it goes on by itself once the Secret is
fixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from tests.stores import emulators
from tests.stores.proxy import FaultProxy, fault_proxy

from faults import SAMPLE
from operator_fixtures import BUCKET, Agents
from polling import wait_until


@pytest.fixture
def proxy(s3: emulators.Emulator) -> Iterator[FaultProxy]:
    with fault_proxy(s3.endpoint) as running:
        running.accept_keys("key-1")
        yield running


def secret(agents: Agents, name: str, proxy: FaultProxy, key: str, *, create: bool = True,
           access_key_name: str = "AWS_ACCESS_KEY_ID") -> None:
    body: dict[str, Any] = {"metadata": {"name": name}, "stringData": {
        "AWS_ENDPOINT_URL": proxy.endpoint, access_key_name: key,
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}}
    core = client.CoreV1Api(agents.api)
    if create:
        core.create_namespaced_secret(agents.namespace, body)  # type: ignore[arg-type]
    else:
        core.replace_namespaced_secret(name, agents.namespace, body)  # type: ignore[arg-type]


def held(agents: Agents, name: str, *needles: str) -> dict[str, Any]:
    """Wait for the StoreUnavailable condition saying all of ``needles``; return it."""
    def found() -> dict[str, Any] | None:
        for condition in (agents.get(name).get("status") or {}).get("conditions", []):
            if (condition["type"] == "StoreUnavailable" and condition["status"] == "True"
                    and all(n in condition["message"] for n in needles)):
                return condition  # type: ignore[no-any-return]
        return None
    return wait_until(found, timeout=90, what=f"{name} to say {needles}")


def flow_version_ready(agents: Agents, name: str) -> dict[str, Any] | None:
    """A FlowVersion's Ready condition (None: not written yet)."""
    status = agents.read("flowversions.kitaru.ai", name).get("status") or {}
    conditions = status.get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def cleared(agents: Agents, name: str) -> bool:
    return not [c for c in (agents.get(name).get("status") or {}).get("conditions", [])
                if c["type"] == "StoreUnavailable"]


def test_a_missing_wrong_or_rotated_secret_is_named_and_recovers_once_fixed(
    agents: Agents, proxy: FaultProxy
) -> None:
    for name in ("creds-a", "creds-b"):
        agents.apply(agents.flow_version(f"{name}-v1", f"{SAMPLE}:approve_between", store={
            "uri": f"s3://{BUCKET}/{agents.namespace}",
            "credentialsSecret": {"name": name}}))
    # Missing: creds-a does not exist yet.
    agents.apply(agents.execution("missing", "creds-a-v1", input={"label": "missing"}))
    condition = held(agents, "missing", "'creds-a'", "does not exist")
    assert condition["reason"] == "StoreCredentials"
    assert agents.phase("missing") != "Failed" and not agents.pods()
    not_ready = wait_until(lambda: (ready := flow_version_ready(agents, "creds-a-v1")) and (
        ready["status"] == "False" and ready), what="creds-a-v1 to say it is not ready")
    assert "'creds-a'" in not_ready["message"], not_ready
    # Wrong: creds-b names a key the store does not know; then a typo in the key's name.
    secret(agents, "creds-b", proxy, "key-that-was-never-issued")
    agents.apply(agents.execution("wrong", "creds-b-v1", input={"label": "wrong"}))
    held(agents, "wrong", "'creds-b'", "AWS_ACCESS_KEY_ID", "access denied")
    secret(agents, "creds-b", proxy, "key-1", create=False, access_key_name="AWS_ACCESS_KEY")
    held(agents, "wrong", "'creds-b'", "holds AWS_SECRET_ACCESS_KEY but not AWS_ACCESS_KEY_ID")
    events = [e["message"] for e in agents.events("StoreUnavailable")]
    assert any("'creds-a'" in m for m in events) and any("'creds-b'" in m for m in events)

    # Fixed: both go on by themselves, to their wait.
    secret(agents, "creds-a", proxy, "key-1")
    secret(agents, "creds-b", proxy, "key-1", create=False)
    for name in ("missing", "wrong"):
        agents.wait_phase(name, "Waiting", timeout=120)
        assert cleared(agents, name)
    # The FlowVersions say so too, though nothing changed them: they are looked at again.
    for name in ("creds-a-v1", "creds-b-v1"):
        wait_until(lambda name=name: (flow_version_ready(agents, name) or {}).get("status")
                   == "True", timeout=60, what=f"{name} to be ready once its Secret works")

    # Rotated while both wait: the old key stops working before the Secret is updated.
    proxy.accept_keys("key-2")
    agents.patch("missing", {"answers": {"approve": True}})
    held(agents, "missing", "'creds-a'", "access denied")
    secret(agents, "creds-a", proxy, "key-2", create=False)
    secret(agents, "creds-b", proxy, "key-2", create=False)
    agents.patch("wrong", {"answers": {"approve": True}})
    for name in ("missing", "wrong"):
        status = agents.wait_phase(name, "Succeeded", timeout=120)["status"]
        assert status["output"]["value"] == f"NOTES FOR {name.upper()}"
        assert cleared(agents, name)
    assert [e for e in agents.events("StoreAvailable")]
