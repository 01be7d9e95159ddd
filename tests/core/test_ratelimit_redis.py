"""The Redis-backed rate limiter against the real Redis (127.0.0.1:6379, or
``NOVA_TEST_REDIS_URL``): the memory limiter's semantics on the frozen clock, one budget
shared by several "replicas", atomicity under concurrency, the fallback when Redis is down,
and POST /calls end to end."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from nova.core import ratelimit
from nova.core.ratelimit import Decision, MemoryRateLimiter, RedisRateLimiter, get_limiter
from tests.calls.conftest import payload
from tests.conftest import REDIS_URL

PRODUCTION_PREFIX = ratelimit.KEY_PREFIX


@pytest.fixture(autouse=True)
def prefix(monkeypatch) -> str:
    """A key prefix of this test's own; also the default of limiters made by get_limiter,
    so the conftest's reset never touches another Nova's ``nova:rl:`` keys."""
    unique = f"nova-test:{uuid.uuid4().hex}:"
    monkeypatch.setattr(ratelimit, "KEY_PREFIX", unique)
    return unique


@pytest.fixture
async def raw(prefix):
    """A plain client for looking at (and finally deleting) this test's keys."""
    client = Redis.from_url(REDIS_URL)
    yield client
    names = [n async for n in client.scan_iter(match=prefix + "*")]
    if names:
        await client.delete(*names)
    await client.aclose()


@pytest.fixture
async def make(prefix, raw):
    """Builds RedisRateLimiters (one per "replica") on this test's key prefix."""
    made: list[RedisRateLimiter] = []

    def build(url: str = REDIS_URL) -> RedisRateLimiter:
        limiter = RedisRateLimiter(url, prefix=prefix)
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.aclose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _errors() -> float:
    return REGISTRY.get_sample_value("nova_ratelimit_redis_errors_total") or 0.0


# (seconds to advance before the hit, key) — fractional steps exercise the Retry-After ceiling
SCRIPT = [
    (0, "a"),
    (0, "a"),
    (2.5, "a"),
    (0.25, "a"),  # 4th within 10 s: denied, oldest leaves in 7.25 s -> 8
    (0, "b"),  # another key has its own budget
    (6.5, "a"),  # t=9.25: still denied, 0.75 s left -> 1 (at least 1)
    (0.75, "a"),  # t=10: the two hits at t=0 left the window (<= now - window)
    (0, "a"),
    (0, "a"),  # window holds t=2.5, 10, 10: denied until 12.5 -> 3
    (2.5, "a"),  # t=12.5: the t=2.5 hit leaves
    (30, "a"),
]


async def _play(limiter, clock) -> list[Decision]:
    out = []
    for step, key in SCRIPT:
        clock.advance(seconds=step)
        out.append(await limiter.hit(key, 3, 10))
    return out


async def test_same_decisions_as_the_memory_limiter(make, clock):
    start = clock.now()
    memory = await _play(MemoryRateLimiter(), clock)
    clock.set(start)
    redis = await _play(make(), clock)
    assert redis == memory
    assert [d.allowed for d in memory] == [
        True,
        True,
        True,
        False,
        True,
        False,
        True,
        True,
        False,
        True,
        True,
    ]
    assert [d.retry_after for d in memory if not d.allowed] == [8, 1, 3]
    assert [d.remaining for d in memory[:3]] == [2, 1, 0]


async def test_keys_are_namespaced_and_expire_with_the_window(make, raw, prefix, clock):
    limiter = make()
    await limiter.hit("calls:198.51.100.7", 5, 60)
    await limiter.hit("calls:198.51.100.7", 5, 60)
    key = prefix + "calls:198.51.100.7"
    assert await raw.zcard(key) == 2
    assert 59_000 < await raw.pttl(key) <= 60_000
    # By default keys are nova:rl:<key>.
    assert PRODUCTION_PREFIX == "nova:rl:"
    default = RedisRateLimiter(REDIS_URL)
    assert default.prefix == ratelimit.KEY_PREFIX
    await default.aclose()


