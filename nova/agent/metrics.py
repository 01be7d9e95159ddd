"""What the worker reports about a call besides its outcome: the transcript with turn
offsets and interruptions, and per-turn latency.

Both come from the session's chat history. livekit-agents records on each ``ChatMessage``
when it was spoken (``metrics.started_speaking_at`` / ``stopped_speaking_at``, wall-clock
seconds), whether it was cut off (``interrupted``), and the turn's latency figures: on the
lead's turns the end-of-utterance delay (``end_of_turn_delay``), on the agent's the LLM's
time to first token (``llm_node_ttft``), the TTS's time to first byte (``tts_node_ttfb``)
and the delay from the end of the lead's speech to the agent's first audio
(``e2e_latency``). Offsets are seconds from the first turn of the call (the greeting).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# history field (seconds) → reported kind (milliseconds); kinds as in nova.records.latency
LATENCY_FIELDS: dict[str, tuple[str, str]] = {
    "eou_delay_ms": ("user", "end_of_turn_delay"),
    "llm_ttft_ms": ("assistant", "llm_node_ttft"),
    "tts_ttfb_ms": ("assistant", "tts_node_ttfb"),
    "e2e_ms": ("assistant", "e2e_latency"),
}


def _messages(session: Any) -> list[Any]:
    return [
        item
        for item in session.history.items
        if getattr(item, "type", None) == "message" and item.role in ("user", "assistant")
    ]


def _metric(item: Any, name: str) -> float | None:
    value = (getattr(item, "metrics", None) or {}).get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def transcript_of(session: Any) -> list[dict[str, Any]]:
    """``[{role: agent|user, text, at, start?, end?, interrupted?}]`` in spoken order."""
    turns: list[tuple[float, dict[str, Any]]] = []
    origin: float | None = None
    for item in _messages(session):
        text = item.text_content or ""
        if not text.strip():
            continue
        started = _metric(item, "started_speaking_at") or item.created_at
        stopped = _metric(item, "stopped_speaking_at")
        origin = started if origin is None else min(origin, started)
        turn: dict[str, Any] = {
            "role": "agent" if item.role == "assistant" else "user",
            "text": text,
            "at": _iso(item.created_at),
            "_start": started,
            "_end": stopped,
        }
        if getattr(item, "interrupted", False):
            turn["interrupted"] = True
        turns.append((started, turn))
    out: list[dict[str, Any]] = []
    for _, turn in sorted(turns, key=lambda t: t[0]):
        start, end = turn.pop("_start"), turn.pop("_end")
        assert origin is not None
        turn["start"] = round(start - origin, 2)
        if end is not None and end >= start:
            turn["end"] = round(end - origin, 2)
        out.append(turn)
    return out


def latency_of(session: Any) -> dict[str, Any]:
    """The ``metrics`` report: ``{samples: {kind: [ms per turn]}, interruptions, turns}``."""
    samples: dict[str, list[float]] = {kind: [] for kind in LATENCY_FIELDS}
    messages = _messages(session)
    for item in messages:
        for kind, (role, name) in LATENCY_FIELDS.items():
            if item.role != role:
                continue
            value = _metric(item, name)
            if value is not None:
                samples[kind].append(round(value * 1000, 1))
    return {
        "samples": samples,
        "interruptions": sum(
            1 for m in messages if m.role == "assistant" and getattr(m, "interrupted", False)
        ),
        "turns": len(messages),
    }
