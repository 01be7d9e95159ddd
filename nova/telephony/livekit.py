"""LiveKit plumbing for calls: one room per call and an explicit agent dispatch into it.

Room name ``call-<context_id>``; the dispatch targets ``settings.agent_name`` and carries a
``DispatchMetadata`` as JSON (read by the worker from ``ctx.job.metadata``). The mode decides
what the worker does once it joins: ``demo`` waits for the browser test caller, ``sip`` dials
the lead through the outbound trunk. Anonymous callers only ever get ``demo``.

Clients are long-lived (one aiohttp session per event loop and configuration), so a batch
costs two Twirp round trips per lead and no connection setup.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import aiohttp
from livekit import api
from livekit.api.agent_dispatch_service import AgentDispatchService
from livekit.api.room_service import RoomService

from nova.core.settings import Settings
from nova.telephony.metadata import DispatchMetadata

log = logging.getLogger("nova.telephony.livekit")

Mode = Literal["demo", "sip"]
ROOM_PREFIX = "call-"
# A demo room with nobody in it closes after this long (seconds).
ROOM_EMPTY_TIMEOUT = 600
ROOM_DEPARTURE_TIMEOUT = 20
REQUEST_TIMEOUT_SECONDS = 10.0


class TelephonyNotConfigured(RuntimeError):
    """LiveKit URL/key/secret are not all set."""


class DispatchFailed(RuntimeError):
    """LiveKit refused or could not be reached; the message is safe to show the caller."""


def room_name_for(context_id: str) -> str:
    return f"{ROOM_PREFIX}{context_id}"


def choose_mode(settings: Settings, *, authenticated: bool) -> Mode:
    """Anonymous submissions never dial a phone network (DECISIONS: toll fraud)."""
    if not authenticated:
        return "demo"
    return "sip" if settings.dial_mode == "sip" else "demo"


def browser_url(settings: Settings) -> str:
    """The LiveKit URL a browser connects to (ws/wss)."""
    url = settings.livekit_url or ""
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    return url


# A signed token that is not tied to a room (CreateRoom's ``room_create``) is re-used for
# this long; livekit-api signs a fresh JWT for every request otherwise, which is about half
# the client-side CPU of a Twirp call. The tokens themselves are valid for 6 hours.
SIGNED_HEADER_REUSE_SECONDS = 300.0


class _RoomService(RoomService):
    """livekit-api's RoomService, re-using the signed header of grants without a room."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._signed: dict[str, tuple[float, dict[str, str]]] = {}

    def _auth_header(
        self, grants: api.VideoGrants | None, sip: api.SIPGrants | None = None
    ) -> dict[str, str]:
        if grants is None or grants.room or sip is not None:
            return super()._auth_header(grants, sip)
        key = repr(grants)
        now = time.monotonic()
        hit = self._signed.get(key)
        if hit is None or now - hit[0] > SIGNED_HEADER_REUSE_SECONDS:
            hit = (now, super()._auth_header(grants, sip))
            self._signed[key] = hit
        return hit[1]


class Client:
    """The two LiveKit services a batch needs, sharing one long-lived aiohttp session."""

    def __init__(self, url: str, api_key: str, api_secret: str) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        )
        self.room = _RoomService(self._session, url, api_key, api_secret)
        self.agent_dispatch = AgentDispatchService(self._session, url, api_key, api_secret)

    async def aclose(self) -> None:
        await self._session.close()


_clients: dict[tuple[int, str, str, str], Client] = {}


def get_api(settings: Settings) -> Client:
    if not settings.livekit_configured:
        raise TelephonyNotConfigured(
            "LiveKit is not configured on this server (set LIVEKIT_URL, LIVEKIT_API_KEY and "
            "LIVEKIT_API_SECRET)"
        )
    assert settings.livekit_url and settings.livekit_api_key and settings.livekit_api_secret
    secret = settings.livekit_api_secret.get_secret_value()
    loop = asyncio.get_running_loop()
    key = (id(loop), settings.livekit_url, settings.livekit_api_key, secret)
    client = _clients.get(key)
    if client is None:
        client = Client(settings.livekit_url, settings.livekit_api_key, secret)
        _clients[key] = client
    return client


