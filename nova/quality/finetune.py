"""The nightly fine-tune loop.

Once a night (``finetune_hour:finetune_minute`` UTC, one replica only) ``start_night``
records a run for the date — the date is unique, so a rerun of the same night is a no-op —
and queues ``quality.finetune.step``. Each step does one unit of work and queues the next,
so nothing long runs inside one task and a restart resumes where it stopped:

1. ``queued``: select calls scored at least ``finetune_min_score`` in the lookback window,
   redact their transcripts (phones, e-mails, names), hold some out for evaluation; with
   fewer than ``finetune_min_examples`` training examples the night is ``skipped``.
   Otherwise upload the JSONL (``files.create``) and start the job
   (``fine_tuning.jobs.create``) → ``training``.
2. ``training``: poll the job every ``finetune_poll_seconds`` → ``evaluating`` with the
   fine-tuned model as the candidate, or ``failed``.
3. ``evaluating``: for each held-out call, let the baseline (the promoted model, else the
   base model) and the candidate replay the agent's turns of the redacted conversation and
   score both replays with the judge. When all are done, the candidate is ``promoted``
   only when its mean overall beats the baseline's by more than ``finetune_promote_margin``;
   otherwise the run is ``rejected`` and the baseline stays.

Every step is appended to the run's ``steps``. Nothing runs unless ``finetune_enabled`` is
set and an OpenAI-compatible LLM is configured. Agents read ``promoted_model(session)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import date, timedelta
from typing import Any

import openai
from openai import AsyncOpenAI
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.db import session_scope
from nova.core.events import enqueue
from nova.core.runner import once_across_replicas
from nova.core.settings import Settings, get_settings
from nova.models.calls import Call, CallContext
from nova.models.quality import CallScore, FineTuneRun
from nova.quality.judge import JudgeError, judge_transcript, make_client, transcript_turns
from nova.quality.redact import redact, redact_turns

log = logging.getLogger("nova.quality.finetune")

STEP_TASK = "quality.finetune.step"
FINAL = {"promoted", "rejected", "skipped", "failed"}
MAX_PROVIDER_ERRORS = 5
PROVIDER_RETRY_DELAYS = (60.0, 300.0, 900.0, 1800.0)
GENERATION_TIMEOUT_SECONDS = 15.0
# Share of the task lease one evaluation step may take.
EVAL_BUDGET_SHARE = 0.75

DEFAULT_SYSTEM = (
    "You are Nova, a friendly, honest outbound sales agent on a phone call. Open warmly, "
    "qualify the lead with short questions, handle objections with facts, and ask for a "
    "concrete next step. Keep every reply short enough to say aloud."
)


def configured(settings: Settings) -> tuple[bool, str]:
    if not settings.finetune_enabled:
        return False, "fine-tune disabled (NOVA_FINETUNE_ENABLED=false)"
    if not settings.llm_configured:
        return False, "fine-tune needs an LLM: set OPENAI_API_KEY or OPENAI_BASE_URL"
    return True, "ok"


def base_model(settings: Settings) -> str:
    return settings.finetune_base_model or settings.llm_model


_PROMOTED_QUERY = (
    select(FineTuneRun.promoted_alias)
    .where(FineTuneRun.status == "promoted", FineTuneRun.promoted_alias.is_not(None))
    .order_by(FineTuneRun.finished_at.desc(), FineTuneRun.night.desc())
    .limit(1)
)

# Every POST /calls needs the promoted alias, which changes at most once a night: placing a
# call reads it through this per-process cache. A promotion made by this process clears it
# at once (see ``_forget_promoted`` below); one made by another replica is seen within
# PROMOTED_CACHE_SECONDS.
PROMOTED_CACHE_SECONDS = 30.0
_promoted_cache: dict[int, tuple[float, str | None]] = {}


async def promoted_model(session: AsyncSession) -> str | None:
    """The model alias agents should use: the last promoted candidate, or None (use the
    configured model)."""
    return (await session.execute(_PROMOTED_QUERY)).scalar_one_or_none()


async def promoted_model_cached(session: AsyncSession) -> str | None:
    """``promoted_model`` at most PROMOTED_CACHE_SECONDS old (per database engine)."""
    key = id(session.bind)
    now = clock.monotonic()
    hit = _promoted_cache.get(key)
    if hit is None or now - hit[0] >= PROMOTED_CACHE_SECONDS:
        hit = (now, await promoted_model(session))
        _promoted_cache[key] = hit
    return hit[1]


def forget_promoted_model() -> None:
    _promoted_cache.clear()


@event.listens_for(FineTuneRun, "after_insert")
@event.listens_for(FineTuneRun, "after_update")
@event.listens_for(FineTuneRun, "after_delete")
def _forget_promoted(mapper: Any, connection: Any, target: FineTuneRun) -> None:
    forget_promoted_model()


async def latest_run(session: AsyncSession) -> FineTuneRun | None:
    return (
        (
            await session.execute(
                select(FineTuneRun).order_by(
                    FineTuneRun.night.desc(), FineTuneRun.created_at.desc()
                )
            )
        )
        .scalars()
        .first()
    )


def _step(run: FineTuneRun, step: str, detail: str = "") -> None:
    now = clock.now()
    entry = {"at": now.isoformat().replace("+00:00", "Z"), "step": step, "detail": detail[:500]}
    run.steps = [*(run.steps or []), entry]  # a new list so the JSON column is flagged dirty
    run.updated_at = now
    log.info("finetune %s: %s %s", run.night, step, detail)


def _set_data(run: FineTuneRun, **values: Any) -> None:
    run.data = {**(run.data or {}), **values}


def _finish(run: FineTuneRun, status: str, step: str, detail: str = "") -> None:
    run.status = status
    if status == "failed":
        run.error = detail[:1000]
    run.finished_at = clock.now()
    _step(run, step, detail)


async def _next_step(session: AsyncSession, run: FineTuneRun, delay: float = 0.0) -> None:
    seq = int((run.data or {}).get("seq", 0)) + 1
    _set_data(run, seq=seq)
    await enqueue(session, STEP_TASK, {"run_id": run.id}, delay=delay, dedupe_key=f"{run.id}:{seq}")


async def start_night(
    session: AsyncSession, settings: Settings, night: date | None = None
) -> FineTuneRun | None:
    """Record and queue the run for ``night`` (today, UTC). Idempotent: a second call for
    the same night returns the existing run and queues nothing."""
    ok, why = configured(settings)
    if not ok:
        log.info("finetune: nightly run not started: %s", why)
        return None
    night = night or clock.now().date()
    existing = (
        await session.execute(select(FineTuneRun).where(FineTuneRun.night == night))
    ).scalar_one_or_none()
    if existing is not None:
        log.info("finetune: run for %s already exists (%s)", night, existing.status)
        return existing
    now = clock.now()
    busy = (
        (
            await session.execute(
                select(FineTuneRun)
                .where(FineTuneRun.status.not_in(FINAL))
                .order_by(FineTuneRun.created_at)
            )
        )
        .scalars()
        .all()
    )
    for other in busy:
        if now - other.created_at > timedelta(hours=settings.finetune_max_hours):
            _finish(other, "failed", "abandoned", f"still {other.status} when {night} began")
        else:
            _step(other, "night_skipped", f"{night}: this run is still in progress")
            log.info("finetune: %s not started, the %s run is in progress", night, other.night)
            return None
    run = FineTuneRun(night=night, status="queued", created_at=now, updated_at=now)
    run.base_model = base_model(settings)
    _step(run, "queued", f"base model {run.base_model}")
    try:
        async with session.begin_nested():
            session.add(run)
    except IntegrityError:  # another replica recorded the same night first
        return (
            await session.execute(select(FineTuneRun).where(FineTuneRun.night == night))
        ).scalar_one()
    await _next_step(session, run)
    return run


async def run_nightly() -> FineTuneRun | None:
    """The scheduled entry point (one replica at a time)."""
    settings = get_settings()
    if not configured(settings)[0]:
        log.info("finetune: skipped tonight: %s", configured(settings)[1])
        return None
    async with once_across_replicas("quality.finetune.nightly") as leader:
        if not leader:
            return None
        async with session_scope() as session:
            return await start_night(session, settings)


# --- step machine -----------------------------------------------------------------------


async def advance(session: AsyncSession, settings: Settings, payload: dict[str, Any]) -> None:
    """The ``quality.finetune.step`` task: one unit of work for one run."""
    run = await session.get(FineTuneRun, str(payload.get("run_id", "")))
    if run is None or run.status in FINAL:
        return
    ok, why = configured(settings)
    if not ok:
        _finish(run, "failed", "stopped", why)
        return
    client = make_client(settings, timeout=60.0)
    try:
        if run.status == "queued":
            await _prepare_and_submit(session, settings, client, run)
        elif run.status == "training":
            await _poll(session, settings, client, run)
        elif run.status == "evaluating":
            await _evaluate_next(session, settings, client, run)
    except openai.APIError as exc:
        await _provider_error(session, run, exc)


async def _provider_error(session: AsyncSession, run: FineTuneRun, exc: openai.APIError) -> None:
    status = getattr(exc, "status_code", None)
    reason = f"provider error {status}" if status else f"provider error: {type(exc).__name__}"
    errors = int((run.data or {}).get("provider_errors", 0)) + 1
    _set_data(run, provider_errors=errors)
    if errors >= MAX_PROVIDER_ERRORS:
        _finish(run, "failed", "failed", f"{reason} ({errors} times)")
        return
    delay = PROVIDER_RETRY_DELAYS[min(errors - 1, len(PROVIDER_RETRY_DELAYS) - 1)]
    _step(run, "retry", f"{reason} during {run.status}; retrying in {delay:.0f}s")
    await _next_step(session, run, delay=delay)


def _lead_names(call: Call, context: CallContext | None) -> list[str]:
    names: list[str] = []
    if call.lead_name:
        names.append(call.lead_name)
    lead = context.lead if context is not None and isinstance(context.lead, dict) else {}
    for key in ("name", "first_name", "last_name", "full_name"):
        value = lead.get(key)
        if isinstance(value, str) and value.strip():
            names.append(value)
    return names


def system_message(call: Call, context: CallContext | None) -> str:
    instructions = (context.agent_instructions if context is not None else "") or ""
    text = instructions.strip()[:4000] or DEFAULT_SYSTEM
    return redact(text, _lead_names(call, context))


def redacted_conversation(call: Call, context: CallContext | None) -> list[dict[str, str]]:
    return redact_turns(transcript_turns(call.transcript), _lead_names(call, context))


def training_example(call: Call, context: CallContext | None) -> dict | None:
    """One chat fine-tuning example: the brief as system prompt, the call as the dialogue
    (consecutive turns of one speaker merged). None when the call has no agent reply."""
    turns = redacted_conversation(call, context)
    messages: list[dict[str, str]] = [{"role": "system", "content": system_message(call, context)}]
    for t in turns:
        role = "assistant" if t["role"] == "agent" else "user"
        if messages[-1]["role"] == role:
            messages[-1] = {"role": role, "content": messages[-1]["content"] + " " + t["text"]}
        else:
            messages.append({"role": role, "content": t["text"]})
    if not any(m["role"] == "assistant" for m in messages):
        return None
    return {"messages": messages}


def _heldout_order(call_id: str, night: date) -> str:
    return hashlib.sha256(f"{night}:{call_id}".encode()).hexdigest()


async def _eligible_calls(
    session: AsyncSession, settings: Settings
) -> list[tuple[Call, CallContext | None]]:
    since = clock.now() - timedelta(days=settings.finetune_lookback_days)
    rows = await session.execute(
        select(Call, CallContext)
        .join(CallScore, CallScore.call_id == Call.id)
        .outerjoin(CallContext, CallContext.id == Call.context_id)
        .where(
            CallScore.status == "scored",
            CallScore.overall >= settings.finetune_min_score,
            CallScore.scored_at >= since,
        )
        .order_by(CallScore.scored_at.desc())
        .limit(settings.finetune_max_examples + settings.finetune_eval_max_calls)
    )
    return [(call, ctx) for call, ctx in rows.all()]


async def _prepare_and_submit(
    session: AsyncSession, settings: Settings, client: AsyncOpenAI, run: FineTuneRun
) -> None:
    examples: dict[str, dict] = {}
    for call, ctx in await _eligible_calls(session, settings):
        ex = training_example(call, ctx)
        if ex is not None:
            examples[call.id] = ex
    ids = sorted(examples, key=lambda cid: _heldout_order(cid, run.night))
    n_heldout = 0
    if len(ids) >= 2:
        n_heldout = min(
            settings.finetune_eval_max_calls,
            max(1, round(len(ids) * settings.finetune_heldout_fraction)),
        )
    heldout, train = ids[:n_heldout], ids[n_heldout:][: settings.finetune_max_examples]
    run.n_examples, run.n_heldout = len(train), len(heldout)
    _step(
        run,
        "dataset",
        f"{len(train)} training and {len(heldout)} held-out calls scored >= "
        f"{settings.finetune_min_score} in the last {settings.finetune_lookback_days} days "
        "(redacted)",
    )
    if len(train) < settings.finetune_min_examples or not heldout:
        _finish(
            run,
            "skipped",
            "skipped",
            f"{len(train)} training examples, {settings.finetune_min_examples} needed"
            + ("" if heldout else "; none left to evaluate"),
        )
        return
    _set_data(run, train=train, heldout=heldout)
    run.baseline_model = await promoted_model(session) or run.base_model or base_model(settings)
    jsonl = "".join(json.dumps(examples[cid], ensure_ascii=False) + "\n" for cid in train)
    # Record the dataset before talking to the provider; no transaction stays open across
    # the upload and the job creation.
    await session.commit()

    upload = await client.files.create(
        file=(f"nova-finetune-{run.night}.jsonl", jsonl.encode(), "application/jsonl"),
        purpose="fine-tune",
    )
    run.training_file_id = upload.id
    _step(run, "uploaded", f"training file {upload.id} ({len(jsonl.encode())} bytes)")
    job = await client.fine_tuning.jobs.create(
        model=run.base_model or base_model(settings),
        training_file=upload.id,
        suffix=settings.finetune_suffix or None,
        metadata={"nova_run_id": run.id, "night": str(run.night)},
    )
    run.job_id = job.id
    run.status = "training"
    _set_data(run, job_status=job.status, submitted_at=clock.now().isoformat())
    _step(run, "submitted", f"job {job.id} on {run.base_model} ({job.status})")
    await _next_step(session, run, delay=settings.finetune_poll_seconds)


async def _poll(
    session: AsyncSession, settings: Settings, client: AsyncOpenAI, run: FineTuneRun
) -> None:
    job = await client.fine_tuning.jobs.retrieve(run.job_id or "")
    if job.status == "succeeded":
        if not job.fine_tuned_model:
            _finish(run, "failed", "failed", f"job {job.id} succeeded without a model name")
            return
        run.candidate_model = job.fine_tuned_model
        run.status = "evaluating"
        _set_data(run, job_status=job.status, eval={})
        _step(run, "trained", f"candidate {job.fine_tuned_model}")
        await _next_step(session, run)
        return
    if job.status in ("failed", "cancelled"):
        message = job.error.message if job.error is not None and job.error.message else ""
        _finish(run, "failed", "failed", f"job {job.id} {job.status}: {message}".strip(": "))
        return
    if job.status != (run.data or {}).get("job_status"):
        _set_data(run, job_status=job.status)
        _step(run, "job_status", f"job {job.id} {job.status}")
    if clock.now() - run.created_at > timedelta(hours=settings.finetune_max_hours):
        try:
            await client.fine_tuning.jobs.cancel(job.id)
        except openai.APIError:
            log.warning("finetune: could not cancel job %s", job.id)
        _finish(
            run,
            "failed",
            "failed",
            f"job {job.id} still {job.status} after {settings.finetune_max_hours:g} h; cancelled",
        )
        return
    await _next_step(session, run, delay=settings.finetune_poll_seconds)


async def _replay(
    settings: Settings,
    client: AsyncOpenAI,
    model: str,
    system: str,
    turns: list[dict[str, str]],
) -> list[dict[str, str]]:
    """The conversation with every agent turn (up to ``finetune_eval_max_turns``) written by
    ``model`` given the conversation so far; the lead's turns are the real ones."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system}]
    out: list[dict[str, str]] = []
    agent_turns = 0
    for t in turns:
        if t["role"] == "agent":
            if agent_turns >= settings.finetune_eval_max_turns:
                break
            resp = await client.chat.completions.create(
                model=model,
                messages=messages,
                temperature=0,
                max_tokens=200,
                timeout=GENERATION_TIMEOUT_SECONDS,
            )
            text = (resp.choices[0].message.content or "").strip() if resp.choices else ""
            agent_turns += 1
            out.append({"role": "agent", "text": text or "…"})
            messages.append({"role": "assistant", "content": text or "…"})
        else:
            out.append({"role": "lead", "text": t["text"]})
            messages.append({"role": "user", "content": t["text"]})
    return out


