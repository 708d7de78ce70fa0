"""LangGraph checkpoints encrypted under a tenant's data key.

A run's checkpoints hold its state, and its state holds the trigger as sent (the customer's
address, the ticket's text): the runner opens the sealed trigger for the entry node, and
LangGraph serialises the state into `checkpoint_blobs` and `checkpoint_writes`. Those blobs are
encrypted here with AES-256-GCM, LangGraph's own `EncryptedSerializer` around its usual
serializer, so its tooling still reads the threads given the cipher.

Each tenant has data keys (`tenant_data_keys`, migration 0014): 256-bit keys made by KMS
(`GenerateDataKey` under the trigger key, the tenant in the encryption context), stored only
as KMS ciphertext, decrypted once per process and kept in memory. A blob names the key that
encrypted it (`aesgcm-<key id>`), so a newer key never stops an older checkpoint from opening.
Checkpoints written before encryption (or where no key is configured) stay readable as they are.

The runner calls `use(conn, tenant_id)` in the run's tenant scope before it touches the graph:
that loads the tenant's keys (LangGraph's reads and writes then happen without another query
on the connection LangGraph is using). `serializer(tenant_id)` then names the key new blobs are
encrypted with itself, whatever thread LangGraph writes from (it saves checkpoints from its
own worker threads).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from flightdeck.store.db import Connection

PURPOSE = "checkpoints"
_PREFIX = "aesgcm-"
_NONCE_BYTES = 12
# Bound to the ciphertext: a blob moved into another kind of record does not open.
_AAD = b"flightdeck:checkpoint"


class CheckpointKeyError(RuntimeError):
    """A checkpoint to encrypt or open without its tenant's key loaded."""


class CheckpointCipher:
    """The loaded tenants' data keys: each tenant's `TenantCipher` (LangGraph's
    `CipherProtocol`) encrypts with its newest, and any loaded key opens what it encrypted."""

    def __init__(self, kms: Any, key_arn: str) -> None:
        self._kms = kms
        self._key_arn = key_arn
        self._keys: dict[uuid.UUID, Any] = {}  # key id -> AESGCM
        # The key each loaded tenant encrypts with (its newest when the process loaded it: a
        # newer generation is taken up by processes started after it was made).
        self._newest: dict[uuid.UUID, uuid.UUID] = {}
        self._serializers: dict[uuid.UUID, Any] = {}

    def tenant_cipher(self, tenant_id: uuid.UUID) -> TenantCipher:
        """LangGraph's `CipherProtocol` encrypting new blobs with the tenant's newest key (and
        opening any loaded key's). Call `use` for the tenant first."""
        key_id = self._newest.get(tenant_id)
        if key_id is None:
            raise CheckpointKeyError(f"no key loaded for tenant {tenant_id}: call use() first")
        return TenantCipher(self, key_id)

    def serializer(self, tenant_id: uuid.UUID) -> Any:
        """LangGraph's serializer with the tenant's cipher around it; one per key, kept."""
        from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

        cipher = self.tenant_cipher(tenant_id)
        found = self._serializers.get(cipher.key_id)
        if found is None:
            found = self._serializers[cipher.key_id] = EncryptedSerializer(
                cipher, JsonPlusSerializer()
            )
        return found

    def use(self, conn: Connection, tenant_id: uuid.UUID) -> None:
        """Load the tenant's keys (creating its first), once per process. Call in the tenant's
        scope."""
        if tenant_id in self._newest:
            return
        rows = conn.execute(
            "SELECT id, encrypted_key FROM tenant_data_keys"
            " WHERE tenant_id = %s AND purpose = %s ORDER BY generation DESC",
            (tenant_id, PURPOSE),
        ).fetchall()
        if not rows:
            rows = [self._create(conn, tenant_id)]
        for row in rows:
            if row["id"] not in self._keys:
                self._keys[row["id"]] = self._open(tenant_id, bytes(row["encrypted_key"]))
        self._newest[tenant_id] = rows[0]["id"]

    def encrypt_with(self, key_id: uuid.UUID, plaintext: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE_BYTES)
        return _PREFIX + key_id.hex, nonce + self._keys[key_id].encrypt(nonce, plaintext, _AAD)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if not ciphername.startswith(_PREFIX):
            raise CheckpointKeyError(f"unknown checkpoint cipher {ciphername!r}")
        key_id = uuid.UUID(hex=ciphername[len(_PREFIX) :])
        key = self._keys.get(key_id)
        if key is None:
            raise CheckpointKeyError(f"checkpoint key {key_id} is not loaded for this tenant")
        nonce, sealed = ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:]
        data: bytes = key.decrypt(nonce, sealed, _AAD)
        return data

    def _context(self, tenant_id: uuid.UUID) -> dict[str, str]:
        return {"flightdeck:tenant": str(tenant_id), "flightdeck:purpose": PURPOSE}

    def _create(self, conn: Connection, tenant_id: uuid.UUID) -> dict[str, Any]:
        made = self._kms.generate_data_key(
            KeyId=self._key_arn, KeySpec="AES_256", EncryptionContext=self._context(tenant_id)
        )
        key_id = uuid.uuid4()
        # Two first steps of one tenant at once: one key wins, the other reads it back.
        conn.execute(
            "INSERT INTO tenant_data_keys (id, tenant_id, purpose, encrypted_key)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, purpose, generation) DO NOTHING",
            (key_id, tenant_id, PURPOSE, made["CiphertextBlob"]),
        )
        row = conn.execute(
            "SELECT id, encrypted_key FROM tenant_data_keys"
            " WHERE tenant_id = %s AND purpose = %s ORDER BY generation DESC LIMIT 1",
            (tenant_id, PURPOSE),
        ).fetchone()
        assert row is not None
        return dict(row)

    def _open(self, tenant_id: uuid.UUID, encrypted_key: bytes) -> Any:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        plain = self._kms.decrypt(
            CiphertextBlob=encrypted_key,
            KeyId=self._key_arn,
            EncryptionContext=self._context(tenant_id),
        )["Plaintext"]
        return AESGCM(plain)


class TenantCipher:
    """`CheckpointCipher` with the key new blobs are encrypted with fixed: one tenant's."""

    def __init__(self, cipher: CheckpointCipher, key_id: uuid.UUID) -> None:
        self._cipher = cipher
        self.key_id = key_id

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return self._cipher.encrypt_with(self.key_id, plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        return self._cipher.decrypt(ciphername, ciphertext)
