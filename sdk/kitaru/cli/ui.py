"""``kitaru ui``: serve the dashboard over the same client as the other commands."""

from __future__ import annotations

import argparse

from kitaru.client import KitaruClient
from kitaru.errors import KitaruUsageError


def ui(args: argparse.Namespace, client: KitaruClient) -> int:
    """Serve the dashboard on ``--host``/``--port`` until Ctrl-C."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise KitaruUsageError("kitaru ui needs its web server: pip install 'kitaru[ui]'"
                               ) from None
    from kitaru.cluster.config import value
    from kitaru.planes import ClusterPlane, ControlPlane, LocalPlane
    from kitaru.ui.launch import serve

    plane: ControlPlane
    if getattr(args, "cluster", False) or value("cluster") in ("1", "true"):
        cluster = ClusterPlane(context=getattr(args, "context", None),
                               namespace=getattr(args, "namespace", None), store=args.store)
        connection = cluster.cluster.connection
        plane, kind = cluster, "cluster"
        where = (f"cluster {connection.context or '(current context)'}, "
                 f"namespace {connection.namespace}")
    else:
        plane, kind, where = LocalPlane(client.store), "local", f"store {client.store.uri}"
    serve(plane, plane_kind=kind, where=where, host=args.host, port=args.port,
          open_browser=args.open, read_only=args.read_only)
    return 0
