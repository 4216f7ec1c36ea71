"""A model provider's HTTP API on loopback: OpenAI Responses and Chat Completions, and
Anthropic Messages.

The SDKs under test keep their real HTTP clients; only the base URL points here
(``OPENAI_BASE_URL=http://127.0.0.1:<port>/v1``). Every request is counted and kept, so a
test can prove that a retry, a resume or a replay did not call the model again.

Replies come from a *responder*: a function of the request body returning the output
items (Responses) or the text (Chat Completions, Messages). ``function_call`` and
``message`` build Responses output items.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]
Responder = Callable[[Json], list[Json]]
TextResponder = Callable[[Json], str]

_ids = itertools.count(1)


def message(text: str) -> Json:
    """A Responses API assistant message item."""
    return {"type": "message", "id": f"msg_{next(_ids)}", "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def function_call(name: str, arguments: Json, call_id: str) -> Json:
    """A Responses API function call item."""
    return {"type": "function_call", "id": f"fc_{next(_ids)}", "call_id": call_id,
            "name": name, "arguments": json.dumps(arguments), "status": "completed"}


def tool_outputs(body: Json) -> dict[str, str]:
    """The function call outputs a Responses request sends back, by call id."""
    items = body.get("input")
    if not isinstance(items, list):
        return {}
    return {i["call_id"]: str(i.get("output")) for i in items
            if isinstance(i, dict) and i.get("type") == "function_call_output"}


def user_text(body: Json) -> str:
    """The text of a request's user messages, joined (any of the three APIs)."""
    items = body.get("input", body.get("messages"))
    if isinstance(items, str):
        return items
    texts = []
    for item in items or []:
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [c.get("text", "") for c in content if isinstance(c, dict)]
    return "\n".join(texts)


class ModelAPI:
    """The fake server; start with :func:`serve`."""

    def __init__(self, responder: Responder | None = None,
                 text: TextResponder | None = None) -> None:
        self.responder = responder or (lambda body: [message("ok")])
        self.text = text or (lambda body: f"echo: {user_text(body)}")
        self.requests: list[tuple[str, Json]] = []
        self.usage = {"input_tokens": 12, "output_tokens": 5}
        self._lock = threading.Lock()
        self.port = 0

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def count(self, path: str = "") -> int:
        """Requests made so far (to paths ending with ``path``)."""
        with self._lock:
            return sum(1 for p, _ in self.requests if p.endswith(path))

    def bodies(self, path: str = "") -> list[Json]:
        """The bodies of the requests made so far (to paths ending with ``path``)."""
        with self._lock:
            return [b for p, b in self.requests if p.endswith(path)]

    def reply(self, path: str, body: Json) -> tuple[int, Json]:
        with self._lock:
            self.requests.append((path, body))
        tokens_in, tokens_out = self.usage["input_tokens"], self.usage["output_tokens"]
        if path.endswith("/responses"):
            return 200, {
                "id": f"resp_{next(_ids)}", "object": "response", "created_at": 1764590000,
                "status": "completed", "model": body.get("model", "fake"),
                "output": self.responder(body), "parallel_tool_calls": True,
                "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out,
                          "total_tokens": tokens_in + tokens_out,
                          "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}
        if path.endswith("/chat/completions"):
            return 200, {
                "id": f"chatcmpl-{next(_ids)}", "object": "chat.completion",
                "created": 1764590000, "model": body.get("model", "fake"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": self.text(body)}}],
                "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                          "total_tokens": tokens_in + tokens_out}}
        if path.endswith("/messages"):
            return 200, {
                "id": f"msg_{next(_ids)}", "type": "message", "role": "assistant",
                "model": body.get("model", "fake"), "stop_reason": "end_turn",
                "stop_sequence": None, "content": [{"type": "text", "text": self.text(body)}],
                "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}
        return 404, {"error": {"message": f"no such endpoint {path}", "type": "not_found"}}


@contextmanager
def serve(api: ModelAPI) -> Iterator[ModelAPI]:
    """Serve ``api`` on a free loopback port for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            status, reply = api.reply(self.path.split("?")[0], body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
