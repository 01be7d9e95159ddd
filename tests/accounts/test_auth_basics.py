from __future__ import annotations

from tests.conftest import register


async def test_register_login_me(client):
    r = await client.post(
        "/auth/register",
        json={"email": "  Sarah@Example.COM ", "password": "secret1", "name": "Sarah"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == "sarah@example.com"
    assert body["user"]["trial_active"] is True
    assert body["user"]["trial_minutes_remaining"] == 10.0

    r = await client.post("/auth/login", json={"email": "sarah@example.com", "password": "secret1"})
    assert r.status_code == 200
    token = r.json()["access_token"]
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]
    assert set(me.json()) >= {
        "id",
        "email",
        "email_verified",
        "phone",
        "trial_active",
        "trial_minutes_remaining",
        "created_at",
    }


async def test_duplicate_email_409_and_bad_login_401(client):
    await register(client, "a@example.com")
    r = await client.post("/auth/register", json={"email": "A@example.com", "password": "whatever"})
    assert r.status_code == 409
    assert r.json() == {"detail": "Email already registered"}
    r = await client.post("/auth/login", json={"email": "a@example.com", "password": "wrong-pass"})
    assert r.status_code == 401
    r = await client.post("/auth/login", json={"email": "nobody@example.com", "password": "x"})
    assert r.status_code == 401


async def test_short_password_and_bad_email_422(client):
    r = await client.post("/auth/register", json={"email": "b@example.com", "password": "12345"})
    assert r.status_code == 422
    assert "12345" not in r.text  # the input is never echoed back
    r = await client.post("/auth/register", json={"email": "not-an-email", "password": "123456"})
    assert r.status_code == 422
