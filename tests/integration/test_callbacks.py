"""Outbound callbacks: an n8n-like receiver on 127.0.0.1 gets run.succeeded, run.failed and
approval.requested, signed the Standard Webhooks way, retried with backoff until it answers.

Delivery is driven by calling `deliver_due` directly, with `now` moved forward for retries:
no test waits on the wall clock for a backoff.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from flightdeck import webhooks
from flightdeck.engine.callbacks import CallbackDispatcher, RetryPolicy
from flightdeck.local.emulator import LambdaContext
from flightdeck.store import approvals as approval_store
from flightdeck.store import callbacks as store
from flightdeck.store import tenants
from flightdeck.store.db import connect, scoped
from flightdeck.store.migrate import APP_ROLE
from functions.callback_dispatcher.handler import handler
from tests.conftest import Platform, free_port, load_event
from tests.integration.api_client import Api, api_for

CALLBACK_TABLES = ("callback_endpoints", "callback_secrets", "callback_deliveries")


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def verify(self, *secrets: str) -> str:
        return webhooks.verify(secrets, self.headers, self.body)


@dataclass
class Receiver:
    """An HTTP endpoint that records what it is sent and answers the scripted statuses in turn
    (200 once the script runs out)."""

    url: str
    received: list[Delivery] = field(default_factory=list)
    script: list[int] = field(default_factory=list)

    def answer(self, delivery: Delivery) -> int:
        self.received.append(delivery)
        return self.script.pop(0) if self.script else 200

    def of_type(self, event_type: str) -> list[Delivery]:
        return [d for d in self.received if d.json["type"] == event_type]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/webhook/flightdeck")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = state.answer(Delivery(headers, body))
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as client:
        yield client


def put_callback(api: Api, workflow: str, body: Any, token: str | None = None) -> Any:
    return api.client.put(
        f"/v1/workflows/{workflow}/callback", json=body, headers=api.headers(token or api.admin)
    )


def configure(api: Api, workflow: str, url: str) -> str:
    """Point the workflow's callbacks at `url`; answers the signing secret."""
    answer = put_callback(api, workflow, {"url": url})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


def deliveries(platform: Platform, run_id: uuid.UUID) -> list[store.Delivery]:
    with platform.services.tenant(platform.tenant_id) as conn:
        return store.list_for_run(conn, run_id)


def test_an_admin_sets_reads_rotates_and_deletes_a_callback(api: Api, receiver: Receiver) -> None:
    created = put_callback(api, "support_triage", {"url": receiver.url})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")

    shown = api.get("/v1/workflows/support_triage/callback", api.admin)
    assert shown.status_code == 200
    assert shown.json()["url"] == receiver.url
    assert shown.json()["source"] == "endpoint"
    assert shown.json()["secret_prefix"] == secret[:10]
    assert shown.json()["secret"] is None

    # Changing the URL keeps the secret, and does not show it again
    moved = put_callback(api, "support_triage", {"url": receiver.url + "?v=2"})
    assert moved.status_code == 200
    assert moved.json()["secret"] is None
    assert moved.json()["secret_prefix"] == secret[:10]

    rotated = put_callback(api, "support_triage", {"url": receiver.url, "rotate_secret": True})
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != secret

    deleted = api.client.delete(
        "/v1/workflows/support_triage/callback", headers=api.headers(api.admin)
    )
    assert deleted.status_code == 204
    assert api.get("/v1/workflows/support_triage/callback", api.admin).status_code == 404
    again = api.client.delete(
        "/v1/workflows/support_triage/callback", headers=api.headers(api.admin)
    )
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"


def test_viewers_and_operators_cannot_configure_callbacks(api: Api, receiver: Receiver) -> None:
    for token in (api.viewer, api.operator):
        assert put_callback(api, "support_triage", {"url": receiver.url}, token).status_code == 403
        assert api.get("/v1/workflows/support_triage/callback", token).status_code == 403
        deleted = api.client.delete(
            "/v1/workflows/support_triage/callback", headers=api.headers(token)
        )
        assert deleted.status_code == 403
        assert api.post("/v1/callbacks/default-secret", token).status_code == 403
    anonymous = api.client.put("/v1/workflows/support_triage/callback", json={"url": receiver.url})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "not a url", "http://", "/relative/path", "https://exa mple.com/"],
)
def test_a_callback_url_must_be_http_or_https(api: Api, url: str) -> None:
    answer = put_callback(api, "support_triage", {"url": url})

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["url"]


