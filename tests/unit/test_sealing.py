"""Field-by-field sealing of trigger payloads, over a stand-in for Powertools' DataMasking (the
KMS path itself runs against the emulator in tests/integration/test_personal_data.py)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from flightdeck.store import sealing

TENANT = uuid.UUID(int=1)
RUN = uuid.UUID(int=2)


class StandIn:
    """Reversible, context-checking 'encryption': enough to see what is sealed and how."""

    def __init__(self) -> None:
        self.calls = 0

    def encrypt(self, data: Any, provider_options: Any = None, **context: str) -> str:
        self.calls += 1
        return base64.b64encode(json.dumps([context, data]).encode()).decode()

    def decrypt(self, data: str, provider_options: Any = None, **context: str) -> Any:
        sealed_context, value = json.loads(base64.b64decode(data))
        if sealed_context != context:
            raise ValueError("encryption context does not match")
        return value


@pytest.fixture
def sealer() -> sealing.TriggerSealer:
    return sealing.TriggerSealer(StandIn())


TICKET = {
    "ticket_id": "T-1",
    "customer_email": "jane@example.com",
    "subject": "call me on +44 20 7946 0958",
    "body": "hello",
    "channel": "email",
    "count": 3,
}


def test_personal_and_pii_fields_are_sealed_the_rest_stays_readable(
    sealer: sealing.TriggerSealer,
) -> None:
    sealed = sealer.seal(TICKET, tenant_id=TENANT, run_id=RUN, personal=("customer_email", "body"))

    assert sealing.is_sealed(sealed)
    assert sealing.is_envelope(sealed["customer_email"])
    assert sealing.is_envelope(sealed["body"])  # marked personal, though it holds no PII
    assert sealing.is_envelope(sealed["subject"])  # not marked, but holds a phone number
    assert sealed["ticket_id"] == "T-1"
    assert sealed["channel"] == "email"
    assert sealed["count"] == 3
    assert "jane" not in json.dumps(sealing.unsealed(sealed))
    assert sealing.unsealed(sealed)["body"] == "<encrypted>"


def test_a_sealed_payload_opens_to_what_was_sent(sealer: sealing.TriggerSealer) -> None:
    sealed = sealer.seal(TICKET, tenant_id=TENANT, run_id=RUN, personal=("customer_email",))

    assert sealer.open(sealed, tenant_id=TENANT, run_id=RUN) == TICKET
    assert sealer.seal(sealed, tenant_id=TENANT, run_id=RUN) == sealed  # not sealed twice


def test_plaintext_payloads_are_read_as_they_are(sealer: sealing.TriggerSealer) -> None:
    assert sealer.open(TICKET, tenant_id=TENANT, run_id=RUN) == TICKET
    assert sealer.open([1, 2], tenant_id=TENANT, run_id=RUN) == [1, 2]


def test_a_non_object_trigger_is_sealed_whole(sealer: sealing.TriggerSealer) -> None:
    sealed = sealer.seal(["jane@example.com"], tenant_id=TENANT, run_id=RUN)

    assert set(sealed) == {"$"}
    assert sealer.open(sealed, tenant_id=TENANT, run_id=RUN) == ["jane@example.com"]


def test_an_envelope_opens_only_for_its_tenant_run_and_field(
    sealer: sealing.TriggerSealer,
) -> None:
    sealed = sealer.seal(TICKET, tenant_id=TENANT, run_id=RUN, personal=("customer_email",))

    with pytest.raises(ValueError, match="context"):
        sealer.open(sealed, tenant_id=uuid.UUID(int=9), run_id=RUN)
    with pytest.raises(sealing.SealMismatchError):
        sealer.open(sealed, tenant_id=TENANT, run_id=uuid.UUID(int=9))
    moved = {**sealed, "body": sealed["customer_email"]}
    with pytest.raises(sealing.SealMismatchError):
        sealer.open(moved, tenant_id=TENANT, run_id=RUN)
    outbox = sealer.seal(TICKET, tenant_id=TENANT, run_id=RUN, scope="outbox:reply:")
    with pytest.raises(sealing.SealMismatchError):
        sealer.open(outbox, tenant_id=TENANT, run_id=RUN)
    assert sealer.open(outbox, tenant_id=TENANT, run_id=RUN, scope="outbox:reply:") == TICKET


def test_a_sealed_trigger_without_a_key_is_refused_not_passed_on() -> None:
    class Blobs:
        def inline_or_stored(self, inline: Any, ref: str | None) -> Any:
            return inline

    class Run:
        id = RUN
        tenant_id = TENANT
        trigger_payload = sealing.TriggerSealer(StandIn()).seal(
            TICKET, tenant_id=TENANT, run_id=RUN, personal=("body",)
        )
        trigger_ref = None

    with pytest.raises(sealing.TriggerKeyMissingError):
        sealing.open_trigger(Blobs(), None, Run())  # type: ignore[arg-type]
