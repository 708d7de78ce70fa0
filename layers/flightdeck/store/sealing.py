"""Trigger payloads stored encrypted field by field (KMS through Powertools data masking).

A trigger's top-level fields are sealed one by one when the workflow's input model marks them
personal (`flightdeck.privacy.PERSONAL`) or when any text in them holds personal data (an
e-mail address, phone, card number or IBAN); the other fields stay readable, so the run list
can still filter on a ticket id or a channel. A sealed field is an envelope:

    {"$sealed": "esdk-kms/1", "ciphertext": "<base64 AWS Encryption SDK message>"}

The ciphertext is Powertools' `DataMasking.encrypt` of the field's JSON value through the
`AWSEncryptionSDKProvider`: a data key from KMS (cached for five minutes or 4,096 messages, so
sealing does not call KMS per field), AES-256-GCM with key commitment, no signature (the
message is stored and read back by the same party). The encryption context names the tenant
(KMS logs it; decrypting under another tenant fails); the run id and field name are sealed
beside the value and checked on opening, so an envelope copied to another run or field does
not open there. (Putting them in the context instead would key the data-key cache per run and
cost a KMS call per field of every webhook.)

Only the node runner (a run's first node) and the re-run path open triggers. A value without
the envelope marker is read as it is: plaintext payloads stored before migration 0011 stay
readable (`RunService.seal_stored_triggers` encrypts them in place).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from flightdeck import privacy

if TYPE_CHECKING:
    from flightdeck.store.blobs import BlobStore
    from flightdeck.store.runs import Run

SEALED = "$sealed"
FORMAT = "esdk-kms/1"
CIPHERTEXT = "ciphertext"


class Encryptor(Protocol):
    """What sealing needs of Powertools' `DataMasking`."""

    def encrypt(
        self, data: Any, provider_options: dict[str, Any] | None = None, **context: str
    ) -> str: ...

    def decrypt(
        self, data: str, provider_options: dict[str, Any] | None = None, **context: str
    ) -> Any: ...


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SEALED) == FORMAT and CIPHERTEXT in value


def is_sealed(payload: Any) -> bool:
    """Whether any field of `payload` is an envelope."""
    return isinstance(payload, dict) and any(is_envelope(v) for v in payload.values())


def needs_sealing(key: str, value: Any, personal: frozenset[str]) -> bool:
    if value is None or is_envelope(value):
        return False
    if key in personal:
        return True
    return _holds_personal_text(value, 0)


