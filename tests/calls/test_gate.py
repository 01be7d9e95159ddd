"""The dial pipeline honours every decision of the compliance gate: a blocked lead is
recorded failed with the reason and never dialed nor charged; a deferred lead is recorded
pending, holds nothing, and is dialed by its task when its time comes (the gate asked
again then). The decisions come from gate rules, the extension point the compliance rules
plug into."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from nova.calls import service
from nova.calls.schemas import CallBatchRequest
from nova.compliance import gate
from nova.core.db import session_scope
from nova.models.billing import BillingAccount
from nova.models.calls import Call
from nova.models.events import Event, Task
from nova.models.user import User
from tests.calls.conftest import PHONES, leads, payload


@pytest.fixture
def rules():
    """Gate rules a test installs: phone -> decision (or a callable of the dial)."""
    table: dict[str, object] = {}

    def rule(dial: gate.Dial):
        found = table.get(dial.phone)
        return found(dial) if callable(found) else found

    remove = gate.add_rule(rule)
    yield table
    remove()


def _later(until, reason: str) -> gate.Deferred:
    return gate.Deferred(until=until, rule="test", reason=reason)


async def _place_for_later(settings, user) -> dict:
    """Place a batch as a caller that can wait for a deferred lead (a campaign or a portal
    lead; POST /calls cannot wait and refuses such a lead with a 400, tested below)."""
    request = CallBatchRequest.model_validate(payload())
    async with session_scope() as s:
        owner = await s.get(User, user["user"]["id"])
        result = await service.place_calls(s, settings, request, owner, purpose="campaign")
    return result.model_dump(mode="json")


async def test_post_calls_refuses_a_deferred_lead_saying_when(client, livekit, user, rules, clock):
    until = clock.now()
    rules[PHONES[0]] = _later(until, "UAE calling window opens at 09:00")
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    assert r.status_code == 400, r.text
    assert "cannot be called now: UAE calling window opens at 09:00" in r.json()["detail"]
    assert livekit.dispatches == {}
    async with session_scope() as s:
        assert (await s.execute(select(Call))).first() is None  # nothing half-written


async def _account() -> BillingAccount:
    async with session_scope() as s:
        return (await s.execute(select(BillingAccount))).scalar_one()


async def _call(call_id: str) -> Call:
    async with session_scope() as s:
        return await s.get(Call, call_id)


async def _started() -> list[str]:
    async with session_scope() as s:
        rows = await s.execute(select(Event).where(Event.type == "call.started"))
        return [e.data["call_id"] for e in rows.scalars()]


async def test_blocked_lead_says_why_and_is_neither_dialed_nor_charged(
    client, livekit, user, rules
):
    rules[PHONES[1]] = gate.Blocked(
        rule="test", reason="Outside the callee's calling window (UAE 09:00-18:00)"
    )
    r = await client.post("/calls", json=payload(leads=leads(2)), headers=user["headers"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["dispatched"], body["failed"]) == (1, 1)
    blocked = next(c for c in body["calls"] if c["phone"] == PHONES[1])
    assert blocked["status"] == "failed"
    assert blocked["message"] == "Call blocked by the compliance gate"
    assert blocked["error"] == "Outside the callee's calling window (UAE 09:00-18:00)"
    assert [d.room for d in livekit.dispatches.values()] != [blocked["room_name"]]
    assert len(livekit.dispatches) == 1
    assert (await _account()).seconds_reserved == 60  # only the allowed lead holds minutes
    assert blocked["call_id"] not in await _started()


async def test_deferred_lead_is_dialed_by_its_task_when_its_time_comes(
    client, livekit, user, rules, clock, pump, settings
):
    until = clock.now() + timedelta(hours=1)
    decisions = iter(
        [
            _later(until, "UAE calling window opens at 09:00"),  # at submission
            _later(until + timedelta(hours=1), "still outside the window"),  # 1st try
            None,  # 2nd try: allowed
        ]
    )
    rules[PHONES[0]] = lambda dial: next(decisions)
    [deferred] = (await _place_for_later(settings, user))["calls"]
    assert deferred["status"] == "pending" and deferred["error"] is None
    assert deferred["message"].startswith("Call deferred until 2026-06-12T09:30:00Z")
    assert livekit.dispatches == {} and (await _account()).seconds_reserved == 0
    row = await _call(deferred["call_id"])
    assert row.not_before == until and row.reserved_seconds == 0

    await pump.drain()  # not due: nothing happens
    assert (await _call(deferred["call_id"])).status == "pending" and livekit.dispatches == {}

    clock.advance(hours=1)  # due; the gate defers it once more
    await pump.drain()
    row = await _call(deferred["call_id"])
    assert row.status == "pending" and row.not_before == until + timedelta(hours=1)
    assert livekit.dispatches == {}

    clock.advance(hours=1)  # due again; now allowed: minutes held, agent dispatched
    await pump.drain()
    row = await _call(deferred["call_id"])
    assert row.status == "in_progress" and row.not_before is None
    assert [d.room for d in livekit.dispatches.values()] == [row.room_name]
    assert row.reserved_seconds == 60 and (await _account()).seconds_reserved == 60
    assert await _started() == [row.id]
    async with session_scope() as s:
        tasks = (await s.execute(select(Task).where(Task.handler == "calls.dispatch"))).scalars()
        assert {t.status for t in tasks} == {"done"}


async def test_a_deferred_lead_blocked_when_its_time_comes_is_failed_with_the_reason(
    client, livekit, user, rules, clock, pump, settings
):
    until = clock.now() + timedelta(minutes=30)
    decisions = iter(
        [_later(until, "later"), gate.Blocked(rule="test", reason="The lead withdrew consent")]
    )
    rules[PHONES[0]] = lambda dial: next(decisions)
    call_id = (await _place_for_later(settings, user))["calls"][0]["call_id"]
    clock.advance(minutes=30)
    await pump.drain()
    row = await _call(call_id)
    assert (row.status, row.error) == ("failed", "The lead withdrew consent")
    assert livekit.dispatches == {} and (await _account()).seconds_reserved == 0
