"""The account's durable call history (``/v1/calls``): what the web app and MCP clients
list and open after the 10-minute job view of ``GET /calls/{id}`` has expired."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from nova.api.deps import CurrentUser, SessionDep
from nova.api.params import Offset
from nova.core.errors import NotFound
from nova.models.calls import Call

router = APIRouter(tags=["calls"])


class TranscriptTurn(BaseModel):
    role: str
    text: str
    at: str | None = None


class CallRecord(BaseModel):
    call_id: str
    batch_id: str
    context_id: str
    room_name: str
    status: str
    phone: str
    lead_name: str | None
    goal: str
    language: str
    mode: str
    error: str | None
    outcome: str | None
    goal_completed: bool | None
    duration_seconds: int | None
    sms_sent: bool
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    transcript: list[TranscriptTurn] | None = None


def _record(call: Call, *, with_transcript: bool) -> CallRecord:
    turns = None
    if with_transcript and call.transcript:
        turns = [
            TranscriptTurn(role=str(t.get("role", "")), text=str(t.get("text", "")), at=t.get("at"))
            for t in call.transcript
            if isinstance(t, dict)
        ]
    return CallRecord(
        call_id=call.id,
        batch_id=call.batch_id,
        context_id=call.context_id,
        room_name=call.room_name,
        status=call.status,
        phone=call.phone,
        lead_name=call.lead_name,
        goal=call.goal,
        language=call.language,
        mode=call.mode,
        error=call.error,
        outcome=call.outcome,
        goal_completed=call.goal_completed,
        duration_seconds=call.duration_seconds,
        sms_sent=call.sms_sent,
        created_at=call.created_at,
        started_at=call.started_at,
        ended_at=call.ended_at,
        transcript=turns,
    )


@router.get("/v1/calls", response_model=list[CallRecord])
async def list_calls(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(pattern="^(pending|in_progress|completed|failed)$")] = None,
):
    stmt = select(Call).where(Call.user_id == user.id)
    if status:
        stmt = stmt.where(Call.status == status)
    stmt = stmt.order_by(Call.created_at.desc(), Call.id).limit(limit).offset(offset)
    return [_record(c, with_transcript=False) for c in (await session.execute(stmt)).scalars()]


@router.get("/v1/calls/{call_id}", response_model=CallRecord)
async def get_call_record(call_id: str, user: CurrentUser, session: SessionDep):
    call = await session.get(Call, call_id)
    if call is None or call.user_id != user.id:
        raise NotFound("Call not found")
    return _record(call, with_transcript=True)
