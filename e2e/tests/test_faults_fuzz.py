"""Bad input, fuzzed with hypothesis against the real API server and a running operator.

Execution, FlowVersion and Flow manifests with wrong types, huge values, deep nesting,
unicode and missing references, and patches of a waiting Execution (answers of the
wrong type, answers for waits that do not exist, changes to what cannot change). Every
case must be refused by the API server's schema, or accepted and then reported by the
operator (a condition or an Event on the object); the operator must not crash, must go
quiet once it has reported (no reconcile loop posting Events over and over), and a
waiting Execution must still be waiting on the same question afterwards.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from faults import FULL, SAMPLE, Report
from operator_fixtures import Agents, OperatorProcess
from polling import wait_until

GROUP, VERSION = "kitaru.ai", "v1alpha1"
CASES = 1500 if FULL else 1000
_names = itertools.count()

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested tens to hundreds of levels deep."""
    value: Any = draw(json_leaf)
    for _ in range(draw(st.integers(min_value=20, max_value=400))):
        value = [value] if draw(st.booleans()) else {"k": value}
    return value


huge = st.builds(lambda n, c: c * n, st.integers(10_000, 200_000), st.sampled_from("xü\u202e"))
odd = st.one_of(json_value, deep(), huge,
                st.text(alphabet="\u0000\u202e\ufeff\U0001f600ā√", max_size=30))
name_like = st.one_of(st.sampled_from(["missing-v1", "", "UPPER", "a" * 300, "ünï"]),
                      st.text(max_size=20), st.integers(), st.none())


# Well-typed but wrong (names of objects that do not exist, values the flow cannot take):
# what the API server accepts and the operator must report.
json_dict = st.dictionaries(st.text(max_size=10), json_value, max_size=3)
missing_name = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)


def mostly(typed: st.SearchStrategy[Any], wild: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Three draws in four well typed, so that many cases pass the schema (``one_of``
    would not weigh a strategy given twice)."""
    return st.integers(0, 3).flatmap(lambda pick: wild if pick == 0 else typed)


def maybe(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of ``fields``, plus unknown keys."""
    return st.fixed_dictionaries({}, optional={**fields, "surprise": odd, "ü": odd})


# What the spec runs (exactly one, as the schema's rules ask), then anything else.
runs = st.one_of(
    st.fixed_dictionaries({"flowVersion": mostly(missing_name, name_like)}),
    st.fixed_dictionaries({"flow": mostly(missing_name, name_like),
                           "tag": mostly(st.text(max_size=12), name_like)}),
    st.fixed_dictionaries({"replay": mostly(st.fixed_dictionaries(
        {"execution": mostly(missing_name, name_like)}, optional={
            "from": mostly(st.text(max_size=12), name_like),
            "overrides": mostly(json_dict, odd),
            "skip": mostly(st.lists(st.text(max_size=8)), odd)}), odd)}))
execution_spec = mostly(st.builds(lambda a, b: {**b, **a}, runs, maybe({
    "input": mostly(json_dict, odd),
    "answers": mostly(json_dict, odd), "cancel": mostly(st.booleans(), odd),
    "retry": mostly(st.integers(0, 2**31), odd)})), odd)
flow_version_spec = mostly(st.fixed_dictionaries({
    "flow": mostly(missing_name, name_like), "version": mostly(st.integers(1, 2**31), odd),
    "image": mostly(st.text(min_size=1, max_size=30), name_like),
    # Well formed, naming nothing there is (the pod would fail; the schema cannot know).
    "entrypoint": mostly(st.sampled_from(["nope:nothing", "tests.sdk.sample_flows:nope",
                                          "os:path"]),
                         st.sampled_from(["no_colon", ":", "a:b:c", "missing-v1"])),
}, optional={
    "env": mostly(st.lists(st.fixed_dictionaries({
        "name": st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True),
        "value": st.text(max_size=20)}), max_size=3), odd),
    "retries": mostly(st.integers(0, 20), odd),
    "checkpointRuntime": mostly(st.sampled_from(["isolated", "inline"]), odd),
    "store": mostly(st.fixed_dictionaries({"uri": st.sampled_from([
        "s3://no-such-bucket/x", "file:///nonexistent/dir", "az://nope/x", "nope://x"])},
        optional={"credentialsSecret": mostly(st.fixed_dictionaries(
            {"name": missing_name}), odd)}), odd),
}), odd)
flow_spec = mostly(maybe({
    "tags": mostly(st.dictionaries(st.text(min_size=1, max_size=10),
                                   st.integers(1, 50), max_size=3), odd),
}), odd)
answers_patch = st.one_of(
    st.fixed_dictionaries({"answers": st.dictionaries(
        st.one_of(st.just("approve"), st.text(max_size=12)),
        odd.filter(lambda v: not isinstance(v, bool)), min_size=1, max_size=3)}),
    maybe({"input": odd, "flowVersion": name_like, "retry": st.integers(max_value=-1),
           "cancel": odd.filter(lambda v: not isinstance(v, bool))}))


def refused(exc: ApiException) -> bool:
    """Whether the API server refused the write as bad input: its schema (422), a body it
    cannot parse (400), or one too large (413; etcd's limit on one object comes back as a
    500 naming it, once answers patched in add up past it)."""
    return exc.status in (400, 413, 422) or (
        exc.status == 500 and "request is too large" in str(exc.body))


