"""MCP tools for simulated calls (evals): list personas, start an eval, read its result.

Like every Nova tool they drive the REST API (``/v1/evals``), never the database.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from nova.evals.schemas import EvalOut, PersonaOut

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)
_CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)

EvalId = Annotated[str, Field(min_length=1, max_length=64, description="Eval id from start_eval")]


class PersonaListOut(BaseModel):
    personas: list[PersonaOut]
    count: int


def register_eval_tools(server: MCPServer, provider: Any) -> None:
    @server.tool(
        title="List eval personas",
        annotations=_READ,
        description=(
            "The personas a simulated-call eval can use (GET /v1/evals/personas): the ones "
            "shipped with Nova (interested buyer, busy, hostile, price objection, wrong "
            "number, answering machine, asks for a person, stop calling, Gulf Arabic, "
            "off-script) and the account's own (custom:<slug>), each with the expectations a "
            "conversation with it must meet. Requires a token."
        ),
    )
    async def list_eval_personas(ctx: Context) -> PersonaListOut:
        async with provider.client(ctx) as api:
            data = await api.get("/v1/evals/personas")
        personas = [PersonaOut(**p) for p in data]
        return PersonaListOut(personas=personas, count=len(personas))

    @server.tool(
        title="Start a simulated-call eval",
        annotations=_CREATE,
        description=(
            "Test the agent on a brief before it calls anyone (POST /v1/evals): the real "
            "agent talks, in text, with an LLM playing each persona, N conversations per "
            "persona; each is scored by the judge and checked against the persona's "
            "expectations. Nothing is dialled or billed (the LLM cost is shown). The run "
            "continues in the background: poll get_eval with the returned id until status "
            "is completed. HTTP 503: the server has no LLM configured."
        ),
    )
    async def start_eval(
        ctx: Context,
        product: Annotated[str, Field(min_length=1, max_length=500)],
        goal: Literal["book_meeting", "qualify_interest", "collect_info", "close_sale"],
        context: Annotated[str | None, Field(max_length=10_000)] = None,
        language: Literal["en", "ar-AE"] = "en",
        booking_link: Annotated[str | None, Field(description="Required for book_meeting")] = None,
        payment_link: Annotated[str | None, Field(description="Required for close_sale")] = None,
        pricing_summary: str | None = None,
        personas: Annotated[
            list[str] | None, Field(description="Persona ids; default every shipped persona")
        ] = None,
        conversations_per_persona: Annotated[int, Field(ge=1, le=10)] = 1,
        max_turns: Annotated[int, Field(ge=1, le=30)] = 10,
        pass_threshold: Annotated[float, Field(ge=0, le=1)] = 1.0,
    ) -> EvalOut:
        body = {
            "product": product,
            "goal": goal,
            "context": context,
            "language": language,
            "booking_link": booking_link,
            "payment_link": payment_link,
            "pricing_summary": pricing_summary,
            "personas": personas,
            "conversations_per_persona": conversations_per_persona,
            "max_turns": max_turns,
            "pass_threshold": pass_threshold,
        }
        async with provider.client(ctx) as api:
            data = await api.post("/v1/evals", {k: v for k, v in body.items() if v is not None})
        return EvalOut(**data)

    @server.tool(
        title="Get an eval's result",
        annotations=_READ,
        description=(
            "Progress and result of a simulated-call eval (GET /v1/evals/{id}): status, "
            "passed, each persona's pass rate with every failure explained, LLM cost. "
            "transcripts=true adds every conversation's transcript, tool calls and checks."
        ),
    )
    async def get_eval(ctx: Context, eval_id: EvalId, transcripts: bool = False) -> EvalOut:
        async with provider.client(ctx) as api:
            data = await api.get(
                f"/v1/evals/{quote(eval_id, safe='')}",
                params={"transcripts": "true" if transcripts else "false"},
            )
        return EvalOut(**data)
