"""Local stand-ins for Stripe and Ziina, speaking their wire formats on loopback.

The real ``stripe`` library talks to ``FakeStripe`` (form-encoded requests, Stripe-shaped
JSON answers and error bodies); Nova's Ziina module talks to ``FakeZiina`` over httpx.
Timestamps come from Nova's clock so periods line up with the ``clock`` fixture.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from nova.core import clock

_seq = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_seq):06d}fake"


def now_ts() -> int:
    return int(clock.now().timestamp())


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's bracket encoding (``items[0][price]=p``) back into nested dicts/lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_listify(node[k]) for k in sorted(node, key=int)]
        return {k: _listify(v) for k, v in node.items()}
    return node


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Failure:
    status: int
    error: dict[str, Any]
    times: int | None = 1


class FakeStripe:
    api_key = "sk_test_fake"

    def __init__(self) -> None:
        self.customers: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.prices: dict[str, dict] = {}
        self.setup_intents: dict[str, dict] = {}
        self.meter_events: dict[str, dict] = {}
        self.recorded: list[Recorded] = []
        self.failures: dict[str, Failure] = {}
        # Status a new subscription gets: "incomplete" (needs client confirmation) or "active".
        self.new_subscription_status = "incomplete"
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._idem: dict[str, tuple[int, dict]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeStripe:
        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- test controls ------------------------------------------------------------------

    def fail(
        self,
        route: str,
        status: int,
        code: str,
        message: str,
        kind: str = "card_error",
        times: int | None = 1,
    ) -> None:
        """Answer requests starting with ``route`` (``"POST /v1/subscriptions"``) with a
        Stripe error, ``times`` times (None = always)."""
        self.failures[route] = Failure(
            status, {"type": kind, "code": code, "message": message}, times
        )

    def forget_idempotency_keys(self) -> None:
        """Stripe keeps idempotency keys for 24 hours; this is that day passing."""
        self._idem.clear()

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.recorded if r.method == method and r.path == path]

    def calls_like(self, method: str, prefix: str) -> list[Recorded]:
        return [r for r in self.recorded if r.method == method and r.path.startswith(prefix)]

    # --- wire ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, {"type": "invalid_request_error", "message": "Invalid API Key"})
        body = await request.text()
        params = parse_form(body) if request.method == "POST" else parse_form(request.query_string)
        path = request.path
        self.recorded.append(Recorded(request.method, path, params, dict(request.headers)))
        route = f"{request.method} {path}"
        for key, failure in list(self.failures.items()):
            if not route.startswith(key):
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self.failures[key]
            return self._error(failure.status, failure.error)
        idem = request.headers.get("Idempotency-Key")
        if request.method == "POST" and idem and idem in self._idem:
            status, payload = self._idem[idem]
            return web.json_response(payload, status=status)
        try:
            status, payload = self._route(request.method, path, params)
        except KeyError as exc:
            return self._error(
                404,
                {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such object: {exc}",
                },
            )
        if request.method == "POST" and idem:
            self._idem[idem] = (status, payload)
        return web.json_response(payload, status=status)

    def _error(self, status: int, error: dict[str, Any]) -> web.Response:
        return web.json_response({"error": error}, status=status)

    def _route(self, method: str, path: str, p: dict[str, Any]) -> tuple[int, dict]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        match method, parts:
            case "POST", ["customers"]:
                cid = _id("cus")
                self.customers[cid] = {
                    "id": cid,
                    "object": "customer",
                    "email": p.get("email"),
                    "metadata": p.get("metadata", {}),
                    "created": now_ts(),
                    "invoice_settings": {"default_payment_method": None},
                }
                return 200, self.customers[cid]
            case "GET", ["customers"]:
                data = [c for c in self.customers.values() if c["email"] == p.get("email")]
                return 200, {
                    "object": "list",
                    "data": data,
                    "has_more": False,
                    "url": "/v1/customers",
                }
            case "POST", ["customers", cid]:
                cust = self.customers[cid]
                if "invoice_settings" in p:
                    cust["invoice_settings"].update(p["invoice_settings"])
                return 200, cust
            case "POST", ["payment_methods", pm, "attach"]:
                if p.get("customer") not in self.customers:
                    raise KeyError(p.get("customer"))
                return 200, {"id": pm, "object": "payment_method", "customer": p["customer"]}
            case "GET", ["prices"]:
                keys = p.get("lookup_keys", [])
                keys = keys if isinstance(keys, list) else [keys]
                data = [x for x in self.prices.values() if x["lookup_key"] in keys]
                return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/prices"}
            case "POST", ["prices"]:
                pid = _id("price")
                self.prices[pid] = {
                    "id": pid,
                    "object": "price",
                    "currency": p["currency"],
                    "unit_amount": int(p["unit_amount"]),
                    "lookup_key": p.get("lookup_key"),
                    "recurring": p.get("recurring"),
                    "metadata": p.get("metadata", {}),
                }
                return 200, self.prices[pid]
            case "POST", ["subscriptions"]:
                if p.get("customer") not in self.customers:
                    raise KeyError(p.get("customer"))
                sid = _id("sub")
                start = now_ts()
                price = self.prices.get(p["items"][0]["price"], {"id": p["items"][0]["price"]})
                sub = {
                    "id": sid,
                    "object": "subscription",
                    "customer": p["customer"],
                    "status": self.new_subscription_status,
                    "created": start,
                    "cancel_at_period_end": False,
                    "metadata": p.get("metadata", {}),
                    "items": {
                        "object": "list",
                        "data": [
                            {
                                "id": _id("si"),
                                "object": "subscription_item",
                                "price": price,
                                "current_period_start": start,
                                "current_period_end": start + 30 * 86400,
                            }
                        ],
                    },
                    "latest_invoice": _id("in"),
                }
                self.subscriptions[sid] = sub
                return 200, self._expand(sub, p)
            case "GET", ["subscriptions", sid]:
                return 200, self.subscriptions[sid]
            case "POST", ["subscriptions", sid]:
                sub = self.subscriptions[sid]
                if "cancel_at_period_end" in p:
                    sub["cancel_at_period_end"] = p["cancel_at_period_end"] == "true"
                if "items" in p:
                    item = sub["items"]["data"][0]
                    item["price"] = self.prices.get(p["items"][0]["price"], item["price"])
                if "metadata" in p:
                    sub["metadata"].update(p["metadata"])
                return 200, self._expand(sub, p)
            case "POST", ["setup_intents"]:
                sid = _id("seti")
                self.setup_intents[sid] = {
                    "id": sid,
                    "object": "setup_intent",
                    "customer": p.get("customer"),
                    "client_secret": f"{sid}_secret_abc",
                    "status": "requires_payment_method",
                }
                return 200, self.setup_intents[sid]
            case "POST", ["billing", "meter_events"]:
                ident = p["identifier"]
                if ident in self.meter_events:
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "duplicate_meter_event",
                            "message": "duplicate identifier",
                        }
                    }
                self.meter_events[ident] = {
                    "object": "billing.meter_event",
                    "event_name": p["event_name"],
                    "identifier": ident,
                    "payload": p["payload"],
                    "created": now_ts(),
                }
                return 200, self.meter_events[ident]
        raise KeyError(path)

    def _expand(self, sub: dict, p: dict) -> dict:
        out = json.loads(json.dumps(sub))
        expand = p.get("expand", [])
        if "latest_invoice.confirmation_secret" in expand:
            inv = out["latest_invoice"]
            out["latest_invoice"] = {
                "id": inv,
                "object": "invoice",
                "confirmation_secret": {
                    "client_secret": f"pi_{inv}_secret_xyz",
                    "type": "payment_intent",
                },
            }
        return out


@dataclass
class FakeZiina:
    api_key: str = "ziina-test-key"
    intents: dict[str, dict] = field(default_factory=dict)
    recorded: list[dict] = field(default_factory=list)
    fail_status: int | None = None
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    async def __aenter__(self) -> FakeZiina:
        app = web.Application()
        app.router.add_post("/api/payment_intent", self._create)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        body = await request.json()
        self.recorded.append({"body": body, "headers": dict(request.headers)})
        if self.fail_status is not None:
            return web.json_response({"message": "Ziina is down"}, status=self.fail_status)
        if not isinstance(body.get("amount"), int) or body.get("currency_code") != "AED":
            return web.json_response({"message": "invalid amount or currency"}, status=400)
        pid = f"ziina-pi-{len(self.intents) + 1}"
        intent = {
            "id": pid,
            "amount": body["amount"],
            "currency_code": "AED",
            "status": "requires_payment_instrument",
            "redirect_url": f"https://pay.ziina.com/payment_intent/{pid}",
            "success_url": body.get("success_url"),
            "cancel_url": body.get("cancel_url"),
        }
        self.intents[pid] = intent
        return web.json_response(intent, status=201)
