"""Starting the dashboard: the plane it serves, the address, the browser, Ctrl-C."""

from __future__ import annotations

import errno
import socket
import sys
import threading
import webbrowser
from typing import TYPE_CHECKING

from kitaru.errors import KitaruUsageError
from kitaru.ui import DEFAULT_PORT

if TYPE_CHECKING:
    from kitaru.planes import ControlPlane

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), or a plain error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise KitaruUsageError(f"port {port} on {host} is in use; pick another with "
                                   "--port (0 picks a free one)") from None
        raise KitaruUsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def serve(plane: ControlPlane, *, plane_kind: str, where: str, host: str = "127.0.0.1",
          port: int = DEFAULT_PORT, open_browser: bool = False, read_only: bool = False) -> None:
    """Serve the dashboard until Ctrl-C (or ``KeyboardInterrupt``)."""
    import uvicorn

    from kitaru.ui.server import create_app

    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{actual}/"
    hosts = ("127.0.0.1", "localhost", "[::1]", "::1") if host in _LOOPBACK else ("*",)
    app = create_app(plane, plane_kind=plane_kind, where=where, read_only=read_only,
                     hosts=hosts)
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    print(f"Kitaru dashboard: {url}  ({where}{', read-only' if read_only else ''}; "
          "Ctrl-C stops)", flush=True)
    if host not in _LOOPBACK:
        print(f"warning: listening on {host}, not loopback: anyone who reaches this "
              "address acts with your credentials", file=sys.stderr, flush=True)
    if open_browser:
        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])

