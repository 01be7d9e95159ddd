"""Webhook and billing tools over an MCP session against the real /v1/webhooks and
/billing endpoints (the webhook receiver is the local HTTPS peer of the webhooks tests)."""

from __future__ import annotations

from tests.conftest import register
from tests.mcp_server.conftest import session
from tests.webhooks.receiver import verify

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def text(result) -> str:
    return result.content[0].text


async def test_webhook_lifecycle(api, client, receiver, settings):
    user = await register(client, "hooks@example.com")
    other = await register(client, "mallory@example.com")
    api.token = user["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool(
            "create_webhook",
            {"url": receiver.url("/ok"), "events": ["call.ended", "call.started", "call.ended"]},
        )
        assert not r.is_error, text(r)
        hook = r.structured_content
        assert hook["events"] == ["call.ended", "call.started"]
        assert hook["is_active"] is True and len(hook["secret"]) >= 32

        r = await mcp.call_tool("list_webhooks", {})
        listed = r.structured_content
        assert listed["count"] == 1 and listed["webhooks"][0]["id"] == hook["id"]
        assert "secret" not in listed["webhooks"][0]

        r = await mcp.call_tool("test_webhook", {"webhook_id": hook["id"]})
        assert not r.is_error, text(r)
        assert r.structured_content["webhook_id"] == hook["id"]
        assert r.structured_content["result"]["status_code"] == 200
        sent = receiver.requests[-1]
        assert sent.json["event"] == "call.started"
        assert verify(hook["secret"], sent.body, sent.headers["X-Nova-Signature"])

        r = await mcp.call_tool("delete_webhook", {"webhook_id": hook["id"]})
        assert r.structured_content == {"webhook_id": hook["id"], "deleted": True}
        r = await mcp.call_tool("delete_webhook", {"webhook_id": hook["id"]})  # idempotent
        assert not r.is_error
        assert (await mcp.call_tool("list_webhooks", {})).structured_content["count"] == 0
        r = await mcp.call_tool("list_webhooks", {"include_inactive": True})
        assert [h["is_active"] for h in r.structured_content["webhooks"]] == [False]

        r = await mcp.call_tool("test_webhook", {"webhook_id": hook["id"]})
        assert r.is_error and "HTTP 400" in text(r) and "Webhook is inactive" in text(r)
        r = await mcp.call_tool("delete_webhook", {"webhook_id": UNKNOWN})
        assert r.is_error and "HTTP 404" in text(r)

        # The API's own URL rules: a private address is refused with its 400 detail.
        r = await mcp.call_tool(
            "create_webhook", {"url": "https://10.0.0.8/hook", "events": ["call.ended"]}
        )
        assert r.is_error and "HTTP 400" in text(r) and "Invalid webhook URL" in text(r)

    # Someone else's webhook looks missing (404), never deletable.
    api.token = other["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("test_webhook", {"webhook_id": hook["id"]})
        assert r.is_error and "HTTP 404" in text(r)


async def test_test_webhook_429(api, client, receiver, settings):
    user = await register(client, "hooks@example.com")
    settings.webhook_test_rate_limit = 1
    api.token = user["token"]
    async with session(api) as mcp:
        hook = (
            await mcp.call_tool("create_webhook", {"url": receiver.url(), "events": ["call.ended"]})
        ).structured_content
        assert not (await mcp.call_tool("test_webhook", {"webhook_id": hook["id"]})).is_error
        r = await mcp.call_tool("test_webhook", {"webhook_id": hook["id"]})
    assert r.is_error and "HTTP 429" in text(r) and "retry after" in text(r)


async def test_webhook_and_usage_tools_need_a_token_401(api):
    async with session(api) as mcp:
        for tool, args in [
            ("list_webhooks", {}),
            ("create_webhook", {"url": "https://hooks.example.com/x", "events": ["call.ended"]}),
            ("delete_webhook", {"webhook_id": UNKNOWN}),
            ("test_webhook", {"webhook_id": UNKNOWN}),
            ("get_usage", {}),
        ]:
            r = await mcp.call_tool(tool, args)
            assert r.is_error and "HTTP 401" in text(r), tool
