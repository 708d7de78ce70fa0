"""The webhook ingress function answers `POST /v1/webhooks/{workflow}` exactly as the FastAPI
route it stands in for on AWS: the same statuses, bodies and headers for the same deliveries."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Platform, lambda_context, load_event, signed_webhook_event

Door = Callable[[dict[str, Any]], dict[str, Any]]


def through_app(event: dict[str, Any]) -> dict[str, Any]:
    from functions.api import handler as api_handler

    asyncio.set_event_loop(asyncio.new_event_loop())
    return dict(api_handler.handler(event, lambda_context()))


def through_ingress(event: dict[str, Any]) -> dict[str, Any]:
    from functions.webhook_ingress.handler import handler

    return dict(handler(event, lambda_context("flightdeck-webhook-ingress")))


def seen(answer: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """What a client sees: status, the headers that matter, the decoded body."""
    raw = answer["body"]
    if answer.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    kept = {
        k: headers[k]
        for k in ("content-type", "retry-after", "idempotent-replayed")
        if k in headers
    }
    return answer["statusCode"], kept, json.loads(raw)


@pytest.fixture(autouse=True)
def fresh_app(platform: Platform) -> None:
    from functions.api import handler as api_handler

    api_handler._adapter = None  # built on first call against this test's platform


def test_a_delivery_its_replay_and_a_conflict_answer_alike(platform: Platform) -> None:
    body = load_event("password_ticket")
    for door in (through_app, through_ingress):
        msg_id = f"msg_{uuid.uuid4().hex}"
        first = seen(door(signed_webhook_event(platform.webhook_secret, body, msg_id)))
        again = seen(door(signed_webhook_event(platform.webhook_secret, body, msg_id)))
        changed = seen(
            door(signed_webhook_event(platform.webhook_secret, {**body, "subject": "x"}, msg_id))
        )

        assert first[0] == 202
        assert first[1] == {"content-type": "application/json"}
        assert set(first[2]) == {"run_id", "workflow"}
        assert first[2]["workflow"] == "support_triage"
        assert again == (202, {**first[1], "idempotent-replayed": "true"}, first[2])
        assert changed[0] == 409
        assert changed[1] == {"content-type": "application/problem+json"}
        assert changed[2]["title"] == "Conflict"
        assert platform.wait_status(uuid.UUID(first[2]["run_id"]), "succeeded", "failed")


def refusals(platform: Platform) -> dict[str, dict[str, Any]]:
    body = load_event("password_ticket")

    def event(**changes: Any) -> dict[str, Any]:
        e = signed_webhook_event(platform.webhook_secret, body, "msg_refused")
        for key, value in changes.items():
            e[key] = value
        return e

    unsigned = event()
    unsigned["headers"] = {"content-type": "application/json"}
    tampered = event()
    tampered["body"] = json.dumps({**body, "subject": "tampered"})
    not_json = signed_webhook_event(platform.webhook_secret, body, "msg_not_json")
    not_json["body"] = "{not json"
    from flightdeck import webhooks

    not_json["headers"].update(
        webhooks.headers(platform.webhook_secret, "msg_not_json", b"{not json")
    )
    invalid = signed_webhook_event(platform.webhook_secret, {"ticket_id": "T-1"}, "msg_invalid")
    huge = signed_webhook_event(
        platform.webhook_secret, {**body, "body": "x" * 2_000_000}, "msg_huge"
    )
    return {
        "unsigned": unsigned,
        "tampered": tampered,
        "unknown tenant": event(
            queryStringParameters={"tenant": "nobody"},
            multiValueQueryStringParameters={"tenant": ["nobody"]},
        ),
        "no tenant": event(queryStringParameters=None, multiValueQueryStringParameters=None),
        "empty tenant": event(
            queryStringParameters={"tenant": ""}, multiValueQueryStringParameters={"tenant": [""]}
        ),
        "unknown workflow": event(path="/v1/webhooks/nope"),
        "not JSON": not_json,
        "not the workflow's input": invalid,
        "too large": huge,
    }


@pytest.mark.parametrize(
    "case",
    [
        "unsigned",
        "tampered",
        "unknown tenant",
        "no tenant",
        "empty tenant",
        "unknown workflow",
        "not JSON",
        "not the workflow's input",
        "too large",
    ],
)
def test_refusals_are_the_same_problem_details(platform: Platform, case: str) -> None:
    event = refusals(platform)[case]
    by_app = seen(through_app(json.loads(json.dumps(event))))
    by_ingress = seen(through_ingress(json.loads(json.dumps(event))))

    assert 400 <= by_app[0] < 500
    assert by_app[1]["content-type"] == "application/problem+json"
    assert by_ingress == by_app


def test_a_fault_of_the_platform_is_the_same_500_problem_through_both_doors(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightdeck.engine.intake import WebhookIntake

    def broken(self: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug, with kim@example.com in its message")

    monkeypatch.setattr(WebhookIntake, "accept", broken)
    event = signed_webhook_event(platform.webhook_secret, load_event("password_ticket"), "msg_bug")
    by_app = seen(through_app(json.loads(json.dumps(event))))
    by_ingress = seen(through_ingress(json.loads(json.dumps(event))))

    assert by_app[0] == 500
    assert by_app[1]["content-type"] == "application/problem+json"
    assert by_app[2]["title"] == "Internal error"
    assert "kim@example.com" not in json.dumps(by_app[2])
    assert by_ingress == by_app
