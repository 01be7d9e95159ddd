"""The dial pipeline: the one way a call is placed, whoever asks (POST /calls, portal leads,
and next campaigns and retries).

    gate → hold minutes + durable record → dispatch → record the outcome

1. **gate** (``nova.compliance.gate``): each dial is ``Allowed``, ``Deferred(until)`` (recorded
   ``pending`` with ``not_before``; a task dials it then, asking the gate again) or
   ``Blocked(reason)`` (recorded ``failed`` with the reason as its error).
2. **hold + record**, one transaction: the minutes of the allowed calls are held (402 when
   they do not fit), and the contexts, the ``pending`` calls and a *recovery task* are
   written. From here on nothing is lost: if the process dies, the recovery task dispatches
   the calls ``dispatch_recovery_seconds`` later.
3. **dispatch**, no transaction and no lock open: one LiveKit room and agent per call,
   concurrently. A failure marks only that call.
4. **outcome**, one transaction: ``pending → in_progress`` (with ``call.started``) or
   ``pending → failed`` (hold released), and the recovery task marked done.

Every step is idempotent, so a re-run after a crash at any point neither loses nor doubles a
dial: the record is keyed by the batch id (a retried request or task finds its calls and
resumes them), the outcome only moves calls that are still ``pending``, and a resumed
dispatch first adopts an agent an earlier attempt already dispatched into the call's room
(LiveKit's CreateRoom returns an existing room). The one window left open by design: the
recovery task runs ``dispatch_recovery_seconds`` after the record, far beyond the
dispatch's own time limit, so it never races a live request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nova import compliance
from nova.billing import metering
from nova.calls import repository
from nova.compliance import gate
from nova.core import clock
from nova.core.errors import NovaError
from nova.core.events import Retry, enqueue, task_handler, task_row
from nova.core.settings import Settings, get_settings
from nova.models.calls import Call, CallContext
from nova.models.user import User
from nova.telephony import livekit
from nova.telephony.metadata import Brief, DispatchMetadata, Lead
from nova.telephony.routing import DialPlan, plan_calls

log = logging.getLogger("nova.calls.pipeline")

DISPATCH_TASK = "calls.dispatch"
MSG_DISPATCHED = "Call dispatched successfully"
MSG_FAILED = "Call could not be dispatched"
MSG_BLOCKED = "Call blocked by the compliance gate"
DEFAULT_COLLECT_FIELDS = ["name", "email", "company", "role", "timeline"]
# The request fields a brief is built from, kept on its context (the recovery path and the
# agent read them back from there).
SNAPSHOT_FIELDS = frozenset(
    {
        "website_url",
        "context",
        "booking_link",
        "payment_link",
        "pricing_summary",
        "urgency_hook",
        "goal_criteria",
        "owner_email",
    }
)


@dataclass
class PreparedCall:
    """One lead ready for the pipeline: its call row (``pending``) and context row."""

    call: dict[str, Any]
    context: dict[str, Any]


# --- step observers ---------------------------------------------------------------------------

StepObserver = Callable[[str, list[str]], Any]
_observers: list[StepObserver] = []


def observe(fn: StepObserver) -> Callable[[], None]:
    """Call ``fn(step, call_ids)`` at each step boundary (``gated``, ``recorded``,
    ``dispatched``, ``finished``); it may be async. Returns an unregister function. Used for
    tracing, and by the crash tests to stop a process exactly between two steps."""
    _observers.append(fn)
    return lambda: _observers.remove(fn) if fn in _observers else None


async def _step(step: str, call_ids: list[str]) -> None:
    log.debug("dial pipeline: %s %s", step, call_ids)
    for fn in list(_observers):
        result = fn(step, call_ids)
        if inspect.isawaitable(result):
            await result


# --- the dispatch metadata ----------------------------------------------------------------------


def collect_fields(goal: str, criteria: str | None) -> list[str]:
    if goal != "collect_info":
        return []
    if criteria:
        fields = [f.strip() for f in re.split(r"[,;\n]", criteria) if f.strip()]
        if fields:
            return fields[:20]
    return list(DEFAULT_COLLECT_FIELDS)


def metadata_for(
    settings: Settings, call: Mapping[str, Any], context: Mapping[str, Any], plan: DialPlan
) -> DispatchMetadata:
    """What the worker is told about its call, from the call's rows and its dial plan."""
    request = context["request"] or {}
    return DispatchMetadata(
        call_id=call["id"],
        context_id=context["id"],
        room_name=call["room_name"],
        mode=call["mode"],
        goal=call["goal"],
        language=call["language"],
        product=context["product"],
        lead=Lead(**context["lead"]),
        brief=Brief(**{k: context[k] for k in Brief.model_fields}),
        booking_link=request.get("booking_link"),
        payment_link=request.get("payment_link"),
        collect_fields=collect_fields(call["goal"], request.get("goal_criteria")),
        max_duration_seconds=call["max_duration_seconds"] or plan.max_duration_seconds,
        sip_trunk_id=plan.sip_trunk_id,
        caller_id=plan.caller_id,
        voice_id=plan.voice_id,
        llm_model=plan.llm_model,
        transfer_to=plan.transfer_to,
        transfer_mode=plan.transfer_mode,
        report_url=settings.public_url.rstrip("/") + "/internal/worker",
    )


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _announce(row: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if row["status"] != "in_progress":
        return None
    return (
        "call.started",
        {
            "call_id": row["id"],
            "customer_id": row["user_id"],
            "context_id": row["context_id"],
            "room_name": row["room_name"],
            "mode": row["mode"],
            "goal": row["goal"],
            "to_phone_e164": row["phone"],
            "started_at": _iso(row["started_at"]),
        },
    )


# --- dispatch -----------------------------------------------------------------------------


async def _dispatch_one(
    settings: Settings, meta: DispatchMetadata, adopt: bool
) -> livekit.Dispatch | str:
    """The dispatch, or the error that marks this call failed."""
    if meta.mode == "sip" and not meta.sip_trunk_id:
        return (
            "SIP dialing is enabled (NOVA_DIAL_MODE=sip) but no outbound trunk is configured "
            "(NOVA_SIP_OUTBOUND_TRUNK_ID)"
        )
    try:
        return await livekit.dispatch_agent(settings, meta, adopt=adopt)
    except (livekit.TelephonyNotConfigured, livekit.DispatchFailed) as exc:
        return str(exc)


async def _dispatch_and_record(
    session: AsyncSession,
    settings: Settings,
    rows: list[dict[str, Any]],
    metas: list[DispatchMetadata],
    *,
    adopt: bool,
    done_task: str | None,
    fast: bool = False,
) -> None:
    """Steps 3 and 4: dispatch every call at once, then record the outcomes."""
    ids = [r["id"] for r in rows]
    outcomes = await asyncio.gather(*(_dispatch_one(settings, m, adopt) for m in metas))
    await _step("dispatched", ids)
    started = clock.now()
    for row, outcome in zip(rows, outcomes, strict=True):
        if isinstance(outcome, str):
            row.update(status="failed", error=outcome[:1000], message=MSG_FAILED)
        else:
            row.update(
                status="in_progress",
                dispatch_id=outcome.dispatch_id,
                started_at=started,
                message=MSG_DISPATCHED,
            )
    await repository.record_outcomes(
        session, rows, announce=_announce, done_task=done_task, fast=fast
    )
    for row in rows:
        if row["status"] == "failed":
            row["reserved_seconds"] = 0
    await _step("finished", ids)


# --- placing a batch ----------------------------------------------------------------------------


async def place(
    session: AsyncSession,
    settings: Settings,
    batch: Sequence[PreparedCall],
    plan: DialPlan,
    *,
    owner_id: str | None,
    reserve_seconds: int,
    purpose: gate.Purpose = "calls",
    fast: bool = False,
) -> list[dict[str, Any]]:
    """Run a batch of new calls through the pipeline; returns their rows as they ended
    (status ``in_progress``, ``failed`` or, when deferred, ``pending``). Raises 402 when the
    allowed calls' minutes do not fit. Commits ``session`` after the record and after the
    outcome. ``fast``: see ``repository`` (anonymous batches on PostgreSQL)."""
    now = clock.now()
    ids = [p.call["id"] for p in batch]
    dials = [
        _dial(p.call, p.context, owner_id, purpose, label=f"leads[{i}]")
        for i, p in enumerate(batch)
    ]
    async with repository.reader(session, fast=fast) as db:
        decisions = await gate.decide_all(db, dials)
    if purpose == "calls":
        # An interactive caller cannot wait: a lead outside its window refuses the batch
        # (400 saying when it may be called) before anything is held or written.
        compliance.refuse_deferred(dials, decisions)
    for p in batch:
        p.call["max_duration_seconds"] = plan.max_duration_seconds
    allowed, tasks = _apply(batch, decisions, reserve_seconds)
    await _step("gated", ids)

    recovery = None
    if allowed:
        recovery = task_row(
            DISPATCH_TASK,
            {"call_ids": [p.call["id"] for p in allowed]},
            run_at=now + timedelta(seconds=settings.dispatch_recovery_seconds),
        )
        tasks.append(recovery)
    await repository.hold_and_record(
        session,
        contexts=[p.context for p in batch],
        calls=[p.call for p in batch],
        tasks=tasks,
        owner_id=owner_id,
        held=[p.call["id"] for p in allowed],
        reserve_seconds=reserve_seconds,
        decisions=compliance.decision_rows(dials, decisions, now=now),
        fast=fast,
    )
    await _step("recorded", ids)

    if recovery is not None:
        await _dispatch_and_record(
            session,
            settings,
            [p.call for p in allowed],
            [metadata_for(settings, p.call, p.context, plan) for p in allowed],
            adopt=False,
            done_task=recovery["id"],
            fast=fast,
        )
    return [p.call for p in batch]


def _dial(
    call: Mapping[str, Any],
    context: Mapping[str, Any],
    owner_id: str | None,
    purpose: gate.Purpose,
    *,
    label: str = "",
) -> gate.Dial:
    """The gate's view of a call: its number, the lead's own zone and consent, who asks."""
    lead = context.get("lead") or {}
    consent = lead.get("consent")
    return gate.Dial(
        phone=call["phone"],
        owner_id=owner_id,
        mode=call["mode"],
        timezone=lead.get("timezone"),
        consent=compliance.Consent(
            consent["source"],
            _as_datetime(consent["obtained_at"]),
            consent.get("proof"),
        )
        if consent
        else None,
        source=purpose,
        call_id=call["id"],
        lead_ref=call["batch_id"] if purpose == "portal" else None,
        label=label,
    )


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _deferral(until: datetime, reason: str) -> str:
    return f"Call deferred until {_iso(until)}: {reason}"[:500]


def _apply(
    batch: Sequence[PreparedCall], decisions: Sequence[gate.Decision], reserve_seconds: int
) -> tuple[list[PreparedCall], list[dict[str, Any]]]:
    """Mark each new call with its gate decision; returns the allowed calls and the tasks
    that will dial the deferred ones."""
    allowed: list[PreparedCall] = []
    tasks: list[dict[str, Any]] = []
    for p, decision in zip(batch, decisions, strict=True):
        if isinstance(decision, gate.Allowed):
            p.call["reserved_seconds"] = reserve_seconds
            allowed.append(p)
        elif isinstance(decision, gate.Blocked):
            p.call.update(status="failed", error=decision.reason[:1000], message=MSG_BLOCKED)
        else:
            p.call.update(
                not_before=decision.until, message=_deferral(decision.until, decision.reason)
            )
            payload = {"call_ids": [p.call["id"]]}
            tasks.append(task_row(DISPATCH_TASK, payload, run_at=decision.until))
    return allowed, tasks


def row_of(call: Call) -> dict[str, Any]:
    return call.model_dump()


def context_row_of(ctx: CallContext) -> dict[str, Any]:
    return ctx.model_dump()


async def resume(
    session: AsyncSession, settings: Settings, call_ids: Sequence[str]
) -> datetime | None:
    """Carry recorded calls that are still ``pending`` through the rest of the pipeline: a
    batch whose process died before its outcome was recorded, or a deferred call whose time
    has come. The gate is asked again for calls it deferred; minutes are held for calls that
    hold none; then dispatch (adopting an agent an earlier attempt sent) and outcome.
    Returns when the earliest call left waiting (deferred, not due yet) may be dialed."""
    pending = await repository.pending_with_contexts(session, call_ids)
    now = clock.now()
    waiting = [c.not_before for c, _ in pending if c.not_before and c.not_before > now]
    by_owner: dict[str | None, list[tuple[Call, CallContext]]] = {}
    for call, ctx in pending:
        if not (call.not_before and call.not_before > now):
            by_owner.setdefault(call.user_id, []).append((call, ctx))
    for owner_id, items in by_owner.items():
        await _resume_for_owner(session, settings, owner_id, items)
    return min(waiting) if waiting else None


async def _resume_for_owner(
    session: AsyncSession,
    settings: Settings,
    owner_id: str | None,
    items: list[tuple[Call, CallContext]],
) -> None:
    rows = [(row_of(c), context_row_of(x)) for c, x in items]
    failed: list[dict[str, Any]] = []
    ready: list[tuple[dict[str, Any], dict[str, Any]]] = []
    was_deferred = [r for r, _ in rows if r["not_before"] is not None]
    decisions = {}
    if was_deferred:
        contexts = {r["id"]: x for r, x in rows}
        dials = [_dial(r, contexts[r["id"]], owner_id, "retry") for r in was_deferred]
        asked = await gate.decide_all(session, dials)
        await compliance.record(session, dials, asked)
        decisions = dict(zip([r["id"] for r in was_deferred], asked, strict=True))
    user = await session.get(User, owner_id) if owner_id else None
    reserve_seconds = settings.reserve_minutes_per_call * 60 if user is not None else 0
    for row, ctx in rows:
        decision = decisions.get(row["id"], gate.ALLOWED)
        if isinstance(decision, gate.Blocked):
            row.update(status="failed", error=decision.reason[:1000], message=MSG_BLOCKED)
            failed.append(row)
            continue
        if isinstance(decision, gate.Deferred):
            message = _deferral(decision.until, decision.reason)
            await repository.defer(session, row["id"], decision.until, message)
            await enqueue(session, DISPATCH_TASK, {"call_ids": [row["id"]]}, run_at=decision.until)
            continue
        if owner_id is not None and not row["reserved_seconds"] and reserve_seconds:
            try:
                async with session.begin_nested():
                    await metering.reserve(session, owner_id, [row["id"]], reserve_seconds)
            except NovaError as exc:  # 402: the account ran out meanwhile
                row.update(status="failed", error=str(exc.detail)[:1000], message=MSG_FAILED)
                failed.append(row)
                continue
            await repository.set_hold(session, row["id"], reserve_seconds)
            row["reserved_seconds"] = reserve_seconds
        ready.append((row, ctx))
    if failed:
        await repository.record_outcomes(session, failed, announce=_announce, commit=False)
    metas = []
    if ready:
        plan = await plan_calls(
            session, settings, user, n_leads=len(ready), reserve_seconds=reserve_seconds
        )
        metas = [metadata_for(settings, r, x, plan) for r, x in ready]
    # End the transaction before the network: no lock is held while LiveKit answers.
    await session.commit()
    if ready:
        await _dispatch_and_record(
            session,
            settings,
            [r for r, _ in ready],
            metas,
            adopt=True,
            done_task=None,
        )


@compliance.dnc.on_opt_out
async def _drop_deferred_calls(session: AsyncSession, owner_id: str, phone: str) -> None:
    """A number that opts out (on any call of the account) is not called later: the calls
    to it that wait for their window end now, in the opt-out's transaction."""
    reason = f"Not dialed: {compliance.dnc.BLOCKED_REASON} (the lead opted out)"
    await repository.fail_deferred(session, owner_id, phone, reason)


@task_handler(DISPATCH_TASK, max_attempts=10, retry_delays=(5, 15, 60, 300, 900))
async def dispatch_recorded(session: AsyncSession, payload: dict) -> None:
    """The recovery task of a batch (or a deferred call's task): see ``resume``."""
    # Each step commits: a crash after any of them leaves this task to run again, and the
    # re-run finds only what is still pending.
    waiting = await resume(session, get_settings(), payload["call_ids"])
    if waiting is not None:
        raise Retry("deferred call not due yet", delay=(waiting - clock.now()).total_seconds())
