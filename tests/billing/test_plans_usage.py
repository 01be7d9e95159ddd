from __future__ import annotations

from datetime import timedelta

from tests.billing.conftest import login, make_paid
from tests.conftest import register


async def test_plans_are_public_with_defaults(client):
    r = await client.get("/billing/plans")
    assert r.status_code == 200
    body = r.json()
    plans = {p["id"]: p for p in body["plans"]}
    assert list(plans) == ["starter", "growth", "scale"]
    assert (plans["starter"]["price_cents"], plans["starter"]["included_minutes"]) == (2900, 100)
    assert (plans["growth"]["price_cents"], plans["growth"]["included_minutes"]) == (9900, 500)
    assert (plans["scale"]["price_cents"], plans["scale"]["included_minutes"]) == (29900, 2000)
    assert [p["overage_cents_per_minute"] for p in body["plans"]] == [30, 22, 15]
    assert plans["starter"]["price"] == 29.0
    assert body["trial"] == {"days": 7, "minutes": 10}


async def test_plan_catalogue_is_configurable(client, settings):
    settings.billing_plans = [
        {
            "id": "solo",
            "name": "Solo",
            "price_cents": 900,
            "included_minutes": 20,
            "overage_cents_per_minute": 40,
        }
    ]
    r = await client.get("/billing/plans")
    assert [p["id"] for p in r.json()["plans"]] == ["solo"]


async def test_usage_requires_auth(client):
    assert (await client.get("/billing/usage")).status_code == 401
    assert (await client.get("/billing/subscription")).status_code == 401


async def test_trial_usage_and_expiry_after_seven_days(client, clock):
    u = await register(client)
    r = await client.get("/billing/usage", headers=u["headers"])
    assert r.status_code == 200
    usage = r.json()
    assert usage["plan"] == "trial" and usage["status"] == "trialing"
    assert usage["minutes_used"] == 0.0
    assert usage["minutes_limit"] == 10.0
    assert usage["minutes_remaining"] == 10.0
    assert usage["trial_ends_at"] == usage["period_end"]
    assert usage["trial_ends_at"].startswith((clock.now() + timedelta(days=7)).date().isoformat())
    assert (await client.get("/billing/subscription", headers=u["headers"])).json() is None

    clock.advance(days=7, seconds=-1)
    assert (await client.get("/billing/usage", headers=u["headers"])).json()["status"] == "trialing"
    clock.advance(seconds=1)
    headers = await login(client)
    usage = (await client.get("/billing/usage", headers=headers)).json()
    assert usage["status"] == "expired"
    assert usage["minutes_remaining"] == 0.0
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["trial_active"] is False


async def test_paid_usage_and_subscription_view(client, clock, webhook_secret):
    u = await register(client)
    ack = await make_paid(client, u["user"]["id"], plan="growth", sub_id="sub_growth1")
    assert ack["outcome"] == "active: growth", ack
    usage = (await client.get("/billing/usage", headers=u["headers"])).json()
    assert usage["plan"] == "growth" and usage["status"] == "active"
    assert usage["minutes_limit"] == 500.0 and usage["minutes_remaining"] == 500.0
    sub = (await client.get("/billing/subscription", headers=u["headers"])).json()
    assert sub["subscription_id"] == "sub_growth1"
    assert sub["plan"] == "growth" and sub["status"] == "active"
    assert sub["cancel_at_period_end"] is False
    assert sub["price_cents"] == 9900
