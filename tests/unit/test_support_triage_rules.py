"""The offline provider's rules for support triage: deterministic, and sensible."""

from __future__ import annotations

import pytest

from flightdeck.llm.base import ModelRequest
from flightdeck.llm.offline import OfflineProvider
from flightdeck.workflows.support_triage import offline
from flightdeck.workflows.support_triage.state import Classification, Draft


def classify(subject: str, body: str) -> Classification:
    provider = OfflineProvider(offline.RULES)
    request = ModelRequest(
        task="support_triage.classify",
        system="",
        prompt="",
        schema=Classification,
        variables={"subject": subject, "body": body},
    )
    return provider.complete(request).value


def test_refund_requests_are_billing_and_flagged() -> None:
    result = classify("Charged twice", "Please refund the duplicate charge on my card")
    assert result.category == "billing"
    assert result.refund_requested is True


def test_login_trouble_is_account() -> None:
    result = classify("Cannot log in", "I forgot my password and my account is locked")
    assert result.category == "account"
    assert result.refund_requested is False


def test_same_input_same_answer() -> None:
    assert classify("Parcel late", "Where is my package? urgent") == classify(
        "Parcel late", "Where is my package? urgent"
    )
    assert classify("Parcel late", "Where is my package? urgent").urgency == "high"


def test_draft_without_context_is_unsure_and_refunds_are_capped() -> None:
    provider = OfflineProvider(offline.RULES)

    def draft(context: list[str], refund: bool) -> Draft:
        request = ModelRequest(
            task="support_triage.draft",
            system="",
            prompt="",
            schema=Draft,
            variables={"subject": "s", "context": context, "refund_requested": refund},
        )
        return provider.complete(request).value

    assert draft([], False).confidence < 0.5
    assert draft(["A: one. two", "B: x", "C: y"], False).confidence >= 0.9
    assert draft(["A: one. two", "B: x", "C: y"], True).confidence <= 0.7


def test_unknown_task_is_an_error_not_a_guess() -> None:
    provider = OfflineProvider(offline.RULES)
    request = ModelRequest(task="nope", system="", prompt="", schema=Draft)
    with pytest.raises(LookupError, match="nope"):
        provider.complete(request)
