from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from nova.core.crypto import (
    DecryptionFailed,
    EncryptionNotConfigured,
    decrypt,
    encrypt,
    encryption_configured,
)


def test_round_trip_and_key_rotation(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.encryption_key = SecretStr(old)
    token = encrypt("top-secret-value", settings)
    assert "top-secret-value" not in token
    assert decrypt(token, settings) == "top-secret-value"
    # Rotation: the new key encrypts, the old one still decrypts.
    settings.encryption_key = SecretStr(f"{new},{old}")
    assert decrypt(token, settings) == "top-secret-value"
    assert Fernet(new.encode()).decrypt(encrypt("x", settings).encode()) == b"x"
    # Once the old key is gone, old tokens fail with a clear error (no plaintext leak).
    settings.encryption_key = SecretStr(new)
    with pytest.raises(DecryptionFailed):
        decrypt(token, settings)


def test_missing_or_invalid_key_is_a_clear_error(settings):
    settings.encryption_key = None
    assert not encryption_configured(settings)
    with pytest.raises(EncryptionNotConfigured) as exc:
        encrypt("x", settings)
    assert exc.value.status_code == 503 and "NOVA_ENCRYPTION_KEY" in exc.value.detail
    settings.encryption_key = SecretStr("not-a-fernet-key")
    with pytest.raises(EncryptionNotConfigured) as exc:
        encrypt("x", settings)
    assert "not a valid Fernet key" in exc.value.detail
