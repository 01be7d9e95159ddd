"""SSRF corpus: what may not be a webhook target, at registration and at every delivery."""

from __future__ import annotations

import socket

from sqlalchemy import select

from nova.core.db import session_scope
from nova.core.events import emit
from nova.models.webhooks import Webhook, WebhookDelivery
from tests.webhooks.conftest import create_hook

LITERAL_REJECTED = [
    # IPv4 private, loopback, link-local/metadata, CGNAT, unspecified, multicast, broadcast
    "https://127.0.0.1/hook",
    "https://127.8.9.10/hook",
    "https://10.0.0.1/hook",
    "https://172.16.0.1/hook",
    "https://172.31.255.254/hook",
    "https://192.168.1.1:8443/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/hook",
    "https://100.127.255.254/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://255.255.255.255/hook",
    "https://198.18.0.1/hook",
    # legacy numeric forms inet_aton accepts: decimal, octal, hex, short
    "https://2130706433/hook",  # 127.0.0.1
    "https://3232235777/hook",  # 192.168.1.1
    "https://0177.0.0.1/hook",
    "https://017700000001/hook",
    "https://0x7f.0.0.1/hook",
    "https://0x7f000001/hook",
    "https://0xa9fea9fe/hook",  # 169.254.169.254
    "https://127.1/hook",
    "https://10.1/hook",
    # IPv6 loopback, unspecified, ULA, link-local, site-local, multicast, documentation
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[fd00::1]/hook",
    "https://[fc00::5]/hook",
    "https://[fd00:ec2::254]/hook",  # AWS metadata over IPv6
    "https://[fe80::1]/hook",
    "https://[fec0::1]/hook",
    "https://[ff02::1]/hook",
    "https://[2001:db8::1]/hook",
    # IPv4-mapped / -compatible / NAT64 / 6to4 wrappers around private IPv4
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[::127.0.0.1]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[2002:7f00:1::]/hook",
    # internal names
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://api.localhost/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    # not HTTPS, malformed, credentials
    "http://hooks.example.com/nova",
    "ftp://hooks.example.com/nova",
    "file:///etc/passwd",
    "gopher://hooks.example.com/",
    "https:///nohost",
    "https://user:pass@hooks.example.com/nova",
    "https://hooks.example.com:99999/nova",
    "javascript:alert(1)",
]

RESOLVED_REJECTED = {
    "rfc1918.example": ["10.20.30.40"],
    "loopback.example": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "cgnat.example": ["100.100.100.200"],
    "v6loop.example": ["::1"],
    "ula.example": ["fd12:3456::1"],
    "linklocal6.example": ["fe80::abcd"],
    "mapped.example": ["::ffff:192.168.0.10"],
    # one bad address among good ones is enough to refuse
    "mixed.example": ["93.184.216.34", "10.0.0.5"],
    "mixed6.example": ["2606:2800:220:1:248:1893:25c8:1946", "fd00::1"],
}


async def test_literal_and_malformed_targets_rejected_at_registration(client, user, dns):
    accepted = []
    for url in LITERAL_REJECTED:
        r = await client.post("/v1/webhooks", json={"url": url}, headers=user["headers"])
        if r.status_code != 400:
            accepted.append((url, r.status_code))
        else:
            assert r.json()["detail"].startswith("Invalid webhook URL"), url
    assert accepted == []
    async with session_scope() as s:
        assert (await s.execute(select(Webhook))).first() is None


async def test_names_resolving_to_private_addresses_rejected(client, user, dns):
    dns.update(RESOLVED_REJECTED)
    accepted = []
    for host in RESOLVED_REJECTED:
        r = await client.post(
            "/v1/webhooks", json={"url": f"https://{host}/hook"}, headers=user["headers"]
        )
        if r.status_code != 400:
            accepted.append((host, r.status_code))
    assert accepted == []


