"""Password hashing (argon2id) and access tokens (JWT, HS256 only)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from nova.core import clock
from nova.core.settings import Settings

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
ALGORITHM = "HS256"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A valid hash of a random password: verifying against it when the account does not
    exist keeps login timing the same for known and unknown emails. Made on first use (not
    at import: it costs ~150 ms, which every CLI command would pay)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# --- off the event loop ------------------------------------------------------------------
# argon2id costs ~50-150 ms of CPU by design. Run on the event loop, 30 concurrent logins
# stall every other request for seconds. These run it on a small pool of its own threads
# (argon2-cffi releases the GIL while hashing): at most ``password_hash_threads`` hashes at
# once, the rest wait their turn in the pool's queue, and the loop keeps serving.
_pool: ThreadPoolExecutor | None = None
HASH_THREAD_NICE = 10


def _hash_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        from nova.core.settings import get_settings

        threads = max(1, get_settings().password_hash_threads)
        _pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="nova-argon2", initializer=_yield_cpu
        )
    return _pool


def _yield_cpu() -> None:
    """Run this hashing thread at a lower OS priority (Linux schedules threads, so this is
    the thread's own nice value): when the cores are busy hashing, the event loop's thread
    still gets the CPU first and keeps answering."""
    # Not Linux, or not permitted: the thread runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICE)


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_hash_pool(), hash_password, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    return await asyncio.get_running_loop().run_in_executor(
        _hash_pool(), verify_password, password, password_hash
    )


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    token_version: int
    jti: str


class InvalidToken(Exception):  # noqa: N818
    pass


def create_access_token(settings: Settings, user_id: str, token_version: int) -> str:
    now = clock.now()
    claims = {
        "sub": user_id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.jwt_ttl_seconds)).timestamp()),
        "jti": uuid.uuid4().hex,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "ver": token_version,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require": ["sub", "iat", "exp", "jti", "iss", "aud"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    # Expiry is checked against Nova's clock so tests can move time. (``iat`` is required
    # but not compared with the clock: only Nova can sign a token, and PyJWT's own check
    # uses the wall clock, which tests do not control.)
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= clock.now().timestamp():
        raise InvalidToken("token expired")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("bad subject")
    ver = claims.get("ver", 0)
    if not isinstance(ver, int):
        raise InvalidToken("bad token version")
    return TokenClaims(user_id=sub, token_version=ver, jti=str(claims["jti"]))


def random_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def keyed_hash(secret: str, value: str) -> str:
    """HMAC-SHA256 of a short secret value (OTP/reset codes), keyed with a server secret."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
