"""One simulated call: the real agent job in text mode against an LLM playing the lead.

The agent side is exactly what ``nova worker`` runs for a call (``nova.agent.server.run_job``
with ``text_only=True``): the goal's ``SalesAgent``, its phases, tools and prompts, the
opening line said without an LLM round trip, hanging up through the job runner. Only its
peers are replaced: the lead is a persona LLM, and the reports the agent would send to the
control plane (SMS, opt-out, result, transcript) are recorded here instead. Nothing is
dialled, texted or billed.

Imports ``livekit.agents`` (~2 s): only the background runner and the benches load this.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import llm
from livekit.agents.testing import fake_job_context

from nova.agent.server import run_job, transcript_of
from nova.core.settings import Settings
from nova.evals.checks import Record
from nova.evals.personas import Persona
from nova.telephony.metadata import DispatchMetadata

HANG_UP = re.compile(r"\[\s*hang(?:s|ing)?\s*up\s*\]", re.I)
HANGUP_WAIT_SECONDS = 10.0


class AgentFailed(Exception):  # noqa: N818 - reads as what happened
    """The agent could not answer (its LLM failed for good): the conversation is an error,
    not a verdict on the brief."""


class SimReporter:
    """Takes the place of the worker's ``Reporter``: keeps every report in memory."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        self.sent.append((kind, dict(data or {})))
        return {}

    async def aclose(self) -> None:
        return None


def persona_prompt(persona: Persona, meta: DispatchMetadata) -> str:
    language = (
        "Speak only Gulf Arabic (Emirati dialect), in Arabic script."
        if persona.language == "ar-AE"
        else "Speak English."
    )
    name = meta.lead.name or "the person the caller asks for"
    return (
        "You are role-playing the person who answers an outbound sales phone call, to test "
        "an AI sales agent. Stay in character for the whole call.\n"
        f"Who you are: {persona.description}\n"
        f"What you want from this call: {persona.goal}\n"
        f"The caller is selling: {meta.product}. Your name: {name}.\n"
        f"Rules: {language} Reply with only the words you say out loud, one to three short "
        "sentences. Never describe actions, never speak for the caller, never mention these "
        "instructions. When you are done with the call, or the caller has said goodbye, end "
        "your reply with [hang up]."
    )


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, input_tokens: int | None, output_tokens: int | None) -> None:
        self.input_tokens += int(input_tokens or 0)
        self.output_tokens += int(output_tokens or 0)

    def as_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


class Lead:
    """The persona's side: its scripted lines first, then its LLM."""

    def __init__(self, persona: Persona, meta: DispatchMetadata, model: llm.LLM | None) -> None:
        self.persona = persona
        self.model = model
        self.system = persona_prompt(persona, meta)
        self.lines = list(persona.script)
        self.usage = Usage()

    async def reply(self, transcript: list[dict[str, Any]]) -> tuple[str, bool]:
        """The lead's next words and whether they hang up after them."""
        if self.lines:
            text = self.lines.pop(0)
            return text, self.persona.script_only and not self.lines
        if self.persona.script_only or self.model is None:
            return "", True
        ctx = llm.ChatContext()
        ctx.add_message(role="system", content=self.system)
        for turn in transcript:  # the agent is "user" to the persona, the lead its own voice
            ctx.add_message(
                role="assistant" if turn["role"] == "user" else "user", content=turn["text"]
            )
        stream = self.model.chat(chat_ctx=ctx)
        try:
            resp = await stream.collect()
        finally:
            await stream.aclose()
        if resp.usage is not None:
            self.usage.add(resp.usage.prompt_tokens, resp.usage.completion_tokens)
        text = resp.text or ""
        hangs_up = bool(HANG_UP.search(text))
        return HANG_UP.sub("", text).strip(), hangs_up


@dataclass
class Simulation:
    record: Record
    turns: int
    reports: list[tuple[str, dict[str, Any]]]
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    duration_ms: int = 0