def test_an_unknown_workflow_has_no_callback(api: Api, receiver: Receiver) -> None:
    assert put_callback(api, "no_such_flow", {"url": receiver.url}).status_code == 404
    assert api.get("/v1/workflows/no_such_flow/callback", api.admin).status_code == 404
    deleted = api.client.delete(
        "/v1/workflows/no_such_flow/callback", headers=api.headers(api.admin)
    )
    assert deleted.status_code == 404


def test_approval_requested_then_run_succeeded_reach_the_receiver_signed(
    api: Api, platform: Platform, receiver: Receiver
) -> None:
    secret = configure(api, "support_triage", receiver.url)
    run_id = platform.start("support_triage", load_event("refund_ticket"), key="order-5512")

    # When the run waits for a person, the receiver hears about it
    approval = platform.pending_approval(run_id)
    report = platform.services.callbacks.deliver_due()
    assert len(report.delivered) == 1
    (requested,) = receiver.of_type("approval.requested")
    assert requested.verify(secret) == str(report.delivered[0])
    event = requested.json
    assert event["data"]["run_id"] == str(run_id)
    assert event["data"]["status"] == "waiting_for_approval"
    assert event["data"]["idempotency_key"] == "order-5512"
    assert event["data"]["approval"]["id"] == str(approval.id)
    assert event["data"]["approval"]["node"] == "decide"
    assert event["data"]["approval"]["request"]["summary"].startswith("Review the reply")
    assert datetime.fromisoformat(event["data"]["approval"]["expires_at"]) == approval.expires_at
    # Whoever holds the wait state's token can complete the run: it never leaves the platform
    with platform.services.tenant(platform.tenant_id) as conn:
        token = approval_store.task_token(conn, approval.id)
    assert token
    assert token.encode() not in requested.body
    assert b"task_token" not in requested.body

    # When an operator approves and the run finishes, the receiver hears that too
    decided = api.post(f"/v1/approvals/{approval.id}/decision", json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    platform.wait_status(run_id, "succeeded")
    platform.services.callbacks.deliver_due()
    (succeeded,) = receiver.of_type("run.succeeded")
    succeeded.verify(secret)
    assert succeeded.json["data"]["status"] == "succeeded"
    assert succeeded.json["data"]["finished_at"] is not None
    assert [d.json["type"] for d in receiver.received] == ["approval.requested", "run.succeeded"]

    # The run's delivery log shows both, under the webhook-ids the receiver saw
    log = deliveries(platform, run_id)
    assert [(d.event_type, d.status, d.attempts, d.last_status_code) for d in log] == [
        ("approval.requested", "delivered", 1, 200),
        ("run.succeeded", "delivered", 1, 200),
    ]
    assert [str(d.id) for d in log] == [r.headers["webhook-id"] for r in receiver.received]
    # Nothing more is due: a delivered callback is not sent again
    assert platform.services.callbacks.deliver_due().attempted == 0


def test_run_failed_carries_the_reason_and_the_failed_node(
    api: Api, platform: Platform, receiver: Receiver
) -> None:
    secret = configure(api, "broken", receiver.url)
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")

    # Delivered by the scheduled function, as on AWS
    answer = handler({}, LambdaContext("callback-dispatcher", "arn:aws:lambda:local"))

    (failed,) = receiver.received
    assert answer == {"delivered": [failed.headers["webhook-id"]], "retrying": [], "failed": []}
    failed.verify(secret)
    assert failed.json["type"] == "run.failed"
    assert failed.json["data"]["status"] == "failed"
    assert failed.json["data"]["error"] == {
        "type": "ValueError",
        "message": "card declined for order X",
        "node": "charge",
    }


def test_a_failing_receiver_is_retried_with_growing_delays_until_it_answers(
    api: Api, platform: Platform, receiver: Receiver
) -> None:
    secret = configure(api, "broken", receiver.url)
    receiver.script = [500, 500]
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")
    dispatcher = platform.services.callbacks

    # First attempt: 500, a retry is scheduled
    now = datetime.now(UTC)
    assert len(dispatcher.deliver_due(now=now).retrying) == 1
    (first,) = deliveries(platform, run_id)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.last_error is not None
    assert first.last_error.startswith("HTTP 500")
    assert now < first.next_attempt_at <= now + timedelta(seconds=dispatcher.policy.ceiling(1))
    # Not due before its time
    assert dispatcher.deliver_due(now=first.next_attempt_at - timedelta(seconds=0.5)).attempted == 0

    # Second attempt at its due time: 500 again, a later retry
    assert len(dispatcher.deliver_due(now=first.next_attempt_at).retrying) == 1
    (second,) = deliveries(platform, run_id)
    assert (second.status, second.attempts) == ("pending", 2)
    assert second.next_attempt_at > first.next_attempt_at
    assert second.next_attempt_at <= first.next_attempt_at + timedelta(
        seconds=dispatcher.policy.ceiling(2)
    )

    # Third attempt: delivered
    assert len(dispatcher.deliver_due(now=second.next_attempt_at).delivered) == 1
    (done,) = deliveries(platform, run_id)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == (
        "delivered",
        3,
        200,
        None,
    )
    assert done.delivered_at == second.next_attempt_at

    # The receiver saw the same delivery three times: one webhook-id, one body, all signed
    assert len(receiver.received) == 3
    assert {r.headers["webhook-id"] for r in receiver.received} == {str(done.id)}
    assert len({r.body for r in receiver.received}) == 1
    for attempt in receiver.received:
        attempt.verify(secret)


def test_a_delivery_is_given_up_after_its_attempts_and_an_admin_can_redeliver_it(
    api: Api, platform: Platform
) -> None:
    # Given a receiver that cannot be reached, then one that answers 503
    configure(api, "broken", "http://receiver.invalid/hook")
    answers: list[Any] = [httpx.ConnectError("connection refused"), 503]

    def transport(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0) if answers else 200
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer)

    dispatcher = CallbackDispatcher(
        registry=platform.services.registry,
        connection=platform.services.connection,
        secrets=platform.services.secrets,
        http=httpx.Client(transport=httpx.MockTransport(transport)),
        policy=RetryPolicy(max_attempts=2),
    )
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")

    now = datetime.now(UTC)
    assert len(dispatcher.deliver_due(now=now).retrying) == 1
    (first,) = deliveries(platform, run_id)
    assert first.last_status_code is None
    assert first.last_error is not None
    assert first.last_error.startswith("ConnectError")
    report = dispatcher.deliver_due(now=first.next_attempt_at)
    assert len(report.failed) == 1
    (given_up,) = deliveries(platform, run_id)
    assert (given_up.status, given_up.attempts, given_up.last_status_code) == ("failed", 2, 503)
    assert dispatcher.deliver_due(now=now + timedelta(days=2)).attempted == 0

    # When an admin asks for it again, it goes out under the same webhook-id
    again = api.post(f"/v1/callbacks/{given_up.id}/redeliver", api.admin)
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending"
    assert api.post(f"/v1/callbacks/{given_up.id}/redeliver", api.operator).status_code == 403
    assert api.post(f"/v1/callbacks/{uuid.uuid4()}/redeliver", api.admin).status_code == 404
    assert dispatcher.deliver_due().delivered == [given_up.id]
    (done,) = deliveries(platform, run_id)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 1, 200)


