"""Minute metering: reservations at dispatch, settlement at call.ended, limits, rollover."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from nova.billing import metering
from nova.billing.plugin import sweep
from nova.core.db import session_scope
from nova.core.errors import PaymentRequired
from nova.core.events import emit
from nova.models.billing import BillingAccount, MinuteReservation
from nova.models.events import Task
from tests.billing.conftest import login, make_paid
from tests.conftest import register

# stripe's HTTPX client hands httpx the form body as `data=`; httpx prefers `content=`.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def cid() -> str:
    return str(uuid.uuid4())


async def reserve(user_id: str, n: int = 1, seconds: int = 60) -> list[str]:
    ids = [cid() for _ in range(n)]
    async with session_scope() as s:
        await metering.reserve(s, user_id, ids, seconds)
    return ids


async def end_call(pump, call_id: str, duration, type_: str = "call.ended") -> None:
    async with session_scope() as s:
        await emit(s, type_, {"call_id": call_id, "duration_seconds": duration})
    await pump.drain()


async def account(user_id: str) -> BillingAccount:
    async with session_scope() as s:
        return (
            await s.execute(select(BillingAccount).where(BillingAccount.user_id == user_id))
        ).scalar_one()


async def set_used(user_id: str, seconds: int) -> None:
    async with session_scope() as s:
        acc = (
            await s.execute(select(BillingAccount).where(BillingAccount.user_id == user_id))
        ).scalar_one()
        acc.seconds_used = seconds


async def test_exactly_at_the_limit(client, clock, pump):
    u = await register(client)
    uid = u["user"]["id"]
    await set_used(uid, 541)  # 59 s free: one second short of a 60 s hold
    with pytest.raises(PaymentRequired, match="Minute limit would be exceeded"):
        await reserve(uid)
    await set_used(uid, 540)  # exactly 60 s free: the hold fits to the second
    (call_id,) = await reserve(uid)
    acc = await account(uid)
    assert (acc.seconds_reserved, metering.remaining_seconds(acc)) == (60, 0)
    with pytest.raises(PaymentRequired):
        await reserve(uid)
    await end_call(pump, call_id, 60)  # the call uses exactly what was left
    usage = (await client.get("/billing/usage", headers=u["headers"])).json()
    assert (usage["minutes_used"], usage["minutes_remaining"], usage["seconds_used"]) == (
        10.0,
        0.0,
        600,
    )
    with pytest.raises(PaymentRequired):
        await reserve(uid)

    # A whole batch is all or nothing: 10 calls fit a fresh trial, 11 do not.
    v = await register(client, "v@example.com")
    with pytest.raises(PaymentRequired):
        await reserve(v["user"]["id"], n=11)
    assert (await account(v["user"]["id"])).seconds_reserved == 0
    await reserve(v["user"]["id"], n=10)
    assert (await account(v["user"]["id"])).seconds_reserved == 600


async def test_settlement_charges_real_duration_once(client, clock, pump):
    u = await register(client)
    uid = u["user"]["id"]
    (call_id,) = await reserve(uid)
    await end_call(pump, call_id, 42.2)  # rounded up to whole seconds
    acc = await account(uid)
    assert (acc.seconds_used, acc.seconds_reserved) == (43, 0)
    usage = (await client.get("/billing/usage", headers=u["headers"])).json()
    assert usage["minutes_used"] == 0.72  # 43 / 60 = 0.7166…
    assert usage["minutes_remaining"] == 9.28  # 557 / 60 = 9.2833…

    # At-least-once delivery: the same call ending again (or the event redelivered) is a no-op.
    await end_call(pump, call_id, 42.2)
    await end_call(pump, call_id, 500)
    acc = await account(uid)
    assert (acc.seconds_used, acc.seconds_reserved) == (43, 0)
    async with session_scope() as s:
        res = (
            await s.execute(select(MinuteReservation).where(MinuteReservation.call_id == call_id))
        ).scalar_one()
        assert (res.seconds_used, res.seconds_charged, res.settled_at is not None) == (43, 43, True)
        tasks = (await s.execute(select(Task.status))).scalars().all()
        assert set(tasks) == {"done"}

    # A call that reserved nothing (anonymous demo) settles to nothing.
    await end_call(pump, cid(), 99)
    assert (await account(uid)).seconds_used == 43


async def test_call_longer_than_reserved_and_trial_never_overspends(client, clock, pump):
    u = await register(client)
    uid = u["user"]["id"]
    a, b = await reserve(uid, n=2)
    await end_call(pump, a, 300)  # 5 minutes on a 1-minute hold: charged in full
    acc = await account(uid)
    assert (acc.seconds_used, acc.seconds_reserved) == (300, 60)
    await end_call(pump, b, 400)  # would take the trial to 700 s: capped at its 600 s
    acc = await account(uid)
    assert (acc.seconds_used, acc.seconds_reserved) == (600, 0)
    usage = (await client.get("/billing/usage", headers=u["headers"])).json()
    assert (usage["minutes_used"], usage["minutes_remaining"], usage["overage_cents"]) == (
        10.0,
        0.0,
        0,
    )
    async with session_scope() as s:
        res = (
            await s.execute(select(MinuteReservation).where(MinuteReservation.call_id == b))
        ).scalar_one()
        assert (res.seconds_used, res.seconds_charged) == (400, 300)
    with pytest.raises(PaymentRequired):
        await reserve(uid)


async def test_trial_expired_mid_call(client, clock, pump):
    u = await register(client)
    uid = u["user"]["id"]
    clock.advance(days=7, seconds=-30)
    (call_id,) = await reserve(uid)  # 30 s before the trial ends
    clock.advance(seconds=90)  # the call runs past the end of the trial
    await end_call(pump, call_id, 90)
    acc = await account(uid)
    assert (acc.status, acc.seconds_used, acc.seconds_reserved) == ("expired", 90, 0)
    with pytest.raises(PaymentRequired, match="trial has ended"):
        await reserve(uid)


async def test_failed_call_releases_its_hold(client, clock, pump):
    u = await register(client)
    uid = u["user"]["id"]
    a, b = await reserve(uid, n=2, seconds=120)
    await end_call(pump, a, None, type_="call.failed")  # never connected
    acc = await account(uid)
    assert (acc.seconds_used, acc.seconds_reserved) == (0, 120)
    await end_call(pump, b, 12.5, type_="call.failed")  # dropped after 12.5 s
    await end_call(pump, b, 30, type_="call.ended")  # a late call.ended changes nothing
    acc = await account(uid)
    assert (acc.seconds_used, acc.seconds_reserved) == (13, 0)


async def test_concurrent_batches_race_for_the_last_minutes(client, clock):
    """Separate sessions reserve at once; the row lock (PostgreSQL) / single writer (SQLite)
    lets exactly as many through as fit.

    A lost lock (``metering.get_account`` without ``FOR UPDATE``) is caught here only on
    PostgreSQL, in CI's second pass: on SQLite every transaction is BEGIN IMMEDIATE, so the
    reservations are serialised whether the code locks the row or not."""
    u = await register(client)
    uid = u["user"]["id"]
    await set_used(uid, 7 * 60)  # 3 minutes left

    async def attempt(n: int) -> int:
        try:
            await reserve(uid, n=n)
            return n
        except PaymentRequired:
            return 0

    results = await asyncio.gather(*(attempt(n) for n in (1, 2, 1, 2, 1, 1, 2, 1)))
    acc = await account(uid)
    assert sum(results) == acc.seconds_reserved // 60
    assert acc.seconds_reserved <= 180
    assert acc.seconds_used + acc.seconds_reserved <= acc.seconds_included
    assert sum(results) >= 2  # the batches that fit were not all refused
    async with session_scope() as s:
        held = (await s.execute(select(MinuteReservation))).scalars().all()
        assert sum(r.seconds_reserved for r in held) == acc.seconds_reserved


async def test_paid_plan_overage_and_cap(client, clock, pump, settings, webhook_secret):
    u = await register(client)
    uid = u["user"]["id"]
    await make_paid(client, uid, plan="starter")
    await set_used(uid, 100 * 60 - 30)  # 30 s of the included 100 minutes left
    (call_id,) = await reserve(uid, n=1)  # paid plans may reserve into overage
    await end_call(pump, call_id, 150)  # 120 s of overage
    usage = (await client.get("/billing/usage", headers=u["headers"])).json()
    assert usage["minutes_used"] == 102.0
    assert usage["overage_minutes"] == 2.0
    assert usage["overage_cents"] == 60  # 2 min × 30 ¢
    assert usage["minutes_remaining"] == 0.0
    async with session_scope() as s:
        res = (
            await s.execute(select(MinuteReservation).where(MinuteReservation.call_id == call_id))
        ).scalar_one()
        assert res.seconds_overage == 120

    # A configured overage cap makes the plan refuse batches beyond it.
    settings.billing_plans = [
        {
            "id": "starter",
            "name": "Starter",
            "price_cents": 2900,
            "included_minutes": 100,
            "overage_cents_per_minute": 30,
            "max_overage_minutes": 5,
        }
    ]
    await reserve(uid, n=3)  # 2 used + 3 held = the 5-minute cap
    with pytest.raises(PaymentRequired):
        await reserve(uid, n=1)


async def test_overage_rounds_up_to_the_cent(client, clock, pump, webhook_secret):
    u = await register(client)
    uid = u["user"]["id"]
    await make_paid(client, uid, plan="growth")
    await set_used(uid, 500 * 60 + 1)  # one second of overage at 22 ¢/min = 0.37 ¢
    usage = (await client.get("/billing/usage", headers=u["headers"])).json()
    assert usage["overage_cents"] == 1
    assert usage["seconds_used"] == 30001


async def test_period_rollover_is_lazy_and_by_sweep(client, clock, pump, webhook_secret):
    u = await register(client)
    uid = u["user"]["id"]
    await make_paid(client, uid, plan="starter")
    await set_used(uid, 4000)
    (held,) = await reserve(uid)
    before = await account(uid)
    clock.set(before.period_end)
    # Reading usage after period_end starts the next period with usage reset; holds stay.
    headers = await login(client)  # 30 days on: the old token has expired
    usage = (await client.get("/billing/usage", headers=headers)).json()
    assert usage["minutes_used"] == 0.0 and usage["seconds_reserved"] == 60
    after = await account(uid)
    assert after.period_start == before.period_end
    assert after.period_end == metering.add_months(before.period_end)
    # The call that started in the old period is charged to the new one.
    await end_call(pump, held, 61)
    assert (await account(uid)).seconds_used == 61

    # The scheduled sweep does the same without anyone reading.
    clock.set(after.period_end)
    async with session_scope() as s:
        result = await sweep(s)
    assert result["refreshed"] == 1
    acc = await account(uid)
    assert acc.seconds_used == 0 and acc.period_start == after.period_end


async def test_cancelled_plan_ends_at_period_end(client, clock, webhook_secret):
    u = await register(client)
    uid = u["user"]["id"]
    await make_paid(client, uid, plan="starter")
    async with session_scope() as s:
        acc = (
            await s.execute(select(BillingAccount).where(BillingAccount.user_id == uid))
        ).scalar_one()
        acc.cancel_at_period_end = True
        end = acc.period_end
    await reserve(uid)
    clock.set(end)
    with pytest.raises(PaymentRequired, match="No active plan"):
        await reserve(uid)
    headers = await login(client)
    usage = (await client.get("/billing/usage", headers=headers)).json()
    assert (usage["status"], usage["minutes_remaining"]) == ("canceled", 0.0)


async def test_sweep_releases_stale_reservations(client, clock, settings):
    u = await register(client)
    uid = u["user"]["id"]
    await reserve(uid, n=2)
    clock.advance(seconds=settings.reservation_max_age_seconds + 1)
    async with session_scope() as s:
        assert (await sweep(s))["released"] == 2
    acc = await account(uid)
    assert (acc.seconds_reserved, acc.seconds_used) == (0, 0)


async def test_past_due_account_cannot_reserve(client, clock, webhook_secret):
    u = await register(client)
    uid = u["user"]["id"]
    await make_paid(client, uid, plan="starter")
    async with session_scope() as s:
        acc = (
            await s.execute(select(BillingAccount).where(BillingAccount.user_id == uid))
        ).scalar_one()
        acc.status = "past_due"
    with pytest.raises(PaymentRequired, match="payment failed"):
        await reserve(uid)


async def test_overage_reported_to_stripe_meter_with_call_id(
    client, clock, pump, settings, stripe_fake
):
    settings.stripe_meter_event_name = "nova_overage_seconds"
    u = await register(client)
    uid = u["user"]["id"]
    await make_paid(client, uid, plan="starter", customer="cus_meter")
    await set_used(uid, 100 * 60 - 10)
    a, b = await reserve(uid, n=2)
    await end_call(pump, a, 70)  # 60 s of overage
    await end_call(pump, a, 70)  # replayed: settled once, reported once
    assert list(stripe_fake.meter_events) == [a]
    ev = stripe_fake.meter_events[a]
    assert ev["event_name"] == "nova_overage_seconds"
    assert ev["payload"] == {"stripe_customer_id": "cus_meter", "value": "60"}
    # A call entirely inside the allowance would report nothing; this one is all overage.
    await end_call(pump, b, 5)
    assert stripe_fake.meter_events[b]["payload"]["value"] == "5"
    headers = await login(client)
    assert (await client.get("/billing/usage", headers=headers)).json()["overage_cents"] == 33


async def test_call_budget_for_the_worker(client, clock, webhook_secret):
    u = await register(client)
    uid = u["user"]["id"]
    await set_used(uid, 300)
    a, b = await reserve(uid, n=2)  # 600 - 300 used - 120 held = 180 free
    async with session_scope() as s:
        assert await metering.call_budget_seconds(s, a) == 60 + 180
        assert await metering.call_budget_seconds(s, cid()) is None  # not metered
    await make_paid(client, uid, plan="starter")
    async with session_scope() as s:
        assert await metering.call_budget_seconds(s, b) is None  # unlimited overage
