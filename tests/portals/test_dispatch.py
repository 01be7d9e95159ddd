"""Portal leads are called in the background through the same path as POST /calls."""

from __future__ import annotations

import json

from sqlalchemy import select

from nova.core.db import session_scope
from nova.core.pump import TaskPump
from nova.models.billing import BillingAccount
from nova.models.calls import Call, CallContext
from nova.models.portals import PortalLead
from tests.portals.helpers import bayut_payload, create_integration, encode, pf_payload, sign

PF = "/webhooks/property-finder"
PF_HEADER = "X-PropertyFinder-Signature"


async def _deliver(client, integ, payload, path=PF, header=PF_HEADER):
    body = encode(payload)
    r = await client.post(path, content=body, headers={header: sign(integ["secret"], body)})
    assert r.status_code == 200, r.text
    return r.json()


async def _lead(lead_id: str) -> PortalLead:
    async with session_scope() as s:
        return await s.get(PortalLead, lead_id)


async def test_lead_is_called_with_the_listing_in_the_brief(client, user, livekit, pump):
    integ = await create_integration(client, user["headers"])
    ack = await _deliver(client, integ, pf_payload())
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []  # ack never dials
    await pump.drain()
    lead = await _lead(ack["lead_id"])
    assert lead.status == "dispatched", lead.error
    assert lead.call_id
    dispatches = livekit.calls("AgentDispatchService", "CreateDispatch")
    assert len(dispatches) == 1
    meta = json.loads(dispatches[0].metadata)
    assert meta["call_id"] == lead.call_id
    assert meta["lead"]["phone"] == "+971501234567"
    assert meta["lead"]["name"] == "Omar Haddad"
    async with session_scope() as s:
        call = await s.get(Call, lead.call_id)
        ctx = await s.get(CallContext, call.context_id)
    assert call.user_id == user["user"]["id"]  # metered against the integration's account
    assert call.owner_email == "agent@example.com"
    assert "PF-DXB-44871" in ctx.request["context"]
    assert "Dubai Marina" in ctx.request["context"]
    assert "view this weekend" in ctx.request["context"]
    # The lead list shows the outcome.
    r = await client.get(f"/portals/integrations/{integ['id']}/leads", headers=user["headers"])
    assert r.json()[0]["status"] == "dispatched"
    assert r.json()[0]["call_id"] == lead.call_id


async def test_bayut_lead_is_called_too(client, user, livekit, pump):
    integ = await create_integration(client, user["headers"], portal="bayut", language="ar-AE")
    ack = await _deliver(client, integ, bayut_payload(), "/webhooks/bayut", "X-Bayut-Signature")
    await pump.drain()
    lead = await _lead(ack["lead_id"])
    assert lead.status == "dispatched", lead.error
    meta = json.loads(livekit.calls("AgentDispatchService", "CreateDispatch")[0].metadata)
    assert meta["language"] == "ar-AE"


async def test_invalid_phone_ends_as_a_recorded_failure(client, user, livekit, pump):
    integ = await create_integration(client, user["headers"])
    ack = await _deliver(client, integ, pf_payload(phone="050 123"))
    await pump.drain()
    lead = await _lead(ack["lead_id"])
    assert lead.status == "failed"
    assert "phone" in lead.error.lower()
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []
    r = await client.get(f"/portals/integrations/{integ['id']}/leads", headers=user["headers"])
    assert r.json()[0]["status"] == "failed" and r.json()[0]["error"]


async def test_unmetered_account_ends_as_a_recorded_failure(client, user, livekit, pump):
    integ = await create_integration(client, user["headers"])
    async with session_scope() as s:
        account = (
            await s.execute(
                select(BillingAccount).where(BillingAccount.user_id == user["user"]["id"])
            )
        ).scalar_one()
        account.seconds_used = account.seconds_included  # trial used up
    ack = await _deliver(client, integ, pf_payload())
    await pump.drain()
    lead = await _lead(ack["lead_id"])
    assert lead.status == "failed"
    assert "minute" in lead.error.lower() or "plan" in lead.error.lower()
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []


async def test_replayed_event_is_called_once(client, user, livekit, pump):
    integ = await create_integration(client, user["headers"])
    payload = pf_payload(event_id="evt_once")
    await _deliver(client, integ, payload)
    await pump.drain()
    again = await _deliver(client, integ, payload)
    assert again["duplicate"] is True
    await pump.drain()
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1


async def test_crash_between_ack_and_dispatch_still_calls_the_lead(client, user, livekit, clock):
    """A replica acknowledges, claims the dispatch task, then dies before finishing it:
    once its lease runs out, a restarted runner claims the task and calls the lead."""
    integ = await create_integration(client, user["headers"])
    ack = await _deliver(client, integ, pf_payload())
    crashed = TaskPump(lease_seconds=30)
    claimed = await crashed.claim(10)
    assert len(claimed) == 1  # ... and the process dies here, the task still 'running'
    restarted = TaskPump(lease_seconds=30)
    assert await restarted.drain() == 0  # the lease still holds: nothing runs twice
    clock.advance(31)
    assert await restarted.drain() >= 1  # the dispatch (and the call.started it emits)
    lead = await _lead(ack["lead_id"])
    assert lead.status == "dispatched", lead.error
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1
