"""Calls tools over an MCP session against the real POST /calls, GET /calls/{id},
GET /contexts/{id} and POST /token (LiveKit is the local Twirp fake)."""

from __future__ import annotations

from livekit import api as lk_api

from nova.calls import briefs, scrape
from nova.telephony import livekit as lk_mod
from tests.conftest import register
from tests.mcp_server.conftest import session

PHONES = ["+971501234567", "+971501234568", "+971501234569"]


def batch(n: int = 1, **overrides) -> dict:
    body = {
        "owner_email": "owner@example.com",
        "product": "CloudSync CRM",
        "context": "Mid-market CRM, AED 99/seat, main objection is migration effort",
        "goal": "qualify_interest",
        "consent": True,
        "leads": [{"phone": PHONES[i], "name": f"Lead {i}"} for i in range(n)],
    }
    body.update(overrides)
    return body


def text(result) -> str:
    return result.content[0].text


async def _cleanup() -> None:
    await lk_mod.aclose_clients()
    await briefs.aclose_clients()
    scrape.clear_cache()


async def test_place_calls_then_follow_the_call(api, client, livekit, clock):
    try:
        async with session(api) as mcp:
            r = await mcp.call_tool("register", {"email": "rep@example.com", "password": "secret1"})
            assert r.structured_content["session_authenticated"] is True
            r = await mcp.call_tool("place_calls", batch(2, goal_criteria="Team of 10+"))
            assert not r.is_error, text(r)
            out = r.structured_content
            assert (out["total"], out["dispatched"], out["failed"]) == (2, 2, 0)
            first = out["calls"][0]
            assert first["status"] == "in_progress" and first["phone"] == PHONES[0]
            assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 2

            r = await mcp.call_tool("get_call", {"call_id": first["call_id"]})
            assert r.structured_content["status"] == "in_progress"
            assert r.structured_content["expires_in_seconds"] == 600.0

            r = await mcp.call_tool("get_call_brief", {"context_id": first["context_id"]})
            brief = r.structured_content
            assert brief["context_id"] == first["context_id"]
            assert brief["opening_line"] and brief["qualification_questions"]
            assert brief["lead"]["name"] == "Lead 0"

            r = await mcp.call_tool(
                "get_demo_token", {"context_id": first["context_id"], "participant_name": "Ann"}
            )
            assert not r.is_error, text(r)
            tok = r.structured_content
            assert tok["room_name"] == f"call-{first['context_id']}"
            claims = lk_api.TokenVerifier(livekit.api_key, livekit.api_secret).verify(
                tok["participant_token"]
            )
            assert claims.video.room == tok["room_name"] and claims.video.room_join

            # An unknown room: the API's 404 comes back.
            r = await mcp.call_tool("get_demo_token", {"room_name": "call-nope"})
            assert r.is_error and "HTTP 404" in text(r)

            # Metered against the session's account.
            r = await mcp.call_tool("get_usage", {})
            assert r.structured_content["minutes_remaining"] <= 8

            # After the 10-minute TTL the job view and the brief are gone: 404.
            clock.advance(seconds=600)
            r = await mcp.call_tool("get_call", {"call_id": first["call_id"]})
            assert r.is_error
            assert "HTTP 404" in text(r) and "Call not found or expired" in text(r)
            r = await mcp.call_tool("get_call_brief", {"context_id": first["context_id"]})
            assert r.is_error and "HTTP 404" in text(r)
    finally:
        await _cleanup()


async def test_idempotency_key_replays_without_dialling_twice(api, livekit, clock):
    try:
        async with session(api) as mcp:
            args = batch(1, idempotency_key="batch-2026-11-23-001")
            first = await mcp.call_tool("place_calls", args)
            again = await mcp.call_tool("place_calls", args)
            assert not first.is_error and not again.is_error, (text(first), text(again))
            assert again.structured_content == first.structured_content
            assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1
            # Same key, different body: the API refuses (422) and nothing is dialled.
            other = await mcp.call_tool("place_calls", {**args, "product": "Other product"})
            assert other.is_error and "HTTP 422" in text(other)
            assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1
    finally:
        await _cleanup()


async def test_402_when_the_trial_has_too_few_minutes(api, client, livekit, settings):
    user = await register(client, "poor@example.com")
    settings.reserve_minutes_per_call = 11  # the trial has 10
    api.token = user["token"]
    try:
        async with session(api) as mcp:
            r = await mcp.call_tool("place_calls", batch(1))
        assert r.is_error
        assert "HTTP 402" in text(r)
        assert livekit.calls("AgentDispatchService", "CreateDispatch") == []
    finally:
        await _cleanup()


async def test_429_after_the_per_ip_limit_with_retry_after(api, livekit, settings, clock):
    settings.calls_rate_limit = 2
    try:
        async with session(api) as mcp:
            for i in range(2):
                r = await mcp.call_tool("place_calls", batch(1, product=f"P{i}"))
                assert not r.is_error, text(r)
            r = await mcp.call_tool("place_calls", batch(1, product="P3"))
        assert r.is_error
        assert "HTTP 429" in text(r)
        assert "Rate limit exceeded. Max 2 requests per 60 seconds." in text(r)
        assert "retry after" in text(r)
        assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 2
    finally:
        await _cleanup()


async def test_401_when_the_server_requires_a_token(api, livekit, settings):
    settings.feature_calls_auth_required = True
    try:
        async with session(api) as mcp:
            r = await mcp.call_tool("place_calls", batch(1))
        assert r.is_error and "HTTP 401" in text(r)
        assert "login or register" in text(r)
        assert livekit.calls("AgentDispatchService", "CreateDispatch") == []
    finally:
        await _cleanup()


async def test_unknown_call_and_context_404(api):
    unknown = "00000000-0000-4000-8000-000000000000"
    async with session(api) as mcp:
        r = await mcp.call_tool("get_call", {"call_id": unknown})
        assert r.is_error and "HTTP 404" in text(r)
        r = await mcp.call_tool("get_call_brief", {"context_id": unknown})
        assert r.is_error and "HTTP 404" in text(r)


async def test_mount_limits_the_real_caller_not_the_server(app, client, livekit, settings):
    """Through /mcp the inner POST /calls carries the caller's address, so the per-IP limit
    counts each caller separately (and not every MCP user as the server's one address)."""
    from nova.mcp_server.mount import mcp_lifespan
    from tests.mcp_server.test_mount_inprocess import mcp_over_asgi

    settings.calls_rate_limit = 1
    alice = await register(client, "alice@example.com")
    bob = await register(client, "bob@example.com")
    try:
        async with mcp_lifespan(app):
            async with mcp_over_asgi(app, alice["token"], peer=("198.51.100.1", 1000)) as mcp:
                r = await mcp.call_tool("place_calls", batch(1))
                assert not r.is_error, text(r)
                r = await mcp.call_tool("place_calls", batch(1, product="again"))
                assert r.is_error and "HTTP 429" in text(r)
            async with mcp_over_asgi(app, bob["token"], peer=("198.51.100.2", 1000)) as mcp:
                r = await mcp.call_tool("place_calls", batch(1))
                assert not r.is_error, text(r)
                call_id = r.structured_content["calls"][0]["call_id"]
                r = await mcp.call_tool("get_call", {"call_id": call_id})
                assert r.structured_content["status"] == "in_progress"
    finally:
        await _cleanup()
