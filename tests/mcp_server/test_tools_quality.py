"""get_call_quality over an MCP session against GET /api/calls/{id}/quality."""

from __future__ import annotations

from tests.conftest import register
from tests.mcp_server.conftest import session
from tests.quality.helpers import make_call, scored_call

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_scored_pending_and_error_paths(api, client):
    alice = await register(client, "alice@example.com")
    bob = await register(client, "bob@example.com")
    scored = await scored_call(alice["user"]["id"], overall=91)
    pending = await make_call(alice["user"]["id"])

    api.token = alice["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("get_call_quality", {"call_id": scored})
        assert not r.is_error, r.content
        out = r.structured_content
        assert out["call_id"] == scored
        assert out["scored"] is True
        assert out["score"]["overall"] == 91
        assert out["scored_at"] is not None

        r = await mcp.call_tool("get_call_quality", {"call_id": pending})
        assert r.structured_content["scored"] is False
        assert r.structured_content["score"] is None

        r = await mcp.call_tool("get_call_quality", {"call_id": UNKNOWN})
        assert r.is_error
        assert "HTTP 404" in r.content[0].text and "Call not found" in r.content[0].text

    api.token = bob["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("get_call_quality", {"call_id": scored})
        assert r.is_error
        assert "HTTP 403" in r.content[0].text and "You do not own this call" in r.content[0].text

    api.token = None
    async with session(api) as mcp:
        r = await mcp.call_tool("get_call_quality", {"call_id": scored})
        assert r.is_error and "HTTP 401" in r.content[0].text
        assert "score" not in (r.structured_content or {})
