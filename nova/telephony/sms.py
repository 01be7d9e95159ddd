"""SMS through the platform Twilio account (booking/payment links sent during a call).

The twilio client is synchronous (requests): it runs in a thread so it never blocks the
event loop. ``NOVA_TWILIO_API_BASE`` points it at another host (a regional gateway or a
test peer).
"""

from __future__ import annotations

import asyncio
import logging

from nova.core.settings import Settings

log = logging.getLogger("nova.sms")


class SmsNotConfigured(Exception):  # noqa: N818
    pass


class SmsFailed(Exception):  # noqa: N818
    pass


def sms_configured(settings: Settings) -> bool:
    return bool(
        settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number
    )


def _client(settings: Settings):
    from twilio.rest import Client

    assert settings.twilio_auth_token is not None
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    if settings.twilio_api_base:
        client.api.base_url = settings.twilio_api_base.rstrip("/")
    return client


def _send(settings: Settings, to: str, body: str) -> str:
    from twilio.base.exceptions import TwilioException

    try:
        msg = _client(settings).messages.create(to=to, from_=settings.twilio_from_number, body=body)
    except TwilioException as exc:
        raise SmsFailed(str(exc)[:300]) from exc
    except Exception as exc:  # network errors from requests
        raise SmsFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
    return str(msg.sid)


async def send_sms(settings: Settings, to: str, body: str) -> str:
    """Send ``body`` to ``to`` and return the Twilio message sid."""
    if not sms_configured(settings):
        raise SmsNotConfigured(
            "SMS is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
            "NOVA_TWILIO_FROM_NUMBER"
        )
    sid = await asyncio.to_thread(_send, settings, to, body)
    log.info("sms sent to=%s sid=%s", to, sid)
    return sid
