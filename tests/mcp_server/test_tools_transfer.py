"""Transfer-number tools over an MCP session against the real /me/transfer."""

from __future__ import annotations

from tests.conftest import register
from tests.mcp_server.conftest import session


async def test_set_read_and_clear_the_transfer_number(api, client):
    api.token = (await register(client, "transfer@example.com"))["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("get_transfer_number", {})
        assert not r.is_error and r.structured_content["configured"] is False
        r = await mcp.call_tool("set_transfer_number", {"phone_e164": "+14155550123"})
        assert not r.is_error, r.content
        assert r.structured_content["phone_e164"] == "+14155550123"
        assert r.structured_content["mode"] == "warm"
        r = await mcp.call_tool("get_transfer_number", {})
        assert r.structured_content["configured"] is True
        # The API's own check (a premium-rate number) comes back as a tool error.
        r = await mcp.call_tool("set_transfer_number", {"phone_e164": "+19005550123"})
        assert r.is_error and "HTTP 422" in r.content[0].text
        assert "premium-rate" in r.content[0].text
        r = await mcp.call_tool("clear_transfer_number", {})
        assert not r.is_error and r.structured_content["configured"] is False
        r = await mcp.call_tool("get_transfer_number", {})
        assert r.structured_content["configured"] is False


async def test_transfer_tools_need_a_token(api):
    async with session(api) as mcp:
        r = await mcp.call_tool("get_transfer_number", {})
    assert r.is_error and "HTTP 401" in r.content[0].text
