from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from nova.core.db import session_scope
from nova.models.user import User
from tests.conftest import register
from tests.twilio_byo.fake_twilio import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, FakeTwilio

CREDS = {"account_sid": ACCOUNT_SID, "api_key_sid": API_KEY_SID, "api_key_secret": API_KEY_SECRET}


async def set_flags(user_id: str, **flags) -> None:
    async with session_scope() as s:
        u = await s.get(User, user_id)
        u.features = flags


@pytest.fixture
async def twilio(settings):
    settings.encryption_key = SecretStr(Fernet.generate_key().decode())
    async with FakeTwilio() as fake:
        settings.byo_twilio_api_base = fake.url
        yield fake


@pytest.fixture
async def byo_user(client) -> dict:
    u = await register(client, "byo@example.com")
    await set_flags(u["user"]["id"], byo_twilio=True)
    return u


async def store(client, headers, **overrides):
    r = await client.post("/twilio/credentials", headers=headers, json={**CREDS, **overrides})
    assert r.status_code == 200, r.text
    return r.json()


async def imported(client, headers, twilio, e164="+14155550123") -> dict:
    twilio.add_number(e164)
    await store(client, headers)
    r = await client.post("/twilio/numbers/import", headers=headers, json={"phone_number": e164})
    assert r.status_code == 201, r.text
    return r.json()


def last_code(twilio) -> str:
    body = twilio.messages[-1]["Body"]
    return body.split("code is ")[1][:6]
