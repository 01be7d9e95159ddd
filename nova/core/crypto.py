"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) keyed by ``NOVA_ENCRYPTION_KEY``.

The setting may hold several comma-separated keys: the first encrypts, all of them decrypt
(``MultiFernet``), so keys can be rotated without downtime.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

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
