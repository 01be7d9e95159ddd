"""Request guards: JSON depth before any route parses a body, the full ``Allow`` list on a 405,
and the OpenAPI document that describes every status (``nova.api.openapi``)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match
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


def _allowed_methods(app: ASGIApp, scope: Scope) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names only the first
    route that matched the path, so GET + POST on one path answered ``Allow: GET``)."""
    methods: set[str] = set()
    for route in getattr(app, "routes", ()):
        match, _ = route.matches({**scope, "method": "__NONE__"})
        if match is Match.PARTIAL and getattr(route, "methods", None):
            methods.update(route.methods)
    return sorted(methods)


def install(app: FastAPI) -> None:
    """The guards that are exception handlers or document hooks rather than middleware."""
    from nova.api import openapi

    previous = app.exception_handlers[HTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            allow = _allowed_methods(app.router, request.scope)
            if allow:
                exc = HTTPException(405, exc.detail, headers={"Allow": ", ".join(allow)})
        return await previous(request, exc)

    app.add_exception_handler(HTTPException, http_error)
    openapi.install(app)
