"""Calls: validate a batch, build per-lead briefs, dispatch one LiveKit agent per lead.

``place_calls`` is the one entry point, usable outside HTTP (e.g. a portal lead handled in
the background)::

    response = await place_calls(session, settings, CallBatchRequest(...), user, client_ip=None)

It never commits (the caller's unit of work does) and keeps the caller's transaction short:
the website fetch and the briefs (the slow, networked part) run before the first statement,
so no database lock is held while an LLM thinks. Then: the minute check for accounts (402,
the account row stays locked until the caller commits), one LiveKit room + agent dispatch
per lead (concurrently; a failure marks only that lead ``failed``), and, in the caller's
transaction, the Call + CallContext rows, the minute holds of the dispatched calls and
their ``call.started`` events.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from datetime import datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError
from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nova.billing import metering
from nova.calls.briefs import BriefResult, generate_briefs
from nova.calls.schemas import (
    GOALS,
    MAX_LEADS,
    BatchCallResponse,
    CallBatchRequest,
    CallOut,
    CallStatusOut,
    ContextOut,
    TokenRequest,
    TokenResponse,
)
from nova.calls.scrape import ScrapeResult, check_website_url, fetch_site
from nova.core import clock, netguard
from nova.core.db import autocommit_engine, insert_at_once, is_postgres, sessionmaker
from nova.core.errors import BadRequest, Conflict, Forbidden, NotFound, NovaError, Unauthorized
from nova.core.events import event_rows, insert_events, wake_pump
from nova.core.settings import Settings
from nova.models.base import new_id
from nova.models.calls import Call, CallContext
from nova.models.events import Event, Task
from nova.models.user import User
from nova.models.worker import DoNotCall
from nova.records.recordings import with_notice
from nova.telephony import livekit
from nova.telephony.metadata import DispatchMetadata, Lead
from nova.telephony.routing import plan_calls

log = logging.getLogger("nova.calls")

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DEFAULT_COLLECT_FIELDS = ["name", "email", "company", "role", "timeline"]
MSG_DISPATCHED = "Call dispatched successfully"
MSG_FAILED = "Call could not be dispatched"


class TelephonyUnavailable(NovaError):
    """LiveKit is not configured on this server (POST /token answers 500)."""

    status_code = 500


# --- validation -----------------------------------------------------------------------------


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _error_text(err: dict[str, Any]) -> str:
    loc = tuple(p for p in err.get("loc", ()) if p not in ("body",))
    where = _loc(loc)
    kind = err.get("type", "")
    if where == "consent" and kind == "missing":
        return "consent is required: set consent to true to confirm you have permission to contact these numbers"
    if where == "consent":
        return "consent must be the boolean true"
    if kind == "missing":
        return f"{where} is required"
    if where == "goal":
        return f"goal must be one of: {', '.join(GOALS)}"
    if where == "language":
        return "language must be 'en' or 'ar-AE'"
    if where == "leads" and kind == "list_type":
        return "leads must be an array of 1-5 lead objects"
    if kind == "model_type" or kind == "dict_type":
        return f"{where} must be an object"
    if kind == "string_type":
        return f"{where} must be a string"
    if kind == "string_too_long":
        limit = (err.get("ctx") or {}).get("max_length")
        return f"{where} is too long (at most {limit} characters)"
    return f"{where}: {err.get('msg', 'invalid value')}"


def parse_batch(raw: Any) -> CallBatchRequest:
    """The request model, or a 400 naming every field problem."""
    if not isinstance(raw, dict):
        raise BadRequest("Request body must be a JSON object")
    try:
        return CallBatchRequest.model_validate(raw)
    except ValidationError as exc:
        messages = list(dict.fromkeys(_error_text(e) for e in exc.errors()))
        raise BadRequest("; ".join(messages)) from None


# Validation is pure (no DNS lookups), costs ~0.1 ms per address or number, and the same
# owner email and lead phones come back batch after batch, and once more when
# ``place_calls`` re-validates a batch the router already checked: remember recent answers.
@functools.lru_cache(maxsize=4096)
def _email_is_valid(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _check_email(value: str, where: str) -> None:
    if not _email_is_valid(value):
        raise BadRequest(f"{where} is not a valid email address")


def _check_link(value: str | None, where: str) -> None:
    if value is None:
        return
    try:
        netguard.check_url(value, schemes=("https", "http"))
    except netguard.UnsafeTarget as exc:
        raise BadRequest(f"{where} must be a public http(s) URL: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _e164(phone: str) -> str | None:
    """The canonical E.164 form of a valid number, None when it is not valid."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(phone: str, where: str) -> str:
    if not E164.match(phone):
        raise BadRequest(
            f"{where} {phone!r} is not in E.164 format (a '+', the country code and the "
            "number, no spaces, e.g. +971501234567)"
        )
    normalized = _e164(phone)
    if normalized is None:
        raise BadRequest(f"{where} {phone!r} is not a valid phone number")
    return normalized


