"""GET /v1/calls/{id}/transcript and /latency: owner-scoped, kept for the account's
retention period, then purged."""

from __future__ import annotations

from datetime import timedelta

from nova.core.db import session_scope
from nova.models.calls import Call
from nova.records import service
from tests.conftest import register
from tests.records.helpers import finish, report
from tests.telephony.factories import create_call


async def test_transcript_turns_with_speakers_offsets_and_interruptions(client, clock, user):
    call = await create_call(user_id=user["user"]["id"])
    r = await client.get(f"/v1/calls/{call.id}/transcript", headers=user["headers"])
    assert r.status_code == 200
    assert r.json()["state"] == "pending" and r.json()["turns"] == []

    await finish(client, clock, call.id)
    r = await client.get(f"/v1/calls/{call.id}/transcript", headers=user["headers"])
    body = r.json()
    assert body["state"] == "available" and body["status"] == "completed"
    assert [(t["speaker"], t["start"], t["end"], t["interrupted"]) for t in body["turns"]] == [
        ("agent", 0.0, 2.4, False),
        ("lead", 3.1, 3.9, False),
        ("agent", 4.6, 6.0, True),
        ("lead", 5.8, 9.5, False),
    ]
    assert body["turns"][1]["text"] == "Hi, who?" and body["interruptions"] == 1
    assert body["retained_until"].startswith((clock.now() + timedelta(days=90)).date().isoformat())


async def test_bad_offsets_are_dropped_not_stored(client, clock, user):
    call = await create_call(user_id=user["user"]["id"])
    turns = [
        {"role": "agent", "text": "a", "start": -1, "end": "soon"},
        {"role": "user", "text": "b", "start": 5.0, "end": 4.0, "interrupted": "yes"},
        {"role": "agent", "text": "c", "start": float("1e12"), "end": True},
    ]
    await report(client, clock, call.id, "transcript", {"transcript": turns})
    r = await client.get(f"/v1/calls/{call.id}/transcript", headers=user["headers"])
    assert [(t["start"], t["end"], t["interrupted"]) for t in r.json()["turns"]] == [
        (None, None, False),
        (5.0, None, False),
        (None, None, False),
    ]


async def test_owner_only(client, clock, user):
    call = await create_call(user_id=user["user"]["id"])
    await finish(client, clock, call.id)
    other = await register(client, "other@example.com")
    for path in ("transcript", "latency", "analysis"):
        r = await client.get(f"/v1/calls/{call.id}/{path}", headers=other["headers"])
        assert r.status_code == 404 and r.json() == {"detail": "Call not found"}
        r = await client.get(f"/v1/calls/{call.id}/{path}")
        assert r.status_code == 401
    anonymous = await create_call(user_id=None)
    r = await client.get(f"/v1/calls/{anonymous.id}/transcript", headers=user["headers"])
    assert r.status_code == 404


async def test_per_call_latency(client, clock, user):
    call = await create_call(user_id=user["user"]["id"])
    r = await client.get(f"/v1/calls/{call.id}/latency", headers=user["headers"])
    assert r.json()["state"] == "pending" and r.json()["llm_ttft_ms"]["n"] == 0
    await finish(client, clock, call.id)
    body = (await client.get(f"/v1/calls/{call.id}/latency", headers=user["headers"])).json()
    assert body["state"] == "available" and body["interruptions"] == 1 and body["turns"] == 4
    assert body["llm_ttft_ms"] == {"n": 3, "p50": 310.0, "p95": 350.0, "max": 350.0, "avg": 316.7}
    assert body["eou_delay_ms"]["p95"] == 610.0 and body["e2e_ms"]["p50"] == 980.0


async def test_malformed_metrics_report_is_refused(client, clock, user):
    from nova.telephony import worker_protocol as wp
    from tests.records.helpers import SECRET

    call = await create_call(user_id=user["user"]["id"])
    for data in ({"samples": [1, 2]}, {"samples": {}, "turns": "many"}):
        body = wp.encode(wp.new_report(call.id, "metrics", data))
        headers = wp.sign(SECRET, body, int(clock.now().timestamp()))
        r = await client.post(f"/internal/worker/{call.id}/events", content=body, headers=headers)
        assert r.status_code == 400, r.text
    r = await client.get(f"/v1/calls/{call.id}/latency", headers=user["headers"])
    assert r.json()["state"] == "pending"  # nothing half-written


async def test_retention_default_then_per_account(client, clock, settings):
    settings.jwt_ttl_seconds = 400 * 86400  # the test moves the clock by months
    user = await register(client)
    mine = await create_call(user_id=user["user"]["id"])
    other = await register(client, "other@example.com")
    theirs = await create_call(user_id=other["user"]["id"])
    anonymous = await create_call(user_id=None)
    for call in (mine, theirs, anonymous):
        await finish(client, clock, call.id)
    # The other account keeps its records for 7 days only.
    r = await client.put(
        "/v1/records/settings", json={"retention_days": 7}, headers=other["headers"]
    )
    assert r.status_code == 200 and r.json()["retention_days"] == 7

    clock.advance(days=7, seconds=1)
    assert await service.purge_expired(settings) == 1
    gone = await client.get(f"/v1/calls/{theirs.id}/transcript", headers=other["headers"])
    assert gone.json()["state"] == "expired" and gone.json()["turns"] == []
    kept = await client.get(f"/v1/calls/{mine.id}/transcript", headers=user["headers"])
    assert kept.json()["state"] == "available" and len(kept.json()["turns"]) == 4

    clock.advance(days=83)  # 90 days and 1 s: the default period is over for the rest
    assert await service.purge_expired(settings) == 2
    assert await service.purge_expired(settings) == 0  # each call is purged once
    async with session_scope() as s:
        for call in (mine, theirs, anonymous):
            row = await s.get(Call, call.id)
            assert row.transcript is None and row.outcome == "qualified"
    r = await client.get(f"/v1/calls/{mine.id}/transcript", headers=user["headers"])
    assert r.json()["state"] == "expired"


async def test_zero_keeps_forever(client, clock, settings):
    settings.jwt_ttl_seconds = 5000 * 86400
    user = await register(client)
    call = await create_call(user_id=user["user"]["id"])
    await finish(client, clock, call.id)
    await client.put("/v1/records/settings", json={"retention_days": 0}, headers=user["headers"])
    clock.advance(days=4000)
    assert await service.purge_expired(settings) == 0
    r = await client.get(f"/v1/calls/{call.id}/transcript", headers=user["headers"])
    assert r.json()["state"] == "available" and r.json()["retained_until"] is None
