"""The one module that talks to Stripe (official ``stripe`` library, async methods).

Every call maps Stripe failures to ``UpstreamError`` (502) with a readable detail; a missing
``STRIPE_API_KEY`` is a 503. ``NOVA_STRIPE_API_BASE`` points the client elsewhere (tests run
it against a local fake of the endpoints used here).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import stripe

from nova.billing.plans import Plan
from nova.core.errors import BadRequest, ServiceUnavailable, UpstreamError
from nova.core.settings import Settings

log = logging.getLogger("nova.billing.stripe")

T = TypeVar("T")


def configured(settings: Settings) -> bool:
    return settings.stripe_api_key is not None and bool(settings.stripe_api_key.get_secret_value())


_clients: dict[tuple[str, str | None, int], tuple[stripe.StripeClient, stripe.HTTPXClient]] = {}


def client(settings: Settings) -> stripe.StripeClient:
    """A cached client per (key, base, retries): one connection pool, not one per call."""
    if not configured(settings):
        raise ServiceUnavailable("Card payments are not configured on this server")
    assert settings.stripe_api_key is not None
    cache_key = (
        settings.stripe_api_key.get_secret_value(),
        settings.stripe_api_base,
        settings.stripe_max_network_retries,
    )
    if cache_key in _clients:
        return _clients[cache_key][0]
    http = stripe.HTTPXClient()
    kwargs: dict[str, Any] = {
        "max_network_retries": settings.stripe_max_network_retries,
        "http_client": http,
    }
    if settings.stripe_api_base:
        kwargs["base_addresses"] = {"api": settings.stripe_api_base.rstrip("/")}
    made = stripe.StripeClient(settings.stripe_api_key.get_secret_value(), **kwargs)
    _clients[cache_key] = (made, http)
    return made


async def aclose() -> None:
    """Close the cached clients' connection pools (app shutdown, tests)."""
    items = list(_clients.values())
    _clients.clear()
    for _, http in items:
        await http.close_async()


async def _call(what: str, aw: Awaitable[T]) -> T:
    try:
        return await aw
    except stripe.StripeError as exc:
        message = exc.user_message or str(exc) or type(exc).__name__
        log.warning("stripe %s failed: %s (%s)", what, type(exc).__name__, exc.http_status)
        raise UpstreamError(f"Payment provider error while trying to {what}: {message}") from exc


async def create_customer(
    settings: Settings, *, email: str, user_id: str, idempotency_key: str
) -> stripe.Customer:
    """The account's Stripe customer. An earlier attempt whose database write was rolled
    back (a later Stripe step failed) left the customer at Stripe: it is found by e-mail and
    ``metadata.nova_user_id`` and reused instead of creating a second one."""
    c = client(settings)
    existing = await _call(
        "look up the customer",
        c.v1.customers.list_async(params={"email": email, "limit": 10}),
    )
    for customer in existing.data:
        if get(customer, "metadata", "nova_user_id") == user_id:
            return customer
    return await _call(
        "create the customer",
        c.v1.customers.create_async(
            params={"email": email, "metadata": {"nova_user_id": user_id}},
            options={"idempotency_key": idempotency_key},
        ),
    )


async def attach_payment_method(
    settings: Settings, *, customer_id: str, payment_method_id: str
) -> None:
    c = client(settings)
    await _call(
        "attach the payment method",
        c.v1.payment_methods.attach_async(payment_method_id, params={"customer": customer_id}),
    )
    await _call(
        "set the default payment method",
        c.v1.customers.update_async(
            customer_id,
            params={"invoice_settings": {"default_payment_method": payment_method_id}},
        ),
    )


async def price_for(settings: Settings, plan: Plan) -> str:
    """The Stripe Price id of ``plan``: configured, or found by lookup key, or created."""
    if plan.stripe_price_id:
        return plan.stripe_price_id
    c = client(settings)
    found = await _call(
        "look up the plan price",
        c.v1.prices.list_async(params={"lookup_keys": [plan.lookup_key], "active": True}),
    )
    if found.data:
        return found.data[0].id
    price = await _call(
        "create the plan price",
        c.v1.prices.create_async(
            params={
                "currency": plan.currency,
                "unit_amount": plan.price_cents,
                "recurring": {"interval": plan.interval},
                "lookup_key": plan.lookup_key,
                "product_data": {"name": f"Nova {plan.name}"},
                "metadata": {"nova_plan": plan.id},
            },
            options={"idempotency_key": f"nova-price-{plan.lookup_key}"},
        ),
    )
    return price.id


async def create_subscription(
    settings: Settings,
    *,
    customer_id: str,
    price_id: str,
    payment_method_id: str,
    plan_id: str,
    user_id: str,
    idempotency_key: str,
) -> stripe.Subscription:
    c = client(settings)
    return await _call(
        "create the subscription",
        c.v1.subscriptions.create_async(
            params={
                "customer": customer_id,
                "items": [{"price": price_id}],
                "default_payment_method": payment_method_id,
                "payment_behavior": "default_incomplete",
                "payment_settings": {"save_default_payment_method": "on_subscription"},
                "expand": ["latest_invoice.confirmation_secret"],
                "metadata": {"nova_plan": plan_id, "nova_user_id": user_id},
            },
            options={"idempotency_key": idempotency_key},
        ),
    )


