"""Scoring calls and reading scores. Never commits on behalf of a request: the request's
session dependency does that. The scoring task is the one exception, documented there."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.errors import Forbidden, NotFound, Unauthorized
from nova.core.events import emit, enqueue
from nova.core.settings import Settings
from nova.models.calls import Call, CallContext
from nova.models.quality import CallScore
from nova.models.user import User
from nova.quality.judge import (
    NOT_CONFIGURED,
    JudgeError,
    judge_configured,
    judge_transcript,
)
from nova.quality.schemas import CallQualityOut, QualityScore

log = logging.getLogger("nova.quality")

SCORE_TASK = "quality.score"


def _iso(dt: Any) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt is not None else None


async def pending_scores(session: AsyncSession) -> int:
    """How many calls wait for their score."""
    n = await session.scalar(
        select(func.count()).select_from(CallScore).where(CallScore.status == "pending")
    )
    return int(n or 0)


async def get_score_row(session: AsyncSession, call_id: str) -> CallScore | None:
    return (
        await session.execute(select(CallScore).where(CallScore.call_id == call_id))
    ).scalar_one_or_none()


async def ensure_score_row(session: AsyncSession, call_id: str) -> CallScore:
    """The call's score row, created pending when missing (safe under concurrency)."""
    row = await get_score_row(session, call_id)
    if row is not None:
        return row
    now = clock.now()
    row = CallScore(call_id=call_id, created_at=now, updated_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        row = await get_score_row(session, call_id)
        assert row is not None
    return row


def _task_payload(call: Call, transcript: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"call_id": call.id}
    # The call row is the source of truth; carry the event's transcript only when the
    # row has none (so the task never depends on event ordering).
    if not call.transcript and transcript:
        payload["transcript"] = transcript
    return payload


async def queue_scoring(
    session: AsyncSession, settings: Settings, call_id: str, transcript: Any = None
) -> CallScore | None:
    """Record a pending score for the call and queue the judge (when one is configured)."""
    call = await session.get(Call, call_id)
    if call is None:
        log.warning("quality: call.transcribed for unknown call %s ignored", call_id)
        return None
    row = await ensure_score_row(session, call.id)
    if row.status != "pending":
        return row
    if not judge_configured(settings):
        if row.last_error != NOT_CONFIGURED:
            log.warning("quality: call %s not scored: %s", call.id, NOT_CONFIGURED)
        row.last_error = NOT_CONFIGURED
        row.updated_at = clock.now()
        return row
    await enqueue(
        session,
        SCORE_TASK,
        _task_payload(call, transcript),
        dedupe_key=f"{call.id}:{row.attempts + 1}",
    )
    return row


def retry_delay(settings: Settings, attempt: int) -> float:
    delays = settings.quality_retry_delays or [60.0]
    return float(delays[min(attempt - 1, len(delays) - 1)])


async def score_call(session: AsyncSession, settings: Settings, payload: dict[str, Any]) -> None:
    """The ``quality.score`` task: one judge attempt for one call.

    The attempt is committed *before* the judge is called, so no transaction (and, on
    SQLite, no write lock) is held across the provider round trip; the outcome and the
    ``call.scored`` event are written afterwards in the task's own transaction. Failed
    attempts queue the next one with backoff until ``quality_max_attempts``, then the score
    is marked failed with the reason.
    """
    call_id = str(payload.get("call_id", ""))
    call = await session.get(Call, call_id)
    if call is None:
        log.warning("quality: scoring task for unknown call %s dropped", call_id)
        return
    row = await ensure_score_row(session, call.id)
    if row.status != "pending":
        return
    if not judge_configured(settings):
        row.last_error = NOT_CONFIGURED
        row.updated_at = clock.now()
        log.warning("quality: call %s not scored: %s", call.id, NOT_CONFIGURED)
        return
    context = await session.get(CallContext, call.context_id) if call.context_id else None
    transcript = call.transcript or payload.get("transcript") or []
    goal, language = call.goal, call.language
    product = context.product if context is not None else None
    customer_id = call.user_id
    row.attempts += 1
    row.updated_at = clock.now()
    attempt = row.attempts
    await session.commit()

    try:
        score = await judge_transcript(
            settings, transcript, goal=goal, product=product, language=language
        )
    except JudgeError as exc:
        reason = str(exc)[:1000]
        row.last_error = reason
        row.updated_at = clock.now()
        if not exc.retryable or attempt >= settings.quality_max_attempts:
            row.status = "failed"
            log.error(
                "quality: scoring call %s failed after %d attempt(s): %s", call_id, attempt, reason
            )
            return
        delay = retry_delay(settings, attempt)
        log.warning(
            "quality: scoring call %s attempt %d failed (%s), retrying in %.0fs",
            call_id,
            attempt,
            reason,
            delay,
        )
        await enqueue(
            session,
            SCORE_TASK,
            payload,
            delay=delay,
            dedupe_key=f"{call_id}:{attempt + 1}",
        )
        return

    now = clock.now()
    data = score.model_dump(mode="json")
    done = await session.execute(
        update(CallScore)
        .where(CallScore.id == row.id, CallScore.status == "pending")
        .values(
            status="scored",
            score=data,
            overall=score.overall,
            rubric_version=score.rubric_version,
            judge_model=score.judge_model,
            last_error=None,
            scored_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount == 0:  # another attempt got there first
        return
    await emit(
        session,
        "call.scored",
        {"call_id": call_id, "customer_id": customer_id, "scored_at": _iso(now), "score": data},
    )
    log.info("quality: call %s scored %d (%s)", call_id, score.overall, score.judge_model)


async def requeue_unconfigured(session: AsyncSession, settings: Settings, limit: int = 500) -> int:
    """Queue scoring for calls left pending because no judge was configured (runs on a
    schedule, so configuring an LLM later scores the backlog)."""
    if not judge_configured(settings):
        return 0
    rows = (
        (
            await session.execute(
                select(CallScore)
                .where(CallScore.status == "pending", CallScore.last_error == NOT_CONFIGURED)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    for row in rows:
        row.last_error = "queued: judge configured"
        row.updated_at = clock.now()
        await enqueue(session, SCORE_TASK, {"call_id": row.call_id})
    return len(rows)


async def call_quality(session: AsyncSession, call_id: str, user: User | None) -> CallQualityOut:
    """``GET /api/calls/{id}/quality``: owner only for an account's call (401 anonymous,
    403 another account), anyone with the id for an anonymous demo call."""
    call = await session.get(Call, call_id)
    if call is None:
        raise NotFound("Call not found")
    if call.user_id is not None:
        if user is None:
            raise Unauthorized("Not authenticated")
        if user.id != call.user_id:
            raise Forbidden("You do not own this call")
    row = await get_score_row(session, call.id)
    if row is None or row.status != "scored" or row.score is None:
        return CallQualityOut(
            call_id=call.id,
            status=row.status if row is not None else "pending",
            scored_at=None,
            score=None,
        )
    return CallQualityOut(
        call_id=call.id,
        status=row.status,
        scored_at=row.scored_at,
        score=QualityScore.model_validate(
            {"judge_model": row.judge_model, "rubric_version": row.rubric_version, **row.score}
        ),
    )