async def _score_replay(
    settings: Settings,
    client: AsyncOpenAI,
    model: str,
    call: Call,
    context: CallContext | None,
) -> int | None:
    replay = await _replay(
        settings,
        client,
        model,
        system_message(call, context),
        redacted_conversation(call, context),
    )
    try:
        score = await judge_transcript(
            settings,
            replay,
            goal=call.goal,
            product=context.product if context is not None else None,
            language=call.language,
        )
    except JudgeError as exc:
        log.warning("finetune: judging the %s replay failed: %s", model, exc)
        return None
    return score.overall


async def _evaluate_next(
    session: AsyncSession, settings: Settings, client: AsyncOpenAI, run: FineTuneRun
) -> None:
    data = run.data or {}
    results: dict[str, Any] = dict(data.get("eval") or {})
    todo = [cid for cid in data.get("heldout", []) if cid not in results]
    if todo:
        call_id = todo[0]
        call = await session.get(Call, call_id)
        context = (
            await session.get(CallContext, call.context_id)
            if call is not None and call.context_id
            else None
        )
        baseline = run.baseline_model or run.base_model or base_model(settings)
        candidate = run.candidate_model or ""
        await session.commit()  # no transaction across the model round trips
        pair: dict[str, int] | None = None
        note = "skipped"
        if call is not None and call.transcript:
            # One held-out call per task, within the task's lease: a call that takes
            # longer is skipped rather than retried forever.
            try:
                b, c = await asyncio.wait_for(
                    asyncio.gather(
                        _score_replay(settings, client, baseline, call, context),
                        _score_replay(settings, client, candidate, call, context),
                    ),
                    settings.task_lease_seconds * EVAL_BUDGET_SHARE,
                )
            except TimeoutError:
                b = c = None
                note = "skipped (timed out)"
            if b is not None and c is not None:
                pair = {"baseline": b, "candidate": c}
        results[call_id] = pair
        _set_data(run, eval=results)
        done = len(results)
        _step(
            run,
            "evaluated",
            f"held-out call {done}/{len(data.get('heldout', []))}: "
            + (f"baseline {pair['baseline']}, candidate {pair['candidate']}" if pair else note),
        )
        await _next_step(session, run)
        return

    pairs = [p for p in results.values() if p]
    if not pairs:
        _finish(run, "failed", "failed", "no held-out call could be evaluated")
        return
    run.baseline_score = round(sum(p["baseline"] for p in pairs) / len(pairs), 2)
    run.candidate_score = round(sum(p["candidate"] for p in pairs) / len(pairs), 2)
    summary = (
        f"candidate {run.candidate_model} {run.candidate_score} vs baseline "
        f"{run.baseline_model} {run.baseline_score} on {len(pairs)} held-out calls"
    )
    if run.candidate_score > run.baseline_score + settings.finetune_promote_margin:
        run.promoted_alias = run.candidate_model
        _finish(run, "promoted", "promoted", summary)
    else:
        _finish(run, "rejected", "rejected", summary + "; baseline stays")