def tool_calls_of(session: Any) -> list[dict[str, Any]]:
    """Every tool call of the session with its output, and the transcript line it belongs to."""
    calls: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    lines = 0
    for item in session.history.items:
        kind = getattr(item, "type", None)
        if kind == "message" and item.role in ("user", "assistant"):
            if (item.text_content or "").strip():
                lines += 1
        elif kind == "function_call":
            try:
                args = json.loads(item.arguments or "{}")
            except ValueError:
                args = {"raw": item.arguments}
            entry = {"name": item.name, "arguments": args, "turn": lines + 1}
            calls.append(entry)
            by_id[item.call_id] = entry
        elif kind == "function_call_output":
            entry = by_id.get(item.call_id)
            if entry is not None:
                entry["output"] = (item.output or "")[:500]
                entry["is_error"] = bool(item.is_error)
    return calls


def _usage_of_session(session: Any) -> Usage:
    usage = Usage()
    for u in session.usage.model_usage:
        if getattr(u, "type", "") == "llm_usage":
            usage.add(u.input_tokens, u.output_tokens)
    return usage


async def simulate(
    settings: Settings,
    meta: DispatchMetadata,
    persona: Persona,
    *,
    agent_llm: Any,
    persona_llm: llm.LLM | None,
    max_turns: int,
) -> Simulation:
    """Run one conversation to its end: the agent hangs up, the lead hangs up, or the lead
    has spoken ``max_turns`` times."""
    started = time.perf_counter()
    reporter = SimReporter(meta.call_id)
    over = asyncio.Event()

    async def lead_is_there() -> None:
        return None

    async def call_clock(_seconds: float) -> None:
        # The turn cap is a simulation's limit; the duration watchdog just waits for the end.
        await over.wait()

    with fake_job_context(job_metadata=meta.model_dump_json()) as ctx:
        runner = await run_job(
            ctx,
            settings,
            reporter=reporter,  # type: ignore[arg-type]
            llm=agent_llm,
            text_only=True,
            wait_for_caller=lead_is_there,
            sleep=call_clock,
            prerender_greeting=False,
        )
    assert runner is not None  # the metadata is ours, so it is valid
    session, state = runner.session, runner.state
    failures: list[str] = []

    def on_error(ev: Any) -> None:
        if not getattr(ev.error, "recoverable", True):
            failures.append(str(getattr(ev.error, "error", None) or ev.error)[:500])

    session.on("error", on_error)
    lead = Lead(persona, meta, persona_llm)
    turns, turn_cap_hit, lead_hung_up, last_words = 0, False, False, ""
    try:
        if runner.greeting is not None:
            await runner.greeting
        while not runner.ended.is_set() and not state.hangup_requested:
            if turns >= max_turns:
                turn_cap_hit = True
                break
            text, hangs_up = await lead.reply(transcript_of(session))
            if text:
                turns += 1
            if hangs_up:
                # Last words, then the line goes dead: the agent's answer would reach no one.
                last_words = text
                lead_hung_up = True
                break
            if text:
                try:
                    await session.run(user_input=text)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:500])
            if failures:
                raise AgentFailed(f"the agent failed on lead turn {turns}: {failures[0]}")
        if state.hangup_requested and not runner.ended.is_set():
            await asyncio.wait_for(runner.ended.wait(), HANGUP_WAIT_SECONDS)
        agent_usage = _usage_of_session(session)
        transcript = transcript_of(session)
        if last_words:
            transcript.append({"role": "user", "text": last_words})
        tool_calls = tool_calls_of(session)
    finally:
        reason = "turn cap" if turn_cap_hit else "lead hung up" if lead_hung_up else "ended"
        await runner.hangup(reason)
        over.set()
        await session.aclose()
    record = Record(
        transcript=[{"role": t["role"], "text": t["text"]} for t in transcript],
        tool_calls=tool_calls,
        outcome=state.outcome,
        end_reason=state.end_reason,
        turn_cap_hit=turn_cap_hit,
        lead_hung_up=lead_hung_up,
    )
    return Simulation(
        record=record,
        turns=turns,
        reports=reporter.sent,
        usage={"agent": agent_usage.as_dict(), "persona": lead.usage.as_dict()},
        duration_ms=round((time.perf_counter() - started) * 1000),
    )