async def test_public_and_not_yet_resolving_targets_accepted(client, user, dns):
    dns["hooks.example.com"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    dns["slow.example"] = socket.gaierror(socket.EAI_AGAIN, "Temporary failure")
    for url in (
        "https://hooks.example.com/nova",
        "https://HOOKS.example.com:8443/nova?x=1",
        "https://93.184.216.34/nova",
        "https://[2606:4700:4700::1111]/nova",
        "https://not-created-yet.example/nova",  # NXDOMAIN today: accepted, vetted at delivery
        "https://slow.example/nova",
    ):
        r = await client.post("/v1/webhooks", json={"url": url}, headers=user["headers"])
        assert r.status_code == 201, (url, r.text)


async def test_allow_list_admits_only_its_subnets(client, user, dns, settings):
    settings.webhook_allow_cidrs = ["10.9.0.0/16"]
    settings.ssrf_allow_cidrs = ["fd00:1234::/32"]
    dns["intranet.example"] = ["10.9.3.4"]
    h = user["headers"]
    assert (
        await client.post("/v1/webhooks", json={"url": "https://10.9.1.1/h"}, headers=h)
    ).status_code == 201
    assert (
        await client.post("/v1/webhooks", json={"url": "https://intranet.example/h"}, headers=h)
    ).status_code == 201
    assert (
        await client.post("/v1/webhooks", json={"url": "https://[fd00:1234::9]/h"}, headers=h)
    ).status_code == 201
    assert (
        await client.post("/v1/webhooks", json={"url": "https://10.8.1.1/h"}, headers=h)
    ).status_code == 400
    assert (
        await client.post("/v1/webhooks", json={"url": "https://127.0.0.1/h"}, headers=h)
    ).status_code == 400
    assert (
        await client.post("/v1/webhooks", json={"url": "http://10.9.1.1/h"}, headers=h)
    ).status_code == 400


async def test_every_delivery_is_vetted_again(
    client, user, receiver, pump, deliverer, dns, settings
):
    """Registered while public (or not resolving); by delivery time the name points inside,
    or the allow-list that admitted it is gone: nothing is sent, the attempt fails."""
    uid = user["user"]["id"]
    dns["later.example"] = ["93.184.216.34"]
    a = await create_hook(client, user["headers"], "https://later.example/hook")
    b = await create_hook(client, user["headers"], "https://never-resolves.example/hook")
    c = await create_hook(client, user["headers"], receiver.url("/ok"))  # admitted by allow-list
    dns["later.example"] = ["169.254.169.254"]
    settings.webhook_allow_cidrs = []
    async with session_scope() as s:
        await emit(s, "call.ended", {"call_id": "x", "customer_id": uid})
    await pump.drain()
    assert await deliverer.drain() == 3
    async with session_scope() as s:
        rows = {r.webhook_id: r for r in (await s.execute(select(WebhookDelivery))).scalars()}
    assert "169.254.169.254" in rows[a["id"]].error_message
    assert rows[b["id"]].error_message.startswith("blocked: could not resolve")
    assert "127.0.0.1" in rows[c["id"]].error_message
    for row in rows.values():
        assert (row.status, row.status_code, row.attempt_count) == ("pending", None, 1)
        assert row.error_message.startswith("blocked:")
    assert receiver.requests == []


async def test_a_delivery_to_a_name_with_one_private_address_among_public_ones_is_blocked(
    client, user, receiver, pump, deliverer, dns
):
    """Every resolved address is vetted at delivery time too, not only the first one: the
    connection is pinned to the first, but a name that also points inside is refused."""
    dns["flip.example"] = ["93.184.216.34"]
    hook = await create_hook(client, user["headers"], "https://flip.example/hook")
    dns["flip.example"] = ["93.184.216.34", "10.0.0.5"]
    async with session_scope() as s:
        await emit(s, "call.ended", {"call_id": "x", "customer_id": user["user"]["id"]})
    await pump.drain()
    assert await deliverer.drain() == 1
    async with session_scope() as s:
        row = (await s.execute(select(WebhookDelivery))).scalar_one()
    assert row.webhook_id == hook["id"] and row.status_code is None
    assert row.error_message.startswith("blocked: flip.example resolves to a forbidden address")
    assert "10.0.0.5" in row.error_message
    assert receiver.requests == []
