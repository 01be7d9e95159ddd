"""Analytics across calls: a daily rollup per account, day (UTC, by creation) and goal.

The rollup is *rebuilt*, never incremented: when a call changes (started, ended, scored,
latency reported) its account's day is marked dirty, and one ``records.rollup`` task reads
that day's calls and replaces its rows. A rebuild is idempotent, so an event delivered twice
or out of order cannot skew a figure. Changes inside one ``analytics_rollup_window_seconds``
window share one rebuild that runs after the window (a dedupe key per window), so a busy
day costs one rebuild per window, not one per call.

``GET /v1/analytics`` then reads at most one row per day and goal, whatever the number of
calls behind them (bench/records_analytics.py: 1,000,000 calls).

A call is *connected* when it ended with a duration and an outcome other than busy,
no answer, failed, no show or voicemail.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.errors import BadRequest
from nova.core.events import enqueue
from nova.core.settings import get_settings
from nova.models.calls import Call
from nova.models.quality import CallScore
from nova.models.records import AnalyticsDaily, CallMetrics
from nova.records import latency
from nova.records.schemas import AnalyticsOut, AnalyticsRow, LatencyPercentiles

ROLLUP_TASK = "records.rollup"
NOT_CONNECTED = ("busy", "no_answer", "failed", "no_show", "voicemail")
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


async def mark_dirty(session: AsyncSession, call: Call) -> None:
    """Queue a rebuild of the call's account-day (one per window, see the module doc)."""
    if call.user_id is None:
        return
    day = day_of(call.created_at)
    window = get_settings().analytics_rollup_window_seconds
    payload = {"user_id": call.user_id, "day": day.isoformat()}
    if window <= 0:
        await enqueue(session, ROLLUP_TASK, payload)
        return
    now = clock.now().timestamp()
    slot = math.floor(now / window)
    run_at = datetime.fromtimestamp((slot + 2) * window, UTC)
    await enqueue(
        session,
        ROLLUP_TASK,
        payload,
        run_at=run_at,
        dedupe_key=f"{call.user_id}:{day.isoformat()}:{slot}",
    )


def _connected():
    return and_(
        Call.ended_at.is_not(None),
        func.coalesce(Call.duration_seconds, 0) > 0,
        func.coalesce(Call.outcome, "").not_in(NOT_CONNECTED),
    )


def _count(cond: Any):
    return func.sum(case((cond, 1), else_=0))


