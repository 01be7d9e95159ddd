"""Billing tools over an MCP session against the real GET /billing/plans and
GET /billing/usage (402 on place_calls is in test_tools_calls)."""

from __future__ import annotations

from tests.conftest import register
from tests.mcp_server.conftest import session


async def test_list_plans_needs_no_token(api):
    async with session(api) as mcp:
        r = await mcp.call_tool("list_plans", {})
    assert not r.is_error, r.content
    plans = {p["id"]: p for p in r.structured_content["plans"]}
    assert set(plans) == {"starter", "growth", "scale"}
    assert plans["starter"]["price"] == 29 and plans["starter"]["included_minutes"] == 100
    assert plans["growth"]["price"] == 99 and plans["growth"]["included_minutes"] == 500
    assert plans["scale"]["overage_per_minute"] == 0.15
    assert r.structured_content["trial"] == {"days": 7, "minutes": 10}


async def test_get_usage_with_and_without_a_token(api, client):
    async with session(api) as mcp:
        r = await mcp.call_tool("get_usage", {})
        assert r.is_error
        assert "HTTP 401" in r.content[0].text and "Not authenticated" in r.content[0].text
    user = await register(client, "usage@example.com")
    api.token = user["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("get_usage", {})
    assert not r.is_error, r.content
    usage = r.structured_content
    assert usage["plan"] == "trial"
    assert usage["minutes_limit"] == 10 and usage["minutes_remaining"] == 10
    assert usage["minutes_used"] == 0
    assert usage["trial_ends_at"] is not None and usage["period_end"] is not None
