"""The gate on POST /calls, end to end: a lead outside its window is a 400 saying when it may
be called, a blocked lead fails with the reason, demo calls are exempt, and every decision is
a row readable per call and per number (owner-scoped)."""

from __future__ import annotations

from sqlalchemy import func, select

from nova.core.db import session_scope
from nova.models.calls import Call
from nova.models.compliance import ComplianceDecision
from tests.calls.conftest import payload
from tests.compliance.helpers import DUBAI, LONDON, NEW_YORK, at
from tests.conftest import register

CONSENT = {"source": "web form /pricing", "obtained_at": "2026-06-01T10:00:00Z", "proof": "f-1"}


def _sip(settings) -> None:
    settings.dial_mode = "sip"
    settings.sip_outbound_trunk_id = "ST_trunk"


async def _count(model) -> int:
    async with session_scope() as s:
        return int(await s.scalar(select(func.count()).select_from(model)))


async def test_a_lead_outside_its_window_is_refused_with_when_it_may_be_called(
    clock, client, user, livekit, settings
):
    _sip(settings)
    clock.set(at("2026-06-12 03:30", "America/New_York"))
    body = payload(leads=[{"phone": NEW_YORK, "name": "Ann", "consent": CONSENT}])
    r = await client.post("/calls", json=body, headers=user["headers"])
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith(f"leads[0] {NEW_YORK} cannot be called now: outside the calling")
    assert "may be called from 08:00 America/New_York (2026-06-12T12:00:00Z)" in detail
    # Nothing dialed, no call written, no minutes held; the decision is on record.
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []
    assert await _count(Call) == 0
    r = await client.get(f"/v1/compliance/decisions?phone={NEW_YORK}", headers=user["headers"])
    assert r.status_code == 200, r.text
    [row] = r.json()
    assert (row["verdict"], row["rule"], row["call_id"], row["source"]) == (
        "deferred",
        "window",
        None,
        "calls",
    )
    assert row["not_before"].startswith("2026-06-12T12:00:00")
    assert row["detail"]["until_local"] == "08:00 America/New_York"
    # At 08:00 in New York the same batch goes through.
    clock.set(at("2026-06-12 08:00", "America/New_York"))
    r = await client.post("/calls", json=body, headers=user["headers"])
    assert r.status_code == 200 and r.json()["dispatched"] == 1, r.text


async def test_one_lead_outside_its_window_refuses_the_whole_batch(
    clock, client, user, livekit, settings
):
    _sip(settings)
    clock.set(at("2026-06-12 19:00", "Asia/Dubai"))  # 16:00 in London, 11:00 in New York
    leads = [
        {"phone": LONDON, "consent": CONSENT},
        {"phone": DUBAI},
        {"phone": NEW_YORK, "consent": CONSENT},
    ]
    r = await client.post("/calls", json=payload(leads=leads), headers=user["headers"])
    assert r.status_code == 400
    assert r.json()["detail"].startswith(f"leads[1] {DUBAI} cannot be called now")
    assert "09:00 Asia/Dubai" in r.json()["detail"]
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []


async def test_blocked_leads_fail_with_the_reason_and_the_rest_are_dialed(
    clock, client, user, livekit, settings
):
    _sip(settings)
    clock.set(at("2026-06-12 12:00", "Europe/London"))
    leads = [{"phone": LONDON}, {"phone": DUBAI}]  # the UK needs a consent record
    r = await client.post("/calls", json=payload(leads=leads), headers=user["headers"])
    assert r.status_code == 200, r.text
    by_phone = {c["phone"]: c for c in r.json()["calls"]}
    assert by_phone[LONDON]["status"] == "failed"
    assert "requires the lead's consent" in by_phone[LONDON]["error"]
    assert by_phone[DUBAI]["status"] == "in_progress"
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1
    # Each call lists its decision.
    blocked = await client.get(
        f"/v1/calls/{by_phone[LONDON]['call_id']}/compliance", headers=user["headers"]
    )
    [b] = blocked.json()
    assert (b["verdict"], b["rule"], b["profile"], b["country"]) == (
        "blocked",
        "consent",
        "uk",
        "GB",
    )
    allowed = await client.get(
        f"/v1/calls/{by_phone[DUBAI]['call_id']}/compliance", headers=user["headers"]
    )
    [a] = allowed.json()
    assert (a["verdict"], a["rule"], a["zones"]) == ("allowed", "ok", ["Asia/Dubai"])
    assert a["detail"]["local_time"] == {"Asia/Dubai": "Fri 15:00"}
    # Another account cannot read them.
    other = await register(client, "other@example.com")
    r = await client.get(
        f"/v1/calls/{by_phone[DUBAI]['call_id']}/compliance", headers=other["headers"]
    )
    assert r.status_code == 404
    r = await client.get("/v1/compliance/decisions", headers=other["headers"])
    assert r.json() == []
    r = await client.get("/v1/compliance/decisions?verdict=blocked", headers=user["headers"])
    assert [d["phone"] for d in r.json()] == [LONDON]


async def test_consent_record_is_kept_with_the_decision(clock, client, user, livekit, settings):
    _sip(settings)
    clock.set(at("2026-06-12 12:00", "Europe/London"))
    r = await client.post(
        "/calls",
        json=payload(leads=[{"phone": LONDON, "consent": CONSENT}]),
        headers=user["headers"],
    )
    assert r.json()["dispatched"] == 1, r.text
    call_id = r.json()["calls"][0]["call_id"]
    [d] = (await client.get(f"/v1/calls/{call_id}/compliance", headers=user["headers"])).json()
    assert d["verdict"] == "allowed"
    assert d["detail"]["consent"] == {
        "source": "web form /pricing",
        "obtained_at": "2026-06-01T10:00:00Z",
        "proof": "f-1",
    }


