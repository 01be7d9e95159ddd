"""Is a configured secret strong enough to run outside development?

Length alone is not enough: ``"x" * 40`` is long and guessable. A secret is refused when
it is a known placeholder, shorter than ``MIN_LENGTH``, a repetition of a shorter unit
(``"abcd" * 10``, ``"0123456789" * 4``), or carries less than ``MIN_BITS`` of estimated
entropy (Shannon entropy of its characters × its length; a random 32-character hex string
has ~120 bits, ``secrets.token_urlsafe(32)`` ~220). ``nova secrets generate`` prints values
that pass.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections import Counter

MIN_LENGTH = 32
MIN_BITS = 85.0

# Values people paste from tutorials and templates (compared case-insensitively, and as the
# whole value with separators removed: "change_me", "Change-Me!" …).
PLACEHOLDERS = frozenset(
    {
        "",
        "changeme",
        "changemenow",
        "secret",
        "mysecret",
        "supersecret",
        "yoursecret",
        "yoursecretkey",
        "secretkey",
        "password",
        "placeholder",
        "example",
        "test",
        "devsecretchangeme",
        "devonlyjwtsecretchangemebeforedeploying",
        "devworkersecretchangeme",
        "yoursupersecretkeychangeme",
        "pleasechangeme",
        "replaceme",
        "todo",
    }
)


def _squash(value: str) -> str:
    return "".join(c for c in value.lower() if c.isalnum())


def estimated_bits(value: str) -> float:
    """Shannon entropy of the value's characters times its length (an upper bound on what
    the value can hold; low for repeated or few-symbol strings)."""
    if not value:
        return 0.0
    n = len(value)
    per_char = -sum(c / n * math.log2(c / n) for c in Counter(value).values())
    return per_char * n


def _repeats_a_unit(value: str) -> bool:
    n = len(value)
    return any(value == (value[:p] * (n // p + 1))[:n] for p in range(1, n // 2 + 1))


def problem(value: str, *, min_length: int = MIN_LENGTH) -> str | None:
    """Why ``value`` is not acceptable as a production secret, or None when it is."""
    if _squash(value) in PLACEHOLDERS or value.lower().startswith("dev-"):
        return "is a known placeholder"
    if "change-me" in value.lower() or "changeme" in _squash(value):
        return "is a placeholder (it says change me)"
    if len(value) < min_length:
        return f"is shorter than {min_length} characters"
    if _repeats_a_unit(value):
        return "is a repetition of a shorter string"
    if estimated_bits(value) < MIN_BITS:
        return "has too little entropy (too few distinct characters)"
    return None


def generate() -> dict[str, str]:
    """Fresh values for every secret Nova itself signs or encrypts with."""
    return {
        "NOVA_JWT_SECRET": secrets.token_urlsafe(48),
        "NOVA_WORKER_SECRET": secrets.token_urlsafe(48),
        # A Fernet key: 32 random bytes, url-safe base64.
        "NOVA_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
