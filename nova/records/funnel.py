"""Prometheus metrics of calls: the funnel (dispatched → connected → ended → goal
completed → transcribed → analyzed), outcomes, and the agents' per-turn latency.

Counted where each fact is recorded once (an accepted worker report, a finished analysis),
so the figures are whole across replicas and ``--workers`` processes (see
``nova.core.metrics``)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

FUNNEL = Counter("nova_call_funnel_total", "Calls reaching each stage", ["stage"])
OUTCOMES = Counter("nova_call_outcomes_total", "Ended calls by outcome", ["outcome"])
TURN_LATENCY = Histogram(
    "nova_call_turn_latency_seconds",
    "Per-turn latency reported by agents (eou_delay, llm_ttft, tts_ttfb, e2e)",
    ["kind"],
    buckets=(0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)


def stage(name: str) -> None:
    FUNNEL.labels(name).inc()


def report_accepted(kind: str, data: dict[str, Any], call: Any) -> None:
    """A worker report was recorded (once: report ids are deduplicated)."""
    if kind == "started":
        stage("connected")
    elif kind == "ended":
        stage("ended")
        OUTCOMES.labels(str(call.outcome or "incomplete")).inc()
        if call.goal_completed:
            stage("goal_completed")
    elif kind == "transcript":
        stage("transcribed")


def turn_latency(samples: dict[str, list[float]]) -> None:
    for kind, values in samples.items():
        child = TURN_LATENCY.labels(kind.removesuffix("_ms"))
        for ms in values:
            child.observe(ms / 1000)
