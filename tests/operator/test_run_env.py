"""The run pod's environment: the operator writes it, the runtime reads the same model."""

from __future__ import annotations

import pytest

from kitaru.errors import KitaruUsageError
from kitaru.runenv import ReplayRequest, RunEnv
from kitaru_operator.jobs import run_job
from kitaru_operator.models import FlowVersionSpec

FV = FlowVersionSpec(flow="demo", version=2, image="agent:2", entrypoint="agent:flow",
                     env=[{"name": "EXTRA", "value": "1"}])  # type: ignore[list-item]


def test_a_run_jobs_environment_reads_back_as_the_run_the_operator_meant() -> None:
    replay = ReplayRequest(source="ns.src.1234abcd", at="draft", overrides={"input.x": 2})
    job = run_job(namespace="ns", execution="ex-1", execution_uid="uid-1",
                  exec_id="ns.ex-1.uid1", run=3, flow_version_name="demo-v2",
                  flow_version=FV, store_uri="s3://b/p", inputs={"topic": "kelp"},
                  answers={"approve": True}, replay=replay)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    environ = {e["name"]: e["value"] for e in container["env"]}

    env = RunEnv.from_environ(environ)

    assert env == RunEnv(store="s3://b/p", execution_id="ns.ex-1.uid1", run=3,
                         entrypoint="agent:flow", flow="demo", version="demo-v2",
                         input={"topic": "kelp"}, answers={"approve": True}, replay=replay,
                         checkpoint_runtime="isolated")
    assert environ["EXTRA"] == "1"


def test_a_process_that_is_not_a_run_pod_has_no_run_env() -> None:
    assert RunEnv.from_environ({"KITARU_STORE": "s3://b"}) is None


@pytest.mark.parametrize(("environ", "message"), [
    ({"KITARU_ENTRYPOINT": "a:f", "KITARU_STORE": "s", "KITARU_EXECUTION_ID": "e",
      "KITARU_RUN": "0"}, "KITARU_RUN: must be at least 1, got 0"),
    ({"KITARU_ENTRYPOINT": "a:f", "KITARU_STORE": "s", "KITARU_EXECUTION_ID": "e",
      "KITARU_RUN": "1", "KITARU_INPUT": "{nope"}, "KITARU_INPUT is not valid JSON"),
    ({"KITARU_ENTRYPOINT": "a:f", "KITARU_EXECUTION_ID": "e", "KITARU_RUN": "1"},
     "KITARU_STORE: is missing"),
    ({"KITARU_ENTRYPOINT": "a:f", "KITARU_STORE": "s", "KITARU_EXECUTION_ID": "e",
      "KITARU_RUN": "two"}, "KITARU_RUN: must be a whole number, got 'two'"),
    ({"KITARU_ENTRYPOINT": "a:f", "KITARU_STORE": "s", "KITARU_EXECUTION_ID": "e",
      "KITARU_RUN": "1", "KITARU_REPLAY": '{"source": 3}'},
     "KITARU_REPLAY.source: must be a string, got 3"),
])
def test_a_malformed_run_env_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(KitaruUsageError, match=message):
        RunEnv.from_environ(environ)
