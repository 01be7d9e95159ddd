"""Settings refuse placeholder secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nova.core.settings import DEV_JWT_SECRET, Settings

GOOD = "kJ3-vQ9_pL2mN8zR4tW7yB1cX6dF0gH5sA"  # 34 random-looking characters


@pytest.mark.parametrize(
    "secret", ["", "change-me", "dev-secret-change-me", DEV_JWT_SECRET, "secret", "short-1"]
)
@pytest.mark.parametrize("env", ["production", "test"])
def test_placeholder_or_short_jwt_secret_refused(env, secret):
    with pytest.raises(ValidationError, match="NOVA_JWT_SECRET"):
        Settings(env=env, jwt_secret=secret, worker_secret=GOOD)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("x" * 40, "repetition"),
        ("abcd" * 10, "repetition"),
        ("0123456789abcdef" * 3, "repetition"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "entropy"),
        ("abababababababababababababababababababc", "entropy"),
        ("please-change-me-this-is-our-jwt-secret", "placeholder"),
        ("dev-" + GOOD, "placeholder"),
        ("Change_Me", "placeholder"),
    ],
)
def test_long_but_weak_secrets_refused(secret, why):
    """Finding 8: length alone is not strength."""
    with pytest.raises(ValidationError, match=f"NOVA_JWT_SECRET .*{why}"):
        Settings(env="production", jwt_secret=secret, worker_secret=GOOD)
    with pytest.raises(ValidationError, match=f"NOVA_WORKER_SECRET .*{why}"):
        Settings(env="production", jwt_secret=GOOD, worker_secret=secret)


def test_generated_secrets_are_accepted_and_fresh():
    from nova.core import secret_strength

    seen = set()
    for _ in range(200):
        values = secret_strength.generate()
        assert secret_strength.problem(values["NOVA_JWT_SECRET"]) is None
        assert secret_strength.problem(values["NOVA_WORKER_SECRET"]) is None
        seen.add(values["NOVA_JWT_SECRET"])
        Settings(
            env="production",
            jwt_secret=values["NOVA_JWT_SECRET"],
            worker_secret=values["NOVA_WORKER_SECRET"],
            encryption_key=values["NOVA_ENCRYPTION_KEY"],
        )
        from cryptography.fernet import Fernet

        Fernet(values["NOVA_ENCRYPTION_KEY"].encode())  # a valid Fernet key
    assert len(seen) == 200


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
