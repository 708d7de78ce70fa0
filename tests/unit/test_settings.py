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
