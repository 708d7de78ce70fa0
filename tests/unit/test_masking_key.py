"""Where the masking key comes from: the variable, the deployed secret, or the process."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from flightdeck import privacy


@pytest.fixture
def fresh_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No key chosen yet, no key configured (each test configures its own)."""
    monkeypatch.delenv(privacy.MASKING_KEY_ENV, raising=False)
    monkeypatch.delenv(privacy.MASKING_KEY_SECRET_ENV, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(privacy, "_key", None)
    yield
    privacy.set_masking_key(b"unit-test-key")


def expected(key: bytes, kind: str, value: str) -> str:
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"<{kind}:{digest[: privacy.TOKEN_HEX_DIGITS]}>"


def test_the_deployed_secret_is_the_key_of_every_token(
    fresh_key: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mock_aws():
        # Given the secret the stack makes, named by its ARN
        arn = boto3.client("secretsmanager").create_secret(
            Name="flightdeck/masking-key", SecretString="s3cret-masking-key"
        )["ARN"]
        monkeypatch.setenv(privacy.MASKING_KEY_SECRET_ENV, arn)

        # When an address is masked
        masked = privacy.mask_text("write to ana@example.com")

    # Then its token is the HMAC under that secret: the same in every function
    assert masked == f"write to {expected(b's3cret-masking-key', 'email', 'ana@example.com')}"


def test_the_variable_wins_over_the_secret(
    fresh_key: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(privacy.MASKING_KEY_ENV, "local-key")
    monkeypatch.setenv(privacy.MASKING_KEY_SECRET_ENV, "arn:aws:secretsmanager:nowhere")
    assert privacy.token("email", "ana@example.com") == expected(
        b"local-key", "email", "ana@example.com"
    )


def test_an_unreadable_secret_still_masks_with_a_process_key(
    fresh_key: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        # Given a secret ARN that names nothing
        monkeypatch.setenv(
            privacy.MASKING_KEY_SECRET_ENV,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf",
        )
        # When text is masked
        first = privacy.mask_text("card 4111 1111 1111 1111, ana@example.com")
        again = privacy.mask_text("ana@example.com")

    # Then nothing personal is left, tokens agree within the process, and the reason is said
    assert "4111" not in first
    assert "ana@example.com" not in first
    assert again in first
    assert (
        "masking key secret cannot be read (ResourceNotFoundException)" in capsys.readouterr().err
    )
