"""Choosing a store from a URI: ``file:///path``, ``s3://``, ``gs://``, ``az://`` or a path.

The default store is ``$KITARU_STORE``, else a ``.kitaru/`` folder in the working
directory. Backends for cloud schemes are imported only when used, so the SDK needs
their client libraries only when a flow actually stores there.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import urlsplit

from kitaru.errors import StoreConfigError
from kitaru.stores.base import ObjectStore

if TYPE_CHECKING:
    from kitaru.stores.retry import RetryPolicy

STORE_ENV = "KITARU_STORE"
DEFAULT_FOLDER = ".kitaru"


class _StoreFactory(Protocol):
    def from_uri(self, uri: str, options: Mapping[str, str], **retry: RetryPolicy
                 ) -> ObjectStore: ...


# scheme -> (module, class, pip extra that provides the client library)
_BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "file": ("kitaru.stores.filesystem", "FilesystemStore", None),
    "s3": ("kitaru.stores.s3", "S3Store", "s3"),
    "gs": ("kitaru.stores.gcs", "GCSStore", "gcs"),
    "az": ("kitaru.stores.azure", "AzureBlobStore", "azure"),
}


def default_store_uri() -> str:
    """Return ``$KITARU_STORE`` or the absolute path of ``./.kitaru``."""
    return os.environ.get(STORE_ENV) or str(Path.cwd() / DEFAULT_FOLDER)


def scheme_of(uri: str) -> str:
    """Return the URI's scheme, ``file`` for plain paths."""
    if "://" not in uri:
        return "file"
    return urlsplit(uri).scheme.lower()


def open_store(
    uri: str | None = None, *, options: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> ObjectStore:
    """Open the store at ``uri`` (default: :func:`default_store_uri`).

    Args:
        uri: ``file:///abs/path``, a plain path, ``s3://bucket/prefix``,
            ``gs://bucket/prefix`` or ``az://container/prefix``.
        options: Backend options such as ``endpoint_url``; see each backend.
        retry: How long a cloud backend retries transient faults (default: about 20 s,
            :data:`~kitaru.stores.retry.DEFAULT_POLICY`); a local folder has none.

    Raises:
        StoreConfigError: The scheme is unknown or its client library is not installed.
    """
    uri = uri or default_store_uri()
    scheme = scheme_of(uri)
    if scheme not in _BACKENDS:
        known = ", ".join(f"{s}://" for s in _BACKENDS)
        raise StoreConfigError(f"store {uri}: unknown scheme {scheme!r}; use one of {known}")
    module_name, class_name, extra = _BACKENDS[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"; install it with: pip install 'kitaru[{extra}]'" if extra else ""
        raise StoreConfigError(
            f"store {uri}: the {scheme}:// backend needs a library that is not installed "
            f"({exc.name}){hint}"
        ) from exc
    factory = cast(_StoreFactory, getattr(module, class_name))
    if retry is not None and scheme != "file":
        return factory.from_uri(uri, dict(options or {}), retry=retry)
    return factory.from_uri(uri, dict(options or {}))
