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


@pytest.fixture(scope="session")
def speech():
    """``nova speech`` in a child process, shared by the session's audio tests."""
    from tests.agent.audio import SpeechProcess

    server = SpeechProcess().start()
    yield server
    server.stop()


@pytest.fixture
async def control_plane(settings):
    """The control plane served by uvicorn on a free loopback port (the worker reports to it
    over real HTTP)."""
    from nova.api.app import create_app
    from tests.serve import loopback_socket, serving

    sock = loopback_socket()
    settings.public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with serving(create_app(settings, background=False), sock) as url:
        yield url
