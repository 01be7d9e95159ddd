"""The Nova MCP server: tools that drive Nova's public REST API.

``build_server(provider)`` returns an ``MCPServer``. The *provider* decides which
:class:`~nova.mcp_server.client.NovaClient` a tool call uses:

* :class:`SessionProvider` (``nova mcp`` over stdio, in-process test clients): one client
  for the whole session, configured from arguments/environment; ``login``/``register``
  hand their token to it when none was configured.
* ``nova.mcp_server.mount.MountProvider`` (``/mcp`` on the control plane): a client per
  HTTP request carrying the caller's own bearer token.

Tools never talk to the database: everything goes through the REST API, so the same server
drives any Nova deployment and enforces exactly the API's auth, limits and metering.
"""

import contextlib
import importlib.resources
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import quote

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import EmailStr, Field, ValidationError

from nova import __version__
from nova.core.phone import E164_PATTERN
from nova.mcp_server.client import NovaAPIError, NovaClient
from nova.mcp_server.evals import register_eval_tools
from nova.mcp_server.models import (
    UUID_PATTERN,
    AuthOut,
    BatchCallOut,
    CallBriefOut,
    CallId,
    CallQualityOut,
    CallRequest,
    CallStatusOut,
    ContextId,
    DemoTokenOut,
    FeaturesOut,
    Goal,
    HealthOut,
    Language,
    Lead,
    PlanOut,
    PlansOut,
    TransferSettingsOut,
    UsageOut,
    UserOut,
    WebhookCreatedOut,
    WebhookDeletedOut,
    WebhookEvent,
    WebhookId,
    WebhookListOut,
    WebhookOut,
    WebhookTestOut,
    WhoAmIOut,
    room_for_context,
)

API_REFERENCE_URI = "nova://docs/api-reference"

INSTRUCTIONS = """\
Nova dispatches AI voice-agent calls to sales leads. Typical flow:
1. health_check to confirm the API is reachable.
2. whoami (or register / login when no token is configured) to get an account.
3. get_usage to check minutes left, then place_calls with 1-5 leads (consent=true only if
   the leads agreed to be contacted).
4. get_call(call_id) to follow each call (records expire 10 minutes after creation),
   get_call_brief(context_id) to read what the agent was told, get_demo_token(context_id)
   to join a demo call from a browser, get_call_quality(call_id) once it has ended.
5. create_webhook / list_webhooks / test_webhook / delete_webhook for durable lifecycle
   events. The full API reference is the resource nova://docs/api-reference.
6. Before calling real leads, start_eval tests the agent on the brief against personas
   (simulated calls, not billed); get_eval(eval_id) until completed.
Errors from the API come back as tool errors with the HTTP status and the API's detail:
401 = token missing/invalid, 402 = out of minutes, 404 = unknown or expired, 429 = rate
limited (wait for the Retry-After seconds before trying again)."""

DEMO_NOTE = (
    "In demo mode (the default) no phone network is dialled: each agent waits in a LiveKit "
    "room named call-<context_id>; join it from a browser with get_demo_token."
)


class ClientProvider(Protocol):
    """Supplies the API client for one tool call."""

    def client(self, ctx: Context) -> contextlib.AbstractAsyncContextManager[NovaClient]: ...

    async def aclose(self) -> None: ...


class SessionProvider:
    """One client for the life of the MCP session (stdio and in-process clients)."""

    def __init__(self, api: NovaClient) -> None:
        self.api = api

    @contextlib.asynccontextmanager
    async def client(self, ctx: Context) -> AsyncIterator[NovaClient]:
        yield self.api

    async def aclose(self) -> None:
        await self.api.aclose()


def api_reference_text() -> str:
    return (
        importlib.resources.files("nova.mcp_server")
        .joinpath("api_reference.txt")
        .read_text(encoding="utf-8")
    )


def _id(value: str) -> str:
    return quote(value, safe="")


