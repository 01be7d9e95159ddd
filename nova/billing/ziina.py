"""Ziina (AED) payment intents over its HTTP API.

``POST {ZIINA_API_BASE}/payment_intent`` with a bearer key and a JSON body
``{amount, currency_code, message, success_url, cancel_url, failure_url, test}`` answers
``{id, redirect_url, status, …}``; amounts are in fils (1/100 AED).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

from nova.core.errors import BadRequest, ServiceUnavailable, UpstreamError
from nova.core.settings import Settings

log = logging.getLogger("nova.billing.ziina")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def configured(settings: Settings) -> bool:
    return settings.ziina_api_key is not None and bool(settings.ziina_api_key.get_secret_value())


async def create_payment_intent(
    settings: Settings,
    *,
    amount_fils: int,
    message: str,
    idempotency_key: str,
    success_url: str,
    cancel_url: str,
) -> dict[str, Any]:
    if not configured(settings):
        raise ServiceUnavailable("AED payments (Ziina) are not configured on this server")
    assert settings.ziina_api_key is not None
    body = {
        "amount": amount_fils,
        "currency_code": "AED",
        "message": message,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "failure_url": cancel_url,
        "test": settings.ziina_test_mode,
        "transaction_source": "directApi",
    }
    headers = {
        "Authorization": f"Bearer {settings.ziina_api_key.get_secret_value()}",
        "Idempotency-Key": idempotency_key,
    }
    url = settings.ziina_api_base.rstrip("/") + "/payment_intent"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as http:
            resp = await http.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        log.warning("ziina request failed: %s", type(exc).__name__)
        raise UpstreamError("Payment provider (Ziina) is unreachable, try again later") from exc
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("message") or resp.json().get("error") or resp.text[:200]
        except ValueError:
            detail = resp.text[:200]
        log.warning("ziina answered %s", resp.status_code)
        raise UpstreamError(f"Payment provider (Ziina) error {resp.status_code}: {detail}")
    try:
        data = resp.json()
    except ValueError as exc:
        raise UpstreamError("Payment provider (Ziina) sent an unreadable answer") from exc
    if not data.get("id") or not data.get("redirect_url"):
        raise UpstreamError("Payment provider (Ziina) answer lacks id or redirect_url")
    return data


def verify_webhook(settings: Settings, body: bytes, signature: str | None) -> dict[str, Any]:
    """Check ``X-Hmac-Signature`` (hex HMAC-SHA256 of the raw body with the shared secret)
    and parse the delivery ``{"event": ..., "data": {...}}``."""
    if settings.ziina_webhook_secret is None:
        raise ServiceUnavailable("Ziina webhooks are not configured on this server")
    expected = hmac.new(
        settings.ziina_webhook_secret.get_secret_value().encode(), body, hashlib.sha256
    ).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.strip().lower()):
        raise BadRequest("Invalid Ziina signature")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadRequest("Invalid Ziina payload") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise BadRequest("Invalid Ziina payload")
    return payload
