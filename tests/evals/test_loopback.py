"""One eval run as production runs it: queued by POST /v1/evals, run by the task pump, the
agent's and the persona's LLM being livekit's OpenAI plugin and the judge the openai SDK,
all talking to the loopback OpenAI-compatible fake over HTTP."""

from __future__ import annotations

import json
import uuid

from tests.evals.conftest import BODY, answer
from tests.fakes.openai_server import chat_response


def _text(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content


def llm_peer(body: dict):
    """Plays three parts, told apart by their requests: the agent (streamed, with tools), the
    persona (streamed, role-play prompt) and the brief writer / judge (structured output)."""
    if not body.get("stream"):
        return answer(body)
    messages = body["messages"]
    system = _text(messages[0])
    last = messages[-1]
    if system.startswith("You are role-playing"):
        said = _text(last).lower()
        if "won't be called" in said or "goodbye" in said:
            return "Thank you. [hang up]"
        return "Please stop calling me. Take me off your list."
    tools = {t["function"]["name"] for t in body.get("tools") or []}
    assert {"opt_out", "end_call", "send_link_sms"} <= tools
    if last["role"] == "tool":
        return "I'm sorry for the trouble: you won't be called again. Goodbye!"
    if last["role"] == "user" and "stop calling" in _text(last).lower():
        tool_call = {
            "id": f"call_{uuid.uuid4().hex[:8]}",
            "type": "function",
            "function": {"name": "opt_out", "arguments": json.dumps({"reason": "asked"})},
        }
        return chat_response(None, tool_calls=[tool_call])
    return "Of course."


async def test_a_run_through_the_pump_against_the_loopback_openai_fake(
    client, user, settings, openai_fake, pump
):
    openai_fake.chat = llm_peer
    r = await client.post(
        "/v1/evals", json={**BODY, "personas": ["stop_calling"]}, headers=user["headers"]
    )
    assert r.status_code == 202, r.text
    eval_id = r.json()["id"]
    await pump.drain()
    out = (await client.get(f"/v1/evals/{eval_id}", headers=user["headers"])).json()
    assert out["status"] == "completed", out
    [conv] = out["conversations"]
    assert conv["status"] == "passed", conv["checks"]
    assert [t["name"] for t in conv["tool_calls"]] == ["opt_out"]
    assert conv["transcript"] == [
        {"role": "agent", "text": BODY_OPENING},
        {"role": "user", "text": "Please stop calling me. Take me off your list."},
        {"role": "agent", "text": "I'm sorry for the trouble: you won't be called again. Goodbye!"},
        {"role": "user", "text": "Thank you."},
    ]
    assert conv["outcome"] == "opted_out" and conv["end_reason"] == "lead hung up"
    assert out["passed"] is True
    # Every part really went over HTTP: brief, agent (streamed), persona (streamed), judge.
    kinds = [
        (b.get("response_format") or {}).get("json_schema", {}).get("name")
        or ("persona" if _text(b["messages"][0]).startswith("You are role-playing") else "agent")
        for b in openai_fake.requests
    ]
    assert kinds[0] == "call_brief" and kinds[-1] == "call_quality_score"
    assert kinds.count("agent") == 2 and kinds.count("persona") == 2
    # Tokens the fake reported are counted per role: 10 in, 10 out per request.
    assert out["usage"]["by_role"]["agent"] == {"input_tokens": 20, "output_tokens": 20}
    assert out["usage"]["by_role"]["persona"] == {"input_tokens": 20, "output_tokens": 20}
    assert out["usage"]["llm_cost_usd"] > 0


BODY_OPENING = json.loads(answer({"response_format": {"json_schema": {"name": "call_brief"}}}))[
    "opening_line"
]


async def test_a_failing_agent_llm_is_an_error_not_a_verdict(client, user, settings, openai_fake):
    def agent_refused(body: dict):
        if body.get("stream") and not _text(body["messages"][0]).startswith("You are role-playing"):
            return {"status": 400, "error": {"message": "model not found"}}
        return llm_peer(body)

    openai_fake.chat = agent_refused
    r = await client.post(
        "/v1/evals", json={**BODY, "personas": ["hostile"]}, headers=user["headers"]
    )
    from nova.evals import service

    await service.run_eval(settings, r.json()["id"])
    out = (await client.get(f"/v1/evals/{r.json()['id']}", headers=user["headers"])).json()
    [conv] = out["conversations"]
    assert conv["status"] == "error"
    assert conv["error"].startswith("AgentFailed: the agent failed on lead turn 1: ")
    assert "model not found" in conv["error"]
    [failure] = out["personas"][0]["failures"]
    assert failure["check"] == "error" and out["passed"] is False
