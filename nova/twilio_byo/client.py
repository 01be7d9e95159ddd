"""The Twilio client for a customer's own account.

The real ``twilio`` library builds every request; this module only supplies its transport:
an ``AsyncHttpClient`` over aiohttp that logs nothing (the library's default transport logs
URLs and headers at INFO), applies Nova's timeout, and — when ``NOVA_BYO_TWILIO_API_BASE``
is set — sends every ``https://<product>.twilio.com`` request to that base instead (tests,
egress proxies). Errors are turned into messages that never carry the API key secret.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from nova.core.settings import Settings

_quiet = logging.getLogger("nova.twilio_byo.http")
_quiet.propagate = False
_quiet.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Creds:
    account_sid: str
    api_key_sid: str
    api_key_secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"Creds(account_sid=…{self.account_sid[-4:]}, api_key_sid=…{self.api_key_sid[-4:]})"

    __str__ = __repr__


class TwilioUnreachable(Exception):
    pass


class NovaTwilioHttpClient(AsyncHttpClient):
    def __init__(self, base_url: str | None = None, timeout: float = 15.0) -> None:
        super().__init__(logger=_quiet, is_async=True, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None

    def _rewrite(self, url: str) -> str:
        if not self.base_url:
            return url
        parts = urlsplit(url)
        if not (parts.hostname or "").endswith(".twilio.com"):
            return url
        base = urlsplit(self.base_url)
        path = base.path.rstrip("/") + parts.path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))

    async def request(
        self,
        method: str,
        url: str,
        params: dict | None = None,
        data: dict | None = None,
        headers: dict | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - twilio's HttpClient signature
        allow_redirects: bool = False,
    ) -> Response:
        body = None
        hdrs = dict(headers or {})
        if data:
            body = urlencode(
                [
                    (k, str(v))
                    for k, vs in data.items()
                    for v in (vs if isinstance(vs, list) else [vs])
                ]
            )
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            hdrs["Authorization"] = f"Basic {token}"
        query = [(k, str(v)) for k, v in (params or {}).items() if v is not None]
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=timeout or self.timeout)
                ) as client,
                client.request(
                    method.upper(),
                    self._rewrite(url),
                    params=query or None,
                    data=body,
                    headers=hdrs,
                    allow_redirects=False,
                ) as resp,
            ):
                text = await resp.text()
                return Response(resp.status, text, dict(resp.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TwilioUnreachable(f"Twilio unreachable ({type(exc).__name__})") from None


def make_client(settings: Settings, creds: Creds) -> Client:
    return Client(
        creds.api_key_sid,
        creds.api_key_secret,
        creds.account_sid,
        http_client=NovaTwilioHttpClient(
            settings.byo_twilio_api_base, settings.byo_twilio_timeout_seconds
        ),
    )


def describe(exc: BaseException, creds: Creds | None = None) -> str:
    """A clear, secret-free description of a Twilio failure."""
    if isinstance(exc, TwilioRestException):
        msg = " ".join(str(exc.msg or "").split())[:200] or "no message"
        code = f", code {exc.code}" if exc.code else ""
        text = f"Twilio error (HTTP {exc.status}{code}): {msg}"
    elif isinstance(exc, TwilioUnreachable):
        text = str(exc)
    elif (
        isinstance(exc, TwilioException)
        and len(exc.args) > 1
        and hasattr(exc.args[1], "status_code")
    ):
        # List pages raise TwilioException("Unable to fetch page", response).
        resp = exc.args[1]
        try:
            body = json.loads(resp.text)
        except (TypeError, ValueError):
            body = {}
        body = body if isinstance(body, dict) else {}
        msg = " ".join(str(body.get("message") or "").split())[:200] or "no message"
        code = f", code {body['code']}" if body.get("code") else ""
        text = f"Twilio error (HTTP {resp.status_code}{code}): {msg}"
    elif isinstance(exc, TwilioException):
        text = "Twilio error: unexpected response"
    else:
        text = f"Twilio error: {type(exc).__name__}"
    if creds is not None and creds.api_key_secret:
        text = text.replace(creds.api_key_secret, "[redacted]")
    return text


TWILIO_ERRORS = (TwilioException, TwilioUnreachable)
