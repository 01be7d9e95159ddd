"""Call records: the account's record settings, transcripts and per-call latency.

Never commits: the request's session (or the worker report's) does.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.errors import BadRequest, NotFound, ServiceUnavailable
from nova.core.settings import Settings
from nova.models.calls import Call
from nova.models.records import CallAnalysis, CallMetrics, RecordSettings
from nova.models.user import User
from nova.records import funnel, latency
from nova.records.schemas import (
    AnalysisOut,
    CallLatencyOut,
    LatencySummary,
    RecordSettingsIn,
    RecordSettingsOut,
    TranscriptOut,
    TurnOut,
)

MAX_OFFSET_SECONDS = 24 * 3600.0


# --- settings ------------------------------------------------------------------------------


async def get_record_settings(session: AsyncSession, user_id: str) -> RecordSettings | None:
    return await session.get(RecordSettings, user_id)


def effective_retention_days(settings: Settings, row: RecordSettings | None) -> int:
    if row is not None and row.retention_days is not None:
        return row.retention_days
    return settings.call_record_retention_days


def settings_out(settings: Settings, row: RecordSettings | None) -> RecordSettingsOut:
    return RecordSettingsOut(
        retention_days=effective_retention_days(settings, row),
        retention_days_custom=row is not None and row.retention_days is not None,
        analysis_schema=row.analysis_schema if row is not None else None,
        analysis_schema_version=row.analysis_schema_version if row is not None else 0,
        recording_enabled=row is not None and row.recording_enabled,
        recordings_available=settings.recordings_configured,
    )


async def put_record_settings(
    session: AsyncSession, settings: Settings, user: User, body: RecordSettingsIn
) -> RecordSettingsOut:
    """Replace the account's settings (fields left out of the body keep their value)."""
    from nova.records.analysis import normalize_schema

    fields = body.model_fields_set
    row = await get_record_settings(session, user.id)
    if row is None:
        row = RecordSettings(user_id=user.id)
        session.add(row)
    if "retention_days" in fields:
        row.retention_days = body.retention_days
    if "analysis_schema" in fields:
        schema = normalize_schema(body.analysis_schema) if body.analysis_schema else None
        if schema != row.analysis_schema:
            row.analysis_schema = schema
            row.analysis_schema_version += 1
    if "recording_enabled" in fields and body.recording_enabled is not None:
        if body.recording_enabled and not settings.recordings_configured:
            from nova.records.recordings import NOT_CONFIGURED

            raise ServiceUnavailable(NOT_CONFIGURED)
        row.recording_enabled = body.recording_enabled
    row.updated_at = clock.now()
    await session.flush()
    return settings_out(settings, row)


# --- ownership -----------------------------------------------------------------------------


async def owned_call(session: AsyncSession, call_id: str, user: User) -> Call:
    """The account's call, or 404 (another account's call is not found either)."""
    call = await session.get(Call, call_id)
    if call is None or call.user_id != user.id:
        raise NotFound("Call not found")
    return call


def retained_until(call: Call, days: int) -> datetime | None:
    """Transcripts and analyses are kept ``days`` days from the call (0: forever)."""
    if days <= 0:
        return None
    return call.created_at + timedelta(days=days)


def is_expired(call: Call, days: int) -> bool:
    until = retained_until(call, days)
    return until is not None and until <= clock.now()


# --- transcripts ---------------------------------------------------------------------------


