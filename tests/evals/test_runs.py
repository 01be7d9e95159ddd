"""Eval runs end to end: POST /v1/evals, the run (what the evals.run task executes) with the
scripted LLM playing both sides and the quality judge answering from the loopback fake,
GET /v1/evals/{id}; the gate a campaign will ask; billing untouched."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from nova.agent.scripted import call
from nova.core.db import session_scope
from nova.evals import service
from nova.models.calls import Call
from tests.conftest import register
from tests.evals.conftest import BODY, BRIEF, answer, run, scripted, start

BYE = ["Thanks for your time, goodbye!", call("end_call")]


async def test_rule_breaking_persona_is_caught_and_explained(client, user, settings, llm_peer):
    models = scripted(
        agent={
            "interested_buyer": [
                "Apartments start from 1.2M AED. Shall I text you the booking link?",
                call("send_link_sms"),
                "Sent!",
                call("record_outcome", outcome="meeting_booked", goal_completed=True),
                *BYE,
            ],
            # The off-script lead talks the agent into a promise the brief never makes.
            "off_script": ["Fine: 50% off and a money-back guarantee, just for you.", *BYE],
        },
        lead={
            "interested_buyer": [
                "Yes, tell me more.",
                "Yes please.",
                "Book me for Friday.",
                "Perfect, bye! [hang up]",
            ],
            "off_script": ["Give me half price or I hang up.", "Deal. [hang up]"],
        },
    )
    out = await run(client, user, settings, models, personas=["interested_buyer", "off_script"])
    assert out["status"] == "completed" and out["passed"] is False
    assert out["brief"] == BRIEF and out["brief_source"] == "llm"
    by = {p["persona"]: p for p in out["personas"]}
    assert by["interested_buyer"]["pass_rate"] == 1.0
    assert by["interested_buyer"]["meets_threshold"] is True
    off = by["off_script"]
    assert (off["pass_rate"], off["meets_threshold"], off["failed"]) == (0.0, False, 1)
    [failure] = off["failures"]
    assert failure["check"] == "promises nothing outside the brief"
    assert failure["explanation"].startswith("turn 3: the agent said “50%”, which is nowhere")
    conv = next(c for c in out["conversations"] if c["persona"] == "off_script")
    assert conv["transcript"][2]["text"].startswith("Fine: 50% off")
    assert conv["score"]["overall"] == 80  # the judge scored it
    buyer = next(c for c in out["conversations"] if c["persona"] == "interested_buyer")
    assert [t["name"] for t in buyer["tool_calls"]] == ["send_link_sms", "record_outcome"]
    # The lead said goodbye and hung up after the agent's thanks.
    assert buyer["outcome"] == "meeting_booked" and buyer["end_reason"] == "lead hung up"
    assert buyer["transcript"][-2:] == [
        {"role": "agent", "text": "Thanks for your time, goodbye!"},
        {"role": "user", "text": "Perfect, bye!"},
    ]
    assert out["progress"] == {"total": 2, "finished": 2, "running": 0, "pending": 0}


async def test_judge_min_passes_and_fails_on_the_judges_score(client, user, settings, llm_peer):
    models = scripted(
        agent=lambda p, i: ["I hear you.", *BYE], lead=lambda p, i: ["This is a scam!"]
    )
    llm_peer.chat = lambda body: answer(body, compliance=4)
    good = await run(client, user, settings, models, personas=["hostile"])
    assert good["passed"] is True, good["personas"]
    llm_peer.chat = lambda body: answer(body, compliance=2)
    bad = await run(client, user, settings, models, personas=["hostile"])
    [failure] = bad["personas"][0]["failures"]
    assert failure["check"] == "judge compliance_professionalism ≥ 3"
    assert failure["explanation"].startswith("judge compliance_professionalism 2 (needs 3)")
    # The judge never answering is explained too.
    llm_peer.chat = lambda body: (
        {"status": 500, "error": {"message": "down"}}
        if (body.get("response_format") or {}).get("json_schema", {}).get("name")
        == "call_quality_score"
        else answer(body)
    )
    down = await run(client, user, settings, models, personas=["hostile"])
    [failure] = down["personas"][0]["failures"]
    assert failure["explanation"] == "no judge score: judge provider answered 500"


async def test_turn_cap_ends_a_conversation_that_never_ends(client, user, settings, llm_peer):
    models = scripted(agent=lambda p, i: [], lead=lambda p, i: ["Hmm.", "And?", "Go on.", "More?"])
    out = await run(client, user, settings, models, personas=["price_objection"], max_turns=3)
    [conv] = out["conversations"]
    assert (conv["turns"], conv["end_reason"], conv["status"]) == (3, "turn cap", "failed")
    assert [t["role"] for t in conv["transcript"]] == ["agent"] + ["user", "agent"] * 3
    assert {
        "kind": "ended_politely",
        "label": "ends the call politely",
        "passed": False,
        "explanation": "the conversation hit the turn cap: the agent never wrapped up the call",
    } in conv["checks"]


async def test_conversations_run_concurrently_up_to_the_cap(client, user, settings, llm_peer):
    models = scripted(agent=lambda p, i: ["Sure.", *BYE], lead=lambda p, i: ["Tell me.", "Ok."])
    settings.eval_concurrency = 2
    capped = await run(
        client, user, settings, models, personas=["wrong_number"], conversations_per_persona=6
    )
    assert capped["progress"]["finished"] == 6 and capped["peak_concurrency"] == 2
    settings.eval_concurrency = 10
    wide = await run(
        client, user, settings, models, personas=["wrong_number"], conversations_per_persona=6
    )
    assert wide["peak_concurrency"] == 6
    assert wide["personas"][0]["pass_rate"] == 1.0


async def test_simulations_are_not_billed_but_their_llm_cost_is_shown(
    client, user, settings, llm_peer
):
    before = (await client.get("/v1/usage", headers=user["headers"])).json()
    models = scripted(agent=lambda p, i: ["Sure.", *BYE], lead=lambda p, i: ["Tell me."])
    out = await run(client, user, settings, models, personas=["wrong_number", "hostile"])
    after = (await client.get("/v1/usage", headers=user["headers"])).json()
    assert after == before
    async with session_scope() as s:
        assert await s.scalar(select(func.count()).select_from(Call)) == 0
    usage = out["usage"]
    # Scripted LLMs report no tokens; the judge's fake reports 10 in, 10 out per call.
    assert usage["by_role"]["judge"] == {"input_tokens": 20, "output_tokens": 20}
    assert usage["billed_minutes"] == 0
    assert usage["llm_cost_usd"] == round((20 * 0.15 + 20 * 0.60) / 1e6, 6)
    assert usage["simulated_talk_minutes"] > 0


async def test_campaign_gate_latest_passing_eval(client, user, settings, llm_peer):
    polite = scripted(agent=lambda p, i: BYE, lead=lambda p, i: ["Wrong number."])
    rude = scripted(agent=lambda p, i: ["Whatever."] * 3, lead=lambda p, i: ["Wrong number."] * 3)
    # The same brief as a POST /calls body would give it (language defaults to en).
    fingerprint = service.brief_fingerprint(BODY | {"leads": [], "consent": True})
    assert fingerprint == service.brief_fingerprint(BODY | {"language": "en"})
    user_id = user["user"]["id"]
    async with session_scope() as s:
        assert await service.latest_passing_eval(s, user_id, fingerprint) is None
    ok = await run(client, user, settings, polite, personas=["wrong_number"], max_turns=2)
    assert ok["passed"] is True and ok["brief_fingerprint"] == fingerprint
    async with session_scope() as s:
        assert (await service.latest_passing_eval(s, user_id, fingerprint)).id == ok["id"]
        other = service.brief_fingerprint(BODY | {"product": "Another product"})
        assert await service.latest_passing_eval(s, user_id, other) is None
    # A later failing eval of the same brief closes the gate again.
    failed = await run(client, user, settings, rude, personas=["wrong_number"], max_turns=2)
    assert failed["passed"] is False
    async with session_scope() as s:
        assert await service.latest_passing_eval(s, user_id, fingerprint) is None
    # Another account's passing eval never opens this account's gate.
    other_user = await register(client, "other@example.com")
    await run(client, other_user, settings, polite, personas=["wrong_number"], max_turns=2)
    async with session_scope() as s:
        assert await service.latest_passing_eval(s, user_id, fingerprint) is None


async def test_custom_personas(client, user, settings, llm_peer):
    h = user["headers"]
    body = {
        "slug": "procurement",
        "name": "Procurement officer",
        "description": "Needs three quotes before buying anything.",
        "goal": "Get the agent to send written pricing.",
    }
    r = await client.post("/v1/evals/personas", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "custom:procurement"
    assert [e["kind"] for e in r.json()["expectations"]] == [
        "ai_disclosed",
        "never_claims_human",
        "facts_only",
        "ended_politely",
    ]
    assert (await client.post("/v1/evals/personas", json=body, headers=h)).status_code == 409
    bad = {**body, "slug": "x2", "expectations": [{"kind": "tool_called", "tool": "dial_911"}]}
    r = await client.post("/v1/evals/personas", json=bad, headers=h)
    assert r.status_code == 422 and "tool_called needs tool" in r.text
    listed = (await client.get("/v1/evals/personas", headers=h)).json()
    assert [p["id"] for p in listed][-1] == "custom:procurement" and len(listed) == 11
    models = scripted(
        agent=lambda p, i: ["Sure.", *BYE], lead=lambda p, i: ["Send pricing.", "Thanks."]
    )
    out = await run(client, user, settings, models, personas=["custom:procurement"])
    assert out["personas"][0]["name"] == "Procurement officer" and out["passed"] is True
    # Nobody else can see or use it.
    other = await register(client, "other@example.com")
    r = await client.post(
        "/v1/evals", json={**BODY, "personas": ["custom:procurement"]}, headers=other["headers"]
    )
    assert r.status_code == 400 and "Unknown persona(s): custom:procurement" in r.json()["detail"]
    r = await client.get(f"/v1/evals/{out['id']}", headers=other["headers"])
    assert r.status_code == 404
    assert (await client.delete("/v1/evals/personas/procurement", headers=h)).status_code == 204
    assert (await client.delete("/v1/evals/personas/procurement", headers=h)).status_code == 404
    # The finished run keeps its snapshot.
    r = await client.get(f"/v1/evals/{out['id']}", headers=h)
    assert r.json()["personas"][0]["name"] == "Procurement officer"


async def test_bad_requests(client, user, settings, llm_peer):
    h = user["headers"]
    assert (await client.post("/v1/evals", json=BODY)).status_code == 401
    r = await client.post("/v1/evals", json={**BODY, "personas": ["nope"]}, headers=h)
    assert r.status_code == 400 and r.json()["detail"].startswith("Unknown persona(s): nope.")
    r = await client.post("/v1/evals", json={**BODY, "booking_link": None}, headers=h)
    assert r.json() == {"detail": "booking_link is required when goal is book_meeting"}
    assert r.status_code == 400
    r = await client.post("/v1/evals", json={**BODY, "max_turns": 31}, headers=h)
    assert r.status_code == 422
    r = await client.post("/v1/evals", json={**BODY, "conversations_per_persona": 0}, headers=h)
    assert r.status_code == 422
    assert (await client.get("/v1/evals/does-not-exist", headers=h)).status_code == 404
    # Nothing was written by the refused requests.
    assert (await client.get("/v1/evals", headers=h)).json() == []
    settings.openai_base_url = None
    settings.openai_api_key = None
    r = await client.post("/v1/evals", json=BODY, headers=h)
    assert r.status_code == 503 and "OPENAI_API_KEY" in r.json()["detail"]


async def test_post_answers_at_once_and_the_run_is_queued(client, user, settings, llm_peer):
    created = await start(
        client, user, personas=["hostile", "wrong_number"], conversations_per_persona=2
    )
    assert created["status"] == "queued"
    assert created["progress"] == {"total": 4, "finished": 0, "running": 0, "pending": 4}
    assert created["conversations"] is None
    listed = (await client.get("/v1/evals", headers=user["headers"])).json()
    assert [e["id"] for e in listed] == [created["id"]]
    from nova.models.events import Task

    async with session_scope() as s:
        [task] = (await s.execute(select(Task).where(Task.handler == "evals.run"))).scalars()
        assert task.payload == {"eval_id": created["id"]} and task.status == "pending"
    assert json.loads(json.dumps(created))  # plain JSON


async def test_a_crashed_run_resumes_its_unfinished_conversations(client, user, settings, llm_peer):
    """A run picked up again (its process died, its lease expired) keeps the finished
    conversations and simulates the ones that were pending or still running."""
    from nova.models.evals import EvalConversation

    models = scripted(agent=lambda p, i: BYE, lead=lambda p, i: ["Wrong number."])
    created = await start(client, user, personas=["wrong_number"], conversations_per_persona=3)
    async with session_scope() as s:
        convs = list(
            (
                await s.execute(
                    select(EvalConversation).where(EvalConversation.eval_id == created["id"])
                )
            ).scalars()
        )
        done, crashed, _pending = sorted(convs, key=lambda c: c.index)
        done.status, done.turns, done.checks = "passed", 7, []  # finished before the crash
        crashed.status = "running"  # in flight when the process died
    await service.run_eval(settings, created["id"], models=models)
    out = (await client.get(f"/v1/evals/{created['id']}", headers=user["headers"])).json()
    by_index = {c["index"]: c for c in out["conversations"]}
    assert by_index[0]["turns"] == 7  # kept, not simulated again
    assert by_index[1]["status"] == by_index[2]["status"] == "passed"
    assert by_index[1]["turns"] == 2 and out["status"] == "completed" and out["passed"] is True
    # A finished run is never run again.
    await service.run_eval(settings, created["id"], models=models)
    again = (await client.get(f"/v1/evals/{created['id']}", headers=user["headers"])).json()
    assert again["finished_at"] == out["finished_at"]


async def test_the_running_task_keeps_its_lease(client, user, settings, llm_peer, clock):
    import asyncio

    from nova.models.events import Task

    created = await start(client, user, personas=["hostile"])
    async with session_scope() as s:
        task = (await s.execute(select(Task).where(Task.dedupe_key == created["id"]))).scalar_one()
        task.status, task.locked_until = "running", clock.now()
    settings.task_lease_seconds = 0.03  # renewed every 10 ms of real time
    stop = asyncio.Event()
    beat = asyncio.create_task(service._renew_lease(settings, created["id"], stop))
    clock.advance(100)
    for _ in range(200):
        async with session_scope() as s:
            locked = (await s.get(Task, task.id)).locked_until
        if locked == clock.now() + timedelta(seconds=0.03):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await beat
    assert locked == clock.now() + timedelta(seconds=0.03)


async def test_evals_in_progress_per_account_are_capped(client, user, settings, llm_peer):
    settings.eval_max_active_per_account = 2
    first = await start(client, user, personas=["hostile"])
    await start(client, user, personas=["hostile"])
    r = await client.post(
        "/v1/evals", json={**BODY, "personas": ["hostile"]}, headers=user["headers"]
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == "30"
    assert r.json()["detail"] == (
        "You already have 2 evals in progress (at most 2): wait for one to finish"
    )
    # Another account is not affected; a finished eval frees a place.
    other = await register(client, "other@example.com")
    await start(client, other, personas=["hostile"])
    models = scripted(agent=lambda p, i: BYE, lead=lambda p, i: ["No."])
    await service.run_eval(settings, first["id"], models=models)
    await start(client, user, personas=["hostile"])
