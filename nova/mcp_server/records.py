"""MCP tools for call records: a call's transcript, latency and post-call analysis, and
analytics across calls. Like every tool they only drive the REST API (``nova.records``);
the API's response models are their output schemas."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from nova.mcp_server.models import CallId, Goal
from nova.records.schemas import AnalysisOut, AnalyticsOut, CallLatencyOut, TranscriptOut

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)
Day = Annotated[
    str | None, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="A UTC day, YYYY-MM-DD.")
]


def register(server: MCPServer, provider) -> None:
    async def call_part(ctx: Context, call_id: str, part: str) -> dict:
        async with provider.client(ctx) as api:
            return await api.get(f"/v1/calls/{quote(call_id, safe='')}/{part}")

    @server.tool(
        title="Get a call's transcript",
        annotations=_READ,
        description=(
            "The call's turns (GET /v1/calls/{call_id}/transcript): speaker (agent|lead), "
            "text, start/end offsets in seconds from the start of the call, and whether the "
            "agent was interrupted. state=pending until the call ends; expired after the "
            "account's retention period. Requires a token; 404 for another account's call."
        ),
    )
    async def get_call_transcript(ctx: Context, call_id: CallId) -> TranscriptOut:
        return TranscriptOut.model_validate(await call_part(ctx, call_id, "transcript"))

    @server.tool(
        title="Get a call's post-call analysis",
        annotations=_READ,
        description=(
            "The fields extracted after the call with the account's analysis schema, next to "
            "the disposition the agent recorded (GET /v1/calls/{call_id}/analysis). status: "
            "not_configured (no schema), pending, done, failed (with error) or expired."
        ),
    )
    async def get_call_analysis(ctx: Context, call_id: CallId) -> AnalysisOut:
        return AnalysisOut.model_validate(await call_part(ctx, call_id, "analysis"))

    @server.tool(
        title="Get a call's latency",
        annotations=_READ,
        description=(
            "Per-turn latency of one call in milliseconds (GET /v1/calls/{call_id}/latency): "
            "end-of-utterance delay, LLM time to first token, TTS time to first byte and end "
            "to end, each as n/p50/p95/max/avg, plus interruptions."
        ),
    )
    async def get_call_latency(ctx: Context, call_id: CallId) -> CallLatencyOut:
        return CallLatencyOut.model_validate(await call_part(ctx, call_id, "latency"))

    @server.tool(
        title="Get call analytics",
        annotations=_READ,
        description=(
            "Calls, connect rate, outcomes, goal completion, minutes, average quality and "
            "latency percentiles (p50/p90/p95/p99 ms) over a period, totals plus by day and "
            "by goal (GET /v1/analytics). Default period: the last 30 days; at most 366 days."
        ),
    )
    async def get_analytics(
        ctx: Context, start: Day = None, end: Day = None, goal: Goal | None = None
    ) -> AnalyticsOut:
        params = {k: v for k, v in {"start": start, "end": end, "goal": goal}.items() if v}
        async with provider.client(ctx) as api:
            data = await api.get("/v1/analytics", params=params)
        return AnalyticsOut.model_validate(data)
