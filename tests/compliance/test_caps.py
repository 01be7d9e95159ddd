"""Frequency caps per number, counted from the calls the account already placed: the UAE's
one call a day and two a week to a number that did not answer, Florida's three per 24 hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from nova.compliance import Allowed, Deferred, Dial, decide_all
from nova.core.db import session_scope
from tests.compliance.helpers import CONSENT, DUBAI, MIAMI, at, gate
from tests.telephony.factories import create_call


async def _placed(
    owner: str | None,
    when: datetime,
    outcome: str | None,
    *,
    phone: str = DUBAI,
    mode: str = "sip",
    status: str = "completed",
) -> None:
    """A call the account placed at ``when`` that ended with ``outcome`` (None: still on)."""
    await create_call(
        user_id=owner,
        mode=mode,
        phone=phone,
        status=status if outcome is not None else "in_progress",
        outcome=outcome,
        created_at=when,
        started_at=when,
        ended_at=when + timedelta(seconds=40) if outcome is not None else None,
    )


async def test_uae_number_that_did_not_answer_gets_one_call_a_day(user):
    uid = user["user"]["id"]
    await _placed(uid, at("2026-06-10 10:00", "Asia/Dubai"), "no_answer")
    again = await gate(DUBAI, at("2026-06-10 14:00", "Asia/Dubai"), owner=uid)
    assert isinstance(again, Deferred) and again.rule == "cap"
    assert again.until == at("2026-06-11 09:00", "Asia/Dubai")
    assert "at most 1 call a day to a number that did not answer" in again.reason
    assert "09:00 Asia/Dubai" in again.reason
    assert {"cap": "at most 1 call a day to a number that did not answer", "calls": 1} in (
        again.detail["caps"]
    )
    # The next morning it may be called again.
    assert isinstance(await gate(DUBAI, at("2026-06-11 09:00", "Asia/Dubai"), owner=uid), Allowed)


async def test_uae_number_that_did_not_answer_gets_two_calls_a_week(user):
    uid = user["user"]["id"]
    await _placed(uid, at("2026-06-08 10:00", "Asia/Dubai"), "busy")
    await _placed(uid, at("2026-06-09 16:30", "Asia/Dubai"), "voicemail")
    wednesday = await gate(DUBAI, at("2026-06-10 11:00", "Asia/Dubai"), owner=uid)
    assert isinstance(wednesday, Deferred) and wednesday.rule == "cap"
    # Free once Monday's call is seven days old: the next Monday at 10:00, inside the window.
    assert wednesday.until == at("2026-06-15 10:00", "Asia/Dubai")
    assert "at most 2 calls per 7 days" in wednesday.reason
    assert isinstance(await gate(DUBAI, at("2026-06-15 10:00", "Asia/Dubai"), owner=uid), Allowed)


async def test_a_cap_that_frees_after_hours_waits_for_the_window(user):
    uid = user["user"]["id"]
    await _placed(uid, at("2026-06-08 17:30", "Asia/Dubai"), "no_answer")
    await _placed(uid, at("2026-06-09 10:00", "Asia/Dubai"), "no_answer")
    # Frees at 17:30 on the 15th, inside the window; one placed at 17:59 frees at 17:59.
    d = await gate(DUBAI, at("2026-06-12 12:00", "Asia/Dubai"), owner=uid)
    assert d.until == at("2026-06-15 17:30", "Asia/Dubai")
    uid2 = await _other_user()
    await _placed(uid2, at("2026-06-08 17:59:30", "Asia/Dubai"), "no_answer")
    await _placed(uid2, at("2026-06-09 10:00", "Asia/Dubai"), "no_answer")
    d2 = await gate(DUBAI, at("2026-06-12 12:00", "Asia/Dubai"), owner=uid2)
    # 17:59:30 + 7 days is inside the window (its end, 18:00, is exclusive).
    assert d2.until == at("2026-06-15 17:59:30", "Asia/Dubai")


async def _other_user() -> str:
    from nova.models.user import User

    async with session_scope() as s:
        u = User(email="other@example.com", password_hash="x")
        s.add(u)
    return u.id


async def test_caps_apply_only_while_the_number_did_not_answer(user):
    uid = user["user"]["id"]
    await _placed(uid, at("2026-06-10 10:00", "Asia/Dubai"), "no_answer")
    await _placed(uid, at("2026-06-10 11:00", "Asia/Dubai"), "callback_requested")
    # The lead answered and asked for a callback: no cap.
    assert isinstance(await gate(DUBAI, at("2026-06-10 14:00", "Asia/Dubai"), owner=uid), Allowed)


async def test_a_sip_failure_counts_as_not_answered(user):
    uid = user["user"]["id"]
    await _placed(uid, at("2026-06-10 10:00", "Asia/Dubai"), "incomplete", status="failed")
    assert isinstance(await gate(DUBAI, at("2026-06-10 14:00", "Asia/Dubai"), owner=uid), Deferred)


async def test_only_this_accounts_dials_count(user):
    uid = user["user"]["id"]
    other = await _other_user()
    await _placed(other, at("2026-06-10 10:00", "Asia/Dubai"), "no_answer")
    # Demo calls dial no one: never an attempt.
    await _placed(uid, at("2026-06-10 10:00", "Asia/Dubai"), "no_show", mode="demo")
    # Another number of the same account.
    await _placed(uid, at("2026-06-10 10:00", "Asia/Dubai"), "no_answer", phone="+971501234568")
    assert isinstance(await gate(DUBAI, at("2026-06-10 14:00", "Asia/Dubai"), owner=uid), Allowed)
    assert isinstance(
        await gate(DUBAI, at("2026-06-10 14:00", "Asia/Dubai"), owner=other), Deferred
    )


async def test_florida_allows_three_calls_per_24_hours_answered_or_not(user):
    uid = user["user"]["id"]
    for hour in ("09:00", "10:00", "11:00"):
        await _placed(uid, at(f"2026-06-12 {hour}", "America/New_York"), "qualified", phone=MIAMI)
    fourth = await gate(MIAMI, at("2026-06-12 12:00", "America/New_York"), owner=uid)
    assert isinstance(fourth, Deferred) and fourth.profile == "us_fl"
    assert fourth.until == at("2026-06-13 09:00", "America/New_York")
    assert "at most 3 calls per 24 hours (United States: Florida)" in fourth.reason
    # Florida's window closes at 20:00, an hour before the rest of the US.
    assert isinstance(
        await gate(MIAMI, at("2026-06-13 20:00", "America/New_York"), owner=uid), Deferred
    )


async def test_dials_allowed_earlier_in_a_batch_count_for_later_ones(user):
    uid = user["user"]["id"]
    await _placed(uid, at("2026-06-10 10:00", "Asia/Dubai"), "no_answer")
    now = at("2026-06-11 10:00", "Asia/Dubai")
    dial = Dial(phone=DUBAI, owner_id=uid, consent=CONSENT)
    async with session_scope() as s:
        first, second = await decide_all(s, [dial, dial], now=now)
    assert isinstance(first, Allowed)
    # Both caps bind the second one (a second call today, a second this week): the later wins.
    assert isinstance(second, Deferred) and second.rule == "cap"
    assert second.until == at("2026-06-17 10:00", "Asia/Dubai")
    assert sorted(c["calls"] for c in second.detail["caps"]) == [1, 2]
