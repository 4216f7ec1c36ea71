"""The operator's status writes against the real API server: a decision made from an
out-of-date copy of an Execution is refused, never written over a newer state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from kitaru_operator import apply, kubeapi
from kitaru_operator.models import GROUP, VERSION, ExecutionStatus
from kitaru_operator.observed import Decision


@pytest.fixture
def operator_client(kubeconfig: Path) -> Iterator[None]:
    """Point the operator's own API client (the process default) at the e2e cluster."""
    config.load_kube_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    kubeapi.api.cache_clear()
    yield
    kubeapi.api.cache_clear()


def _execution(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    obj: Any = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "executions", name)
    return obj  # type: ignore[no-any-return]


def test_a_status_decided_from_a_stale_copy_is_refused(
    k8s_api: client.ApiClient, namespace: str, crds: None, operator_client: None
) -> None:
    custom = client.CustomObjectsApi(k8s_api)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "executions", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Execution",
        "metadata": {"name": "raced"}, "spec": {"flowVersion": "none"}})
    stale = _execution(custom, namespace, "raced")
    # Someone else moves the Execution on after the operator's copy was taken.
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "executions", "raced",
                                          {"spec": {"cancel": True}})

    with pytest.raises(apply.ConflictError):
        apply.apply(stale, Decision(status=ExecutionStatus(phase="Running", run=1)),
                        "", {}, None)

    fresh = _execution(custom, namespace, "raced")
    assert (fresh.get("status") or {}).get("phase") is None  # nothing was written
    apply.apply(fresh, Decision(status=ExecutionStatus(phase="Cancelled")), "", {}, None)
    assert _execution(custom, namespace, "raced")["status"]["phase"] == "Cancelled"
