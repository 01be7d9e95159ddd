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
from nova.models.records import AnalyticsDaily, AnalyticsMonthly, CallMetrics
from nova.records import latency

ROLLUP_TASK = "records.rollup"
NOT_CONNECTED = ("busy", "no_answer", "failed", "no_show", "voicemail")
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30

ALL = "*"  # the goal of an account-day's row that sums all its goals

_NUMBERS = (
    "calls",
    "ended",
    "connected",
    "failed",
    "goal_completed",
    "duration_seconds",
    "quality_sum",
    "quality_n",
    "interruptions",
)


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


async def _lock(session: AsyncSession, user_id: str, period: str) -> None:
    """Serialise rebuilds of one account-day (or month) across tasks and replicas
    (PostgreSQL; SQLite has one writer anyway)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"nova.rollup:{user_id}:{period}"},
        )


async def rebuild_day(session: AsyncSession, user_id: str, day: date) -> int:
    """Replace the account's rollup rows of ``day`` with figures read from its calls: one
    per goal with calls and one (goal ``*``) for all of them. Returns how many."""
    await _lock(session, user_id, day.isoformat())
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
    if rows:
        rows[ALL] = {**_sum(rows.values()), "user_id": user_id, "day": day, "goal": ALL}
    await _replace(session, AnalyticsDaily, "day", user_id, day, rows)
    await rebuild_month(session, user_id, day.replace(day=1))
    return len(rows)


def _sum(rows: Any) -> dict[str, Any]:
    """Figures, outcomes and histograms of ``rows`` added up."""
    out: dict[str, Any] = {**_zero(), "outcomes": {}, "latency": {}}
    for row in rows:
        for n in _NUMBERS:
            out[n] += row[n]
        for k, v in (row["outcomes"] or {}).items():
            out["outcomes"][k] = out["outcomes"].get(k, 0) + v
        for kind, hist in (row["latency"] or {}).items():
            latency.merge(out["latency"].setdefault(kind, {}), hist)
    return out


async def _replace(
    session: AsyncSession, table: Any, column: str, user_id: str, when: date, rows: dict
) -> None:
    for row in rows.values():
        row["summary"] = {k: latency.hist_summary(h) for k, h in row["latency"].items()}
        row["updated_at"] = clock.now()
    period = getattr(table, column)
    await session.execute(delete(table).where(table.user_id == user_id, period == when))
    if rows:
        await session.execute(insert(table), list(rows.values()))


def _month_end(month: date) -> date:
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


async def rebuild_month(session: AsyncSession, user_id: str, month: date) -> None:
    """The month's rows summed from its day rows (after one of them was rebuilt)."""
    await _lock(session, user_id, month.isoformat()[:7])
    cols = AnalyticsDaily.__table__.c  # type: ignore[attr-defined]
    days = await session.execute(
        select(cols.goal, *(cols[n] for n in _NUMBERS), cols.outcomes, cols.latency).where(
            cols.user_id == user_id, cols.day >= month, cols.day <= _month_end(month)
        )
    )
    by_goal: dict[str, list[Any]] = defaultdict(list)
    for r in days.mappings():
        by_goal[r["goal"]].append(r)
    rows = {
        g: {**_sum(rs), "user_id": user_id, "month": month, "goal": g} for g, rs in by_goal.items()
    }
    await _replace(session, AnalyticsMonthly, "month", user_id, month, rows)


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


def _rates(n: dict[str, int]) -> dict[str, Any]:
    ended = n["ended"]
    return {
        "calls": n["calls"],
        "ended": ended,
        "connected": n["connected"],
        "connect_rate": round(n["connected"] / ended, 4) if ended else None,
        "failed": n["failed"],
        "goal_completed": n["goal_completed"],
        "goal_completion_rate": round(n["goal_completed"] / ended, 4) if ended else None,
        "minutes": round(n["duration_seconds"] / 60, 2),
        "average_quality": round(n["quality_sum"] / n["quality_n"], 1) if n["quality_n"] else None,
        "interruptions": n["interruptions"],
    }


# Shared by every row without samples (the document is serialised, never mutated).
_NO_LATENCY = {kind: latency.hist_summary({}) for kind in latency.KINDS}


