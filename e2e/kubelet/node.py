"""The Node object this kubelet stands for."""

from __future__ import annotations

import os
import platform

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from .containers import now

# What the Node offers; generous, since nothing schedules against it but the
# kubelet itself, and pods run as plain processes.
CAPACITY = {"cpu": str(os.cpu_count() or 2), "memory": "64Gi", "pods": "250"}


def register(core: CoreV1Api, name: str) -> None:
    """Create the Node if needed and report it Ready, with capacity and addresses."""
    try:
        core.create_node(
            {  # type: ignore[arg-type]  # the client takes plain manifests; stubs name models
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "kitaru.dev/process-kubelet": "true",
                    },
                },
            }
        )
    except ApiException as error:
        if error.status != 409:
            raise
    heartbeat(core, name)


def heartbeat(core: CoreV1Api, name: str) -> None:
    stamp = now()
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "process kubelet is posting ready status",
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }
    core.patch_node_status(
        name,
        {
            "status": {
                "capacity": CAPACITY,
                "allocatable": CAPACITY,
                "conditions": [ready],
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "kubeletVersion": "process-kubelet",
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "containerRuntimeVersion": "process://",
                    "kernelVersion": platform.release(),
                    "osImage": platform.platform(),
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            }
        },
    )
