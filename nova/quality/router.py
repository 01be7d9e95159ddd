"""HTTP: GET /api/calls/{call_id}/quality and GET /finetune/status."""

from __future__ import annotations

from fastapi import APIRouter

from nova.api.deps import OptionalUser, SessionDep, SettingsDep
from nova.api.health import register_probe
from nova.core.db import session_scope
from nova.core.settings import Settings
from nova.quality import finetune, service
from nova.quality.judge import NOT_CONFIGURED, judge_configured, judge_model
from nova.quality.schemas import CallQualityOut, FineTuneStatusOut, FineTuneStep

router = APIRouter(tags=["quality"])


@router.get(
    "/api/calls/{call_id}/quality",
    response_model=CallQualityOut,
    responses={
        401: {"description": "The call belongs to an account and no bearer token was sent"},
        403: {"description": "Authenticated but you don't own this call"},
        404: {"description": "Call not found"},
    },
)
async def call_quality(call_id: str, session: SessionDep, user: OptionalUser) -> CallQualityOut:
    """The call's LLM-as-judge score; ``score`` is null while scoring is pending."""
    return await service.call_quality(session, call_id, user)


@router.get("/finetune/status", response_model=FineTuneStatusOut)
async def finetune_status(session: SessionDep, settings: SettingsDep) -> FineTuneStatusOut:
    """Latest nightly fine-tune run: status, baseline vs candidate score, promoted alias."""
    ok, _why = finetune.configured(settings)
    run = await finetune.latest_run(session)
    promoted = await finetune.promoted_model(session)
    base = FineTuneStatusOut(
        enabled=settings.finetune_enabled,
        configured=ok,
        status="never_run",
        base_model=finetune.base_model(settings),
        promoted_alias=promoted,
    )
    if run is None:
        return base
    return base.model_copy(
        update={
            "status": run.status,
            "night": run.night,
            "started_at": run.created_at,
            "finished_at": run.finished_at,
            "n_examples": run.n_examples,
            "n_heldout": run.n_heldout,
            "base_model": run.base_model or base.base_model,
            "baseline_model": run.baseline_model,
            "baseline_score": run.baseline_score,
            "candidate_model": run.candidate_model,
            "candidate_score": run.candidate_score,
            "error": run.error,
            "steps": [FineTuneStep(**s) for s in run.steps or []],
        }
    )


async def _judge_probe(settings: Settings) -> tuple[bool, str]:
    """Reports whether scoring can run. Never fails the deep health check: without a judge
    calls still run, their scores just stay pending."""
    async with session_scope() as session:
        pending = await service.pending_scores(session)
    if not judge_configured(settings):
        return True, f"{NOT_CONFIGURED} ({int(pending or 0)} pending)"
    return True, f"judge {judge_model(settings)} ({int(pending or 0)} pending)"


register_probe("quality_judge", _judge_probe)
