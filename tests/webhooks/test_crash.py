"""Kill -9 the server while deliveries are pending; after a restart every event arrives.

A real ``python -m nova serve`` subprocess (file SQLite database, background runner on) and
a real HTTPS receiver on loopback. Events are emitted into the server's database by this
process (as the calls domain would, through ``nova.core.events.emit``). The receiver
dedupes on X-Nova-Delivery: at-least-once, none lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
from sqlalchemy import func, select

from nova.core.db import make_engine
from nova.core.events import emit
from nova.core.settings import Settings
from nova.models.webhooks import WebhookDelivery
from tests.webhooks.receiver import Receiver, verify

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 200


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _start_server(env: dict[str, str], port: int, log: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nova",
        "serve",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=asyncio.subprocess.STDOUT,
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        for _ in range(300):  # waiting for another process to listen: up to 30 s
            if proc.returncode is not None:
                raise AssertionError(f"server exited early:\n{_tail(log)}")
            try:
                if (await c.get("/health")).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start:\n{_tail(log)}")


async def _unique_call_ids(receiver: Receiver, want: int, within: float) -> set[str]:
    async def loop() -> None:
        while len({r.json["data"]["call_id"] for r in receiver.requests}) < want:
            receiver._arrived.clear()
            await receiver._arrived.wait()

    await asyncio.wait_for(loop(), within)
    return {r.json["data"]["call_id"] for r in receiver.requests}


async def test_sigkill_while_delivering_loses_nothing(tmp_path, tls_files):
    ca, cert, key = tls_files
    receiver = await Receiver(cert, key, lag_seconds=0.05).start()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    port = _free_port()
    env = {
        **os.environ,
        "NOVA_ENV": "test",
        "NOVA_DATABASE_URL": db_url,
        "NOVA_BACKGROUND_RUNNER": "true",
        "NOVA_WEBHOOK_ALLOW_CIDRS": '["127.0.0.1/32"]',
        "NOVA_WEBHOOK_CA_BUNDLE": str(ca),
        "NOVA_WEBHOOK_CONCURRENCY": "8",
        "NOVA_WEBHOOK_LEASE_SECONDS": "2",
        "NOVA_WEBHOOK_POLL_SECONDS": "0.2",
        "NOVA_TASK_LEASE_SECONDS": "2",
        "NOVA_PUMP_INTERVAL_SECONDS": "0.2",
        "NOVA_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "server.log"
    engine = make_engine(Settings(database_url=db_url))
    proc = await _start_server(env, port, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
            r = await api.post(
                "/auth/register", json={"email": "crash@example.com", "password": "secret123"}
            )
            assert r.status_code == 201, r.text
            user_id = r.json()["user"]["id"]
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await api.post(
                "/v1/webhooks",
                json={"url": receiver.url("/lag"), "events": ["call.ended"]},
                headers=headers,
            )
            assert r.status_code == 201, r.text
            secret = r.json()["secret"]

        from sqlalchemy.ext.asyncio import AsyncSession

        emitted = {f"call-{i:04d}" for i in range(EVENTS)}
        async with AsyncSession(engine) as session, session.begin():
            for call_id in sorted(emitted):
                await emit(session, "call.ended", {"call_id": call_id, "customer_id": user_id})

        await receiver.wait_for(30, within=30)
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
        before = {r.json["data"]["call_id"] for r in receiver.requests}
        assert len(before) < EVENTS, "everything arrived before the kill; nothing was tested"

        proc = await _start_server(env, port, log)
        got = await _unique_call_ids(receiver, EVENTS, within=60)
        assert got == emitted

        # At-least-once: duplicates share their X-Nova-Delivery, so the receiver can dedupe.
        by_delivery: dict[str, str] = {}
        for req in receiver.requests:
            assert verify(secret, req.body, req.headers["X-Nova-Signature"])
            call_id = req.json["data"]["call_id"]
            assert by_delivery.setdefault(req.headers["X-Nova-Delivery"], call_id) == call_id
        assert len(by_delivery) == EVENTS

        async with AsyncSession(engine) as session:
            for _ in range(100):  # the last outcomes are recorded just after the responses
                counts = dict(
                    (
                        await session.execute(
                            select(WebhookDelivery.status, func.count()).group_by(
                                WebhookDelivery.status
                            )
                        )
                    ).all()
                )
                await session.rollback()
                if counts == {"succeeded": EVENTS}:
                    break
                await asyncio.sleep(0.1)
        assert counts == {"succeeded": EVENTS}
        print(
            json.dumps(
                {"before_kill": len(before), "requests": len(receiver.requests), "unique": EVENTS}
            )
        )
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await engine.dispose()
        await receiver.stop()
