"""A local stand-in for the Twilio REST endpoints Nova calls on a customer's account.

aiohttp on loopback; the real ``twilio`` library talks to it (``NOVA_BYO_TWILIO_API_BASE``
points every ``*.twilio.com`` request here). Speaks Twilio's wire format: form-encoded
bodies, HTTP Basic auth with the API key SID/secret, JSON resources, errors as
``{"code", "message", "more_info", "status"}``.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.base import LoopbackServer

ACCOUNT_SID = "AC" + "a1" * 14 + "9f3e"
API_KEY_SID = "SK" + "b2" * 14 + "7c1d"
API_KEY_SECRET = "s3cr3t-" + "Zq9" * 8  # 31 chars


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class Seen:
    method: str
    path: str
    form: dict
    query: dict
    auth: tuple[str, str] | None


@dataclass
class FakeTwilio(LoopbackServer):
    account_sid: str = ACCOUNT_SID
    api_key_sid: str = API_KEY_SID
    api_key_secret: str = API_KEY_SECRET
    account_status: str = "active"
    numbers: dict[str, dict] = field(default_factory=dict)  # PN sid -> resource
    trunks: dict[str, dict] = field(default_factory=dict)
    credential_lists: dict[str, dict] = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    failures: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_number(self, e164: str) -> str:
        pn = sid("PN")
        self.numbers[pn] = {
            "sid": pn,
            "account_sid": self.account_sid,
            "phone_number": e164,
            "friendly_name": e164,
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "trunk_sid": None,
        }
        return pn

    def fail(self, method: str, contains: str, status: int = 500, times: int = 1) -> None:
        self.failures.setdefault((method, contains), []).extend([status] * times)

    def calls(self, method: str, contains: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and contains in s.path]

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    def _auth(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        return user, pw

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = dict(await request.post()) if request.method == "POST" else {}
        auth = self._auth(request)
        path = request.path
        self.seen.append(Seen(request.method, path, form, dict(request.query), auth))
        if auth != (self.api_key_sid, self.api_key_secret):
            return self._error(401, 20003, "Authenticate")
        for (method, contains), queue in self.failures.items():
            if method == request.method and contains in path and queue:
                status = queue.pop(0)
                return self._error(status, 20500, f"Injected failure {status}")
        acct = f"/2010-04-01/Accounts/{self.account_sid}"
        if path.startswith("/2010-04-01/Accounts/") and not path.startswith(acct):
            return self._error(404, 20404, "The requested resource was not found")
        m = request.method
        if m == "GET" and path == f"{acct}.json":
            return web.json_response(
                {"sid": self.account_sid, "status": self.account_status, "friendly_name": "Acme"}
            )
        if m == "GET" and path == f"{acct}/IncomingPhoneNumbers.json":
            items = list(self.numbers.values())
            if "PhoneNumber" in request.query:
                items = [n for n in items if n["phone_number"] == request.query["PhoneNumber"]]
            return web.json_response(
                {
                    "incoming_phone_numbers": items,
                    "next_page_uri": None,
                    "page": 0,
                    "page_size": 50,
                    "uri": path,
                    "first_page_uri": path,
                    "previous_page_uri": None,
                    "start": 0,
                    "end": len(items),
                }
            )
        if m == "GET" and path.startswith(f"{acct}/IncomingPhoneNumbers/"):
            pn = path.rsplit("/", 1)[1].removesuffix(".json")
            if pn not in self.numbers:
                return self._error(404, 20404, "The requested resource was not found")
            return web.json_response(self.numbers[pn])
        if m == "POST" and path == f"{acct}/Messages.json":
            if "From" not in form and "MessagingServiceSid" not in form:
                return self._error(400, 21603, "A 'From' phone number is required")
            msg = {"sid": sid("SM"), "to": form.get("To"), "from": form.get("From"), **form}
            self.messages.append(msg)
            return web.json_response(msg, status=201)
        if m == "POST" and path == f"{acct}/SIP/CredentialLists.json":
            cl = {"sid": sid("CL"), "friendly_name": form.get("FriendlyName"), "credentials": []}
            self.credential_lists[cl["sid"]] = cl
            return web.json_response(cl, status=201)
        if path.startswith(f"{acct}/SIP/CredentialLists/"):
            rest = path[len(f"{acct}/SIP/CredentialLists/") :]
            cl_sid = rest.split("/")[0].removesuffix(".json")
            cl = self.credential_lists.get(cl_sid)
            if cl is None:
                return self._error(404, 20404, "The requested resource was not found")
            if m == "POST" and rest.endswith("/Credentials.json"):
                cred = {"sid": sid("CR"), "username": form["Username"]}
                cl["credentials"].append({**cred, "password": form["Password"]})
                return web.json_response(cred, status=201)
            if m == "DELETE":
                del self.credential_lists[cl_sid]
                return web.Response(status=204)
        if m == "POST" and path == "/v1/Trunks":
            t = {
                "sid": sid("TK"),
                "account_sid": self.account_sid,
                "friendly_name": form.get("FriendlyName"),
                "domain_name": form.get("DomainName"),
                "transfer_mode": form.get("TransferMode", "disable-all"),
                "phone_numbers": [],
                "credential_lists": [],
            }
            self.trunks[t["sid"]] = t
            return web.json_response(t, status=201)
        if path.startswith("/v1/Trunks/"):
            parts = path.split("/")  # ['', 'v1', 'Trunks', TK, ...]
            trunk = self.trunks.get(parts[3])
            if trunk is None:
                return self._error(404, 20404, "The requested resource was not found")
            if m == "DELETE" and len(parts) == 4:
                for pn in trunk["phone_numbers"]:
                    if pn in self.numbers:
                        self.numbers[pn]["trunk_sid"] = None
                del self.trunks[parts[3]]
                return web.Response(status=204)
            if m == "POST" and parts[4:] == ["PhoneNumbers"]:
                pn = form["PhoneNumberSid"]
                if pn not in self.numbers:
                    return self._error(404, 20404, "The requested resource was not found")
                trunk["phone_numbers"].append(pn)
                self.numbers[pn]["trunk_sid"] = trunk["sid"]
                return web.json_response({"sid": pn, "trunk_sid": trunk["sid"]}, status=201)
            if m == "POST" and parts[4:] == ["CredentialLists"]:
                trunk["credential_lists"].append(form["CredentialListSid"])
                return web.json_response(
                    {"sid": form["CredentialListSid"], "trunk_sid": trunk["sid"]}, status=201
                )
        return self._error(404, 20404, "The requested resource was not found")
