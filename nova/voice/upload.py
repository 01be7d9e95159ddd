"""Streaming multipart reader for enrolment uploads.

FastAPI's ``UploadFile`` parses the whole body before the endpoint runs; enrolment instead
checks the flag, region, consent and rate limit first and then reads the body itself,
counting audio bytes as they arrive so an oversized upload is refused (413) at the first
byte over the cap instead of after buffering it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

try:  # python-multipart >= 0.0.13 ships the module under this name
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # pragma: no cover - older python-multipart
    from multipart.exceptions import FormParserError  # type: ignore[no-redef]
    from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]

from nova.core.errors import BadRequest, PayloadTooLarge

FILE_FIELDS = ("audio", "file")
MAX_FIELD_BYTES = 1024


@dataclass
class Upload:
    data: bytes
    filename: str
    content_type: str
    fields: dict[str, str] = field(default_factory=dict)


async def read_audio_upload(request: Request, max_bytes: int) -> Upload:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise BadRequest("Expected multipart/form-data with an 'audio' file field")
    boundary = params[b"boundary"]

    audio = bytearray()
    fields: dict[str, str] = {}
    state: dict = {"headers": {}, "hname": b"", "hval": b"", "name": None, "file": None}
    meta: dict[str, str] = {}
    over = {"audio": False, "field": False}

    def on_part_begin() -> None:
        state.update(headers={}, hname=b"", hval=b"", name=None, file=None, buf=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hval"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["hname"].lower()] = state["hval"]
        state["hname"], state["hval"] = b"", b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name in FILE_FIELDS and b"filename" in disp and "filename" not in meta:
            state["file"] = True
            meta["filename"] = disp[b"filename"].decode("utf-8", "replace")[:128] or "audio"
            meta["content_type"] = (
                state["headers"].get(b"content-type", b"application/octet-stream")
            ).decode("latin-1")[:64]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["file"]:
            if len(audio) + (end - start) > max_bytes:
                over["audio"] = True
                return
            audio.extend(data[start:end])
        else:
            buf = state["buf"]
            if len(buf) + (end - start) > MAX_FIELD_BYTES:
                over["field"] = True
                return
            buf.extend(data[start:end])

    def on_part_end() -> None:
        if not state["file"] and state["name"]:
            fields[state["name"]] = bytes(state["buf"]).decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
            if over["audio"]:
                raise PayloadTooLarge(
                    f"Audio upload too large (limit {max_bytes // (1024 * 1024)} MB)"
                )
            if over["field"]:
                raise BadRequest("Form field too large")
        parser.finalize()
    except FormParserError:
        raise BadRequest("Malformed multipart body") from None
    if "filename" not in meta:
        raise BadRequest("Missing 'audio' file field")
    if not audio:
        raise BadRequest("The audio file is empty")
    return Upload(bytes(audio), meta["filename"], meta["content_type"], fields)


def sniff_audio(head: bytes) -> str | None:
    """The audio container by magic bytes: wav, mp3, m4a, ogg, webm, flac; else None."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3":
        return "mp3"
    # MPEG audio frame sync: 11 set bits, a valid version/layer (layer III/II/I).
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06):
        return "mp3"
    return None


AUDIO_CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "flac": "audio/flac",
}
