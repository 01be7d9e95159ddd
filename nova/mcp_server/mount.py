"""The MCP tools served by the control plane at ``/mcp`` (streamable HTTP).

How it fits together:

* ``install(app, settings)`` (called by ``create_app``) adds a cheap ASGI endpoint at
  ``/mcp`` and ``/mcp/``. Importing the MCP SDK costs about a second, so the server itself
  is only built when the app's lifespan starts (``mcp_lifespan``, registered in
  ``nova.api.app.LIFESPAN_HOOKS``), which also runs ``session_manager.run()``: mounted apps'
  own lifespans never run. Until then the endpoint answers 503.
* The server is stateless with JSON responses (``streamable_http_app(
  streamable_http_path="/", stateless_http=True, json_response=True)``), so any replica can
  answer any request. The endpoint hands requests straight to the session manager, so both
  ``/mcp`` and ``/mcp/`` work without a redirect.
* Authentication: every request must carry ``Authorization: Bearer <Nova JWT>``. The
  endpoint checks it by asking the API itself (``GET /auth/me``) and answers 401 with the
  API's detail otherwise. Tools then call the REST API **with the caller's own token**, so
  ownership, metering and limits are exactly the API's.
* How tools reach the API: by default in-process through ``httpx.ASGITransport`` on this
  very app: no network hop, no dependency on ``NOVA_PUBLIC_URL`` being reachable from the
  server (TLS terminators, private networks), and the inner request carries the caller's
  peer address and ``X-Forwarded-For``, so per-IP limits (5 ``POST /calls`` per minute)
  apply to the real caller rather than to the server. ``NOVA_MCP_API_URL`` switches to
  plain HTTP against another base URL (a gateway); the caller's address is then appended to
  ``X-Forwarded-For``.
* DNS-rebinding protection of the SDK is off: it only protects servers that trust ambient
  credentials; this endpoint requires a bearer token no browser sends on its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from nova.api.app import LIFESPAN_HOOKS
from nova.core.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mcp.server.mcpserver import Context

    from nova.mcp_server.client import NovaClient

log = logging.getLogger("nova.mcp")

MCP_PATH = "/mcp"
FORWARDED_HEADERS = ("x-forwarded-for", "x-request-id", "user-agent")


def bearer_token(headers: Any) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    raw = headers.get("authorization") if headers is not None else None
    if not raw:
        return None
    scheme, _, token = raw.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class MountProvider:
    """A :class:`NovaClient` per MCP HTTP request, carrying the caller's token."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def api_for(self, headers: Any, peer: tuple[str, int] | None, token: str | None) -> NovaClient:
        from nova.mcp_server.client import NovaClient

        forward = {k: headers[k] for k in FORWARDED_HEADERS if k in headers}
        if self.settings.mcp_api_url:
            if peer is not None:
                chain = [forward.get("x-forwarded-for", "").strip(), peer[0]]
                forward["x-forwarded-for"] = ", ".join(h for h in chain if h)
            return NovaClient(self.settings.mcp_api_url, token, headers=forward)
        transport = httpx.ASGITransport(app=self.app, client=peer or ("127.0.0.1", 0))
        return NovaClient(self.settings.public_url, token, transport=transport, headers=forward)

    @contextlib.asynccontextmanager
    async def client(self, ctx: Context) -> AsyncIterator[NovaClient]:
        from mcp.server.mcpserver.exceptions import ToolError

        request = ctx.request_context.request
        if request is None:  # pragma: no cover - the mount only serves HTTP
            raise ToolError("no HTTP request carries this tool call")
        peer = (request.client.host, request.client.port) if request.client else None
        api = self.api_for(request.headers, peer, bearer_token(request.headers))
        try:
            yield api
        finally:
            await api.aclose()

    async def aclose(self) -> None:
        return None


async def _json(send: Send, status: int, body: dict, headers: dict[str, str] | None = None):
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class MCPEndpoint:
    """ASGI endpoint at /mcp: bearer check, then the MCP session manager."""

    def __init__(self, provider: MountProvider) -> None:
        self.provider = provider
        self.session_manager: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - no websockets here
            return
        if self.session_manager is None:
            await _json(send, 503, {"detail": "The MCP endpoint is not running"})
            return
        from starlette.datastructures import Headers

        headers = Headers(scope=scope)
        token = bearer_token(headers)
        challenge = {"WWW-Authenticate": "Bearer"}
        if token is None:
            await _json(
                send,
                401,
                {"detail": "Not authenticated: send Authorization: Bearer <token>"},
                challenge,
            )
            return
        client = scope.get("client")
        api = self.provider.api_for(headers, tuple(client) if client else None, token)
        try:
            from nova.mcp_server.client import NovaAPIError, NovaConnectionError

            await api.get("/auth/me")
        except NovaAPIError as exc:
            status = 401 if exc.status == 401 else 502
            await _json(send, status, {"detail": exc.detail}, challenge if status == 401 else None)
            return
        except NovaConnectionError as exc:
            await _json(send, 502, {"detail": str(exc)})
            return
        finally:
            await api.aclose()
        await self.session_manager.handle_request(scope, receive, send)


def build_mounted_server(provider: MountProvider):
    """The MCPServer behind /mcp, with its session manager created (not yet running)."""
    from mcp.server.transport_security import TransportSecuritySettings

    from nova.mcp_server.server import build_server

    server = build_server(provider)
    server.streamable_http_app(
        streamable_http_path="/",
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return server


@contextlib.asynccontextmanager
async def mcp_lifespan(app: FastAPI) -> AsyncIterator[None]:
    endpoint: MCPEndpoint | None = getattr(app.state, "mcp_endpoint", None)
    if endpoint is None:
        yield
        return
    server = build_mounted_server(endpoint.provider)
    async with server.session_manager.run():
        endpoint.session_manager = server.session_manager
        app.state.mcp_server = server
        try:
            yield
        finally:
            endpoint.session_manager = None


def install(app: FastAPI, settings: Settings) -> None:
    """Add the /mcp endpoint to ``app`` (the server starts with the app's lifespan)."""
    if not settings.mcp_enabled:
        return
    endpoint = MCPEndpoint(MountProvider(app, settings))
    app.state.mcp_endpoint = endpoint
    for path in (MCP_PATH, MCP_PATH + "/"):
        app.router.routes.append(Route(path, endpoint=endpoint, include_in_schema=False))


if mcp_lifespan not in LIFESPAN_HOOKS:
    LIFESPAN_HOOKS.append(mcp_lifespan)
