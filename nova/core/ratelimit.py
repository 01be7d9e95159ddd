"""Sliding-log rate limiting on Nova's clock: at most ``limit`` hits per key in any
``window`` seconds.

Two backends with one contract, ``await limiter.hit(key, limit, window) -> Decision``:

* ``MemoryRateLimiter`` (the embedded default) keeps the log in process memory, so each
  process enforces its own budget. Right for one ``nova serve`` process.
* ``RedisRateLimiter`` (``NOVA_REDIS_URL`` set) keeps it in one Redis sorted set per key
  (``nova:rl:<key>``), so every replica and every ``--workers`` process draws from the same
  budget. A hit is one atomic Lua script, one round trip (``EVALSHA``; ``EVAL`` when the
  server does not know the script yet): drop the entries older than the window, count, and
  add the hit (a unique member scored with the time in ms) only if it fits. Timestamps come
  from ``nova.core.clock`` (never Redis ``TIME``), so tests move time instead of sleeping and
  replicas must keep their clocks in sync (NTP), as they already must for tokens and TTLs.

When Redis cannot be reached, a hit does not fail the request and is not waved through
either: it is counted by the process-local log instead (each replica then enforces the limit
on its own, so the cluster-wide budget is at most ``limit`` × replicas for the outage). A
cache outage must not take the API down. Nova logs a WARNING at most once a minute, counts
every such hit in the ``nova_ratelimit_redis_errors_total`` Prometheus counter, and, for
``REDIS_RETRY_SECONDS`` after a failure, does not try Redis at all; then one hit tries it
while the others keep counting locally (a black-holed Redis delays one request per second
per process, not every request). ``/health/deep`` reports the ``redis`` check as failing
meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Counter

from nova.core import clock

if TYPE_CHECKING:
    from nova.core.settings import Settings

log = logging.getLogger("nova.ratelimit")

KEY_PREFIX = "nova:rl:"
# Redis socket connect/read timeouts (s): a rate-limit check must not stall a request.
REDIS_TIMEOUT_SECONDS = 0.5
# After a Redis failure, hits use the local log for this long before Redis is tried again.
REDIS_RETRY_SECONDS = 1.0
# At most one "Redis unreachable" WARNING per this many seconds (per process).
WARN_EVERY_SECONDS = 60.0

REDIS_ERRORS = Counter(
    "nova_ratelimit_redis_errors_total",
    "Rate-limit hits counted by the process-local log because Redis was unreachable",
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0
    remaining: int = 0


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: float, *, record: bool = True) -> Decision:
        """Is one more hit within ``limit`` per ``window``? It is counted when allowed and
        ``record`` (``record=False`` only asks)."""
        ...

    async def clear(self, key: str) -> None: ...

    async def reset(self) -> None: ...


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = asyncio.Lock()

    async def hit(self, key: str, limit: int, window: float, *, record: bool = True) -> Decision:
        now = clock.monotonic()
        async with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - window:
                q.popleft()
            if len(q) >= limit:
                retry = math.ceil(q[0] + window - now) if q else math.ceil(window)
                return Decision(False, max(1, retry), 0)
            if not record:
                return Decision(True, 0, limit - len(q))
            q.append(now)
            if len(self._hits) > 100_000:
                self._gc(now, window)
            return Decision(True, 0, limit - len(q))

    async def clear(self, key: str) -> None:
        """Forget ``key``'s log (e.g. failed logins after a successful one)."""
        async with self._lock:
            self._hits.pop(key, None)

    def _gc(self, now: float, window: float) -> None:
        for k in [k for k, q in self._hits.items() if not q or q[-1] <= now - window]:
            del self._hits[k]

    async def reset(self) -> None:
        self._hits.clear()


# KEYS[1] the log; ARGV: now (ms), window (ms), limit, member, record (1|0). Returns
# {allowed (0|1), hits in the window after this one, oldest counted score (ms) or false}.
_HIT_SCRIPT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, count, oldest[2] or false}
end
if ARGV[5] == '0' then
  return {1, count, false}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window)
