"""Webhook secrets and signatures, exactly as the API reference documents them.

The customer keeps the raw secret (shown once). Nova stores only ``sha256(raw).hexdigest()``
and that hex string is the HMAC-SHA256 key: ``X-Nova-Signature: sha256=<hex>`` over the raw
request body. Consequence of the documented scheme: the stored hash can sign, so it is
treated as a secret (never returned, never logged).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_PREFIX = "sha256="


def generate_secret() -> str:
    """A new raw secret (256 bits of randomness)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(raw_secret: str) -> str:
    """What Nova stores, and the HMAC key: SHA-256 hex of the raw secret."""
    return hashlib.sha256(raw_secret.encode()).hexdigest()


def sign(secret_hash: str, body: bytes) -> str:
    """The ``X-Nova-Signature`` header value for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(secret_hash.encode(), body, hashlib.sha256).hexdigest()


def verify(raw_secret: str, body: bytes, header: str) -> bool:
    """The receiver's check (the reference's Python example), for SDKs and docs."""
    return hmac.compare_digest(sign(hash_secret(raw_secret), body), header)