async def test_bad_timezone_or_consent_is_a_400(clock, client, user, livekit, settings):
    _sip(settings)
    cases = [
        ({"phone": DUBAI, "timezone": "Mars/Olympus"}, "leads[0].timezone 'Mars/Olympus'"),
        ({"phone": DUBAI, "timezone": "../../etc/passwd"}, "is not an IANA time zone"),
        (
            {"phone": DUBAI, "consent": {**CONSENT, "obtained_at": "2027-01-01T00:00:00Z"}},
            "leads[0].consent.obtained_at is in the future",
        ),
        (
            {"phone": DUBAI, "consent": {**CONSENT, "obtained_at": "2026-06-01T10:00:00"}},
            "needs a time zone",
        ),
        ({"phone": DUBAI, "consent": {"obtained_at": "2026-06-01T10:00:00Z"}}, "source"),
    ]
    for lead, message in cases:
        r = await client.post("/calls", json=payload(leads=[lead]), headers=user["headers"])
        assert r.status_code == 400, (lead, r.text)
        assert message in r.json()["detail"], (lead, r.json())
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []


async def test_the_leads_timezone_lets_a_call_through_when_it_is_day_there(
    clock, client, user, livekit, settings
):
    _sip(settings)
    clock.set(at("2026-06-12 12:30", "Asia/Dubai"))  # 04:30 in New York
    lead = {"phone": NEW_YORK, "consent": CONSENT, "timezone": "Asia/Dubai"}
    r = await client.post("/calls", json=payload(leads=[lead]), headers=user["headers"])
    assert r.status_code == 200 and r.json()["dispatched"] == 1, r.text


async def test_demo_calls_dial_no_one_and_are_exempt(clock, client, user, livekit):
    clock.set(at("2026-06-12 03:00", "America/New_York"))  # the middle of the night
    r = await client.post(
        "/calls", json=payload(leads=[{"phone": NEW_YORK}]), headers=user["headers"]
    )
    assert r.status_code == 200 and r.json()["dispatched"] == 1, r.text
    [d] = (
        await client.get(
            f"/v1/calls/{r.json()['calls'][0]['call_id']}/compliance", headers=user["headers"]
        )
    ).json()
    assert (d["verdict"], d["rule"]) == ("allowed", "demo")
    # Anonymous submissions are always demo: decided and recorded too (owner "").
    r = await client.post("/calls", json=payload(leads=[{"phone": LONDON}]))
    assert r.status_code == 200 and r.json()["dispatched"] == 1
    async with session_scope() as s:
        rows = (
            await s.execute(select(ComplianceDecision).where(ComplianceDecision.owner_id == ""))
        ).scalars()
        [anon] = list(rows)
    assert (anon.phone, anon.verdict, anon.rule, anon.call_id) == (
        LONDON,
        "allowed",
        "demo",
        r.json()["calls"][0]["call_id"],
    )


async def test_check_answers_without_recording(clock, client, user):
    clock.set(at("2026-06-12 20:00", "Asia/Dubai"))
    r = await client.get(f"/v1/compliance/check?phone={DUBAI}", headers=user["headers"])
    body = r.json()
    assert (body["verdict"], body["rule"]) == ("deferred", "window")
    assert body["not_before"].startswith("2026-06-13T05:00:00")
    r = await client.get("/v1/compliance/check", params={"phone": LONDON}, headers=user["headers"])
    assert r.json()["rule"] == "consent"
    r = await client.get(
        "/v1/compliance/check", params={"phone": LONDON, "consent": "true"}, headers=user["headers"]
    )
    assert r.json()["verdict"] == "allowed"
    r = await client.get("/v1/compliance/check?phone=12345", headers=user["headers"])
    assert r.status_code == 400
    assert (await client.get(f"/v1/compliance/check?phone={DUBAI}")).status_code == 401
    assert await _count(ComplianceDecision) == 0


async def test_profiles_are_published(client):
    r = await client.get("/v1/compliance/profiles")
    profiles = {p["key"]: p for p in r.json()}
    assert profiles["ae"]["summary"] == (
        "09:00–18:00 every day; at most 1 call a day to a number that did not answer; "
        "at most 2 calls per 7 days to a number that did not answer"
    )
    assert profiles["us"]["windows"] == [
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "08:00",
            "end": "21:00",
        }
    ]
    assert profiles["uk"]["consent_required"] and "sun" not in profiles["uk"]["windows"][0]["days"]
    assert profiles["default"]["summary"].startswith("09:00–20:00 Mon–Fri")


async def test_a_refused_batch_releases_its_idempotency_key(clock, client, user, livekit, settings):
    _sip(settings)
    clock.set(at("2026-06-12 08:30", "Asia/Dubai"))
    headers = {**user["headers"], "Idempotency-Key": "batch-42"}
    r = await client.post("/calls", json=payload(), headers=headers)
    assert r.status_code == 400 and "09:00 Asia/Dubai" in r.json()["detail"]
    clock.set(at("2026-06-12 09:00", "Asia/Dubai"))
    r = await client.post("/calls", json=payload(), headers=headers)
    assert r.status_code == 200 and r.json()["dispatched"] == 1, r.text
    replay = await client.post("/calls", json=payload(), headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1
    r = await client.get("/v1/compliance/decisions", headers=user["headers"])
    assert [(d["verdict"], d["rule"]) for d in r.json()] == [
        ("allowed", "ok"),
        ("deferred", "window"),
    ]
