"""The event outbox and the durable task queue that drives every plug-in.

``events`` is the immutable record of what happened; ``tasks`` is the work that follows
from it (one row per subscribed handler, plus jobs queued directly). Tasks are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL and leased, so a crashed runner's work is picked
up again once its lease expires.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class Event(SQLModel, table=True):
    __tablename__ = "events"

    id: str = id_field()
    type: str = Field(max_length=64, index=True)
    data: dict = json_field()
    created_at: datetime = created_field()

    # Retention (nova.core.retention) deletes the oldest events first.
    __table_args__ = (Index("ix_events_created_at", "created_at"),)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"

    id: str = id_field()
    handler: str = Field(max_length=128)
    event_id: str | None = Field(default=None, foreign_key="events.id", max_length=36, index=True)
    payload: dict = json_field()
    # pending → running → done | dead
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    max_attempts: int = 8
    run_at: datetime = dt_field(nullable=False)
    locked_until: datetime | None = dt_field()
    last_error: str | None = Field(default=None, max_length=2000)
    # Optional dedupe key: a second task with the same (handler, key) is not queued.
    dedupe_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = created_field()
    finished_at: datetime | None = dt_field()

    __table_args__ = (
        Index("ix_tasks_due", "status", "run_at"),
        Index("uq_tasks_dedupe", "handler", "dedupe_key", unique=True),
    )
