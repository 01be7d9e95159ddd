"""Settings refuse placeholder secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nova.core.settings import DEV_JWT_SECRET, Settings

GOOD = "x" * 40


@pytest.mark.parametrize(
    "secret", ["", "change-me", "dev-secret-change-me", DEV_JWT_SECRET, "secret", "short-1"]
)
@pytest.mark.parametrize("env", ["production", "test"])
def test_placeholder_or_short_jwt_secret_refused(env, secret):
    with pytest.raises(ValidationError, match="NOVA_JWT_SECRET"):
        Settings(env=env, jwt_secret=secret, worker_secret=GOOD)


def test_placeholder_worker_secret_refused():
    with pytest.raises(ValidationError, match="NOVA_WORKER_SECRET"):
        Settings(env="production", jwt_secret=GOOD, worker_secret="dev-worker-secret-change-me")


def test_development_accepts_placeholders_and_production_accepts_real_secrets(monkeypatch):
    monkeypatch.delenv("NOVA_JWT_SECRET")
    dev = Settings(_env_file=None, env="development")
    assert dev.jwt_secret.get_secret_value() == DEV_JWT_SECRET
    assert len(DEV_JWT_SECRET) >= 32  # no PyJWT short-key warning in development
    prod = Settings(env="production", jwt_secret=GOOD, worker_secret=GOOD)
    assert prod.env == "production"
    assert GOOD not in repr(prod)  # secrets are masked


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("NOVA_ENV", "production")
    monkeypatch.setenv("NOVA_JWT_SECRET", "change-me")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("NOVA_JWT_SECRET", GOOD)
    monkeypatch.setenv("NOVA_WORKER_SECRET", GOOD)
    monkeypatch.setenv("NOVA_CORS_ORIGINS", '["https://app.example.com"]')
    monkeypatch.setenv("LIVEKIT_URL", "wss://lk.example.com")
    s = Settings()
    assert s.cors_origins == ["https://app.example.com"]
    assert s.livekit_url == "wss://lk.example.com"
    assert s.livekit_configured is False  # key and secret missing


def test_defaults_cors_none_sqlite_file(monkeypatch):
    monkeypatch.delenv("NOVA_DATABASE_URL")
    s = Settings(_env_file=None, env="development")
    assert s.cors_origins == []
    assert s.is_sqlite and s.database_url == "sqlite+aiosqlite:///./nova.db"


def test_every_setting_is_documented_in_env_example():
    """Each Settings field appears in .env.example under its environment name."""
    from pathlib import Path

    from pydantic import AliasChoices

    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    lines = text.splitlines()
    missing = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = list(alias.choices) if isinstance(alias, AliasChoices) else [f"NOVA_{name.upper()}"]
        hits = [
            i
            for i, ln in enumerate(lines)
            if any(ln.lstrip("# ").startswith(f"{n}=") for n in names)
        ]
        if not hits:
            missing.append(name)
    assert missing == [], f"settings missing from .env.example: {missing}"
