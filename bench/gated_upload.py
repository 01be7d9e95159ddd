"""Benchmarks for the gated surfaces.

1. Enrolment upload: stream a 16 MB multipart body (64 KiB chunks, like an ASGI server
   delivers it) through ``read_audio_upload``; report throughput and peak Python memory.
2. Over-cap upload: how many bytes are read before the 413 (should be ~ the cap).
3. Fernet: encrypt + decrypt of a BYO Twilio credential blob, per second.

    /work/.venv/bin/python bench/gated_upload.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import tracemalloc

from cryptography.fernet import Fernet
from pydantic import SecretStr
from starlette.requests import Request

from nova.core.crypto import decrypt, encrypt
from nova.core.errors import PayloadTooLarge
from nova.core.settings import Settings
from nova.voice.upload import read_audio_upload

MB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "bench-boundary-7f3a"


def body(audio_bytes: int) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    wav = b"RIFF\x24\x00\x01\x00WAVEfmt " + b"\x01" * (audio_bytes - 16)
    return head + wav + f"\r\n--{BOUNDARY}--\r\n".encode()


def request(data: bytes, counter: dict) -> Request:
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]

    async def receive():
        if chunks:
            c = chunks.pop(0)
            counter["read"] += len(c)
            return {"type": "http.request", "body": c, "more_body": bool(chunks)}
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/voice/enroll",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
    }
    return Request(scope, receive)


async def upload_bench(runs: int = 5) -> None:
    data = body(16 * MB)
    times = []
    for _ in range(runs):
        counter = {"read": 0}
        t = time.perf_counter()
        up = await read_audio_upload(request(data, counter), 16 * MB)
        times.append(time.perf_counter() - t)
        assert len(up.data) == 16 * MB
    med = statistics.median(times)
    print(f"16 MB upload parse: median {med * 1000:.0f} ms, {16 / med:.0f} MB/s over {runs} runs")
    tracemalloc.start()
    await read_audio_upload(request(data, {"read": 0}), 16 * MB)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak Python allocations while parsing: {peak / MB:.1f} MB (body itself not counted)")
    over = body(64 * MB)
    counter = {"read": 0}
    t = time.perf_counter()
    with contextlib.suppress(PayloadTooLarge):
        await read_audio_upload(request(over, counter), 16 * MB)
    print(
        f"64 MB upload refused after reading {counter['read'] / MB:.2f} MB "
        f"in {(time.perf_counter() - t) * 1000:.0f} ms"
    )


def crypto_bench(n: int = 5000) -> None:
    s = Settings(encryption_key=SecretStr(Fernet.generate_key().decode()))
    blob = json.dumps(
        {"account_sid": "AC" + "a" * 32, "api_key_sid": "SK" + "b" * 32, "api_key_secret": "c" * 32}
    )
    t = time.perf_counter()
    for _ in range(n):
        decrypt(encrypt(blob, s), s)
    dt = time.perf_counter() - t
    print(
        f"Fernet encrypt+decrypt of a credential blob: {n / dt:.0f} /s ({dt / n * 1e6:.0f} µs each)"
    )


if __name__ == "__main__":
    asyncio.run(upload_bench())
    crypto_bench()
