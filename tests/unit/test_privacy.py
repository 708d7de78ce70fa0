"""The masking module's detectors (true and false positives), its tokens, personal fields, and
the log formatter every Lambda function's records go through."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any, cast

import pytest
from pydantic import BaseModel, Field

from flightdeck import observability, privacy
from flightdeck.settings import EnvVar
from flightdeck.workflows.support_triage.state import TicketInput


@pytest.fixture(autouse=True)
def fixed_key() -> Iterator[None]:
    privacy.set_masking_key(b"unit-test-key")
    yield
    privacy.set_masking_key(b"unit-test-key")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write to jane.doe+orders@example.co.uk today", "email"),
        ("JANE@EXAMPLE.COM", "email"),
        ("card 4111 1111 1111 1111 please", "card"),
        ("card 4111-1111-1111-1111", "card"),
        ("card 4111111111111111", "card"),
        ("amex 3782 822463 10005", "card"),
        ("iban GB82 WEST 1234 5698 7654 32", "iban"),
        ("iban GB82WEST12345698765432", "iban"),
        ("DE89 3704 0044 0532 0130 00", "iban"),
        ("call +44 20 7946 0958", "phone"),
        ("call (415) 555-2671", "phone"),
        ("call 415-555-2671", "phone"),
        ("call 020 7946 0958", "phone"),
    ],
)
def test_personal_data_is_replaced_by_its_token(text: str, kind: str) -> None:
    masked = privacy.mask_text(text)

    assert f"<{kind}:" in masked
    assert privacy.contains_personal_data(text)


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567812345678 shipped",  # 16 digits failing Luhn
        "order 4111 1111 1111 1112",  # card-shaped, Luhn fails
        "iban GB82WEST12345698765433",  # mod-97 fails
        "run 3f2a9c1b-0000-4000-8000-123456789012 at 2026-11-30T07:52:00Z",
        "took 12.5 ms on port 4566, 127.0.0.1:8000, v1.2.3",
        "invoice 2025-01-02, ticket T-2002, 3 items",
        "no at sign here",
    ],
)
def test_look_alikes_stay_readable(text: str) -> None:
    assert privacy.mask_text(text) == text
    assert not privacy.contains_personal_data(text)


def test_checks_agree_with_known_numbers() -> None:
    assert privacy.luhn_valid("4111111111111111")
    assert not privacy.luhn_valid("4111111111111112")
    assert privacy.iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not privacy.iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not privacy.iban_valid("GB82")


def test_tokens_are_stable_keyed_and_not_the_value() -> None:
    a = privacy.mask_text("mail jane@example.com")
    b = privacy.mask_text("from JANE@example.com!")
    token = a.split()[-1]

    assert token in b  # the same address, however written, gives one token
    assert "jane" not in token
    privacy.set_masking_key(b"another key")
    assert token not in privacy.mask_text("mail jane@example.com")


def test_card_token_ignores_separators() -> None:
    spaced = privacy.mask_text("4111 1111 1111 1111")
    assert spaced == privacy.mask_text("4111-1111-1111-1111")
    assert spaced == privacy.mask_text("4111111111111111")


def test_structures_are_masked_by_value_and_by_personal_key() -> None:
    value = {
        "customer_email": "not-an-address",
        "nested": [{"note": "card 4111111111111111"}, 3, None, True],
        "count": 2,
    }

    masked = privacy.mask_value(value, personal_keys=("count",))

    assert masked["customer_email"].startswith("<personal:")
    assert masked["nested"][0]["note"].startswith("card <card:")
    assert masked["nested"][1:] == [3, None, True]
    assert masked["count"].startswith("<personal:")
    assert privacy.mask_value(masked, personal_keys=("count",)) == masked  # idempotent


def test_span_attributes_keep_their_keys_and_types() -> None:
    attributes = {
        "flightdeck.run_id": "3f2a9c1b-0000-4000-8000-123456789012",
        "flightdeck.tokens": 120,
        "flightdeck.cost": 0.0012,
        "flightdeck.node": "decide",
        "error.message": "cannot send to bob@example.org",
        "customer.email": "bob@example.org",
        "tags": ["x", "4111111111111111"],
    }

    masked = privacy.mask_attributes(attributes)

    assert set(masked) == set(attributes)
    assert masked["flightdeck.tokens"] == 120
    assert masked["flightdeck.cost"] == 0.0012
    assert masked["flightdeck.run_id"] == attributes["flightdeck.run_id"]
    assert masked["error.message"].startswith("cannot send to <email:")
    assert masked["customer.email"].startswith("<email:")
    assert masked["tags"][1].startswith("<card:")


class Contact(BaseModel):
    full_name: str = Field(json_schema_extra=privacy.PERSONAL)
    city: str


class Order(BaseModel):
    order_id: str
    contact: Contact
    note: str = Field(json_schema_extra=privacy.PERSONAL)


def test_personal_fields_are_found_through_nested_models() -> None:
    assert privacy.personal_fields(Order) == ("contact.full_name", "note")
    assert privacy.personal_fields(TicketInput) == ("customer_email", "body")


def test_registered_names_are_masked_wherever_they_appear_but_generic_ones_are_not() -> None:
    class Signup(BaseModel):
        loyalty_holder: str = Field(json_schema_extra=privacy.PERSONAL)
        message: str = Field(json_schema_extra=privacy.PERSONAL)

    privacy.register_personal_model(Signup)

    masked = privacy.mask_value({"loyalty_holder": "Ada Lovelace", "message": "hi Ada"})
    assert masked["loyalty_holder"].startswith("<personal:")
    assert masked["message"] == "hi Ada"


def test_the_masking_key_variables_are_the_settings_ones() -> None:
    assert privacy.MASKING_KEY_ENV == EnvVar.MASKING_KEY
    assert privacy.MASKING_KEY_SECRET_ENV == EnvVar.MASKING_KEY_SECRET


def test_every_log_record_is_masked_before_it_is_written() -> None:
    # Given the platform's logger writing to a buffer
    buffer = io.StringIO()
    handler = cast(logging.StreamHandler[Any], observability.logger.logger_handler)
    previous = handler.setStream(buffer)
    try:
        # When a message, an extra key, a personal key and an exception carry personal data
        observability.logger.info(
            "reply to jane@example.com",
            extra={"ticket": {"body": "card 4111 1111 1111 1111"}, "customer_email": "x@y"},
        )
        try:
            raise ValueError("IBAN GB82WEST12345698765432 refused")
        except ValueError:
            observability.logger.exception("payment failed")
        # ... also through a module logger under the package
        logging.getLogger("flightdeck.engine.callbacks").warning("to %s", "bob@example.org")
    finally:
        handler.setStream(previous)

    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    text = buffer.getvalue()
    # Then the lines are there, with tokens in place of the data
    assert len(lines) == 3
    assert lines[0]["message"].startswith("reply to <email:")
    assert lines[0]["ticket"]["body"].startswith("card <card:")
    assert lines[0]["customer_email"].startswith("<personal:")
    assert "<iban:" in lines[1]["exception"]
    assert lines[2]["message"].startswith("to <email:")
    for secret in ("jane@", "4111", "GB82WEST", "bob@"):
        assert secret not in text


def test_records_reaching_other_handlers_are_masked_by_the_filter() -> None:
    record = logging.LogRecord(
        "other",
        logging.INFO,
        __file__,
        1,
        "user %s paid with %s",
        ("a@b.com", "4111111111111111"),
        None,
    )

    assert observability.MaskingFilter().filter(record)

    assert "a@b.com" not in record.getMessage()
    assert "<card:" in record.getMessage()
