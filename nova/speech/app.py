"""The OpenAI audio API, served from the offline models.

    POST /v1/audio/transcriptions   multipart: file, model, language, prompt, response_format
                                    (json | text | verbose_json)
    POST /v1/audio/speech           JSON: model, input, voice, response_format (pcm | wav), speed
    GET  /health

``pcm`` is OpenAI's raw format (24 kHz, 16-bit, mono), streamed a sentence at a time so
the first audio leaves before the whole text is synthesized; ``wav`` is the same audio with
a header, sent whole. Model and voice names are accepted as given (there is one of each):
the worker's existing settings work unchanged. Errors are ``{"detail": ...}``.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from nova.speech.engine import OUTPUT_RATE, SpeechEngine, wav_bytes

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit for a transcription upload
MAX_INPUT_CHARS = 4096  # OpenAI's limit for a speech input


class SpeechRequest(BaseModel):
    model: str = Field(default="piper", max_length=200)
    input: str = Field(min_length=1, max_length=MAX_INPUT_CHARS)
    voice: str = Field(default="joe", max_length=200)
    response_format: str = "pcm"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(default=None, max_length=MAX_INPUT_CHARS)  # ignored
    stream_format: str | None = None  # OpenAI's SSE option; audio bytes are always sent


def create_app(
    engine: SpeechEngine, *, api_key: str | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES
) -> FastAPI:
    app = FastAPI(title="Nova speech", docs_url=None, redoc_url=None, openapi_url=None)
    # A model runs one request at a time: queue the rest in the event loop, not in threads.
    stt_slot = anyio.CapacityLimiter(1)
    tts_slot = anyio.CapacityLimiter(1)

    def authorized(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise HTTPException(401, "Invalid or missing API key")

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "stt": "faster-whisper tiny.en", "tts": "piper en_US-joe-medium"}

    @app.post("/v1/audio/transcriptions", dependencies=[Depends(authorized)])
    async def transcriptions(
        file: Annotated[UploadFile, File()],
        model: Annotated[str, Form(max_length=200)] = "whisper-1",
        language: Annotated[str | None, Form(max_length=20)] = None,
        prompt: Annotated[str | None, Form(max_length=2000)] = None,
        response_format: Annotated[str, Form()] = "json",
        temperature: Annotated[float | None, Form()] = None,
    ) -> Response:
        if response_format not in ("json", "text", "verbose_json"):
            raise HTTPException(
                400, "response_format must be json, text or verbose_json on this server"
            )
        if language and language.split("-")[0].lower() != "en":
            raise HTTPException(
                400,
                f"language {language!r} is not supported: the local model (whisper tiny.en) "
                "only transcribes English; use a hosted provider for other languages",
            )
        audio = await file.read(max_upload_bytes + 1)
        if len(audio) > max_upload_bytes:
            raise HTTPException(413, f"The audio file is larger than {max_upload_bytes} bytes")
        if not audio:
            raise HTTPException(400, "The audio file is empty")
        try:
            result = await anyio.to_thread.run_sync(
                lambda: engine.transcribe(audio, prompt=prompt), limiter=stt_slot
            )
        except (ValueError, OSError) as exc:  # PyAV could not decode it
            raise HTTPException(400, "The audio file could not be decoded") from exc
        if response_format == "text":
            return PlainTextResponse(result.text)
        body: dict = {"text": result.text}
        if response_format == "verbose_json":
            body |= {"task": "transcribe", "language": "english", "duration": result.duration}
        return JSONResponse(body)

    @app.post("/v1/audio/speech", dependencies=[Depends(authorized)])
    async def speech(body: SpeechRequest) -> Response:
        fmt = body.response_format
        if fmt not in ("pcm", "wav"):
            raise HTTPException(400, "response_format must be pcm or wav on this server")
        if not body.input.strip():
            raise HTTPException(400, "input is empty")
        chunks = engine.synthesize(body.input, speed=body.speed)
        if fmt == "wav":
            pcm = await anyio.to_thread.run_sync(lambda: b"".join(chunks), limiter=tts_slot)
            return Response(wav_bytes(pcm), media_type="audio/wav", headers=_request_id())

        async def stream() -> AsyncIterator[bytes]:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, None, limiter=tts_slot)
                if chunk is None:
                    return
                yield chunk

        return StreamingResponse(
            stream(),
            media_type="audio/pcm",
            headers={"X-Sample-Rate": str(OUTPUT_RATE), "X-Channels": "1", **_request_id()},
        )

    return app


def _request_id() -> dict[str, str]:
    return {"x-request-id": f"speech_{uuid.uuid4().hex}"}
