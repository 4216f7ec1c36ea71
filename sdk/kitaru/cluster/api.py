"""Talking to the cluster: the user's own kube credentials, one namespace, Kitaru's CRDs.

Everything goes through the Kubernetes API with the user's kubeconfig (context and
namespace from flags, else ``KITARU_KUBE_CONTEXT`` / ``KITARU_NAMESPACE``, else the
kubeconfig's current ones), so a command can do exactly what that user may do. Errors
are one line naming what to fix: no kubeconfig, an unknown context, a cluster without
Kitaru's CRDs, a missing object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kitaru.errors import KitaruUsageError

GROUP = "kitaru.ai"
VERSION = "v1alpha1"


@dataclass
class Cluster:
    """A namespace of a cluster, reached with the user's credentials."""

    namespace: str
    context: str | None
    api: Any  # kubernetes.client.ApiClient

    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        """One Kitaru object, or None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            obj: dict[str, Any] = self.custom().get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                self._check_crds(plural, exc)
                return None
            raise self.error(exc, f"{plural}/{name}") from None
        return obj

    def list(self, plural: str) -> list[dict[str, Any]]:
        """Every Kitaru object of a kind in the namespace."""
        from kubernetes.client.exceptions import ApiException

        try:
            found = self.custom().list_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                                plural)
        except ApiException as exc:
            if exc.status == 404:
                self._check_crds(plural, exc)
            raise self.error(exc, plural) from None
        items: list[dict[str, Any]] = found.get("items", [])
        return items

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            made: dict[str, Any] = self.custom().create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, body)
        except ApiException as exc:
            raise self.error(exc, f"{plural}/{body['metadata'].get('name', '')}") from None
        return made

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            patched: dict[str, Any] = self.custom().patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name, body)
        except ApiException as exc:
            raise self.error(exc, f"{plural}/{name}") from None
        return patched

    def replace(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            done: dict[str, Any] = self.custom().replace_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name, body)
        except ApiException as exc:
            raise self.error(exc, f"{plural}/{name}") from None
        return done

    def _check_crds(self, plural: str, exc: Any) -> None:
        """After a 404: when the API group itself is missing, the CRDs are not installed."""
        del exc
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            found = client.CustomObjectsApi(self.api).get_api_resources(GROUP, VERSION)
            served = {r.name for r in found.resources}
        except ApiException:
            served = set()
        if plural not in served:
            raise KitaruUsageError(
                f"cluster {self.context or '(in-cluster)'} does not serve {plural}.{GROUP}: "
                "install Kitaru's CRDs (helm install kitaru helm/kitaru, or "
                "kubectl apply -f crds/)")

    def error(self, exc: Any, what: str) -> KitaruUsageError:
        """The one line for a refused API call."""
        import json

        reason = getattr(exc, "reason", "") or "error"
        try:
            message = json.loads(exc.body).get("message", reason)
        except (TypeError, ValueError, AttributeError):
            message = reason
        where = f"namespace {self.namespace}"
        if exc.status == 403:
            return KitaruUsageError(f"{what} in {where}: forbidden for your credentials: "
                                    f"{message}")
        return KitaruUsageError(f"{what} in {where}: {message}")


def connect(*, context: str | None = None, namespace: str | None = None) -> Cluster:
    """Connect with the user's kubeconfig (or in-cluster credentials inside a pod)."""
    try:
        from kubernetes import config
    except ImportError:
        raise KitaruUsageError("the cluster commands need the kubernetes package: "
                               "pip install 'kitaru[cluster]'") from None
    from kitaru.cluster.config import value

    context = context or value("context") or None
    try:
        # Read now, not when the kubernetes package was first imported.
        kubeconfig = os.environ.get("KUBECONFIG") or None
        contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=kubeconfig)
    except (config.ConfigException, OSError) as exc:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            from kubernetes import client

            return Cluster(namespace or value("namespace") or "default", None,
                           client.ApiClient())
        raise KitaruUsageError(f"no kube context: {exc}; set KUBECONFIG or --context") from None
    names = [c["name"] for c in contexts]
    if context is not None and context not in names:
        raise KitaruUsageError(f"no kube context {context!r}; the kubeconfig has: "
                               f"{', '.join(names) or 'none'}")
    chosen = next(c for c in contexts if c["name"] == (context or current["name"]))
    namespace = (namespace or value("namespace")
                 or chosen.get("context", {}).get("namespace") or "default")
    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, context=chosen["name"])
    return Cluster(namespace, chosen["name"], api)


def k8s_name(text: str) -> str:
    """A flow name as a Kubernetes object name (lower case, dashes)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return cleaned[:50] or "flow"
