"""The dashboard's HTTP server: the page, its files, and a JSON API over a control plane.

What guards it: it binds to loopback unless told otherwise; it answers only requests
whose ``Host`` is the address it serves (so another site cannot reach it by pointing a
name at 127.0.0.1); and every write carries the session's CSRF token in a header that
a page of another origin cannot set. It has no rights of its own: each action is the
plane's, with the user's store or kube credentials.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kitaru.errors import (
    KitaruError,
    KitaruStateError,
    KitaruTimeoutError,
)
from kitaru.planes import ControlPlane
from kitaru.ui import views

log = logging.getLogger("kitaru.ui")

CSRF_HEADER = "X-Kitaru-CSRF"
#: On every answer: scripts only from the server's own files (so markup that slipped
#: into a value could not run), no framing by another page (no clickjacking of the
#: answer form), and no address leaking to another site.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PAGE_SIZE_MAX = 500
Handler = Callable[[Request], Awaitable[Response]]


class RequestRefusedError(Exception):
    """A request the API turns down, with the status and the plain reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _status_of(exc: KitaruError) -> int:
    """409 when the execution's state refuses it (not waiting, timed out), else 400."""
    return 409 if isinstance(exc, KitaruStateError | KitaruTimeoutError) else 400


def _query_int(request: Request, name: str, default: int, most: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        number = int(text)
    except ValueError:
        raise RequestRefusedError(400, f"query parameter {name!r} must be a whole number, "
                      f"got {text!r}") from None
    if not 0 <= number <= most:
        raise RequestRefusedError(400, f"query parameter {name!r} must be between 0 and {most}")
    return number


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise RequestRefusedError(400, "the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise RequestRefusedError(400, "the request body must be a JSON object")
    return body


class Dashboard:
    """The routes, over one control plane."""

    def __init__(self, plane: ControlPlane, *, plane_kind: str, where: str,
                 read_only: bool, token: str) -> None:
        self.plane = plane
        self.session = {"plane": plane_kind, "where": where, "read_only": read_only}
        self.read_only = read_only
        self.token = token
        self.finished: dict[str, dict[str, Any]] = {}
        page = resources.files("kitaru.ui").joinpath("static", "index.html").read_text("utf-8")
        self.page = page.replace("__KITARU_CSRF__", token)

    def routes(self) -> list[Route | Mount]:
        static = resources.files("kitaru.ui").joinpath("static")
        get, post = ["GET"], ["POST"]
        return [
            Route("/", self.index, methods=get),
            Route("/api/session", self.api(lambda r: self.session), methods=get),
            Route("/api/executions", self.api(self.list), methods=get),
            Route("/api/executions/{exec_id}", self.api(self.get), methods=get),
            Route("/api/executions/{exec_id}/logs", self.api(self.logs), methods=get),
            Route("/api/executions/{exec_id}/checkpoints/{name}/value",
                  self.api(self.value), methods=get),
            Route("/api/executions/{exec_id}/checkpoints/{name}/download", self.download,
                  methods=get),
            Route("/api/executions/{exec_id}/answer", self.write(self.answer), methods=post),
            Route("/api/executions/{exec_id}/replay", self.write(self.replay), methods=post),
            Route("/api/executions/{exec_id}/retry", self.write(self.retry), methods=post),
            Route("/api/executions/{exec_id}/cancel", self.write(self.cancel), methods=post),
            Route("/api/diff", self.api(self.diff), methods=get),
            Route("/api/flows", self.api(self.flows), methods=get),
            Mount("/static", StaticFiles(directory=str(static)), name="static"),
        ]

    async def index(self, request: Request) -> Response:
        return HTMLResponse(self.page, headers={"Cache-Control": "no-store"})

    def api(self, read: Callable[[Request], Any]) -> Handler:
        """A reading endpoint: ``read`` runs on a worker thread (the plane blocks)."""
        async def endpoint(request: Request) -> Response:
            return await self._answer(lambda: run_in_threadpool(read, request))
        return endpoint

    def write(self, act: Callable[[Request, dict[str, Any]], Any]) -> Handler:
        """An acting endpoint: refused without the session's token, or when read-only."""
        async def endpoint(request: Request) -> Response:
            async def go() -> Any:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent.encode(), self.token.encode()):
                    raise RequestRefusedError(
                        403, f"missing or wrong {CSRF_HEADER} header: reload the page to "
                        "get this session's token")
                if self.read_only:
                    raise RequestRefusedError(403, "the dashboard was started with --read-only")
                body = await _body(request)
                return await run_in_threadpool(act, request, body)
            return await self._answer(go)
        return endpoint

    async def _answer(self, work: Callable[[], Awaitable[Any]]) -> Response:
        headers = {"Cache-Control": "no-store"}
        try:
            return JSONResponse(await work(), headers=headers)
        except RequestRefusedError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)
        except KitaruError as exc:
            return JSONResponse({"error": str(exc)}, status_code=_status_of(exc),
                                headers=headers)
        except Exception as exc:
            log.exception("dashboard request failed")
            return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"},
                                status_code=500, headers=headers)

    # -- reads
    def list(self, request: Request) -> Any:
        query = request.query_params
        return views.listing(
            self.plane, flow=query.get("flow") or None, status=query.get("status") or None,
            waiting=query.get("waiting") in ("1", "true"),
            limit=_query_int(request, "limit", 50, PAGE_SIZE_MAX),
            offset=_query_int(request, "offset", 0, 1 << 62))

    def get(self, request: Request) -> Any:
        exec_id = request.path_params["exec_id"]
        shown = self.finished.get(exec_id)
        if shown is None:
            shown = views.execution(self.plane, exec_id)
            if shown["info"]["status"] in views.FINAL and len(self.finished) < 10_000:
                self.finished[exec_id] = shown  # never changes again: the page polls it
        return shown

    def logs(self, request: Request) -> Any:
        """What the execution printed since ``?cursor=`` (all of it without one), the
        cursor to pass next, and whether it still runs. Only new parts are read."""
        chunk = self.plane.logs_since(request.path_params["exec_id"],
                                      request.query_params.get("cursor", ""))
        return {"text": chunk.text, "cursor": chunk.cursor, "running": chunk.running}

    def value(self, request: Request) -> Any:
        exec_id, name = request.path_params["exec_id"], request.path_params["name"]
        stored = self.plane.stored(exec_id, name)
        return views.value(stored, f"/api/executions/{quote(exec_id, safe='')}/checkpoints/"
                                   f"{quote(name, safe='')}/download")

    async def download(self, request: Request) -> Response:
        exec_id, name = request.path_params["exec_id"], request.path_params["name"]
        try:
            stored = await run_in_threadpool(self.plane.stored, exec_id, name)
        except KitaruError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        filename, media = views.download_name(stored)
        return Response(stored.data, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store"})

    def diff(self, request: Request) -> Any:
        a, b = request.query_params.get("a"), request.query_params.get("b")
        if not a or not b:
            raise RequestRefusedError(400, "name two executions to compare: ?a=<id>&b=<id>")
        return self.plane.diff(a, b).model_dump(mode="json")

    def flows(self, request: Request) -> Any:
        return {"flows": [f.model_dump(mode="json") for f in self.plane.flows()],
                "executions": [r.model_dump(mode="json")
                               for r in self.plane.list(None, None, 1 << 62)]}

    # -- writes
    def answer(self, request: Request, body: dict[str, Any]) -> Any:
        if "value" not in body:
            raise RequestRefusedError(400, "the answer needs a 'value'")
        wait = body.get("wait")
        if wait is not None and not isinstance(wait, str):
            raise RequestRefusedError(400, "'wait' must be the wait's name")
        return {"exec_id": self.plane.answer(request.path_params["exec_id"], body["value"],
                                             wait)}

    def replay(self, request: Request, body: dict[str, Any]) -> Any:
        at, overrides = body.get("at") or None, body.get("overrides") or {}
        if at is not None and not isinstance(at, str):
            raise RequestRefusedError(400, "'at' must be a checkpoint id")
        if not isinstance(overrides, dict):
            raise RequestRefusedError(400, "'overrides' must be a JSON object of key: value")
        return {"exec_id": self.plane.replay(request.path_params["exec_id"], at, overrides)}

    def retry(self, request: Request, body: dict[str, Any]) -> Any:
        return {"exec_id": self.plane.retry(request.path_params["exec_id"])}

    def cancel(self, request: Request, body: dict[str, Any]) -> Any:
        return {"exec_id": self.plane.cancel(request.path_params["exec_id"])}


class _SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)
        await self.app(scope, receive, sending)


def create_app(plane: ControlPlane, *, plane_kind: str = "local", where: str = "",
               read_only: bool = False, token: str | None = None,
               hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Starlette:
    """The dashboard's ASGI app over ``plane``; requests must name one of ``hosts``."""
    dashboard = Dashboard(plane, plane_kind=plane_kind, where=where, read_only=read_only,
                          token=token or secrets.token_urlsafe(32))
    return Starlette(routes=dashboard.routes(), middleware=[
        Middleware(_SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))])
