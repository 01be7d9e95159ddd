"""Idempotency-Key on POST /calls: replay, 422 on another body, 409 in flight, one dispatch
under concurrency, scoping, expiry, release after a failure."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from nova.core import idempotency
from nova.core.db import session_scope
from nova.models.calls import Call
from nova.models.idempotency import IdempotencyRecord
from tests.calls.conftest import leads, payload
from tests.conftest import register

KEY = {"Idempotency-Key": "batch-0001"}


async def _count(model) -> int:
    async with session_scope() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_same_key_and_body_replays_without_dialing_again(client, livekit):
    r1 = await client.post("/calls", json=payload(leads=leads(2)), headers=KEY)
    assert r1.status_code == 200
    assert "idempotent-replayed" not in r1.headers
    r2 = await client.post("/calls", json=payload(leads=leads(2)), headers=KEY)
    assert r2.status_code == 200
    assert r2.headers["idempotent-replayed"] == "true"
    assert r2.json() == r1.json()
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 2
    assert await _count(Call) == 2


async def test_same_key_other_body_is_422(client, livekit):
    assert (await client.post("/calls", json=payload(), headers=KEY)).status_code == 200
    r = await client.post("/calls", json=payload(product="Other"), headers=KEY)
    assert r.status_code == 422
    assert "different request body" in r.json()["detail"]
    assert await _count(Call) == 1


async def test_key_in_flight_is_409(client, livekit, settings):
    scope = idempotency.scope_for("POST /calls", user_id=None, ip="203.0.113.10")
    claim = await idempotency.begin(settings, scope=scope, key="batch-0001", payload=payload())
    assert isinstance(claim, idempotency.Claim)
    r = await client.post("/calls", json=payload(), headers=KEY)
    assert r.status_code == 409
    assert "still in progress" in r.json()["detail"]
    assert not livekit.calls("AgentDispatchService", "CreateDispatch")


async def test_concurrent_identical_requests_dispatch_once(client, livekit):
    livekit.delays[("AgentDispatchService", "CreateDispatch")] = 0.05
    rs = await asyncio.gather(
        *(client.post("/calls", json=payload(), headers=KEY) for _ in range(5))
    )
    codes = sorted(r.status_code for r in rs)
    assert set(codes) <= {200, 409}, codes
    assert codes.count(200) >= 1
    bodies = {r.text for r in rs if r.status_code == 200}
    assert len(bodies) == 1
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1
    assert await _count(Call) == 1


async def test_keys_are_scoped_per_account_and_ip(app, client, livekit):
    u = await register(client, "a@example.com")
    assert (await client.post("/calls", json=payload(), headers=KEY)).status_code == 200
    # Same key, same body, but an account: its own scope -> a new batch.
    r = await client.post("/calls", json=payload(), headers={**KEY, **u["headers"]})
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    other = httpx.ASGITransport(app=app, client=("198.51.100.7", 1234))
    async with httpx.AsyncClient(transport=other, base_url="http://testserver") as c2:
        r = await c2.post("/calls", json=payload(), headers=KEY)
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert await _count(Call) == 3


async def test_keys_expire_after_24_hours(client, livekit, clock):
    await client.post("/calls", json=payload(), headers=KEY)
    clock.advance(hours=23, minutes=59)
    r = await client.post("/calls", json=payload(), headers=KEY)
    assert r.headers.get("idempotent-replayed") == "true"
    clock.advance(minutes=1)
    r = await client.post("/calls", json=payload(), headers=KEY)
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert await _count(Call) == 2


async def test_a_failed_request_releases_its_key(client, livekit, settings):
    u = await register(client, "b@example.com")
    headers = {**KEY, **u["headers"]}
    settings.reserve_minutes_per_call = 11
    r = await client.post("/calls", json=payload(), headers=headers)
    assert r.status_code == 402
    assert await _count(IdempotencyRecord) == 0
    settings.reserve_minutes_per_call = 1
    r = await client.post("/calls", json=payload(), headers=headers)
    assert r.status_code == 200 and r.json()["dispatched"] == 1


async def test_validation_errors_do_not_consume_the_key(client, livekit):
    assert (
        await client.post("/calls", json=payload(consent=False), headers=KEY)
    ).status_code == 400
    assert (await client.post("/calls", json=payload(), headers=KEY)).status_code == 200


async def test_malformed_key_is_400(client, livekit):
    r = await client.post("/calls", json=payload(), headers={"Idempotency-Key": "x" * 256})
    assert r.status_code == 400
    assert "Idempotency-Key must be 1-255" in r.json()["detail"]


async def test_abandoned_in_flight_key_can_be_taken_over(client, livekit, settings, clock):
    scope = idempotency.scope_for("POST /calls", user_id=None, ip="203.0.113.10")
    await idempotency.begin(settings, scope=scope, key="batch-0001", payload=payload())
    clock.advance(seconds=idempotency.IN_FLIGHT_LEASE_SECONDS)
    r = await client.post("/calls", json=payload(), headers=KEY)
    assert r.status_code == 200 and r.json()["dispatched"] == 1
