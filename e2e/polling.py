"""Waiting for the cluster to reach a state, for the e2e tests (the helper is shared with
the unit tests, from ``tests/polling.py``)."""

from __future__ import annotations

from tests.polling import wait_until

__all__ = ["wait_until"]
