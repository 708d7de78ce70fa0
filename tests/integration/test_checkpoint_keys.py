"""LangGraph checkpoints encrypted under per-tenant data keys made by KMS (the emulator's)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from flightdeck.engine.checkpoint_keys import CheckpointCipher, CheckpointKeyError
from flightdeck.store import tenants
from tests.conftest import Platform


def fresh_cipher(platform: Platform) -> CheckpointCipher:
    """The cipher a newly started process would build."""
    svc = platform.services
    assert svc.settings.trigger_key_id is not None
    return CheckpointCipher(svc.client("kms"), svc.settings.trigger_key_id)


def key_rows(platform: Platform, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    with platform.services.tenant(tenant_id) as conn:
        return list(conn.execute("SELECT id, encrypted_key FROM tenant_data_keys").fetchall())


def test_a_tenant_gets_one_key_that_every_process_opens(platform: Platform) -> None:
    svc = platform.services
    first = fresh_cipher(platform)
    with svc.tenant(platform.tenant_id) as conn:
        first.use(conn, platform.tenant_id)
    name, blob = first.tenant_cipher(platform.tenant_id).encrypt(b"the customer's ticket")
    rows = key_rows(platform, platform.tenant_id)
    assert len(rows) == 1
    assert name == "aesgcm-" + rows[0]["id"].hex
    # Only KMS ciphertext is stored: the stored bytes are not the key that encrypted.
    assert b"the customer's ticket" not in blob

    # Another process loads the same key (no second one is made) and opens the blob.
    second = fresh_cipher(platform)
    with svc.tenant(platform.tenant_id) as conn:
        second.use(conn, platform.tenant_id)
    assert second.decrypt(name, blob) == b"the customer's ticket"
    assert len(key_rows(platform, platform.tenant_id)) == 1


def test_another_tenants_key_never_opens_a_checkpoint(platform: Platform) -> None:
    svc = platform.services
    with svc.pool.connection() as conn:
        other = tenants.create_tenant(conn, "other-keys", "Other").id
    mine = fresh_cipher(platform)
    with svc.tenant(platform.tenant_id) as conn:
        mine.use(conn, platform.tenant_id)
    name, blob = mine.tenant_cipher(platform.tenant_id).encrypt(b"state")

    theirs = fresh_cipher(platform)
    with svc.tenant(other) as conn:
        theirs.use(conn, other)
    with pytest.raises(CheckpointKeyError):
        theirs.decrypt(name, blob)
    # A tampered blob fails authentication, with the right key loaded.
    with pytest.raises(InvalidTag):
        mine.decrypt(name, blob[:-1] + bytes([blob[-1] ^ 1]))


def test_nothing_is_encrypted_before_a_tenant_key_is_loaded(platform: Platform) -> None:
    with pytest.raises(CheckpointKeyError):
        fresh_cipher(platform).tenant_cipher(platform.tenant_id)