return {1, count + 1, false}
"""


class RedisRateLimiter:
    """The sliding log in Redis, shared by every process pointed at the same server."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        fallback: MemoryRateLimiter | None = None,
    ) -> None:
        import hashlib

        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.prefix = KEY_PREFIX if prefix is None else prefix
        # One immediate retry (a pooled connection that went stale when Redis restarted);
        # a retried script re-adds the same member, so it never counts a hit twice.
        self.client = Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
        )
        self.fallback = fallback if fallback is not None else MemoryRateLimiter()
        self._sha = hashlib.sha1(_HIT_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis script id
        self._down_until = -math.inf
        self._warned_at = -math.inf

    async def hit(self, key: str, limit: int, window: float, *, record: bool = True) -> Decision:
        from redis.exceptions import RedisError

        mono = clock.monotonic()
        if mono < self._down_until:
            return await self._degraded(key, limit, window, None, record)
        probing = self._down_until != -math.inf
        if probing:  # Redis failed before: this hit alone tries it, the others stay local
            self._down_until = mono + REDIS_RETRY_SECONDS
        now_ms = int(clock.now().timestamp() * 1000)
        window_ms = max(1, math.ceil(window * 1000))
        member = f"{now_ms}:{uuid.uuid4().hex}"
        try:
            allowed, count, oldest = await self._run(
                self.prefix + key, now_ms, window_ms, limit, member, int(record)
            )
        except (RedisError, OSError) as exc:
            self._down_until = clock.monotonic() + REDIS_RETRY_SECONDS
            return await self._degraded(key, limit, window, exc, record)
        if probing:
            self._down_until = -math.inf
        if allowed:
            return Decision(True, 0, max(0, limit - int(count)))
        if oldest is None or oldest is False:
            retry = math.ceil(window)
        else:
            retry = math.ceil((float(oldest) + window_ms - now_ms) / 1000)
        return Decision(False, max(1, retry), 0)

    async def _run(self, *args: object) -> list:
        from redis.exceptions import NoScriptError

        try:
            return await self.client.evalsha(self._sha, 1, *args)
        except NoScriptError:  # first use on this server (or after SCRIPT FLUSH / restart)
            return await self.client.eval(_HIT_SCRIPT, 1, *args)

    async def _degraded(
        self, key: str, limit: int, window: float, exc: BaseException | None, record: bool
    ) -> Decision:
        REDIS_ERRORS.inc()
        now = clock.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            reason = f"{type(exc).__name__}: {exc}" if exc is not None else "recent failure"
            log.warning(
                "rate limiter: Redis unreachable (%s); limits are per process until it is back",
                reason,
            )
        return await self.fallback.hit(key, limit, window, record=record)

    async def clear(self, key: str) -> None:
        """Forget ``key``'s log, in Redis and in the local fallback."""
        from redis.exceptions import RedisError

        await self.fallback.clear(key)
        if clock.monotonic() < self._down_until:
            return
        try:
            await self.client.unlink(self.prefix + key)
        except (RedisError, OSError):
            self._down_until = clock.monotonic() + REDIS_RETRY_SECONDS

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def reset(self) -> None:
        """Forget every log under this limiter's prefix (tests), and the local fallback."""
        await self.fallback.reset()
        self._down_until = -math.inf
        batch: list[bytes] = []
        async for name in self.client.scan_iter(match=self.prefix + "*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                await self.client.unlink(*batch)
                batch.clear()
        if batch:
            await self.client.unlink(*batch)

    async def aclose(self) -> None:
        await self.client.aclose()


_memory = MemoryRateLimiter()
_redis: dict[str, RedisRateLimiter] = {}


def get_limiter(settings: Settings | None = None) -> RateLimiter:
    """The process's limiter: Redis-backed when ``redis_url`` is set, else in memory."""
    if settings is None:
        from nova.core.settings import get_settings

        settings = get_settings()
    url = settings.redis_url
    if not url:
        return _memory
    limiter = _redis.get(url)
    if limiter is None:
        limiter = _redis[url] = RedisRateLimiter(url, fallback=_memory)
    return limiter


async def reset_limiters() -> None:
    """Empty every limiter this process has made (tests)."""
    from redis.exceptions import RedisError

    await _memory.reset()
    for limiter in list(_redis.values()):
        try:
            await limiter.reset()
        except (RedisError, OSError):  # a test pointed it at a Redis that is down
            await limiter.fallback.reset()


async def aclose_limiters() -> None:
    """Close the Redis clients (app shutdown); the next ``get_limiter`` makes new ones."""
    limiters = list(_redis.values())
    _redis.clear()
    for limiter in limiters:
        try:
            await limiter.aclose()
        except Exception:  # noqa: BLE001 - shutting down; nothing useful to do
            log.debug("closing the Redis rate-limit client failed", exc_info=True)
