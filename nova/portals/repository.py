"""Storage of portal leads on the receivers' hot path.

A receiver makes one read (its integration) and one write (the lead and the task that calls
it, together, or nothing for a replayed event). On PostgreSQL both run on an autocommit
connection with no transaction around them, and the write is ONE statement (a data-
modifying CTE); on SQLite they share one short transaction. The task row itself is built by
``nova.core.events.task_row``, the one writer of task rows.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nova.core.db import autocommit_engine, get_engine, session_scope, with_defaults
from nova.core.events import mark_wake, wake_pump
from nova.models.events import Task
from nova.models.portals import PortalLead

LEADS = PortalLead.__table__  # type: ignore[attr-defined]
TASKS = Task.__table__  # type: ignore[attr-defined]
_LEAD_COLUMNS = tuple(
    c.name for c in LEADS.c if c.name not in ("call_id", "error", "dispatched_at")
)
# Every column of a task row: what task_row builds plus the columns' Python-side defaults
# (status, attempts…), which an INSERT … SELECT does not apply by itself.
_TASK_COLUMNS = (
    "id", "handler", "event_id", "payload", "max_attempts", "run_at", "dedupe_key",
    "created_at", "status", "attempts",
)  # fmt: skip

_EXISTING_LEAD = select(PortalLead.id).where(
    PortalLead.portal == bindparam("portal"), PortalLead.event_id == bindparam("event_id")
)


@asynccontextmanager
async def receiver_db() -> AsyncIterator[AsyncSession | AsyncConnection]:
    """PostgreSQL: an autocommit connection (each statement its own transaction); SQLite:
    one short transaction, committed at the end of the block."""
    if get_engine().dialect.name == "postgresql":
        async with autocommit_engine().connect() as conn:
            yield conn
    else:
        async with session_scope() as session:
            yield session


@functools.cache
def _insert_lead(dialect: str) -> Any:
    """INSERT … ON CONFLICT (portal, event_id) DO NOTHING RETURNING id: one statement both
    records the lead and deduplicates it (a replay inserts nothing). Built once per dialect."""
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        ins(LEADS)
        .values({c: bindparam(f"l_{c}", type_=LEADS.c[c].type) for c in _LEAD_COLUMNS})
        .on_conflict_do_nothing(index_elements=["portal", "event_id"])
        .returning(LEADS.c.id)
    )


@functools.cache
def _lead_and_task_pg() -> Any:
    """PostgreSQL: the lead and its task in ONE statement; the task is inserted only when
    the lead was (it is selected from the lead's CTE). Built once."""
    lead = _insert_lead("postgresql").cte("lead")
    values = [bindparam(f"t_{c}", type_=TASKS.c[c].type) for c in _TASK_COLUMNS]
    return (
        pg_insert(TASKS)
        .from_select(list(_TASK_COLUMNS), select(*values).select_from(lead))
        .returning(TASKS.c.id)
    )


async def record_lead(
    db: AsyncSession | AsyncConnection, lead: dict[str, Any], task: dict[str, Any]
) -> tuple[str, bool]:
    """Insert ``lead`` and its dispatch ``task`` together, unless the portal delivered this
    event before. Returns (the lead's id, duplicate)."""
    params = {f"l_{c}": lead[c] for c in _LEAD_COLUMNS}
    if isinstance(db, AsyncConnection):  # PostgreSQL, autocommit
        [full] = with_defaults(TASKS, [task])
        params.update({f"t_{c}": full[c] for c in _TASK_COLUMNS})
        inserted = (await db.execute(_lead_and_task_pg(), params)).first() is not None
        if inserted:
            wake_pump()
    else:
        inserted = (await db.execute(_insert_lead(db.get_bind().dialect.name), params)).first()
        if inserted is not None:
            # The lead row is unique per event, so its task needs no dedupe key of its own.
            await db.execute(insert(TASKS), [task])
            mark_wake(db)
    if not inserted:
        existing = await db.scalar(
            _EXISTING_LEAD, {"portal": lead["portal"], "event_id": lead["event_id"]}
        )
        assert existing is not None
        return existing, True
    return lead["id"], False
