"""Fixed-window-log rate limiting on Nova's clock.

The embedded default keeps the log in process memory (one replica). With ``NOVA_REDIS_URL``
set, the same limits are shared by every replica through Redis sorted sets.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass

from nova.core import clock


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0
    remaining: int = 0


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = asyncio.Lock()

    async def hit(self, key: str, limit: int, window: float) -> Decision:
        now = clock.monotonic()
        async with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - window:
                q.popleft()
            if len(q) >= limit:
                retry = math.ceil(q[0] + window - now)
                return Decision(False, max(1, retry), 0)
            q.append(now)
            if len(self._hits) > 100_000:
                self._gc(now, window)
            return Decision(True, 0, limit - len(q))

    def _gc(self, now: float, window: float) -> None:
        for k in [k for k, q in self._hits.items() if not q or q[-1] <= now - window]:
            del self._hits[k]

    def reset(self) -> None:
        self._hits.clear()


_limiter = MemoryRateLimiter()


def get_limiter() -> MemoryRateLimiter:
    return _limiter
