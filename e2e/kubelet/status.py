"""Pod status from the container records: pure functions, no API calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .containers import ContainerRecord

Json = dict[str, Any]

TERMINAL = ("Succeeded", "Failed")


def container_status(
    container: Json, record: ContainerRecord, waiting: tuple[str, str] | None
) -> Json:
    """One entry of containerStatuses; WAITING is the (reason, message) holding it back."""
    ended = record.exit()
    started = record.started_at
    pid = record.pid()
    state: Json
    if ended is not None:
        terminated: Json = {
            "exitCode": ended.code,
            "reason": "Completed" if ended.code == 0 else "Error",
            "startedAt": started,
            "finishedAt": ended.finished_at,
            "containerID": f"process://{record.path.name}",
        }
        message = record.message()
        fallback = container.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        if not message and ended.code != 0 and fallback:
            message = record.log_tail()
        if message:
            terminated["message"] = message
        state = {"terminated": terminated}
    elif started is not None and pid is not None:
        state = {"running": {"startedAt": started}}
    elif waiting is not None:
        reason, text = waiting
        state = {"waiting": {"reason": reason, "message": text} if text else {"reason": reason}}
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
    status: Json = {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": "running" in state,
        "started": "running" in state,
        "restartCount": record.restarts,
        "state": state,
        "lastState": {},
    }
    if "running" in state or "terminated" in state:
        status["containerID"] = f"process://{record.path.name}"
    last = record.last()
    if last is not None:
        code, last_started, last_finished = last
        status["lastState"] = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": last_started,
                "finishedAt": last_finished,
            }
        }
    return status


def phase(restart_policy: str, statuses: list[Json]) -> str:
    """The pod phase a kubelet derives from its containers' states."""
    terminated = [s["state"]["terminated"] for s in statuses if "terminated" in s["state"]]
    if len(terminated) < len(statuses):
        running = any("running" in s["state"] for s in statuses)
        return "Running" if running or terminated else "Pending"
    if all(t["exitCode"] == 0 for t in terminated):
        return "Succeeded" if restart_policy != "Always" else "Running"
    return "Failed" if restart_policy == "Never" else "Running"


def _conditions(old: list[Json], values: Mapping[str, bool], now: str) -> list[Json]:
    previous = {c["type"]: c for c in old}
    conditions = [c for c in old if c["type"] not in values]
    for kind, value in values.items():
        text = "True" if value else "False"
        before = previous.get(kind)
        if before is not None and before.get("status") == text:
            conditions.append(before)
        else:
            conditions.append({"type": kind, "status": text, "lastTransitionTime": now})
    return sorted(conditions, key=lambda c: str(c["type"]))


def init_done(statuses: list[Json]) -> bool | None:
    """True when every init container succeeded, False if one failed, else None."""
    for status in statuses:
        terminated = status["state"].get("terminated")
        if terminated is None:
            return None
        if terminated["exitCode"] != 0:
            return False
    return True


def pod_status(
    old: Json,
    statuses: list[Json],
    *,
    init_statuses: list[Json],
    restart_policy: str,
    now: str,
    failure: tuple[str, str] | None = None,
) -> Json:
    """The new pod status; FAILURE (reason, message) forces phase Failed.

    A failed init container fails the pod only under restartPolicy Never; otherwise
    it runs again (after a back-off) and the pod stays Pending.
    """
    initialized = init_done(init_statuses)
    if failure or (initialized is False and restart_policy == "Never"):
        new_phase = "Failed"
    elif not initialized:
        new_phase = "Pending"
    else:
        new_phase = phase(restart_policy, statuses)
    ready = new_phase == "Running" and all(s["ready"] for s in statuses)
    status: Json = dict(old)
    status.update(
        phase=new_phase,
        hostIP="127.0.0.1",
        hostIPs=[{"ip": "127.0.0.1"}],
        podIP="127.0.0.1",
        podIPs=[{"ip": "127.0.0.1"}],
        containerStatuses=statuses,
        startTime=old.get("startTime") or now,
        conditions=_conditions(
            old.get("conditions", []),
            {
                "PodReadyToStartContainers": True,
                "Initialized": initialized is True,
                "ContainersReady": ready,
                "Ready": ready,
            },
            now,
        ),
    )
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if failure:
        status["reason"], status["message"] = failure
    return status


def differs(old: Json, new: Json) -> bool:
    """Whether NEW says anything OLD does not, so unchanged pods cause no writes."""
    keys = (
        "phase", "reason", "message", "containerStatuses", "initContainerStatuses",
        "podIP", "startTime",
    )  # fmt: skip
    if any(old.get(k) != new.get(k) for k in keys):
        return True

    def brief(status: Json) -> set[tuple[str, str]]:
        return {(c["type"], c["status"]) for c in status.get("conditions", [])}

    return brief(old) != brief(new)
