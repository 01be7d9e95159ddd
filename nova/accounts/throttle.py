"""Failed-login throttling: growing waits per account and per client, never a lockout.

Every attempt to log in is counted, before its password is checked, against three sets of
sliding windows in the shared rate limiter (in memory, or Redis for several replicas):

* the account from this client address (``login_limits_account_client``, strict: 5 a
  minute, 10 in 15 minutes, 20 an hour), cleared by a successful login;
* the account from anywhere (``login_limits_account``, loose: it bounds a distributed
  guesser), cleared by a password reset, so an owner an attacker keeps out always has a
  way back in;
* the client address over every account (``login_limits_client``: password spraying).

An attempt over any window is answered 429 with ``Retry-After`` (the longest wait among
the windows it is over) without checking the password, so a throttled guess costs no
argon2 work and tells nothing; it is not counted either. Each longer window makes the next wait longer: a minute,
then up to 15 minutes, then up to an hour. Windows slide, so every wait ends.
"""

from __future__ import annotations

import functools
import hashlib

from nova.core.errors import TooManyRequests
from nova.core.ratelimit import get_limiter
from nova.core.settings import Settings

Tier = tuple[int, int]  # (attempts, seconds)


@functools.lru_cache(maxsize=16)
def parse_tiers(spec: str) -> tuple[Tier, ...]:
    tiers = []
    for part in spec.split(","):
        count, _, seconds = part.strip().partition("/")
        tiers.append((int(count), int(seconds)))
    return tuple(tiers)


def _account(email: str) -> str:
    # Keys never carry the address itself (Redis keys show up in monitoring tools).
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def _groups(settings: Settings, email: str, ip: str) -> list[tuple[str, str]]:
    account = _account(email)
    return [
        (f"login:ac:{account}:{ip}", settings.login_limits_account_client),
        (f"login:a:{account}", settings.login_limits_account),
        (f"login:c:{ip}", settings.login_limits_client),
    ]


async def before_attempt(settings: Settings, email: str, ip: str) -> None:
    """Count this attempt; 429 (with Retry-After) when it is over any window."""
    limiter = get_limiter(settings)
    windows = [
        (f"{key}:{window}", limit, window)
        for key, spec in _groups(settings, email, ip)
        for limit, window in parse_tiers(spec)
    ]
    # Ask every window first, count in all of them only when all allow: a refused attempt
    # counts nowhere, so waiting out a 429 is enough (retrying during it does not make the
    # next wait longer). Concurrent attempts that pass the question together are still
    # held to the limit by the counting hit, which is atomic.
    wait = 0
    for record in (False, True):
        for key, limit, window in windows:
            decision = await limiter.hit(key, limit, window, record=record)
            if not decision.allowed:
                wait = max(wait, decision.retry_after)
        if wait:
            break
    if wait:
        raise TooManyRequests(
            f"Too many login attempts. Try again in {wait} seconds.", retry_after=wait
        )


async def _clear(settings: Settings, key: str, spec: str) -> None:
    limiter = get_limiter(settings)
    for _, window in parse_tiers(spec):
        await limiter.clear(f"{key}:{window}")


async def succeeded(settings: Settings, email: str, ip: str) -> None:
    """The right password from this client: its failures for the account are forgiven."""
    key, spec = _groups(settings, email, ip)[0]
    await _clear(settings, key, spec)


async def password_reset(settings: Settings, email: str) -> None:
    """The owner proved the mailbox: the account's count from everywhere starts over."""
    key, spec = _groups(settings, email, "")[1]
    await _clear(settings, key, spec)