def _offset(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    if not math.isfinite(v) or v < 0 or v > MAX_OFFSET_SECONDS:
        return None
    return round(v, 2)


def clean_turn(item: dict[str, Any]) -> dict[str, Any]:
    """The stored form of one reported turn: role, text, at, and when the worker measured
    them, start/end offsets (seconds from the start of the call) and ``interrupted``."""
    role = "agent" if item.get("role") == "assistant" else item.get("role")
    turn: dict[str, Any] = {
        "role": role,
        "text": str(item.get("text") or "")[:4000],
        "at": item.get("at") if isinstance(item.get("at"), str) else None,
    }
    start, end = _offset(item.get("start")), _offset(item.get("end"))
    if start is not None:
        turn["start"] = start
    if end is not None and (start is None or end >= start):
        turn["end"] = end
    if item.get("interrupted") is True:
        turn["interrupted"] = True
    return turn


def turns_out(transcript: list | None) -> list[TurnOut]:
    out: list[TurnOut] = []
    for t in transcript or []:
        if not isinstance(t, dict) or t.get("role") not in ("agent", "user", "assistant"):
            continue
        out.append(
            TurnOut(
                index=len(out),
                speaker="lead" if t["role"] == "user" else "agent",
                text=str(t.get("text") or ""),
                start=t.get("start"),
                end=t.get("end"),
                interrupted=bool(t.get("interrupted")),
                at=t.get("at"),
            )
        )
    return out


async def transcript(
    session: AsyncSession, settings: Settings, call_id: str, user: User
) -> TranscriptOut:
    call = await owned_call(session, call_id, user)
    days = effective_retention_days(settings, await get_record_settings(session, user.id))
    if is_expired(call, days):
        state, turns = "expired", []
    else:
        turns = turns_out(call.transcript)
        state = "available" if call.transcript is not None else "pending"
    return TranscriptOut(
        call_id=call.id,
        status=call.status,
        state=state,
        language=call.language,
        started_at=call.started_at,
        ended_at=call.ended_at,
        duration_seconds=call.duration_seconds,
        turns=turns,
        interruptions=sum(1 for t in turns if t.interrupted),
        retained_until=retained_until(call, days),
    )


# --- latency -------------------------------------------------------------------------------


async def record_metrics(session: AsyncSession, call: Call, data: dict[str, Any]) -> dict:
    """The worker's ``metrics`` report: per-turn latency samples of the call (replaces any
    earlier report for the call: the worker sends the whole call at its end)."""
    raw = data.get("samples")
    if not isinstance(raw, dict):
        raise BadRequest("metrics needs samples: {kind: [milliseconds]}")
    samples = {kind: latency.clean_samples(raw.get(kind)) for kind in latency.KINDS}
    try:
        interruptions = max(0, min(10_000, int(data.get("interruptions") or 0)))
        turns = max(0, min(10_000, int(data.get("turns") or 0)))
    except (TypeError, ValueError):
        raise BadRequest("interruptions and turns must be integers") from None
    now = clock.now()
    row = await session.get(CallMetrics, call.id)
    if row is None:
        row = CallMetrics(call_id=call.id, user_id=call.user_id, created_at=now)
        session.add(row)
    row.samples = samples
    row.summary = {kind: latency.summarize(values) for kind, values in samples.items()}
    row.interruptions = interruptions
    row.turns = turns
    row.updated_at = now
    await session.flush()
    funnel.turn_latency(samples)
    if call.user_id is not None:
        from nova.records import analytics

        await analytics.mark_dirty(session, call)
    return {"turns": turns, "samples": sum(len(v) for v in samples.values())}


async def call_latency(session: AsyncSession, call_id: str, user: User) -> CallLatencyOut:
    call = await owned_call(session, call_id, user)
    row = await session.get(CallMetrics, call.id)
    summary = row.summary if row is not None else {}

    def part(kind: str) -> LatencySummary:
        return LatencySummary(**(summary.get(kind) or {"n": 0}))

    return CallLatencyOut(
        call_id=call.id,
        state="available" if row is not None else "pending",
        turns=row.turns if row is not None else 0,
        interruptions=row.interruptions if row is not None else 0,
        eou_delay_ms=part("eou_delay_ms"),
        llm_ttft_ms=part("llm_ttft_ms"),
        tts_ttfb_ms=part("tts_ttfb_ms"),
        e2e_ms=part("e2e_ms"),
    )


# --- analysis ------------------------------------------------------------------------------


async def call_analysis(
    session: AsyncSession, settings: Settings, call_id: str, user: User
) -> AnalysisOut:
    call = await owned_call(session, call_id, user)
    rs = await get_record_settings(session, user.id)
    row = await session.get(CallAnalysis, call.id)
    base = {
        "call_id": call.id,
        "outcome": call.outcome,
        "goal_completed": call.goal_completed,
        "data": None,
        "schema_version": None,
        "model": None,
        "analyzed_at": None,
        "error": None,
    }
    if is_expired(call, effective_retention_days(settings, rs)):
        return AnalysisOut(status="expired", **base)
    if row is None:
        configured = rs is not None and bool(rs.analysis_schema)
        return AnalysisOut(status="pending" if configured else "not_configured", **base)
    return AnalysisOut(
        **{
            **base,
            "status": row.status,
            "data": row.data,
            "schema_version": row.schema_version,
            "model": row.model,
            "analyzed_at": row.analyzed_at,
            "error": row.last_error if row.status != "done" else None,
        }
    )


# --- retention -----------------------------------------------------------------------------


async def _purge(where: Any, batch: int) -> int:
    """Forget the transcripts (SQL NULL: a purged row never matches again) and analyses of
    the calls matching ``where``, ``batch`` calls per short transaction."""
    from nova.core.db import session_scope

    total = 0
    while True:
        async with session_scope() as session:
            ids = list(
                (
                    await session.execute(
                        select(Call.id).where(where, Call.transcript.is_not(None)).limit(batch)
                    )
                ).scalars()
            )
            if ids:
                await session.execute(
                    update(Call)
                    .where(Call.id.in_(ids))
                    .values(transcript=null())
                    .execution_options(synchronize_session=False)
                )
                await session.execute(delete(CallAnalysis).where(CallAnalysis.call_id.in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            return total


async def _purge_recordings(settings: Settings, where: Any, batch: int) -> int:
    """Delete the recordings (objects, then rows marked deleted) of the calls matching
    ``where``; a storage error leaves the rest for the next run."""
    from nova.core.db import session_scope
    from nova.models.records import CallRecording
    from nova.records.recordings import delete_recording

    total = 0
    while True:
        async with session_scope() as session:
            rows = list(
                (
                    await session.execute(
                        select(CallRecording)
                        .join(Call, Call.id == CallRecording.call_id)
                        .where(where, CallRecording.status != "deleted")
                        .limit(batch)
                    )
                ).scalars()
            )
            for row in rows:
                await delete_recording(settings, row)
        total += len(rows)
        if len(rows) < batch:
            return total


async def _purge_all(settings: Settings, where: Any, batch: int) -> int:
    purged = await _purge(where, batch)
    if settings.recordings_configured:  # without storage settings there is nothing to reach
        purged += await _purge_recordings(settings, where, batch)
    return purged


async def purge_expired(settings: Settings, *, batch: int = 500) -> int:
    """Delete transcripts, analyses and recordings older than each account's retention
    period (the server default for accounts without their own, and for anonymous demo
    calls). Returns how many calls had something deleted (transcripts + recordings)."""
    from nova.core.db import session_scope

    now = clock.now()
    async with session_scope() as session:
        custom = list(
            (
                await session.execute(
                    select(RecordSettings.retention_days)
                    .where(RecordSettings.retention_days.is_not(None))
                    .distinct()
                )
            ).scalars()
        )
    total = 0
    has_custom = select(RecordSettings.user_id).where(RecordSettings.retention_days.is_not(None))
    for days in custom:
        if days <= 0:
            continue
        accounts = select(RecordSettings.user_id).where(RecordSettings.retention_days == days)
        where = and_(Call.user_id.in_(accounts), Call.created_at < now - timedelta(days=days))
        total += await _purge_all(settings, where, batch)
    days = settings.call_record_retention_days
    if days > 0:
        where = and_(
            or_(Call.user_id.is_(None), Call.user_id.not_in(has_custom)),
            Call.created_at < now - timedelta(days=days),
        )
        total += await _purge_all(settings, where, batch)
    return total
