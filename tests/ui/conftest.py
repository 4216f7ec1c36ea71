"""The dashboard's API over a private local store, through Starlette's test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from kitaru.planes import LocalPlane
from kitaru.ui.server import CSRF_HEADER, create_app

TOKEN = "test-token"


@pytest.fixture
def api(store_uri: str) -> Iterator[TestClient]:
    """A client of the dashboard over the test's store, sending the session's token."""
    app = create_app(LocalPlane(store_uri), where=f"store {store_uri}", token=TOKEN)
    with TestClient(app, base_url="http://127.0.0.1:8790",
                    headers={CSRF_HEADER: TOKEN}) as client:
        yield client