def validate_batch(settings: Settings, req: CallBatchRequest) -> None:
    """Every rule of the reference, each with a precise 400. Normalises phones in place."""
    if req.consent is not True:
        raise BadRequest(
            "consent must be true: confirm you have permission to contact these numbers"
        )
    if not req.leads:
        raise BadRequest("leads must contain at least one lead")
    if len(req.leads) > MAX_LEADS:
        raise BadRequest(f"Too many leads: at most {MAX_LEADS} per batch, got {len(req.leads)}")
    seen: dict[str, int] = {}
    for i, lead in enumerate(req.leads):
        phone = normalize_phone(lead.phone, f"leads[{i}].phone")
        if phone in seen:
            raise BadRequest(
                f"Duplicate phone: leads[{i}].phone {phone} is already used by leads[{seen[phone]}]"
            )
        seen[phone] = i
        lead.phone = phone
        if lead.email:
            _check_email(lead.email, f"leads[{i}].email")
    if not req.product:
        raise BadRequest("product is required")
    _check_email(req.owner_email, "owner_email")
    if req.goal == "book_meeting" and not req.booking_link:
        raise BadRequest("booking_link is required when goal is book_meeting")
    if req.goal == "close_sale" and not req.payment_link:
        raise BadRequest("payment_link is required when goal is close_sale")
    _check_link(req.booking_link, "booking_link")
    _check_link(req.payment_link, "payment_link")
    if req.website_url:
        try:
            check_website_url(settings, req.website_url)
        except netguard.UnsafeTarget as exc:
            raise BadRequest(f"website_url is not allowed: {exc}") from None


# --- helpers --------------------------------------------------------------------------------


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def expires_in(settings: Settings, created_at: datetime) -> float:
    age = (clock.now() - created_at).total_seconds()
    return round(max(0.0, settings.call_job_ttl_seconds - age), 3)


def _expired(settings: Settings, created_at: datetime) -> bool:
    return (clock.now() - created_at).total_seconds() >= settings.call_job_ttl_seconds


def _collect_fields(req: CallBatchRequest) -> list[str]:
    if req.goal != "collect_info":
        return []
    if req.goal_criteria:
        fields = [f.strip() for f in re.split(r"[,;\n]", req.goal_criteria) if f.strip()]
        if fields:
            return fields[:20]
    return list(DEFAULT_COLLECT_FIELDS)


def _source_note(result: BriefResult, site: ScrapeResult | None) -> str | None:
    notes = [result.note] if result.note else []
    if site is not None and site.error:
        notes.append(f"website not used: {site.error}")
    return "; ".join(notes)[:500] or None


# --- placing calls --------------------------------------------------------------------------


