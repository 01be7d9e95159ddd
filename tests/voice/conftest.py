from __future__ import annotations

import pytest
from pydantic import SecretStr

from nova.core.db import session_scope
from nova.models.user import User
from tests.conftest import register
from tests.voice.fake_provider import FakeVoiceProvider

WAV = b"RIFF\x24\x00\x01\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00" + b"\x00" * 4096


async def set_user(user_id: str, **fields) -> None:
    async with session_scope() as s:
        u = await s.get(User, user_id)
        for k, v in fields.items():
            setattr(u, k, v)


@pytest.fixture
async def provider(settings):
    async with FakeVoiceProvider() as fake:
        settings.voice_provider_url = fake.url
        settings.voice_provider_api_key = SecretStr(fake.api_key)
        yield fake


@pytest.fixture
async def voice_user(client) -> dict:
    """A registered account with the voice_cloning flag on."""
    u = await register(client, "voice@example.com")
    await set_user(u["user"]["id"], features={"voice_cloning": True})
    return u


async def sign(client, headers) -> None:
    r = await client.get("/voice/consent", headers=headers)
    assert r.status_code == 200, r.text
    r = await client.post(
        "/voice/consent",
        headers=headers,
        json={"version": r.json()["version"], "typed_name": "Ada Lovelace"},
    )
    assert r.status_code == 201, r.text


async def enroll(client, headers, data: bytes = WAV, **kw):
    return await client.post(
        "/voice/enroll",
        headers=headers,
        files={"audio": ("sample.wav", data, "audio/wav")},
        data={"name": "Ada"},
        **kw,
    )
