from __future__ import annotations

import hashlib
import hmac
import json

from pydantic import SecretStr
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
    assert sent["body"]["success_url"] == "http://testserver/#/usage?payment=success"
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


def _signed(body: dict, secret: str = "ziina-whsec") -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hmac-Signature": sig, "Content-Type": "application/json"}


async def test_ziina_webhook_activates_a_prepaid_month_once(
    client, clock, settings, ziina_fake, pump
):
    settings.ziina_webhook_secret = SecretStr("ziina-whsec")
    referrer = await register(client, "ref@example.com")
    code = (await client.get("/referrals/code", headers=referrer["headers"])).json()["code"]
    u = await register(client, referral_code=code)
    r = await client.post(
        "/billing/create-payment", json={"plan_id": "starter"}, headers=u["headers"]
    )
    pid = r.json()["payment_intent_id"]

    pending = {"event": "payment_intent.status.updated", "data": {"id": pid, "status": "pending"}}
    raw, headers = _signed(pending)
    r = await client.post("/billing/ziina/webhook", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["outcome"] == "recorded: pending"
    assert (await client.get("/billing/usage", headers=u["headers"])).json()["plan"] == "trial"

    done = {"event": "payment_intent.status.updated", "data": {"id": pid, "status": "completed"}}
    raw, headers = _signed(done)
    forged = {**headers, "X-Hmac-Signature": "0" * 64}
    assert (
        await client.post("/billing/ziina/webhook", content=raw, headers=forged)
    ).status_code == 400
    r = await client.post("/billing/ziina/webhook", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["outcome"] == "active: starter"
    r = await client.post("/billing/ziina/webhook", content=raw, headers=headers)  # replay
    assert r.json()["outcome"] == "ignored: already completed"
    await pump.drain()

    usage = (await client.get("/billing/usage", headers=u["headers"])).json()
    assert (usage["plan"], usage["status"], usage["minutes_limit"]) == ("starter", "active", 100.0)
    assert usage["cancel_at_period_end"] is True  # a prepaid month does not renew
    earnings = (await client.get("/referrals/earnings", headers=referrer["headers"])).json()
    assert earnings["total_cents"] == 580  # 20 % of the plan's $29
    assert earnings["items"][0]["invoice_id"] == f"ziina:{pid}"

    unknown = {
        "event": "payment_intent.status.updated",
        "data": {"id": "nope", "status": "completed"},
    }
    raw, headers = _signed(unknown)
    r = await client.post("/billing/ziina/webhook", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["outcome"] == "ignored: unknown payment intent"


async def test_ziina_webhook_unconfigured_503(client, settings):
    settings.ziina_webhook_secret = None
    raw, headers = _signed({"event": "payment_intent.status.updated", "data": {}})
    assert (
        await client.post("/billing/ziina/webhook", content=raw, headers=headers)
    ).status_code == 503
