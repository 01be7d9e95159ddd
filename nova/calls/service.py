"""Calls: validate a batch, write a brief per lead, place the calls through the dial pipeline.

``place_calls`` is the one entry point for a batch, usable outside HTTP (a portal lead is
placed by a background task the same way)::

    response = await place_calls(session, settings, CallBatchRequest(...), user, client_ip=None)

The story: validate (400) and the auth gate (401); the website once and every brief at once
(slow, networked, no database transaction open); the dial plan; then the dial pipeline
(``nova.calls.pipeline``: gate, hold minutes (402) and record, dispatch, record the
outcome), which commits ``session`` after the record and after the outcome so that no call
is ever dispatched without a durable record and no lock is held across a network call.
Storage is in ``nova.calls.repository``.
"""

from __future__ import annotations

import functools
import logging
import math
import uuid
from datetime import datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from nova import compliance
from nova.billing import metering
from nova.calls import pipeline, repository
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
from nova.compliance import gate
from nova.core import clock, netguard
from nova.core.db import is_postgres, sessionmaker
from nova.core.errors import BadRequest, Conflict, Forbidden, NotFound, NovaError, Unauthorized
from nova.core.phone import E164
from nova.core.settings import Settings
from nova.models.base import new_id
from nova.models.user import User
from nova.records.recordings import with_notice
from nova.telephony import livekit
from nova.telephony.routing import plan_calls

log = logging.getLogger("nova.calls")

MSG_DISPATCHED = pipeline.MSG_DISPATCHED
MSG_FAILED = pipeline.MSG_FAILED


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
    # Every lead's every problem in one answer, not the first one found.
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, lead in enumerate(req.leads):
        try:
            phone = normalize_phone(lead.phone, f"leads[{i}].phone")
        except BadRequest as exc:
            problems.append(exc.detail)
        else:
            if phone in seen:
                problems.append(
                    f"Duplicate phone: leads[{i}].phone {phone} is already used by leads[{seen[phone]}]"
                )
            seen.setdefault(phone, i)
            lead.phone = phone
        if lead.email and not _email_is_valid(lead.email):
            problems.append(f"leads[{i}].email is not a valid email address")
        try:
            compliance.check_lead(lead.timezone, lead.consent, f"leads[{i}]")
        except BadRequest as exc:
            problems.append(exc.detail)
    if problems:
        raise BadRequest("; ".join(problems))
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


def expires_in(settings: Settings, created_at: datetime) -> int:
    """Whole seconds left before the job view expires: rounded up, so a live job never
    reads 0 (the reference's example shows 600 for a job just created)."""
    age = (clock.now() - created_at).total_seconds()
    return max(0, math.ceil(settings.call_job_ttl_seconds - age))


def _expired(settings: Settings, created_at: datetime) -> bool:
    return (clock.now() - created_at).total_seconds() >= settings.call_job_ttl_seconds


def _recent(settings: Settings, created_at: datetime) -> bool:
    return (clock.now() - created_at).total_seconds() < settings.idempotency_ttl_seconds


def _source_note(result: BriefResult, site: ScrapeResult | None) -> str | None:
    notes = [result.note] if result.note else []
    if site is not None and site.error:
        notes.append(f"website not used: {site.error}")
    return "; ".join(notes)[:500] or None


async def precheck_minutes(settings: Settings, user: User, leads: int) -> None:
    """Early 402 (before any LLM spend): a dry-run reservation in a throwaway transaction
    that is always rolled back. Only for callers whose own session has not started a
    transaction yet (the HTTP path); the pipeline makes the authoritative check."""
    async with sessionmaker()() as s:
        try:
            await metering.reserve(
                s, user.id, [new_id() for _ in range(leads)], settings.reserve_minutes_per_call * 60
            )
        finally:
            await s.rollback()


# --- placing calls --------------------------------------------------------------------------


