"""Idempotency-Key records for creating POSTs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: str = id_field()
    # "user:<id>" or "ip:<addr>", plus the route, e.g. "user:…|POST /calls"
    scope: str = Field(max_length=200)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    # in_flight | done
    state: str = Field(default="in_flight", max_length=16)
    status_code: int | None = None
    response: dict | None = json_field(default_factory=lambda: None, nullable=True)
    created_at: datetime = created_field()
    expires_at: datetime = dt_field(nullable=False, index=True)
