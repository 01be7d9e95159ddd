"""Portal leads pass the gate too: one that arrives after hours is deferred to the opening of
the callee's window (recorded, re-queued, then called); a blocked one says why."""

from __future__ import annotations

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.compliance import ComplianceDecision
from nova.models.events import Task
from nova.models.portals import PortalLead
from tests.compliance.helpers import DUBAI, at
from tests.portals.helpers import create_integration, encode, pf_payload, sign


async def _deliver(client, integ) -> str:
    body = encode(pf_payload(phone=DUBAI))
    r = await client.post(
        "/webhooks/property-finder",
        content=body,
        headers={"X-PropertyFinder-Signature": sign(integ["secret"], body)},
    )
    assert r.status_code == 200, r.text
    return r.json()["lead_id"]


async def _lead(lead_id: str) -> PortalLead:
    async with session_scope() as s:
        return await s.get(PortalLead, lead_id)


def _sip(settings) -> None:
    settings.dial_mode = "sip"
    settings.sip_outbound_trunk_id = "ST_trunk"


async def _after_hours_lead(clock, client, user, pump, settings) -> str:
    """A SIP account's portal lead delivered at 21:15 in Dubai, handled by the pump."""
    _sip(settings)
    clock.set(at("2026-06-12 21:15", "Asia/Dubai"))
    integ = await create_integration(client, user["headers"])
    lead_id = await _deliver(client, integ)
    await pump.drain()
    return lead_id


async def test_an_after_hours_lead_is_called_when_the_window_opens(
    clock, client, user, livekit, pump, settings
):
    lead_id = await _after_hours_lead(clock, client, user, pump, settings)
    lead = await _lead(lead_id)
    assert lead.status == "deferred"
    assert "may be called from 09:00 Asia/Dubai (2026-06-13T05:00:00Z)" in lead.error
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []
    async with session_scope() as s:
        [decision] = (await s.execute(select(ComplianceDecision))).scalars().all()
        [task] = (await s.execute(select(Task).where(Task.status == "pending"))).scalars().all()
    assert (decision.source, decision.lead_ref, decision.verdict) == ("portal", lead_id, "deferred")
    # The lead waits as a pending call of its own, dialed by the pipeline's task.
    assert decision.call_id == lead.call_id and lead.call_id is not None
    assert task.run_at == at("2026-06-13 09:00", "Asia/Dubai")
    # The enquiry is the lead's consent, kept with the decision.
    assert decision.detail["consent"]["source"] == "property_finder enquiry"
    # Nothing runs before the window opens …
    clock.set(at("2026-06-13 08:59", "Asia/Dubai"))
    await pump.drain()
    assert (await _lead(lead_id)).status == "deferred"
    # … and at 09:00 the lead is called.
    clock.set(at("2026-06-13 09:00", "Asia/Dubai"))
    await pump.drain()
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1
    lead = await _lead(lead_id)
    r = await client.get(
        f"/portals/integrations/{lead.integration_id}/leads", headers=user["headers"]
    )
    [listed] = r.json()
    assert listed["status"] == "dispatched", listed
    r = await client.get(f"/v1/calls/{lead.call_id}/compliance", headers=user["headers"])
    # Deferred at receipt, allowed when the window opened (the gate asked again).
    assert [(d["verdict"], d["source"]) for d in r.json()] == [
        ("deferred", "portal"),
        ("allowed", "retry"),
    ]


async def test_a_blocked_portal_lead_says_why(clock, client, user, livekit, pump, settings):
    _sip(settings)
    clock.set(at("2026-06-12 12:00", "Asia/Dubai"))
    await client.post("/v1/do-not-call", json={"phone": DUBAI}, headers=user["headers"])
    integ = await create_integration(client, user["headers"])
    lead_id = await _deliver(client, integ)
    await pump.drain()
    lead = await _lead(lead_id)
    assert lead.status == "failed"
    assert lead.error == "the number is on this account's do-not-call list"
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []
    r = await client.get(f"/portals/integrations/{integ['id']}/leads", headers=user["headers"])
    assert r.json()[0]["error"] == lead.error


async def test_an_opt_out_on_another_call_drops_a_lead_waiting_for_its_window(
    clock, client, user, livekit, pump, settings
):
    from tests.telephony.factories import create_call
    from tests.telephony.test_reports import now_ts, post, signed

    lead_id = await _after_hours_lead(clock, client, user, pump, settings)
    assert (await _lead(lead_id)).status == "deferred"
    # The same person, on an earlier call of the account, says "don't call me again".
    earlier = await create_call(user_id=user["user"]["id"], mode="sip", phone=DUBAI)
    body, headers = signed(earlier.id, "opt_out", {"reason": "stop"}, ts=now_ts(clock))
    assert (await post(client, earlier.id, body, headers)).status_code == 200
    lead = await _lead(lead_id)
    assert lead.status == "failed"  # at once, not when the window opens
    assert "the lead opted out" in lead.error
    clock.set(at("2026-06-13 09:00", "Asia/Dubai"))
    await pump.drain()
    assert (await _lead(lead_id)).status == "failed"
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []
