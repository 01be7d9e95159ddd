"""A provider-free TTS (records what it is asked to say, answers 20 ms of silence) and an
audio sink that plays instantly: enough to run the spoken path without a room."""

from __future__ import annotations

import asyncio
import uuid

from livekit.agents import APIConnectOptions, tts
from livekit.agents.voice import io

RATE = 24000


class RecordingTTS(tts.TTS):
    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=RATE, num_channels=1
        )
        self.texts: list[str] = []
        self.done = asyncio.Event()

    def synthesize(self, text: str, *, conn_options: APIConnectOptions | None = None):
        return _Chunked(tts=self, input_text=text, conn_options=conn_options or APIConnectOptions())


class _Chunked(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        self._tts.texts.append(self.input_text)  # type: ignore[attr-defined]
        output_emitter.initialize(
            request_id=uuid.uuid4().hex, sample_rate=RATE, num_channels=1, mime_type="audio/pcm"
        )
        output_emitter.push(b"\x00\x00" * (RATE // 50))
        output_emitter.flush()
        self._tts.done.set()  # type: ignore[attr-defined]


class InstantAudioOutput(io.AudioOutput):
    def __init__(self) -> None:
        super().__init__(
            label="test", capabilities=io.AudioOutputCapabilities(pause=False), sample_rate=RATE
        )
        self.frames = 0
        self._pushed = 0.0

    async def capture_frame(self, frame) -> None:
        await super().capture_frame(frame)
        self.frames += 1
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
