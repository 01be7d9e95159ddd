"""Request guards that apply before any route parses a body."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nova.core import jsonsafe

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class JsonDepthMiddleware:
    """Refuses a JSON body nested deeper than ``max_depth`` with a 400, after reading it but
    before anything parses it (the parser and the validators recurse per level). The body is
    then replayed to the app unchanged. Bodies of other types pass straight through; routes
    that parse those themselves use ``nova.core.jsonsafe.loads``."""

    def __init__(self, app: ASGIApp, max_depth: int = jsonsafe.MAX_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    await self.app(scope, _replay(message, receive), send)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except HTTPException as exc:  # the body-size cap, raised while streaming
            await _send_error(send, exc.status_code, str(exc.detail))
            return
        body = b"".join(chunks)
        try:
            jsonsafe.check_depth(body, self.max_depth)
        except jsonsafe.InvalidJSON as exc:
            await _send_error(send, 400, str(exc))
            return
        replayed: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay(replayed, receive), send)


def _replay(first: Message, receive: Receive) -> Receive:
    """``first``, then whatever the client sends next (a disconnect)."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _send_error(send: Send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
