from __future__ import annotations

import pytest
from pydantic import ValidationError

from flightdeck.settings import EnvVar, Settings


def test_database_must_be_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in EnvVar:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValidationError, match="FLIGHTDECK_DATABASE_URL"):
        Settings()


def test_emulator_endpoint_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EnvVar.DATABASE_URL, "postgresql://x/y")
    monkeypatch.setenv(EnvVar.STAGE, "prod")
    monkeypatch.setenv(EnvVar.AWS_ENDPOINT_URL, "http://127.0.0.1:4566")
    with pytest.raises(ValidationError, match="local emulation only"):
        Settings()


def test_env_var_names_are_the_settings_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EnvVar.DATABASE_URL, "postgresql://x/y")
    monkeypatch.setenv(EnvVar.STATE_MACHINE_ARN_PREFIX, "arn:prefix:")
    settings = Settings()
    assert settings.state_machine_arn("support_triage") == "arn:prefix:support_triage"
    fields = {f"FLIGHTDECK_{name.upper()}" for name in Settings.model_fields}
    assert {str(v) for v in EnvVar} <= fields


def test_database_url_from_secret_prefers_the_proxy_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from flightdeck.store.db import resolve_database_url

    class Secrets:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:
            assert SecretId == "arn:secret"
            secret = {
                "username": "fd",
                "password": "p@ss/word",
                "host": "db.internal",
                "port": 5432,
            }
            return {"SecretString": json.dumps(secret)}

    for var in EnvVar:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(EnvVar.DATABASE_SECRET_ARN, "arn:secret")
    direct = resolve_database_url(Settings(), Secrets())
    assert direct == "postgresql://fd:p%40ss%2Fword@db.internal:5432/flightdeck?sslmode=require"
    monkeypatch.setenv(EnvVar.DATABASE_HOST, "proxy.internal")
    assert "@proxy.internal:5432/" in resolve_database_url(Settings(), Secrets())
