"""Pods through the real Job controller and garbage collector, run by the process kubelet."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from polling import wait_until

Json = dict[str, Any]


def _job(name: str, script: str, **pod_spec: Any) -> Json:
    container: Json = {
        "name": "main",
        "image": "python:3.11-slim",
        "command": ["python", "-c", script],
    }
    container.update(pod_spec.pop("container", {}))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container], **pod_spec}},
        },
    }


def _job_pods(core: client.CoreV1Api, namespace: str, job: str) -> list[client.V1Pod]:
    return list(
        core.list_namespaced_pod(
            namespace, label_selector=f"batch.kubernetes.io/job-name={job}"
        ).items
    )


def _job_condition(batch: client.BatchV1Api, namespace: str, name: str) -> str | None:
    status = batch.read_namespaced_job_status(name, namespace).status
    for condition in status.conditions or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return str(condition.type)
    return None


def _terminated(pod: client.V1Pod) -> client.V1ContainerStateTerminated:
    (status,) = pod.status.container_statuses
    return status.state.terminated


WRITE_MESSAGE = """
import os, sys
print("hello from", os.environ["HOSTNAME"])
with open("/dev/termination-log", "w") as f:
    f.write(f"{os.environ['WHO']}: {os.environ['GREETING']} {os.environ['TOKEN']}")
