"""HTTP surface of calls: POST /calls, GET /calls/{id}, GET /contexts/{id}, POST /token."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request

from nova import compliance
from nova.api.app import LIFESPAN_HOOKS
from nova.api.deps import SessionDep, SettingsDep, _bearer, _user_from_token, client_ip
from nova.calls import briefs, service
from nova.calls.schemas import (
    BatchCallResponse,
    CallBatchRequest,
    CallStatusOut,
    ContextOut,
    TokenRequest,
    TokenResponse,
)
from nova.core import idempotency, jsonsafe
from nova.core.db import session_scope
from nova.core.errors import (
    BadRequest,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from nova.core.ratelimit import get_limiter
from nova.core.settings import Settings
from nova.models.user import User
from nova.telephony import livekit

router = APIRouter(tags=["calls"])

# The body field the published MCP client sends its idempotency key in.
BODY_KEY = "idempotency_key"


def _inline_schema(model: type) -> dict[str, Any]:
    """The model's JSON schema with its $defs inlined (for openapi_extra)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.split("/")[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline_schema(CallBatchRequest)}},
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Replays the first response for the same key and body (24 h)",
        }
    ],
}


async def _caller(request: Request, settings: Settings) -> User | None:
    """The bearer's user, looked up in a short transaction of its own so that the request's
    session is still untouched when the idempotency key is claimed."""
    token = _bearer(request)
    if token is None:
        return None
    async with session_scope() as s:
        user = await _user_from_token(s, settings, token)
    request.state.user_id = user.id
    return user


def _require_json(request: Request) -> None:
    """415 unless the body is declared JSON: a cross-site form or ``fetch`` can send
    ``text/plain`` without a CORS preflight, ``application/json`` it cannot."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")


async def _json(request: Request) -> Any:
    try:
        return jsonsafe.loads(await request.body())
    except jsonsafe.TooDeep as exc:
        raise BadRequest(str(exc)) from None
    except jsonsafe.InvalidJSON:
        raise Unprocessable("Request body must be valid JSON") from None


def _idempotency_key(request: Request, raw: Any) -> str | None:
    """The key from the ``Idempotency-Key`` header or the body's ``idempotency_key`` (the
    published MCP client sends it there); both present and different is a 422."""
    header = request.headers.get(idempotency.HEADER)
    body = raw.get(BODY_KEY) if isinstance(raw, dict) else None
    if body is not None and not isinstance(body, str):
        raise BadRequest(f"{BODY_KEY} must be a string")
    if header is not None and body is not None and header != body:
        raise Unprocessable(
            f"The {idempotency.HEADER} header and the body's {BODY_KEY} differ; send one key"
        )
    return header if header is not None else body


@router.post(
    "/calls",
    response_model=BatchCallResponse,
    openapi_extra=_BATCH_BODY,
    responses={
        400: {"description": "Validation failure (consent, leads, phones, goal links…)"},
        401: {"description": "Auth required (FEATURE_CALLS_AUTH_REQUIRED)"},
        402: {"description": "Plan/trial minute limit would be exceeded"},
        409: {"description": "Idempotency-Key still in flight"},
        422: {"description": "Body is not JSON, or Idempotency-Key reused with another body"},
        429: {"description": "Rate limit"},
    },
)
async def create_calls(request: Request, session: SessionDep, settings: SettingsDep):
    """Submit a batch of 1–5 leads: one brief and one agent per lead."""
    _require_json(request)
    ip = client_ip(request, settings)
    limit, window = settings.calls_rate_limit, settings.calls_rate_window_seconds
    decision = await get_limiter(settings).hit(f"calls:{ip}", limit, window)
    if not decision.allowed:
        raise TooManyRequests(
            f"Rate limit exceeded. Max {limit} requests per {window} seconds.",
            retry_after=decision.retry_after,
        )
    user = await _caller(request, settings)
    if settings.feature_calls_auth_required and user is None:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'")
    raw = await _json(request)
    key = _idempotency_key(request, raw)
    batch = service.parse_batch(raw)
    service.validate_batch(settings, batch)

    scope = idempotency.scope_for("POST /calls", user_id=user.id if user else None, ip=ip)

    async def work() -> tuple[int, Any]:
        if user is not None:
            await service.precheck_minutes(settings, user, len(batch.leads))
        try:
            result = await service.place_calls(
                session,
                settings,
                batch,
                user,
                client_ip=ip,
                single_statement=key is None,
                # A retry of a request that died after recording its calls resumes them.
                batch_id=service.batch_id_for(scope, key) if key else None,
            )
        except compliance.DialRefused as refused:  # 400: a lead outside its window
            await compliance.record_refusal(session, refused)
            raise
        return 200, result.model_dump(mode="json")

    return await idempotency.run(
        session,
        settings,
        key=key,
        scope=scope,
        # The key is not part of the request it names: header and body forms match.
        payload={k: v for k, v in raw.items() if k != BODY_KEY},
        work=work,
    )


@router.get("/calls/{call_id}", response_model=CallStatusOut)
async def get_call(call_id: str, session: SessionDep, settings: SettingsDep):
    """Status of one call job (404 after its 10-minute TTL)."""
    return await service.get_call_job(session, settings, call_id)


@router.get("/contexts/{context_id}", response_model=ContextOut)
async def get_context(context_id: str, session: SessionDep, settings: SettingsDep):
    """The full brief handed to the agent (404 after its 10-minute TTL)."""
    return await service.get_context(session, settings, context_id)


@router.post("/token", response_model=TokenResponse)
async def token(body: TokenRequest, session: SessionDep, settings: SettingsDep):
    """A LiveKit participant token to join a demo call's room from a browser."""
    return await service.issue_token(session, settings, body)


@asynccontextmanager
async def _calls_lifespan(app: Any):
    settings = getattr(app.state, "settings", None)
    if settings is not None and settings.llm_configured:
        briefs.warm_up(settings)  # import the openai SDK now, not during the first batch
    yield
    await livekit.aclose_clients()
    await briefs.aclose_clients()


LIFESPAN_HOOKS.append(_calls_lifespan)
