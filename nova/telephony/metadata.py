"""The agent dispatch metadata: one model shared by the control plane (which writes it into
the LiveKit dispatch) and the worker (which reads it from ``ctx.job.metadata``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Goal = Literal["book_meeting", "qualify_interest", "collect_info", "close_sale"]
Language = Literal["en", "ar-AE"]


class Brief(BaseModel):
    """What the agent says and knows: generated per lead (LLM or template)."""

    model_config = ConfigDict(extra="ignore")

    agent_instructions: str
    opening_line: str
    qualification_questions: list[str] = Field(default_factory=list)
    objection_handlers: list[dict[str, str]] = Field(default_factory=list)  # {objection, response}
    closing_script: str = ""
    product_facts: list[str] = Field(default_factory=list)


class Lead(BaseModel):
    model_config = ConfigDict(extra="ignore")

    phone: str
    name: str | None = None
    company: str | None = None
    email: str | None = None
    title: str | None = None


class DispatchMetadata(BaseModel):
    """Serialized as JSON into ``CreateAgentDispatchRequest.metadata``."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    call_id: str
    context_id: str
    room_name: str
    mode: Literal["demo", "sip"] = "demo"
    goal: Goal
    language: Language = "en"
    product: str
    lead: Lead
    brief: Brief
    booking_link: str | None = None
    payment_link: str | None = None
    collect_fields: list[str] = Field(default_factory=list)
    # Hard cap on the conversation (the account's reserved minutes), seconds.
    max_duration_seconds: int = 600
    # SIP mode: which outbound trunk and caller id to dial from.
    sip_trunk_id: str | None = None
    caller_id: str | None = None
    # Voice to speak with (an activated cloned voice), provider-specific id.
    voice_id: str | None = None
    # LLM the agent uses (the fine-tune loop's promoted alias); None = the worker's default.
    llm_model: str | None = None
    # SIP mode: the account's human number (E.164) and how to hand the lead over to it
    # (warm: the agent briefs the person first; cold: SIP transfer). None: no transfer.
    transfer_to: str | None = None
    transfer_mode: Literal["warm", "cold"] = "warm"
    # Where the worker reports (signed), e.g. https://api.example.com/internal/worker
    report_url: str | None = None
