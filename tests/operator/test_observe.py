"""What the operator reads: a referenced name that could not be an object's never reaches
the API server as a path."""

from __future__ import annotations

import pytest
from kubernetes import client

from kitaru_operator.observe import custom_get


@pytest.mark.parametrize("name", ["", "fv/status", "UPPER", "a" * 300, "ü", "-x", "x-"])
def test_a_name_that_is_no_object_name_reads_as_missing_without_a_request(name: str) -> None:
    # Port 9 (discard) on loopback: any request would fail with a connection error.
    nowhere = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))
    assert custom_get(client.CustomObjectsApi(nowhere), "agents", "flowversions", name) is None


def test_a_proper_name_is_asked_for() -> None:
    nowhere = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))
    nowhere.configuration.retries = 0
    with pytest.raises(Exception, match=r"(?i)connect|refused|Max retries"):
        custom_get(client.CustomObjectsApi(nowhere), "agents", "flowversions", "fv-1.v2")
