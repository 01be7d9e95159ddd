"""HTTP: transcripts, latency and analysis of one call, the account's record settings and
analytics across calls. Every route is owner-scoped (bearer token; another account's call
is 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from nova.api.deps import CurrentUser, SessionDep, SettingsDep
from nova.calls.schemas import GOALS
from nova.core.errors import BadRequest
from nova.records import analytics, recordings, service
from nova.records.schemas import (
    AnalysisOut,
    AnalyticsOut,
    CallLatencyOut,
    RecordSettingsIn,
    RecordSettingsOut,
    TranscriptOut,
)

router = APIRouter(tags=["call records"])

_NOT_FOUND = {404: {"description": "Call not found (or another account's)"}}


@router.get("/v1/calls/{call_id}/transcript", response_model=TranscriptOut, responses=_NOT_FOUND)
async def get_transcript(
    call_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    """The call's turns: speaker, text, start/end offsets, interruptions. Kept for the
    account's retention period (``state: expired`` after it)."""
    return await service.transcript(session, settings, call_id, user)


@router.get("/v1/calls/{call_id}/latency", response_model=CallLatencyOut, responses=_NOT_FOUND)
async def get_latency(call_id: str, user: CurrentUser, session: SessionDep):
    """Per-turn latency of the call as the worker measured it (end-of-utterance delay, LLM
    time to first token, TTS time to first byte, end to end), in milliseconds."""
    return await service.call_latency(session, call_id, user)


@router.get("/v1/calls/{call_id}/analysis", response_model=AnalysisOut, responses=_NOT_FOUND)
async def get_analysis(call_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep):
    """The fields extracted after the call with the account's analysis schema, next to the
    disposition the agent recorded."""
    return await service.call_analysis(session, settings, call_id, user)


@router.get(
    "/v1/calls/{call_id}/recording",
    response_model=recordings.RecordingOut,
    responses=_NOT_FOUND,
)
async def get_recording(
    call_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    """The call's recording: a presigned link valid ``NOVA_RECORDING_URL_TTL_SECONDS``
    once it is ready (``status`` not_recorded | starting | active | ready | failed |
    deleted)."""
    call = await service.owned_call(session, call_id, user)
    return await recordings.get_recording(session, settings, call)


@router.delete("/v1/calls/{call_id}/recording", status_code=204, responses=_NOT_FOUND)
async def delete_recording(
    call_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    """Delete the recording from storage now (the call record stays)."""
    await recordings.delete_for_owner(session, settings, call_id, user)
    return Response(status_code=204)


@router.post("/v1/livekit/webhook", include_in_schema=False)
async def livekit_webhook(request: Request, session: SessionDep, settings: SettingsDep):
    """LiveKit's own webhooks (egress and room events), verified with its signature."""
    body = await request.body()
    event = recordings.verify_webhook(settings, body, request.headers.get("Authorization"))
    return await recordings.handle_webhook(session, settings, event)


@router.get("/v1/records/settings", response_model=RecordSettingsOut)
async def get_record_settings(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    """Retention of transcripts and analyses, and the post-call analysis schema."""
    return service.settings_out(settings, await service.get_record_settings(session, user.id))


@router.put(
    "/v1/records/settings",
    response_model=RecordSettingsOut,
    responses={400: {"description": "Invalid analysis schema"}},
)
async def put_record_settings(
    body: RecordSettingsIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    """Set the retention period and/or the analysis schema (fields left out are kept;
    ``analysis_schema: null`` turns analysis off)."""
    return await service.put_record_settings(session, settings, user, body)


@router.get(
    "/v1/analytics",
    response_model=AnalyticsOut,
    responses={400: {"description": "Bad period (dates, order, longer than 366 days)"}},
)
async def get_analytics(
    user: CurrentUser,
    session: SessionDep,
    start: Annotated[str | None, Query(description="First day, YYYY-MM-DD (UTC)")] = None,
    end: Annotated[str | None, Query(description="Last day, YYYY-MM-DD (default today)")] = None,
    goal: Annotated[
        str | None,
        Query(description="Only calls with this goal", json_schema_extra={"enum": list(GOALS)}),
    ] = None,
):
    """Calls, connect rate, outcomes, goal completion, minutes, average quality and
    latency percentiles, by day and by goal (default: the last 30 days)."""
    if goal is not None and goal not in GOALS:
        raise BadRequest(f"goal must be one of {', '.join(GOALS)}")
    first, last = analytics.period(start, end)
    # Built as plain data and serialised once (the response model documents it).
    return JSONResponse(await analytics.analytics(session, user.id, first, last, goal))