class Outcomes:
    """What happened to each case: refused by the API server, or accepted (by kind)."""

    def __init__(self, custom: client.CustomObjectsApi, namespace: str) -> None:
        self.custom = custom
        self.namespace = namespace
        self.refused = 0
        self.accepted: dict[str, list[str]] = {"executions": [], "flowversions": [],
                                               "flows": []}
        self.patches_accepted = 0

    def create(self, plural: str, kind: str, spec: Any) -> None:
        name = f"fuzz-{next(_names)}"
        try:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name},
                "spec": spec})
        except ApiException as exc:
            assert refused(exc), f"{kind} {spec!r:.200}: {exc.status} {exc.body!r:.300}"
            self.refused += 1
            return
        self.accepted[plural].append(name)

    def patch(self, name: str, spec: dict[str, Any]) -> None:
        try:
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                       "executions", name, {"spec": spec})
        except ApiException as exc:
            assert refused(exc), f"patch {spec!r:.200}: {exc.status} {exc.body!r:.300}"
            self.refused += 1
            return
        self.patches_accepted += 1


def reported(agents: Agents, plural: str, name: str, noticed: set[str]) -> bool:
    """Whether the operator has said something about the object: a condition, or an Event."""
    if name in noticed:
        return True
    obj: Any = client.CustomObjectsApi(agents.api).get_namespaced_custom_object(
        GROUP, VERSION, agents.namespace, plural, name)
    return bool((obj.get("status") or {}).get("conditions"))


def event_count(agents: Agents) -> tuple[Counter[str], set[str]]:
    """Events so far by reason (repeats included), and the objects the operator told of."""
    events = client.CoreV1Api(agents.api).list_namespaced_event(agents.namespace).items
    by_reason: Counter[str] = Counter()
    for event in events:
        by_reason[event.reason] += event.count or 1
    return (by_reason,
            {e.involved_object.name for e in events if e.source.component == "kitaru-operator"})


def test_fuzzed_manifests_and_patches_are_refused_or_reported_and_change_nothing_else(
    agents: Agents, operator: OperatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    custom = client.CustomObjectsApi(agents.api)
    agents.apply(agents.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
    waiting = [f"asking-{i}" for i in range(2)]
    for name in waiting:
        agents.apply(agents.execution(name, "approval-v1", input={"topic": name}))
    for name in waiting:
        agents.wait_phase(name, "Waiting")
    before = {n: agents.get(n)["status"]["pendingWait"] for n in waiting}
    outcomes = Outcomes(custom, agents.namespace)
    kinds = st.sampled_from(["executions", "executions", "patch", "flowversions", "flows"])

    @settings(max_examples=CASES, deadline=None, database=None, derandomize=not FULL,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def case(data: st.DataObject) -> None:
        kind = data.draw(kinds)
        if kind == "executions":
            outcomes.create("executions", "Execution", data.draw(execution_spec))
        elif kind == "flowversions":
            outcomes.create("flowversions", "FlowVersion", data.draw(flow_version_spec))
        elif kind == "flows":
            outcomes.create("flows", "Flow", data.draw(flow_spec))
        else:
            outcomes.patch(waiting[data.draw(st.integers(0, 1))], data.draw(answers_patch))

    case()
    cases = outcomes.refused + outcomes.patches_accepted + sum(
        len(v) for v in outcomes.accepted.values())

    def all_reported() -> list[str]:
        _, noticed = event_count(agents)
        return [f"{plural}/{name}" for plural, names in outcomes.accepted.items()
                for name in names if not reported(agents, plural, name, noticed)]

    missing: list[str] = []
    try:
        wait_until(lambda: not all_reported(), timeout=180, what="every case to be reported")
    except AssertionError:
        missing = all_reported()
    # Quiet once reported: a loop re-posting Events (or failing) would show here.
    events_before, _ = event_count(agents)
    time.sleep(10)
    events_after, _ = event_count(agents)
    repeated = dict(events_after - events_before)
    after = {n: agents.get(n)["status"] for n in waiting}
    log = operator.log()
    report = Report(
        "fuzzed manifests and patches", executions=len(outcomes.accepted["executions"]),
        faults=cases, converged=cases - len(missing), seconds=time.monotonic() - started,
        notes={"refused by the API server": outcomes.refused,
               "accepted and reported": {k: len(v) for k, v in outcomes.accepted.items()},
               "patches accepted (and reported)": outcomes.patches_accepted,
               "not reported": missing[:10], "Events in 10 s once quiet":
               repeated, "operator alive": operator.alive(),
               "tracebacks in the operator log": log.count("Traceback")})
    with capsys.disabled():
        report.show()
    assert cases >= CASES
    assert operator.alive() and "Traceback" not in log, log[-3000:]
    assert not missing
    assert sum(repeated.values()) <= 2, f"the operator keeps posting Events: {repeated}"
    for name in waiting:  # still waiting on the same question, nothing accepted
        assert after[name]["phase"] == "Waiting"
        assert after[name]["pendingWait"] == before[name]
        assert not isinstance(agents.get(name)["spec"].get("answers", {}).get("approve"), bool)
