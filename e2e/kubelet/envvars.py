"""The environment of a container, as a kubelet builds it from the pod spec."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

Json = dict[str, Any]

_REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


class ConfigError(Exception):
    """The container cannot start yet; reported as CreateContainerConfigError."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined names are replaced, $$ escapes a $."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _REFERENCE.sub(substitute, text)


class EnvSource:
    """Reads the ConfigMaps and Secrets a pod's environment refers to."""

    def __init__(self, core: CoreV1Api, namespace: str) -> None:
        self._core = core
        self._namespace = namespace
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}

    def data(self, kind: str, name: str) -> dict[str, str] | None:
        """The object's data, decoded; None when the object does not exist."""
        key = (kind, name)
        if key not in self._cache:
            try:
                if kind == "Secret":
                    secret = self._core.read_namespaced_secret(name, self._namespace)
                    raw = secret.data or {}
                    self._cache[key] = {k: base64.b64decode(v).decode() for k, v in raw.items()}
                else:
                    config_map = self._core.read_namespaced_config_map(name, self._namespace)
                    self._cache[key] = {k: str(v) for k, v in (config_map.data or {}).items()}
            except ApiException as error:
                if error.status != 404:
                    raise
                self._cache[key] = None
        return self._cache[key]

    def value(self, kind: str, ref: Json) -> str | None:
        data = self.data(kind, ref["name"])
        optional = bool(ref.get("optional"))
        if data is None:
            if optional:
                return None
            raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
        if ref["key"] not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {ref['key']} in {kind} {ref['name']}")
        return data[ref["key"]]


def _field(pod: Json, path: str) -> str:
    fields = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"]["namespace"],
        "metadata.uid": pod["metadata"]["uid"],
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in fields:
        return str(fields[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str(pod["metadata"].get(match.group(1), {}).get(match.group(2), ""))
    raise ConfigError(f"unsupported fieldRef {path}")


def container_env(
    pod: Json, container: Json, source: EnvSource, base: Mapping[str, str]
) -> dict[str, str]:
    """BASE, then envFrom, then env, in the order and with the rules of a kubelet."""
    env = dict(base)
    for item in container.get("envFrom", []):
        prefix = item.get("prefix", "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key not in item:
                continue
            ref = item[key]
            data = source.data(kind, ref["name"])
            if data is None and not ref.get("optional"):
                raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
            env.update({prefix + k: v for k, v in (data or {}).items()})
    for var in container.get("env", []):
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value", ""), env)
            continue
        value_from = var["valueFrom"]
        value: str | None
        if "secretKeyRef" in value_from:
            value = source.value("Secret", value_from["secretKeyRef"])
        elif "configMapKeyRef" in value_from:
            value = source.value("ConfigMap", value_from["configMapKeyRef"])
        elif "fieldRef" in value_from:
            value = _field(pod, value_from["fieldRef"]["fieldPath"])
        else:
            raise ConfigError(f"env {name}: unsupported valueFrom {sorted(value_from)}")
        if value is not None:
            env[name] = value
    return env
