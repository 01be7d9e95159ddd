"""Stripe through the real library against a local fake, and signed webhooks."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from nova.core.db import session_scope
from nova.models.billing import BillingAccount, Invoice, StripeEvent
from tests.billing.conftest import (
    event_body,
    invoice_obj,
    send_event,
    sign,
    sub_obj,
    ts,
)
from tests.conftest import register

# stripe's HTTPX client hands httpx the form body as `data=`; httpx prefers `content=`.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def _account(user_id: str) -> BillingAccount:
    async with session_scope() as s:
        return (
            await s.execute(select(BillingAccount).where(BillingAccount.user_id == user_id))
        ).scalar_one()


async def test_subscribe_creates_customer_once_and_subscription(client, clock, stripe_fake):
    u = await register(client)
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "starter", "payment_method_id": "pm_card_visa"},
        headers=u["headers"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "incomplete"
    assert body["subscription_id"].startswith("sub_")
    assert body["client_secret"].endswith("_secret_xyz")

    (cust_call,) = stripe_fake.calls("POST", "/v1/customers")
    assert cust_call.params["email"] == "user@example.com"
    assert cust_call.params["metadata"]["nova_user_id"] == u["user"]["id"]
    assert cust_call.headers["Idempotency-Key"] == f"nova-customer-{u['user']['id']}"
    (sub_call,) = stripe_fake.calls("POST", "/v1/subscriptions")
    assert sub_call.params["payment_behavior"] == "default_incomplete"
    assert sub_call.params["metadata"] == {"nova_plan": "starter", "nova_user_id": u["user"]["id"]}
    assert sub_call.params["expand"] == ["latest_invoice.confirmation_secret"]
    price_id = sub_call.params["items"][0]["price"]
    assert stripe_fake.prices[price_id]["unit_amount"] == 2900
    assert stripe_fake.prices[price_id]["recurring"] == {"interval": "month"}
    assert stripe_fake.calls_like("POST", "/v1/payment_methods/pm_card_visa/attach")

    account = await _account(u["user"]["id"])
    customer_id = account.stripe_customer_id
    assert customer_id in stripe_fake.customers
    assert account.stripe_subscription_id == body["subscription_id"]
    # Until the payment is confirmed the trial stays as it was.
    assert account.plan == "trial" and account.status == "trialing"

    # The customer's confirmation arrives as a webhook: the plan becomes active.
    sub = stripe_fake.subscriptions[body["subscription_id"]]
    sub["status"] = "active"
    r = await send_event(client, "customer.subscription.updated", sub)
    assert r.status_code == 200 and r.json()["outcome"] == "active: starter"
    usage = (await client.get("/billing/usage", headers=u["headers"])).json()
    assert (usage["plan"], usage["status"], usage["minutes_limit"]) == ("starter", "active", 100.0)

    # A plan change reuses the customer and the price looked up by key, and updates in place.
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "growth", "payment_method_id": "pm_card_visa"},
        headers=u["headers"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["subscription_id"] == body["subscription_id"]
    assert len(stripe_fake.calls("POST", "/v1/customers")) == 1
    assert len(stripe_fake.calls("POST", "/v1/subscriptions")) == 1
    assert stripe_fake.calls("POST", f"/v1/subscriptions/{body['subscription_id']}")
    assert (await _account(u["user"]["id"])).stripe_customer_id == customer_id

    # Same plan again: nothing to do.
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "growth", "payment_method_id": "pm_card_visa"},
        headers=u["headers"],
    )
    assert r.status_code == 409


async def test_subscribe_errors(client, settings, stripe_fake):
    u = await register(client)
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "platinum", "payment_method_id": "pm_x"},
        headers=u["headers"],
    )
    assert r.status_code == 400 and "platinum" in r.json()["detail"]
    r = await client.post("/billing/subscribe", json={"plan": "starter"}, headers=u["headers"])
    assert r.status_code == 422

    stripe_fake.fail("POST /v1/payment_methods", 402, "card_declined", "Your card was declined.")
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "starter", "payment_method_id": "pm_declined"},
        headers=u["headers"],
    )
    assert r.status_code == 502
    assert r.json()["detail"] == (
        "Payment provider error while trying to attach the payment method: Your card was declined."
    )
    assert (await _account(u["user"]["id"])).stripe_customer_id is None  # rolled back...
    stripe_fake.fail("POST /v1/subscriptions", 500, "api_error", "boom", kind="api_error")
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "starter", "payment_method_id": "pm_ok"},
        headers=u["headers"],
    )
    assert r.status_code == 502 and "create the subscription" in r.json()["detail"]
    # ...but the customer made at Stripe on the first attempt is found again, not duplicated.
    assert len(stripe_fake.customers) == 1
    stripe_fake.forget_idempotency_keys()
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "starter", "payment_method_id": "pm_ok"},
        headers=u["headers"],
    )
    assert r.status_code == 200
    assert len(stripe_fake.customers) == 1
    assert (await _account(u["user"]["id"])).stripe_customer_id in stripe_fake.customers

    settings.stripe_api_key = None
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "starter", "payment_method_id": "pm_ok"},
        headers=u["headers"],
    )
    assert r.status_code == 503
    assert (await client.post("/billing/setup-intent", headers=u["headers"])).status_code == 503


async def test_setup_intent(client, stripe_fake):
    u = await register(client)
    r = await client.post("/billing/setup-intent", headers=u["headers"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["setup_intent_id"] in stripe_fake.setup_intents
    assert (
        body["client_secret"] == stripe_fake.setup_intents[body["setup_intent_id"]]["client_secret"]
    )
    r = await client.post("/billing/setup-intent", headers=u["headers"])
    assert r.status_code == 200
    assert len(stripe_fake.calls("POST", "/v1/customers")) == 1  # customer created once
    (call,) = stripe_fake.calls("POST", "/v1/setup_intents")[:1]
    assert call.params["customer"] in stripe_fake.customers


async def test_cancel_at_period_end_and_404_without_subscription(client, clock, stripe_fake):
    u = await register(client)
    r = await client.post("/billing/cancel", headers=u["headers"])
    assert r.status_code == 404
    assert r.json() == {"detail": "No active subscription to cancel"}

    stripe_fake.new_subscription_status = "active"
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "scale", "payment_method_id": "pm_card_visa"},
        headers=u["headers"],
    )
    assert r.status_code == 200 and r.json()["status"] == "active"
    sub_id = r.json()["subscription_id"]
    r = await client.post("/billing/cancel", headers=u["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["cancel_at_period_end"] is True and r.json()["status"] == "active"
    assert stripe_fake.subscriptions[sub_id]["cancel_at_period_end"] is True
    sub = (await client.get("/billing/subscription", headers=u["headers"])).json()
    assert sub["cancel_at_period_end"] is True and sub["plan"] == "scale"

    # At period end Stripe deletes it; the account stops being usable.
    clock.advance(days=30)
    ended = stripe_fake.subscriptions[sub_id] | {"status": "canceled", "ended_at": ts()}
    r = await send_event(client, "customer.subscription.deleted", ended)
    assert r.json()["outcome"] == "canceled"
    from tests.billing.conftest import login

    headers = await login(client)
    assert (await client.get("/billing/subscription", headers=headers)).json() is None
    assert (await client.get("/billing/usage", headers=headers)).json()["status"] == "canceled"
    assert (await client.post("/billing/cancel", headers=headers)).status_code == 404


async def test_cancel_stripe_failure_is_502(client, stripe_fake):
    u = await register(client)
    stripe_fake.new_subscription_status = "active"
    r = await client.post(
        "/billing/subscribe",
        json={"plan": "starter", "payment_method_id": "pm_card_visa"},
        headers=u["headers"],
    )
    assert r.status_code == 200
    stripe_fake.fail(
        "POST /v1/subscriptions/", 500, "api_error", "Stripe is down", kind="api_error"
    )
    r = await client.post("/billing/cancel", headers=u["headers"])
    assert r.status_code == 502
    assert r.json()["detail"].startswith("Payment provider error while trying to cancel")
    sub = (await client.get("/billing/subscription", headers=u["headers"])).json()
    assert sub["cancel_at_period_end"] is False


# --- webhook security ----------------------------------------------------------------------------


async def test_webhook_signatures(client, webhook_secret):
    u = await register(client)
    obj = sub_obj("sub_sig", user_id=u["user"]["id"])
    payload = event_body("customer.subscription.created", obj, event_id="evt_sig")

    forged = sign(payload, secret="whsec_wrong")
    r = await client.post("/billing/webhook", content=payload, headers={"Stripe-Signature": forged})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid Stripe signature"}

    tampered = payload.replace('"starter"', '"scale"')
    r = await client.post(
        "/billing/webhook", content=tampered, headers={"Stripe-Signature": sign(payload)}
    )
    assert r.status_code == 400

    stale = sign(payload, timestamp=int(time.time()) - 301)
    r = await client.post("/billing/webhook", content=payload, headers={"Stripe-Signature": stale})
    assert r.status_code == 400

    r = await client.post("/billing/webhook", content=payload)
    assert r.status_code == 400 and r.json() == {"detail": "Missing Stripe-Signature header"}

    async with session_scope() as s:  # nothing rejected was stored
        assert (await s.execute(select(func.count()).select_from(StripeEvent))).scalar_one() == 0

    r = await client.post(
        "/billing/webhook", content=payload, headers={"Stripe-Signature": sign(payload)}
    )
    assert r.status_code == 200 and r.json()["outcome"] == "active: starter"


async def test_webhook_unconfigured_is_503(client, settings):
    settings.stripe_webhook_secret = None
    payload = event_body("invoice.paid", invoice_obj("in_1"))
    r = await client.post(
        "/billing/webhook", content=payload, headers={"Stripe-Signature": sign(payload)}
    )
    assert r.status_code == 503


async def test_webhook_replay_is_a_noop_and_unknown_types_are_acknowledged(
    client, clock, webhook_secret
):
    u = await register(client)
    uid = u["user"]["id"]
    await send_event(
        client, "customer.subscription.created", sub_obj("sub_r", user_id=uid, customer="cus_r")
    )
    inv = invoice_obj("in_r1", customer="cus_r", sub_id="sub_r")
    r1 = await send_event(client, "invoice.paid", inv, event_id="evt_paid_once")
    assert r1.status_code == 200 and r1.json()["duplicate"] is False
    r2 = await send_event(client, "invoice.paid", inv, event_id="evt_paid_once")
    assert r2.status_code == 200 and r2.json() == {
        "received": True,
        "duplicate": True,
        "outcome": "duplicate",
    }
    async with session_scope() as s:
        assert (await s.execute(select(func.count()).select_from(Invoice))).scalar_one() == 1
        row = await s.get(StripeEvent, "evt_paid_once")
        assert row is not None and row.type == "invoice.paid"

    r = await send_event(client, "charge.dispute.created", {"id": "dp_1", "object": "dispute"})
    assert r.status_code == 200 and r.json()["outcome"] == "ignored: unhandled type"


async def test_webhook_out_of_order_never_regresses(client, clock, webhook_secret):
    u = await register(client)
    uid = u["user"]["id"]
    t0 = ts()
    created = sub_obj("sub_o", user_id=uid, customer="cus_o", status="active", created=t0)
    past_due = sub_obj("sub_o", user_id=uid, customer="cus_o", status="past_due", created=t0)
    # The newer "active" update arrives first, the older "past_due" one later.
    r = await send_event(client, "customer.subscription.updated", created, created=t0 + 20)
    assert r.json()["outcome"] == "active: starter"
    r = await send_event(client, "customer.subscription.updated", past_due, created=t0 + 10)
    assert r.json()["outcome"] == "ignored: stale event"
    assert (await _account(uid)).status == "active"

    # A late invoice.payment_failed (older than what we applied) is recorded, changes nothing.
    failed = invoice_obj("in_o1", customer="cus_o", sub_id="sub_o")
    r = await send_event(client, "invoice.payment_failed", failed, created=t0 + 5)
    assert r.json()["outcome"] == "recorded; stale for account state"
    assert (await _account(uid)).status == "active"
    # A newer failure does move it to past_due, and a newer paid invoice back to active.
    failed2 = invoice_obj("in_o2", customer="cus_o", sub_id="sub_o")
    r = await send_event(client, "invoice.payment_failed", failed2, created=t0 + 30)
    assert (await _account(uid)).status == "past_due"
    r = await send_event(client, "invoice.paid", failed2, created=t0 + 40)
    assert (await _account(uid)).status == "active"
    # A payment_failed replayed for an invoice already paid keeps the invoice paid.
    async with session_scope() as s:
        inv = (
            await s.execute(select(Invoice).where(Invoice.stripe_invoice_id == "in_o2"))
        ).scalar_one()
        assert inv.status == "paid"

    # Deleted arrives; an older "updated: active" arriving afterwards cannot resurrect it.
    deleted = sub_obj("sub_o", user_id=uid, customer="cus_o", status="canceled", created=t0)
    r = await send_event(client, "customer.subscription.deleted", deleted, created=t0 + 60)
    assert r.json()["outcome"] == "canceled"
    r = await send_event(client, "customer.subscription.updated", created, created=t0 + 60)
    assert r.json()["outcome"] == "ignored: subscription already cancelled"
    assert (await _account(uid)).status == "canceled"

    # Events of an OLDER subscription (by the subscription's `created`) are ignored once a
    # newer one is followed.
    clock.advance(days=1)
    newer = sub_obj("sub_new", user_id=uid, customer="cus_o", status="active", created=ts())
    r = await send_event(client, "customer.subscription.created", newer, created=ts())
    assert r.json()["outcome"] == "active: starter"
    old = sub_obj(
        "sub_ancient", user_id=uid, customer="cus_o", status="canceled", created=t0 - 86400
    )
    r = await send_event(client, "customer.subscription.deleted", old, created=ts() + 5)
    assert r.json()["outcome"] == "ignored: older subscription"
    account = await _account(uid)
    assert (account.status, account.stripe_subscription_id) == ("active", "sub_new")


async def test_invoice_before_subscription_event_and_period_rollover(client, clock, webhook_secret):
    """invoice.paid may arrive before customer.subscription.created: it alone activates the
    plan; a later invoice for the next period starts a new period with usage reset."""
    u = await register(client)
    uid = u["user"]["id"]
    await client.get("/billing/usage", headers=u["headers"])
    async with session_scope() as s:
        acc = (
            await s.execute(select(BillingAccount).where(BillingAccount.user_id == uid))
        ).scalar_one()
        acc.stripe_customer_id = "cus_inv"
    start = ts()
    r = await send_event(
        client,
        "invoice.paid",
        invoice_obj("in_p1", customer="cus_inv", sub_id="sub_p", plan="growth", start=start),
    )
    assert r.json()["outcome"] == "recorded; active: growth"
    acc = await _account(uid)
    assert (acc.plan, acc.status, acc.seconds_included) == ("growth", "active", 500 * 60)
    async with session_scope() as s:
        a = (
            await s.execute(select(BillingAccount).where(BillingAccount.user_id == uid))
        ).scalar_one()
        a.seconds_used = 1234
    # The subscription.created event arrives late (older): nothing regresses.
    r = await send_event(
        client,
        "customer.subscription.created",
        sub_obj("sub_p", customer="cus_inv", plan="growth", start=start, status="incomplete"),
        created=start - 5,
    )
    assert r.json()["outcome"] == "ignored: stale event"
    assert (await _account(uid)).seconds_used == 1234

    nxt = start + 30 * 86400
    clock.advance(days=30)
    r = await send_event(
        client,
        "invoice.paid",
        invoice_obj("in_p2", customer="cus_inv", sub_id="sub_p", plan="growth", start=nxt),
    )
    acc = await _account(uid)
    assert acc.seconds_used == 0
    assert int(acc.period_start.timestamp()) == nxt
    assert int(acc.period_end.timestamp()) == nxt + 30 * 86400
    # Replaying the first invoice's period (older) does not move the period back.
    r = await send_event(
        client,
        "invoice.paid",
        invoice_obj("in_p1b", customer="cus_inv", sub_id="sub_p", plan="growth", start=start),
    )
    assert int((await _account(uid)).period_start.timestamp()) == nxt


async def test_webhook_for_unknown_customer_is_acknowledged(client, webhook_secret):
    r = await send_event(client, "invoice.paid", invoice_obj("in_nobody", customer="cus_nobody"))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored: no account for customer"


async def test_setup_intent_stripe_failure_is_502(client, stripe_fake):
    u = await register(client)
    stripe_fake.fail("POST /v1/setup_intents", 500, "api_error", "overloaded", kind="api_error")
    r = await client.post("/billing/setup-intent", headers=u["headers"])
    assert r.status_code == 502
    assert r.json() == {
        "detail": "Payment provider error while trying to create the setup intent: overloaded"
    }


async def test_mid_period_upgrade_keeps_usage(client, clock, webhook_secret):
    u = await register(client)
    uid = u["user"]["id"]
    start = ts()
    base = dict(user_id=uid, customer="cus_up", created=start, start=start)
    await send_event(client, "customer.subscription.created", sub_obj("sub_up", **base))
    async with session_scope() as s:
        acc = (
            await s.execute(select(BillingAccount).where(BillingAccount.user_id == uid))
        ).scalar_one()
        acc.seconds_used = 4321
    r = await send_event(
        client,
        "customer.subscription.updated",
        sub_obj("sub_up", plan="scale", **base),
        created=start + 60,
    )
    assert r.json()["outcome"] == "active: scale"
    acc = await _account(uid)
    assert (acc.plan, acc.seconds_included, acc.seconds_used) == ("scale", 2000 * 60, 4321)
