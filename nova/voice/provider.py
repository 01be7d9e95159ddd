"""Voice cloning providers.

``VoiceProvider`` is what the voice service needs from a cloning vendor; ``ElevenLabsProvider``
implements it over ElevenLabs' HTTP API (or any API speaking the same wire format):

- ``POST /v1/voices/add`` (multipart: ``name``, ``files``, ``description``) → ``{"voice_id"}``
- ``GET /v1/voices/{voice_id}`` → the voice (404 when it does not exist)
- ``POST /v1/text-to-speech/{voice_id}`` (JSON ``{"text", "model_id"}``) → audio/mpeg bytes
- ``DELETE /v1/voices/{voice_id}``

authenticated with the ``xi-api-key`` header. Errors surface as ``ProviderError`` whose
message never contains the key or the audio.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import httpx

from nova.core.settings import Settings, get_settings


class ProviderError(Exception):
    """The provider failed. ``permanent`` when retrying the same request cannot help."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False):
        super().__init__(message)
        self.status = status
        self.permanent = permanent


class ProviderNotConfigured(ProviderError):
    def __init__(self) -> None:
        super().__init__(
            "voice provider is not configured (set ELEVENLABS_API_KEY)", permanent=True
        )


@dataclass(frozen=True)
class ProviderVoice:
    voice_id: str
    # ready | processing | failed (ElevenLabs instant clones are ready once listed)
    status: str


class VoiceProvider(abc.ABC):
    name: str = "provider"

    @abc.abstractmethod
    async def create_clone(
        self, *, name: str, audio: bytes, filename: str, content_type: str, description: str
    ) -> str:
        """Upload enrolment audio; return the provider's voice id."""

    @abc.abstractmethod
    async def get_voice(self, voice_id: str) -> ProviderVoice | None:
        """The voice, or None when the provider does not know it."""

    @abc.abstractmethod
    async def synthesize(self, voice_id: str, text: str) -> bytes:
        """Speak ``text`` with the voice; MP3 bytes."""

    @abc.abstractmethod
    async def delete_voice(self, voice_id: str) -> None:
        """Delete the clone. A voice that is already gone counts as deleted."""


def _describe(resp: httpx.Response) -> str:
    detail = ""
    try:
        body = resp.json()
        d = body.get("detail") if isinstance(body, dict) else None
        if isinstance(d, dict):
            detail = str(d.get("message") or d.get("status") or "")
        elif isinstance(d, str):
            detail = d
    except ValueError:
        pass
    detail = detail[:200]
    return f"voice provider answered HTTP {resp.status_code}" + (f": {detail}" if detail else "")


class ElevenLabsProvider(VoiceProvider):
    name = "elevenlabs"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        model_id: str = "eleven_multilingual_v2",
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.model_id = model_id
        self.timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:  # never show the key
        return f"ElevenLabsProvider({self.base_url!r})"

    async def _request(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url,
                headers={"xi-api-key": self._api_key},
                timeout=self.timeout,
                transport=self._transport,
                follow_redirects=False,
            ) as client:
                return await client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ProviderError(f"voice provider unreachable: {type(exc).__name__}") from None

    @staticmethod
    def _raise_for(resp: httpx.Response) -> None:
        if resp.status_code >= 400:
            permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
            raise ProviderError(_describe(resp), status=resp.status_code, permanent=permanent)

    async def create_clone(
        self, *, name: str, audio: bytes, filename: str, content_type: str, description: str
    ) -> str:
        resp = await self._request(
            "POST",
            "/v1/voices/add",
            data={"name": name, "description": description},
            files={"files": (filename, audio, content_type)},
        )
        self._raise_for(resp)
        try:
            voice_id = resp.json()["voice_id"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError("voice provider returned no voice_id") from None
        if not isinstance(voice_id, str) or not voice_id:
            raise ProviderError("voice provider returned no voice_id")
        return voice_id

    async def get_voice(self, voice_id: str) -> ProviderVoice | None:
        resp = await self._request("GET", f"/v1/voices/{voice_id}")
        if resp.status_code == 404:
            return None
        self._raise_for(resp)
        try:
            body = resp.json()
        except ValueError:
            raise ProviderError("voice provider returned invalid JSON") from None
        status = "ready"
        # Professional clones report fine-tuning progress; instant clones are ready.
        state = (body.get("fine_tuning") or {}).get("state") if isinstance(body, dict) else None
        if isinstance(state, dict) and state:
            values = set(state.values())
            if "failed" in values:
                status = "failed"
            elif values - {"fine_tuned", "not_started"}:
                status = "processing"
        return ProviderVoice(voice_id=voice_id, status=status)

    async def synthesize(self, voice_id: str, text: str) -> bytes:
        resp = await self._request(
            "POST",
            f"/v1/text-to-speech/{voice_id}",
            json={"text": text, "model_id": self.model_id},
            headers={"Accept": "audio/mpeg"},
        )
        self._raise_for(resp)
        if not resp.content:
            raise ProviderError("voice provider returned no audio")
        return resp.content

    async def delete_voice(self, voice_id: str) -> None:
        resp = await self._request("DELETE", f"/v1/voices/{voice_id}")
        if resp.status_code == 404:
            return
        self._raise_for(resp)


def get_provider(settings: Settings | None = None) -> VoiceProvider:
    settings = settings or get_settings()
    if settings.voice_provider_api_key is None:
        raise ProviderNotConfigured()
    return ElevenLabsProvider(
        settings.voice_provider_url,
        settings.voice_provider_api_key.get_secret_value(),
        model_id=settings.voice_provider_model,
        timeout=settings.voice_provider_timeout_seconds,
    )
