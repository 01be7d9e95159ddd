"""Finding 1: password hashing off the event loop, and failed logins throttled per account
and per client (429 + Retry-After, growing waits, no permanent lockout), on the frozen
clock, in memory and through Redis."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from nova.core.security import hash_password, verify_password_async
from tests.accounts.test_password_reset import _codes_for
from tests.conftest import REDIS_URL, register

PASSWORD = "a-strong-password"


@pytest.fixture
def tiers(settings):
    # Small tiers keep the number of (slow, real) argon2 verifications down.
    settings.login_limits_account_client = "3/60,5/900"
    settings.login_limits_account = "6/900"
    settings.login_limits_client = "30/60"
    return settings


@pytest.fixture(params=["memory", "redis"])
def backend(request, tiers):
    """Both stores of the shared rate limiter."""
    if request.param == "redis":
        tiers.redis_url = REDIS_URL
    return request.param


def _client_from(app, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _login(client, email="owner@example.com", password="wrong-password"):
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_waits_grow_and_end(client, clock, backend):
    await register(client, "owner@example.com", PASSWORD)
    for _ in range(3):
        assert (await _login(client)).status_code == 401
    r = await _login(client)
    assert r.status_code == 429
    assert r.json()["detail"].startswith("Too many login attempts")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # Throttled, even the right password is not checked (no oracle for the guesser).
    assert (await _login(client, password=PASSWORD)).status_code == 429

    clock.advance(61)  # the first window has slid by: two more tries, then the 15-min tier
    assert (await _login(client)).status_code == 401
    assert (await _login(client)).status_code == 401
    r = await _login(client)
    assert r.status_code == 429
    assert 60 < int(r.headers["retry-after"]) <= 900  # the wait grew

    clock.advance(900)  # every wait ends: no permanent lockout
    assert (await _login(client, password=PASSWORD)).status_code == 200


async def test_success_clears_this_clients_count_only(client, clock, tiers):
    await register(client, "owner@example.com", PASSWORD)
    for _ in range(2):
        assert (await _login(client)).status_code == 401
    assert (await _login(client, password=PASSWORD)).status_code == 200
    # Forgiven: three fresh failures are allowed again before the 429.
    for _ in range(3):
        assert (await _login(client)).status_code == 401
    assert (await _login(client)).status_code == 429


async def test_attacker_elsewhere_does_not_lock_the_owner_out(app, client, clock, tiers):
    await register(client, "owner@example.com", PASSWORD)
    async with _client_from(app, "198.51.100.7") as attacker:
        for _ in range(3):
            assert (await _login(attacker)).status_code == 401
        assert (await _login(attacker)).status_code == 429
    # The owner's own address is still free to log in.
    assert (await _login(client, password=PASSWORD)).status_code == 200


async def test_distributed_guessing_hits_the_account_limit_and_a_reset_lifts_it(
    app, client, clock, backend
):
    await register(client, "owner@example.com", PASSWORD)
    for n in range(3):
        async with _client_from(app, f"198.51.100.{n + 1}") as bot:
            for _ in range(2):
                assert (await _login(bot)).status_code == 401
    async with _client_from(app, "198.51.100.99") as bot:
        r = await _login(bot)
        assert r.status_code == 429  # 6 failures for the account from anywhere
        assert int(r.headers["retry-after"]) > 60
    assert (await _login(client, password=PASSWORD)).status_code == 429
    # The owner resets the password (proving the mailbox): the account's count starts over.
    r = await client.post("/auth/forgot-password", json={"email": "owner@example.com"})
    assert r.status_code == 200
    code = _codes_for("owner@example.com")[-1]
    r = await client.post(
        "/auth/reset-password",
        json={"email": "owner@example.com", "code": code, "new_password": "another-password"},
    )
    assert r.status_code == 200, r.text
    r = await _login(client, password="another-password")
    assert r.status_code == 200


async def test_one_client_spraying_many_accounts(client, clock, tiers):
    tiers.login_limits_client = "4/60"
    codes = []
    for n in range(5):
        codes.append((await _login(client, email=f"user{n}@example.com")).status_code)
    assert codes == [401, 401, 401, 401, 429]


async def test_password_hashing_leaves_the_event_loop_free():
    """While argon2 verifies (tens of ms of CPU), other coroutines keep running."""
    stored = hash_password(PASSWORD)
    ticks = 0
    done = False

    async def ticker():
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = ticks
    assert await verify_password_async(PASSWORD, stored) is True
    assert await verify_password_async("wrong", stored) is False
    assert await verify_password_async("wrong", None) is False
    done = True
    await task
    # On the loop, the verifications would have run with the ticker frozen (0 ticks).
    assert ticks - start > 50


async def test_hashing_threads_yield_the_cpu_to_the_event_loop():
    import os
    import sys
    import threading

    from nova.core import security

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop = asyncio.get_running_loop()
    mine = niceness()
    theirs = await loop.run_in_executor(security._hash_pool(), niceness)
    if sys.platform == "linux":
        assert theirs == min(19, mine + security.HASH_THREAD_NICE) or theirs > mine
