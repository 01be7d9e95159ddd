"""The reconciler ends calls whose agent worker vanished: the worker joins, reports that the
call started, then dies without its end report. The call must not stay in progress with its
minutes held: once its LiveKit room is gone (or, if the room lingers, once its maximum
duration plus the grace has passed) it is ended with a reason, ``call.ended`` is emitted and
its hold is released."""

from __future__ import annotations

from sqlalchemy import select

from nova.calls import reconciler
from nova.core.db import session_scope
from nova.models.billing import BillingAccount, MinuteReservation
from nova.models.calls import Call
from nova.models.events import Event
from nova.telephony import worker_protocol as wp
from tests.calls.conftest import payload

SECRET = "test-worker-secret-0123456789abcdef"


async def _report(client, clock, call_id: str, kind: str, data: dict | None = None):
    body = wp.encode(wp.new_report(call_id, kind, data))
    headers = wp.sign(SECRET, body, int(clock.now().timestamp()))
    return await client.post(f"/internal/worker/{call_id}/events", content=body, headers=headers)


async def _call_whose_worker_vanishes(client, clock, user) -> Call:
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    call_id = r.json()["calls"][0]["call_id"]
    assert r.json()["calls"][0]["status"] == "in_progress"
    # The worker joins and says so, then its process dies: no result, no end report.
    assert (await _report(client, clock, call_id, "started")).status_code == 200
    async with session_scope() as s:
        return await s.get(Call, call_id)


async def _ended_events() -> list[Event]:
    async with session_scope() as s:
        return list((await s.execute(select(Event).where(Event.type == "call.ended"))).scalars())


async def _account() -> BillingAccount:
    async with session_scope() as s:
        return (await s.execute(select(BillingAccount))).scalar_one()


async def test_room_gone_ends_the_call_and_releases_its_minutes(
    client, livekit, user, clock, settings, pump
):
    call = await _call_whose_worker_vanishes(client, clock, user)
    assert (await _account()).seconds_reserved == 60
    # LiveKit closes the room ~20 s after its last participant (the agent) left.
    livekit.rooms.pop(call.room_name)
    clock.advance(settings.reconcile_grace_seconds - 1)
    assert await reconciler.reconcile(settings) == {"overdue": 0, "room_gone": 0}  # too young
    clock.advance(2)
    assert await reconciler.reconcile(settings) == {"overdue": 0, "room_gone": 1}
    async with session_scope() as s:
        ended = await s.get(Call, call.id)
    assert ended.status == "failed" and ended.ended_at == clock.now()
    assert ended.end_reason == "LiveKit room closed without an end report"
    assert "worker lost" in ended.error and ended.outcome == "incomplete"
    [event] = await _ended_events()
    assert event.data["call_id"] == call.id and event.data["outcome"] == "incomplete"
    await pump.drain()  # billing.settle
    account = await _account()
    assert account.seconds_reserved == 0 and account.seconds_used == 0
    async with session_scope() as s:
        hold = (await s.execute(select(MinuteReservation))).scalar_one()
    assert hold.settled_at is not None and hold.seconds_charged == 0
    # A second pass finds nothing; the dead worker's end report, if it ever came, is refused.
    assert await reconciler.reconcile(settings) == {"overdue": 0, "room_gone": 0}
    late = await _report(client, clock, call.id, "ended", {"duration_seconds": 30})
    assert late.status_code == 409
    assert len(await _ended_events()) == 1


async def test_overdue_call_is_ended_after_max_duration_plus_grace(
    client, livekit, user, clock, settings, pump
):
    call = await _call_whose_worker_vanishes(client, clock, user)
    assert call.max_duration_seconds is not None and call.max_duration_seconds > 0
    # The room lingers (a hung worker still holds it): only the deadline can end the call.
    deadline = call.max_duration_seconds + settings.reconcile_grace_seconds
    clock.advance(deadline - 1)
    assert await reconciler.reconcile(settings) == {"overdue": 0, "room_gone": 0}
    clock.advance(1)
    assert await reconciler.reconcile(settings) == {"overdue": 1, "room_gone": 0}
    async with session_scope() as s:
        ended = await s.get(Call, call.id)
    assert ended.status == "failed"
    assert ended.end_reason.startswith(f"no end report {call.max_duration_seconds} s")
    await pump.drain()
    assert (await _account()).seconds_reserved == 0


async def test_a_call_whose_worker_reported_its_end_is_left_alone(
    client, livekit, user, clock, settings, pump
):
    call = await _call_whose_worker_vanishes(client, clock, user)
    r = await _report(
        client, clock, call.id, "ended", {"duration_seconds": 42, "outcome": "qualified"}
    )
    assert r.status_code == 200
    livekit.rooms.pop(call.room_name)
    clock.advance(call.max_duration_seconds + settings.reconcile_grace_seconds + 60)
    assert await reconciler.reconcile(settings) == {"overdue": 0, "room_gone": 0}
    async with session_scope() as s:
        done = await s.get(Call, call.id)
    assert done.status == "completed" and done.duration_seconds == 42


async def test_livekit_unreachable_ends_nothing_on_a_guess(client, livekit, user, clock, settings):
    call = await _call_whose_worker_vanishes(client, clock, user)
    clock.advance(settings.reconcile_grace_seconds + 1)
    await livekit.stop()
    assert await reconciler.reconcile(settings) == {"overdue": 0, "room_gone": 0}
    async with session_scope() as s:
        assert (await s.get(Call, call.id)).status == "in_progress"
