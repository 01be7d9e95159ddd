"""Evals: simulated calls of the real agent against personas, before it dials anyone.

    run = await create_eval(session, settings, user, EvalCreate(...))   # rows + one task
    ...the background runner's pump runs ``run_eval(run.id)``...
    out = await get_eval(session, user, run.id)                         # progress, verdict

``create_eval`` never commits (the request does) and never simulates: the run lives in the
``evals.run`` task, so it survives the request and any one process (the task's lease is
renewed while it runs; after a crash another pump resumes the unfinished conversations).
``run_eval`` builds the brief, then simulates every conversation concurrently (at most
``eval_concurrency`` at once), each in its own short transactions: no database lock is
held while an LLM thinks. Each conversation is scored by the quality judge and checked
against its persona's expectations. Nothing is dialled, texted or billed.

``latest_passing_eval`` is what a campaign gate asks: has this account's brief (by
fingerprint) passed its latest eval?
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.db import session_scope
from nova.core.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
)
from nova.core.events import enqueue
from nova.core.settings import Settings
from nova.evals import checks
from nova.evals.personas import (
    CUSTOM_PREFIX,
    DEFAULT_EXPECTATIONS,
    Expectation,
    Persona,
    custom_id,
    shipped,
)
from nova.evals.schemas import (
    ConversationOut,
    EvalCreate,
    EvalOut,
    EvalSummaryOut,
    Failure,
    PersonaCreate,
    PersonaOut,
    PersonaResult,
    Progress,
    Usage,
)
from nova.models.evals import EvalConversation, EvalPersona, EvalRun
from nova.models.events import Task
from nova.models.user import User

log = logging.getLogger("nova.evals")

RUN_TASK = "evals.run"
NOT_CONFIGURED = (
    "Evals need an LLM for the agent and the persona: set OPENAI_API_KEY or OPENAI_BASE_URL"
)
SAMPLE_PHONE = "+15555550100"  # never dialled: a simulated lead has no phone
WORDS_PER_MINUTE = 150
# The inputs that make a brief (what a campaign gate compares).
BRIEF_FIELDS = (
    "product",
    "context",
    "goal",
    "language",
    "booking_link",
    "payment_link",
    "pricing_summary",
    "urgency_hook",
    "goal_criteria",
    "collect_fields",
)


# --- the brief's identity --------------------------------------------------------------------


def brief_inputs(source: Any) -> dict[str, Any]:
    """The brief-making fields of an eval request, a POST /calls body or a campaign."""
    get = source.get if isinstance(source, dict) else lambda k: getattr(source, k, None)
    inputs = {k: get(k) for k in BRIEF_FIELDS if get(k) not in (None, "", [])}
    inputs.setdefault("language", "en")  # the default of POST /calls and of evals
    return inputs


def brief_fingerprint(source: Any) -> str:
    """sha256 of the brief's inputs: the same brief always has the same fingerprint."""
    canonical = json.dumps(brief_inputs(source), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def latest_passing_eval(
    session: AsyncSession, user_id: str, fingerprint: str
) -> EvalRun | None:
    """The account's latest finished eval of this brief when it passed; None when there is
    none or the latest one failed (a campaign may start only with a run here)."""
    latest = (
        await session.execute(
            select(EvalRun)
            .where(
                EvalRun.user_id == user_id,
                EvalRun.brief_fingerprint == fingerprint,
                EvalRun.status == "completed",
            )
            .order_by(EvalRun.finished_at.desc(), EvalRun.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return latest if latest is not None and latest.passed else None


# --- personas -------------------------------------------------------------------------------


def _persona_of_row(row: EvalPersona) -> Persona:
    return Persona(
        id=custom_id(row.slug),
        name=row.name,
        description=row.description,
        goal=row.goal,
        language=row.language,  # type: ignore[arg-type]
        script=list(row.script or []),
        expectations=[Expectation.model_validate(e) for e in row.expectations],
        custom=True,
    )


def persona_out(p: Persona) -> PersonaOut:
    return PersonaOut(
        id=p.id,
        name=p.name,
        description=p.description,
        goal=p.goal,
        language=p.language,
        script=p.script,
        expectations=[e.model_dump(exclude_none=True) for e in p.expectations],
        custom=p.custom,
    )


async def list_personas(session: AsyncSession, user: User) -> list[PersonaOut]:
    rows = (
        await session.execute(
            select(EvalPersona).where(EvalPersona.user_id == user.id).order_by(EvalPersona.slug)
        )
    ).scalars()
    return [persona_out(p) for p in shipped().values()] + [
        persona_out(_persona_of_row(r)) for r in rows
    ]


async def create_persona(
    session: AsyncSession, settings: Settings, user: User, body: PersonaCreate
) -> PersonaOut:
    count = await session.scalar(
        select(func.count()).select_from(EvalPersona).where(EvalPersona.user_id == user.id)
    )
    if (count or 0) >= settings.eval_max_custom_personas:
        raise BadRequest(
            f"You already have {count} custom personas (at most "
            f"{settings.eval_max_custom_personas}): delete one first"
        )
    exists = await session.scalar(
        select(EvalPersona.id).where(EvalPersona.user_id == user.id, EvalPersona.slug == body.slug)
    )
    if exists:
        raise Conflict(f"You already have a persona named {custom_id(body.slug)}")
    expectations = body.expectations or [
        Expectation.model_validate(e) for e in DEFAULT_EXPECTATIONS
    ]
    row = EvalPersona(
        user_id=user.id,
        slug=body.slug,
        name=body.name,
        description=body.description,
        goal=body.goal,
        language=body.language,
        script=list(body.script),
        expectations=[e.model_dump(exclude_none=True) for e in expectations],
    )
    session.add(row)
    await session.flush()
    return persona_out(_persona_of_row(row))


async def delete_persona(session: AsyncSession, user: User, slug: str) -> None:
    slug = slug.removeprefix(CUSTOM_PREFIX)
    done = await session.execute(
        delete(EvalPersona).where(EvalPersona.user_id == user.id, EvalPersona.slug == slug)
    )
    if not done.rowcount:
        raise NotFound("No such custom persona")


async def resolve_personas(
    session: AsyncSession, user: User, ids: list[str] | None
) -> list[Persona]:
    catalogue = shipped()
    if not ids:
        return list(catalogue.values())
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    slugs = [i.removeprefix(CUSTOM_PREFIX) for i in wanted if i.startswith(CUSTOM_PREFIX)]
    custom: dict[str, Persona] = {}
    if slugs:
        rows = (
            await session.execute(
                select(EvalPersona).where(
                    EvalPersona.user_id == user.id, EvalPersona.slug.in_(slugs)
                )
            )
        ).scalars()
        custom = {custom_id(r.slug): _persona_of_row(r) for r in rows}
    unknown = [i for i in wanted if i not in catalogue and i not in custom]
    if unknown:
        raise BadRequest(
            f"Unknown persona(s): {', '.join(unknown)}. Shipped: {', '.join(catalogue)}; "
            "yours are custom:<slug> (GET /v1/evals/personas)"
        )
    if not wanted:
        raise BadRequest("personas must name at least one persona")
    return [catalogue.get(i) or custom[i] for i in wanted]


# --- creating and reading runs ---------------------------------------------------------------


async def create_eval(
    session: AsyncSession, settings: Settings, user: User, body: EvalCreate
) -> EvalRun:
    """Validate, write the run and its conversation slots, queue the run. Never commits."""
    if not settings.llm_configured:
        raise ServiceUnavailable(NOT_CONFIGURED)
    if body.goal == "book_meeting" and not body.booking_link:
        raise BadRequest("booking_link is required when goal is book_meeting")
    if body.goal == "close_sale" and not body.payment_link:
        raise BadRequest("payment_link is required when goal is close_sale")
    active = await session.scalar(
        select(func.count())
        .select_from(EvalRun)
        .where(EvalRun.user_id == user.id, EvalRun.status.in_(("queued", "running")))
    )
    if (active or 0) >= settings.eval_max_active_per_account:
        raise TooManyRequests(
            f"You already have {active} evals in progress (at most "
            f"{settings.eval_max_active_per_account}): wait for one to finish",
            retry_after=30,
        )
    personas = await resolve_personas(session, user, body.personas)
    request = body.model_dump(mode="json", exclude={"personas"}, exclude_none=True)
    run = EvalRun(
        user_id=user.id,
        brief_fingerprint=brief_fingerprint(body),
        goal=body.goal,
        language=body.language,
        request=request,
        personas=[p.model_dump(mode="json", exclude_none=True) for p in personas],
        conversations_per_persona=body.conversations_per_persona,
        max_turns=body.max_turns,
        pass_threshold=body.pass_threshold,
    )
    session.add(run)
    await session.flush()
    session.add_all(
        EvalConversation(eval_id=run.id, persona=p.id, index=i)
        for p in personas
        for i in range(body.conversations_per_persona)
    )
    await enqueue(session, RUN_TASK, {"eval_id": run.id}, dedupe_key=run.id)
    return run


async def _owned_run(session: AsyncSession, user: User, eval_id: str) -> EvalRun:
    run = await session.get(EvalRun, eval_id)
    if run is None or run.user_id != user.id:
        raise NotFound("Eval not found")
    return run


async def _conversations(session: AsyncSession, eval_id: str) -> list[EvalConversation]:
    return list(
        (
            await session.execute(
                select(EvalConversation)
                .where(EvalConversation.eval_id == eval_id)
                .order_by(EvalConversation.persona, EvalConversation.index)
            )
        ).scalars()
    )


async def get_eval(
    session: AsyncSession, settings: Settings, user: User, eval_id: str, *, transcripts: bool = True
) -> EvalOut:
    run = await _owned_run(session, user, eval_id)
    return eval_out(settings, run, await _conversations(session, run.id), transcripts=transcripts)


async def list_evals(session: AsyncSession, user: User, limit: int = 50) -> list[EvalSummaryOut]:
    rows = (
        await session.execute(
            select(EvalRun)
            .where(EvalRun.user_id == user.id)
            .order_by(EvalRun.created_at.desc())
            .limit(limit)
        )
    ).scalars()
    return [
        EvalSummaryOut(
            id=r.id,
            status=r.status,  # type: ignore[arg-type]
            passed=r.passed,
            product=r.request.get("product", ""),
            goal=r.goal,
            brief_fingerprint=r.brief_fingerprint,
            created_at=r.created_at,
            finished_at=r.finished_at,
        )
        for r in rows
    ]


def persona_results(run: EvalRun, convs: list[EvalConversation]) -> list[PersonaResult]:
    out = []
    for p in run.personas:
        mine = [c for c in convs if c.persona == p["id"]]
        finished = [c for c in mine if c.status in ("passed", "failed", "error")]
        passed = sum(c.status == "passed" for c in finished)
        failures = []
        for c in finished:
            if c.status == "error":
                failures.append(
                    Failure(
                        conversation_id=c.id,
                        index=c.index,
                        check="error",
                        explanation=c.error or "",
                    )
                )
            failures += [
                Failure(
                    conversation_id=c.id,
                    index=c.index,
                    check=k["label"],
                    explanation=k["explanation"],
                )
                for k in c.checks
                if not k["passed"]
            ]
        rate = passed / len(mine) if mine and len(finished) == len(mine) else None
        out.append(
            PersonaResult(
                persona=p["id"],
                name=p["name"],
                conversations=len(mine),
                finished=len(finished),
                passed=passed,
                failed=sum(c.status == "failed" for c in finished),
                errors=sum(c.status == "error" for c in finished),
                pass_rate=rate,
                meets_threshold=None if rate is None else rate >= run.pass_threshold,
                failures=failures,
            )
        )
    return out


def usage_of(settings: Settings, convs: list[EvalConversation]) -> Usage:
    by_role: dict[str, dict[str, int]] = {}
    words = 0
    for c in convs:
        for role, u in (c.usage or {}).items():
            if role == "talk_words":
                words += int(u)
                continue
            total = by_role.setdefault(role, {"input_tokens": 0, "output_tokens": 0})
            total["input_tokens"] += int(u.get("input_tokens", 0))
            total["output_tokens"] += int(u.get("output_tokens", 0))
    tin = sum(u["input_tokens"] for u in by_role.values())
    tout = sum(u["output_tokens"] for u in by_role.values())
    cost = (
        tin * settings.eval_usd_per_million_input_tokens
        + tout * settings.eval_usd_per_million_output_tokens
    ) / 1_000_000
    return Usage(
        input_tokens=tin,
        output_tokens=tout,
        by_role=by_role,
        llm_cost_usd=round(cost, 6),
        billed_minutes=0,
        simulated_talk_minutes=round(words / WORDS_PER_MINUTE, 2),
    )


def eval_out(
    settings: Settings, run: EvalRun, convs: list[EvalConversation], *, transcripts: bool = True
) -> EvalOut:
    finished = sum(c.status in ("passed", "failed", "error") for c in convs)
    running = sum(c.status == "running" for c in convs)
    return EvalOut(
        id=run.id,
        status=run.status,  # type: ignore[arg-type]
        passed=run.passed,
        brief_fingerprint=run.brief_fingerprint,
        goal=run.goal,
        language=run.language,
        product=run.request.get("product", ""),
        conversations_per_persona=run.conversations_per_persona,
        max_turns=run.max_turns,
        pass_threshold=run.pass_threshold,
        progress=Progress(
            total=len(convs),
            finished=finished,
            running=running,
            pending=len(convs) - finished - running,
        ),
        personas=persona_results(run, convs),
        usage=usage_of(settings, convs),
        brief=run.brief,
        brief_source=run.brief_source,
        peak_concurrency=(run.summary or {}).get("peak_concurrency"),
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        conversations=[ConversationOut.model_validate(c, from_attributes=True) for c in convs]
        if transcripts
        else None,
    )


# --- running ---------------------------------------------------------------------------------


@dataclass
class Models:
    """The two LLMs of a simulation (``livekit.agents.llm.LLM``s): the agent's and the
    persona's. ``for_conversation(persona_id, index)`` returns the pair for one conversation;
    by default both come from the OpenAI-compatible settings and are shared by the run."""

    for_conversation: Callable[[str, int], tuple[Any, Any]]


def default_models(settings: Settings, meta: Any) -> Models:
    from livekit.agents.types import NOT_GIVEN
    from livekit.plugins import openai as lk_openai

    from nova.agent.server import build_llm

    agent = build_llm(settings, meta)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else NOT_GIVEN
    persona = lk_openai.LLM(
        model=settings.eval_persona_model or settings.llm_model,
        base_url=settings.openai_base_url or NOT_GIVEN,
        api_key=key,
        temperature=0.8,
    )
    return Models(lambda _persona, _index: (agent, persona))


class _JudgeUsage:
    """Wraps the judge's OpenAI client to count the tokens it spends."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.input_tokens = 0
        self.output_tokens = 0
        self.chat = self
        self.completions = self

    async def create(self, **kw: Any) -> Any:
        resp = await self._client.chat.completions.create(**kw)
        if resp.usage is not None:
            self.input_tokens += resp.usage.prompt_tokens or 0
            self.output_tokens += resp.usage.completion_tokens or 0
        return resp


def _sample_request(run: EvalRun) -> Any:
    from nova.calls.schemas import CallBatchRequest, LeadIn

    req = dict(run.request)
    lead = req.pop("lead", {}) or {}
    for k in ("collect_fields", "conversations_per_persona", "max_turns", "pass_threshold"):
        req.pop(k, None)
    return CallBatchRequest(
        owner_email="evals@nova.invalid",
        leads=[LeadIn(phone=SAMPLE_PHONE, **lead)],
        consent=True,
        **req,
    )


async def _prepare(
    settings: Settings, eval_id: str
) -> tuple[EvalRun, list[EvalConversation]] | None:
    """Mark the run running, build its brief once; the conversations left to simulate."""
    from nova.calls.briefs import build_brief

    async with session_scope() as session:
        run = await session.get(EvalRun, eval_id)
        if run is None or run.status in ("completed", "failed"):
            return None
        if run.status == "queued":
            run.status = "running"
            run.started_at = clock.now()
        need_brief = run.brief is None
    if need_brief:
        req = _sample_request(run)
        result = await build_brief(settings, req, req.leads[0], None)
        async with session_scope() as session:
            await session.execute(
                update(EvalRun)
                .where(EvalRun.id == eval_id)
                .values(brief=result.brief.model_dump(mode="json"), brief_source=result.source)
            )
        run.brief, run.brief_source = result.brief.model_dump(mode="json"), result.source
    async with session_scope() as session:
        todo = list(
            (
                await session.execute(
                    select(EvalConversation).where(
                        EvalConversation.eval_id == eval_id,
                        EvalConversation.status.in_(("pending", "running")),
                    )
                )
            ).scalars()
        )
    return run, todo


def _meta(run: EvalRun, conv_id: str) -> Any:
    from nova.calls.pipeline import DEFAULT_COLLECT_FIELDS
    from nova.telephony.metadata import Brief, DispatchMetadata, Lead

    req = run.request
    name = f"sim-{conv_id}"
    return DispatchMetadata(
        call_id=name,
        context_id=name,
        room_name=name,
        mode="demo",
        goal=run.goal,  # type: ignore[arg-type]
        language=run.language,  # type: ignore[arg-type]
        product=req["product"],
        lead=Lead(phone=SAMPLE_PHONE, **(req.get("lead") or {})),
        brief=Brief.model_validate(run.brief),
        booking_link=req.get("booking_link"),
        payment_link=req.get("payment_link"),
        collect_fields=req.get("collect_fields") or DEFAULT_COLLECT_FIELDS,
    )


class _Runner:
    def __init__(self, settings: Settings, run: EvalRun, models: Models | None) -> None:
        self.settings = settings
        self.run = run
        self.models = models
        self.personas = {p["id"]: Persona.model_validate(p) for p in run.personas}
        self.sem = asyncio.Semaphore(settings.eval_concurrency)
        self.in_flight = 0
        self.peak = 0
        self.allowed = checks.brief_text(
            run.brief or {},
            [
                run.request.get("product"),
                run.request.get("pricing_summary"),
                run.request.get("urgency_hook"),
                run.request.get("booking_link"),
                run.request.get("payment_link"),
            ],
        )

    async def conversation(self, conv_id: str, persona_id: str, index: int) -> None:
        async with self.sem:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await self._conversation(conv_id, persona_id, index)
            finally:
                self.in_flight -= 1

    async def _conversation(self, conv_id: str, persona_id: str, index: int) -> None:
        from nova.evals.simulate import simulate
        from nova.quality.judge import JudgeError, judge_transcript, make_client

        settings, run = self.settings, self.run
        persona = self.personas[persona_id]
        async with session_scope() as session:
            await session.execute(
                update(EvalConversation)
                .where(EvalConversation.id == conv_id)
                .values(status="running", started_at=clock.now())
            )
        meta = _meta(run, conv_id)
        if self.models is None:
            self.models = default_models(settings, meta)
        agent_llm, persona_llm = self.models.for_conversation(persona_id, index)
        values: dict[str, Any]
        try:
            async with asyncio.timeout(settings.eval_conversation_timeout_seconds):
                sim = await simulate(
                    settings,
                    meta,
                    persona,
                    agent_llm=agent_llm,
                    persona_llm=persona_llm,
                    max_turns=run.max_turns,
                )
                record = sim.record
                judge = _JudgeUsage(make_client(settings))
                try:
                    score = await judge_transcript(
                        settings,
                        record.transcript,
                        goal=run.goal,
                        product=run.request.get("product"),
                        language=run.language,
                        client=judge,  # type: ignore[arg-type]
                    )
                    record.score = score.model_dump(mode="json")
                except JudgeError as exc:
                    record.judge_error = str(exc)[:500]
        except TimeoutError:
            values = {
                "status": "error",
                "error": f"the conversation did not finish within "
                f"{settings.eval_conversation_timeout_seconds:g} s",
            }
        except Exception as exc:  # noqa: BLE001 - a provider failure fails this conversation only
            log.warning("eval %s conversation %s failed", run.id, conv_id, exc_info=True)
            values = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000]}
        else:
            results = checks.check_all(
                persona.expectations, record, goal=run.goal, allowed_text=self.allowed
            )
            usage: dict[str, Any] = dict(sim.usage)
            usage["judge"] = {
                "input_tokens": judge.input_tokens,
                "output_tokens": judge.output_tokens,
            }
            usage["talk_words"] = sum(len(t["text"].split()) for t in record.transcript)
            values = {
                "status": "passed" if all(c.passed for c in results) else "failed",
                "turns": sim.turns,
                "end_reason": "turn cap"
                if record.turn_cap_hit
                else "lead hung up"
                if record.lead_hung_up
                else record.end_reason,
                "outcome": record.outcome,
                "transcript": record.transcript,
                "tool_calls": record.tool_calls,
                "checks": [c.as_dict() for c in results],
                "score": record.score,
                "usage": usage,
                "error": record.judge_error,
                "duration_ms": sim.duration_ms,
            }
        values["finished_at"] = clock.now()
        async with session_scope() as session:
            await session.execute(
                update(EvalConversation).where(EvalConversation.id == conv_id).values(**values)
            )


async def _renew_lease(settings: Settings, eval_id: str, stop: asyncio.Event) -> None:
    """Keep the run's task leased to this process while it runs (the pump would otherwise
    hand it to another one after ``task_lease_seconds``)."""
    lease = settings.task_lease_seconds
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), lease / 3)
        if stop.is_set():
            return
        try:
            async with session_scope() as session:
                await session.execute(
                    update(Task)
                    .where(
                        Task.handler == RUN_TASK,
                        Task.dedupe_key == eval_id,
                        Task.status == "running",
                    )
                    .values(locked_until=clock.now() + timedelta(seconds=lease))
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # noqa: BLE001 - the next beat tries again
            log.warning("could not renew the lease of eval %s", eval_id, exc_info=True)


def _load_simulator() -> None:
    """Import livekit's agents framework (~2 s the first time). Its plugins (the OpenAI one
    in ``default_models``) refuse to register outside the main thread."""
    import nova.evals.simulate  # noqa: F401


async def run_eval(settings: Settings, eval_id: str, *, models: Models | None = None) -> None:
    """The ``evals.run`` task: simulate every unfinished conversation, then decide."""
    # The first run in a control-plane process imports the agent framework: in a thread,
    # so that requests keep being served meanwhile.
    await asyncio.to_thread(_load_simulator)
    prepared = await _prepare(settings, eval_id)
    if prepared is None:
        return
    run, todo = prepared
    runner = _Runner(settings, run, models)
    stop = asyncio.Event()
    beat = asyncio.create_task(_renew_lease(settings, eval_id, stop))
    try:
        await asyncio.gather(*(runner.conversation(c.id, c.persona, c.index) for c in todo))
    finally:
        stop.set()
        await beat
    await finish(settings, eval_id, peak=runner.peak)


async def finish(settings: Settings, eval_id: str, *, peak: int | None = None) -> None:
    async with session_scope() as session:
        run = await session.get(EvalRun, eval_id)
        if run is None:
            return
        convs = await _conversations(session, eval_id)
        results = persona_results(run, convs)
        run.status = "completed"
        run.passed = all(r.meets_threshold for r in results)
        summary = dict(run.summary or {})
        if peak is not None:
            summary["peak_concurrency"] = max(peak, summary.get("peak_concurrency", 0))
        summary["usage"] = usage_of(settings, convs).model_dump()
        run.summary = summary
        run.finished_at = clock.now()
    log.info("eval %s %s", eval_id, "passed" if run.passed else "failed")


async def fail(eval_id: str, reason: str) -> None:
    async with session_scope() as session:
        await session.execute(
            update(EvalRun)
            .where(EvalRun.id == eval_id, EvalRun.status.in_(("queued", "running")))
            .values(status="failed", error=reason[:2000], finished_at=clock.now())
        )