async def _dispatch(settings: Settings, meta: DispatchMetadata) -> livekit.Dispatch | str:
    """The dispatch, or the error that marks this lead failed."""
    if meta.mode == "sip" and not meta.sip_trunk_id:
        return (
            "SIP dialing is enabled (NOVA_DIAL_MODE=sip) but no outbound trunk is configured "
            "(NOVA_SIP_OUTBOUND_TRUNK_ID)"
        )
    try:
        return await livekit.dispatch_agent(settings, meta)
    except (livekit.TelephonyNotConfigured, livekit.DispatchFailed) as exc:
        return str(exc)


async def precheck_minutes(settings: Settings, user: User, leads: int) -> None:
    """Early 402 (before any LLM spend): a dry-run reservation in a throwaway transaction
    that is always rolled back. Only for callers whose own session has not started a
    transaction yet (the HTTP path); ``place_calls`` makes the authoritative check."""
    async with sessionmaker()() as s:
        try:
            await metering.reserve(
                s, user.id, [new_id() for _ in range(leads)], settings.reserve_minutes_per_call * 60
            )
        finally:
            await s.rollback()


async def _opted_out() -> str:
    return "The lead opted out of calls from this account (do-not-call list)"


# Built once: constructing the expression costs more CPU than running it on SQLite.
_DO_NOT_CALL = select(DoNotCall.phone).where(
    DoNotCall.owner_id == bindparam("owner"),
    DoNotCall.phone.in_(bindparam("phones", expanding=True)),
)


async def do_not_call_phones(
    session: AsyncSession | AsyncConnection, phones: list[str], user: User | None
) -> set[str]:
    """Phones in the batch that asked this account (or anonymous demos) not to call again."""
    rows = await session.execute(_DO_NOT_CALL, {"owner": user.id if user else "", "phones": phones})
    return set(rows.scalars())