async def update_subscription_plan(
    settings: Settings, *, subscription_id: str, item_id: str, price_id: str, plan_id: str
) -> stripe.Subscription:
    c = client(settings)
    return await _call(
        "change the subscription",
        c.v1.subscriptions.update_async(
            subscription_id,
            params={
                "items": [{"id": item_id, "price": price_id}],
                "cancel_at_period_end": False,
                "proration_behavior": "create_prorations",
                "payment_behavior": "default_incomplete",
                "expand": ["latest_invoice.confirmation_secret"],
                "metadata": {"nova_plan": plan_id},
            },
        ),
    )


async def retrieve_subscription(settings: Settings, subscription_id: str) -> stripe.Subscription:
    c = client(settings)
    return await _call("read the subscription", c.v1.subscriptions.retrieve_async(subscription_id))


async def cancel_at_period_end(settings: Settings, subscription_id: str) -> stripe.Subscription:
    c = client(settings)
    return await _call(
        "cancel the subscription",
        c.v1.subscriptions.update_async(subscription_id, params={"cancel_at_period_end": True}),
    )


async def create_setup_intent(settings: Settings, *, customer_id: str) -> stripe.SetupIntent:
    c = client(settings)
    return await _call(
        "create the setup intent",
        c.v1.setup_intents.create_async(
            params={"customer": customer_id, "usage": "off_session"},
        ),
    )


async def report_meter_usage(
    settings: Settings, *, customer_id: str, value: int, identifier: str
) -> None:
    """One meter event; ``identifier`` (the call id) makes Stripe drop duplicates."""
    assert settings.stripe_meter_event_name
    c = client(settings)
    await _call(
        "report usage",
        c.v1.billing.meter_events.create_async(
            params={
                "event_name": settings.stripe_meter_event_name,
                "identifier": identifier,
                "payload": {"stripe_customer_id": customer_id, "value": str(value)},
            }
        ),
    )


def construct_event(settings: Settings, payload: bytes, signature: str | None) -> stripe.Event:
    """Verify ``Stripe-Signature`` (and its 300 s timestamp tolerance) and parse the event."""
    if settings.stripe_webhook_secret is None:
        raise ServiceUnavailable("Stripe webhooks are not configured on this server")
    if not signature:
        raise BadRequest("Missing Stripe-Signature header")
    try:
        return stripe.Webhook.construct_event(
            payload, signature, settings.stripe_webhook_secret.get_secret_value()
        )
    except stripe.SignatureVerificationError as exc:
        raise BadRequest("Invalid Stripe signature") from exc
    except ValueError as exc:
        raise BadRequest("Invalid Stripe payload") from exc


# --- reading Stripe objects across API versions ------------------------------------------------


def get(obj: Any, *path: str) -> Any:
    """``obj[a][b]…`` tolerant of missing keys and of ids where objects were expected."""
    for key in path:
        if isinstance(obj, stripe.StripeObject):
            obj = obj.to_dict()
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def subscription_period(sub: Any) -> tuple[int | None, int | None]:
    """(start, end) unix seconds: top level on older API versions, per item since 2025."""
    start, end = get(sub, "current_period_start"), get(sub, "current_period_end")
    if start and end:
        return int(start), int(end)
    items = get(sub, "items", "data") or []
    if items:
        s, e = get(items[0], "current_period_start"), get(items[0], "current_period_end")
        if s and e:
            return int(s), int(e)
    return None, None


def subscription_price(sub: Any) -> tuple[str | None, str | None, str | None]:
    """(item id, price id, price lookup key) of the subscription's first item."""
    items = get(sub, "items", "data") or []
    if not items:
        return None, None, None
    price = get(items[0], "price")
    if isinstance(price, str):
        return get(items[0], "id"), price, None
    return get(items[0], "id"), get(price, "id"), get(price, "lookup_key")


def invoice_subscription_id(inv: Any) -> str | None:
    sub = get(inv, "parent", "subscription_details", "subscription") or get(inv, "subscription")
    if isinstance(sub, str) or sub is None:
        return sub
    return get(sub, "id")


def invoice_period(inv: Any) -> tuple[int | None, int | None]:
    lines = get(inv, "lines", "data") or []
    for line in lines:
        s, e = get(line, "period", "start"), get(line, "period", "end")
        if s and e:
            return int(s), int(e)
    return None, None


def client_secret(sub: Any) -> str | None:
    inv = get(sub, "latest_invoice")
    if inv is None or isinstance(inv, str):
        return None
    return get(inv, "confirmation_secret", "client_secret") or get(
        inv, "payment_intent", "client_secret"
    )