def batch_id_for(scope: str, key: str) -> str:
    """The batch id of a request carrying an idempotency key: a retry of the same request
    (after a crash, say) finds the batch it recorded instead of placing it again."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nova:calls:{scope}:{key}"))


def _prepare(
    request: CallBatchRequest,
    briefs: list[BriefResult],
    site: ScrapeResult | None,
    mode: str,
    user: User | None,
    batch_id: str,
    *,
    record: bool = False,
) -> list[pipeline.PreparedCall]:
    """The call and context rows of each lead (plain dicts, written with Core INSERTs:
    building SQLModel objects cost more CPU than the rest of the request's database work)."""
    now = clock.now()
    snapshot = request.model_dump(include=pipeline.SNAPSHOT_FIELDS, exclude_none=True)
    user_id = user.id if user else None
    prepared = []
    for lead, result in zip(request.leads, briefs, strict=True):
        brief = result.brief
        if record:  # the opening line announces the recording
            brief = with_notice(brief, request.language)
        context_id = new_id()
        context = {
            "id": context_id,
            "user_id": user_id,
            "batch_id": batch_id,
            "product": request.product,
            "goal": request.goal,
            "language": request.language,
            "lead": lead.model_dump(mode="json", exclude_none=True),
            "request": snapshot,
            "source": result.source,
            "source_note": _source_note(result, site),
            "created_at": now,
            **brief.model_dump(),
        }
        call = {
            "id": new_id(),
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
            "room_name": livekit.room_name_for(context_id),
            "dispatch_id": None,
            "started_at": None,
            "reserved_seconds": 0,
            "max_duration_seconds": None,
            "not_before": None,
            "created_at": now,
        }
        prepared.append(pipeline.PreparedCall(call, context))
    return prepared


def _response(settings: Settings, rows: list[dict[str, Any]]) -> BatchCallResponse:
    out = [
        CallOut(
            call_id=c["id"],
            context_id=c["context_id"],
            phone=c["phone"],
            lead_name=c["lead_name"],
            status=c["status"],
            expires_in_seconds=expires_in(settings, c["created_at"]),
            message=c["message"] or "",
            room_name=c["room_name"],
            error=c["error"],
        )
        for c in rows
    ]
    dispatched = sum(1 for c in out if c.status == "in_progress")
    failed = sum(1 for c in out if c.status == "failed")
    return BatchCallResponse(calls=out, total=len(out), dispatched=dispatched, failed=failed)


async def place_calls(
    session: AsyncSession,
    settings: Settings,
    request: CallBatchRequest,
    user: User | None,
    *,
    client_ip: str | None = None,
    single_statement: bool = False,
    batch_id: str | None = None,
    purpose: gate.Purpose = "calls",
) -> BatchCallResponse:
    """Validate, brief and place a batch through the dial pipeline (see the module
    docstring). Raises 400/401/402. With ``batch_id`` (an idempotency key's, a portal
    lead's), a batch already recorded under it is resumed and answered, not placed again.

    ``single_statement`` (the caller has nothing else to write in ``session``): an anonymous
    batch on PostgreSQL then reads and records on autocommit connections, one statement
    each (``repository``)."""
    validate_batch(settings, request)
    if settings.feature_calls_auth_required and user is None:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'")
    if batch_id is not None:
        earlier = await repository.batch_rows(session, batch_id)
        if earlier and _recent(settings, earlier[0].created_at):
            return await _resume_batch(session, settings, batch_id)
        if earlier:  # the key of a batch whose idempotency window has passed: a new batch
            batch_id = None
        await session.commit()  # end the read: no transaction stays open over the briefs
    # Slow, networked, no database: the website once per batch, then every brief at once.
    site = await fetch_site(settings, request.website_url) if request.website_url else None
    briefs = await generate_briefs(settings, request, site)

    reserve_seconds = settings.reserve_minutes_per_call * 60 if user is not None else 0
    plan = await plan_calls(
        session, settings, user, n_leads=len(request.leads), reserve_seconds=reserve_seconds
    )
    batch_id = batch_id or new_id()
    batch = _prepare(request, briefs, site, plan.mode, user, batch_id, record=plan.record)
    rows = await pipeline.place(
        session,
        settings,
        batch,
        plan,
        owner_id=user.id if user else None,
        reserve_seconds=reserve_seconds,
        purpose=purpose,
        fast=single_statement and user is None and is_postgres(session),
    )
    response = _response(settings, rows)
    log.info(
        "batch %s: %d lead(s), %d dispatched, mode=%s, ip=%s",
        batch_id,
        response.total,
        response.dispatched,
        plan.mode,
        client_ip,
    )
    return response


async def _resume_batch(
    session: AsyncSession, settings: Settings, batch_id: str
) -> BatchCallResponse:
    """A batch recorded before (its request is being retried): dispatch what is still
    pending, then answer with what happened to each call."""
    rows = await repository.batch_rows(session, batch_id)
    await pipeline.resume(session, settings, [c.id for c in rows])
    rows = await repository.batch_rows(session, batch_id)
    return _response(settings, [pipeline.row_of(c) for c in rows])


# --- reads ----------------------------------------------------------------------------------


async def get_call_job(session: AsyncSession, settings: Settings, call_id: str) -> CallStatusOut:
    call = await repository.get_call(session, call_id)
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
    found = await repository.get_context(session, context_id)
    if found is None or _expired(settings, found[0].created_at):
        raise NotFound("Context not found or expired")
    ctx, call = found
    lead = ctx.lead or {}
    return ContextOut(
        id=ctx.id,
        context_id=ctx.id,
        call_id=call.id if call else None,
        phone=lead.get("phone"),
        name=lead.get("name"),
        owner_email=call.owner_email if call else None,
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
    call = await repository.call_in_room(session, room)
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
