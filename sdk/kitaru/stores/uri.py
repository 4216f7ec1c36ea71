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
from typing import TYPE_CHECKING, NamedTuple, Protocol, cast

from kitaru.errors import StoreConfigError
from kitaru.stores.base import ObjectStore

if TYPE_CHECKING:
    from kitaru.stores.retry import RetryPolicy

STORE_ENV = "KITARU_STORE"
DEFAULT_FOLDER = ".kitaru"


class _StoreFactory(Protocol):
    def from_uri(self, uri: str, options: Mapping[str, str], **retry: RetryPolicy
                 ) -> ObjectStore: ...


class _Backend(NamedTuple):
    module: str
    cls: str
    extra: str | None  # the pip extra that provides the client library
    form: str  # the URI's shape, for messages


_BACKENDS: dict[str, _Backend] = {
    "file": _Backend("kitaru.stores.filesystem", "FilesystemStore", None, "file:///abs/path"),
    "s3": _Backend("kitaru.stores.s3", "S3Store", "s3", "s3://bucket/prefix"),
    "gs": _Backend("kitaru.stores.gcs", "GCSStore", "gcs", "gs://bucket/prefix"),
    "az": _Backend("kitaru.stores.azure", "AzureBlobStore", "azure", "az://container/prefix"),
}


def default_store_uri() -> str:
    """Return ``$KITARU_STORE`` or the absolute path of ``./.kitaru``."""
    return os.environ.get(STORE_ENV) or str(Path.cwd() / DEFAULT_FOLDER)


def _near_miss(uri: str) -> str | None:
    """Return the known scheme ``uri`` starts with when ``//`` is missing (``s3:bucket``)."""
    head, sep, rest = uri.partition(":")
    if sep and head.lower() in _BACKENDS and not rest.startswith("//"):
        return head.lower()
    return None


def scheme_of(uri: str) -> str:
    """Return the URI's scheme, ``file`` for plain paths.

    A known scheme missing its ``//`` (``s3:/bucket``) still counts as that scheme, so
    :func:`open_store` refuses it rather than taking it for a local folder.
    """
    if "://" not in uri:
        return _near_miss(uri) or "file"
    from urllib.parse import urlsplit  # here: a local path has no scheme to split off

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
        StoreConfigError: The scheme is unknown, a known scheme lacks its ``//``, or the
            scheme's client library is not installed.
    """
    uri = uri or default_store_uri()
    scheme = scheme_of(uri)
    if scheme not in _BACKENDS:
        known = ", ".join(f"{s}://" for s in _BACKENDS)
        raise StoreConfigError(f"store {uri}: unknown scheme {scheme!r}; use one of {known}")
    backend = _BACKENDS[scheme]
    if _near_miss(uri):
        raise StoreConfigError(
            f"store {uri}: missing '//' after '{scheme}:'; write it as {backend.form}"
        )
    try:
        module = importlib.import_module(backend.module)
    except ImportError as exc:
        hint = f"; install it with: pip install 'kitaru[{backend.extra}]'" if backend.extra else ""
        raise StoreConfigError(
            f"store {uri}: the {scheme}:// backend needs a library that is not installed "
            f"({exc.name}){hint}"
        ) from exc
    factory = cast(_StoreFactory, getattr(module, backend.cls))
    if retry is not None and scheme != "file":
        return factory.from_uri(uri, dict(options or {}), retry=retry)
    return factory.from_uri(uri, dict(options or {}))
