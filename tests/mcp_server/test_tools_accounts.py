"""Tools over an in-process MCP session against the running app: catalogue, health,
accounts (register / login / whoami, session tokens), the API-reference resource, and
argument checks that never reach the API."""

from __future__ import annotations

import httpx
import pytest

from nova.api import health
from nova.mcp_server.client import NovaClient
from tests.conftest import register
from tests.mcp_server.conftest import EXPECTED_TOOLS, session


class Counting(httpx.AsyncBaseTransport):
    """Wraps the app's ASGI transport and records every request that reaches the API."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def counting(app) -> Counting:
    return Counting(httpx.ASGITransport(app=app, client=("203.0.113.10", 40000)))


@pytest.fixture
def counted_api(counting) -> NovaClient:
    return NovaClient("http://testserver", transport=counting)


def text(result) -> str:
    return result.content[0].text


async def test_catalogue_has_typed_tools_and_the_reference_resource(api):
    async with session(api) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        assert set(tools) == EXPECTED_TOOLS
        for tool in tools.values():
            assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
            assert len(tool.description) > 80, tool.name
        consent = tools["place_calls"].input_schema["properties"]["consent"]
        assert consent["const"] is True or consent.get("enum") == [True]
        assert "consent" in tools["place_calls"].input_schema["required"]
        assert tools["get_call"].annotations.read_only_hint is True
        assert tools["delete_webhook"].annotations.destructive_hint is True
        resources = (await mcp.list_resources()).resources
        assert [str(r.uri) for r in resources] == ["nova://docs/api-reference"]
        read = await mcp.read_resource("nova://docs/api-reference")
        assert read.contents[0].mime_type == "text/plain"
        assert "/v1/webhooks" in read.contents[0].text
        assert read.contents[0].text.startswith("NOVA API documentation")


async def test_health_check_shallow_and_deep(api):
    async with session(api) as mcp:
        r = await mcp.call_tool("health_check", {})
        assert not r.is_error
        assert r.structured_content["healthy"] is True
        assert r.structured_content["active_calls"] == 0
        assert r.structured_content["ttl_seconds"] == 600
        r = await mcp.call_tool("health_check", {"deep": True})
        database = r.structured_content["checks"]["database"]
        assert database["ok"] is True and database["detail"] == "ok"


async def test_deep_health_degraded_is_a_result_not_an_error(api):
    async def broken(_settings):
        return False, "voice infrastructure unreachable"

    health.register_probe("mcp-test-broken", broken)
    try:
        async with session(api) as mcp:
            r = await mcp.call_tool("health_check", {"deep": True})
    finally:
        health._probes.pop("mcp-test-broken")
    assert not r.is_error
    assert r.structured_content["healthy"] is False
    assert r.structured_content["http_status"] == 503
    assert r.structured_content["status"] == "degraded"
    assert r.structured_content["checks"]["mcp-test-broken"]["ok"] is False


async def test_whoami_without_token_is_a_401_tool_error_with_guidance(api):
    async with session(api) as mcp:
        r = await mcp.call_tool("whoami", {})
    assert r.is_error
    assert "HTTP 401" in text(r) and "Not authenticated" in text(r)
    assert "NOVA_API_TOKEN" in text(r)


async def test_whoami_with_an_invalid_configured_token_401(app, api):
    api.token, api.auth_origin = "garbage", "configured"
    async with session(api) as mcp:
        r = await mcp.call_tool("whoami", {})
    assert r.is_error
    assert "HTTP 401" in text(r) and "Invalid or expired token" in text(r)
    assert "login or register" not in text(r)


async def test_register_adopts_the_token_for_the_session(api, client):
    async with session(api) as mcp:
        r = await mcp.call_tool(
            "register", {"email": "  New@Example.com", "password": "secret1", "name": "New"}
        )
        assert not r.is_error, text(r)
        out = r.structured_content
        assert out["session_authenticated"] is True
        assert out["access_token"] is None  # not echoed unless asked for
        assert out["user"]["email"] == "new@example.com"
        assert out["user"]["trial_minutes_remaining"] == 10.0
        r = await mcp.call_tool("whoami", {})
        assert r.structured_content["user"]["id"] == out["user"]["id"]
        assert r.structured_content["features"] == {"voice_cloning": False, "byo_twilio": False}
        # Same e-mail again: the API's 409 comes back with its detail.
        r = await mcp.call_tool("register", {"email": "new@example.com", "password": "secret1"})
        assert r.is_error
        assert "HTTP 409" in text(r) and "Email already registered" in text(r)


async def test_register_rejects_bad_arguments_before_calling_the_api(counted_api, counting):
    async with session(counted_api) as mcp:
        r = await mcp.call_tool("register", {"email": "not-an-email", "password": "secret1"})
        assert r.is_error and "email" in text(r)
        r = await mcp.call_tool("register", {"email": "a@example.com", "password": "12345"})
        assert r.is_error and "password" in text(r)
    assert counting.requests == []


async def test_login_bad_password_401_then_login_and_return_token(api, client):
    await register(client, "sam@example.com", "right-password")
    async with session(api) as mcp:
        r = await mcp.call_tool("login", {"email": "sam@example.com", "password": "wrong"})
        assert r.is_error and "HTTP 401" in text(r)
        r = await mcp.call_tool(
            "login",
            {"email": "SAM@example.com", "password": "right-password", "return_token": True},
        )
        assert not r.is_error, text(r)
        token = r.structured_content["access_token"]
        assert r.structured_content["session_authenticated"] is True
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == "sam@example.com"


async def test_login_keeps_a_configured_token(api, client):
    alice = await register(client, "alice@example.com")
    await register(client, "bob@example.com", "bob-password")
    api.token, api.auth_origin = alice["token"], "configured"
    async with session(api) as mcp:
        r = await mcp.call_tool("login", {"email": "bob@example.com", "password": "bob-password"})
        assert not r.is_error
        assert r.structured_content["session_authenticated"] is False
        assert "still the one in use" in r.structured_content["message"]
        r = await mcp.call_tool("whoami", {})
        assert r.structured_content["user"]["email"] == "alice@example.com"


async def test_place_calls_argument_checks_never_reach_the_api(counted_api, counting):
    base = {
        "owner_email": "owner@example.com",
        "product": "CloudSync CRM",
        "goal": "qualify_interest",
        "consent": True,
        "leads": [{"phone": "+971501234567", "name": "Sarah"}],
    }
    cases = [
        ({"consent": False}, "consent"),
        ({"leads": []}, "leads"),
        ({"leads": [{"phone": f"+97150123456{i}"} for i in range(6)]}, "leads"),
        ({"leads": [{"phone": "0501234567"}]}, "phone"),
        ({"leads": [{"phone": "+971501234567"}, {"phone": "+971501234567"}]}, "duplicate"),
        ({"goal": "book_meeting"}, "booking_link"),
        ({"goal": "close_sale"}, "payment_link"),
        ({"goal": "win"}, "goal"),
        ({"language": "fr"}, "language"),
    ]
    args_without_consent = {k: v for k, v in base.items() if k != "consent"}
    async with session(counted_api) as mcp:
        for change, needle in cases:
            r = await mcp.call_tool("place_calls", {**base, **change})
            assert r.is_error, change
            assert needle in text(r), (change, text(r))
        r = await mcp.call_tool("place_calls", args_without_consent)
        assert r.is_error and "consent" in text(r)
    assert counting.requests == []


async def test_id_arguments_are_checked_before_calling_the_api(counted_api, counting):
    async with session(counted_api) as mcp:
        for tool, arg in [
            ("get_call", "call_id"),
            ("get_call_brief", "context_id"),
            ("get_call_quality", "call_id"),
            ("delete_webhook", "webhook_id"),
            ("test_webhook", "webhook_id"),
        ]:
            r = await mcp.call_tool(tool, {arg: "../auth/me"})
            assert r.is_error and arg in text(r), tool
        r = await mcp.call_tool("get_demo_token", {})
        assert r.is_error and "context_id" in text(r)
        r = await mcp.call_tool(
            "create_webhook", {"url": "http://x.example", "events": ["call.ended"]}
        )
        assert r.is_error and "url" in text(r)
        r = await mcp.call_tool(
            "create_webhook", {"url": "https://x.example", "events": ["call.nope"]}
        )
        assert r.is_error and "events" in text(r)
    assert counting.requests == []