async def place_calls(
    session: AsyncSession,
    settings: Settings,
    request: CallBatchRequest,
    user: User | None,
    *,
    client_ip: str | None = None,
    single_statement: bool = False,
) -> BatchCallResponse:
    """Validate, brief and dispatch a batch (see the module docstring). Raises 400/401/402.

    ``single_statement`` (the caller has nothing else to write in ``session``): on
    PostgreSQL an anonymous batch then needs no transaction: the do-not-call read and one
    statement writing every row (contexts, calls, events, their tasks) on autocommit
    connections, 2 round trips instead of 6."""
    validate_batch(settings, request)
    if settings.feature_calls_auth_required and user is None:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'")
    # Slow, networked, no database: the website once per batch, then every brief at once.
    site = await fetch_site(settings, request.website_url) if request.website_url else None
    briefs = await generate_briefs(settings, request, site)

    batch_id = new_id()
    call_ids = [new_id() for _ in request.leads]
    reserve_seconds = settings.reserve_minutes_per_call * 60 if user is not None else 0
    if user is not None:
        # Lock the account for the whole transaction, then check that the full batch fits
        # (402) inside a savepoint that is rolled back: minutes are held below only for the
        # leads whose dispatch succeeds, so a failed lead never keeps a hold.
        await metering.get_account(session, user.id, for_update=True)
        nested = await session.begin_nested()
        try:
            await metering.reserve(session, user.id, call_ids, reserve_seconds)
        finally:
            await nested.rollback()
    plan = await plan_calls(
        session, settings, user, n_leads=len(call_ids), reserve_seconds=reserve_seconds
    )
    mode = plan.mode

    now = clock.now()
    settings_snapshot = request.model_dump(
        include={
            "website_url",
            "context",
            "booking_link",
            "payment_link",
            "pricing_summary",
            "urgency_hook",
            "goal_criteria",
            "owner_email",
        },
        exclude_none=True,
    )
    # Rows are plain dicts written with two Core INSERTs below: building SQLModel objects
    # and flushing them through the ORM unit of work cost more CPU than the rest of the
    # request's database work. Columns not named here take their column defaults.
    user_id = user.id if user else None
    collect_fields = _collect_fields(request)
    report_url = settings.public_url.rstrip("/") + "/internal/worker"
    contexts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    metas: list[DispatchMetadata] = []
    for lead, call_id, result in zip(request.leads, call_ids, briefs, strict=True):
        brief = result.brief
        if plan.record:  # the opening line announces the recording
            brief = with_notice(brief, request.language)
        context_id = new_id()
        room = livekit.room_name_for(context_id)
        contexts.append(
            {
                "id": context_id,
                "user_id": user_id,
                "batch_id": batch_id,
                "product": request.product,
                "goal": request.goal,
                "language": request.language,
                "lead": lead.model_dump(exclude_none=True),
                "request": settings_snapshot,
                "source": result.source,
                "source_note": _source_note(result, site),
                "created_at": now,
                **brief.model_dump(),
            }
        )
        calls.append(
            {
                "id": call_id,
                "user_id": user_id,
                "batch_id": batch_id,
                "context_id": context_id,
                "phone": lead.phone,
                "lead_name": lead.name,
                "owner_email": request.owner_email,
                "goal": request.goal,
                "language": request.language,
                "mode": mode,
                "status": "pending",
                "error": None,
                "message": None,
                "room_name": room,
                "dispatch_id": None,
                "started_at": None,
                "reserved_seconds": 0,
                "created_at": now,
            }
        )
        metas.append(
            DispatchMetadata(
                call_id=call_id,
                context_id=context_id,
                room_name=room,
                mode=mode,
                goal=request.goal,
                language=request.language,
                product=request.product,
                lead=Lead(**lead.model_dump()),
                brief=brief,
                booking_link=request.booking_link,
                payment_link=request.payment_link,
                collect_fields=collect_fields,
                max_duration_seconds=plan.max_duration_seconds,
                sip_trunk_id=plan.sip_trunk_id,
                caller_id=plan.caller_id,
                voice_id=plan.voice_id,
                llm_model=plan.llm_model,
                report_url=report_url,
            )
        )
    # Dispatch before writing the rows: an anonymous batch then holds no database lock
    # while LiveKit answers (on SQLite every transaction is the single writer). The worker
    # reads its brief from the dispatch metadata, not from these rows.
    one_write = single_statement and user is None and is_postgres(session)
    phones = [m.lead.phone for m in metas]
    if one_write:
        async with autocommit_engine().connect() as conn:
            blocked = await do_not_call_phones(conn, phones, user)
    else:
        blocked = await do_not_call_phones(session, phones, user)
    outcomes = await asyncio.gather(
        *(_opted_out() if m.lead.phone in blocked else _dispatch(settings, m) for m in metas)
    )

    started = clock.now()
    dispatched: list[dict[str, Any]] = []
    for call, outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, str):
            call.update(status="failed", error=outcome[:1000], message=MSG_FAILED)
        else:
            call.update(
                status="in_progress",
                dispatch_id=outcome.dispatch_id,
                started_at=started,
                message=MSG_DISPATCHED,
                reserved_seconds=reserve_seconds,
            )
            dispatched.append(call)
    events: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    for call in dispatched:
        event, queued = event_rows(
            "call.started",
            {
                "call_id": call["id"],
                "customer_id": call["user_id"],
                "context_id": call["context_id"],
                "room_name": call["room_name"],
                "mode": call["mode"],
                "goal": call["goal"],
                "to_phone_e164": call["phone"],
                "started_at": _iso(started),
            },
        )
        events.append(event)
        tasks.extend(queued)
    if one_write:
        async with autocommit_engine().connect() as conn:
            await insert_at_once(
                conn,
                [
                    (CallContext.__table__, contexts),  # type: ignore[attr-defined]
                    (Call.__table__, calls),  # type: ignore[attr-defined]
                    (Event.__table__, events),  # type: ignore[attr-defined]
                    (Task.__table__, tasks),  # type: ignore[attr-defined]
                ],
            )
        if tasks:
            wake_pump()
    else:
        # Contexts first (calls.context_id references them).
        await session.execute(insert(CallContext.__table__), contexts)
        await session.execute(insert(Call.__table__), calls)
        if user is not None and dispatched:
            await metering.reserve(session, user.id, [c["id"] for c in dispatched], reserve_seconds)
        await insert_events(session, events, tasks)
    log.info(
        "batch %s: %d lead(s), %d dispatched, mode=%s, ip=%s",
        batch_id,
        len(calls),
        len(dispatched),
        mode,
        client_ip,
    )
    expires = expires_in(settings, now)
    out = [
        CallOut(
            call_id=c["id"],
            context_id=c["context_id"],
            phone=c["phone"],
            lead_name=c["lead_name"],
            status=c["status"],
            expires_in_seconds=expires,
            message=c["message"] or "",
            room_name=c["room_name"],
            error=c["error"],
        )
        for c in calls
    ]
    return BatchCallResponse(
        calls=out,
        total=len(out),
        dispatched=len(dispatched),
        failed=len(out) - len(dispatched),
    )


