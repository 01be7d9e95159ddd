from __future__ import annotations

from pathlib import Path

import pytest

from nova.core import netguard
from nova.webhooks.delivery import Deliverer
from tests.conftest import register
from tests.webhooks.receiver import Receiver, make_tls_files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path, Path]:
    return make_tls_files(tmp_path_factory.mktemp("webhook-tls"))


@pytest.fixture
async def receiver(settings, tls_files):
    """An HTTPS receiver on 127.0.0.1; the settings trust its CA and allow loopback."""
    ca, cert, key = tls_files
    settings.webhook_ca_bundle = str(ca)
    settings.webhook_allow_cidrs = ["127.0.0.1/32"]
    r = await Receiver(cert, key).start()
    yield r
    await r.stop()


@pytest.fixture
async def deliverer(settings):
    async with Deliverer(settings, concurrency=16, batch_size=32, lease_seconds=30) as d:
        yield d


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver for netguard: ``dns["name"] = ["addr", ...]`` or an exception."""
    table: dict[str, list[str] | BaseException] = {}

    async def resolve(host: str, port: int) -> list[str]:
        answer = table.get(host)
        if answer is None:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)

    monkeypatch.setattr(netguard, "resolve", resolve)
    return table


async def create_hook(client, headers, url: str, events: list[str] | None = None) -> dict:
    body: dict = {"url": url}
    if events is not None:
        body["events"] = events
    r = await client.post("/v1/webhooks", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def other_user(client) -> dict:
    return await register(client, email="mallory@example.com")
