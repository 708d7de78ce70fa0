"""The emulator's Step Functions endpoint down for 10 s during webhook intake: deliveries are
answered 503 (problem details, `Retry-After`), their runs wait queued, and after the outage the
sender's retry and the sweeper start every one of them; every run then completes."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Platform, lambda_context, load_event, signed_webhook_event

OUTAGE_SECONDS = 10.0


class StepFunctionsOutage:
    """Makes every StartExecution of one botocore client fail as an unreachable endpoint does
    (`EndpointConnectionError`, after botocore's own retries), while it is on."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._until = 0.0
        self.refused = 0
        self._lock = threading.Lock()

    def begin(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    @property
    def down(self) -> bool:
        return time.monotonic() < self._until

    def wait_until_over(self) -> None:
        time.sleep(max(0.0, self._until - time.monotonic()))

    def __enter__(self) -> StepFunctionsOutage:
        self._client.meta.events.register("before-send.states.StartExecution", self._refuse)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.meta.events.unregister("before-send.states.StartExecution", self._refuse)

    def _refuse(self, request: Any, **kwargs: Any) -> None:
        from botocore.exceptions import EndpointConnectionError

        if self.down:
            with self._lock:
                self.refused += 1
            raise EndpointConnectionError(endpoint_url=request.url)


@pytest.fixture
def outage(platform: Platform) -> Iterator[StepFunctionsOutage]:
    # The client the platform starts executions with, its own retries included.
    with StepFunctionsOutage(platform.services.sfn) as injected:
        yield injected


def deliver(platform: Platform, body: dict[str, Any], msg_id: str) -> dict[str, Any]:
    """One delivery through the API's Lambda handler, as API Gateway sends it."""
    from functions.api import handler as api_handler

    asyncio.set_event_loop(asyncio.new_event_loop())
    event = signed_webhook_event(platform.webhook_secret, body, msg_id)
    return dict(api_handler.handler(event, lambda_context()))


def body_of(answer: dict[str, Any]) -> Any:
    raw = answer["body"]
    if answer.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    return json.loads(raw)


def execution_exists(platform: Platform, run_id: uuid.UUID) -> bool:
    sfn = platform.services.sfn
    try:
        platform.execution_status(run_id)
    except sfn.exceptions.ExecutionDoesNotExist:
        return False
    return True


def tenant_runs(platform: Platform) -> list[Any]:
    from flightdeck.store import runs

    with platform.services.tenant(platform.tenant_id) as c:
        return runs.list_runs(c, runs.RunFilter(), limit=100)


def sweeper(platform: Platform) -> Any:
    from flightdeck.engine.sweeper import RunSweeper

    svc = platform.services
    return RunSweeper(connection=svc.connection, runs=svc.runs)


def test_deliveries_during_a_step_functions_outage_are_started_after_it(
    platform: Platform, outage: StepFunctionsOutage
) -> None:
    from functions.api import handler as api_handler

    api_handler._adapter = None  # built on first call against this test's platform
    tickets = {
        f"msg_outage_{i}": {**load_event("password_ticket"), "ticket_id": f"T-OUT-{i}"}
        for i in range(3)
    }

    # Given Step Functions unreachable for 10 s, when three deliveries arrive during it
    outage.begin(OUTAGE_SECONDS)
    answers = {msg_id: deliver(platform, body, msg_id) for msg_id, body in tickets.items()}
    assert outage.down, "the deliveries took longer than the outage; nothing was tested"

    # Then each is answered 503 with problem details and Retry-After, so n8n retries it …
    for answer in answers.values():
        assert answer["statusCode"] == 503, answer
        headers = {k.lower(): v for k, v in answer["headers"].items()}
        assert headers["content-type"] == "application/problem+json"
        assert int(headers["retry-after"]) > 0
        problem = body_of(answer)
        assert problem["status"] == 503
        assert problem["title"] == "Service unavailable"
        assert "Step Functions" in problem["detail"]
    assert outage.refused >= len(tickets)
    # … and each run is stored, queued, its execution not started.
    stored = {r.idempotency_key: r for r in tenant_runs(platform)}
    assert set(stored) == set(tickets)
    assert {r.status for r in stored.values()} == {"queued"}
    assert not any(execution_exists(platform, r.id) for r in stored.values())
    # The sweeper finds them too, and cannot start them while the outage lasts.
    during = sweeper(platform).sweep(after_seconds=0)
    assert during.started == []
    assert during.unavailable == len(tickets)

    # When the outage is over, n8n retries the first delivery (the same request again)
    outage.wait_until_over()
    first = next(iter(tickets))
    retried = deliver(platform, tickets[first], first)

    # Then it is accepted as the replay it is, and its run's execution starts
    assert retried["statusCode"] == 202, retried
    assert retried["headers"]["idempotent-replayed"] == "true"
    assert body_of(retried)["run_id"] == str(stored[first].id)
    assert execution_exists(platform, stored[first].id)

    # And the sweeper starts the two that nobody retried, leaving the first one alone
    report = sweeper(platform).sweep(after_seconds=0)
    assert sorted(report.started) == sorted(stored[k].id for k in tickets if k != first)
    # (the first is examined, and found started, only while its first node has not yet marked
    # it running)
    assert report.existing == report.examined - 2
    assert report.unavailable == 0

    # Finally every run row has its execution, and every run completes
    for run in tenant_runs(platform):
        assert execution_exists(platform, run.id)
        assert platform.wait_status(run.id, "succeeded", "failed").status == "succeeded"
    # A second sweep has nothing left to start.
    assert sweeper(platform).sweep(after_seconds=0).examined == 0
    # The runs started late keep one trace: the failed request's root span, the execution
    # span that failed under it, and the one that started, under it too.
    from flightdeck.store import telemetry

    for run in stored.values():
        with platform.services.tenant(platform.tenant_id) as c:
            spans = telemetry.spans_for_run(c, run.id)
        (root,) = [s for s in spans if s.kind == "api"]
        executions = [s for s in spans if s.kind == "execution"]
        assert root.status == "error"
        assert sorted(s.status for s in executions) == ["error", "unset"]
        assert {(s.trace_id, s.parent_span_id) for s in executions} == {
            (root.trace_id, root.span_id)
        }


def test_the_sweeper_leaves_young_runs_and_started_executions_alone(
    platform: Platform, outage: StepFunctionsOutage
) -> None:
    from functions.sweeper.handler import handler

    # Given one run started normally and one left queued by the outage
    started = platform.start("support_triage", load_event("password_ticket"))
    outage.begin(OUTAGE_SECONDS)
    from flightdeck.engine.runs import ExecutionStartError

    with pytest.raises(ExecutionStartError):
        platform.start("support_triage", {**load_event("password_ticket"), "ticket_id": "T-9"})
    outage.begin(0)
    (left,) = [r for r in tenant_runs(platform) if r.id != started]

    # When the scheduled sweeper runs at once, the queued run is too young to be suspect
    assert handler({}, lambda_context())["examined"] == 0
    assert not execution_exists(platform, left.id)

    # When it is a minute and more older, the scheduled sweeper starts it
    with platform.services.tenant(platform.tenant_id) as c:
        c.execute(
            "UPDATE runs SET updated_at = now() - interval '2 minutes' WHERE id = %s", (left.id,)
        )
    answer = handler({}, lambda_context())
    assert answer["started"] == [str(left.id)]
    assert platform.wait_status(left.id, "succeeded", "failed").status == "succeeded"
    assert platform.wait_status(started, "succeeded", "failed").status == "succeeded"