def _invalid(exc: ValidationError) -> ToolError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'request'}: {err['msg']}" for err in exc.errors()
    )
    return ToolError(f"Invalid arguments: {problems}")


_READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)
_CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)


def build_server(provider: ClientProvider, *, name: str = "nova") -> MCPServer:
    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await provider.aclose()

    server = MCPServer(
        name,
        title="Nova voice agents",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
    )

    # --- operational -------------------------------------------------------------------
    @server.tool(
        title="Nova API health check",
        annotations=_READ,
        description=(
            "Check that the Nova API is up. deep=false (default) calls GET /health: status, "
            "timestamp, number of active calls and the call-record TTL. deep=true calls "
            "GET /health/deep, which probes the database and voice infrastructure (each "
            "probe capped at 2 s) and reports each check; healthy=false with status "
            "'degraded' means a dependency failed (that is a result, not a tool error). "
            "No authentication needed. Use this first when other tools fail."
        ),
    )
    async def health_check(
        ctx: Context,
        deep: Annotated[
            bool, Field(description="Also probe the database and voice infrastructure.")
        ] = False,
    ) -> HealthOut:
        async with provider.client(ctx) as api:
            path = "/health/deep" if deep else "/health"
            # The client raises for anything but 2xx and the accepted 503.
            body = await api.get(path, auth=False, accept=(503,))
        healthy = body.get("status") == "ok"
        return HealthOut.model_validate(
            {**body, "healthy": healthy, "http_status": 200 if healthy else 503}
        )

    # --- accounts ----------------------------------------------------------------------
    @server.tool(
        title="Current Nova account",
        annotations=_READ,
        description=(
            "Return the account behind the token in use (GET /auth/me and /me/features): "
            "id, email, verification status, trial state, remaining trial minutes and "
            "feature flags (voice_cloning, byo_twilio), plus the API URL being used. Fails "
            "with HTTP 401 when no valid token is in use: configure NOVA_API_TOKEN or call "
            "login/register."
        ),
    )
    async def whoami(ctx: Context) -> WhoAmIOut:
        async with provider.client(ctx) as api:
            user = await api.get("/auth/me")
            try:
                features = FeaturesOut(**(await api.get("/me/features")))
            except NovaAPIError as exc:
                if exc.status != 404:
                    raise
                features = None
            return WhoAmIOut(user=UserOut(**user), features=features, api_url=api.base_url)

    async def _authenticate(
        ctx: Context, path: str, body: dict[str, Any], return_token: bool, verb: str
    ) -> AuthOut:
        async with provider.client(ctx) as api:
            data = await api.post(path, body, auth=False)
            token = data["access_token"]
            adopted = api.adopt_session_token(token)
        if adopted:
            message = f"{verb}; later tool calls in this session use this account."
        elif api.auth_origin == "configured":
            message = (
                f"{verb}. The token configured for this server (NOVA_API_TOKEN or the "
                "Authorization header) is still the one in use."
            )
        else:
            message = verb
        return AuthOut(
            user=UserOut(**data["user"]),
            token_type=data.get("token_type", "bearer"),
            session_authenticated=adopted,
            access_token=token if return_token else None,
            message=message,
        )

    @server.tool(
        title="Create a Nova account",
        annotations=_CREATE,
        description=(
            "Create a Nova account (POST /auth/register). New accounts start a 7-day trial "
            "with 10 call minutes, no card required. Passwords need at least 6 characters; "
            "the e-mail is normalised to lower case. When this MCP server has no token "
            "configured, later tool calls in this session use the new account. Returns the "
            "user; the JWT itself only with return_token=true. HTTP 409: e-mail already "
            "registered (use login); 422: invalid e-mail or short password."
        ),
    )
    async def register(
        ctx: Context,
        email: Annotated[EmailStr, Field(description="The account's e-mail address.")],
        password: Annotated[
            str, Field(min_length=6, max_length=1024, description="At least 6 characters.")
        ],
        name: Annotated[str | None, Field(max_length=200, description="Display name.")] = None,
        referral_code: Annotated[
            str | None, Field(max_length=32, description="Referral code of the referrer.")
        ] = None,
        return_token: Annotated[
            bool, Field(description="Include the JWT in the result (treat it as a password).")
        ] = False,
    ) -> AuthOut:
        body: dict[str, Any] = {"email": email, "password": password}
        if name is not None:
            body["name"] = name
        if referral_code is not None:
            body["referral_code"] = referral_code
        return await _authenticate(ctx, "/auth/register", body, return_token, "Account created")

    @server.tool(
        title="Log in to Nova",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
        description=(
            "Log in with e-mail and password (POST /auth/login). When this MCP server has no "
            "token configured, later tool calls in this session use this account. Returns "
            "the user; the JWT itself only with return_token=true. HTTP 401: wrong e-mail "
            "or password."
        ),
    )
    async def login(
        ctx: Context,
        email: Annotated[EmailStr, Field(description="The account's e-mail address.")],
        password: Annotated[str, Field(min_length=1, max_length=1024)],
        return_token: Annotated[
            bool, Field(description="Include the JWT in the result (treat it as a password).")
        ] = False,
    ) -> AuthOut:
        body = {"email": email, "password": password}
        return await _authenticate(ctx, "/auth/login", body, return_token, "Logged in")

    # --- calls -------------------------------------------------------------------------
    @server.tool(
        title="Place AI voice-agent calls",
        annotations=_CREATE,
        description=(
            "Dispatch AI voice-agent calls to 1-5 leads in one batch (POST /calls). Nova "
            "writes a personalised brief per lead from product, context and the optional "
            "website, then starts one agent per lead. Returns call_id and context_id per "
            "lead with its status (pending, in_progress, completed, failed). consent must be "
            "true and may only be set when the leads agreed to be contacted. goal "
            "book_meeting needs booking_link; close_sale needs payment_link. Phones are "
            "E.164 (+971501234567), no duplicates. Authenticated calls are metered: HTTP 402 "
            "when the plan or trial has too few minutes (check get_usage first); 429 after 5 "
            "submissions per 60 s; 401 when the server requires a token. This tool is never "
            "retried automatically; pass idempotency_key so that repeating the same request "
            "(same key, same body, within 24 h) replays the first answer instead of dialling "
            "again. " + DEMO_NOTE
        ),
    )
    async def place_calls(
        ctx: Context,
        owner_email: Annotated[
            EmailStr, Field(description="Where call result briefs are e-mailed.")
        ],
        product: Annotated[str, Field(min_length=1, description="What you are selling.")],
        leads: Annotated[
            list[Lead],
            Field(min_length=1, max_length=5, description="1-5 leads, unique E.164 phones."),
        ],
        goal: Annotated[Goal, Field(description="What each call should achieve.")],
        consent: Annotated[
            Literal[True],
            Field(
                description="Must be exactly true: you confirm permission to contact (and "
                "record) these numbers."
            ),
        ],
        website_url: Annotated[
            str | None, Field(description="Website scraped once for product context.")
        ] = None,
        context: Annotated[
            str | None, Field(description="Free-text product info, objections, pricing.")
        ] = None,
        language: Annotated[
            Language, Field(description="en (default) or ar-AE (Gulf Arabic).")
        ] = "en",
        booking_link: Annotated[
            str | None, Field(description="Calendar URL; required when goal=book_meeting.")
        ] = None,
        payment_link: Annotated[
            str | None, Field(description="Checkout URL; required when goal=close_sale.")
        ] = None,
        pricing_summary: Annotated[
            str | None, Field(description="Exact pricing the agent may quote.")
        ] = None,
        urgency_hook: Annotated[
            str | None, Field(description="Limited-time offer or urgency line.")
        ] = None,
        goal_criteria: Annotated[
            str | None, Field(description="Qualification criteria or the facts to collect.")
        ] = None,
        idempotency_key: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=255,
                description="Sent as the Idempotency-Key header: reusing it with the same "
                "body replays the first response without dialling again.",
            ),
        ] = None,
    ) -> BatchCallOut:
        try:
            request = CallRequest(
                owner_email=owner_email,
                leads=leads,
                product=product,
                goal=goal,
                consent=True,
                website_url=website_url,
                context=context,
                language=language,
                booking_link=booking_link,
                payment_link=payment_link,
                pricing_summary=pricing_summary,
                urgency_hook=urgency_hook,
                goal_criteria=goal_criteria,
            )
        except ValidationError as exc:
            raise _invalid(exc) from None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        async with provider.client(ctx) as api:
            data = await api.post(
                "/calls", request.model_dump(mode="json", exclude_none=True), headers=headers
            )
        return BatchCallOut(**data)

    @server.tool(
        title="Get call status",
        annotations=_READ,
        description=(
            "Status of one dispatched call (GET /calls/{call_id}): status (pending, "
            "in_progress, completed, failed), phone, whether the follow-up SMS was sent, "
            "error and seconds until the record expires. Call records are ephemeral: HTTP "
            "404 means the ID is unknown or passed its 10-minute TTL (use webhooks for "
            "durable results; results are also e-mailed to owner_email)."
        ),
    )
    async def get_call(ctx: Context, call_id: CallId) -> CallStatusOut:
        async with provider.client(ctx) as api:
            return CallStatusOut(**(await api.get(f"/calls/{_id(call_id)}")))

    @server.tool(
        title="Get the agent's call brief",
        annotations=_READ,
        description=(
            "The brief the agent was given for one lead (GET /contexts/{context_id}): agent "
            "instructions, opening line, qualification questions, objection handlers, "
            "closing script and product facts. Same 10-minute TTL as call records: HTTP 404 "
            "when unknown or expired."
        ),
    )
    async def get_call_brief(ctx: Context, context_id: ContextId) -> CallBriefOut:
        async with provider.client(ctx) as api:
            data = await api.get(f"/contexts/{_id(context_id)}")
        data.setdefault("context_id", data.get("id") or context_id)
        return CallBriefOut(**data)

    @server.tool(
        title="Get call quality score",
        annotations=_READ,
        description=(
            "LLM-as-judge quality score of a call over a 5-dimension rubric "
            "(GET /api/calls/{call_id}/quality). Scoring runs after the call ends: "
            "scored=false (score null) means not scored yet, retry in a minute. HTTP 404: "
            "unknown call; 403: the call belongs to another account."
        ),
    )
    async def get_call_quality(ctx: Context, call_id: CallId) -> CallQualityOut:
        async with provider.client(ctx) as api:
            data = await api.get(f"/api/calls/{_id(call_id)}/quality")
        data.setdefault("call_id", call_id)
        return CallQualityOut.model_validate({**data, "scored": data.get("score") is not None})

    @server.tool(
        title="Get a browser join token for a demo call",
        annotations=_CREATE,
        description=(
            "LiveKit participant token to join a call's room from a browser and talk to the "
            "agent as the test caller (POST /token). Pass context_id from place_calls (the "
            "room is call-<context_id>) or an explicit room_name (wins when both are given). "
            "Returns server_url, participant_token and room_name for any LiveKit web client; "
            "the token allows audio publish and subscribe and expires after 10 minutes. "
            "HTTP 500/503 when LiveKit is not configured on the server."
        ),
    )
    async def get_demo_token(
        ctx: Context,
        context_id: Annotated[
            str | None,
            Field(
                pattern=UUID_PATTERN,
                description="Context ID from place_calls; the room is call-<context_id>.",
            ),
        ] = None,
        room_name: Annotated[
            str | None, Field(min_length=1, max_length=200, description="Explicit room name.")
        ] = None,
        participant_name: Annotated[
            str, Field(min_length=1, max_length=80, description="Display name in the room.")
        ] = "Test Caller",
    ) -> DemoTokenOut:
        room = room_name or (room_for_context(context_id) if context_id else None)
        if room is None:
            raise ToolError("Provide context_id (from place_calls) or room_name")
        async with provider.client(ctx) as api:
            data = await api.post(
                "/token", {"room_name": room, "participant_name": participant_name}
            )
        return DemoTokenOut(**data)

    # --- billing -----------------------------------------------------------------------
    @server.tool(
        title="Get plan usage",
        annotations=_READ,
        description=(
            "Minutes used and remaining in the current period for the account in use "
            "(GET /billing/usage): plan, subscription status, minutes used / limit / "
            "remaining, period start and end, trial end. Check before large batches to "
            "avoid HTTP 402. Requires a token (401 otherwise)."
        ),
    )
    async def get_usage(ctx: Context) -> UsageOut:
        async with provider.client(ctx) as api:
            return UsageOut(**(await api.get("/billing/usage")))

    @server.tool(
        title="List Nova plans",
        annotations=_READ,
        description=(
            "Available plans with monthly price, included minutes and overage rate "
            "(GET /billing/plans). No authentication needed."
        ),
    )
    async def list_plans(ctx: Context) -> PlansOut:
        async with provider.client(ctx) as api:
            data = await api.get("/billing/plans", auth=False)
        items = data.get("plans", []) if isinstance(data, dict) else data
        trial = data.get("trial") if isinstance(data, dict) else None
        return PlansOut(plans=[PlanOut(**p) for p in items], trial=trial)

    # --- transfer to a person ---------------------------------------------------------
    @server.tool(
        title="Get the transfer number",
        annotations=_READ,
        description=(
            "The account's transfer settings (GET /me/transfer): the E.164 number a person "
            "answers when the agent transfers a phone call (the lead asks for a person), and "
            "the mode. configured=false: the agent tells the lead nobody is available. "
            "Requires a token."
        ),
    )
    async def get_transfer_number(ctx: Context) -> TransferSettingsOut:
        async with provider.client(ctx) as api:
            return TransferSettingsOut(**(await api.get("/me/transfer")))

    @server.tool(
        title="Set the transfer number",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
        description=(
            "Set the number the agent transfers phone calls to when the lead asks for a "
            "person (PUT /me/transfer). phone_e164: strict E.164 (+14155550123, digits only; "
            "premium-rate numbers are refused). mode warm (default): the lead waits on hold "
            "while the agent briefs the person, then they are connected; cold: an immediate "
            "SIP transfer. Browser demo calls never transfer. HTTP 422 on a bad number. "
            "Requires a token."
        ),
    )
    async def set_transfer_number(
        ctx: Context,
        phone_e164: Annotated[
            str,
            Field(pattern=E164_PATTERN, description="E.164, e.g. +14155550123."),
        ],
        mode: Annotated[
            Literal["warm", "cold"], Field(description="warm (brief the person) or cold.")
        ] = "warm",
    ) -> TransferSettingsOut:
        async with provider.client(ctx) as api:
            data = await api.request(
                "PUT", "/me/transfer", json_body={"phone_e164": phone_e164, "mode": mode}
            )
        return TransferSettingsOut(**data)

    @server.tool(
        title="Remove the transfer number",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
        ),
        description=(
            "Remove the account's transfer number (DELETE /me/transfer): agents stop "
            "transferring calls to a person. Idempotent. Requires a token."
        ),
    )
    async def clear_transfer_number(ctx: Context) -> TransferSettingsOut:
        async with provider.client(ctx) as api:
            await api.delete("/me/transfer")
        return TransferSettingsOut(configured=False)

    # --- webhooks ----------------------------------------------------------------------
    @server.tool(
        title="List webhooks",
        annotations=_READ,
        description=(
            "The account's registered webhooks (GET /v1/webhooks): id, URL, subscribed "
            "events, active flag. Secrets are never returned here. include_inactive=true "
            "also lists deleted ones. Requires a token."
        ),
    )
    async def list_webhooks(
        ctx: Context,
        include_inactive: Annotated[
            bool, Field(description="Also list soft-deleted webhooks.")
        ] = False,
    ) -> WebhookListOut:
        params = {"include_inactive": "true"} if include_inactive else None
        async with provider.client(ctx) as api:
            data = await api.get("/v1/webhooks", params=params)
        items = data.get("webhooks", data.get("items", [])) if isinstance(data, dict) else data
        hooks = [WebhookOut(**h) for h in items]
        return WebhookListOut(webhooks=hooks, count=len(hooks))

    @server.tool(
        title="Register a webhook",
        annotations=_CREATE,
        description=(
            "Register an HTTPS endpoint that receives signed JSON for the chosen call "
            "lifecycle events: call.started, call.ended, call.transcribed, call.scored "
            "(POST /v1/webhooks). The result includes the signing secret EXACTLY ONCE: "
            "store it now. Verify deliveries with X-Nova-Signature: sha256=HMAC-SHA256(key="
            "sha256_hex(secret), raw body). HTTP 400: not HTTPS, private/internal address or "
            "unknown event. Requires a token."
        ),
    )
    async def create_webhook(
        ctx: Context,
        url: Annotated[
            str,
            Field(
                pattern=r"^https://\S+$",
                max_length=2048,
                description="Public HTTPS URL Nova will POST events to.",
            ),
        ],
        events: Annotated[
            list[WebhookEvent], Field(min_length=1, description="Event types to subscribe to.")
        ],
    ) -> WebhookCreatedOut:
        async with provider.client(ctx) as api:
            data = await api.post(
                "/v1/webhooks", {"url": url, "events": list(dict.fromkeys(events))}
            )
        return WebhookCreatedOut(**data)

    @server.tool(
        title="Delete a webhook",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
        ),
        description=(
            "Deactivate a webhook (DELETE /v1/webhooks/{id}, a soft delete: deliveries stop "
            "at once). Idempotent. Requires a token and ownership of the webhook."
        ),
    )
    async def delete_webhook(ctx: Context, webhook_id: WebhookId) -> WebhookDeletedOut:
        async with provider.client(ctx) as api:
            await api.delete(f"/v1/webhooks/{_id(webhook_id)}")
        return WebhookDeletedOut(webhook_id=webhook_id, deleted=True)

    @server.tool(
        title="Send a test webhook event",
        annotations=_CREATE,
        description=(
            "Send a fake call.started payload to a registered webhook, signed like real "
            "deliveries, to check the receiver and its signature verification "
            "(POST /v1/webhooks/{id}/test). HTTP 400 when the webhook is inactive, 404 when "
            "unknown. Requires a token."
        ),
    )
    async def test_webhook(ctx: Context, webhook_id: WebhookId) -> WebhookTestOut:
        async with provider.client(ctx) as api:
            data = await api.post(f"/v1/webhooks/{_id(webhook_id)}/test")
        result = data if isinstance(data, dict) else ({"value": data} if data is not None else None)
        return WebhookTestOut(webhook_id=webhook_id, result=result)

    register_eval_tools(server, provider)

    # --- resources ---------------------------------------------------------------------
    @server.resource(
        API_REFERENCE_URI,
        name="nova-api-reference",
        title="Nova API reference",
        description="The public REST API these tools wrap: endpoints, fields, status codes.",
        mime_type="text/plain",
    )
    def api_reference() -> str:
        return api_reference_text()

    from nova.mcp_server import records

    records.register(server, provider)
    return server