def test_a_sender_that_dies_mid_attempt_does_not_lose_the_delivery(
    api: Api, platform: Platform, receiver: Receiver
) -> None:
    secret = configure(api, "broken", receiver.url)
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")
    dispatcher = platform.services.callbacks
    lease = timedelta(seconds=dispatcher.policy.lease_seconds)

    # Given a sender that claimed the delivery and died before recording anything
    now = datetime.now(UTC)
    with platform.services.tenant(platform.tenant_id) as conn:
        claimed = store.claim_due(conn, now=now, lease_until=now + lease)
    assert claimed is not None

    # Then nobody sends it while the lease holds, and the next sender does once it ends
    assert dispatcher.deliver_due(now=now + lease / 2).attempted == 0
    assert dispatcher.deliver_due(now=now + lease + timedelta(seconds=1)).delivered == [claimed.id]
    (done,) = deliveries(platform, run_id)
    assert (done.status, done.attempts) == ("delivered", 2)
    (only,) = receiver.received
    assert only.verify(secret) == str(claimed.id)


def test_a_delivery_whose_senders_keep_dying_is_given_up(
    api: Api, platform: Platform, receiver: Receiver
) -> None:
    configure(api, "broken", receiver.url)
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")
    policy = RetryPolicy(max_attempts=2)
    dispatcher = CallbackDispatcher(
        registry=platform.services.registry,
        connection=platform.services.connection,
        secrets=platform.services.secrets,
        policy=policy,
    )

    # Given senders that claimed it as often as the policy allows and died each time
    now = datetime.now(UTC)
    lease = timedelta(seconds=policy.lease_seconds)
    for crash in range(policy.max_attempts):
        with platform.services.tenant(platform.tenant_id) as conn:
            at = now + crash * (lease + timedelta(seconds=1))
            assert store.claim_due(conn, now=at, lease_until=at + lease) is not None

    # Then the next sender records it as failed instead of trying forever
    later = now + policy.max_attempts * (lease + timedelta(seconds=1))
    assert len(dispatcher.deliver_due(now=later).failed) == 1
    (given_up,) = deliveries(platform, run_id)
    assert given_up.status == "failed"
    assert given_up.last_error == "given up after 2 attempts"
    assert receiver.received == []


