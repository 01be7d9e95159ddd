"""Dependency aliases shared by every router."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core.db import get_session
from nova.core.errors import Unauthorized
from nova.core.security import InvalidToken, decode_access_token
from nova.core.settings import Settings, get_settings
from nova.models.user import User

# scope="function": the session commits when the handler returns and *before* the response
# is sent, so a failing commit turns into an error response instead of a 2xx for data that
# was rolled back (FastAPI's default "request" scope ends yield-dependencies after sending).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Invalid authorization header: expected 'Bearer <token>'")
    return token.strip()


async def _user_from_token(session: AsyncSession, settings: Settings, token: str) -> User:
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as exc:
        raise Unauthorized("Invalid or expired token") from exc
    user = await session.get(User, claims.user_id)
    if user is None or user.token_version != claims.token_version:
        raise Unauthorized("Invalid or expired token")
    # End the read transaction now (the user stays loaded and attached): on SQLite every
    # transaction holds the write lock, and the handler may do slow network work (briefs,
    # providers) before it touches the database again.
    await session.commit()
    return user


async def current_user(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    token = _bearer(request)
    if token is None:
        raise Unauthorized("Not authenticated")
    user = await _user_from_token(session, settings, token)
    request.state.user_id = user.id
    return user


async def optional_user(
    request: Request, session: SessionDep, settings: SettingsDep
) -> User | None:
    """The caller when a bearer token is sent (an invalid one is still a 401)."""
    token = _bearer(request)
    if token is None:
        return None
    user = await _user_from_token(session, settings, token)
    request.state.user_id = user.id
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def client_ip(request: Request, settings: Settings | None = None) -> str:
    """The caller's address. ``X-Forwarded-For`` counts only when the direct peer is one of
    the configured trusted proxies; then the right-most untrusted hop is the client."""
    settings = settings or get_settings()
    peer = request.client.host if request.client else "unknown"
    if not settings.trusted_proxies:
        return peer
    nets = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip.version == n.version and ip in n for n in nets)

    if not trusted(peer):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else peer


async def _client_ip_dependency(request: Request, settings: SettingsDep) -> str:
    return client_ip(request, settings)


ClientIP = Annotated[str, Depends(_client_ip_dependency)]
