"""Evals test harness: the quality judge (and the brief writer) answer from the loopback
OpenAI fake through the real openai client; the agent and the persona are scripted LLMs
(``Scripted``) or, in one test, the same fake through livekit's OpenAI plugin."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from nova.agent.scripted import ScriptedLLM
from nova.evals import service
from nova.evals.service import Models
from tests.quality.helpers import judgement

BRIEF = {
    "agent_instructions": "You are Nova, an AI assistant calling for Marina Towers.",
    "opening_line": "Hi Sam, this is Nova, an AI assistant calling on behalf of Marina Towers. "
    "Do you have a minute?",
    "qualification_questions": ["What is your budget?", "When do you plan to buy?"],
    "objection_handlers": [
        {"objection": "It's too expensive", "response": "Payment plans start at 1% a month."}
    ],
    "closing_script": "I'll text you the booking link. Thanks for your time!",
    "product_facts": ["Apartments from 1.2M AED", "Handover in 2027"],
}

BODY = {
    "product": "Marina Towers",
    "goal": "book_meeting",
    "booking_link": "https://cal.example.com/marina",
    "context": "Sea-view apartments in Dubai Marina.",
}


def answer(body: dict[str, Any], *, overall: int = 80, compliance: int = 4) -> str:
    """The fake's answer: a brief for the brief writer, a judgement for the judge."""
    name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    if name == "call_brief":
        return json.dumps(BRIEF)
    verdict = judgement(overall=overall)
    verdict["dimensions"]["compliance_professionalism"]["score"] = compliance
    return json.dumps(verdict)


@pytest.fixture
async def llm_peer(openai_fake):
    openai_fake.chat = answer
    return openai_fake


Script = Sequence[Any]


def scripted(
    agent: dict[str, Script] | Callable[[str, int], Script],
    lead: dict[str, Script] | Callable[[str, int], Script],
) -> Models:
    """Models whose agent and persona LLMs follow a script per persona (or per conversation)."""

    def pick(source, persona: str, index: int) -> Script:
        return source(persona, index) if callable(source) else source.get(persona, ())

    return Models(
        lambda persona, index: (
            ScriptedLLM(pick(agent, persona, index)),
            ScriptedLLM(pick(lead, persona, index), default="Okay. [hang up]"),
        )
    )


async def start(client, user, **overrides) -> dict:
    r = await client.post("/v1/evals", json={**BODY, **overrides}, headers=user["headers"])
    assert r.status_code == 202, r.text
    return r.json()


async def run(client, user, settings, models: Models, **overrides) -> dict:
    """POST /v1/evals, run it (what the evals.run task does) with ``models``, GET it."""
    created = await start(client, user, **overrides)
    await service.run_eval(settings, created["id"], models=models)
    r = await client.get(f"/v1/evals/{created['id']}", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()
