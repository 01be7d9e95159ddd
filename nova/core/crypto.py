"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) keyed by ``NOVA_ENCRYPTION_KEY``.

The setting may hold several comma-separated keys: the first encrypts, all of them decrypt
(``MultiFernet``), so keys can be rotated without downtime.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from nova.core.errors import ServiceUnavailable
from nova.core.settings import Settings, get_settings


class EncryptionNotConfigured(ServiceUnavailable):
    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "Encryption is not configured: set NOVA_ENCRYPTION_KEY to a Fernet key "
            '(python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())")'
        )


class DecryptionFailed(Exception):
    """The stored token was not made with any configured key (wrong or rotated-out key)."""


def _fernet(settings: Settings | None = None) -> MultiFernet:
    settings = settings or get_settings()
    raw = settings.encryption_key.get_secret_value() if settings.encryption_key else ""
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise EncryptionNotConfigured()
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise EncryptionNotConfigured(
            "NOVA_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)"
        ) from exc


def encryption_configured(settings: Settings | None = None) -> bool:
    try:
        _fernet(settings)
    except EncryptionNotConfigured:
        return False
    return True


def encrypt(plaintext: str, settings: Settings | None = None) -> str:
    return _fernet(settings).encrypt(plaintext.encode()).decode()


def decrypt(token: str, settings: Settings | None = None) -> str:
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed(
            "stored secret cannot be decrypted with the configured keys"
        ) from exc


# --- sealing without a configured key ---------------------------------------------------------
# Secrets Nova must hold from day one (webhook signing keys) cannot wait for an operator to
# set NOVA_ENCRYPTION_KEY. They are sealed with its first key when it is set, otherwise with a
# key derived from the JWT secret (per purpose); every configured key and the derived one
# decrypt, so setting NOVA_ENCRYPTION_KEY later needs no migration of existing rows.


def sealer(settings: Settings, purpose: str) -> MultiFernet:
    raw = settings.encryption_key.get_secret_value() if settings.encryption_key else ""
    try:
        return _sealer(raw, settings.jwt_secret.get_secret_value(), purpose)
    except (ValueError, TypeError) as exc:
        raise EncryptionNotConfigured(
            "NOVA_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)"
        ) from exc


@functools.lru_cache(maxsize=16)
def _sealer(encryption_keys: str, jwt_secret: str, purpose: str) -> MultiFernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"nova", info=f"nova-{purpose}".encode()
    ).derive(jwt_secret.encode())
    keys = [Fernet(k.strip().encode()) for k in encryption_keys.split(",") if k.strip()]
    return MultiFernet([*keys, Fernet(base64.urlsafe_b64encode(derived))])


def seal(settings: Settings, purpose: str, plaintext: str) -> str:
    return sealer(settings, purpose).encrypt(plaintext.encode()).decode()


def unseal(settings: Settings, purpose: str, token: str) -> str:
    """Raises ``DecryptionFailed`` when no configured key (nor the derived one) opens it."""
    try:
        return _unseal(sealer(settings, purpose), token)
    except InvalidToken as exc:
        raise DecryptionFailed(
            "stored secret cannot be decrypted with the configured keys"
        ) from exc


# The few live sealed values are opened on every use (each webhook delivery): their
# plaintext stays in memory next to the key that opens them anyway.
@functools.lru_cache(maxsize=1024)
def _unseal(fernet: MultiFernet, token: str) -> str:
    return fernet.decrypt(token.encode()).decode()
