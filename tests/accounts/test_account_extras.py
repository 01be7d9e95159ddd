"""check-email, feature flags, referral codes at registration, trial figures."""

from __future__ import annotations

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.billing import BillingAccount
from nova.models.user import User
from tests.conftest import register


async def test_check_email_normalises_and_answers_bool(client):
    assert (await client.post("/auth/check-email", json={"email": "a@example.com"})).json() == {
        "exists": False
    }
    await register(client, "a@example.com")
    r = await client.post("/auth/check-email", json={"email": "  A@Example.COM "})
    assert r.status_code == 200 and r.json() == {"exists": True}
    assert (await client.post("/auth/check-email", json={"email": "bad"})).status_code == 422


async def test_features_default_off_then_set(client):
    acct = await register(client, "flags@example.com")
    r = await client.get("/me/features", headers=acct["headers"])
    assert r.json() == {"voice_cloning": False, "byo_twilio": False}
    async with session_scope() as s:
        user = (await s.execute(select(User))).scalar_one()
        user.features = {"voice_cloning": True, "unknown": True}
    r = await client.get("/me/features", headers=acct["headers"])
    assert r.json() == {"voice_cloning": True, "byo_twilio": False}


async def test_referral_code_links_referrer_unknown_code_ignored(client):
    ref = await register(client, "referrer@example.com")
    async with session_scope() as s:
        referrer = await s.get(User, ref["user"]["id"])
        referrer.referral_code = "FRIEND42"
    a = await register(client, "friend@example.com", referral_code="FRIEND42")
    b = await register(client, "stranger@example.com", referral_code="NOPE")
    async with session_scope() as s:
        assert (await s.get(User, a["user"]["id"])).referred_by_id == ref["user"]["id"]
        assert (await s.get(User, b["user"]["id"])).referred_by_id is None


async def test_trial_is_seven_days_ten_minutes(client, clock):
    acct = await register(client, "trial@example.com")
    assert acct["user"]["trial_active"] is True
    assert acct["user"]["trial_minutes_remaining"] == 10.0
    assert acct["user"]["created_at"].startswith("2026-06-12T08:30:00")
    async with session_scope() as s:
        account = (await s.execute(select(BillingAccount))).scalar_one()
    assert (account.trial_ends_at - clock.now()).days == 7
    assert account.seconds_included == 600
    clock.advance(days=7, seconds=1)
    me = await client.post(
        "/auth/login", json={"email": "trial@example.com", "password": "a-strong-password"}
    )
    assert me.json()["user"]["trial_active"] is False
    assert me.json()["user"]["trial_minutes_remaining"] == 0.0
