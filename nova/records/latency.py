"""Latency figures: exact percentiles of one call's samples, and mergeable log-bucket
histograms for percentiles across many calls (the daily analytics rollup keeps those).

A sample of ``ms`` milliseconds falls in bucket ``floor(log(ms) / log(GROWTH))`` (bucket 0
holds everything under ``GROWTH`` ms), so each bucket spans 10 % of its value and a
percentile read back from merged histograms is within 5 % of the exact one. Histograms are
``{str(bucket): count}`` (JSON keys) and merge by adding counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

# Metric kinds the worker reports, in milliseconds per turn.
KINDS: tuple[str, ...] = ("eou_delay_ms", "llm_ttft_ms", "tts_ttfb_ms", "e2e_ms")
GROWTH = 1.1
MAX_MS = 600_000.0  # anything longer is a broken measurement, not a slow turn
MAX_SAMPLES = 2000  # per kind per call


def clean_samples(raw: object) -> list[float]:
    """Finite, non-negative milliseconds, at most ``MAX_SAMPLES``; anything else dropped."""
    if not isinstance(raw, list):
        return []
    out: list[float] = []
    for value in raw[:MAX_SAMPLES]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        v = float(value)
        if math.isfinite(v) and 0 <= v <= MAX_MS:
            out.append(round(v, 1))
    return out


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
        "avg": round(sum(values) / len(values), 1) if values else None,
    }


def bucket(ms: float) -> int:
    if ms < GROWTH:
        return 0
    return int(math.floor(math.log(ms) / math.log(GROWTH)))


def bucket_value(index: int) -> float:
    """The value a bucket stands for: the geometric middle of its bounds."""
    if index <= 0:
        return 1.0
    return GROWTH ** (index + 0.5)


def histogram(values: Iterable[float]) -> dict[str, int]:
    hist: dict[str, int] = {}
    for v in values:
        key = str(bucket(v))
        hist[key] = hist.get(key, 0) + 1
    return hist


def merge(into: dict[str, int], other: Mapping[str, int]) -> dict[str, int]:
    for key, count in other.items():
        into[key] = into.get(key, 0) + int(count)
    return into


def hist_percentile(hist: Mapping[str, int], q: float) -> float | None:
    """Nearest-rank percentile read from a histogram (bucket middle, whole ms)."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for index in sorted(int(k) for k in hist):
        seen += hist[str(index)]
        if seen >= rank:
            return float(round(bucket_value(index)))
    return None  # unreachable


def hist_summary(hist: Mapping[str, int]) -> dict[str, float | int | None]:
    return {
        "n": sum(hist.values()),
        "p50": hist_percentile(hist, 50),
        "p90": hist_percentile(hist, 90),
        "p95": hist_percentile(hist, 95),
        "p99": hist_percentile(hist, 99),
    }
