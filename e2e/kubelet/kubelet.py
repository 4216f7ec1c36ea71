"""The sync loop: bind pending pods, run their containers, report, honour deletion."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from . import node, volumes
from .containers import ContainerRecord, Exit, now
from .envvars import ConfigError, EnvSource, container_env, expand
from .status import TERMINAL, container_status, differs, pod_status

Json = dict[str, Any]
log = logging.getLogger("kubelet")

PYTHON_NAMES = ("python", "python3")
HEARTBEAT_SECONDS = 30.0
DEFAULT_GRACE_SECONDS = 30
MAX_BACKOFF_SECONDS = 30


def _seconds_since(stamp: str) -> float:
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - then).total_seconds()


def _should_restart(policy: str, record: ContainerRecord, ended: Exit) -> bool:
    """Restart per the policy, after a back-off (1 s, doubling to 30 s) like a kubelet's."""
    if not (policy == "Always" or (policy == "OnFailure" and ended.code != 0)):
        return False
    return _seconds_since(ended.finished_at) >= min(1 << record.restarts, MAX_BACKOFF_SECONDS)


@dataclass
class Kubelet:
    """One node's kubelet. All it knows about running containers is on disk."""

    core: CoreV1Api
    scheduler: CoreV1Api
    node_name: str
    state_dir: Path
    python: str
    ca_file: Path
    api_host: str
    api_port: str
    interval: float = 0.3
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _stopping: bool = False

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"

    def run(self) -> None:
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        node.register(self.core, self.node_name)
        log.info("node %s registered and Ready; state in %s", self.node_name, self.state_dir)
        last_beat = time.monotonic()
        while not self._stopping:
            # A test double that dies on one odd pod would fail every later test.
            try:
                self.sync_once()
                if time.monotonic() - last_beat > HEARTBEAT_SECONDS:
                    node.heartbeat(self.core, self.node_name)
                    last_beat = time.monotonic()
            except ApiException as error:
                log.warning("sync failed: %s %s", error.status, error.reason)
            except Exception:
                log.exception("sync failed")
            time.sleep(self.interval)
        # Containers keep running: a restarted kubelet picks them up from the state dir.
        log.info("stopping; %d containers left running", len(self._children))

    def _stop(self, signum: int, frame: object) -> None:
        del signum, frame
        self._stopping = True

    def sync_once(self) -> None:
        self._children = [c for c in self._children if c.poll() is None]
        # A node may list only its own pods (the Node authorizer checks the field
        # selector); finding unbound ones is the scheduler identity's job.
        for pod in self._list(self.scheduler, "spec.nodeName="):
            self._bind(pod)
        live: set[str] = set()
        for pod in self._list(self.core, f"spec.nodeName={self.node_name}"):
            if pod["spec"].get("nodeName") == self.node_name:
                live.add(pod["metadata"]["uid"])
                try:
                    self._sync_pod(pod)
                except ApiException as error:
                    # 404 and 409 mean the pod moved on; the next round sees it fresh.
                    if error.status not in (404, 409):
                        meta = pod["metadata"]
                        log.warning(
                            "syncing %s/%s: %s %s",
                            meta["namespace"], meta["name"], error.status, error.reason,
                        )  # fmt: skip
        self._forget_gone(live)

    @staticmethod
    def _list(api: CoreV1Api, selector: str) -> list[Json]:
        # Unparsed (_preload_content=False): a urllib3 response, not the V1PodList the stubs say.
        response: Any = api.list_pod_for_all_namespaces(field_selector=selector,
                                                        _preload_content=False)
        items: list[Json] = json.loads(response.data)["items"]
        return items

    def _bind(self, pod: Json) -> None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") or pod.get("status", {}).get("phase") in TERMINAL:
            return
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            self.scheduler.create_namespaced_pod_binding(
                meta["name"], meta["namespace"], binding,  # type: ignore[arg-type]  # plain manifest
                _preload_content=False,
            )
            log.info("bound %s/%s to %s", meta["namespace"], meta["name"], self.node_name)
        except ApiException as error:
            if error.status not in (404, 409):
                raise

    def _pod_dir(self, pod: Json) -> Path:
        meta = pod["metadata"]
        return self.pods_dir / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"

    def _sync_pod(self, pod: Json) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
        pod_dir = self._pod_dir(pod)
        init = spec.get("initContainers", [])
        records = {
            c["name"]: ContainerRecord(pod_dir / c["name"]) for c in [*init, *spec["containers"]]
        }
        deleting = bool(meta.get("deletionTimestamp"))
        if status.get("phase") in TERMINAL:
            if deleting:
                self._kill(records.values(), signal.SIGKILL)
                self._delete(pod)
            return
        failure = self._deadline(pod)
        if deleting or failure:
            grace = (
                meta.get("deletionGracePeriodSeconds")
                if deleting
                else spec.get("terminationGracePeriodSeconds")
            )
            if self._terminate(pod_dir, records, DEFAULT_GRACE_SECONDS if grace is None else grace):
                return  # still stopping
            self._report(pod, records, {}, failure)
            if deleting:
                self._delete(pod)
            return
        pod_dir.mkdir(parents=True, exist_ok=True)
        waiting: dict[str, tuple[str, str]] = {}
        source = EnvSource(self.core, meta["namespace"])
        policy = spec.get("restartPolicy", "Always")
        if self._run_init(pod, records, source, waiting):
            for container in spec["containers"]:
                record = records[container["name"]]
                ended = record.exit()
                if ended is not None and _should_restart(policy, record, ended):
                    record.restart_after(ended)
                if record.started_at is None:
                    self._try_start(pod, container, record, source, waiting)
        else:
            waiting.update({c["name"]: ("PodInitializing", "") for c in spec["containers"]})
        self._report(pod, records, waiting, None)

    def _run_init(
        self,
        pod: Json,
        records: dict[str, ContainerRecord],
        source: EnvSource,
        waiting: dict[str, tuple[str, str]],
    ) -> bool:
        """Run the init containers one after another; True once all have succeeded."""
        policy = pod["spec"].get("restartPolicy", "Always")
        for container in pod["spec"].get("initContainers", []):
            record = records[container["name"]]
            ended = record.exit()
            if ended is not None and ended.code == 0:
                continue
            # An init container that failed runs again unless the pod must not restart.
            if ended is not None and _should_restart(
                "Never" if policy == "Never" else "OnFailure", record, ended
            ):
                record.restart_after(ended)
            if record.started_at is None:
                self._try_start(pod, container, record, source, waiting)
            return False
        return True

    def _try_start(
        self,
        pod: Json,
        container: Json,
        record: ContainerRecord,
        source: EnvSource,
        waiting: dict[str, tuple[str, str]],
    ) -> None:
        try:
            self._start(pod, container, record, source)
        except ConfigError as error:
            waiting[container["name"]] = ("CreateContainerConfigError", str(error))

    def _deadline(self, pod: Json) -> tuple[str, str] | None:
        deadline = pod["spec"].get("activeDeadlineSeconds")
        started = pod.get("status", {}).get("startTime")
        if deadline is None or started is None or _seconds_since(started) < deadline:
            return None
        return "DeadlineExceeded", f"Pod was active on the node longer than {deadline}s"

    def _terminate(self, pod_dir: Path, records: dict[str, ContainerRecord], grace: int) -> bool:
        """SIGTERM the pod's containers, SIGKILL after GRACE; True while any still runs."""
        running = [r for r in records.values() if r.pid() is not None]
        if not running:
            return False
        marker = pod_dir / ".terminating"
        if not marker.exists():
            marker.write_text(str(time.time()))
            log.info("stopping %s (grace %ss)", pod_dir.name, grace)
            self._kill(running, signal.SIGTERM)
        elif time.time() >= float(marker.read_text()) + grace:
            self._kill(running, signal.SIGKILL)
        return True

    @staticmethod
    def _kill(records: Iterable[ContainerRecord], signum: int) -> None:
        for record in records:
            record.signal(signum)

    def _start(
        self, pod: Json, container: Json, record: ContainerRecord, source: EnvSource
    ) -> None:
        meta = pod["metadata"]
        env = container_env(pod, container, source, self._base_env(pod))
        argv = [expand(a, env) for a in container.get("command", []) + container.get("args", [])]
        if not container.get("command"):
            raise ConfigError(
                f"container {container['name']} has no command; the process kubelet cannot "
                f"run an image's entrypoint ({container.get('image')})"
            )
        if argv[0] in PYTHON_NAMES or argv[0].startswith("python3."):
            argv[0] = self.python
        cwd = Path(container.get("workingDir") or record.path / "work")
        binds = volumes.prepare(
            self.core,
            pod,
            container,
            root=record.path.parent / ".volumes",
            source=source,
            ca_file=self.ca_file,
        )
        termination = container.get("terminationMessagePath") or "/dev/termination-log"
        self._children.append(
            record.start(
                argv, env=env, cwd=cwd, python=self.python,
                termination_path=termination, binds=binds,
            )
        )  # fmt: skip
        log.info(
            "started %s/%s container %s: %s",
            meta["namespace"], meta["name"], container["name"], " ".join(argv),
        )  # fmt: skip

    def _base_env(self, pod: Json) -> dict[str, str]:
        """What every container gets before its own env: a PATH that finds this Python."""
        path = os.pathsep.join([str(Path(self.python).parent), os.environ.get("PATH", "")])
        return {
            "PATH": path,
            "HOME": os.environ.get("HOME", "/root"),
            "HOSTNAME": pod["metadata"]["name"],
            "KUBERNETES_SERVICE_HOST": self.api_host,
            "KUBERNETES_SERVICE_PORT": self.api_port,
            "KUBERNETES_SERVICE_PORT_HTTPS": self.api_port,
        }

    def _report(
        self,
        pod: Json,
        records: dict[str, ContainerRecord],
        waiting: dict[str, tuple[str, str]],
        failure: tuple[str, str] | None,
    ) -> None:
        spec, old = pod["spec"], pod.get("status", {})

        def statuses(key: str) -> list[Json]:
            return [
                container_status(c, records[c["name"]], waiting.get(c["name"]))
                for c in spec.get(key, [])
            ]

        new = pod_status(
            old,
            statuses("containers"),
            init_statuses=statuses("initContainers"),
            restart_policy=spec.get("restartPolicy", "Always"),
            now=now(),
            failure=failure,
        )
        if not differs(old, new):
            return
        meta = pod["metadata"]
        self.core.replace_namespaced_pod_status(
            meta["name"], meta["namespace"], {**pod, "status": new},  # type: ignore[arg-type]
            _preload_content=False,
        )
        if new["phase"] != old.get("phase"):
            log.info("%s/%s is %s", meta["namespace"], meta["name"], new["phase"])

    def _delete(self, pod: Json) -> None:
        meta = pod["metadata"]
        try:
            self.core.delete_namespaced_pod(
                meta["name"],
                meta["namespace"],
                body={"gracePeriodSeconds": 0,  # type: ignore[arg-type]  # plain manifest
                      "preconditions": {"uid": meta["uid"]}},
                _preload_content=False,
            )
            log.info("deleted %s/%s", meta["namespace"], meta["name"])
        except ApiException as error:
            if error.status not in (404, 409):
                raise

    def _forget_gone(self, live: set[str]) -> None:
        """Kill what is left of pods the API no longer has (force-deleted, for one)."""
        for pod_dir in self.pods_dir.iterdir():
            if pod_dir.name.rsplit("_", 1)[-1] in live or (pod_dir / ".gone").exists():
                continue
            self._kill(
                (ContainerRecord(d) for d in pod_dir.iterdir() if (d / "started").exists()),
                signal.SIGKILL,
            )
            (pod_dir / ".gone").touch()


def connect(kubeconfig: Path) -> CoreV1Api:
    from kubernetes import config

    client: ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig))
    return CoreV1Api(client)
