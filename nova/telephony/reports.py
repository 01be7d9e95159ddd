"""The control plane's side of the worker report protocol (see ``worker_protocol``).

``POST /internal/worker/{call_id}/events`` accepts signed reports from agent workers and
turns them into state and events:

- ``started``    → ``Call.started_at`` (status ``in_progress``)
- ``result``     → answers / verdict / collected fields merged into ``Call.result``
- ``sms``        → the booking/payment link sent to the lead by SMS (Twilio), ``Call.sms_sent``
- ``opt_out``    → the lead's number on the do-not-call list
- ``ended``      → status, ``ended_at``, duration, outcome, ``goal_completed``, reason; emits
                   ``call.ended``; queues the result brief e-mail to ``owner_email``
- ``transcript`` → ``Call.transcript``; emits ``call.transcribed``
- ``metrics``    → per-turn latency of the call (``nova.records``)

Every accepted report id is stored in the same transaction as its effects, so a replayed
report is refused (409) and nothing is ever recorded twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.api.deps import SessionDep, SettingsDep
from nova.core import clock
from nova.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unauthorized
from nova.core.errors import UpstreamError as BadGateway
from nova.core.events import emit, enqueue, task_handler
from nova.core.settings import Settings, get_settings
from nova.models.calls import Call
from nova.models.worker import DoNotCall, WorkerReport
from nova.records import funnel
from nova.records.service import clean_turn, record_metrics
from nova.telephony import worker_protocol as wp
from nova.telephony.sms import SmsFailed, SmsNotConfigured, send_sms

log = logging.getLogger("nova.worker_reports")

router = APIRouter(prefix="/internal/worker", tags=["internal"], include_in_schema=False)

RESULT_MAIL_TASK = "worker.result_brief_mail"
FAILED_OUTCOMES = {"busy", "no_answer", "failed"}
MAX_TRANSCRIPT_TURNS = 2000


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def verify_request(settings: Settings, body: bytes, headers) -> None:
    """401 unless the signature is valid and the timestamp is inside the skew window."""
    ts = headers.get(wp.TIMESTAMP_HEADER)
    sig = headers.get(wp.SIGNATURE_HEADER)
    if not ts or not sig:
        raise Unauthorized("Missing worker signature", headers={})
    try:
        ts_value = int(ts)
    except ValueError:
        raise Unauthorized("Invalid worker signature timestamp", headers={}) from None
    skew = abs(clock.now().timestamp() - ts_value)
    if skew > settings.worker_report_max_skew_seconds:
        raise Unauthorized("Worker report timestamp outside the allowed window", headers={})
    if not wp.verify(settings.worker_secret.get_secret_value(), body, ts, sig):
        raise Unauthorized("Invalid worker signature", headers={})


async def is_do_not_call(session: AsyncSession, phone: str, owner_id: str | None) -> bool:
    """True when ``phone`` opted out of calls from this account (``None`` = anonymous)."""
    row = await session.scalar(
        select(DoNotCall.id).where(DoNotCall.phone == phone, DoNotCall.owner_id == (owner_id or ""))
    )
    return row is not None


def ended_event_data(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "customer_id": call.user_id,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "duration_seconds": call.duration_seconds,
        "outcome": call.outcome,
        "goal": call.goal,
        "goal_completed": call.goal_completed,
        "to_phone_e164": call.phone,
    }


def _clean_transcript(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise BadRequest("transcript must be a list of {role, text, at}")
    turns: list[dict[str, Any]] = []
    for item in raw[:MAX_TRANSCRIPT_TURNS]:
        if not isinstance(item, dict) or item.get("role") not in ("agent", "user", "assistant"):
            raise BadRequest("transcript items need role agent|user and text")
        turns.append(clean_turn(item))
    return turns


async def _started(session: AsyncSession, call: Call, data: dict[str, Any]) -> dict:
    if call.started_at is None:
        call.started_at = clock.now()
    if call.status == "pending":
        call.status = "in_progress"
    return {"status": call.status}


async def _result(session: AsyncSession, call: Call, data: dict[str, Any]) -> dict:
    result = dict(call.result or {})
    for key in (
        "answers",
        "collected",
        "verdict",
        "notes",
        "outcome",
        "goal_completed",
        "transfer",
    ):
        if key in data:
            result[key] = data[key]
    call.result = result
    return {"ok": True}


async def _sms(session: AsyncSession, call: Call, data: dict[str, Any], settings: Settings) -> dict:
    url = str(data.get("url") or "")
    kind = data.get("link_kind")
    if kind not in ("booking", "payment") or not url.startswith(("https://", "http://")):
        raise BadRequest("sms needs link_kind booking|payment and an http(s) url")
    if call.sms_sent:
        return {"sms_sent": True, "already_sent": True}
    text = str(data.get("text") or "").strip()[:600] or (
        f"Here is your {'booking' if kind == 'booking' else 'payment'} link: {url}"
    )
    if url not in text:
        text = f"{text} {url}"
    try:
        sid = await send_sms(settings, call.phone, text)
    except SmsNotConfigured as exc:
        raise ServiceUnavailable(str(exc)) from exc
    except SmsFailed as exc:
        raise BadGateway(f"SMS could not be sent: {exc}") from exc
    call.sms_sent = True
    result = dict(call.result or {})
    result["sms"] = {"link_kind": kind, "url": url, "sid": sid}
    call.result = result
    return {"sms_sent": True, "sid": sid}


async def _opt_out(session: AsyncSession, call: Call, data: dict[str, Any]) -> dict:
    from nova.compliance import dnc

    await dnc.opt_out(
        session, call.user_id, call.phone, call_id=call.id, reason=str(data.get("reason") or "")
    )
    result = dict(call.result or {})
    result["opted_out"] = True
    call.result = result
    return {"do_not_call": True}


async def _ended(session: AsyncSession, call: Call, data: dict[str, Any]) -> dict:
    if call.ended_at is not None:
        raise Conflict("Call already ended")
    now = clock.now()
    outcome = data.get("outcome") or "incomplete"
    error = data.get("error")
    call.ended_at = now
    try:
        duration = max(0, int(data.get("duration_seconds") or 0))
    except (TypeError, ValueError):
        raise BadRequest("duration_seconds must be an integer") from None
    if call.started_at is None and duration == 0:
        call.duration_seconds = 0
    else:
        call.duration_seconds = duration
    call.outcome = str(outcome)[:64]
    call.goal_completed = bool(data.get("goal_completed", False))
    call.end_reason = str(data["reason"])[:200] if data.get("reason") else None
    if error:
        call.status = "failed"
        call.error = str(error)[:1000]
    else:
        call.status = "completed"
    if isinstance(data.get("result"), dict):
        await _result(session, call, data["result"])
    await emit(session, "call.ended", ended_event_data(call))
    await enqueue(session, RESULT_MAIL_TASK, {"call_id": call.id}, dedupe_key=call.id)
    await _prune_report_ids(session, get_settings())
    return {"status": call.status}


async def _prune_report_ids(session: AsyncSession, settings: Settings) -> None:
    """Forget report ids that can no longer be replayed: a report older than the skew
    window is refused on its timestamp alone. Runs once per ended call."""
    horizon = clock.now() - timedelta(
        seconds=max(2 * settings.worker_report_max_skew_seconds, 3600)
    )
    await session.execute(delete(WorkerReport).where(WorkerReport.created_at < horizon))


async def _transcript(session: AsyncSession, call: Call, data: dict[str, Any]) -> dict:
    turns = _clean_transcript(data.get("transcript"))
    call.transcript = turns
    await emit(
        session,
        "call.transcribed",
        {
            "call_id": call.id,
            "customer_id": call.user_id,
            "transcript": turns,
            "turns": len(turns),
        },
    )
    return {"turns": len(turns)}


async def handle_report(
    session: AsyncSession, settings: Settings, call_id: str, body: bytes, headers
) -> dict[str, Any]:
    verify_request(settings, body, headers)
    try:
        report = wp.Report.model_validate_json(body)
    except ValidationError as exc:
        raise BadRequest("Malformed worker report") from exc
    if report.call_id != call_id:
        raise BadRequest("Report call_id does not match the URL")
    call = await session.get(Call, call_id)
    if call is None:
        raise NotFound("Call not found")
    # Claim the report id first: a replay (or a concurrent duplicate) fails here, before
    # any effect, and the whole transaction rolls back.
    try:
        async with session.begin_nested():
            session.add(WorkerReport(id=report.id, call_id=call_id, kind=report.kind))
    except IntegrityError:
        raise Conflict("Report already processed") from None
    data = report.data
    if report.kind == "started":
        out = await _started(session, call, data)
    elif report.kind == "result":
        out = await _result(session, call, data)
    elif report.kind == "sms":
        out = await _sms(session, call, data, settings)
    elif report.kind == "opt_out":
        out = await _opt_out(session, call, data)
    elif report.kind == "ended":
        out = await _ended(session, call, data)
    elif report.kind == "metrics":
        out = await record_metrics(session, call, data)
    else:
        out = await _transcript(session, call, data)
    session.add(call)
    await session.flush()
    funnel.report_accepted(report.kind, data, call)
    log.info("worker report %s kind=%s call=%s", report.id, report.kind, call_id)
    return {"id": report.id, "kind": report.kind, **out}


@router.post("/{call_id}/events")
async def worker_events(
    call_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    body = await request.body()
    return await handle_report(session, settings, call_id, body, request.headers)


# --- the result brief e-mail -----------------------------------------------------------


def result_brief(call: Call) -> tuple[str, str]:
    who = call.lead_name or call.phone
    subject = f"Nova call result: {who} — {call.outcome or 'ended'}"
    result = call.result or {}
    lines = [
        f"Lead: {who} ({call.phone})",
        f"Goal: {call.goal} — {'completed' if call.goal_completed else 'not completed'}",
        f"Outcome: {call.outcome or '-'}",
        f"Status: {call.status}" + (f" ({call.error})" if call.error else ""),
        f"Duration: {call.duration_seconds or 0} s",
        f"Ended because: {call.end_reason or '-'}",
        f"Link sent by SMS: {'yes' if call.sms_sent else 'no'}",
    ]
    if result.get("verdict"):
        lines.append(f"Verdict: {result['verdict']}")
    answers = result.get("answers") or {}
    if answers:
        lines.append("")
        lines.append("Answers:")
        lines.extend(f"- {q}: {a}" for q, a in answers.items())
    collected = result.get("collected") or {}
    if collected:
        lines.append("")
        lines.append("Collected:")
        lines.extend(f"- {k}: {v}" for k, v in collected.items())
    if result.get("notes"):
        lines.extend(["", f"Notes: {result['notes']}"])
    transfer = result.get("transfer") or {}
    if transfer.get("status"):
        lines.extend(["", _transfer_line(transfer)])
    if result.get("opted_out"):
        lines.extend(["", "The lead asked not to be called again (added to do-not-call)."])
    if call.transcript:
        lines.extend(["", "Transcript:"])
        lines.extend(f"{t['role']}: {t['text']}" for t in call.transcript[:200])
    return subject, "\n".join(lines)


def _transfer_line(transfer: dict[str, Any]) -> str:
    status = transfer.get("status")
    if status == "transferred":
        return f"Transferred to {transfer.get('to')} ({transfer.get('mode')})."
    if status == "demo":
        return "The lead asked for a person (a demo call: transfers happen on phone calls only)."
    if status == "not_configured":
        return "The lead asked for a person, but no transfer number is set (PUT /me/transfer)."
    return f"The lead asked for a person; the transfer failed: {transfer.get('error') or status}."


@task_handler(RESULT_MAIL_TASK, max_attempts=5)
async def send_result_brief(session: AsyncSession, payload: dict) -> None:
    from nova.core.mailer import send_mail

    call = await session.get(Call, payload["call_id"])
    if call is None or not call.owner_email:
        return
    subject, body = result_brief(call)
    await send_mail(get_settings(), call.owner_email, subject, body)
