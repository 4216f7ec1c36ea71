"""Artifact stores: one interface (:class:`ObjectStore`), one backend per URI scheme."""

from kitaru.stores.base import ObjectStore, sha256_hex
from kitaru.stores.uri import default_store_uri, open_store

__all__ = ["ObjectStore", "default_store_uri", "open_store", "sha256_hex"]
