"""Request and response shapes of the call records API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class TurnOut(BaseModel):
    index: int
    speaker: Literal["agent", "lead"]
    text: str
    start: float | None = Field(description="Seconds from the start of the call")
    end: float | None = Field(description="Seconds from the start of the call")
    interrupted: bool = Field(description="The speaker was cut off (barge-in)")
    at: str | None = Field(default=None, description="Wall-clock time the turn started (UTC)")


class TranscriptOut(BaseModel):
    call_id: str
    status: str
    state: Literal["pending", "available", "expired"] = Field(
        description="pending: the call has not reported one yet; expired: deleted after the "
        "account's retention period"
    )
    language: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    turns: list[TurnOut]
    interruptions: int
    retained_until: datetime | None = Field(
        description="When the transcript will be deleted (null: kept forever)"
    )


class LatencySummary(BaseModel):
    n: int
    p50: float | None = None
    p95: float | None = None
    max: float | None = None
    avg: float | None = None


class CallLatencyOut(BaseModel):
    call_id: str
    state: Literal["pending", "available"]
    turns: int
    interruptions: int
    eou_delay_ms: LatencySummary
    llm_ttft_ms: LatencySummary
    tts_ttfb_ms: LatencySummary
    e2e_ms: LatencySummary


class RecordSettingsOut(BaseModel):
    retention_days: int = Field(description="Effective retention (0 = forever)")
    retention_days_custom: bool = Field(description="False: the server default applies")
    analysis_schema: dict[str, Any] | None
    analysis_schema_version: int
    recording_enabled: bool
    recordings_available: bool = Field(description="The server has recording storage")


class RecordSettingsIn(BaseModel):
    retention_days: int | None = Field(
        default=None,
        ge=0,
        le=3650,
        description="Days to keep transcripts and analyses after a call (0 = forever, "
        "null = server default)",
    )
    analysis_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema of the fields to extract after each call"
    )
    recording_enabled: bool | None = Field(
        default=None,
        description="Record calls (the opening line announces it); 503 without storage",
    )


class AnalysisOut(BaseModel):
    call_id: str
    status: Literal["not_configured", "pending", "done", "failed", "expired"]
    outcome: str | None = Field(description="The disposition the agent recorded")
    goal_completed: bool | None
    data: dict[str, Any] | None
    schema_version: int | None
    model: str | None
    analyzed_at: datetime | None
    error: str | None


class LatencyPercentiles(BaseModel):
    n: int
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None


class AnalyticsRow(BaseModel):
    key: str = Field(description="The day (YYYY-MM-DD) or the goal")
    calls: int
    ended: int
    connected: int
    connect_rate: float | None
    failed: int
    goal_completed: int
    goal_completion_rate: float | None
    minutes: float
    average_quality: float | None
    interruptions: int
    outcomes: dict[str, int]
    latency: dict[str, LatencyPercentiles]


class AnalyticsOut(BaseModel):
    start: date
    end: date
    goal: str | None
    totals: AnalyticsRow
    by_day: list[AnalyticsRow]
    by_goal: list[AnalyticsRow]
