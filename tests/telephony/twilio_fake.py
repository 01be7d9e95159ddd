"""A Twilio REST peer on loopback: just the Messages resource the SMS sender uses.

Driven through the real ``twilio`` client (``NOVA_TWILIO_API_BASE`` points at it). It checks
HTTP basic auth and answers like Twilio (201 with a message resource, errors as
``{"code","message","status"}``).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.base import LoopbackServer


class FakeTwilio(LoopbackServer):
    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "tw-token") -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []  # every send request, refused or not
        self.fail_with: tuple[int, int, str] | None = None  # (status, code, message)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status=401
            )
        if request.match_info["sid"] != self.account_sid:
            return web.json_response(
                {"code": 20404, "message": "Not found", "status": 404}, status=404
            )
        form = dict(await request.post())
        self.attempts.append(form)
        if self.fail_with is not None:
            status, code, message = self.fail_with
            return web.json_response(
                {"code": code, "message": message, "status": status}, status=status
            )
        sid = "SM" + uuid.uuid4().hex
        self.messages.append({"sid": sid, **form})
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
            },
            status=201,
        )
