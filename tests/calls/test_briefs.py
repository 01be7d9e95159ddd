"""Briefs through the real openai client against a local OpenAI-compatible fake: structured
output, concurrency, and every template fallback."""

from __future__ import annotations

import asyncio
import json

from tests.calls.conftest import brief_json, leads, payload


async def _context(client, body: dict) -> dict:
    r = await client.post("/calls", json=body)
    assert r.status_code == 200, r.text
    return (await client.get(f"/contexts/{r.json()['calls'][0]['context_id']}")).json()


async def test_llm_brief_with_structured_output(client, livekit, openai_fake, settings):
    settings.llm_model = "test-model"
    openai_fake.chat = lambda body: brief_json()
    ctx = await _context(client, payload(website_url=None))
    assert ctx["source"] == "llm" and ctx["source_note"] is None
    assert ctx["opening_line"].startswith("Hi, this is Nova, an AI assistant")
    assert ctx["objection_handlers"] == [{"objection": "Too expensive", "response": "AED 99/seat."}]
    req = openai_fake.requests[0]
    assert req["model"] == "test-model"
    fmt = req["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert set(fmt["json_schema"]["schema"]["required"]) == {
        "agent_instructions",
        "opening_line",
        "qualification_questions",
        "objection_handlers",
        "closing_script",
        "product_facts",
    }
    system, user = req["messages"][0]["content"], req["messages"][1]["content"]
    assert "AI assistant calling on behalf of CloudSync CRM" in system
    assert '"name": "Sarah"' in user and "+971501234567" not in user  # no phone to the LLM


async def test_briefs_for_all_leads_run_concurrently(client, livekit, openai_fake):
    """Proved by events, not timing: each of the five LLM requests is held until all five
    have arrived. Briefs written one after another would never get there: the first
    request gives up (an LLM error) and its lead falls back to the template brief."""
    arrived = 0
    all_in = asyncio.Event()

    async def chat(body):
        nonlocal arrived
        arrived += 1
        if arrived == 5:
            all_in.set()
        try:
            await asyncio.wait_for(all_in.wait(), 5)
        except TimeoutError:
            return {"status": 500, "error": {"message": "the other briefs never came"}}
        return brief_json()

    openai_fake.chat = chat
    r = await client.post("/calls", json=payload(leads=leads(5)))
    assert r.json()["dispatched"] == 5
    assert len(openai_fake.requests) == 5
    for c in r.json()["calls"]:
        assert (await client.get(f"/contexts/{c['context_id']}")).json()["source"] == "llm"


async def test_arabic_llm_prompt_asks_for_gulf_arabic(client, livekit, openai_fake):
    openai_fake.chat = lambda body: brief_json("مرحبا، معاك نوفا، مساعد ذكاء اصطناعي")
    ctx = await _context(client, payload(language="ar-AE"))
    assert ctx["source"] == "llm"
    assert "Gulf Arabic" in openai_fake.requests[0]["messages"][0]["content"]


async def test_malformed_llm_output_falls_back_to_template(client, livekit, openai_fake):
    openai_fake.chat = lambda body: "this is not json"
    ctx = await _context(client, payload())
    assert ctx["source"] == "template"
    assert "not a valid brief" in ctx["source_note"]
    assert "AI assistant calling on behalf of CloudSync CRM" in ctx["opening_line"]


async def test_llm_output_missing_fields_falls_back(client, livekit, openai_fake):
    openai_fake.chat = lambda body: json.dumps({"opening_line": "hi"})
    ctx = await _context(client, payload())
    assert ctx["source"] == "template" and "not a valid brief" in ctx["source_note"]


async def test_llm_http_error_falls_back(client, livekit, openai_fake):
    openai_fake.chat = lambda body: {"status": 500, "error": {"message": "boom"}}
    ctx = await _context(client, payload())
    assert ctx["source"] == "template"
    assert ctx["source_note"].startswith("LLM error: InternalServerError")


async def test_slow_llm_falls_back_within_its_budget(client, livekit, openai_fake, settings):
    settings.brief_llm_timeout_seconds = 0.2
    openai_fake.delay = 0.6
    openai_fake.chat = lambda body: brief_json()
    ctx = await _context(client, payload())
    assert ctx["source"] == "template"
    assert ctx["source_note"] == "LLM exceeded its 0.2 s budget"


async def test_opening_without_ai_disclosure_is_replaced(client, livekit, openai_fake):
    openai_fake.chat = lambda body: brief_json("Hi Sarah, John from CloudSync here, got a minute?")
    ctx = await _context(client, payload())
    assert ctx["source"] == "llm"
    assert ctx["opening_line"].startswith("Hi Sarah, this is Nova, an AI assistant calling")


async def test_goal_specific_template_closings(client, livekit):
    ctx = await _context(
        client,
        payload(
            goal="close_sale",
            payment_link="https://pay.example/p/1",
            urgency_hook="20% off this week",
        ),
    )
    assert "https://pay.example/p/1" in ctx["closing_script"]
    assert ctx["closing_script"].startswith("20% off this week")
    assert "close the sale" in ctx["agent_instructions"]
