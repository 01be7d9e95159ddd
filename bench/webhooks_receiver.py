"""Bench receiver: HTTPS on loopback (aiohttp + uvloop), records each delivery's arrival.

    python bench/webhooks_receiver.py CERT KEY PORT

POST /hook answers 200 and records (X-Nova-Delivery, data.bench_t, arrival time);
GET /stats returns {"count", "unique", "records": [[delivery_id, bench_t, arrival], ...]}.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time

import uvloop
from aiohttp import web


async def main(cert: str, key: str, port: int) -> None:
    records: list[tuple[str, float, float]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        data = json.loads(body)["data"]
        records.append((request.headers["X-Nova-Delivery"], data.get("bench_t", 0.0), now))
        return web.Response(text="ok")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "count": len(records),
                "unique": len({r[0] for r in records}),
                "records": records,
            }
        )

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"count": len(records), "unique": len({r[0] for r in records})})

    async def reset(_: web.Request) -> web.Response:
        records.clear()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    app.router.add_get("/count", count)
    app.router.add_post("/reset", reset)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx, backlog=1024).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
