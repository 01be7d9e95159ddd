"""A local stand-in for an ElevenLabs-compatible voice API on loopback (aiohttp).

Speaks the wire format Nova's provider client uses: multipart ``POST /v1/voices/add``,
``GET``/``DELETE /v1/voices/{id}``, ``POST /v1/text-to-speech/{id}``; requires the
``xi-api-key`` header; errors as ``{"detail": {"status", "message"}}``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from aiohttp import web

API_KEY = "xi-test-key-5f0c1d2e3a4b"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    form: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    json: dict | None = None


class FakeVoiceProvider:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.voices: dict[str, dict] = {}
        self.deleted: list[str] = []
        self.seen: list[Seen] = []
        # (method, path-prefix) -> list of (status, body) answered before normal handling
        self.failures: dict[tuple[str, str], list[tuple[int, dict]]] = {}
        self.voice_state: str | None = None  # fine_tuning state reported by GET
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, method: str, prefix: str, status: int = 500, times: int = 1) -> None:
        body = {"detail": {"status": "error", "message": f"injected {status}"}}
        self.failures.setdefault((method, prefix), []).extend([(status, body)] * times)

    def calls(self, method: str, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]

    async def __aenter__(self) -> FakeVoiceProvider:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _err(status: int, message: str) -> web.Response:
        return web.json_response({"detail": {"status": "error", "message": message}}, status=status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        seen = Seen(request.method, path, dict(request.headers))
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()
                if part.filename:
                    seen.files[part.name] = (part.filename, part.headers.get("Content-Type"), data)
                else:
                    seen.form[part.name] = data.decode()
        elif request.content_type == "application/json":
            seen.json = json.loads(await request.read())
        self.seen.append(seen)
        if request.headers.get("xi-api-key") != self.api_key:
            return self._err(401, "invalid api key")
        for (method, prefix), queue in self.failures.items():
            if method == request.method and path.startswith(prefix) and queue:
                status, body = queue.pop(0)
                return web.json_response(body, status=status)
        parts = path.strip("/").split("/")
        if request.method == "POST" and path == "/v1/voices/add":
            if "files" not in seen.files or "name" not in seen.form:
                return self._err(400, "name and files are required")
            voice_id = uuid.uuid4().hex[:20]
            self.voices[voice_id] = {"voice_id": voice_id, "name": seen.form["name"]}
            return web.json_response({"voice_id": voice_id, "requires_verification": False})
        if len(parts) == 3 and parts[:2] == ["v1", "voices"]:
            voice = self.voices.get(parts[2])
            if voice is None:
                return self._err(404, "voice_not_found")
            if request.method == "GET":
                body = dict(voice)
                if self.voice_state:
                    body["fine_tuning"] = {"state": {"eleven_multilingual_v2": self.voice_state}}
                return web.json_response(body)
            if request.method == "DELETE":
                del self.voices[parts[2]]
                self.deleted.append(parts[2])
                return web.json_response({"status": "ok"})
        if request.method == "POST" and len(parts) == 3 and parts[:2] == ["v1", "text-to-speech"]:
            if parts[2] not in self.voices:
                return self._err(404, "voice_not_found")
            return web.Response(body=MP3, content_type="audio/mpeg")
        return self._err(404, "not found")
