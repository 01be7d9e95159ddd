"""NovaClient: retry policy (GET only), error mapping, configuration. The peer is a
``httpx.MockTransport`` scripted per test (it counts what it receives)."""

from __future__ import annotations

import httpx
import pytest

from nova.mcp_server.client import NovaAPIError, NovaClient, NovaConnectionError
from tests.mcp_server.conftest import RecordingSleep


class Peer:
    """Answers with the scripted responses in order (an exception is raised instead)."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        status, body, *headers = item
        return httpx.Response(status, json=body, headers=headers[0] if headers else None)


def client_for(peer: Peer, sleeps: RecordingSleep, **kw) -> NovaClient:
    return NovaClient("http://nova.test", transport=httpx.MockTransport(peer), sleep=sleeps, **kw)


async def test_get_retries_502_503_504_with_backoff(sleeps):
    peer = Peer((503, {"detail": "busy"}), (502, {}), (200, {"ok": True}))
    async with client_for(peer, sleeps) as api:
        assert await api.get("/health") == {"ok": True}
    assert len(peer.requests) == 3
    assert sleeps.calls == [0.25, 1.0]


async def test_get_gives_up_after_three_attempts(sleeps):
    peer = Peer((504, {"detail": "gateway timeout"}))
    async with client_for(peer, sleeps) as api:
        with pytest.raises(NovaAPIError) as err:
            await api.get("/billing/usage")
    assert len(peer.requests) == 3
    assert err.value.status == 504
    assert err.value.detail == "gateway timeout"


async def test_get_retries_transport_errors_then_reports_unreachable(sleeps):
    peer = Peer(httpx.ConnectError("connection refused"))
    async with client_for(peer, sleeps) as api:
        with pytest.raises(NovaConnectionError) as err:
            await api.get("/health")
    assert len(peer.requests) == 3
    assert "Could not reach the Nova API (GET http://nova.test/health)" in str(err.value)


async def test_get_does_not_retry_client_errors(sleeps):
    peer = Peer((404, {"detail": "Call not found"}))
    async with client_for(peer, sleeps) as api:
        with pytest.raises(NovaAPIError) as err:
            await api.get("/calls/x")
    assert len(peer.requests) == 1
    assert sleeps.calls == []
    assert str(err.value) == "Nova API error (HTTP 404) on GET /calls/x: Call not found"


@pytest.mark.parametrize(
    "outcome", [(503, {"detail": "busy"}), httpx.ConnectError("reset"), httpx.ReadTimeout("slow")]
)
async def test_post_and_delete_are_sent_exactly_once(sleeps, outcome):
    peer = Peer(outcome)
    async with client_for(peer, sleeps) as api:
        with pytest.raises((NovaAPIError, NovaConnectionError)):
            await api.post("/calls", {"leads": []})
        with pytest.raises((NovaAPIError, NovaConnectionError)):
            await api.delete("/v1/webhooks/x")
    assert [r.method for r in peer.requests] == ["POST", "DELETE"]
    assert sleeps.calls == []


async def test_429_carries_retry_after_and_detail(sleeps):
    detail = "Rate limit exceeded. Max 5 requests per 60 seconds."
    peer = Peer((429, {"detail": detail}, {"Retry-After": "42"}))
    async with client_for(peer, sleeps) as api:
        with pytest.raises(NovaAPIError) as err:
            await api.get("/calls/x")
    assert len(peer.requests) == 1
    assert err.value.status == 429
    assert err.value.retry_after == 42
    assert str(err.value).endswith(f"{detail} (retry after 42 s)")


async def test_422_detail_list_is_rendered_as_json(sleeps):
    detail = [{"loc": ["body", "email"], "msg": "bad email", "type": "value_error"}]
    peer = Peer((422, {"detail": detail}))
    async with client_for(peer, sleeps) as api:
        with pytest.raises(NovaAPIError) as err:
            await api.post("/auth/register", {})
    assert err.value.detail == detail
    assert '"msg":"bad email"' in str(err.value)


async def test_token_sent_only_when_asked_and_401_hint_without_token(sleeps):
    peer = Peer((200, {}))
    async with client_for(peer, sleeps, token="tok-1") as api:
        await api.get("/auth/me")
        await api.get("/health", auth=False)
    assert peer.requests[0].headers["authorization"] == "Bearer tok-1"
    assert "authorization" not in peer.requests[1].headers
    assert peer.requests[0].headers["user-agent"].startswith("nova-mcp/")

    peer = Peer((401, {"detail": "Not authenticated"}))
    async with client_for(peer, sleeps) as api:
        with pytest.raises(NovaAPIError) as err:
            await api.get("/auth/me")
    assert "call the login or register tool first" in str(err.value)


async def test_non_json_success_is_an_error(sleeps):
    def html(request):
        return httpx.Response(200, text="<html>proxy</html>", headers={"content-type": "text/html"})

    api = NovaClient("http://nova.test", transport=httpx.MockTransport(html), sleep=sleeps)
    with pytest.raises(NovaAPIError, match="expected a JSON body"):
        await api.get("/health")
    await api.aclose()


async def test_client_reopens_after_close(sleeps):
    peer = Peer((200, {"n": 1}))
    api = client_for(peer, sleeps)
    assert await api.get("/a") == {"n": 1}
    await api.aclose()
    assert await api.get("/b") == {"n": 1}
    await api.aclose()


def test_from_env_precedence_and_aliases():
    env = {"NOVA_API_URL": "https://a.example/", "NOVA_API_TOKEN": "t1", "NOVA_API_KEY": "t2"}
    api = NovaClient.from_env(env=env)
    assert (api.base_url, api.token, api.auth_origin) == ("https://a.example", "t1", "configured")
    api = NovaClient.from_env("http://b.example", "t3", env=env)
    assert (api.base_url, api.token) == ("http://b.example", "t3")
    # The published nova-mcp client's variable names work too.
    api = NovaClient.from_env(env={"NOVA_API_BASE": "https://c.example", "NOVA_API_KEY": "k"})
    assert (api.base_url, api.token) == ("https://c.example", "k")
    api = NovaClient.from_env(env={})
    assert (api.base_url, api.token, api.auth_origin) == ("http://127.0.0.1:8000", None, "none")
    assert NovaClient.from_env(env={"NOVA_API_TIMEOUT": "2.5"}).timeout == 2.5
    with pytest.raises(ValueError, match="NOVA_API_TIMEOUT"):
        NovaClient.from_env(env={"NOVA_API_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="must be http"):
        NovaClient.from_env(env={"NOVA_API_URL": "file:///etc/passwd"})


def test_session_token_never_replaces_a_configured_one():
    api = NovaClient("http://x", token="configured-token")
    assert api.adopt_session_token("new") is False
    assert api.token == "configured-token"
    api = NovaClient("http://x")
    assert api.adopt_session_token("first") is True
    assert api.adopt_session_token("second") is True
    assert (api.token, api.auth_origin) == ("second", "session")