def _holds_personal_text(value: Any, depth: int) -> bool:
    if isinstance(value, str):
        return privacy.contains_personal_data(value)
    if depth > 32:
        return True
    if isinstance(value, dict):
        return any(
            privacy.is_personal_key(str(k)) or _holds_personal_text(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_holds_personal_text(v, depth + 1) for v in value)
    return False


def unsealed(payload: Any) -> Any:
    """A readable view without opening anything: envelopes become `"<encrypted>"` (for what
    an API may show of a sealed payload)."""
    if not isinstance(payload, dict):
        return payload
    return {k: "<encrypted>" if is_envelope(v) else v for k, v in payload.items()}


class TriggerSealer:
    def __init__(self, encryptor: Encryptor, *, provider_options: dict[str, Any] | None = None):
        self._encryptor = encryptor
        self._options = provider_options

    def seal(
        self,
        payload: Any,
        *,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        personal: Iterable[str] = (),
        scope: str = "",
    ) -> Any:
        """`payload` with its personal fields replaced by envelopes; anything that is not a
        JSON object is sealed whole under the field name `$`. `scope` tells apart payloads of
        one run (a trigger: "", an outbox entry: "outbox:<key>:")."""
        top = frozenset(p.split(".", 1)[0] for p in personal)
        if not isinstance(payload, dict):
            return {"$": self._envelope(payload, tenant_id, run_id, scope + "$")}
        return {
            key: self._envelope(value, tenant_id, run_id, scope + key)
            if needs_sealing(key, value, top)
            else value
            for key, value in payload.items()
        }

    def open(
        self, payload: Any, *, tenant_id: uuid.UUID, run_id: uuid.UUID, scope: str = ""
    ) -> Any:
        """The payload as it was sent. Plaintext (never sealed) payloads come back unchanged."""
        if not is_sealed(payload):
            return payload
        opened = {
            key: self._decrypt(value, tenant_id, run_id, scope + key)
            if is_envelope(value)
            else value
            for key, value in payload.items()
        }
        if set(opened) == {"$"}:
            return opened["$"]
        return opened

    def _envelope(
        self, value: Any, tenant_id: uuid.UUID, run_id: uuid.UUID, field: str
    ) -> dict[str, str]:
        sealed = {"run": str(run_id), "field": field, "value": value}
        ciphertext = self._encryptor.encrypt(sealed, self._options, **_context(tenant_id))
        return {SEALED: FORMAT, CIPHERTEXT: ciphertext}

    def _decrypt(
        self, envelope: dict[str, Any], tenant_id: uuid.UUID, run_id: uuid.UUID, field: str
    ) -> Any:
        # The message names its algorithm: decrypting takes no options.
        sealed = self._encryptor.decrypt(envelope[CIPHERTEXT], None, **_context(tenant_id))
        if not isinstance(sealed, dict) or (sealed.get("run"), sealed.get("field")) != (
            str(run_id),
            field,
        ):
            raise SealMismatchError(f"the sealed value of {field!r} belongs to another run")
        return sealed["value"]


class TriggerKeyMissingError(RuntimeError):
    """A sealed trigger must be opened (or a trigger sealed) where no key is configured."""


class SealMismatchError(ValueError):
    """An envelope opened under the right key but for another run or field."""


def _context(tenant_id: uuid.UUID) -> dict[str, str]:
    return {"flightdeck:tenant": str(tenant_id)}


def open_trigger(blobs: BlobStore, sealer: TriggerSealer | None, run: Run) -> Any:
    """The run's trigger as it was sent: read from S3 when it was large, its sealed fields
    decrypted. Only the node runner (a run's first node) and re-runs call this."""
    payload = blobs.inline_or_stored(run.trigger_payload, run.trigger_ref)
    if not is_sealed(payload):
        return payload
    if sealer is None:
        raise TriggerKeyMissingError(
            f"run {run.id}'s trigger is encrypted and no trigger key is configured"
        )
    return sealer.open(payload, tenant_id=run.tenant_id, run_id=run.id)


def kms_sealer(key_arn: str, *, region: str, endpoint_url: str | None = None) -> TriggerSealer:
    """The sealer for a KMS key: Powertools' `AWSEncryptionSDKProvider`, its KMS clients built
    from a botocore session whose configuration names the region (and, locally, the emulator's
    endpoint)."""
    import functools
    import json

    import botocore.session
    from aws_encryption_sdk import CachingCryptoMaterialsManager, StrictAwsKmsMasterKeyProvider
    from aws_encryption_sdk.identifiers import Algorithm
    from aws_lambda_powertools.utilities.data_masking import DataMasking
    from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import (
        AWSEncryptionSDKProvider,
        KMSKeyProvider,
    )

    session = botocore.session.Session()
    config = session.get_component("config_store")
    config.set_config_variable("region", region)
    if endpoint_url:
        config.set_config_variable("endpoint_url", endpoint_url)
    keys = KMSKeyProvider(
        keys=[key_arn],
        json_serializer=functools.partial(json.dumps, ensure_ascii=False),
        json_deserializer=json.loads,
    )
    # The same caching materials manager Powertools builds, over a key provider that uses
    # this session rather than a default one.
    keys.key_provider = StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=session)
    keys.cache_cmm = CachingCryptoMaterialsManager(
        master_key_provider=keys.key_provider,
        cache=keys.cache,
        max_age=keys.cache_cmm.max_age,
        max_messages_encrypted=keys.cache_cmm.max_messages_encrypted,
        max_bytes_encrypted=keys.cache_cmm.max_bytes_encrypted,
    )
    return TriggerSealer(
        DataMasking(provider=AWSEncryptionSDKProvider(keys=[key_arn], key_provider=keys)),
        provider_options={"algorithm": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY},
    )
