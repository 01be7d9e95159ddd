"""What the agent worker reports back: processed report ids (replay protection) and the
do-not-call list fed by leads who opt out during a call."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, id_field


class WorkerReport(SQLModel, table=True):
    """One accepted worker report. The primary key is the report id the worker signed, so a
    replayed report can never be recorded twice."""

    __tablename__ = "worker_reports"

    id: str = Field(primary_key=True, max_length=64)
    call_id: str = Field(max_length=36, index=True)
    kind: str = Field(max_length=32)
    created_at: datetime = created_field()


class DoNotCall(SQLModel, table=True):
    """A phone number that asked not to be called again, per account ("" = anonymous)."""

    __tablename__ = "do_not_call"
    __table_args__ = (UniqueConstraint("owner_id", "phone", name="uq_do_not_call_owner_phone"),)

    id: str = id_field()
    owner_id: str = Field(default="", max_length=36, index=True)
    phone: str = Field(max_length=32, index=True)
    call_id: str | None = Field(default=None, max_length=36)
    reason: str | None = Field(default=None, max_length=500)
    # How it got here: opt_out (the lead said so on a call), api, import (CSV).
    source: str = Field(default="opt_out", max_length=16)
    created_at: datetime = created_field()