async def test_two_replicas_share_one_budget(make, clock):
    a, b, c = make(), make(), make()
    decisions = [await (a if i % 2 else b).hit("shared", 4, 60) for i in range(6)]
    assert [d.allowed for d in decisions] == [True] * 4 + [False] * 2
    clock.advance(seconds=20)
    denied = await c.hit("shared", 4, 60)
    assert denied == Decision(False, 40, 0)
    clock.advance(seconds=40)
    assert (await c.hit("shared", 4, 60)).allowed


async def test_concurrent_hits_never_exceed_the_limit(make, raw, prefix, clock):
    replicas = [make() for _ in range(5)]
    # The frozen clock gives every hit the same timestamp: only unique members keep them apart.
    results = await asyncio.gather(*(replicas[i % 5].hit("burst", 10, 60) for i in range(50)))
    assert sum(d.allowed for d in results) == 10
    assert await raw.zcard(prefix + "burst") == 10
    assert all(d.retry_after == 60 for d in results if not d.allowed)


async def test_script_reloaded_after_noscript(make, raw, clock):
    limiter = make()
    before = _errors()
    assert (await limiter.hit("k", 2, 60)).allowed
    await raw.script_flush()  # as after a Redis restart: EVALSHA answers NOSCRIPT
    assert (await limiter.hit("k", 2, 60)).allowed
    assert not (await limiter.hit("k", 2, 60)).allowed
    assert (await raw.script_exists(limiter._sha)) == [True]
    assert _errors() == before  # answered by Redis, not by the local fallback


async def test_redis_down_falls_back_to_the_local_log(make, clock, caplog, monkeypatch):
    limiter = make(f"redis://127.0.0.1:{_closed_port()}/0")
    tries = 0
    real_run = limiter._run

    async def counting_run(*args):
        nonlocal tries
        tries += 1
        return await real_run(*args)

    monkeypatch.setattr(limiter, "_run", counting_run)
    before = _errors()
    with caplog.at_level(logging.WARNING, logger="nova.ratelimit"):
        decisions = [await limiter.hit("calls:1.2.3.4", 3, 60) for _ in range(5)]
    # The request is never failed for the outage, and the limit still holds in this process.
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert decisions[3].retry_after == 60
    assert _errors() - before == 5
    assert tries == 1  # then Redis is left alone for REDIS_RETRY_SECONDS
    warnings = [r for r in caplog.records if r.name == "nova.ratelimit"]
    assert len(warnings) == 1 and "Redis unreachable" in warnings[0].getMessage()
    assert "ConnectionError" in warnings[0].getMessage()

    caplog.clear()
    clock.advance(seconds=ratelimit.REDIS_RETRY_SECONDS)
    with caplog.at_level(logging.WARNING, logger="nova.ratelimit"):
        assert not (await limiter.hit("calls:1.2.3.4", 3, 60)).allowed
    assert tries == 2  # tried again, still down, still limited, no second warning this minute
    assert [r for r in caplog.records if r.name == "nova.ratelimit"] == []

    clock.advance(seconds=ratelimit.WARN_EVERY_SECONDS)  # the window has passed too
    with caplog.at_level(logging.WARNING, logger="nova.ratelimit"):
        assert (await limiter.hit("calls:1.2.3.4", 3, 60)).allowed
    assert len([r for r in caplog.records if r.name == "nova.ratelimit"]) == 1


async def test_get_limiter_follows_redis_url(settings, prefix):
    assert isinstance(get_limiter(settings), MemoryRateLimiter)
    assert get_limiter() is get_limiter(settings)  # the process settings by default
    settings.redis_url = REDIS_URL
    limiter = get_limiter(settings)
    assert isinstance(limiter, RedisRateLimiter) and get_limiter(settings) is limiter
    assert limiter.prefix == prefix
    await ratelimit.aclose_limiters()
    assert get_limiter(settings) is not limiter  # closed at shutdown, rebuilt on demand


