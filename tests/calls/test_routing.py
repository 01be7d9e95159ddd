"""One batch's dial plan: BYO Twilio caller → SIP on the account's trunk, the activated
cloned voice, the fine-tune loop's promoted model, and a call budget that never lets a
trial or capped account run dry."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.billing import BillingAccount
from nova.models.quality import FineTuneRun
from nova.models.twilio import TwilioCredential, TwilioNumber
from nova.models.user import User
from nova.models.voice import VoiceConsent, VoiceProfile
from nova.telephony.metadata import DispatchMetadata
from tests.calls.conftest import leads, payload


def _meta(livekit, i: int = 0) -> DispatchMetadata:
    return DispatchMetadata.model_validate_json(
        livekit.calls("AgentDispatchService", "CreateDispatch")[i].metadata
    )


async def _flags(user_id: str, **flags: bool) -> None:
    async with session_scope() as s:
        u = await s.get(User, user_id)
        u.features = {**(u.features or {}), **flags}


async def _byo_default_number(uid: str) -> None:
    async with session_scope() as s:
        s.add(TwilioCredential(user_id=uid, encrypted="x", sid_last4="1234", status="valid"))
        s.add(
            TwilioNumber(
                user_id=uid,
                phone_number="+971501110000",
                twilio_number_sid="PN1",
                livekit_trunk_id="ST_byo",
                status="active",
                is_default=True,
            )
        )


async def test_byo_default_number_dials_over_the_accounts_trunk(clock, client, user, livekit):
    # A SIP dial passes the compliance gate: the frozen clock (12:30 in Dubai) is inside
    # the UAE calling window whatever the time of day the suite runs.
    uid = user["user"]["id"]
    await _flags(uid, byo_twilio=True)
    await _byo_default_number(uid)
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    assert r.status_code == 200, r.text
    meta = _meta(livekit)
    assert (meta.mode, meta.sip_trunk_id, meta.caller_id) == ("sip", "ST_byo", "+971501110000")


async def test_flag_off_byo_number_is_ignored_and_demo_stays(client, user, livekit):
    uid = user["user"]["id"]
    await _byo_default_number(uid)
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    assert r.status_code == 200
    meta = _meta(livekit)
    assert (meta.mode, meta.sip_trunk_id, meta.caller_id) == ("demo", None, None)


async def test_active_cloned_voice_and_promoted_model_reach_the_agent(client, user, livekit):
    uid = user["user"]["id"]
    await _flags(uid, voice_cloning=True)
    async with session_scope() as s:
        consent = VoiceConsent(user_id=uid, version="v1", typed_name="Sam", text_sha256="0" * 64)
        s.add(consent)
        await s.flush()
        s.add(
            VoiceProfile(
                user_id=uid,
                consent_id=consent.id,
                name="me",
                status="ready",
                active=True,
                audio_format="wav",
                provider_voice_id="voice_123",
            )
        )
        s.add(
            FineTuneRun(
                night=date(2026, 6, 11),
                status="promoted",
                promoted_alias="ft:nova-sales:2026-06-11",
            )
        )
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    assert r.status_code == 200
    meta = _meta(livekit)
    assert meta.voice_id == "voice_123"
    assert meta.llm_model == "ft:nova-sales:2026-06-11"
    # Anonymous demo calls use the promoted model too, but never a customer's voice.
    r = await client.post("/calls", json=payload(leads=leads(1)))
    assert r.status_code == 200
    assert _meta(livekit, 1).voice_id is None
    assert _meta(livekit, 1).llm_model == "ft:nova-sales:2026-06-11"


async def test_call_budget_is_capped_for_plans_with_overage(client, user, livekit, settings):
    settings.max_call_seconds = 420
    async with session_scope() as s:
        account = (
            await s.execute(
                select(BillingAccount).where(BillingAccount.user_id == user["user"]["id"])
            )
        ).scalar_one()
        account.plan, account.status = "growth", "active"
        account.seconds_included = 500 * 60
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    assert r.status_code == 200
    assert _meta(livekit).max_duration_seconds == 420


async def test_opted_out_lead_is_not_dialled_again(client, user, livekit):
    from nova.models.worker import DoNotCall

    async with session_scope() as s:
        s.add(DoNotCall(owner_id=user["user"]["id"], phone="+971501234567", reason="asked"))
    r = await client.post("/calls", json=payload(leads=leads(2)), headers=user["headers"])
    assert r.status_code == 200
    body = r.json()
    by_phone = {c["phone"]: c for c in body["calls"]}
    assert by_phone["+971501234567"]["status"] == "failed"
    assert "do-not-call" in by_phone["+971501234567"]["error"]
    assert body["dispatched"] == 1
    metas = [
        _meta(livekit, i)
        for i in range(len(livekit.calls("AgentDispatchService", "CreateDispatch")))
    ]
    assert [m.lead.phone for m in metas] == [p for p in by_phone if p != "+971501234567"]


async def test_promoted_model_is_cached_briefly_and_a_local_promotion_shows_at_once(
    client, livekit, clock
):
    from sqlalchemy import update

    from nova.quality.finetune import PROMOTED_CACHE_SECONDS

    async with session_scope() as s:
        s.add(FineTuneRun(night=date(2026, 6, 10), status="promoted", promoted_alias="ft:a"))
    assert (await client.post("/calls", json=payload(leads=leads(1)))).status_code == 200
    assert _meta(livekit, 0).llm_model == "ft:a"

    # Another replica promotes (a plain UPDATE this process's ORM never sees): the cached
    # alias is used until the cache ages out, then the new one.
    async with session_scope() as s:
        await s.execute(update(FineTuneRun).values(promoted_alias="ft:b"))
    assert (await client.post("/calls", json=payload(leads=leads(1)))).status_code == 200
    assert _meta(livekit, 1).llm_model == "ft:a"
    clock.advance(PROMOTED_CACHE_SECONDS)
    assert (await client.post("/calls", json=payload(leads=leads(1)))).status_code == 200
    assert _meta(livekit, 2).llm_model == "ft:b"

    # A promotion written by this process through the ORM is seen by the very next batch.
    async with session_scope() as s:
        s.add(FineTuneRun(night=date(2026, 6, 12), status="promoted", promoted_alias="ft:c"))
    assert (await client.post("/calls", json=payload(leads=leads(1)))).status_code == 200
    assert _meta(livekit, 3).llm_model == "ft:c"
