"""POST /calls end to end against the LiveKit fake (real livekit-api client), the job view
with its TTL, call.started, metering, demo vs SIP mode, partial outages."""

from __future__ import annotations

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.billing import BillingAccount, MinuteReservation
from nova.models.calls import Call, CallContext
from nova.models.events import Event, Task
from nova.telephony.metadata import DispatchMetadata
from tests.calls.conftest import leads, payload


async def _events(type_: str) -> list[Event]:
    async with session_scope() as s:
        return list((await s.execute(select(Event).where(Event.type == type_))).scalars())


async def test_anonymous_batch_dispatches_one_demo_agent_per_lead(client, livekit, clock):
    r = await client.post("/calls", json=payload(leads=leads(2)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and body["dispatched"] == 2 and body["failed"] == 0
    first = body["calls"][0]
    assert first["status"] == "in_progress"
    assert first["message"] == "Call dispatched successfully"
    assert first["expires_in_seconds"] == 600.0
    assert first["phone"] == "+971501234567" and first["lead_name"] == "Lead 0"
    assert first["room_name"] == f"call-{first['context_id']}"
    assert first["error"] is None

    rooms = livekit.calls("RoomService", "CreateRoom")
    assert sorted(r.name for r in rooms) == sorted(c["room_name"] for c in body["calls"])
    dispatches = livekit.calls("AgentDispatchService", "CreateDispatch")
    assert len(dispatches) == 2
    d = next(d for d in dispatches if d.room == first["room_name"])
    assert d.agent_name == "nova-sales-agent"
    meta = DispatchMetadata.model_validate_json(d.metadata)
    assert meta.call_id == first["call_id"] and meta.context_id == first["context_id"]
    assert meta.mode == "demo" and meta.sip_trunk_id is None
    assert meta.max_duration_seconds == 600
    assert meta.report_url == "http://testserver/internal/worker"
    assert meta.lead.phone == "+971501234567" and meta.goal == "qualify_interest"
    assert "AI assistant calling on behalf of CloudSync CRM" in meta.brief.opening_line

    # call.started, one per dispatched lead, with the agreed data.
    started = await _events("call.started")
    assert len(started) == 2
    # The batch's recovery task was settled with the outcome: nothing will dial again.
    async with session_scope() as s:
        recovery = (await s.execute(select(Task).where(Task.handler == "calls.dispatch"))).all()
        assert [t.status for (t,) in recovery] == ["done"]
        assert recovery[0][0].payload == {"call_ids": [c["call_id"] for c in body["calls"]]}
    data = next(e.data for e in started if e.data["call_id"] == first["call_id"])
    assert data == {
        "call_id": first["call_id"],
        "customer_id": None,
        "context_id": first["context_id"],
        "room_name": first["room_name"],
        "mode": "demo",
        "goal": "qualify_interest",
        "to_phone_e164": "+971501234567",
        "started_at": "2026-06-12T08:30:00Z",
    }

    # The job view and the brief.
    r = await client.get(f"/calls/{first['call_id']}")
    assert r.status_code == 200
    assert r.json() == {
        "call_id": first["call_id"],
        "status": "in_progress",
        "phone": "+971501234567",
        "sms_sent": False,
        "error": None,
        "expires_in_seconds": 600.0,
    }
    r = await client.get(f"/contexts/{first['context_id']}")
    assert r.status_code == 200
    ctx = r.json()
    assert ctx["call_id"] == first["call_id"]
    assert ctx["room_name"] == first["room_name"]
    assert ctx["source"] == "template" and ctx["source_note"] == "no LLM configured"
    assert ctx["opening_line"] == meta.brief.opening_line
    assert ctx["qualification_questions"] and ctx["objection_handlers"] and ctx["closing_script"]
    assert "Product: CloudSync CRM" in ctx["product_facts"]
    assert ctx["lead"]["name"] == "Lead 0"

    # /health counts live calls.
    assert (await client.get("/health")).json()["active_calls"] == 2


async def test_job_view_and_context_expire_after_ttl_but_the_call_stays(client, livekit, clock):
    r = await client.post("/calls", json=payload())
    call = r.json()["calls"][0]
    clock.advance(seconds=599)
    r = await client.get(f"/calls/{call['call_id']}")
    assert r.status_code == 200 and r.json()["expires_in_seconds"] == 1.0
    assert (await client.get(f"/contexts/{call['context_id']}")).status_code == 200
    clock.advance(seconds=1)
    r = await client.get(f"/calls/{call['call_id']}")
    assert r.status_code == 404 and r.json()["detail"] == "Call not found or expired"
    assert (await client.get(f"/contexts/{call['context_id']}")).status_code == 404
    async with session_scope() as s:
        assert (await s.get(Call, call["call_id"])) is not None  # durable record


async def test_expires_in_seconds_is_a_whole_number_rounded_up(client, livekit, clock):
    call = (await client.post("/calls", json=payload())).json()["calls"][0]
    clock.advance(seconds=0.005)  # what a real request takes: the reply said 599.995
    body = (await client.get(f"/calls/{call['call_id']}")).json()
    assert body["expires_in_seconds"] == 600 and isinstance(body["expires_in_seconds"], int)
    clock.advance(seconds=599.99)
    body = (await client.get(f"/calls/{call['call_id']}")).json()
    assert body["expires_in_seconds"] == 1 and isinstance(body["expires_in_seconds"], int)
    ctx = (await client.get(f"/contexts/{call['context_id']}")).json()
    assert isinstance(ctx["expires_in_seconds"], int)


async def test_ttl_is_configurable(client, livekit, clock, settings):
    settings.call_job_ttl_seconds = 60
    call = (await client.post("/calls", json=payload())).json()["calls"][0]
    assert call["expires_in_seconds"] == 60.0
    clock.advance(seconds=60)
    assert (await client.get(f"/calls/{call['call_id']}")).status_code == 404


async def test_unknown_ids_are_404(client):
    assert (await client.get("/calls/nope")).status_code == 404
    assert (await client.get("/contexts/nope")).status_code == 404


async def test_authenticated_batch_is_metered(client, livekit, user):
    r = await client.post("/calls", json=payload(leads=leads(2)), headers=user["headers"])
    assert r.status_code == 200, r.text
    ids = [c["call_id"] for c in r.json()["calls"]]
    async with session_scope() as s:
        account = (
            await s.execute(
                select(BillingAccount).where(BillingAccount.user_id == user["user"]["id"])
            )
        ).scalar_one()
        assert account.seconds_reserved == 120
        held = list((await s.execute(select(MinuteReservation))).scalars())
        assert sorted(h.call_id for h in held) == sorted(ids)
        calls = [await s.get(Call, i) for i in ids]
    assert all(c.reserved_seconds == 60 and c.user_id == user["user"]["id"] for c in calls)
    meta = DispatchMetadata.model_validate_json(
        livekit.calls("AgentDispatchService", "CreateDispatch")[0].metadata
    )
    # Its own 60 s hold plus an equal share of what stays free: 60 + (600 - 120) // 2.
    assert meta.max_duration_seconds == 300
    started = await _events("call.started")
    assert {e.data["customer_id"] for e in started} == {user["user"]["id"]}


async def test_sip_mode_for_accounts_but_never_for_anonymous(
    clock, client, livekit, settings, user
):
    # A SIP dial passes the compliance gate: the frozen clock (12:30 in Dubai) is inside
    # the UAE calling window whatever the time of day the suite runs.
    settings.dial_mode = "sip"
    settings.sip_outbound_trunk_id = "ST_trunk"
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    assert r.status_code == 200 and r.json()["dispatched"] == 1
    meta = DispatchMetadata.model_validate_json(
        livekit.calls("AgentDispatchService", "CreateDispatch")[-1].metadata
    )
    assert meta.mode == "sip" and meta.sip_trunk_id == "ST_trunk"

    r = await client.post("/calls", json=payload())  # anonymous
    assert r.status_code == 200
    meta = DispatchMetadata.model_validate_json(
        livekit.calls("AgentDispatchService", "CreateDispatch")[-1].metadata
    )
    assert meta.mode == "demo" and meta.sip_trunk_id is None
    assert (await _events("call.started"))[-1].data["mode"] in ("demo", "sip")


async def test_sip_mode_without_trunk_fails_the_lead_clearly(
    clock, client, livekit, settings, user
):
    # A SIP dial passes the compliance gate: the frozen clock (12:30 in Dubai) is inside
    # the UAE calling window whatever the time of day the suite runs.
    settings.dial_mode = "sip"
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    call = r.json()["calls"][0]
    assert call["status"] == "failed" and "NOVA_SIP_OUTBOUND_TRUNK_ID" in call["error"]
    assert not livekit.calls("AgentDispatchService", "CreateDispatch")


async def test_livekit_outage_mid_batch_fails_only_that_lead(client, livekit, user):
    livekit.fail("AgentDispatchService", "CreateDispatch", status=503, msg="node down", times=1)
    r = await client.post("/calls", json=payload(leads=leads(3)), headers=user["headers"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and body["dispatched"] == 2 and body["failed"] == 1
    failed = [c for c in body["calls"] if c["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["error"].startswith("LiveKit error 503")
    assert "node down" in failed[0]["error"]
    assert failed[0]["message"] == "Call could not be dispatched"
    assert len(livekit.dispatches) == 2
    # The failed lead's room was closed again; the live ones stay.
    assert [r.room for r in livekit.calls("RoomService", "DeleteRoom")] == [failed[0]["room_name"]]
    assert failed[0]["room_name"] not in livekit.rooms and len(livekit.rooms) == 2
    r = await client.get(f"/calls/{failed[0]['call_id']}")
    assert r.json()["status"] == "failed" and "node down" in r.json()["error"]
    # Minutes are held only for the two live calls; only they are announced.
    async with session_scope() as s:
        account = (await s.execute(select(BillingAccount))).scalar_one()
        assert account.seconds_reserved == 120
        failed_row = await s.get(Call, failed[0]["call_id"])
        assert failed_row.reserved_seconds == 0
    assert len(await _events("call.started")) == 2


async def test_livekit_unreachable_is_a_clear_error(client, livekit, settings):
    await livekit.stop()
    r = await client.post("/calls", json=payload())
    call = r.json()["calls"][0]
    assert r.status_code == 200 and call["status"] == "failed"
    assert call["error"].startswith("LiveKit")


async def test_livekit_not_configured_fails_each_lead_with_200(client):
    r = await client.post("/calls", json=payload(leads=leads(2)))
    assert r.status_code == 200
    body = r.json()
    assert body["dispatched"] == 0 and body["failed"] == 2
    for c in body["calls"]:
        assert c["status"] == "failed"
        assert "LiveKit is not configured" in c["error"]
    assert await _events("call.started") == []
    async with session_scope() as s:
        assert len(list((await s.execute(select(CallContext))).scalars())) == 2


async def test_arabic_batch_gets_gulf_arabic_template(client, livekit):
    r = await client.post(
        "/calls",
        json=payload(language="ar-AE", goal="book_meeting", booking_link="https://cal.example/x"),
    )
    ctx = (await client.get(f"/contexts/{r.json()['calls'][0]['context_id']}")).json()
    assert ctx["language"] == "ar-AE"
    assert "مساعد ذكاء اصطناعي" in ctx["opening_line"] and "CloudSync CRM" in ctx["opening_line"]
    assert "https://cal.example/x" in ctx["closing_script"]
    assert "Gulf Arabic" in ctx["agent_instructions"]


async def test_collect_info_passes_fields_to_the_worker(client, livekit):
    await client.post("/calls", json=payload(goal="collect_info", goal_criteria="email, budget"))
    meta = DispatchMetadata.model_validate_json(
        livekit.calls("AgentDispatchService", "CreateDispatch")[0].metadata
    )
    assert meta.collect_fields == ["email", "budget"]
