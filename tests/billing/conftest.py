"""Billing test helpers: Stripe/Ziina fakes wired into the settings, signed webhooks."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
import pytest
import stripe
from pydantic import SecretStr

from nova.billing import stripe_client
from nova.core import clock
from tests.billing.fakes import FakeStripe, FakeZiina

WHSEC = "whsec_test_secret_0123456789"
_evt = itertools.count(1)


@pytest.fixture
async def stripe_fake(settings):
    async with FakeStripe() as fake:
        settings.stripe_api_key = SecretStr(fake.api_key)
        settings.stripe_api_base = fake.url
        settings.stripe_webhook_secret = SecretStr(WHSEC)
        settings.stripe_max_network_retries = 0
        yield fake
        await stripe_client.aclose()


@pytest.fixture
def webhook_secret(settings):
    settings.stripe_webhook_secret = SecretStr(WHSEC)
    return WHSEC


@pytest.fixture
async def ziina_fake(settings):
    async with FakeZiina() as fake:
        settings.ziina_api_key = SecretStr(fake.api_key)
        settings.ziina_api_base = fake.url
        yield fake


def ts(offset_seconds: int = 0) -> int:
    return int(clock.now().timestamp()) + offset_seconds


def sub_obj(
    sub_id: str,
    *,
    customer: str | None = "cus_x",
    status: str = "active",
    plan: str = "starter",
    created: int | None = None,
    start: int | None = None,
    end: int | None = None,
    user_id: str | None = None,
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    start = start if start is not None else ts()
    metadata = {"nova_plan": plan}
    if user_id:
        metadata["nova_user_id"] = user_id
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "created": created if created is not None else start,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": metadata,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "object": "subscription_item",
                    "price": {"id": f"price_{plan}", "object": "price", "lookup_key": None},
                    "current_period_start": start,
                    "current_period_end": end if end is not None else start + 30 * 86400,
                }
            ],
        },
    }


def invoice_obj(
    inv_id: str,
    *,
    customer: str = "cus_x",
    sub_id: str = "sub_1",
    amount: int = 2900,
    plan: str = "starter",
    start: int | None = None,
    end: int | None = None,
) -> dict[str, Any]:
    start = start if start is not None else ts()
    return {
        "id": inv_id,
        "object": "invoice",
        "customer": customer,
        "amount_paid": amount,
        "amount_due": amount,
        "currency": "usd",
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{inv_id}",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub_id, "metadata": {"nova_plan": plan}},
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": f"il_{inv_id}",
                    "object": "line_item",
                    "metadata": {"nova_plan": plan},
                    "period": {
                        "start": start,
                        "end": end if end is not None else start + 30 * 86400,
                    },
                }
            ],
        },
    }


def event_body(type_: str, obj: dict, *, created: int | None = None, event_id: str | None = None):
    return json.dumps(
        {
            "id": event_id or f"evt_{next(_evt):06d}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "type": type_,
            "created": created if created is not None else ts(),
            "livemode": False,
            "data": {"object": obj},
        }
    )


def sign(payload: str, secret: str = WHSEC, timestamp: int | None = None) -> str:
    # Stripe checks the signature timestamp against the real wall clock (300 s tolerance).
    return stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=timestamp if timestamp is not None else int(time.time())
    )


async def send_event(
    client: httpx.AsyncClient,
    type_: str,
    obj: dict,
    *,
    created: int | None = None,
    event_id: str | None = None,
    secret: str = WHSEC,
    timestamp: int | None = None,
) -> httpx.Response:
    payload = event_body(type_, obj, created=created, event_id=event_id)
    return await client.post(
        "/billing/webhook",
        content=payload,
        headers={
            "Stripe-Signature": sign(payload, secret, timestamp),
            "Content-Type": "application/json",
        },
    )


async def make_paid(
    client: httpx.AsyncClient,
    user_id: str,
    plan: str = "starter",
    sub_id: str | None = None,
    customer: str | None = None,
) -> dict:
    """Put an account on a paid plan the way production does: a signed Stripe webhook."""
    sub_id = sub_id or f"sub_{user_id[:8]}"
    r = await send_event(
        client,
        "customer.subscription.created",
        sub_obj(sub_id, customer=customer or f"cus_{user_id[:8]}", plan=plan, user_id=user_id),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def login(client: httpx.AsyncClient, email: str = "user@example.com") -> dict[str, str]:
    """A fresh token (tokens live 7 days, as long as the trial: tests that move the clock
    past that log in again)."""
    r = await client.post("/auth/login", json={"email": email, "password": "a-strong-password"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
