from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import select

from nova.core.db import session_scope
from nova.core.events import emit
from nova.core.settings import get_settings
from nova.models.webhooks import WebhookDelivery
from nova.webhooks import delivery
from nova.webhooks.signing import open_key
from tests.webhooks.conftest import create_hook
from tests.webhooks.receiver import TEST_HOSTNAME, verify

ENDED = {
    "call_id": "0b6c3c1e-1d1f-4a59-9f0e-6f1d2c3b4a59",
    "started_at": "2026-06-12T08:27:00Z",
    "ended_at": "2026-06-12T08:30:07Z",
    "duration_seconds": 187,
    "outcome": "qualified",
    "goal": "qualify_interest",
    "goal_completed": True,
    "to_phone_e164": "+15555550100",
}


async def emit_event(event_type: str, data: dict) -> str:
    async with session_scope() as s:
        return await emit(s, event_type, data)


async def deliveries() -> list[WebhookDelivery]:
    async with session_scope() as s:
        q = select(WebhookDelivery).order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        return list((await s.execute(q)).scalars())


async def test_signed_delivery_verifies_with_the_reference_code(
    client, user, receiver, pump, deliverer, clock
):
    hook = await create_hook(client, user["headers"], receiver.url("/ok"), ["call.ended"])
    data = {**ENDED, "customer_id": user["user"]["id"]}
    event_id = await emit_event("call.ended", data)
    assert await pump.drain() >= 1  # fan-out (and billing settlement) ran
    assert await deliverer.drain() == 1

    [req] = receiver.requests
    assert verify(hook["secret"], req.body, req.headers["X-Nova-Signature"])
    assert req.headers["X-Nova-Signature"].startswith("sha256=")
    assert not verify(hook["secret"], req.body + b" ", req.headers["X-Nova-Signature"])
    assert not verify("someone-else", req.body, req.headers["X-Nova-Signature"])
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"] == "NOVA-Webhooks/1.0"
    assert req.headers["X-Nova-Event"] == "call.ended"
    assert req.headers["X-Nova-Timestamp"] == str(int(clock.now().timestamp()))
    assert req.json == {"event": "call.ended", "delivered_at": "2026-06-12T08:30:00Z", "data": data}

    [row] = await deliveries()
    assert req.headers["X-Nova-Delivery"] == row.id
    assert row.event_id == event_id
    assert (row.status, row.status_code, row.attempt_count) == ("succeeded", 200, 1)
    assert row.error_message is None
    assert row.delivered_at == clock.now()

    r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=user["headers"])
    assert r.json()[0]["status"] == "succeeded"


async def test_fan_out_matches_customer_event_type_and_active_state(
    client, user, other_user, receiver, pump, deliverer
):
    uid = user["user"]["id"]
    ended = await create_hook(client, user["headers"], receiver.url("/ok"), ["call.ended"])
    every = await create_hook(client, user["headers"], receiver.url("/ok"))
    gone = await create_hook(client, user["headers"], receiver.url("/ok"))
    await client.delete(f"/v1/webhooks/{gone['id']}", headers=user["headers"])
    theirs = await create_hook(client, other_user["headers"], receiver.url("/ok"))

    await emit_event("call.started", {"call_id": "c", "customer_id": uid})
    await emit_event("call.ended", {"call_id": "c", "customer_id": uid})
    await emit_event("call.transcribed", {"call_id": "c", "customer_id": uid, "transcript": []})
    await emit_event("call.scored", {"call_id": "c", "customer_id": uid, "score": None})
    await emit_event("call.ended", {"call_id": "anon", "customer_id": None})  # anonymous demo
    await pump.drain()
    rows = await deliveries()
    got = sorted((r.webhook_id, r.event_type) for r in rows)
    assert got == sorted(
        [(ended["id"], "call.ended")]
        + [
            (every["id"], t)
            for t in ("call.started", "call.ended", "call.transcribed", "call.scored")
        ]
    )
    assert theirs["id"] not in {r.webhook_id for r in rows}
    assert await deliverer.drain() == 5
    assert len(receiver.delivery_ids()) == 5
    assert {r.json["event"] for r in receiver.requests} == {
        "call.started",
        "call.ended",
        "call.transcribed",
        "call.scored",
    }


