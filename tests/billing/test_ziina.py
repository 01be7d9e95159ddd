from __future__ import annotations

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.billing import ZiinaPayment
from tests.conftest import register


async def test_create_payment_503_when_not_configured(client, settings):
    u = await register(client)
    settings.ziina_api_key = None
    r = await client.post(
        "/billing/create-payment", json={"plan_id": "starter"}, headers=u["headers"]
    )
    assert r.status_code == 503
    assert r.json() == {"detail": "AED payments (Ziina) are not configured on this server"}


async def test_create_payment_through_ziina(client, settings, ziina_fake):
    u = await register(client)
    r = await client.post(
        "/billing/create-payment", json={"plan_id": "growth"}, headers=u["headers"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["redirect_url"] == f"https://pay.ziina.com/payment_intent/{body['payment_intent_id']}"
    )
    (sent,) = ziina_fake.recorded
    assert sent["body"]["amount"] == 36400 and sent["body"]["currency_code"] == "AED"
    assert sent["body"]["success_url"] == "http://testserver/billing?payment=success"
    assert sent["headers"]["Idempotency-Key"]
    async with session_scope() as s:
        row = (await s.execute(select(ZiinaPayment))).scalar_one()
        assert (row.user_id, row.plan, row.amount_fils) == (u["user"]["id"], "growth", 36400)
        assert row.payment_intent_id == body["payment_intent_id"]


async def test_create_payment_errors(client, settings, ziina_fake):
    u = await register(client)
    r = await client.post("/billing/create-payment", json={"plan_id": "gold"}, headers=u["headers"])
    assert r.status_code == 400 and "gold" in r.json()["detail"]
    assert ziina_fake.recorded == []
    r = await client.post("/billing/create-payment", json={}, headers=u["headers"])
    assert r.status_code == 422
    assert (
        await client.post("/billing/create-payment", json={"plan_id": "starter"})
    ).status_code == 401

    ziina_fake.fail_status = 500
    r = await client.post(
        "/billing/create-payment", json={"plan_id": "starter"}, headers=u["headers"]
    )
    assert r.status_code == 502
    assert r.json()["detail"] == "Payment provider (Ziina) error 500: Ziina is down"

    settings.ziina_api_key = settings.ziina_api_key.__class__("wrong-key")
    ziina_fake.fail_status = None
    r = await client.post(
        "/billing/create-payment", json={"plan_id": "starter"}, headers=u["headers"]
    )
    assert r.status_code == 502 and "401" in r.json()["detail"]

    settings.ziina_api_base = "http://127.0.0.1:9/api"  # nothing listens there
    r = await client.post(
        "/billing/create-payment", json={"plan_id": "starter"}, headers=u["headers"]
    )
    assert r.status_code == 502 and "unreachable" in r.json()["detail"]
