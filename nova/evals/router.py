"""HTTP: /v1/evals (simulated calls) and /v1/evals/personas. Bearer token only; an account
sees only its own runs and personas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from nova.api.deps import CurrentUser, SessionDep, SettingsDep
from nova.evals import service
from nova.evals.schemas import EvalCreate, EvalOut, EvalSummaryOut, PersonaCreate, PersonaOut

router = APIRouter(prefix="/v1/evals", tags=["evals"])


@router.get("/personas", response_model=list[PersonaOut])
async def list_personas(user: CurrentUser, session: SessionDep) -> list[PersonaOut]:
    """The shipped personas and yours (``custom:<slug>``), with their expectations."""
    return await service.list_personas(session, user)


@router.post(
    "/personas",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonaOut,
    responses={409: {"description": "You already have a persona with this slug"}},
)
async def create_persona(
    body: PersonaCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> PersonaOut:
    """A custom persona: who the lead is, what they want, and (optionally) the expectations
    a conversation with them must meet."""
    return await service.create_persona(session, settings, user, body)


@router.delete("/personas/{persona_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_persona(persona_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Delete one of your personas (finished runs keep their snapshot of it)."""
    await service.delete_persona(session, user, persona_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EvalOut,
    responses={
        400: {"description": "Unknown persona, or the goal's link is missing"},
        429: {"description": "Too many of your evals are still in progress"},
        503: {"description": "No LLM is configured"},
    },
)
async def create_eval(
    body: EvalCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> EvalOut:
    """Start simulated calls of the agent with this brief against personas. The run goes on
    in the background: follow it with ``GET /v1/evals/{id}``. Never dials, never billed."""
    run = await service.create_eval(session, settings, user, body)
    return await service.get_eval(session, settings, user, run.id, transcripts=False)


@router.get("", response_model=list[EvalSummaryOut])
async def list_evals(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[EvalSummaryOut]:
    """Your most recent eval runs first."""
    return await service.list_evals(session, user, limit=limit)


@router.get("/{eval_id}", response_model=EvalOut, responses={404: {"description": "Not found"}})
async def get_eval(
    eval_id: str,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    transcripts: bool = True,
) -> EvalOut:
    """Progress, the verdict, each persona's pass rate with its failures explained, the LLM
    cost and (unless ``transcripts=false``) every conversation."""
    return await service.get_eval(session, settings, user, eval_id, transcripts=transcripts)
