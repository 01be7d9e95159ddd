"""Call-record tools over an MCP session against the REST API: transcript, analysis,
latency and analytics."""

from __future__ import annotations

from tests.conftest import register
from tests.mcp_server.conftest import session
from tests.records.helpers import finish
from tests.telephony.factories import create_call


async def test_records_tools(api, client, clock, settings, pump):
    settings.analytics_rollup_window_seconds = 0
    alice = await register(client, "alice@example.com")
    bob = await register(client, "bob@example.com")
    call = await create_call(user_id=alice["user"]["id"], goal="book_meeting")
    await finish(client, clock, call.id, outcome="meeting_booked", duration=120)
    await pump.drain()

    api.token = alice["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("get_call_transcript", {"call_id": call.id})
        assert not r.is_error, r.content
        turns = r.structured_content["turns"]
        assert [t["speaker"] for t in turns] == ["agent", "lead", "agent", "lead"]
        assert turns[2]["interrupted"] is True and turns[1]["start"] == 3.1

        r = await mcp.call_tool("get_call_latency", {"call_id": call.id})
        assert r.structured_content["llm_ttft_ms"]["p50"] == 310.0

        r = await mcp.call_tool("get_call_analysis", {"call_id": call.id})
        out = r.structured_content
        assert out["status"] == "not_configured" and out["outcome"] == "meeting_booked"

        day = clock.now().date().isoformat()
        r = await mcp.call_tool("get_analytics", {"start": day, "end": day})
        totals = r.structured_content["totals"]
        assert (totals["calls"], totals["minutes"], totals["goal_completed"]) == (1, 2.0, 1)

        r = await mcp.call_tool("get_analytics", {"start": day, "end": "2026-01-01"})
        assert r.is_error and "HTTP 400" in r.content[0].text

    api.token = bob["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("get_call_transcript", {"call_id": call.id})
        assert r.is_error and "HTTP 404" in r.content[0].text
