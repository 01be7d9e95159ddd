"""The OpenAPI document says every status an operation can answer.

FastAPI documents a route's success and its 422. The rest are added here, in one place:
statuses that follow from what a route is (a JSON body: 400 malformed or too deep, 413 too
large; a bearer token: 401; an id in the path: 404), and each operation's own (402, 409,
429, 503 "not configured"…) from ``EXTRA``. Every error has the ``{"detail": ...}`` shape.
``tests/api/test_schemathesis.py`` holds the document to the server's behaviour.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "description": "What went wrong: a sentence, or FastAPI's list of field errors",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
        }
    },
}

FEATURE_GATED = ("/twilio/", "/voice/")
GENERIC = {
    400: "Malformed JSON, JSON nested too deeply, or a rule the schema cannot express",
    401: "Missing, invalid or expired bearer token",
    404: "Not found (someone else's resource is indistinguishable from a missing one)",
    413: "Request body too large",
}

# (method, path) -> {status: description}: what a route answers besides the generic ones.
EXTRA: dict[tuple[str, str], dict[int, str]] = {
    ("POST", "/calls"): {
        402: "Plan or trial minutes would be exceeded",
        409: "Idempotency-Key still in flight",
        415: "Content-Type is not application/json",
        422: "Body is not JSON; Idempotency-Key reused with another body, or header and "
        "body keys differ",
        429: "Rate limit (Retry-After)",
    },
    ("POST", "/token"): {500: "LiveKit is not configured on this server"},
    ("POST", "/auth/register"): {409: "Email already registered"},
    ("POST", "/auth/login"): {429: "Too many login attempts (Retry-After)"},
    ("POST", "/auth/reset-password"): {429: "Too many attempts for this code"},
    ("POST", "/v1/webhooks/{webhook_id}/test"): {
        400: "The webhook is inactive",
        429: "Test deliveries rate limit",
    },
    ("POST", "/v1/do-not-call"): {400: "Not a valid phone number"},
    ("GET", "/v1/do-not-call"): {400: "?phone= is not a valid phone number"},
    ("GET", "/v1/compliance/check"): {400: "Not a valid phone number or time zone"},
    ("GET", "/v1/compliance/decisions"): {400: "?phone= is not a valid phone number"},
    ("DELETE", "/v1/do-not-call/{phone}"): {
        400: "Not a valid phone number",
        409: "The lead asked not to be called (a spoken opt-out is kept)",
    },
    ("POST", "/v1/do-not-call/import"): {
        400: "Not a CSV this import can read",
        415: "Send text/csv or multipart/form-data",
    },
    ("POST", "/v1/evals"): {
        429: "Too many evals queued or running for this account",
        503: "No LLM is configured on this server",
    },
    ("POST", "/webhooks/property-finder"): {
        401: "Signature missing, malformed or wrong",
        503: "No integration configured for the portal, or it is disabled",
    },
    ("POST", "/webhooks/property-finder/{integration_id}"): {
        401: "Signature missing, malformed or wrong",
        503: "Integration disabled",
    },
    ("POST", "/webhooks/bayut"): {
        401: "Signature missing, malformed or wrong",
        503: "No integration configured for the portal, or it is disabled",
    },
    ("POST", "/webhooks/bayut/{integration_id}"): {
        401: "Signature missing, malformed or wrong",
        503: "Integration disabled",
    },
    ("POST", "/portals/integrations"): {409: "This account already has this portal"},
    ("GET", "/health/deep"): {503: "A dependency is failing (body as for 200)"},
    ("POST", "/billing/subscribe"): {
        402: "The card was declined",
        409: "Already subscribed",
        502: "The payment provider failed",
        503: "Card payments are not configured on this server",
    },
    ("POST", "/billing/setup-intent"): {
        502: "The payment provider failed",
        503: "Card payments are not configured on this server",
    },
    ("POST", "/billing/cancel"): {
        404: "No active subscription to cancel",
        502: "The payment provider failed",
        503: "Card payments are not configured on this server",
    },
    ("POST", "/billing/create-payment"): {
        502: "The payment provider failed",
        503: "AED payments (Ziina) are not configured on this server",
    },
    ("POST", "/billing/webhook"): {503: "Stripe webhooks are not configured on this server"},
    ("POST", "/billing/ziina/webhook"): {503: "Ziina webhooks are not configured on this server"},
    ("POST", "/referrals/payout"): {409: "Balance too low for this amount"},
    ("GET", "/api/calls/{call_id}/quality"): {403: "Not your call"},
    ("POST", "/voice/consent"): {
        409: "Stale consent version (GET /voice/consent has the current one)",
        451: "Voice cloning is not offered in your region",
    },
    ("POST", "/voice/enroll"): {
        409: "Consent missing or enrolment window closed",
        415: "Not an audio upload",
        429: "Too many attempts",
        451: "Voice cloning is not offered in your region",
        502: "The voice provider failed",
        503: "The voice provider is not configured",
    },
    ("POST", "/voice/preview/{profile_id}"): {
        409: "The voice is not ready",
        502: "The voice provider failed",
        503: "The voice provider is not configured",
    },
    ("POST", "/voice/activate/{profile_id}"): {409: "The voice is not ready"},
    ("DELETE", "/voice/{profile_id}"): {502: "The voice provider failed"},
    ("POST", "/twilio/credentials"): {503: "NOVA_ENCRYPTION_KEY is not configured"},
    ("POST", "/twilio/credentials/validate"): {
        409: "No credentials stored",
        502: "Twilio failed",
        503: "NOVA_ENCRYPTION_KEY is not configured",
    },
    ("GET", "/twilio/numbers/available"): {
        400: "No Twilio credentials stored yet",
        409: "No valid credentials stored",
        502: "Twilio failed",
        503: "NOVA_ENCRYPTION_KEY is not configured",
    },
    ("POST", "/twilio/numbers/import"): {
        409: "Number already imported, or no valid credentials",
        502: "Twilio or LiveKit failed",
        503: "NOVA_ENCRYPTION_KEY or LiveKit is not configured",
    },
    ("POST", "/twilio/numbers/{number_id}/send-otp"): {
        409: "Number already verified",
        429: "Too many codes sent to this number (Retry-After)",
        502: "Twilio failed",
        503: "No OTP sender configured",
    },
    ("POST", "/twilio/numbers/{number_id}/verify"): {429: "Too many attempts for this code"},
    ("POST", "/twilio/numbers/{number_id}/set-default"): {409: "The number is not verified"},
    ("DELETE", "/twilio/numbers/{number_id}"): {502: "Twilio or LiveKit failed"},
}


def _dependency_calls(route: APIRoute) -> set[str]:
    names: set[str] = set()
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if dep.call is not None:
            names.add(getattr(dep.call, "__name__", ""))
        stack.extend(dep.dependencies)
    return names


def _statuses(route: APIRoute, method: str, operation: dict[str, Any]) -> dict[int, str]:
    out: dict[int, str] = {}
    calls = _dependency_calls(route)
    if "current_user" in calls or "optional_user" in calls:
        out[401] = GENERIC[401]
    if "{" in route.path:
        out[404] = GENERIC[404]
    if route.path.startswith(FEATURE_GATED):
        out[404] = "The feature is not enabled for this account (or not found)"
    if "requestBody" in operation:
        out[400] = GENERIC[400]
        out[413] = GENERIC[413]
    out.update(EXTRA.get((method, route.path), {}))
    return out


def describe(schema: dict[str, Any], app: FastAPI) -> None:
    """Add the missing statuses (and the error shape) to a FastAPI OpenAPI document."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        item = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods:
            operation = item.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, text in _statuses(route, method, operation).items():
                entry = responses.setdefault(str(status), {"description": text})
                entry.setdefault("content", ref)


def install(app: FastAPI) -> None:
    """``app.openapi()`` returns the fuller document (built once, on first use)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            describe(build(), app)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
