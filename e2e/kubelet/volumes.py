"""The volumes a process container sees, as files bound into its mount namespace.

Only what pods here use: the service-account token the admission plugin adds
(so in-cluster clients work), emptyDir, configMap and secret volumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes.client import CoreV1Api

from .envvars import ConfigError, EnvSource

Json = dict[str, Any]

TOKEN_SECONDS = 3600


def _service_account(core: CoreV1Api, pod: Json, target: Path, ca_file: Path) -> None:
    meta = pod["metadata"]
    request = core.create_namespaced_service_account_token(
        pod["spec"].get("serviceAccountName", "default"),
        meta["namespace"],
        {  # type: ignore[arg-type]  # the client takes plain manifests; stubs name models
            "spec": {
                "expirationSeconds": TOKEN_SECONDS,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            }
        },
    )
    if request.status is None or not request.status.token:
        raise ConfigError(f"no token for service account of pod {meta['name']}")
    target.mkdir(parents=True, exist_ok=True)
    (target / "token").write_text(request.status.token)
    (target / "ca.crt").write_bytes(ca_file.read_bytes())
    (target / "namespace").write_text(meta["namespace"])


def _items(volume: Json, data: dict[str, str], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    keys = volume.get("items") or [{"key": k, "path": k} for k in data]
    for item in keys:
        path = target / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data[item["key"]])


def prepare(
    core: CoreV1Api, pod: Json, container: Json, *, root: Path, source: EnvSource, ca_file: Path
) -> list[tuple[Path, str]]:
    """Materialise the container's volume mounts under ROOT; returns (source, mountPath)."""
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    binds: list[tuple[Path, str]] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is None:
            raise ConfigError(f"volume {mount['name']} is mounted but not defined")
        target = root / mount["name"]
        if "projected" in volume:
            if not target.exists():
                _service_account(core, pod, target, ca_file)
        elif "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
        elif "configMap" in volume or "secret" in volume:
            kind, spec = (
                ("ConfigMap", volume["configMap"])
                if "configMap" in volume
                else ("Secret", {"name": volume["secret"]["secretName"], **volume["secret"]})
            )
            data = source.data(kind, spec["name"])
            if data is None:
                if not spec.get("optional"):
                    raise ConfigError(f'{kind.lower()} "{spec["name"]}" not found')
                data = {}
            _items(spec, data, target)
        else:
            continue  # a volume kind the process kubelet cannot provide; not mounted
        source_path = target / mount["subPath"] if mount.get("subPath") else target
        binds.append((source_path, mount["mountPath"]))
    return binds