async def test_health_deep_reports_redis(client, settings):
    r = await client.get("/health/deep")
    assert r.json()["checks"]["redis"]["status"] == "not_configured"
    settings.redis_url = REDIS_URL
    r = await client.get("/health/deep")
    assert r.status_code == 200
    check = r.json()["checks"]["redis"]
    assert check.pop("latency_ms") >= 0
    assert check == {"ok": True, "status": "ok", "detail": "ok", "reason": None}
    settings.redis_url = f"redis://127.0.0.1:{_closed_port()}/0"
    r = await client.get("/health/deep")
    assert r.status_code == 503 and r.json()["status"] == "degraded"
    check = r.json()["checks"]["redis"]
    assert check["status"] == "failing" and "ConnectionError" in check["detail"]


async def test_post_calls_429_through_redis(client, settings, clock, prefix, raw):
    settings.redis_url = REDIS_URL
    # Another replica already took 3 of this IP's 5 submissions.
    other = RedisRateLimiter(REDIS_URL, prefix=prefix)
    for _ in range(3):
        assert (await other.hit("calls:203.0.113.10", 5, 60)).allowed
    await other.aclose()
    clock.advance(seconds=15)
    for _ in range(2):
        assert (await client.post("/calls", json=payload(consent=False))).status_code == 400
    r = await client.post("/calls", json=payload())
    assert r.status_code == 429
    assert r.json()["detail"] == "Rate limit exceeded. Max 5 requests per 60 seconds."
    assert r.headers["retry-after"] == "45"  # the other replica's first hit leaves at t=60
    assert await raw.zcard(prefix + "calls:203.0.113.10") == 5
    clock.advance(seconds=45)
    assert (await client.post("/calls", json=payload(consent=False))).status_code == 400


class RedisPeer:
    """A TCP stand-in in front of the real Redis, as a network fault would look:
    ``refuse`` (accept, then close at once), ``hang`` (accept and read, never answer: a
    black hole) or ``pass`` (forward both ways to the real server)."""

    def __init__(self, upstream: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db = parts.path or "/0"
        self.mode = "refuse"
        self.connections = 0  # connections the client opened
        self.hung = asyncio.Event()  # a request is waiting in the black hole
        self._open: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.db}"

    async def start(self) -> RedisPeer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "refuse":
            writer.close()
            return
        self._open.append(writer)
        if self.mode == "hang":
            while await reader.read(65536):
                self.hung.set()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._open.append(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def drop(self, mode: str) -> None:
        """Close every open connection and answer new ones in ``mode``."""
        self.mode = mode
        for w in self._open:
            w.close()
        self._open.clear()

    async def stop(self) -> None:
        self.drop("refuse")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_one_hit_probes_a_hanging_redis_the_others_stay_local(make, clock, raw, prefix):
    """A black-holed Redis: after the back-off, one hit waits on Redis, the rest do not."""
    peer = await RedisPeer(REDIS_URL).start()
    try:
        limiter = make(peer.url)
        assert (await limiter.hit("k", 5, 60)).allowed  # refused at once: local from now on
        assert peer.connections >= 1
        peer.mode = "hang"
        clock.advance(seconds=ratelimit.REDIS_RETRY_SECONDS)
        probe = asyncio.create_task(limiter.hit("k", 5, 60))
        await asyncio.wait_for(peer.hung.wait(), 5)  # the probe's request sits in the hole
        dialed = peer.connections
        others = [await limiter.hit("k", 5, 60) for _ in range(3)]  # answered locally
        assert [d.allowed for d in others] == [True, True, True]
        assert peer.connections == dialed  # none of them went near Redis
        peer.drop("refuse")  # the hole gives up: the probe's request fails
        assert (await probe).allowed
        assert not (await limiter.hit("k", 5, 60)).allowed  # 5 hits counted locally
        assert peer.connections == dialed + 1  # only the probe's one retry

        peer.mode = "pass"  # Redis is back
        before = _errors()
        clock.advance(seconds=ratelimit.REDIS_RETRY_SECONDS)
        assert (await limiter.hit("k", 5, 60)).allowed  # the probe goes through to Redis
        assert (await limiter.hit("k", 5, 60)).allowed  # and so does the next hit
        assert _errors() == before
        assert await raw.zcard(prefix + "k") == 2  # counted in the real Redis
    finally:
        await peer.stop()
