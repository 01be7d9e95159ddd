"""Real processes: `nova serve` with the /mcp mount over real HTTP, and `nova mcp` over
stdio driving that server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.mcp_server.conftest import EXPECTED_TOOLS

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """`python -m nova serve` on a free port with a fresh SQLite database."""
    tmp = Path(tempfile.mkdtemp(prefix="nova-mcp-serve-"))
    port = _free_port()
    env = {
        **os.environ,
        "NOVA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'serve.db'}",
        "NOVA_BACKGROUND_RUNNER": "false",
        "NOVA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "NOVA_LOG_LEVEL": "WARNING",
    }
    log = open(tmp / "serve.log", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "nova", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # ~5 s on a quiet machine; far more under load
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"nova serve exited:\n{log.read().decode()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nova serve did not become healthy in 90 s")
            time.sleep(0.1)  # waiting for a real process to boot, not test time
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _register(url: str, email: str) -> str:
    r = httpx.post(f"{url}/auth/register", json={"email": email, "password": "a-strong-pass"})
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


async def test_mcp_mount_over_real_http(served):
    token = _register(served, "http-user@example.com")

    # No token, a bad token: refused before any MCP processing.
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient(base_url=served) as plain:
        r = await plain.post("/mcp", json=body)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        r = await plain.post("/mcp", json=body, headers={"Authorization": "Bearer not-a-jwt"})
        assert r.status_code == 401

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with http, Client(streamable_http_client(f"{served}/mcp", http_client=http)) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        assert set(tools) >= EXPECTED_TOOLS
        assert all(tools[n].output_schema for n in EXPECTED_TOOLS)
        r = await mcp.call_tool("whoami", {})
        assert not r.is_error, r.content
        assert r.structured_content["user"]["email"] == "http-user@example.com"
        r = await mcp.call_tool("health_check", {"deep": True})
        assert r.structured_content["healthy"] is True
        assert r.structured_content["checks"]["database"]["ok"] is True
        r = await mcp.call_tool("get_call", {"call_id": "00000000-0000-4000-8000-000000000000"})
        assert r.is_error
        assert "HTTP 404" in r.content[0].text


async def test_stdio_subprocess_starts_and_calls_the_api(served):
    token = _register(served, "stdio-user@example.com")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "nova", "mcp"],
        cwd=str(ROOT),
        env={"NOVA_API_URL": served, "NOVA_API_TOKEN": token},
    )
    async with Client(params) as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        assert names >= EXPECTED_TOOLS
        r = await mcp.call_tool("health_check", {})
        assert not r.is_error, r.content
        assert r.structured_content["healthy"] is True
        assert r.structured_content["status"] == "ok"
        r = await mcp.call_tool("whoami", {})
        assert r.structured_content["user"]["email"] == "stdio-user@example.com"
        assert r.structured_content["api_url"] == served


def test_stdio_rejects_a_bad_api_url():
    proc = subprocess.run(
        [sys.executable, "-m", "nova", "mcp", "--api-url", "ftp://example.com"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert b"must be http(s)" in proc.stderr
    assert proc.stdout == b""
