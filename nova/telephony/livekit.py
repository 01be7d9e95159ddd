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
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import aiohttp
from livekit import api

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


_clients: dict[tuple[int, str, str, str], api.LiveKitAPI] = {}


def get_api(settings: Settings) -> api.LiveKitAPI:
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
        client = api.LiveKitAPI(
            settings.livekit_url,
            settings.livekit_api_key,
            secret,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
        )
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


async def dispatch_agent(settings: Settings, metadata: DispatchMetadata) -> Dispatch:
    """Create the call's room and dispatch the agent into it. Raises
    ``TelephonyNotConfigured`` or ``DispatchFailed`` (with a message fit for the caller)."""
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
