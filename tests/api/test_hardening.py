"""Regression tests for the outside probe's findings (issue 19) that are not about logins or
secrets: huge integers, deep JSON, non-ASCII digits, portal links, POST /calls content
types, the webhook signing key at rest, forgot-password timing, and the published MCP
client's shapes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from nova.core import mailer
from nova.core.db import session_scope
from nova.core.migrate import upgrade
from nova.models.calls import Call
from nova.models.idempotency import IdempotencyRecord
from tests.calls.conftest import leads, payload
from tests.conftest import register
from tests.portals.helpers import encode, pf_payload, sign

HUGE = "9223372036854775808"  # 2**63: one past SQLite's (and PostgreSQL's) bigint


async def _count(model) -> int:
    async with session_scope() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# --- 2. integers are bounded ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/calls", "/referrals/list", "/referrals/earnings", "/referrals/payouts", "PORTAL"],
)
@pytest.mark.parametrize("offset", [HUGE, "1000000001", "-1", "1e3"])
async def test_out_of_range_offsets_are_422_not_500(client, user, path, offset):
    if path == "PORTAL":
        r = await client.post(
            "/portals/integrations",
            json={"portal": "bayut", "product": "Villas", "owner_email": "o@example.com"},
            headers=user["headers"],
        )
        path = f"/portals/integrations/{r.json()['id']}/leads"
    r = await client.get(path, params={"offset": offset}, headers=user["headers"])
    assert r.status_code == 422, (path, r.status_code, r.text)
    assert r.json()["detail"][0]["loc"] == ["query", "offset"]
    ok = await client.get(path, params={"offset": "1000000000"}, headers=user["headers"])
    assert ok.status_code == 200


async def test_huge_payout_amount_is_422(client, user):
    r = await client.post(
        "/referrals/payout",
        json={"amount_cents": int(HUGE), "method": "bank"},
        headers=user["headers"],
    )
    assert r.status_code == 422


# --- 3. deep JSON is a 400 before parsing ------------------------------------------------------


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("path", ["/calls", "/auth/register", "/v1/webhooks", "/auth/login"])
async def test_deeply_nested_json_is_400(client, user, path):
    r = await client.post(
        path,
        content=_deep(1000),
        headers={"Content-Type": "application/json", **user["headers"]},
    )
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "JSON nested too deeply (at most 32 levels)"}


async def test_deep_json_inside_a_field_is_400_and_shallow_is_fine(client):
    body = payload(context=None)
    body["extra"] = json.loads(_deep(40))
    r = await client.post("/calls", json=body)
    assert r.status_code == 400 and "nested too deeply" in r.json()["detail"]
    # Brackets inside strings are text, not nesting.
    r = await client.post("/calls", json=payload(context="[" * 5000 + '\\"{' * 100))
    assert r.status_code == 200, r.text


async def test_portal_receiver_refuses_deep_json_of_any_content_type(client, user):
    from tests.portals.helpers import create_integration

    integ = await create_integration(client, user["headers"])
    body = _deep(1000)
    for ctype in ("application/json", "text/plain"):
        r = await client.post(
            "/webhooks/property-finder",
            content=body,
            headers={
                "X-PropertyFinder-Signature": sign(integ["secret"], body),
                "Content-Type": ctype,
            },
        )
        assert r.status_code == 400, r.text
        assert "nested too deeply" in r.json()["detail"]


async def test_portal_receiver_refuses_non_finite_numbers(client, user):
    from tests.portals.helpers import create_integration

    integ = await create_integration(client, user["headers"])
    for price in ("1e400", "NaN", "Infinity"):
        doc = encode(pf_payload()).replace(b'"price":2450000', b'"price":' + price.encode())
        r = await client.post(
            "/webhooks/property-finder",
            content=doc,
            headers={"X-PropertyFinder-Signature": sign(integ["secret"], doc)},
        )
        assert r.status_code == 400, (price, r.text)


# --- 5. E.164 is ASCII digits ----------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+97150\uff11234567",
        "+9\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f",
        "+٩٧١٥٠١٢٣٤٥٦٧",
    ],
)
async def test_non_ascii_digits_are_not_e164(client, phone):
    r = await client.post("/calls", json=payload(leads=[{"phone": phone}]))
    assert r.status_code == 400
    assert "E.164" in r.json()["detail"]
    assert await _count(Call) == 0


async def test_byo_twilio_refuses_non_ascii_digits():
    from pydantic import ValidationError

    from nova.twilio_byo import schemas

    with pytest.raises(ValidationError):
        schemas.VerifyRequest(code="١٢٣٤٥٦")


# --- 6. portal links are vetted at create and PATCH ------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1/",
        "http://localhost:8000/admin",
        "http://169.254.169.254/latest/meta-data/",
        "gopher://example.com/",
        "http://[::1]/",
        "http://2130706433/",
        "https://user:pw@example.com/",
    ],
)
async def test_portal_integration_refuses_unsafe_links(client, user, url):
    base = {"portal": "bayut", "product": "Villas", "owner_email": "o@example.com"}
    r = await client.post(
        "/portals/integrations", json={**base, "website_url": url}, headers=user["headers"]
    )
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("website_url must be a public http(s) URL")
    r = await client.post(
        "/portals/integrations",
        json={**base, "goal": "book_meeting", "booking_link": url},
        headers=user["headers"],
    )
    assert r.status_code == 400 and "booking_link" in r.json()["detail"]
    r = await client.post("/portals/integrations", json=base, headers=user["headers"])
    assert r.status_code == 201
    iid = r.json()["id"]
    r = await client.patch(
        f"/portals/integrations/{iid}", json={"website_url": url}, headers=user["headers"]
    )
    assert r.status_code == 400
    r = await client.get(f"/portals/integrations/{iid}", headers=user["headers"])
    assert r.json()["website_url"] is None  # nothing half-written
    r = await client.patch(
        f"/portals/integrations/{iid}",
        json={"website_url": "https://villas.example.com/"},
        headers=user["headers"],
    )
    assert r.status_code == 200 and r.json()["website_url"] == "https://villas.example.com/"


# --- 7. POST /calls needs application/json ----------------------------------------------------


@pytest.mark.parametrize(
    "ctype",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_post_calls_refuses_other_content_types(client, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = await client.post("/calls", content=json.dumps(payload()).encode(), headers=headers)
    assert r.status_code == 415, r.text
    assert r.json() == {"detail": "Content-Type must be application/json"}
    assert await _count(Call) == 0


async def test_post_calls_accepts_json_with_charset(client):
    r = await client.post(
        "/calls",
        content=json.dumps(payload()).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200, r.text


# --- the MCP client's idempotency_key in the body --------------------------------------------


async def test_body_idempotency_key_replays_like_the_header(client, livekit):
    body = payload(leads=leads(2), idempotency_key="mcp-retry-1")
    r1 = await client.post("/calls", json=body)
    assert r1.status_code == 200, r1.text
    r2 = await client.post("/calls", json=body)
    assert r2.status_code == 200 and r2.headers["idempotent-replayed"] == "true"
    assert r2.json() == r1.json()
    # The header form names the same request: a replay too, not a second batch.
    r3 = await client.post(
        "/calls", json=payload(leads=leads(2)), headers={"Idempotency-Key": "mcp-retry-1"}
    )
    assert r3.headers.get("idempotent-replayed") == "true"
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 2
    assert await _count(Call) == 2
    # Same key, another body: 422, as with the header.
    r = await client.post("/calls", json=payload(product="Other", idempotency_key="mcp-retry-1"))
    assert r.status_code == 422


async def test_header_and_body_keys_must_agree(client, settings):
    settings.calls_rate_limit = 100
    r = await client.post(
        "/calls",
        json=payload(idempotency_key="body-key"),
        headers={"Idempotency-Key": "header-key"},
    )
    assert r.status_code == 422
    assert "differ" in r.json()["detail"]
    r = await client.post(
        "/calls", json=payload(idempotency_key="same"), headers={"Idempotency-Key": "same"}
    )
    assert r.status_code == 200
    assert await _count(IdempotencyRecord) == 1
    for bad in (123, "", "x" * 256, "tab\tkey"):
        r = await client.post("/calls", json=payload(idempotency_key=bad))
        assert r.status_code == 400, (bad, r.text)


# --- 4. forgot-password does the same work for every email -----------------------------------


async def test_forgot_password_answers_before_any_lookup(client, monkeypatch):
    """The response is sent before the account is looked up: known and unknown emails take
    the same path to the answer (the work, and the mail, follow it)."""
    from nova.accounts import router as accounts_router

    await register(client, "known@example.com")
    order: list[str] = []
    real = accounts_router.service.request_password_reset

    async def spy(session, settings, email):
        order.append(f"lookup {email}")
        return await real(session, settings, email)

    monkeypatch.setattr(accounts_router.service, "request_password_reset", spy)
    sent: list[bytes] = []

    async def app_call(scope, receive, send):
        async def watch(message):
            if message["type"] == "http.response.body":
                order.append("response")
            await send(message)

        await client._transport.app(scope, receive, watch)

    transport = httpx.ASGITransport(app=app_call, client=("203.0.113.10", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for email in ("known@example.com", "nobody@example.com"):
            order.clear()
            r = await c.post("/auth/forgot-password", json={"email": email})
            sent.append(r.content)
            assert order == ["response", f"lookup {email}"]
    assert sent[0] == sent[1]
    assert [m.to for m in mailer.outbox if m.to.endswith("@example.com")][-1] == "known@example.com"


# --- 9. webhook signing keys sealed at rest, and the migration that seals old rows -----------


def test_migration_seals_existing_signing_keys(tmp_path: Path, settings):
    import sqlite3

    from nova.webhooks.signing import open_key

    path = tmp_path / "old.db"
    upgrade(f"sqlite+aiosqlite:///{path}", "0010")
    key = hashlib.sha256(b"whsec_old-secret").hexdigest()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO users (id, email, password_hash, email_verified, is_admin, "
            "token_version, features, created_at) VALUES ('u1', 'o@example.com', 'x', 0, 0, "
            "0, '{}', '2026-01-01 00:00:00')"
        )
        db.execute(
            "INSERT INTO webhooks (id, user_id, url, events, secret_hash, is_active, "
            "created_at) VALUES ('w1', 'u1', 'https://h.example.com/', '[]', ?, 1, "
            "'2026-01-01 00:00:00')",
            (key,),
        )
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM webhooks").fetchone())
    assert "secret_hash" not in row
    assert key not in str(row)  # the signing key is no longer in the clear
    assert open_key(settings, row["signing_key"]) == key
    assert row["updated_at"] == row["created_at"]


async def test_signing_key_survives_setting_an_encryption_key_later(client, user, settings):
    """Sealed without NOVA_ENCRYPTION_KEY (derived key), still opened once one is set; new
    rows are then sealed with the configured key."""
    from cryptography.fernet import Fernet
    from pydantic import SecretStr

    from nova.core import crypto
    from nova.models.webhooks import Webhook
    from nova.webhooks.signing import open_key

    settings.encryption_key = None
    r = await client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/a"}, headers=user["headers"]
    )
    first = r.json()
    configured = Fernet.generate_key().decode()
    settings.encryption_key = SecretStr(configured)
    r = await client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/b"}, headers=user["headers"]
    )
    second = r.json()
    async with session_scope() as s:
        a = await s.get(Webhook, first["id"])
        b = await s.get(Webhook, second["id"])
    for hook, raw in ((a, first["secret"]), (b, second["secret"])):
        assert open_key(settings, hook.signing_key) == hashlib.sha256(raw.encode()).hexdigest()
    assert Fernet(configured.encode()).decrypt(b.signing_key.encode())  # the configured key
    settings.encryption_key = SecretStr(Fernet.generate_key().decode())
    settings.jwt_secret = SecretStr("another-jwt-secret-kJ3vQ9pL2mN8zR4tW7yB1cX6")
    with pytest.raises(crypto.DecryptionFailed):
        open_key(settings, b.signing_key)


# --- the published MCP client's shapes --------------------------------------------------------


async def test_mcp_client_shapes(client, user, livekit):
    me = (await client.get("/auth/me", headers=user["headers"])).json()
    assert me["phone_verified"] is False and "email_verified" in me

    r = await client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/x"}, headers=user["headers"]
    )
    hook = r.json()
    listed = (await client.get("/v1/webhooks", headers=user["headers"])).json()
    assert listed[0]["updated_at"] == hook["updated_at"]

    r = await client.post("/calls", json=payload(owner_email="boss@example.com"))
    call = r.json()["calls"][0]
    ctx = (await client.get(f"/contexts/{call['context_id']}")).json()
    assert ctx["id"] == ctx["context_id"] == call["context_id"]
    assert ctx["phone"] == "+971501234567" and ctx["name"] == "Sarah"
    assert ctx["owner_email"] == "boss@example.com"
    assert ctx["lead"]["phone"] == "+971501234567"  # what our own clients read stays

    deep = (await client.get("/health/deep")).json()
    for check in deep["checks"].values():
        assert {"status", "latency_ms", "reason", "ok", "detail"} <= set(check)
        assert isinstance(check["latency_ms"], float) and check["latency_ms"] >= 0
    assert deep["checks"]["database"]["reason"] is None
    assert deep["checks"]["redis"]["reason"] == "not configured"


# --- 11. the OpenAPI document and the 405 ------------------------------------------------------


async def test_405_lists_every_method_of_the_path(client):
    r = await client.put("/portals/integrations")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    r = await client.delete("/calls")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


async def test_openapi_states_the_constraints_and_statuses(client, settings):
    doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    password = schemas["RegisterRequest"]["properties"]["password"]
    assert password["minLength"] == settings.password_min_length
    assert password["maxLength"] == settings.password_max_length
    assert schemas["PayoutRequest"]["properties"]["amount_cents"]["minimum"] == 5000
    assert schemas["SubscribeRequest"]["properties"]["plan"]["enum"] == [
        "starter",
        "growth",
        "scale",
    ]
    calls = doc["paths"]["/calls"]["post"]
    body = calls["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert body["consent"]["const"] is True
    assert {"400", "401", "402", "409", "413", "415", "422", "429"} <= set(calls["responses"])
    # Statuses that follow from what a route is: a token (401), an id in the path (404).
    hook_test = doc["paths"]["/v1/webhooks/{webhook_id}/test"]["post"]["responses"]
    assert {"401", "404", "429"} <= set(hook_test)
    assert doc["paths"]["/auth/me"]["get"]["responses"]["401"]["content"]
    assert "503" in doc["paths"]["/health/deep"]["get"]["responses"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "{" in path:
                assert "404" in op["responses"], (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= set(op["responses"]), (method, path)
