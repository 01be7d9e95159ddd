"""``nova speech``: the OpenAI audio API over the offline models, driven through the real
``openai`` client (what the worker's plugin uses) and plain HTTP for the error cases."""

from __future__ import annotations

import io
import wave

import httpx
import openai
import pytest

from nova.speech.app import create_app
from nova.speech.engine import OUTPUT_RATE, PIPER_VOICE, WHISPER, SpeechEngine, resample
from nova.speech.models import ModelError, ModelFiles

TEXT = "Hi Sam, this is Nova from Acme Realty. Do you have a minute?"


@pytest.fixture(scope="module")
def engine() -> SpeechEngine:
    return SpeechEngine(threads=1)


@pytest.fixture
async def client(engine):
    app = create_app(engine, max_upload_bytes=200_000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://speech") as c:
        yield c


async def test_speech_then_transcription_round_trip_through_the_openai_client(engine):
    app = create_app(engine, api_key="s3cret")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://speech/v1")
    oai = openai.AsyncOpenAI(api_key="s3cret", base_url="http://speech/v1", http_client=http)
    async with http:
        speech = await oai.audio.speech.create(
            model="gpt-4o-mini-tts", voice="alloy", input=TEXT, response_format="wav"
        )
        with wave.open(io.BytesIO(speech.content)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (OUTPUT_RATE, 1, 2)
            assert 2.0 < w.getnframes() / OUTPUT_RATE < 8.0
        text = await oai.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=("a.wav", speech.content, "audio/wav")
        )
    words = {w.strip(".,?!").lower() for w in text.text.split()}
    assert {"sam", "nova", "minute"} <= words, text.text


async def test_pcm_is_raw_24khz_rendered_a_sentence_at_a_time(client, engine):
    r = await client.post("/v1/audio/speech", json={"input": TEXT, "response_format": "pcm"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/pcm"
    assert r.headers["x-request-id"].startswith("speech_")
    assert len(r.content) % 2 == 0 and 2.0 < len(r.content) / 2 / OUTPUT_RATE < 8.0
    # Two sentences, two pieces of audio: the response streams the first while the second
    # renders.
    chunks = list(engine.synthesize(TEXT))
    assert len(chunks) == 2 and all(len(c) > OUTPUT_RATE for c in chunks)


async def test_transcription_formats(client):
    wav = (
        await client.post("/v1/audio/speech", json={"input": TEXT, "response_format": "wav"})
    ).content
    r = await client.post(
        "/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, data={"response_format": "text"}
    )
    assert r.status_code == 200 and "minute" in r.text.lower()
    r = await client.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", wav)},
        data={"response_format": "verbose_json", "language": "en"},
    )
    body = r.json()
    assert body["language"] == "english" and 2.0 < body["duration"] < 8.0 and body["text"]


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "detail"),
    [
        (
            "/v1/audio/speech",
            {"json": {"input": "hi", "response_format": "mp3"}},
            400,
            "pcm or wav",
        ),
        ("/v1/audio/speech", {"json": {"input": "   "}}, 400, "empty"),
        ("/v1/audio/speech", {"json": {"input": "x" * 4097}}, 422, None),
        ("/v1/audio/speech", {"json": {"input": "hi", "speed": 9}}, 422, None),
        ("/v1/audio/transcriptions", {"files": {"file": ("a.wav", b"")}}, 400, "empty"),
        (
            "/v1/audio/transcriptions",
            {"files": {"file": ("a.wav", b"not audio at all")}},
            400,
            "decoded",
        ),
        (
            "/v1/audio/transcriptions",
            {"files": {"file": ("a.wav", b"\0" * 200_001)}},
            413,
            "larger",
        ),
        (
            "/v1/audio/transcriptions",
            {"files": {"file": ("a.wav", b"RIFF")}, "data": {"language": "ar"}},
            400,
            "only transcribes English",
        ),
        (
            "/v1/audio/transcriptions",
            {"files": {"file": ("a.wav", b"RIFF")}, "data": {"response_format": "srt"}},
            400,
            "response_format",
        ),
    ],
)
async def test_bad_requests_get_a_clear_error(client, path, kwargs, status, detail):
    r = await client.post(path, **kwargs)
    assert r.status_code == status, r.text
    if detail:
        assert detail in r.json()["detail"]


async def test_api_key_is_required_when_set(engine):
    app = create_app(engine, api_key="s3cret")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://speech"
    ) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = await c.post("/v1/audio/speech", json={"input": "hi"}, headers=headers)
            assert r.status_code == 401 and r.json()["detail"] == "Invalid or missing API key"
        assert (await c.get("/health")).status_code == 200


def test_model_files_are_checked_against_their_pinned_digests(tmp_path, monkeypatch):
    # The installed packages match their pins.
    assert WHISPER.verified().is_dir() and PIPER_VOICE.verified().is_dir()
    with pytest.raises(ModelError, match="not installed"):
        ModelFiles(package="no_such_model_package", folder="", digests={}).locate()
    # A file that differs from its pin (or is missing) refuses to load.
    (tmp_path / "model.bin").write_bytes(b"tampered")
    files = ModelFiles(
        package="x", folder="", digests={"model.bin": "0" * 64, "gone.txt": "1" * 64}
    )
    monkeypatch.setattr(ModelFiles, "locate", lambda self: tmp_path)
    with pytest.raises(ModelError, match="does not match its pinned SHA-256"):
        files.verified()
    (tmp_path / "model.bin").unlink()
    with pytest.raises(ModelError, match="missing"):
        files.verified()


def test_resample_keeps_duration_and_level():
    import numpy as np

    t = np.arange(22050) / 22050
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    out = resample(tone, 22050, 24000)
    assert out.size == 24000 and out.dtype == np.int16
    assert abs(int(np.abs(out).max()) - 10000) < 200


def test_cli_refuses_to_serve_beyond_loopback_without_a_key(settings, capsys):
    from nova.cli import main

    settings.speech_api_key = None
    assert main(["speech", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "without NOVA_SPEECH_API_KEY" in capsys.readouterr().err
