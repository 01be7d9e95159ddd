"""The lead's end of a call, on real audio, without a LiveKit server.

``LeadMicrophone`` is the session's audio input: 20 ms frames paced in real time (silence
until the lead says a line). ``LeadSpeaker`` is the session's audio output: it plays the
agent's audio on a real-time clock (so the lead can talk over it), keeps what was actually
heard, and reports the playhead on interruption the way livekit's room output does.
``SpeechProcess`` runs ``nova speech`` as a child process (the product's own server).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
from livekit import rtc
from livekit.agents.voice import io

RATE = 24000  # OpenAI's pcm rate, what nova speech returns
FRAME = RATE // 50  # 20 ms


class SpeechProcess:
    """``python -m nova speech --port 0`` on loopback; ``url`` is its OpenAI base URL."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 120.0) -> SpeechProcess:
        env = {**os.environ, "NOVA_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nova", "speech", "--port", "0", "--threads", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        output = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("nova speech listening on "):
                self.url = line.split()[-1].strip()
                return self
        self.stop()
        raise RuntimeError("nova speech did not start:\n" + "".join(output))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    async def speak(self, text: str) -> bytes:
        """The text as 24 kHz 16-bit mono PCM (piper)."""
        async with httpx.AsyncClient(timeout=120) as c:
            r = await c.post(
                f"{self.url}/audio/speech", json={"input": text, "response_format": "pcm"}
            )
            r.raise_for_status()
            return r.content

    async def transcribe(self, pcm: bytes) -> str:
        """What whisper hears in 24 kHz 16-bit mono PCM."""
        wav = rtc.AudioFrame(pcm, RATE, 1, len(pcm) // 2).to_wav_bytes()
        async with httpx.AsyncClient(timeout=120) as c:
            r = await c.post(
                f"{self.url}/audio/transcriptions",
                files={"file": ("heard.wav", wav, "audio/wav")},
                data={"model": "whisper-1"},
            )
            r.raise_for_status()
            return r.json()["text"]


def words(text: str) -> set[str]:
    return {w.strip(".,!?;:'\"").lower() for w in text.split()} - {""}


class LeadMicrophone(io.AudioInput):
    """The lead's microphone: silence, and the lines ``say`` queues, in real time."""

    def __init__(self) -> None:
        super().__init__(label="lead-microphone")
        self._pending = np.zeros(0, dtype=np.int16)
        self._next_at: float | None = None
        self._closed = False
        self._line_done: asyncio.Future | None = None
        self.frames = 0
        self.late_frames = 0  # frames produced > 100 ms behind schedule (a loaded CPU)

    def say(self, pcm: bytes, *, pause_after: float = 0.0) -> asyncio.Future:
        """Queue a line (and the silence after it); the future resolves once it is heard."""
        samples = np.frombuffer(pcm, dtype=np.int16)
        tail = np.zeros(int(pause_after * RATE), dtype=np.int16)
        self._pending = np.concatenate([self._pending, samples, tail])
        self._line_done = asyncio.get_running_loop().create_future()
        return self._line_done

    @property
    def speaking(self) -> bool:
        return self._pending.size > 0

    def close(self) -> None:
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next_at is None:
            self._next_at = now
        self._next_at += FRAME / RATE
        if self._next_at > now:
            await asyncio.sleep(self._next_at - now)
        elif now - self._next_at > 0.1:
            self.late_frames += 1
            if now - self._next_at > 1.0:  # a long stall: don't burst a second of backlog
                self._next_at = now
        chunk = self._pending[:FRAME]
        self._pending = self._pending[FRAME:]
        if chunk.size < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - chunk.size, dtype=np.int16)])
        if self._pending.size == 0 and self._line_done is not None and not self._line_done.done():
            self._line_done.set_result(None)
        self.frames += 1
        return rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME)


@dataclass
class Playout:
    """One segment the agent played (a ``say`` or a reply)."""

    started_at: float  # loop time of its first sample
    pcm: bytearray = field(default_factory=bytearray)
    duration: float = 0.0  # pushed
    played: float = 0.0  # heard, set when it finished
    interrupted: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def heard_pcm(self) -> bytes:
        return bytes(self.pcm[: int(self.played * RATE) * 2])


class LeadSpeaker(io.AudioOutput):
    """The lead's earpiece: plays each segment in real time and keeps what was heard."""

    def __init__(self) -> None:
        super().__init__(
            label="lead-speaker",
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=RATE,
        )
        self.playouts: list[Playout] = []
        self._current: Playout | None = None
        self._interrupted = asyncio.Event()
        self._cut_at: float | None = None
        self._wait_task: asyncio.Task | None = None
        self.new_playout = asyncio.Event()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        loop = asyncio.get_running_loop()
        if self._current is None:
            self._current = Playout(started_at=loop.time())
            self._interrupted.clear()
            self._cut_at = None
            self.playouts.append(self._current)
            self.on_playback_started(created_at=time.time())
            self.new_playout.set()
        # A real sink underruns when audio arrives late: playback restarts from now.
        p = self._current
        if p.started_at + p.duration < loop.time():
            p.pcm.extend(b"\x00\x00" * int((loop.time() - p.started_at - p.duration) * RATE))
            p.duration = len(p.pcm) / 2 / RATE
        p.pcm.extend(bytes(frame.data))
        p.duration = len(p.pcm) / 2 / RATE

    def flush(self) -> None:
        super().flush()
        if self._current is None:
            return
        playout, self._current = self._current, None
        self._wait_task = asyncio.get_running_loop().create_task(self._wait_for_playout(playout))

    def clear_buffer(self) -> None:
        if self._current is None and (self._wait_task is None or self._wait_task.done()):
            return
        self._cut_at = asyncio.get_running_loop().time()
        self._interrupted.set()

    async def _wait_for_playout(self, p: Playout) -> None:
        loop = asyncio.get_running_loop()
        end = p.started_at + p.duration
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._interrupted.wait(), max(0.0, end - loop.time()))
        if self._interrupted.is_set():
            cut = self._cut_at if self._cut_at is not None else loop.time()
            p.played = max(0.0, min(p.duration, cut - p.started_at))
            p.interrupted = True
        else:
            p.played = p.duration
        self._interrupted.clear()
        self.on_playback_finished(playback_position=p.played, interrupted=p.interrupted)
        p.finished.set()
