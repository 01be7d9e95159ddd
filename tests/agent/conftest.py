from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.telephony.twilio_fake import FakeTwilio


@pytest.fixture
async def twilio(settings):
    """A Twilio REST fake with the platform SMS settings pointed at it."""
    async with FakeTwilio() as fake:
        settings.twilio_account_sid = fake.account_sid
        settings.twilio_auth_token = SecretStr(fake.auth_token)
        settings.twilio_from_number = "+15555550100"
        settings.twilio_api_base = fake.url
        yield fake
