"""GET /v1/analytics: figures checked against a seeded set of calls, rebuilt through the
real event path (worker reports → events → pump → rollup)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from nova.core.db import session_scope
from nova.models.events import Task
from nova.models.quality import CallScore
from nova.records.analytics import ROLLUP_TASK
from tests.conftest import register
from tests.records.helpers import finish
from tests.telephony.factories import create_call

D1 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
D2 = datetime(2026, 6, 11, 15, 0, tzinfo=UTC)


async def score(call_id: str, overall: int) -> None:
    async with session_scope() as s:
        s.add(CallScore(call_id=call_id, status="scored", overall=overall, score={}))


async def seed(client, clock, user) -> None:
    uid = user["user"]["id"]
    c1 = await create_call(user_id=uid, goal="book_meeting", created_at=D1)
    await score(c1.id, 80)
    await finish(client, clock, c1.id, outcome="meeting_booked", duration=120)
    c2 = await create_call(user_id=uid, goal="book_meeting", created_at=D1)
    await finish(client, clock, c2.id, outcome="no_answer", duration=0, goal_completed=False)
    c3 = await create_call(user_id=uid, goal="qualify_interest", created_at=D1)
    await score(c3.id, 60)
    await finish(client, clock, c3.id, outcome="qualified", duration=60)
    c4 = await create_call(user_id=uid, goal="book_meeting", created_at=D2)
    await finish(client, clock, c4.id, outcome="not_interested", duration=30, goal_completed=False)
    # Failed at dispatch (no event of its own) and still in progress: counted as calls.
    await create_call(user_id=uid, goal="book_meeting", created_at=D2, status="failed")
    await create_call(user_id=uid, goal="book_meeting", created_at=D2)


@pytest.fixture
def no_window(settings):
    settings.analytics_rollup_window_seconds = 0


async def test_figures_match_the_seeded_calls(client, clock, user, pump, no_window):
    await seed(client, clock, user)
    # Another account's call that day stays out of this account's figures.
    other = await register(client, "other@example.com")
    c = await create_call(user_id=other["user"]["id"], goal="book_meeting", created_at=D1)
    await finish(client, clock, c.id, duration=600)
    await pump.drain()

    r = await client.get(
        "/v1/analytics",
        params={"start": "2026-06-10", "end": "2026-06-12"},
        headers=user["headers"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    t = body["totals"]
    assert (t["calls"], t["ended"], t["connected"], t["failed"], t["goal_completed"]) == (
        6,
        4,
        3,
        1,
        2,
    )
    assert (t["connect_rate"], t["goal_completion_rate"], t["minutes"]) == (0.75, 0.5, 3.5)
    assert t["average_quality"] == 70.0 and t["interruptions"] == 4
    assert t["outcomes"] == {
        "meeting_booked": 1,
        "no_answer": 1,
        "not_interested": 1,
        "qualified": 1,
    }
    ttft = t["latency"]["llm_ttft_ms"]
    # 12 samples (3 per finished call): percentiles within the buckets' 5 %.
    assert ttft["n"] == 12
    assert abs(ttft["p50"] - 310) <= 0.05 * 310 and abs(ttft["p95"] - 350) <= 0.05 * 350
    assert t["latency"]["eou_delay_ms"]["n"] == 8

    assert [d["key"] for d in body["by_day"]] == ["2026-06-10", "2026-06-11", "2026-06-12"]
    d1, d2, d3 = body["by_day"]
    assert (d1["calls"], d1["ended"], d1["minutes"], d1["average_quality"]) == (3, 3, 3.0, 70.0)
    assert (d2["calls"], d2["ended"], d2["failed"], d2["average_quality"]) == (3, 1, 1, None)
    assert d3["calls"] == 0 and d3["connect_rate"] is None
    goals = {g["key"]: g for g in body["by_goal"]}
    assert set(goals) == {"book_meeting", "qualify_interest"}
    assert (goals["book_meeting"]["calls"], goals["book_meeting"]["connected"]) == (5, 2)
    assert goals["qualify_interest"]["goal_completion_rate"] == 1.0

    only = await client.get(
        "/v1/analytics",
        params={"start": "2026-06-10", "end": "2026-06-12", "goal": "qualify_interest"},
        headers=user["headers"],
    )
    assert only.json()["totals"]["calls"] == 1 and only.json()["goal"] == "qualify_interest"


async def test_a_later_score_updates_the_day(client, clock, user, pump, no_window):
    call = await create_call(user_id=user["user"]["id"], created_at=D1)
    await finish(client, clock, call.id, duration=60)
    await pump.drain()
    params = {"start": "2026-06-10", "end": "2026-06-10"}
    before = (await client.get("/v1/analytics", params=params, headers=user["headers"])).json()
    assert before["totals"]["average_quality"] is None
    # What quality's scoring does when the judge answers: the score and call.scored.
    from nova.core.events import emit

    async with session_scope() as s:
        await s.execute(
            update(CallScore)
            .where(CallScore.call_id == call.id)
            .values(status="scored", overall=91, score={})
        )
        await emit(s, "call.scored", {"call_id": call.id, "customer_id": user["user"]["id"]})
    await pump.drain()
    after = (await client.get("/v1/analytics", params=params, headers=user["headers"])).json()
    assert after["totals"]["average_quality"] == 91.0 and after["totals"]["calls"] == 1


async def test_changes_inside_one_window_share_one_rebuild(client, clock, user, pump, settings):
    settings.analytics_rollup_window_seconds = 5
    for _ in range(3):
        call = await create_call(user_id=user["user"]["id"], created_at=D1)
        await finish(client, clock, call.id, duration=60)
    await pump.drain()  # the subscribers ran; the rebuild waits for the window to close
    async with session_scope() as s:
        queued = await s.scalar(
            select(func.count()).select_from(Task).where(Task.handler == ROLLUP_TASK)
        )
    assert queued == 1
    params = {"start": "2026-06-10", "end": "2026-06-10"}
    r = await client.get("/v1/analytics", params=params, headers=user["headers"])
    assert r.json()["totals"]["calls"] == 0
    clock.advance(10)
    await pump.drain()
    r = await client.get("/v1/analytics", params=params, headers=user["headers"])
    assert r.json()["totals"]["calls"] == 3 and r.json()["totals"]["minutes"] == 3.0


async def test_bad_periods_and_goals(client, user):
    cases = [
        ({"start": "2026-06-12", "end": "2026-06-10"}, "start must not be after end"),
        ({"start": "2025-01-01", "end": "2026-06-10"}, "at most 366 days"),
        ({"start": "yesterday"}, "start must be a date"),
        ({"goal": "win"}, "goal must be one of"),
    ]
    for params, detail in cases:
        r = await client.get("/v1/analytics", params=params, headers=user["headers"])
        assert r.status_code == 400 and detail in r.json()["detail"], r.text
    assert (await client.get("/v1/analytics")).status_code == 401


async def test_default_period_is_the_last_30_days(client, clock, user):
    body = (await client.get("/v1/analytics", headers=user["headers"])).json()
    assert body["end"] == clock.now().date().isoformat() and len(body["by_day"]) == 30


async def test_whole_months_and_days_around_them_add_up(client, clock, user, pump, no_window):
    settings_days = [
        datetime(2026, 4, 25, tzinfo=UTC),  # a partial month at the start
        datetime(2026, 5, 1, tzinfo=UTC),  # a whole month
        datetime(2026, 5, 31, 23, 59, tzinfo=UTC),
        datetime(2026, 6, 10, tzinfo=UTC),  # a partial month at the end
    ]
    for i, when in enumerate(settings_days):
        goal = "book_meeting" if i % 2 else "collect_info"
        call = await create_call(user_id=user["user"]["id"], goal=goal, created_at=when)
        await finish(client, clock, call.id, duration=60 * (i + 1))
    await pump.drain()
    params = {"start": "2026-04-20", "end": "2026-06-12"}
    body = (await client.get("/v1/analytics", params=params, headers=user["headers"])).json()
    t = body["totals"]
    assert (t["calls"], t["minutes"]) == (4, 10.0)
    assert t["latency"]["llm_ttft_ms"]["n"] == 12  # 3 samples a call, from days and months
    assert sum(d["calls"] for d in body["by_day"]) == 4
    goals = {g["key"]: g for g in body["by_goal"]}
    assert (goals["collect_info"]["calls"], goals["collect_info"]["minutes"]) == (2, 4.0)
    assert (goals["book_meeting"]["calls"], goals["book_meeting"]["minutes"]) == (2, 6.0)
    assert goals["book_meeting"]["latency"]["e2e_ms"]["n"] == 4
    # May alone: read from its monthly row.
    may = {"start": "2026-05-01", "end": "2026-05-31"}
    body = (await client.get("/v1/analytics", params=may, headers=user["headers"])).json()
    assert body["totals"]["calls"] == 2 and [g["calls"] for g in body["by_goal"]] == [1, 1]
    assert body["totals"]["latency"]["tts_ttfb_ms"]["n"] == 4
