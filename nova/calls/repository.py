"""Storage of calls: every read and write the calls domain makes, one function each.

Services and the dial pipeline read as stories over these functions and never hold SQL.
Two storage tricks live here, behind the same calls on SQLite and PostgreSQL:

- ``fast=True`` (an anonymous batch on PostgreSQL with nothing else to write): no
  transaction at all; the gate's read and the durable record are one autocommit statement
  each (``insert_at_once``: every context, call and task row in one data-modifying CTE);
- everything else runs in the caller's session, one short transaction per write, committed
  here because the pipeline's order (record, then dial, then record the outcome) needs each
  write durable before the next network call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nova.billing import metering
from nova.core import clock
from nova.core.db import autocommit_engine, insert_at_once, with_defaults
from nova.core.events import event_rows, insert_events, mark_wake, wake_pump
from nova.models.base import UTCDateTime
from nova.models.calls import Call, CallContext
from nova.models.compliance import ComplianceDecision
from nova.models.events import Event, Task

CALLS = Call.__table__  # type: ignore[attr-defined]
CONTEXTS = CallContext.__table__  # type: ignore[attr-defined]
TASKS = Task.__table__  # type: ignore[attr-defined]
DECISIONS = ComplianceDecision.__table__  # type: ignore[attr-defined]


@asynccontextmanager
async def reader(
    session: AsyncSession, *, fast: bool
) -> AsyncIterator[AsyncSession | AsyncConnection]:
    """Where the pipeline reads: an autocommit connection on the fast path (no transaction
    to open or close), the session otherwise."""
    if fast:
        async with autocommit_engine().connect() as conn:
            yield conn
    else:
        yield session


# --- the durable record ----------------------------------------------------------------------


async def hold_and_record(
    session: AsyncSession,
    *,
    contexts: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    owner_id: str | None,
    held: list[str],
    reserve_seconds: int,
    decisions: Sequence[dict[str, Any]] = (),
    fast: bool,
) -> None:
    """Hold the minutes of the ``held`` calls (402 when they do not fit) and write every row
    (contexts, calls, tasks) together: all of it is committed, or none of it."""
    if fast:
        assert owner_id is None, "only unmetered batches take the one-statement path"
        async with autocommit_engine().connect() as conn:
            await insert_at_once(
                conn,
                [
                    (CONTEXTS, contexts),
                    (CALLS, calls),
                    (DECISIONS, list(decisions)),
                    (TASKS, tasks),
                ],
            )
        if tasks:
            wake_pump()
        return
    if owner_id is not None and held and reserve_seconds > 0:
        # Locks the account row until the commit below (a few milliseconds, no network).
        await metering.reserve(session, owner_id, held, reserve_seconds)
    # Contexts first (calls.context_id references them).
    if contexts:
        await session.execute(insert(CONTEXTS), contexts)
    await session.execute(insert(CALLS), calls)
    if decisions:
        await session.execute(insert(DECISIONS), list(decisions))
    if tasks:
        await session.execute(insert(TASKS), tasks)
        mark_wake(session)
    await session.commit()


async def fail_deferred(session: AsyncSession, owner_id: str, phone: str, reason: str) -> int:
    """End every call of the account to ``phone`` that waits for its calling window (a
    deferred call holds no minutes and was never announced). Returns how many."""
    result = await session.execute(
        update(CALLS)
        .where(
            CALLS.c.user_id == owner_id,
            CALLS.c.phone == phone,
            CALLS.c.status == "pending",
            CALLS.c.not_before.is_not(None),
        )
        .values(status="failed", error=reason[:1000], not_before=None)
    )
    return result.rowcount or 0


# --- outcomes ---------------------------------------------------------------------------------

_TO_STARTED = (
    update(CALLS)
    .where(CALLS.c.id == bindparam("c_id"), CALLS.c.status == "pending")
    .values(
        status="in_progress",
        dispatch_id=bindparam("c_dispatch"),
        started_at=bindparam("c_started", type_=UTCDateTime()),
        message=bindparam("c_message"),
        error=None,
        not_before=None,
    )
    .returning(CALLS.c.id)
)
_TO_FAILED = (
    update(CALLS)
    .where(CALLS.c.id == bindparam("c_id"), CALLS.c.status == "pending")
    .values(
        status="failed",
        error=bindparam("c_error"),
        message=bindparam("c_message"),
        reserved_seconds=0,
        not_before=None,
    )
    .returning(CALLS.c.id)
)
_TASK_DONE = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("t_id"), TASKS.c.status == "pending")
    .values(status="done", finished_at=bindparam("t_at", type_=UTCDateTime()))
)


async def record_outcomes(
    session: AsyncSession,
    rows: Sequence[dict[str, Any]],
    *,
    announce: Callable[[dict[str, Any]], tuple[str, dict[str, Any]] | None],
    done_task: str | None = None,
    commit: bool = True,
    fast: bool = False,
) -> list[dict[str, Any]]:
    """Move each call from ``pending`` to its outcome (``in_progress`` with its dispatch, or
    ``failed`` with its error, its minute hold released) and write the events ``announce``
    makes of it, in one transaction. Idempotent: a call no longer pending is left alone and
    announces nothing. ``done_task`` (the batch's recovery task) is marked done with it.
    Returns the rows that moved (``fast``: the rows, see ``_outcomes_at_once``)."""
    if fast:
        await _outcomes_at_once(rows, announce, done_task)
        return list(rows)
    moved: list[dict[str, Any]] = []
    for row in rows:
        if row["status"] == "in_progress":
            params = {
                "c_id": row["id"],
                "c_dispatch": row["dispatch_id"],
                "c_started": row["started_at"],
                "c_message": row["message"],
            }
            stmt = _TO_STARTED
        else:
            params = {"c_id": row["id"], "c_error": row["error"], "c_message": row["message"]}
            stmt = _TO_FAILED
        if (await session.execute(stmt, params)).first() is None:
            continue
        moved.append(row)
        if row["status"] == "failed" and row.get("reserved_seconds"):
            await metering.settle(session, row["id"], 0)  # release the hold, charge nothing
    events, tasks = [], []
    for row in moved:
        made = announce(row)
        if made is not None:
            event, queued = event_rows(*made)
            events.append(event)
            tasks.extend(queued)
    await insert_events(session, events, tasks)
    if done_task is not None:
        await session.execute(_TASK_DONE, {"t_id": done_task, "t_at": clock.now()})
    if commit:
        await session.commit()
    return moved


async def defer(session: AsyncSession, call_id: str, until: datetime, message: str) -> None:
    await session.execute(
        update(CALLS)
        .where(CALLS.c.id == call_id, CALLS.c.status == "pending")
        .values(not_before=until, message=message[:500])
    )


async def set_hold(session: AsyncSession, call_id: str, seconds: int) -> None:
    await session.execute(
        update(CALLS).where(CALLS.c.id == call_id).values(reserved_seconds=seconds)
    )


# --- reads --------------------------------------------------------------------------------


async def batch_rows(session: AsyncSession, batch_id: str) -> list[Call]:
    """The calls of a batch already recorded (a retried request, a re-run task)."""
    rows = await session.execute(
        select(Call).where(Call.batch_id == batch_id).order_by(Call.created_at, Call.id)
    )
    return list(rows.scalars())


async def pending_with_contexts(
    session: AsyncSession, call_ids: Sequence[str]
) -> list[tuple[Call, CallContext]]:
    """The calls among ``call_ids`` still waiting for their dispatch, with their briefs."""
    rows = await session.execute(
        select(Call, CallContext)
        .join(CallContext, CallContext.id == Call.context_id)
        .where(Call.id.in_(list(call_ids)), Call.status == "pending")
        .order_by(Call.created_at, Call.id)
    )
    return [(call, ctx) for call, ctx in rows.all()]


async def get_call(session: AsyncSession, call_id: str) -> Call | None:
    return await session.get(Call, call_id)


async def get_context(session: AsyncSession, context_id: str) -> tuple[CallContext, Any] | None:
    """A brief and the call it was written for (``id`` and ``owner_email``, or None)."""
    ctx = await session.get(CallContext, context_id)
    if ctx is None:
        return None
    call = (
        await session.execute(select(Call.id, Call.owner_email).where(Call.context_id == ctx.id))
    ).first()
    return ctx, call


async def call_in_room(session: AsyncSession, room_name: str) -> Call | None:
    return (
        await session.execute(select(Call).where(Call.room_name == room_name).limit(1))
    ).scalar_one_or_none()


async def count_in_progress(session: AsyncSession) -> int:
    n = await session.scalar(
        select(func.count()).select_from(Call).where(Call.status == "in_progress")
    )
    return int(n or 0)


# --- the reconciler -------------------------------------------------------------------------


async def in_progress(session: AsyncSession, *, started_before: datetime, limit: int) -> list[Call]:
    """Calls in progress that started before ``started_before``, oldest first."""
    rows = await session.execute(
        select(Call)
        .where(Call.status == "in_progress", Call.started_at < started_before)
        .order_by(Call.started_at)
        .limit(limit)
    )
    return list(rows.scalars())


async def end_lost(session: AsyncSession, call_id: str, *, error: str, reason: str) -> Call | None:
    """End a call nobody reported the end of, unless a report ended it first (then None)."""
    now = clock.now()
    moved = (
        await session.execute(
            update(CALLS)
            .where(
                CALLS.c.id == call_id,
                CALLS.c.status == "in_progress",
                CALLS.c.ended_at.is_(None),
            )
            .values(
                status="failed",
                error=error[:1000],
                ended_at=now,
                duration_seconds=None,
                outcome="incomplete",
                end_reason=reason[:200],
            )
            .returning(CALLS.c.id)
        )
    ).first()
    if moved is None:
        return None
    return await session.get(Call, call_id, populate_existing=True)


# --- the one-statement outcome (PostgreSQL, unmetered batches) -------------------------------

EVENTS = Event.__table__  # type: ignore[attr-defined]
_STARTED_COLUMNS = ("dispatch_id", "started_at", "message")
_FAILED_COLUMNS = ("error", "message")
_AT_ONCE: dict[tuple, Any] = {}


def _outcome_statement(shape: tuple) -> Any:
    """One statement for a batch's outcome: each call's conditional UPDATE is a CTE, its
    event and tasks are INSERT … SELECT from that CTE (written only when the call moved),
    and the statement itself marks the recovery task done. Built once per shape."""
    stmt = _AT_ONCE.get(shape)
    if stmt is not None:
        return stmt
    rows_shape, event_keys, task_keys = shape
    ctes = []
    for i, (status, n_tasks) in enumerate(rows_shape):
        columns = _STARTED_COLUMNS if status == "in_progress" else _FAILED_COLUMNS
        values: dict[str, Any] = {c: bindparam(f"r{i}_{c}", type_=CALLS.c[c].type) for c in columns}
        values.update(status=status, not_before=None)
        if status == "failed":
            values["reserved_seconds"] = 0
        moved = (
            update(CALLS)
            .where(CALLS.c.id == bindparam(f"r{i}_id"), CALLS.c.status == "pending")
            .values(values)
            .returning(CALLS.c.id)
            .cte(f"u{i}")
        )
        ctes.append(moved)
        if n_tasks < 0:  # no event
            continue
        event = select(
            *[bindparam(f"e{i}_{c}", type_=EVENTS.c[c].type) for c in event_keys]
        ).select_from(moved)
        ctes.append(insert(EVENTS).from_select(list(event_keys), event).cte(f"e{i}"))
        for j in range(n_tasks):
            task = select(
                *[bindparam(f"t{i}_{j}_{c}", type_=TASKS.c[c].type) for c in task_keys]
            ).select_from(moved)
            ctes.append(insert(TASKS).from_select(list(task_keys), task).cte(f"t{i}_{j}"))
    stmt = (
        update(TASKS)
        .where(TASKS.c.id == bindparam("done_id"), TASKS.c.status == "pending")
        .values(status="done", finished_at=bindparam("done_at", type_=UTCDateTime()))
    )
    for cte in ctes:
        stmt = stmt.add_cte(cte)
    if len(_AT_ONCE) > 256:
        _AT_ONCE.clear()
    _AT_ONCE[shape] = stmt
    return stmt


async def _outcomes_at_once(
    rows: Sequence[dict[str, Any]],
    announce: Callable[[dict[str, Any]], tuple[str, dict[str, Any]] | None],
    done_task: str | None,
) -> None:
    """``record_outcomes`` as ONE statement on an autocommit connection (PostgreSQL; calls
    that hold no minutes, so nothing to release): no transaction to open or close."""
    params: dict[str, Any] = {"done_id": done_task, "done_at": clock.now()}
    rows_shape = []
    event_keys: tuple[str, ...] = ()
    task_keys: tuple[str, ...] = ()
    queued = False
    for i, row in enumerate(rows):
        assert not row.get("reserved_seconds"), "calls holding minutes take the session path"
        columns = _STARTED_COLUMNS if row["status"] == "in_progress" else _FAILED_COLUMNS
        params[f"r{i}_id"] = row["id"]
        params.update({f"r{i}_{c}": row[c] for c in columns})
        made = announce(row)
        if made is None:
            rows_shape.append((row["status"], -1))
            continue
        event, tasks = event_rows(*made)
        event_keys = tuple(event)
        params.update({f"e{i}_{c}": v for c, v in event.items()})
        tasks = with_defaults(TASKS, tasks) if tasks else []
        for j, task in enumerate(tasks):
            task_keys = tuple(task)
            params.update({f"t{i}_{j}_{c}": v for c, v in task.items()})
        queued = queued or bool(tasks)
        rows_shape.append((row["status"], len(tasks)))
    stmt = _outcome_statement((tuple(rows_shape), event_keys, task_keys))
    async with autocommit_engine().connect() as conn:
        await conn.execute(stmt, params)
    if queued:
        wake_pump()