def test_without_a_callback_url_nothing_is_queued(platform: Platform) -> None:
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")

    assert deliveries(platform, run_id) == []


def test_a_manifest_callback_url_is_signed_with_the_tenants_rotatable_default_secret(
    api: Api, platform: Platform, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a workflow whose manifest names a callback URL, and no endpoint for it
    registry = platform.services.registry
    broken = registry.get("broken")
    with_url = dataclasses.replace(
        broken, manifest=dataclasses.replace(broken.manifest, callback_url=receiver.url)
    )
    monkeypatch.setitem(registry._by_name, "broken", with_url)
    shown = api.get("/v1/workflows/broken/callback", api.admin).json()
    assert (shown["source"], shown["url"], shown["secret_prefix"]) == (
        "manifest",
        receiver.url,
        None,
    )
    first = api.post("/v1/callbacks/default-secret", api.admin)
    assert first.status_code == 200, first.text
    old_secret = first.json()["secret"]
    assert (
        api.get("/v1/workflows/broken/callback", api.admin).json()["secret_prefix"]
        == (old_secret[:10])
    )

    # When the default secret is rotated before the run fails
    new_secret = api.post("/v1/callbacks/default-secret", api.admin).json()["secret"]
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")
    platform.services.callbacks.deliver_due()

    # Then the delivery verifies with the new secret and, during the grace period, the old one
    (failed,) = receiver.received
    assert failed.json["type"] == "run.failed"
    assert len(failed.headers["webhook-signature"].split(" ")) == 2
    failed.verify(new_secret)
    failed.verify(old_secret)
    with pytest.raises(webhooks.WebhookVerificationError):
        failed.verify(tenants.new_webhook_secret())


def test_another_tenant_neither_sees_nor_redelivers_callbacks(
    api: Api, platform: Platform, receiver: Receiver, database_url: str
) -> None:
    configure(api, "broken", receiver.url)
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")
    (delivery,) = deliveries(platform, run_id)
    with platform.services.connection() as conn, conn.transaction():
        other = tenants.create_tenant(conn, "other", "Other Shop")
        other_admin = tenants.issue_token(conn, other.id, "admin").token

    assert api.get("/v1/workflows/broken/callback", other_admin).status_code == 404
    assert api.post(f"/v1/callbacks/{delivery.id}/redeliver", other_admin).status_code == 404
    with connect(database_url, role=APP_ROLE) as conn:
        for table in CALLBACK_TABLES:
            # No tenant named: no rows; the other tenant named: none of the first one's
            assert conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0
            with scoped(conn, other.id):
                assert conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0
        forced = conn.execute(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity"
            " AND relname = ANY(%s)",
            (list(CALLBACK_TABLES),),
        ).fetchall()
    assert sorted(r["relname"] for r in forced) == sorted(CALLBACK_TABLES)


def test_deployed_stages_refuse_plain_http_callbacks(platform: Platform) -> None:
    from fastapi.testclient import TestClient

    from flightdeck.api.app import create_app
    from flightdeck.store import tenants as tenant_store

    with platform.services.connection() as conn, conn.transaction():
        admin = tenant_store.issue_token(conn, platform.tenant_id, "admin").token
    prod = platform.services.settings.model_copy(update={"stage": "prod", "aws_endpoint_url": None})
    platform.services.settings = prod
    with TestClient(create_app(lambda: platform.services)) as client:
        headers = {"authorization": f"Bearer {admin}"}
        plain = client.put(
            "/v1/workflows/support_triage/callback",
            headers=headers,
            json={"url": "http://n8n.example.com/webhook/x"},
        )
        secure = client.put(
            "/v1/workflows/support_triage/callback",
            headers=headers,
            json={"url": "https://n8n.example.com/webhook/x"},
        )
    assert plain.status_code == 422
    assert plain.json()["errors"][0]["field"] == "url"
    assert secure.status_code == 201