async def test_fan_out_is_idempotent(client, user, receiver, pump):
    from nova.models.events import Event
    from nova.webhooks import service

    await create_hook(client, user["headers"], receiver.url("/ok"))
    event_id = await emit_event("call.ended", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    async with session_scope() as s:
        # A second run of the same event (e.g. after a lease expired) adds nothing.
        assert await service.fan_out(s, await s.get(Event, event_id)) == 0
    assert len(await deliveries()) == 1


async def test_retry_schedule_1_5_30_then_failed(client, user, receiver, pump, deliverer, clock):
    await create_hook(client, user["headers"], receiver.url("/fail"))
    await emit_event("call.ended", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    t0 = clock.now()

    assert await deliverer.drain() == 1
    [row] = await deliveries()
    assert (row.status, row.attempt_count, row.status_code) == ("pending", 1, 500)
    assert row.error_message == "HTTP 500"
    assert row.next_attempt_at == t0 + timedelta(seconds=1)

    elapsed = 0.0
    for attempt, wait in ((2, 1), (3, 5), (4, 30)):
        clock.advance(wait - 0.5)
        assert await deliverer.drain() == 0, f"attempt {attempt} came early"
        clock.advance(0.5)
        elapsed += wait
        assert await deliverer.drain() == 1
        [row] = await deliveries()
        assert row.attempt_count == attempt
        assert row.status_code == 500

    assert row.status == "failed"
    assert row.next_attempt_at is None
    assert row.delivered_at is None
    clock.advance(3600)
    assert await deliverer.drain() == 0
    assert len(receiver.requests) == 4
    assert len(receiver.delivery_ids()) == 1  # the same X-Nova-Delivery every time
    stamps = [int(r.headers["X-Nova-Timestamp"]) for r in receiver.requests]
    assert [b - a for a, b in zip(stamps, stamps[1:], strict=False)] == [1, 5, 30]
    # Every attempt is signed over its own body.
    for r in receiver.requests:
        assert r.headers["X-Nova-Signature"] == delivery.sign(
            (await _hook_hash(row.webhook_id)), r.body
        )


async def _hook_hash(webhook_id: str) -> str:
    from nova.models.webhooks import Webhook

    async with session_scope() as s:
        return open_key(get_settings(), (await s.get(Webhook, webhook_id)).signing_key)


async def test_retry_then_success(client, user, receiver, pump, deliverer, clock):
    receiver.flaky_failures = 2
    await create_hook(client, user["headers"], receiver.url("/flaky"))
    await emit_event("call.scored", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    await deliverer.drain()
    [row] = await deliveries()
    assert (row.status, row.status_code, row.error_message) == ("pending", 503, "HTTP 503")
    clock.advance(1)
    await deliverer.drain()
    clock.advance(5)
    await deliverer.drain()
    [row] = await deliveries()
    assert (row.status, row.status_code, row.attempt_count) == ("succeeded", 200, 3)
    assert row.error_message is None
    assert row.delivered_at == clock.now()


async def test_timeout_is_a_failed_attempt(client, user, receiver, pump, deliverer, settings):
    settings.webhook_timeout_seconds = 0.3
    receiver.slow_seconds = 3
    await create_hook(client, user["headers"], receiver.url("/slow"))
    await emit_event("call.ended", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    assert await deliverer.drain() == 1
    [row] = await deliveries()
    assert (row.status, row.attempt_count, row.status_code) == ("pending", 1, None)
    assert row.error_message == "timed out after 0.3s"


async def test_redirect_is_not_followed(client, user, receiver, pump, deliverer):
    await create_hook(client, user["headers"], receiver.url("/redirect"))
    await emit_event("call.ended", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    await deliverer.drain()
    assert [r.path for r in receiver.requests] == ["/redirect"]  # /ok never requested
    [row] = await deliveries()
    assert (row.status, row.status_code) == ("pending", 301)
    assert "redirect" in row.error_message


async def test_connection_refused_is_recorded(client, user, receiver, pump, deliverer):
    hook = await create_hook(client, user["headers"], receiver.url("/ok"))
    await receiver.stop()
    await emit_event("call.ended", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    await deliverer.drain()
    [row] = await deliveries()
    assert row.webhook_id == hook["id"]
    assert (row.status, row.attempt_count, row.status_code) == ("pending", 1, None)
    assert row.error_message and "Connect" in row.error_message


async def test_hostname_is_pinned_to_the_vetted_address(
    client, user, receiver, pump, deliverer, dns
):
    """The connection goes to the address vetted at delivery time, with the TLS name of the
    URL (the receiver's certificate is for TEST_HOSTNAME, checked against the CA bundle)."""
    dns[TEST_HOSTNAME] = ["127.0.0.1"]
    hook = await create_hook(client, user["headers"], receiver.url("/ok", host=TEST_HOSTNAME))
    uid = user["user"]["id"]
    await emit_event("call.ended", {"call_id": "1", "customer_id": uid})
    await pump.drain()
    await deliverer.drain()
    [row] = await deliveries()
    assert row.status == "succeeded", row.error_message
    assert receiver.requests[0].headers["Host"] == f"{TEST_HOSTNAME}:{receiver.port}"

    # DNS rebinding after registration: the next delivery is refused before connecting.
    dns[TEST_HOSTNAME] = ["10.0.0.7"]
    await emit_event("call.ended", {"call_id": "2", "customer_id": uid})
    # A name that stops resolving fails closed.
    await emit_event("call.scored", {"call_id": "3", "customer_id": uid})
    await pump.drain()
    dns[TEST_HOSTNAME] = ["10.0.0.7"]
    claimed = await deliverer.claim(10)
    rebound = [j for j in claimed if j.event_type == "call.ended"]
    outcome = await deliverer.attempt(rebound[0])
    assert outcome.error.startswith("blocked:") and "10.0.0.7" in outcome.error
    del dns[TEST_HOSTNAME]
    scored = [j for j in claimed if j.event_type == "call.scored"]
    outcome2 = await deliverer.attempt(scored[0])
    assert outcome2.error.startswith("blocked: could not resolve")
    await deliverer.record([outcome, outcome2])
    assert len(receiver.requests) == 1
    rows = {r.event_type: r for r in await deliveries() if r.status != "succeeded"}
    assert rows["call.ended"].status == "pending" and rows["call.ended"].status_code is None
    assert rows["call.scored"].error_message.startswith("blocked:")
    assert hook["url"].startswith(f"https://{TEST_HOSTNAME}")


async def test_wrong_certificate_fails(client, user, receiver, pump, deliverer, dns):
    """TLS is verified against the URL's host name, not the pinned address."""
    dns["other.nova-test.example"] = ["127.0.0.1"]
    await create_hook(client, user["headers"], receiver.url("/ok", host="other.nova-test.example"))
    await emit_event("call.ended", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    await deliverer.drain()
    [row] = await deliveries()
    assert row.status == "pending"
    assert "CERTIFICATE_VERIFY_FAILED" in row.error_message or "certificate" in row.error_message
    assert receiver.requests == []


async def test_deleting_a_webhook_cancels_its_pending_deliveries(
    client, user, receiver, pump, deliverer, clock
):
    hook = await create_hook(client, user["headers"], receiver.url("/fail"))
    await emit_event("call.ended", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    await deliverer.drain()
    await client.delete(f"/v1/webhooks/{hook['id']}", headers=user["headers"])
    clock.advance(60)
    assert await deliverer.drain() == 0
    [row] = await deliveries()
    assert (row.status, row.error_message) == ("failed", "webhook was deleted")
    assert len(receiver.requests) == 1


async def test_expired_lease_is_reclaimed_and_stale_outcome_ignored(
    client, user, receiver, pump, deliverer, clock
):
    """A process that claimed rows and died: after the lease the rows are attempted again
    (same attempt number, same delivery id); the dead process's late write is fenced off."""
    await create_hook(client, user["headers"], receiver.url("/ok"))
    await emit_event("call.ended", {"call_id": "c", "customer_id": user["user"]["id"]})
    await pump.drain()
    [stale] = await deliverer.claim(10)
    assert await deliverer.claim(10) == []  # leased
    clock.advance(deliverer.lease_seconds + 1)
    [job] = await deliverer.claim(10)
    assert job.id == stale.id and job.attempt == stale.attempt == 1
    assert job.lease_id != stale.lease_id
    await deliverer.record([await deliverer.attempt(job)])
    # The first claimer wakes up and reports a failure: ignored.
    await deliverer.record([delivery.Outcome(stale, False, 500, "HTTP 500", clock.now())])
    [row] = await deliveries()
    assert (row.status, row.status_code, row.attempt_count) == ("succeeded", 200, 1)


async def test_run_forever_wakes_on_commit(client, user, receiver, pump, settings):
    """The background loop needs no polling to pick up new deliveries: the fan-out's commit
    wakes it."""
    await create_hook(client, user["headers"], receiver.url("/ok"))
    stop = asyncio.Event()
    d = delivery.Deliverer(settings, poll_seconds=30)
    loop = asyncio.create_task(d.run_forever(stop))
    await asyncio.sleep(0)  # let it register its wake-up
    try:
        for i in range(3):
            await emit_event("call.ended", {"call_id": str(i), "customer_id": user["user"]["id"]})
        await pump.drain()
        await receiver.wait_for(3, within=10)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)
    rows = await deliveries()
    assert [r.status for r in rows] == ["succeeded"] * 3
    # The fan-out handed the new rows straight to the running loop (no claim round trip).
    assert d.handed_off == 3
    bodies = sorted(json.loads(r.body)["data"]["call_id"] for r in receiver.requests)
    assert bodies == ["0", "1", "2"]
