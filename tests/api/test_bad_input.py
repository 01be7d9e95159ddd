"""Issue 2 "Bad input": every malformed request gets a clear 4xx and nothing half-written."""

from __future__ import annotations

import base64
import json

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from nova.api.app import create_app
from nova.api.deps import SessionDep
from nova.core.db import session_scope
from nova.models.billing import BillingAccount
from nova.models.user import User
from tests.conftest import register

SECRET = "test-jwt-secret-0123456789abcdef0123456789"


async def _count(model) -> int:
    async with session_scope() as s:
        return int(await s.scalar(select(func.count()).select_from(model)))


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- malformed bodies ------------------------------------------------------------------------


async def test_malformed_json_is_422(client):
    r = await client.post(
        "/auth/register",
        content=b'{"email": "a@example.com", "password": ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list)
    assert r.json()["detail"][0]["type"] == "json_invalid"


async def test_wrong_types_422(client):
    for body in (
        {"email": 123, "password": "123456"},
        {"email": "a@example.com", "password": ["123456"]},
        {"email": "a@example.com", "password": 123456},
        {"email": "a@example.com", "password": "123456", "name": {"x": 1}},
        ["a@example.com", "123456"],
        "just a string",
        None,
    ):
        r = await client.post("/auth/register", json=body)
        assert r.status_code == 422, body
    r = await client.post(
        "/auth/register", content=b"", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert await _count(User) == 0


async def test_unknown_fields_422(client):
    r = await client.post(
        "/auth/register",
        json={"email": "a@example.com", "password": "123456", "is_admin": True},
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "is_admin"]
    r = await client.post(
        "/auth/login", json={"email": "a@example.com", "password": "123456", "otp": "1"}
    )
    assert r.status_code == 422
    assert await _count(User) == 0


async def test_validation_errors_never_echo_input(client):
    r = await client.post("/auth/register", json={"email": "a@example.com", "password": "s3cr"})
    assert r.status_code == 422
    assert "s3cr" not in r.text
    assert set(r.json()["detail"][0]) == {"loc", "msg", "type"}


# --- size caps ---------------------------------------------------------------------------------


async def test_ten_megabyte_password_is_413(client):
    big = "p" * (10 * 1024 * 1024)
    r = await client.post("/auth/register", json={"email": "big@example.com", "password": big})
    assert r.status_code == 413
    assert r.json() == {"detail": "Request body too large (limit 1048576 bytes)"}
    assert r.headers["x-request-id"]
    r = await client.post("/auth/login", json={"email": "big@example.com", "password": big})
    assert r.status_code == 413
    assert await _count(User) == 0


async def test_chunked_body_over_cap_is_413(client):
    async def stream():
        yield b'{"email": "chunk@example.com", "password": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    r = await client.post(
        "/auth/register", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413
    assert await _count(User) == 0


async def test_chunked_body_under_cap_is_fine(client):
    async def stream():
        yield b'{"email": "small@example.com", '
        yield b'"password": "chunked-pass"}'

    r = await client.post(
        "/auth/register", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text


async def test_bogus_content_length_is_413(client):
    r = await client.post(
        "/auth/login",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "99999999999"},
    )
    assert r.status_code == 413


async def test_long_password_under_cap_is_422(client):
    r = await client.post(
        "/auth/register", json={"email": "long@example.com", "password": "p" * 2000}
    )
    assert r.status_code == 422
    assert "at most 1024" in r.text
    r = await client.post("/auth/login", json={"email": "long@example.com", "password": "p" * 2000})
    assert r.status_code == 422
    assert await _count(User) == 0


async def test_overlong_name_422(client):
    r = await client.post(
        "/auth/register", json={"email": "n@example.com", "password": "123456", "name": "n" * 201}
    )
    assert r.status_code == 422


# --- hostile strings ---------------------------------------------------------------------------


async def test_sql_and_script_strings_stored_verbatim(client):
    names = [
        "Robert'); DROP TABLE users;--",
        "<script>alert(document.cookie)</script>",
        "x' OR '1'='1",
        "مرحبا 👋 \\u0000",
    ]
    for i, name in enumerate(names):
        acct = await register(client, f"hostile{i}@example.com", name=name)
        me = await client.get("/auth/me", headers=acct["headers"])
        assert me.status_code == 200
        assert me.headers["content-type"] == "application/json"
        assert me.json()["name"] == name
    assert await _count(User) == len(names)  # the table is still there, nothing else changed
    r = await client.post("/auth/check-email", json={"email": "hostile0@example.com"})
    assert r.json() == {"exists": True}
    r = await client.post(
        "/auth/login", json={"email": "x@example.com' OR '1'='1", "password": "whatever"}
    )
    assert r.status_code in (401, 422)


# --- tokens ------------------------------------------------------------------------------------


def _claims(user_id: str, now: int, **over) -> dict:
    claims = {
        "sub": user_id,
        "iat": now,
        "exp": now + 3600,
        "jti": "j1",
        "iss": "nova",
        "aud": "nova-api",
        "ver": 0,
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.filterwarnings("ignore:The HMAC key")
async def test_bad_tokens_are_401(client, clock):
    acct = await register(client, "tok@example.com")
    uid = acct["user"]["id"]
    now = int(clock.now().timestamp())
    ok = jwt.encode(_claims(uid, now), SECRET, algorithm="HS256")
    assert (
        await client.get("/auth/me", headers={"Authorization": f"Bearer {ok}"})
    ).status_code == 200

    header_none = _b64({"alg": "none", "typ": "JWT"})
    tokens = {
        "forged": jwt.encode(_claims(uid, now), "another-secret-" * 3, algorithm="HS256"),
        "alg-none": f"{header_none}.{_b64(_claims(uid, now))}.",
        "hs512": jwt.encode(_claims(uid, now), SECRET, algorithm="HS512"),
        "wrong-aud": jwt.encode(_claims(uid, now, aud="other-api"), SECRET, algorithm="HS256"),
        "wrong-iss": jwt.encode(_claims(uid, now, iss="evil"), SECRET, algorithm="HS256"),
        "no-exp": jwt.encode(_claims(uid, now, exp=None), SECRET, algorithm="HS256"),
        "expired": jwt.encode(_claims(uid, now, exp=now - 1), SECRET, algorithm="HS256"),
        "unknown-user": jwt.encode(_claims("nobody", now), SECRET, algorithm="HS256"),
        "old-version": jwt.encode(_claims(uid, now, ver=-1), SECRET, algorithm="HS256"),
        "garbage": "not.a.jwt",
        "tampered": ok[:-4] + ("AAAA" if not ok.endswith("AAAA") else "BBBB"),
    }
    for name, token in tokens.items():
        r = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
        assert r.json() == {"detail": "Invalid or expired token"}, name
        assert r.headers["www-authenticate"] == "Bearer"
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", ok):
        r = await client.get("/auth/me", headers={"Authorization": header})
        assert r.status_code == 401, header
    assert (await client.get("/auth/me")).json() == {"detail": "Not authenticated"}
    assert (await client.get("/me/features")).status_code == 401


async def test_token_expires_with_the_clock(client, clock):
    acct = await register(client, "ttl@example.com")
    clock.advance(7 * 24 * 3600 - 1)
    assert (await client.get("/auth/me", headers=acct["headers"])).status_code == 200
    clock.advance(1)
    r = await client.get("/auth/me", headers=acct["headers"])
    assert r.status_code == 401


# --- nothing half-written ------------------------------------------------------------------------


async def test_failed_register_leaves_nothing_behind(settings, app):
    # The trial account cannot be built (the date overflows) after the user row was flushed:
    # the request's transaction must roll the user back too.
    settings.trial_days = 10_000_000
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.post("/auth/register", json={"email": "half@example.com", "password": "123456"})
        assert r.status_code == 500
        assert r.json() == {"detail": "Internal server error"}
        assert await _count(User) == 0
        assert await _count(BillingAccount) == 0
        settings.trial_days = 7
        r = await c.post("/auth/register", json={"email": "half@example.com", "password": "123456"})
        assert r.status_code == 201


async def test_duplicate_register_writes_nothing(client):
    await register(client, "dup@example.com")
    r = await client.post("/auth/register", json={"email": "DUP@example.com", "password": "other1"})
    assert r.status_code == 409
    assert await _count(User) == 1
    assert await _count(BillingAccount) == 1
    ok = await client.post(
        "/auth/login", json={"email": "dup@example.com", "password": "a-strong-password"}
    )
    assert ok.status_code == 200  # the first password still works


async def test_failed_commit_is_an_error_not_a_success(settings, client):
    """The request's session commits before the response is sent: a commit that fails must
    not be reported as a 2xx (FastAPI's default would commit after sending)."""
    await register(client, "commit@example.com")
    app = create_app(settings, background=False)

    @app.post("/test-only/duplicate-user")
    async def duplicate(session: SessionDep):
        session.add(User(email="commit@example.com", password_hash="x"))  # fails at commit
        return {"ok": True}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.post("/test-only/duplicate-user")
    assert r.status_code == 500
    assert await _count(User) == 1