async def _lock_day(session: AsyncSession, user_id: str, day: date) -> None:
    """Serialise rebuilds of one account-day across replicas (PostgreSQL; SQLite has one
    writer anyway)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"nova.rollup:{user_id}:{day.isoformat()}"},
        )


async def rebuild_day(session: AsyncSession, user_id: str, day: date) -> int:
    """Replace the account's rollup rows of ``day`` with figures read from its calls.
    Returns the number of rows written (one per goal with calls)."""
    await _lock_day(session, user_id, day)
    lo, hi = _day_bounds(day)
    in_day = and_(Call.user_id == user_id, Call.created_at >= lo, Call.created_at < hi)
    rows: dict[str, dict[str, Any]] = {}
    main = await session.execute(
        select(
            Call.goal,
            func.count(),
            _count(Call.ended_at.is_not(None)),
            _count(_connected()),
            _count(Call.status == "failed"),
            _count(Call.goal_completed.is_(True)),
            func.coalesce(func.sum(Call.duration_seconds), 0),
        )
        .where(in_day)
        .group_by(Call.goal)
    )
    for goal, calls, ended, connected, failed, completed, seconds in main:
        rows[goal] = {
            "user_id": user_id,
            "day": day,
            "goal": goal,
            "calls": int(calls),
            "ended": int(ended or 0),
            "connected": int(connected or 0),
            "failed": int(failed or 0),
            "goal_completed": int(completed or 0),
            "duration_seconds": int(seconds or 0),
            "quality_sum": 0,
            "quality_n": 0,
            "interruptions": 0,
            "outcomes": {},
            "latency": {},
            "updated_at": clock.now(),
        }
    outcomes = await session.execute(
        select(Call.goal, Call.outcome, func.count())
        .where(in_day, Call.outcome.is_not(None))
        .group_by(Call.goal, Call.outcome)
    )
    for goal, outcome, n in outcomes:
        rows[goal]["outcomes"][outcome] = int(n)
    quality = await session.execute(
        select(Call.goal, func.sum(CallScore.overall), func.count())
        .join(CallScore, CallScore.call_id == Call.id)
        .where(in_day, CallScore.overall.is_not(None))
        .group_by(Call.goal)
    )
    for goal, total, n in quality:
        rows[goal]["quality_sum"] = int(total or 0)
        rows[goal]["quality_n"] = int(n)
    metrics = await session.execute(
        select(Call.goal, CallMetrics.samples, CallMetrics.interruptions)
        .join(CallMetrics, CallMetrics.call_id == Call.id)
        .where(in_day)
    )
    for goal, samples, interruptions in metrics:
        row = rows[goal]
        row["interruptions"] += int(interruptions or 0)
        for kind in latency.KINDS:
            values = (samples or {}).get(kind) or []
            if values:
                hist = row["latency"].setdefault(kind, {})
                latency.merge(hist, latency.histogram(values))
    await session.execute(
        delete(AnalyticsDaily).where(AnalyticsDaily.user_id == user_id, AnalyticsDaily.day == day)
    )
    if rows:
        await session.execute(insert(AnalyticsDaily), list(rows.values()))
    return len(rows)


# --- reading -------------------------------------------------------------------------------


def _parse_day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD)") from None


def period(start: str | None, end: str | None) -> tuple[date, date]:
    """The inclusive day range asked for: default the last 30 days; at most 366 days."""
    end_day = _parse_day(end, "end") or day_of(clock.now())
    start_day = _parse_day(start, "start") or end_day - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start_day > end_day:
        raise BadRequest("start must not be after end")
    if (end_day - start_day).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest(f"The period may span at most {MAX_RANGE_DAYS} days")
    return start_day, end_day


class _Acc:
    __slots__ = (
        "calls",
        "ended",
        "connected",
        "failed",
        "goal_completed",
        "seconds",
        "q_sum",
        "q_n",
        "interruptions",
        "outcomes",
        "latency",
    )

    def __init__(self) -> None:
        self.calls = self.ended = self.connected = self.failed = 0
        self.goal_completed = self.seconds = self.q_sum = self.q_n = self.interruptions = 0
        self.outcomes: dict[str, int] = defaultdict(int)
        self.latency: dict[str, dict[str, int]] = {}

    def add(self, r: Any) -> None:
        self.calls += r.calls
        self.ended += r.ended
        self.connected += r.connected
        self.failed += r.failed
        self.goal_completed += r.goal_completed
        self.seconds += r.duration_seconds
        self.q_sum += r.quality_sum
        self.q_n += r.quality_n
        self.interruptions += r.interruptions
        for k, v in (r.outcomes or {}).items():
            self.outcomes[k] += v
        for kind, hist in (r.latency or {}).items():
            latency.merge(self.latency.setdefault(kind, {}), hist)

    def out(self, key: str) -> AnalyticsRow:
        return AnalyticsRow(
            key=key,
            calls=self.calls,
            ended=self.ended,
            connected=self.connected,
            connect_rate=round(self.connected / self.ended, 4) if self.ended else None,
            failed=self.failed,
            goal_completed=self.goal_completed,
            goal_completion_rate=(
                round(self.goal_completed / self.ended, 4) if self.ended else None
            ),
            minutes=round(self.seconds / 60, 2),
            average_quality=round(self.q_sum / self.q_n, 1) if self.q_n else None,
            interruptions=self.interruptions,
            outcomes=dict(sorted(self.outcomes.items())),
            latency={
                kind: LatencyPercentiles(**latency.hist_summary(self.latency.get(kind, {})))
                for kind in latency.KINDS
            },
        )


async def analytics(
    session: AsyncSession, user_id: str, start: date, end: date, goal: str | None = None
) -> AnalyticsOut:
    cols = AnalyticsDaily.__table__.c  # type: ignore[attr-defined]
    stmt = select(
        cols.day,
        cols.goal,
        cols.calls,
        cols.ended,
        cols.connected,
        cols.failed,
        cols.goal_completed,
        cols.duration_seconds,
        cols.quality_sum,
        cols.quality_n,
        cols.interruptions,
        cols.outcomes,
        cols.latency,
    ).where(cols.user_id == user_id, cols.day >= start, cols.day <= end)
    if goal:
        stmt = stmt.where(cols.goal == goal)
    totals, by_day, by_goal = _Acc(), defaultdict(_Acc), defaultdict(_Acc)
    for r in await session.execute(stmt):
        totals.add(r)
        by_day[r.day].add(r)
        by_goal[r.goal].add(r)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return AnalyticsOut(
        start=start,
        end=end,
        goal=goal,
        totals=totals.out("total"),
        by_day=[(by_day.get(d) or _Acc()).out(d.isoformat()) for d in days],
        by_goal=[by_goal[g].out(g) for g in sorted(by_goal)],
    )
