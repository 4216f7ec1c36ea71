"""The operator's one Kubernetes API client, and requests made with plain JSON.

The kubernetes client turns every request body into its own model objects and back
(``validate_call`` on every method), which for a Job costs more CPU than the request
takes the API server. The writes on a pass's path (status, Jobs, Events) are sent with
:func:`send_json` instead: the body as JSON, the answer read as JSON.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kitaru_operator import metrics
from kitaru_operator.settings import SETTINGS

MERGE_PATCH = "application/merge-patch+json"


class _MeteredApiClient(client.ApiClient):
    """An API client that times every request and counts the failed ones, by verb."""

    def call_api(self, method: str, *args: Any, **kwargs: Any) -> Any:
        verb = method.upper()
        start = time.perf_counter()
        try:
            response = super().call_api(method, *args, **kwargs)
        except Exception:  # no answer: refused, reset, timed out
            metrics.API_ERRORS.labels(verb, "0").inc()
            raise
        finally:
            metrics.API_SECONDS.labels(verb).observe(time.perf_counter() - start)
        if not 200 <= response.status <= 299:
            metrics.API_ERRORS.labels(verb, str(response.status)).inc()
        return response


@functools.cache
def api() -> client.ApiClient:
    """The one API client of this process: its connection pool (and TLS sessions) is
    shared by every reconcile instead of being rebuilt per call.

    The pool holds a connection for every thread that calls the API at once (kopf's
    workers, the requeue workers, the resync, the schedules, the lease): the client's
    default (5 per CPU) is smaller on a small node, and every request over it opens, and
    then throws away, a new TLS connection.
    """
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize or 0, 4 * SETTINGS.workers + 8)
    return _MeteredApiClient(configuration)


def plain(obj: Any) -> Any:
    """Return a kubernetes client object as the JSON-shaped dict the API server sent."""
    return api().sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]


def send_json(method: str, path: str, body: Any, *,
              content_type: str = "application/json") -> dict[str, Any]:
    """Send one request with a JSON body to ``path`` (``/api/v1/...``); return the answer.

    Raises :class:`ApiException` (with the status and the API server's message) for an
    answer that is not a success, as the client's own methods do.
    """
    api_client = api()
    request = api_client.param_serialize(
        method=method, resource_path=path, body=body, auth_settings=["BearerToken"],
        header_params={"Content-Type": content_type, "Accept": "application/json"})
    response = api_client.call_api(*request)
    data: bytes = response.read() or b""  # type: ignore[no-untyped-call]
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response,
                                         body=data.decode(errors="replace"), data=None)
    return cast(dict[str, Any], json.loads(data))