def _row(key: str, numbers: dict[str, int], outcomes: dict, lat: dict | None) -> dict[str, Any]:
    summary = {**_NO_LATENCY, **{k: v for k, v in (lat or {}).items() if k in _NO_LATENCY}}
    return {
        "key": key,
        **_rates(numbers),
        "outcomes": dict(sorted(outcomes.items())),
        "latency": summary,
    }


def _zero() -> dict[str, int]:
    return dict.fromkeys(_NUMBERS, 0)


def _split(start: date, end: date) -> tuple[list[date], list[date]]:
    """The period as whole calendar months (read from the monthly rollup) and the days
    left at either end (read from the daily one)."""
    days: list[date] = []
    months: list[date] = []
    d = start
    while d <= end:
        if d.day == 1 and _month_end(d) <= end:
            months.append(d)
            d = _month_end(d) + timedelta(days=1)
        else:
            days.append(d)
            d += timedelta(days=1)
    return days, months


async def analytics(
    session: AsyncSession, user_id: str, start: date, end: date, goal: str | None = None
) -> dict[str, Any]:
    """The ``AnalyticsOut`` document, as plain data (built once, serialised once).

    ``by_day`` and the totals' counts come from one row per day (the account's all-goals
    row, or the goal's), whose percentiles were computed when it was built. Histograms and
    the per-goal figures are summed from the monthly rows of the whole months in the
    period and the daily rows of the days around them: a year is about 70 rows per goal."""
    daily = AnalyticsDaily.__table__.c  # type: ignore[attr-defined]
    monthly = AnalyticsMonthly.__table__.c  # type: ignore[attr-defined]
    wanted = goal or ALL
    day_rows = await session.execute(
        select(daily.day, *(daily[n] for n in _NUMBERS), daily.outcomes, daily.summary).where(
            daily.user_id == user_id, daily.day >= start, daily.day <= end, daily.goal == wanted
        )
    )
    totals, outcomes_total = _zero(), defaultdict(int)
    by_day: dict[date, dict[str, Any]] = {}
    for r in day_rows:
        numbers = {n: int(getattr(r, n)) for n in _NUMBERS}
        for n, v in numbers.items():
            totals[n] += v
        for k, v in (r.outcomes or {}).items():
            outcomes_total[k] += v
        by_day[r.day] = _row(r.day.isoformat(), numbers, r.outcomes or {}, r.summary)

    # Per goal (and all goals): months whole, days around them.
    days, months = _split(start, end)
    goals = [goal] if goal else None
    parts: dict[str, list[Any]] = defaultdict(list)
    queries = []
    if days:
        queries.append(
            select(daily.goal, *(daily[n] for n in _NUMBERS), daily.outcomes, daily.latency).where(
                daily.user_id == user_id,
                daily.day.in_(days),
                daily.goal.in_(goals) if goals else daily.goal.is_not(None),
            )
        )
    if months:
        queries.append(
            select(
                monthly.goal, *(monthly[n] for n in _NUMBERS), monthly.outcomes, monthly.latency
            ).where(
                monthly.user_id == user_id,
                monthly.month.in_(months),
                monthly.goal.in_(goals) if goals else monthly.goal.is_not(None),
            )
        )
    for stmt in queries:
        for r in (await session.execute(stmt)).mappings():
            parts[r["goal"]].append(r)
    merged = {g: _sum(rs) for g, rs in parts.items()}

    def lat(hist: dict[str, dict[str, int]]) -> dict[str, Any]:
        return {kind: latency.hist_summary(hist.get(kind, {})) for kind in latency.KINDS}

    whole = merged.get(wanted, {"latency": {}})
    empty = _row("", _zero(), {}, None)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "goal": goal,
        "totals": _row("total", totals, outcomes_total, lat(whole["latency"])),
        "by_day": [
            by_day.get(d) or {**empty, "key": d.isoformat()}
            for d in (start + timedelta(days=i) for i in range((end - start).days + 1))
        ],
        "by_goal": [
            _row(g, {n: m[n] for n in _NUMBERS}, m["outcomes"], lat(m["latency"]))
            for g, m in sorted(merged.items())
            if g != ALL
        ],
    }
