"""A small HTTP proxy that sits in front of an emulator and injects faults.

It forwards each request to the upstream emulator unless told to fail: answer the next
``n`` requests with a status (``fail_next``), or drop every connection without an
answer (``down``), optionally after letting ``n`` more requests through
(``cut_after``), as a store that goes away in the middle of an upload would, or answer
slowly (``slow``). It can
also refuse S3 requests signed with an access key it does not know (``accept_keys``),
answering 403 ``InvalidAccessKeyId`` as S3 does, so credentials can be wrong or rotated.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length",
                "proxy-connection", "te", "trailer", "upgrade"}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up on a fault is what faults are for, not news


class FaultProxy:
    """Forwards to ``upstream`` (``http://host:port``), with faults on request.

    Requests whose path matches ``always_forward`` are never faulted nor counted.
    """

    def __init__(self, upstream: str, *, always_forward: str | None = None) -> None:
        parts = urlsplit(upstream)
        self.always_forward = re.compile(always_forward) if always_forward else None
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.lock = threading.Lock()
        self.failures_left = 0
        self.failure_status = 503
        self.failures_sent = 0
        self.forwarded = 0
        self.pass_before_down: int | None = None
        self.is_down = False
        self.keys: set[str] | None = None  # access key ids S3 requests must be signed with
        self.delay = 0.0  # seconds every forwarded request is held first
        self.requests = 0  # every request seen, whatever was done with it
        self.server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` instead of forwarding."""
        with self.lock:
            self.failures_left, self.failure_status = count, status

    def cut_after(self, count: int) -> None:
        """Forward ``count`` more requests, then drop everything."""
        with self.lock:
            self.pass_before_down = count

    def down(self) -> None:
        """Drop every connection without an answer."""
        with self.lock:
            self.is_down = True

    def slow(self, seconds: float) -> None:
        """Hold every forwarded request ``seconds`` before forwarding it (0: no delay)."""
        with self.lock:
            self.delay = seconds

    def accept_keys(self, *keys: str) -> None:
        """Refuse S3 requests signed with any other access key id (a rotation: the old key
        stops working at once)."""
        with self.lock:
            self.keys = set(keys)

    def refuses_key(self, authorization: str) -> str | None:
        """The access key id of a request this proxy refuses, else None."""
        found = re.search(r"Credential=([^/,\s]+)/", authorization)
        key = found.group(1) if found else ""
        with self.lock:
            if self.keys is None or key in self.keys:
                return None
        return key or "(unsigned)"

    def up(self) -> None:
        """Forward everything again."""
        with self.lock:
            self.is_down, self.pass_before_down, self.failures_left = False, None, 0

    def passes(self, path: str) -> bool:
        """Whether ``path`` is exempt from faults (a client library's background calls)."""
        return bool(self.always_forward and self.always_forward.search(path))

    def decide(self) -> str:
        """Return ``forward``, ``fail`` or ``drop`` for the next request."""
        with self.lock:
            self.requests += 1
            if self.is_down:
                return "drop"
            if self.pass_before_down is not None:
                if self.pass_before_down == 0:
                    self.is_down = True
                    return "drop"
                self.pass_before_down -= 1
            if self.failures_left > 0:
                self.failures_left -= 1
                self.failures_sent += 1
                return "fail"
            self.forwarded += 1
            return "forward"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: tests assert on outcomes, not on proxy chatter

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self) -> None:
            action = "forward" if proxy.passes(self.path) else proxy.decide()
            if action == "drop":
                self.close_connection = True
                self.connection.close()
                return
            body = self._body()
            refused = proxy.refuses_key(self.headers.get("Authorization", ""))
            if refused is not None and action == "forward":
                self._refuse(refused)
                return
            if action == "fail":
                self.send_response(proxy.failure_status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                return
            if proxy.delay:
                time.sleep(proxy.delay)
            upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port,
                                                  timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_HEADERS:
                        self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                elif response.getheader("Content-Length"):
                    self.send_header("Content-Length", response.getheader("Content-Length", ""))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                upstream.close()

        def _refuse(self, key: str) -> None:
            data = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidAccessKeyId"
                    b"</Code><Message>The AWS Access Key Id you provided does not exist in "
                    b"our records.</Message><AWSAccessKeyId>" + key.encode()
                    + b"</AWSAccessKeyId></Error>")
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        # http.server dispatches on these names.
        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle  # noqa: N815

    return Handler


@contextmanager
def fault_proxy(upstream: str, *, always_forward: str | None = None) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` in front of ``upstream`` for the ``with`` block."""
    proxy = FaultProxy(upstream, always_forward=always_forward)
    try:
        yield proxy
    finally:
        proxy.close()
