"""The /mcp mount, in-process: bearer gate, per-caller tokens, session manager lifecycle."""

from __future__ import annotations

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nova.mcp_server.mount import mcp_lifespan
from tests.conftest import register

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/list",
    "params": {},
}


def mcp_over_asgi(app, token: str | None, peer=("198.51.100.7", 5555)) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app, client=peer),
        base_url="http://testserver",
        headers=headers,
    )
    return Client(streamable_http_client("http://testserver/mcp", http_client=http))


async def test_not_running_before_lifespan_503(client):
    r = await client.post("/mcp", json=INIT)
    assert r.status_code == 503
    assert r.json() == {"detail": "The MCP endpoint is not running"}


async def test_bearer_required_401(app, client):
    async with mcp_lifespan(app):
        r = await client.post("/mcp", json=INIT)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert "Not authenticated" in r.json()["detail"]
        r = await client.post("/mcp/", json=INIT, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert r.json() == {"detail": "Invalid or expired token"}
        r = await client.post("/mcp", json=INIT, headers={"Authorization": "Basic abc"})
        assert r.status_code == 401


async def test_tools_run_with_the_callers_token(app, client):
    alice = await register(client, "alice@example.com")
    bob = await register(client, "bob@example.com")
    async with mcp_lifespan(app):
        async with mcp_over_asgi(app, alice["token"]) as mcp:
            tools = await mcp.list_tools()
            assert "place_calls" in {t.name for t in tools.tools}
            r = await mcp.call_tool("whoami", {})
            assert not r.is_error, r
            assert r.structured_content["user"]["email"] == "alice@example.com"
        async with mcp_over_asgi(app, bob["token"]) as mcp:
            r = await mcp.call_tool("whoami", {})
            assert r.structured_content["user"]["email"] == "bob@example.com"
