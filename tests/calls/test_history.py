from __future__ import annotations

from datetime import timedelta

from nova.core.db import session_scope
from nova.models.calls import Call, CallContext
from tests.conftest import register


async def _make_call(
    user_id: str | None, *, status="completed", transcript=None, clock=None
) -> str:
    async with session_scope() as s:
        ctx = CallContext(
            user_id=user_id,
            batch_id="b1",
            product="CRM",
            goal="qualify_interest",
            lead={"phone": "+971501234567"},
        )
        s.add(ctx)
        await s.flush()
        call = Call(
            user_id=user_id,
            batch_id="b1",
            context_id=ctx.id,
            phone="+971501234567",
            lead_name="Sarah",
            owner_email="o@example.com",
            goal="qualify_interest",
            room_name=f"call-{ctx.id}",
            status=status,
            transcript=transcript,
        )
        s.add(call)
        await s.flush()
        return call.id


async def test_history_lists_only_own_calls_newest_first(client, clock):
    a = await register(client, "a@example.com")
    b = await register(client, "b@example.com")
    first = await _make_call(a["user"]["id"])
    clock.advance(5)
    second = await _make_call(a["user"]["id"], status="failed")
    await _make_call(b["user"]["id"])
    await _make_call(None)  # anonymous demo call: nobody's history
    r = await client.get("/v1/calls", headers=a["headers"])
    assert r.status_code == 200
    assert [c["call_id"] for c in r.json()] == [second, first]
    assert r.json()[0]["transcript"] is None  # the list stays light
    r = await client.get("/v1/calls?status=failed", headers=a["headers"])
    assert [c["call_id"] for c in r.json()] == [second]
    r = await client.get("/v1/calls?limit=1&offset=1", headers=a["headers"])
    assert [c["call_id"] for c in r.json()] == [first]
    assert (await client.get("/v1/calls?limit=0", headers=a["headers"])).status_code == 422
    assert (await client.get("/v1/calls")).status_code == 401


async def test_record_outlives_the_job_ttl_and_is_owner_only(client, clock):
    a = await register(client, "a@example.com")
    b = await register(client, "b@example.com")
    call_id = await _make_call(
        a["user"]["id"], transcript=[{"role": "assistant", "text": "Hi, I'm an AI assistant"}]
    )
    clock.advance(timedelta(hours=2).total_seconds())
    r = await client.get(f"/v1/calls/{call_id}", headers=a["headers"])
    assert r.status_code == 200
    assert r.json()["transcript"][0]["text"] == "Hi, I'm an AI assistant"
    assert (await client.get(f"/v1/calls/{call_id}", headers=b["headers"])).status_code == 404
    assert (await client.get("/v1/calls/nope", headers=a["headers"])).status_code == 404
