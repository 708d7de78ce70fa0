"""The minimal API over HTTP semantics (in process): signed webhooks start runs, a run shows
its timeline, operators decide approvals."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flightdeck import webhooks
from flightdeck.api.app import create_app
from flightdeck.store import tenants
from tests.conftest import Platform, load_event, wait_for


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: platform.services)) as test_client:
        yield test_client


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def post_webhook(
    client: TestClient,
    platform: Platform,
    body: Any,
    *,
    workflow: str = "support_triage",
    msg_id: str | None = None,
    secret: str | None = None,
    tenant: str = "demo",
) -> Any:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    headers = webhooks.headers(
        secret or platform.webhook_secret, msg_id or f"msg_{uuid.uuid4()}", raw
    )
    return client.post(
        f"/v1/webhooks/{workflow}",
        params={"tenant": tenant},
        content=raw,
        headers={**headers, "content-type": "application/json"},
    )


def test_signed_webhook_starts_a_run_that_an_operator_approves(
    client: TestClient, platform: Platform
) -> None:
    accepted = post_webhook(client, platform, load_event("refund_ticket"), msg_id="msg_1")
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]

    pending = wait_for(
        lambda: client.get(
            "/v1/approvals", params={"status": "pending"}, headers=auth(platform.api_token)
        ).json()
    )
    (approval,) = pending
    assert approval["run_id"] == run_id
    assert "task_token" not in approval
    decided = client.post(
        f"/v1/approvals/{approval['id']}/decision",
        json={"decision": "approve"},
        headers=auth(platform.api_token),
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"

    detail = wait_for(
        lambda: (
            (r := client.get(f"/v1/runs/{run_id}", headers=auth(platform.api_token)).json())
            and r["status"] in ("succeeded", "failed")
            and r
        )
    )
    assert detail["status"] == "succeeded"
    node_events = [e for e in detail["events"] if e["type"] == "node.succeeded"]
    assert [e["node"] for e in node_events] == ["plan", "retrieve", "decide", "act", "reflect"]
    assert all(e["duration_ms"] > 0 for e in node_events)
    assert detail["approvals"][0]["status"] == "approved"
    assert detail["outcome"]["minutes_saved"] == 10.0
    assert detail["effects"][0]["kind"] == "email.reply"

    # A second decision on the same request is a conflict, not a second outcome.
    again = client.post(
        f"/v1/approvals/{approval['id']}/decision",
        json={"decision": "reject"},
        headers=auth(platform.api_token),
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


def test_duplicate_delivery_returns_the_original_run(
    client: TestClient, platform: Platform
) -> None:
    body = load_event("password_ticket")
    first = post_webhook(client, platform, body, msg_id="msg_dup")
    second = post_webhook(client, platform, body, msg_id="msg_dup")

    # The replay gets the very same answer, marked as a replay.
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    changed = post_webhook(client, platform, {**body, "subject": "other"}, msg_id="msg_dup")
    assert changed.status_code == 409


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        ("tampered_body", 401),
        ("wrong_secret", 401),
        ("stale_timestamp", 401),
        ("missing_headers", 401),
        ("unknown_tenant", 401),
    ],
)
def test_webhooks_that_cannot_be_verified_are_refused(
    client: TestClient, platform: Platform, mutate: str, status: int
) -> None:
    raw = json.dumps(load_event("password_ticket")).encode()
    headers = webhooks.headers(platform.webhook_secret, "msg_bad", raw)
    tenant = "demo"
    if mutate == "tampered_body":
        raw = raw.replace(b"T-2002", b"T-2003")
    elif mutate == "wrong_secret":
        headers = webhooks.headers(tenants.new_webhook_secret(), "msg_bad", raw)
    elif mutate == "stale_timestamp":
        old = int(headers["webhook-timestamp"]) - 6 * 60
        headers = webhooks.headers(platform.webhook_secret, "msg_bad", raw, timestamp=old)
    elif mutate == "missing_headers":
        headers = {}
    elif mutate == "unknown_tenant":
        tenant = "nobody"

    response = client.post(
        "/v1/webhooks/support_triage", params={"tenant": tenant}, content=raw, headers=headers
    )

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    with platform.services.tenant(platform.tenant_id) as c:
        assert c.execute("SELECT count(*) AS n FROM runs").fetchone()["n"] == 0


def test_bad_input_gets_problem_details_not_a_server_error(
    client: TestClient, platform: Platform
) -> None:
    unknown = post_webhook(client, platform, load_event("password_ticket"), workflow="nope")
    assert unknown.status_code == 404

    not_json = post_webhook(client, platform, b"{not json")
    assert not_json.status_code == 422

    missing_field = post_webhook(client, platform, {"ticket_id": "T-1"})
    assert missing_field.status_code == 422
    assert missing_field.json()["errors"][0]["field"] == "customer_email"

    too_big = post_webhook(client, platform, {"blob": "x" * 300_000})
    assert too_big.status_code == 413

    bad_id = client.get("/v1/runs/not-a-uuid", headers=auth(platform.api_token))
    assert bad_id.status_code == 422

    bad_decision = client.post(
        f"/v1/approvals/{uuid.uuid4()}/decision",
        json={"decision": "maybe"},
        headers=auth(platform.api_token),
    )
    assert bad_decision.status_code == 422
    assert bad_decision.json()["errors"][0]["field"] == "decision"

    unknown_approval = client.post(
        f"/v1/approvals/{uuid.uuid4()}/decision",
        json={"decision": "approve"},
        headers=auth(platform.api_token),
    )
    assert unknown_approval.status_code == 404


def test_tokens_are_required_and_scoped_to_their_tenant(
    client: TestClient, platform: Platform
) -> None:
    run_id = post_webhook(client, platform, load_event("password_ticket")).json()["run_id"]
    assert client.get(f"/v1/runs/{run_id}").status_code == 401
    assert client.get(f"/v1/runs/{run_id}", headers=auth("fd_nope_nope")).status_code == 401

    with platform.services.tenant(platform.tenant_id) as c:
        other = tenants.create_tenant(c, "other", "Other Ltd")
        other_token = tenants.issue_token(c, other.id, "operator").token
        viewer = tenants.issue_token(c, platform.tenant_id, "viewer").token

    assert client.get(f"/v1/runs/{run_id}", headers=auth(other_token)).status_code == 404
    assert client.get(f"/v1/runs/{run_id}", headers=auth(viewer)).status_code == 200
    forbidden = client.post(
        f"/v1/approvals/{uuid.uuid4()}/decision",
        json={"decision": "approve"},
        headers=auth(viewer),
    )
    assert forbidden.status_code == 403


def test_health(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
