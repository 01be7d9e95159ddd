"""A bounded schemathesis run over every operation of a real ``nova serve`` (finding 11).

It fails on any server error and on any schema-valid request the server rejects, and on any
status the OpenAPI document does not declare. The exceptions (providers this server is not
configured for, rules a schema cannot state) are in ``schemathesis.toml`` beside this file,
each with its reason. Bounded in time: ``SCHEMATHESIS_SECONDS`` (60 s by default) of
generation, plus the server's start; the seed is fixed so a run is reproducible
(``NOVA_SCHEMATHESIS_SEED`` to explore others).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

HERE = Path(__file__).parent
SCHEMATHESIS_SECONDS = int(os.environ.get("SCHEMATHESIS_SECONDS", "60"))
SEED = os.environ.get("NOVA_SCHEMATHESIS_SEED", "19")
UNLIMITED = "1000000/60"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nova serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError("nova serve did not become healthy in 120 s")


def test_every_operation_holds_to_its_openapi_document(database_url):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "NOVA_DATABASE_URL": database_url,  # the suite's own, migrated (emptied after)
        "NOVA_PUBLIC_URL": url,
        "NOVA_LOG_LEVEL": "WARNING",
        "NOVA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        # Limits are tested elsewhere on the frozen clock; here they would only hide code.
        "NOVA_CALLS_RATE_LIMIT": "1000000",
        "NOVA_WEBHOOK_TEST_RATE_LIMIT": "1000000",
        "NOVA_LOGIN_LIMITS_ACCOUNT_CLIENT": UNLIMITED,
        "NOVA_LOGIN_LIMITS_ACCOUNT": UNLIMITED,
        "NOVA_LOGIN_LIMITS_CLIENT": UNLIMITED,
        # Providers nobody runs here answer at once instead of after a network timeout.
        "NOVA_VOICE_PROVIDER_URL": "http://127.0.0.1:9",
        "NOVA_BYO_TWILIO_API_BASE": "http://127.0.0.1:9",
    }
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nova", "serve", "--host", "127.0.0.1", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            _wait_healthy(url, proc, log)
            with httpx.Client(base_url=url) as c:
                r = c.post(
                    "/auth/register",
                    json={"email": "fuzz@example.com", "password": "a-strong-password"},
                )
                assert r.status_code == 201, r.text
                token = r.json()["access_token"]
                document = c.get("/openapi.json").json()
            operations = sum(len(item) for item in document["paths"].values())
            # The gated surfaces too (otherwise they are 404 for this account).
            flags = subprocess.run(
                [sys.executable, "-m", "nova", "user", "flags", "fuzz@example.com"]
                + ["--set", "voice_cloning=on", "--set", "byo_twilio=on"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert flags.returncode == 0, flags.stderr
            st = Path(sys.executable).with_name("st")
            run = subprocess.run(
                [
                    str(st),
                    "--no-color",
                    "--config-file",
                    str(HERE / "schemathesis.toml"),
                    "run",
                    f"{url}/openapi.json",
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--checks",
                    "not_a_server_error,positive_data_acceptance,status_code_conformance",
                    "--max-time",
                    str(SCHEMATHESIS_SECONDS),
                    "--workers",
                    "2",
                    "--seed",
                    SEED,
                    "--suppress-health-check",
                    "all",
                    "--request-timeout",
                    "15",
                ],
                capture_output=True,
                text=True,
                timeout=SCHEMATHESIS_SECONDS + 180,
                env={k: v for k, v in os.environ.items() if k != "SCHEMATHESIS_HOOKS"},
                cwd=tmp,
            )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-12000:]
    assert f"Tested: {operations}" in report, report[-4000:]  # every operation, none skipped
    assert operations >= 60