# --- reads ----------------------------------------------------------------------------------


async def get_call_job(session: AsyncSession, settings: Settings, call_id: str) -> CallStatusOut:
    call = await session.get(Call, call_id)
    if call is None or _expired(settings, call.created_at):
        raise NotFound("Call not found or expired")
    return CallStatusOut(
        call_id=call.id,
        status=call.status,  # type: ignore[arg-type]
        phone=call.phone,
        sms_sent=call.sms_sent,
        error=call.error,
        expires_in_seconds=expires_in(settings, call.created_at),
    )


async def get_context(session: AsyncSession, settings: Settings, context_id: str) -> ContextOut:
    ctx = await session.get(CallContext, context_id)
    if ctx is None or _expired(settings, ctx.created_at):
        raise NotFound("Context not found or expired")
    call_id = await session.scalar(select(Call.id).where(Call.context_id == ctx.id))
    return ContextOut(
        context_id=ctx.id,
        call_id=call_id,
        room_name=livekit.room_name_for(ctx.id),
        product=ctx.product,
        goal=ctx.goal,
        language=ctx.language,
        lead=ctx.lead,
        agent_instructions=ctx.agent_instructions,
        opening_line=ctx.opening_line,
        qualification_questions=ctx.qualification_questions,
        objection_handlers=ctx.objection_handlers,
        closing_script=ctx.closing_script,
        product_facts=ctx.product_facts,
        source=ctx.source,
        source_note=ctx.source_note,
        created_at=_iso(ctx.created_at),
        expires_in_seconds=expires_in(settings, ctx.created_at),
    )


async def issue_token(
    session: AsyncSession, settings: Settings, req: TokenRequest
) -> TokenResponse:
    """A browser test-caller token, only for a live demo room that Nova created."""
    if not settings.livekit_configured:
        raise TelephonyUnavailable(
            "LiveKit is not configured on this server (set LIVEKIT_URL, LIVEKIT_API_KEY and "
            "LIVEKIT_API_SECRET)"
        )
    if not req.room_name and not req.context_id:
        raise BadRequest("room_name or context_id is required")
    room = req.room_name or livekit.room_name_for(req.context_id or "")
    if req.room_name and req.context_id and req.room_name != livekit.room_name_for(req.context_id):
        raise BadRequest("room_name and context_id refer to different rooms")
    call = (
        await session.execute(select(Call).where(Call.room_name == room).limit(1))
    ).scalar_one_or_none()
    if call is None or _expired(settings, call.created_at):
        raise NotFound("Room not found: tokens are only issued for rooms Nova created")
    if call.mode != "demo":
        raise Forbidden("Tokens are only issued for browser demo rooms")
    if call.status == "failed":
        raise Conflict(f"This call failed to dispatch: {call.error}")
    if call.status == "completed":
        raise Conflict("This call has already ended")
    identity = f"test-caller-{new_id()[:8]}"
    token = livekit.participant_token(settings, room, identity, req.participant_name)
    return TokenResponse(
        server_url=livekit.browser_url(settings), participant_token=token, room_name=room
    )
