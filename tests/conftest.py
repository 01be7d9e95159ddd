"""Test harness: a real database (SQLite file, or PostgreSQL when NOVA_TEST_DATABASE_URL is
set), migrated once with Alembic, emptied after every test; the app in-process over httpx;
a controllable clock."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

_tmp = Path(tempfile.mkdtemp(prefix="nova-tests-"))
_db_url = os.environ.get("NOVA_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{_tmp / 'test.db'}"
os.environ.update(
    {
        "NOVA_ENV": "test",
        "NOVA_DATABASE_URL": _db_url,
        "NOVA_JWT_SECRET": "test-jwt-secret-0123456789abcdef0123456789",
        "NOVA_WORKER_SECRET": "test-worker-secret-0123456789abcdef",
        "NOVA_BACKGROUND_RUNNER": "false",
        "NOVA_PUBLIC_URL": "http://testserver",
    }
)
for var in (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "FEATURE_CALLS_AUTH_REQUIRED",
):
    os.environ.pop(var, None)

import httpx  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

import nova.models  # noqa: E402, F401
from nova.api.app import create_app  # noqa: E402
from nova.core import clock as clock_mod  # noqa: E402
from nova.core.db import dispose_engine, init_engine  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.pump import TaskPump  # noqa: E402
from nova.core.ratelimit import aclose_limiters, reset_limiters  # noqa: E402
from nova.core.settings import Settings, get_settings  # noqa: E402

IS_POSTGRES = _db_url.startswith("postgresql")
# Redis is part of the test environment (no test skips for want of it).
REDIS_URL = os.environ.get("NOVA_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


def _reset_postgres_schema(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def database_url() -> str:
    if IS_POSTGRES:
        _reset_postgres_schema(_db_url)
    upgrade(_db_url)
    return _db_url


@pytest.fixture(scope="session")
async def _engine(database_url: str):
    engine = init_engine(get_settings())
    yield engine
    await dispose_engine()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The process settings; tests change fields with ``settings.x = ...`` (undone after)."""
    s = get_settings()
    snapshot = dict(s.__dict__)
    yield s
    s.__dict__.clear()
    s.__dict__.update(snapshot)


@pytest.fixture(autouse=True)
async def _clean_state(_engine) -> AsyncIterator[None]:
    from nova.quality.finetune import forget_promoted_model

    await reset_limiters()  # the in-memory log and any Redis log a test pointed at
    forget_promoted_model()
    yield
    await reset_limiters()
    await aclose_limiters()
    forget_promoted_model()
    from nova.telephony import livekit as lk_mod

    await lk_mod.aclose_clients()  # cached LiveKit API clients hold aiohttp sessions
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    async with _engine.begin() as conn:
        if IS_POSTGRES:
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def clock() -> clock_mod.FrozenClock:
    frozen = clock_mod.FrozenClock()
    old = clock_mod.set_clock(frozen)
    yield frozen
    clock_mod.set_clock(old)


@pytest.fixture
def app(settings: Settings):
    return create_app(settings, background=False)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def pump() -> TaskPump:
    return TaskPump(concurrency=8, batch_size=32, lease_seconds=30, interval=0.05)


async def register(
    client: httpx.AsyncClient,
    email: str = "user@example.com",
    password: str = "a-strong-password",
    **extra,
) -> dict:
    """Register and return {"token", "headers", "user"}."""
    r = await client.post("/auth/register", json={"email": email, "password": password, **extra})
    assert r.status_code == 201, r.text
    body = r.json()
    return {
        "token": body["access_token"],
        "headers": {"Authorization": f"Bearer {body['access_token']}"},
        "user": body["user"],
    }


@pytest.fixture
async def user(client) -> dict:
    return await register(client)


@pytest.fixture
async def livekit(settings: Settings):
    """A running LiveKit fake with the settings pointed at it."""
    from tests.fakes.livekit import FakeLiveKit

    async with FakeLiveKit() as lk:
        settings.livekit_url = lk.url
        settings.livekit_api_key = lk.api_key
        from pydantic import SecretStr

        settings.livekit_api_secret = SecretStr(lk.api_secret)
        yield lk


@pytest.fixture
async def openai_fake(settings: Settings):
    """A running OpenAI-compatible fake with the settings pointed at it."""
    from pydantic import SecretStr

    from tests.fakes.openai_server import FakeOpenAI

    async with FakeOpenAI() as fake:
        settings.openai_base_url = fake.base_url
        settings.openai_api_key = SecretStr("sk-test")
        yield fake
