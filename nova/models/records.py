"""Call records beyond the call row: per-account record settings, per-call latency,
post-call analysis and the daily analytics rollup (``nova.records``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, json_field
from nova.models.calls import Call


class RecordSettings(SQLModel, table=True):
    """What an account keeps of its calls and what it extracts from them."""

    __tablename__ = "record_settings"

    user_id: str = Field(primary_key=True, foreign_key="users.id", max_length=36)
    # Days transcripts, analyses and recordings are kept after a call ends; None uses
    # ``Settings.call_record_retention_days``, 0 keeps them forever.
    retention_days: int | None = None
    # The JSON schema of the fields extracted after each call (None: no analysis).
    analysis_schema: dict | None = json_field(default_factory=lambda: None, nullable=True)
    analysis_schema_version: int = 0
    # Record calls (LiveKit Egress to S3); the opening line then announces it.
    recording_enabled: bool = False
    updated_at: datetime = created_field()


class CallMetrics(SQLModel, table=True):
    """Latency of one call, per turn, as the worker measured it (livekit-agents metrics)."""

    __tablename__ = "call_metrics"

    call_id: str = Field(primary_key=True, foreign_key="calls.id", max_length=36)
    user_id: str | None = Field(default=None, max_length=36, index=True)
    # {"eou_delay_ms": [..], "llm_ttft_ms": [..], "tts_ttfb_ms": [..], "e2e_ms": [..]}
    samples: dict = json_field()
    # {kind: {"n", "p50", "p95", "max", "avg"}} over ``samples``
    summary: dict = json_field()
    interruptions: int = 0
    turns: int = 0
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class CallAnalysis(SQLModel, table=True):
    """The fields the LLM extracted from one call's transcript with the account's schema."""

    __tablename__ = "call_analyses"

    call_id: str = Field(primary_key=True, foreign_key="calls.id", max_length=36)
    user_id: str | None = Field(default=None, max_length=36, index=True)
    # pending → done | failed
    status: str = Field(default="pending", max_length=16)
    schema_version: int = 0
    data: dict | None = json_field(default_factory=lambda: None, nullable=True)
    model: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    analyzed_at: datetime | None = dt_field()
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class CallRecording(SQLModel, table=True):
    """The audio recording of one call: the egress that made it and where the file is."""

    __tablename__ = "call_recordings"

    call_id: str = Field(primary_key=True, foreign_key="calls.id", max_length=36)
    user_id: str | None = Field(default=None, max_length=36, index=True)
    egress_id: str | None = Field(default=None, max_length=64, unique=True)
    # starting → active → ready | failed; deleted
    status: str = Field(default="starting", max_length=16)
    bucket: str = Field(max_length=255)
    object_key: str = Field(max_length=512)
    size_bytes: int | None = None
    duration_seconds: float | None = None
    error: str | None = Field(default=None, max_length=1000)
    ended_at: datetime | None = dt_field()
    deleted_at: datetime | None = dt_field()
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class _Rollup(SQLModel):
    """The figures of an analytics rollup row (daily and monthly tables)."""

    user_id: str = Field(primary_key=True, max_length=36)
    goal: str = Field(primary_key=True, max_length=32)
    calls: int = 0
    ended: int = 0
    connected: int = 0
    failed: int = 0
    goal_completed: int = 0
    duration_seconds: int = 0
    quality_sum: int = 0
    quality_n: int = 0
    interruptions: int = 0
    # {outcome: count}
    outcomes: dict = json_field()
    # {kind: {bucket index: count}} (log buckets, see ``nova.records.latency``)
    latency: dict = json_field()
    # {kind: {n, p50, p90, p95, p99}} read from ``latency`` when the row was built
    summary: dict = json_field()
    updated_at: datetime = created_field()


class AnalyticsDaily(_Rollup, table=True):
    """One account's calls of one UTC day and one goal (``*``: all goals), summed; rebuilt
    from the calls of that day whenever one of them changes (``nova.records.analytics``)."""

    __tablename__ = "analytics_daily"

    day: date = Field(primary_key=True)


class AnalyticsMonthly(_Rollup, table=True):
    """The same for a calendar month (``month`` is its first day), summed from its days:
    a year is read as twelve rows instead of 365."""

    __tablename__ = "analytics_monthly"

    month: date = Field(primary_key=True)


# The analytics rollup and the retention purge read an account's calls by creation time
# (declared here, on the calls table, to keep the records domain in one module).
Index("ix_calls_user_created", Call.__table__.c.user_id, Call.__table__.c.created_at)
