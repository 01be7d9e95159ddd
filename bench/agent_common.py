"""Shared pieces of the agent benchmarks: a call's dispatch metadata, a TTS that records
when text reaches it (and returns 20 ms of silence), and an audio sink that plays instantly.
Providers are replaced so only Nova's and livekit-agents' own work is measured."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

os.environ.setdefault("NOVA_ENV", "development")
os.environ.setdefault("NOVA_BACKGROUND_RUNNER", "false")

from livekit.agents import APIConnectOptions, tts  # noqa: E402
from livekit.agents.voice import io  # noqa: E402

from nova.telephony.metadata import Brief, DispatchMetadata, Lead  # noqa: E402

SAMPLE_RATE = 24000


def metadata(goal: str = "book_meeting", language: str = "en") -> DispatchMetadata:
    return DispatchMetadata(
        call_id=str(uuid.uuid4()),
        context_id=str(uuid.uuid4()),
        room_name="call-bench",
        goal=goal,
        language=language,
        product="Marina towers",
        lead=Lead(phone="+971501234567", name="Sam", company="Globex"),
        brief=Brief(
            agent_instructions="You call on behalf of Acme Realty about the Marina towers.",
            opening_line="Hi Sam, this is Nova from Acme Realty. Do you have a minute?",
            qualification_questions=[f"Question {i}?" for i in range(1, 6)],
            objection_handlers=[{"objection": "too expensive", "response": "Payment plans."}],
            closing_script="Shall I text you the booking link?",
            product_facts=["Two-bedroom flats from AED 1.2M"],
        ),
        booking_link="https://cal.example.com/acme",
        report_url="http://127.0.0.1:9/internal/worker",
    )


class RecordingTTS(tts.TTS):
    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        self.received: list[tuple[float, str]] = []
        self.cpu_at_first: float | None = None
        self.first = asyncio.Event()
        self.done = asyncio.Event()  # a synthesis finished

    def synthesize(self, text: str, *, conn_options: APIConnectOptions | None = None):
        return _Chunked(tts=self, input_text=text, conn_options=conn_options or APIConnectOptions())


class _Chunked(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        self._tts.received.append((time.perf_counter(), self.input_text))  # type: ignore[attr-defined]
        if self._tts.cpu_at_first is None:  # type: ignore[attr-defined]
            self._tts.cpu_at_first = time.process_time()  # type: ignore[attr-defined]
        self._tts.first.set()  # type: ignore[attr-defined]
        output_emitter.initialize(
            request_id=uuid.uuid4().hex,
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
        )
        output_emitter.push(b"\x00\x00" * (SAMPLE_RATE // 50))
        output_emitter.flush()
        self._tts.done.set()  # type: ignore[attr-defined]


class InstantAudioOutput(io.AudioOutput):
    """Plays every segment instantly."""

    def __init__(self) -> None:
        super().__init__(
            label="bench",
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=SAMPLE_RATE,
        )
        self._pushed = 0.0
        self.first_frame_at: float | None = None
        self.first_frame = asyncio.Event()

    async def capture_frame(self, frame) -> None:
        if self.first_frame_at is None:
            self.first_frame_at = time.perf_counter()
            self.first_frame.set()
        if not self._pushed:
            self.on_playback_started(created_at=time.time())
        await super().capture_frame(frame)
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        if self._pushed:
            pushed, self._pushed = self._pushed, 0.0
            self.on_playback_finished(playback_position=pushed, interrupted=False)

    def clear_buffer(self) -> None:
        if self._pushed:
            pushed, self._pushed = self._pushed, 0.0
            self.on_playback_finished(playback_position=pushed, interrupted=True)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return values[k]


def summary(name: str, ms: list[float]) -> str:
    return (
        f"{name}: n={len(ms)} p50={pct(ms, 50):.2f} ms p95={pct(ms, 95):.2f} ms "
        f"max={max(ms):.2f} ms mean={statistics.fmean(ms):.2f} ms"
    )


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
