"""MCP test harness: the real app in-process, the real MCP client in-process.

``api``: a NovaClient whose HTTP goes through ``httpx.ASGITransport`` to the test app.
``session(api)``: an MCP ``Client`` session on a server built with that client.
"""

from __future__ import annotations

import httpx
import pytest
from mcp import Client

from nova.mcp_server.client import NovaClient
from nova.mcp_server.server import SessionProvider, build_server

EXPECTED_TOOLS = {
    "health_check",
    "whoami",
    "register",
    "login",
    "place_calls",
    "list_eval_personas",
    "start_eval",
    "get_eval",
    "get_call",
    "get_call_brief",
    "get_call_quality",
    "get_usage",
    "list_plans",
    "list_webhooks",
    "create_webhook",
    "delete_webhook",
    "test_webhook",
    "get_demo_token",
    "get_transfer_number",
    "set_transfer_number",
    "clear_transfer_number",
    "get_call_transcript",
    "get_call_analysis",
    "get_call_latency",
    "get_analytics",
}


class RecordingSleep:
    """Stands in for asyncio.sleep in the client's retry backoff: records, never waits."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def api(app, sleeps) -> NovaClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    return NovaClient("http://testserver", transport=transport, sleep=sleeps)


def session(api: NovaClient) -> Client:
    """An in-process MCP client on a server driving the API through ``api``. Use it as
    ``async with session(api) as mcp:`` inside the test: the client runs an anyio task
    group, which must be entered and left in the same task (an async fixture would not)."""
    return Client(build_server(SessionProvider(api)), raise_exceptions=True)


# The HTTPS webhook receiver (a local network peer) of the webhooks tests.
from tests.webhooks.conftest import receiver, tls_files  # noqa: E402, F401
