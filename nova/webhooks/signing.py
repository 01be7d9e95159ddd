"""Webhook secrets and signatures, exactly as the API reference documents them.

The customer keeps the raw secret (shown once). The HMAC-SHA256 key is
``sha256(raw).hexdigest()``: ``X-Nova-Signature: sha256=<hex>`` over the raw request body.
Consequence of the documented scheme: that hash can sign, so it is a secret like the others
and is stored sealed (Fernet, ``nova.core.crypto.seal``: NOVA_ENCRYPTION_KEY, or a key
derived from the JWT secret until one is set), never returned, never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from nova.core import crypto
from nova.core.settings import Settings

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_PREFIX = "sha256="
SEAL_PURPOSE = "webhook-signing-keys"


def generate_secret() -> str:
    """A new raw secret (256 bits of randomness)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(raw_secret: str) -> str:
    """What Nova stores, and the HMAC key: SHA-256 hex of the raw secret."""
    return hashlib.sha256(raw_secret.encode()).hexdigest()


def seal_key(settings: Settings, raw_secret: str) -> str:
    """What Nova stores for a new secret: its signing key, sealed."""
    return crypto.seal(settings, SEAL_PURPOSE, hash_secret(raw_secret))


def open_key(settings: Settings, sealed: str) -> str:
    """The signing key of a stored webhook (raises ``crypto.DecryptionFailed``)."""
    return crypto.unseal(settings, SEAL_PURPOSE, sealed)


def sign(secret_hash: str, body: bytes) -> str:
    """The ``X-Nova-Signature`` header value for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(secret_hash.encode(), body, hashlib.sha256).hexdigest()


def verify(raw_secret: str, body: bytes, header: str) -> bool:
    """The receiver's check (the reference's Python example), for SDKs and docs."""
    return hmac.compare_digest(sign(hash_secret(raw_secret), body), header)
