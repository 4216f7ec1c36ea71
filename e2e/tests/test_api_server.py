"""What only a real API server does: schema and CEL validation, the status
subresource, RBAC, and applying what `helm template` renders."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from polling import wait_until

GROUP = "e2e.kitaru.dev"


@pytest.fixture(scope="module")
def widgets(k8s_api: client.ApiClient) -> Iterator[str]:
    """A CRD with an OpenAPI schema, a CEL rule and a status subresource; its plural."""
    plural = f"widgets{uuid.uuid4().hex[:6]}"
    name = f"{plural}.{GROUP}"
    extensions = client.ApiextensionsV1Api(k8s_api)
    extensions.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": GROUP,
                "scope": "Namespaced",
                "names": {"plural": plural, "kind": f"Widget{plural[7:]}"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "schema": {"openAPIV3Schema": WIDGET_SCHEMA},
                    }
                ],
            },
        }
    )

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(name)
        conditions = (crd.status and crd.status.conditions) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_until(established, timeout=30, what=f"CRD {name} to be established")
    yield plural
    extensions.delete_custom_resource_definition(name)


WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["min", "max"],
            "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "message": "min must not exceed max"}
            ],
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def _widget(plural: str, name: str, spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    kind = f"Widget{plural[7:]}"
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
        **extra,
    }


def _rejection(error: pytest.ExceptionInfo[ApiException]) -> str:
    assert error.value.status == 422
    return str(json.loads(error.value.body)["message"])


def test_cel_rule_rejects_widget_with_api_servers_message(
    k8s_api: client.ApiClient, widgets: str, namespace: str
) -> None:
    objects = client.CustomObjectsApi(k8s_api)
    with pytest.raises(ApiException) as error:
        objects.create_namespaced_custom_object(
            GROUP, "v1", namespace, widgets, _widget(widgets, "upside-down", {"min": 5, "max": 1})
        )
    message = _rejection(error)
    assert '"upside-down" is invalid' in message
    assert "spec: Invalid value" in message
    assert "min must not exceed max" in message


def test_openapi_schema_rejects_wrong_type(
    k8s_api: client.ApiClient, widgets: str, namespace: str
) -> None:
    objects = client.CustomObjectsApi(k8s_api)
    with pytest.raises(ApiException) as error:
        objects.create_namespaced_custom_object(
            GROUP, "v1", namespace, widgets, _widget(widgets, "wordy", {"min": "one", "max": 2})
        )
    assert 'spec.min: Invalid value: "string": spec.min in body must be of type integer' in (
        _rejection(error)
    )


def test_status_subresource_drops_status_from_main_resource_writes(
    k8s_api: client.ApiClient, widgets: str, namespace: str
) -> None:
    objects = client.CustomObjectsApi(k8s_api)
    args = (GROUP, "v1", namespace, widgets)
    created = objects.create_namespaced_custom_object(
        *args, _widget(widgets, "w", {"min": 1, "max": 2}, status={"phase": "Forged"})
    )
    assert "status" not in created

    patched = objects.patch_namespaced_custom_object_status(
        *args, "w", {"status": {"phase": "Ready"}}
    )
    assert patched["status"] == {"phase": "Ready"}

    patched["status"] = {"phase": "Forged"}
    patched["spec"]["max"] = 3
    replaced = objects.replace_namespaced_custom_object(*args, "w", patched)
    assert replaced["spec"]["max"] == 3
    assert replaced["status"] == {"phase": "Ready"}


def test_service_account_without_rights_is_forbidden(
    k8s_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token(
        "nobody", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    settings = client.Configuration()
    settings.host = k8s_api.configuration.host
    settings.ssl_ca_cert = k8s_api.configuration.ssl_ca_cert
    settings.api_key = {"authorization": f"Bearer {token}"}
    as_nobody = client.CoreV1Api(client.ApiClient(settings))
    config_map = {"metadata": {"name": "attempt"}, "data": {"k": "v"}}

    with pytest.raises(ApiException) as error:
        as_nobody.create_namespaced_config_map(namespace, config_map)
    assert error.value.status == 403
    assert (
        f'User "system:serviceaccount:{namespace}:nobody" cannot create resource "configmaps"'
        in json.loads(error.value.body)["message"]
    )

    # The same token works once RBAC allows it: the 403 came from authorization.
    rbac = client.RbacAuthorizationV1Api(k8s_api)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "configmap-writer"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "nobody-writes-configmaps"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "configmap-writer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": namespace}],
        },
    )
    created = wait_until(
        lambda: _try_create(as_nobody, namespace, config_map), timeout=10, what="the RoleBinding"
    )
    assert created.metadata.name == "attempt"


def _try_create(core: client.CoreV1Api, namespace: str, body: dict[str, Any]) -> Any:
    try:
        return core.create_namespaced_config_map(namespace, body)
    except ApiException as error:
        if error.status == 403:
            return None
        raise


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "values.yaml": "greeting: hello\n",
    "templates/config.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    app.kubernetes.io/managed-by: {{ .Release.Service }}
data:
  greeting: {{ .Values.greeting | quote }}
""",
    "templates/account.yaml": """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ .Release.Name }}
rules:
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ .Release.Name }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .Release.Name }}
subjects:
  - kind: ServiceAccount
    name: {{ .Release.Name }}
    namespace: {{ .Release.Namespace }}
""",
}


def test_helm_template_of_a_chart_applies_cleanly(
    kubectl: Any, namespace: str, tmp_path: Path, cluster_paths: dict[str, Path]
) -> None:
    chart = tmp_path / "demo"
    for name, text in CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text)
    helm_home = {
        k: str(tmp_path / k.lower())
        for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    }
    rendered = subprocess.run(
        [str(cluster_paths["bin"] / "helm"), "template", "demo", str(chart),
         "--namespace", namespace, "--set", "greeting=bonjour"],
        check=True, capture_output=True, text=True, env={**os.environ, **helm_home},
    ).stdout  # fmt: skip

    applied = kubectl("apply", "--namespace", namespace, "-f", "-", input=rendered)
    assert sorted(applied.stdout.splitlines()) == [
        "configmap/demo-config created",
        "role.rbac.authorization.k8s.io/demo created",
        "rolebinding.rbac.authorization.k8s.io/demo created",
        "serviceaccount/demo created",
    ]
    greeting = kubectl(
        "get",
        "configmap",
        "demo-config",
        "--namespace",
        namespace,
        "-o",
        "jsonpath={.data.greeting}",
    )
    assert greeting.stdout == "bonjour"
    again = kubectl("apply", "--namespace", namespace, "-f", "-", input=rendered)
    assert all(line.endswith(" unchanged") for line in again.stdout.splitlines())
