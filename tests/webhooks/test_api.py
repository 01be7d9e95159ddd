from __future__ import annotations

import hashlib

from sqlalchemy import select, text

from nova.core.db import session_scope
from nova.core.events import emit
from nova.core.settings import get_settings
from nova.models.webhooks import Webhook, WebhookDelivery
from nova.webhooks.signing import open_key
from tests.webhooks.conftest import create_hook
from tests.webhooks.receiver import verify

ALL = ["call.started", "call.ended", "call.transcribed", "call.scored"]


async def test_create_shows_secret_once_and_stores_only_its_hash(client, user, receiver):
    r = await client.post(
        "/v1/webhooks",
        json={"url": receiver.url("/ok"), "events": ["call.ended", "call.started"]},
        headers=user["headers"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "url", "events", "secret", "is_active", "created_at", "updated_at"}
    assert body["events"] == ["call.ended", "call.started"]
    assert body["is_active"] is True
    secret = body["secret"]
    assert len(secret) >= 32
    async with session_scope() as s:
        hook = await s.get(Webhook, body["id"])
        signing_key = hashlib.sha256(secret.encode()).hexdigest()
        assert open_key(get_settings(), hook.signing_key) == signing_key
        # Neither the raw secret nor the signing key derived from it is in the table.
        row = (await s.execute(text("SELECT * FROM webhooks"))).one()
        assert all(secret not in str(v) and signing_key not in str(v) for v in row)

    listed = (await client.get("/v1/webhooks", headers=user["headers"])).json()
    assert [h["id"] for h in listed] == [body["id"]]
    assert "secret" not in listed[0] and "secret_hash" not in listed[0]


async def test_events_default_to_all_and_are_deduplicated(client, user, receiver):
    hook = await create_hook(client, user["headers"], receiver.url())
    assert hook["events"] == ALL
    hook = await create_hook(
        client, user["headers"], receiver.url(), ["call.scored", "call.scored"]
    )
    assert hook["events"] == ["call.scored"]


async def test_bad_requests(client, user, receiver):
    h = user["headers"]
    r = await client.post(
        "/v1/webhooks", json={"url": receiver.url(), "events": ["call.exploded"]}, headers=h
    )
    assert r.status_code == 400
    assert "call.exploded" in r.json()["detail"]
    r = await client.post("/v1/webhooks", json={"url": receiver.url(), "events": []}, headers=h)
    assert r.status_code == 400
    r = await client.post("/v1/webhooks", json={"url": "http://hooks.example.com/x"}, headers=h)
    assert r.status_code == 400
    assert "https" in r.json()["detail"]
    r = await client.post("/v1/webhooks", json={"events": ALL}, headers=h)
    assert r.status_code == 422
    r = await client.post(
        "/v1/webhooks", json={"url": "https://a.example/" + "x" * 2100}, headers=h
    )
    assert r.status_code == 422


async def test_bearer_only(client, receiver):
    assert (await client.get("/v1/webhooks")).status_code == 401
    r = await client.post("/v1/webhooks", json={"url": receiver.url()})
    assert r.status_code == 401
    r = await client.get("/v1/webhooks", headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401
    assert (await client.delete("/v1/webhooks/x")).status_code == 401
    assert (await client.post("/v1/webhooks/x/test")).status_code == 401
    assert (await client.get("/v1/webhooks/x/deliveries")).status_code == 401


async def test_soft_delete_is_idempotent_and_include_inactive(client, user, receiver, pump):
    h = user["headers"]
    keep = await create_hook(client, h, receiver.url())
    gone = await create_hook(client, h, receiver.url("/fail"))
    assert (await client.delete(f"/v1/webhooks/{gone['id']}", headers=h)).status_code == 204
    assert (await client.delete(f"/v1/webhooks/{gone['id']}", headers=h)).status_code == 204
    assert (await client.delete("/v1/webhooks/nope", headers=h)).status_code == 404
    active = (await client.get("/v1/webhooks", headers=h)).json()
    assert [x["id"] for x in active] == [keep["id"]]
    r = await client.get("/v1/webhooks", params={"include_inactive": "true"}, headers=h)
    every = {x["id"]: x["is_active"] for x in r.json()}
    assert every == {keep["id"]: True, gone["id"]: False}
    # Deliveries of a deleted webhook's events are no longer created.
    async with session_scope() as s:
        await emit(s, "call.ended", {"call_id": "c1", "customer_id": user["user"]["id"]})
    await pump.drain()
    async with session_scope() as s:
        rows = (await s.execute(select(WebhookDelivery))).scalars().all()
    assert [r.webhook_id for r in rows] == [keep["id"]]
    assert (await client.post(f"/v1/webhooks/{gone['id']}/test", headers=h)).status_code == 400


async def test_per_user_limit(client, user, receiver, settings):
    settings.webhook_max_per_user = 2
    h = user["headers"]
    first = await create_hook(client, h, receiver.url())
    await create_hook(client, h, receiver.url())
    r = await client.post("/v1/webhooks", json={"url": receiver.url()}, headers=h)
    assert r.status_code == 400
    assert "limit" in r.json()["detail"].lower()
    await client.delete(f"/v1/webhooks/{first['id']}", headers=h)
    await create_hook(client, h, receiver.url())


async def test_deliveries_limit_bounds_and_default(client, user, receiver):
    h = user["headers"]
    hook = await create_hook(client, h, receiver.url())
    async with session_scope() as s:
        for i in range(60):
            s.add(
                WebhookDelivery(
                    webhook_id=hook["id"], event_id=f"e{i}", event_type="call.ended", payload={}
                )
            )
    url = f"/v1/webhooks/{hook['id']}/deliveries"
    assert len((await client.get(url, headers=h)).json()) == 50
    assert len((await client.get(url, params={"limit": 1}, headers=h)).json()) == 1
    assert len((await client.get(url, params={"limit": 500}, headers=h)).json()) == 60
    assert (await client.get(url, params={"limit": 0}, headers=h)).status_code == 422
    assert (await client.get(url, params={"limit": 501}, headers=h)).status_code == 422
    assert (await client.get(url, params={"limit": "x"}, headers=h)).status_code == 422
    row = (await client.get(url, params={"limit": 1}, headers=h)).json()[0]
    assert set(row) == {
        "id",
        "webhook_id",
        "event_id",
        "event_type",
        "status",
        "attempt_count",
        "status_code",
        "error_message",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    }


async def test_test_endpoint_delivers_a_signed_fake_call_started(client, user, receiver):
    h = user["headers"]
    hook = await create_hook(client, h, receiver.url(), ["call.ended"])
    r = await client.post(f"/v1/webhooks/{hook['id']}/test", headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "succeeded"
    assert out["status_code"] == 200
    assert out["attempt_count"] == 1
    assert out["event_type"] == "call.started"
    # The published MCP client reads {delivery_id, event_type, message}.
    assert out["delivery_id"] == out["id"]
    assert out["message"] == "Delivered: your endpoint answered HTTP 200"
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert verify(hook["secret"], req.body, req.headers["X-Nova-Signature"])
    assert req.headers["X-Nova-Event"] == "call.started"
    assert req.headers["X-Nova-Delivery"] == out["id"]
    data = req.json["data"]
    assert set(data) >= {
        "call_id",
        "customer_id",
        "context_id",
        "room_name",
        "mode",
        "goal",
        "to_phone_e164",
        "started_at",
    }
    assert data["customer_id"] == user["user"]["id"]
    listed = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=h)).json()
    assert [d["id"] for d in listed] == [out["id"]]


async def test_test_endpoint_failure_is_reported_and_retried(
    client, user, receiver, deliverer, clock
):
    h = user["headers"]
    hook = await create_hook(client, h, receiver.url("/fail"))
    out = (await client.post(f"/v1/webhooks/{hook['id']}/test", headers=h)).json()
    assert out["status"] == "pending"
    assert out["status_code"] == 500
    assert out["error_message"] == "HTTP 500"
    assert out["message"] == "First attempt failed (HTTP 500); retrying on the normal schedule"
    clock.advance(1)
    assert await deliverer.drain() == 1
    async with session_scope() as s:
        row = await s.get(WebhookDelivery, out["id"])
    assert row.attempt_count == 2
    assert len(receiver.requests) == 2


async def test_test_endpoint_rate_limit(client, user, receiver, settings):
    settings.webhook_test_rate_limit = 2
    h = user["headers"]
    hook = await create_hook(client, h, receiver.url())
    for _ in range(2):
        assert (await client.post(f"/v1/webhooks/{hook['id']}/test", headers=h)).status_code == 200
    r = await client.post(f"/v1/webhooks/{hook['id']}/test", headers=h)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1


async def test_bola_other_users_webhooks_are_invisible(client, user, other_user, receiver):
    a, b = user["headers"], other_user["headers"]
    hook = await create_hook(client, a, receiver.url())
    hid = hook["id"]
    assert (await client.get("/v1/webhooks", headers=b)).json() == []
    r = await client.get("/v1/webhooks", params={"include_inactive": True}, headers=b)
    assert r.json() == []
    for method, path in (
        ("DELETE", f"/v1/webhooks/{hid}"),
        ("POST", f"/v1/webhooks/{hid}/test"),
        ("GET", f"/v1/webhooks/{hid}/deliveries"),
    ):
        r = await client.request(method, path, headers=b)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == {"detail": "Webhook not found"}
    # Nothing happened to A's webhook, and no test delivery was sent.
    assert receiver.requests == []
    async with session_scope() as s:
        assert (await s.get(Webhook, hid)).is_active is True
        assert (await s.execute(select(WebhookDelivery))).first() is None
    assert [x["id"] for x in (await client.get("/v1/webhooks", headers=a)).json()] == [hid]