async def aclose_clients() -> None:
    """Close every cached client that belongs to the running loop (app shutdown, tests)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _clients if k[0] == loop_id]:
        client = _clients.pop(key)
        try:
            await client.aclose()
        except Exception:  # noqa: BLE001
            log.debug("closing LiveKit client failed", exc_info=True)


@dataclass(frozen=True)
class Dispatch:
    room_name: str
    room_sid: str
    dispatch_id: str


def _describe(exc: BaseException) -> str:
    if isinstance(exc, api.TwirpError):
        return f"LiveKit error {exc.status} {exc.code}: {exc.message}"[:400]
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "LiveKit did not answer in time"
    if isinstance(exc, aiohttp.ClientError):
        return f"LiveKit unreachable: {type(exc).__name__}"
    return f"LiveKit dispatch failed: {type(exc).__name__}: {exc}"[:400]


async def dispatch_agent(
    settings: Settings, metadata: DispatchMetadata, *, adopt: bool = False
) -> Dispatch:
    """Create the call's room and dispatch the agent into it. Raises
    ``TelephonyNotConfigured`` or ``DispatchFailed`` (with a message fit for the caller).

    Creating a room that exists returns it (LiveKit's CreateRoom is idempotent). With
    ``adopt`` (a retry after a crash, when an earlier attempt may have got through), an
    agent already dispatched into the room is adopted instead of sending a second one."""
    lk = get_api(settings)
    room = None
    try:
        room = await lk.room.create_room(
            api.CreateRoomRequest(
                name=metadata.room_name,
                empty_timeout=ROOM_EMPTY_TIMEOUT,
                departure_timeout=ROOM_DEPARTURE_TIMEOUT,
                max_participants=4,
                metadata=json.dumps({"call_id": metadata.call_id, "mode": metadata.mode}),
            )
        )
        if adopt:
            existing = await lk.agent_dispatch.list_dispatch(metadata.room_name)
            for found in existing:
                if found.agent_name == settings.agent_name:
                    return Dispatch(metadata.room_name, room.sid, found.id)
        dispatch = await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=settings.agent_name,
                room=metadata.room_name,
                metadata=metadata.model_dump_json(),
            )
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes the lead's error
        log.warning("dispatch for call %s failed: %r", metadata.call_id, exc)
        if room is not None:
            # No agent will come: close the room now rather than at its empty timeout.
            try:
                await lk.room.delete_room(api.DeleteRoomRequest(room=metadata.room_name))
            except Exception:  # noqa: BLE001
                log.debug("could not delete room %s", metadata.room_name, exc_info=True)
        raise DispatchFailed(_describe(exc)) from exc
    return Dispatch(metadata.room_name, room.sid, dispatch.id)


async def rooms_gone(settings: Settings, names: list[str]) -> set[str]:
    """Which of the rooms ``names`` LiveKit no longer has (one ListRooms request per 100).
    Raises ``TelephonyNotConfigured`` or ``DispatchFailed`` when it cannot tell."""
    lk = get_api(settings)
    gone: set[str] = set()
    for i in range(0, len(names), 100):
        chunk = names[i : i + 100]
        try:
            found = await lk.room.list_rooms(api.ListRoomsRequest(names=chunk))
        except Exception as exc:  # noqa: BLE001 - the caller decides nothing this round
            raise DispatchFailed(_describe(exc)) from exc
        alive = {r.name for r in found.rooms}
        gone.update(n for n in chunk if n not in alive)
    return gone


def participant_token(settings: Settings, room_name: str, identity: str, display_name: str) -> str:
    """A browser participant token: join this one room, publish the microphone and
    subscribe, nothing else; expires after ``token_ttl_seconds``."""
    if not settings.livekit_configured:
        raise TelephonyNotConfigured(
            "LiveKit is not configured on this server (set LIVEKIT_URL, LIVEKIT_API_KEY and "
            "LIVEKIT_API_SECRET)"
        )
    assert settings.livekit_api_key and settings.livekit_api_secret
    grants = api.VideoGrants(
        room_join=True,
        room=room_name,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=False,
        can_publish_sources=["microphone"],
        can_update_own_metadata=False,
    )
    return (
        api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
        .with_identity(identity)
        .with_name(display_name)
        .with_grants(grants)
        .with_ttl(timedelta(seconds=settings.token_ttl_seconds))
        .to_jwt()
    )
