"""What the machine was like during a benchmark run.

The project's VM shares its two cores with neighbours: the same pure-Python loop took
16.5 ms in one minute and 30 ms the next (2026-11-23). ``speed_ms()`` times that loop
(``sum(range(10**6))``, best of 5), so a figure can be read against the speed the machine
had when it was taken; every bench prints it before and after its scenarios.
"""

from __future__ import annotations

import os
import timeit


def speed_ms() -> float:
    """Best of 5 timings of ``sum(range(10**6))`` in ms (about 16.5 when the VM is fast)."""
    return round(min(timeit.repeat("sum(range(10**6))", number=5, repeat=5)) / 5 * 1000, 1)


def snapshot() -> dict:
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "speed_ms": speed_ms(),
    }
