"""The one clock every limit and TTL reads, so tests can move time instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall clock. ``now()`` is timezone-aware UTC; ``monotonic()`` for intervals."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FrozenClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 6, 12, 8, 30, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float = 0, **kwargs: float) -> None:
        delta = timedelta(seconds=seconds, **kwargs)
        self._now += delta
        self._mono += delta.total_seconds()

    def set(self, when: datetime) -> None:
        self._mono += (when - self._now).total_seconds()
        self._now = when


clock: Clock = Clock()


def set_clock(new: Clock) -> Clock:
    """Swap the process clock; returns the previous one."""
    global clock
    old, clock = clock, new
    return old


def now() -> datetime:
    return clock.now()


def monotonic() -> float:
    return clock.monotonic()