"""


def test_concurrent_jobs_complete_with_their_own_termination_messages(
    k8s_api: client.ApiClient, namespace: str, pod_log: Callable[..., str]
) -> None:
    core, batch = client.CoreV1Api(k8s_api), client.BatchV1Api(k8s_api)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"GREETING": "hello"}}
    )
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "creds"}, "stringData": {"token": "s3cret"}}
    )
    names = [f"writer-{i}" for i in range(3)]
    for name in names:
        env = [
            {"name": "WHO", "value": name},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        ]
        container = {"env": env, "envFrom": [{"configMapRef": {"name": "settings"}}]}
        batch.create_namespaced_job(namespace, _job(name, WRITE_MESSAGE, container=container))

    for name in names:
        outcome = wait_until(
            lambda name=name: _job_condition(batch, namespace, name), what=f"Job {name}"
        )
        assert outcome == "Complete"
        (pod,) = _job_pods(core, namespace, name)
        assert pod.status.phase == "Succeeded"
        terminated = _terminated(pod)
        assert terminated.exit_code == 0
        assert terminated.reason == "Completed"
        assert terminated.message == f"{name}: hello s3cret"
        assert pod_log(namespace, pod.metadata.name) == f"hello from {pod.metadata.name}\n"


def test_failing_job_reports_exit_code_and_message(
    k8s_api: client.ApiClient, namespace: str
) -> None:
    core, batch = client.CoreV1Api(k8s_api), client.BatchV1Api(k8s_api)
    script = (
        "open('/dev/termination-log', 'w').write('input was not a number'); raise SystemExit(3)"
    )
    batch.create_namespaced_job(namespace, _job("fails", script))

    assert (
        wait_until(lambda: _job_condition(batch, namespace, "fails"), what="Job fails") == "Failed"
    )
    (pod,) = _job_pods(core, namespace, "fails")
    assert pod.status.phase == "Failed"
    terminated = _terminated(pod)
    assert (terminated.exit_code, terminated.reason) == (3, "Error")
    assert terminated.message == "input was not a number"


def test_pod_reaches_the_api_server_with_its_service_account(
    k8s_api: client.ApiClient, namespace: str
) -> None:
    core, batch = client.CoreV1Api(k8s_api), client.BatchV1Api(k8s_api)
    script = (
        "from kubernetes import client, config\n"
        "config.load_incluster_config()\n"
        "version = client.VersionApi().get_code().git_version\n"
        "open('/dev/termination-log', 'w').write(version)\n"
    )
    batch.create_namespaced_job(namespace, _job("in-cluster", script))

    assert wait_until(lambda: _job_condition(batch, namespace, "in-cluster")) == "Complete"
    (pod,) = _job_pods(core, namespace, "in-cluster")
    assert _terminated(pod).message == client.VersionApi(k8s_api).get_code().git_version


def test_init_container_prepares_a_shared_volume_before_the_main_container(
    k8s_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api)
    mount = [{"name": "work", "mountPath": "/var/tmp/kitaru-e2e-work"}]
    init = {
        "name": "prepare",
        "image": "busybox",
        "command": ["sh", "-c", "echo prepared > /var/tmp/kitaru-e2e-work/ready"],
        "volumeMounts": mount,
    }
    main = {
        "name": "main",
        "image": "python:3.11-slim",
        "command": ["sh", "-c", "cat /var/tmp/kitaru-e2e-work/ready > /dev/termination-log"],
        "volumeMounts": mount,
    }
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "two-step"},
            "spec": {
                "restartPolicy": "Never",
                "volumes": [{"name": "work", "emptyDir": {}}],
                "initContainers": [init],
                "containers": [main],
            },
        },
    )

    def finished() -> client.V1Pod | None:
        pod = core.read_namespaced_pod("two-step", namespace)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    pod = wait_until(finished, what="pod two-step to finish")
    assert pod.status.phase == "Succeeded"
    assert pod.status.init_container_statuses[0].state.terminated.exit_code == 0
    assert _terminated(pod).message == "prepared\n"
    assert not Path("/var/tmp/kitaru-e2e-work/ready").exists()  # the volume was the pod's alone


def test_failing_container_falls_back_to_its_log_when_asked(
    k8s_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api)
    spec = _job("x", "import sys; print('first', flush=True); sys.exit('boom: bad input')")["spec"]
    spec = spec["template"]["spec"]
    spec["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    core.create_namespaced_pod(namespace, {"metadata": {"name": "noisy"}, "spec": spec})

    def failed() -> client.V1Pod | None:
        pod = core.read_namespaced_pod("noisy", namespace)
        return pod if pod.status.phase == "Failed" else None

    terminated = _terminated(wait_until(failed, what="pod noisy to fail"))
    assert terminated.exit_code == 1
    assert terminated.message == "first\nboom: bad input"


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_deleting_a_job_garbage_collects_its_running_pod(
    k8s_api: client.ApiClient, namespace: str, policy: str
) -> None:
    core, batch = client.CoreV1Api(k8s_api), client.BatchV1Api(k8s_api)
    batch.create_namespaced_job(
        namespace, _job("sleeper", "import time; time.sleep(600)", terminationGracePeriodSeconds=5)
    )
    (pod,) = wait_until(
        lambda: [p for p in _job_pods(core, namespace, "sleeper") if p.status.phase == "Running"],
        what="the sleeper pod to run",
    )

    batch.delete_namespaced_job("sleeper", namespace, propagation_policy=policy)

    def pod_gone() -> bool:
        try:
            core.read_namespaced_pod(pod.metadata.name, namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_until(pod_gone, timeout=60, what=f"pod {pod.metadata.name} to be deleted")
    wait_until(lambda: not batch.list_namespaced_job(namespace).items, what="the Job to go")


def test_active_deadline_fails_a_pod_that_runs_too_long(
    k8s_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api)
    spec = _job("late", "import time; time.sleep(600)")["spec"]["template"]["spec"]
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": "late"}, "spec": {**spec, "activeDeadlineSeconds": 2}},
    )

    def failed() -> client.V1Pod | None:
        pod = core.read_namespaced_pod("late", namespace)
        return pod if pod.status.phase == "Failed" else None

    pod = wait_until(failed, timeout=60, what="pod late to fail")
    assert pod.status.reason == "DeadlineExceeded"
    assert _terminated(pod).exit_code == 128 + signal.SIGTERM


def test_restarted_kubelet_reports_a_pod_that_ended_while_it_was_down(
    k8s_api: client.ApiClient, namespace: str, cluster_paths: dict[str, Path]
) -> None:
    if os.environ.get("E2E_KUBECONFIG"):
        pytest.skip("restarts the process kubelet, which only the local control plane runs")
    core = client.CoreV1Api(k8s_api)
    release = cluster_paths["state"] / f"release-{namespace}"
    script = (
        "import pathlib, time\n"
        f"while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.1)\n"
        "open('/dev/termination-log', 'w').write('finished alone')\n"
    )
    spec = _job("x", script)["spec"]["template"]["spec"]
    core.create_namespaced_pod(namespace, {"metadata": {"name": "patient"}, "spec": spec})

    def running() -> client.V1Pod | None:
        pod = core.read_namespaced_pod("patient", namespace)
        return pod if pod.status.phase == "Running" else None

    started_at = wait_until(running, what="pod patient to run").status.start_time
    pid_file = cluster_paths["state"] / "pids" / "kubelet.pid"
    kubelet_pid = int(pid_file.read_text().split()[0])
    os.kill(kubelet_pid, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{kubelet_pid}").exists(), what="the kubelet to die")

    release.touch()  # the pod ends while no kubelet watches it
    up = Path(__file__).parents[1] / "cluster" / "up"
    subprocess.run([up], check=True, capture_output=True, timeout=120)

    def succeeded() -> client.V1Pod | None:
        pod = core.read_namespaced_pod("patient", namespace)
        return pod if pod.status.phase == "Succeeded" else None

    pod = wait_until(succeeded, what="pod patient to be reported Succeeded")
    assert pod.status.start_time == started_at
    assert pod.status.container_statuses[0].restart_count == 0
    assert _terminated(pod).message == "finished alone"
    release.unlink()


def _gone(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def test_finished_job_is_deleted_after_its_ttl(k8s_api: client.ApiClient, namespace: str) -> None:
    core, batch = client.CoreV1Api(k8s_api), client.BatchV1Api(k8s_api)
    job = _job("brief", "print('done')")
    job["spec"]["ttlSecondsAfterFinished"] = 0
    batch.create_namespaced_job(namespace, job)

    wait_until(
        lambda: _gone(lambda: batch.read_namespaced_job("brief", namespace)),
        what="the TTL controller to delete Job brief",
    )
    wait_until(lambda: not _job_pods(core, namespace, "brief"), what="its pod to be collected")


def test_deleting_a_namespace_stops_and_removes_its_running_pods(
    k8s_api: client.ApiClient,
) -> None:
    core = client.CoreV1Api(k8s_api)
    name = f"e2e-doomed-{os.getpid()}"
    core.create_namespace({"metadata": {"name": name}})
    wait_until(
        lambda: not _gone(lambda: core.read_namespaced_service_account("default", name)),
        what=f"the default ServiceAccount in {name}",
    )
    spec = _job("x", "import time; time.sleep(600)")["spec"]["template"]["spec"]
    core.create_namespaced_pod(name, {"metadata": {"name": "sleeper"}, "spec": spec})
    wait_until(
        lambda: core.read_namespaced_pod("sleeper", name).status.phase == "Running",
        what="pod sleeper to run",
    )

    core.delete_namespace(name)

    wait_until(
        lambda: _gone(lambda: core.read_namespace(name)),
        timeout=90,
        what=f"namespace {name} to be removed",
    )
