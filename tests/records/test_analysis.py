"""Post-call analysis: the account's schema, structured output from the LLM (the OpenAI
fake on loopback, driven through the real openai client), validation, retries,
``call.analyzed`` and the API."""

from __future__ import annotations

import json

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.events import Event
from nova.models.records import CallAnalysis
from tests.records.helpers import finish
from tests.telephony.factories import create_call

SCHEMA = {
    "type": "object",
    "properties": {
        "budget_aed": {"type": "number", "description": "Budget the lead named, in AED"},
        "decision_maker": {"type": "boolean", "description": "Decides alone"},
        "move_in": {"type": "string", "description": "When the lead wants to move in"},
        "next_step": {"type": "string", "enum": ["viewing", "callback", "none"]},
    },
}
ANSWER = {"budget_aed": 1200000, "decision_maker": False, "move_in": None, "next_step": "callback"}


def is_analysis(body: dict) -> bool:
    return (body.get("response_format") or {}).get("json_schema", {}).get("name") == "call_analysis"


def answering(*answers):
    """The fake's chat: the given answers in turn to analysis requests (the quality judge,
    which shares the endpoint, gets an empty object)."""
    it = iter(answers)
    return lambda body: next(it) if is_analysis(body) else "{}"


def analysis_requests(fake) -> list[dict]:
    return [b for b in fake.requests if is_analysis(b)]


async def events(type_: str) -> list[Event]:
    async with session_scope() as s:
        return list((await s.scalars(select(Event).where(Event.type == type_))).all())


async def set_schema(client, user, schema=SCHEMA):
    r = await client.put(
        "/v1/records/settings", json={"analysis_schema": schema}, headers=user["headers"]
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_schema_is_stored_in_strict_form(client, user):
    body = await set_schema(client, user)
    schema = body["analysis_schema"]
    assert body["analysis_schema_version"] == 1
    assert schema["required"] == ["budget_aed", "decision_maker", "move_in", "next_step"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["budget_aed"]["type"] == ["number", "null"]
    assert schema["properties"]["next_step"]["enum"] == ["viewing", "callback", "none", None]
    # Same schema again: same version. Turning it off bumps it.
    assert (await set_schema(client, user))["analysis_schema_version"] == 1
    off = await client.put(
        "/v1/records/settings", json={"analysis_schema": None}, headers=user["headers"]
    )
    assert off.json()["analysis_schema"] is None and off.json()["analysis_schema_version"] == 2
    got = await client.get("/v1/records/settings", headers=user["headers"])
    assert got.json()["retention_days"] == 90 and got.json()["retention_days_custom"] is False


async def test_bad_schemas_are_refused_with_the_reason(client, user):
    cases = [
        ({"type": "array"}, "object schema"),
        ({"properties": {}}, "needs properties"),
        ({"properties": {"Budget": {"type": "number"}}}, "lower-case"),
        ({"properties": {"x": {"type": "object"}}}, "type must be one of"),
        ({"properties": {"x": {"type": "string", "enum": []}}}, "enum"),
        ({"properties": {"x": {"type": "number", "enum": [1]}}}, "enum"),
        (
            {"properties": {"x": {"type": "array", "items": {"type": "number"}}}},
            "must be of strings",
        ),
        ({"properties": {f"f{i}": {"type": "string"} for i in range(31)}}, "at most 30"),
        ({"properties": {"x": {"type": "string", "description": "d" * 501}}}, "500"),
    ]
    for schema, reason in cases:
        r = await client.put(
            "/v1/records/settings", json={"analysis_schema": schema}, headers=user["headers"]
        )
        assert r.status_code == 400, (schema, r.text)
        assert reason in r.json()["detail"], (reason, r.json())
    got = await client.get("/v1/records/settings", headers=user["headers"])
    assert got.json()["analysis_schema"] is None  # nothing half-written
    r = await client.put(
        "/v1/records/settings", json={"retention_days": -1}, headers=user["headers"]
    )
    assert r.status_code == 422


async def test_analysis_after_the_call_emits_call_analyzed(client, clock, user, openai_fake, pump):
    openai_fake.chat = answering(json.dumps(ANSWER))
    await set_schema(client, user)
    call = await create_call(user_id=user["user"]["id"], goal="qualify_interest")
    r = await client.get(f"/v1/calls/{call.id}/analysis", headers=user["headers"])
    assert r.json()["status"] == "pending"

    await finish(client, clock, call.id, outcome="callback_requested")
    await pump.drain()

    [request] = analysis_requests(openai_fake)
    fmt = request["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == list(SCHEMA["properties"])
    prompt = request["messages"][1]["content"]
    assert "LEAD: My budget is about 1.2 million" in prompt
    assert "Agent's recorded outcome: callback_requested" in prompt

    body = (await client.get(f"/v1/calls/{call.id}/analysis", headers=user["headers"])).json()
    assert body["status"] == "done" and body["data"] == ANSWER
    assert body["outcome"] == "callback_requested" and body["goal_completed"] is True
    assert body["schema_version"] == 1 and body["model"] == "gpt-4o-mini"
    [event] = await events("call.analyzed")
    assert event.data["analysis"] == ANSWER and event.data["customer_id"] == user["user"]["id"]
    assert event.data["outcome"] == "callback_requested"


async def test_invalid_output_is_retried_then_fails_with_the_reason(
    client, clock, user, openai_fake, pump, settings
):
    settings.analysis_max_attempts = 2
    openai_fake.chat = answering(
        json.dumps({**ANSWER, "next_step": "tomorrow"}),  # not in the enum
        json.dumps({"budget_aed": 1}),  # fields missing
    )
    await set_schema(client, user)
    call = await create_call(user_id=user["user"]["id"])
    await finish(client, clock, call.id)
    await pump.drain()
    async with session_scope() as s:
        row = await s.get(CallAnalysis, call.id)
    assert row.status == "pending" and row.attempts == 1 and "next_step" in row.last_error
    clock.advance(31)  # the retry is due
    await pump.drain()
    body = (await client.get(f"/v1/calls/{call.id}/analysis", headers=user["headers"])).json()
    assert body["status"] == "failed" and "missing" in body["error"] and body["data"] is None
    assert len(analysis_requests(openai_fake)) == 2 and await events("call.analyzed") == []


async def test_provider_error_then_success(client, clock, user, openai_fake, pump):
    openai_fake.chat = answering(
        {"status": 503, "error": {"message": "overloaded"}}, json.dumps(ANSWER)
    )
    await set_schema(client, user)
    call = await create_call(user_id=user["user"]["id"])
    await finish(client, clock, call.id)
    await pump.drain()
    clock.advance(31)
    await pump.drain()
    body = (await client.get(f"/v1/calls/{call.id}/analysis", headers=user["headers"])).json()
    assert body["status"] == "done" and body["data"] == ANSWER
    assert len(await events("call.analyzed")) == 1


async def test_no_schema_no_analysis(client, clock, user, openai_fake, pump):
    call = await create_call(user_id=user["user"]["id"])
    await finish(client, clock, call.id)
    await pump.drain()
    body = (await client.get(f"/v1/calls/{call.id}/analysis", headers=user["headers"])).json()
    assert body["status"] == "not_configured" and analysis_requests(openai_fake) == []


async def test_call_analyzed_is_a_webhook_event(client, user):
    r = await client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/nova", "events": ["call.analyzed"]},
        headers=user["headers"],
    )
    assert r.status_code == 201, r.text
