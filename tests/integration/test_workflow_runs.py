"""Runs of real workflows through Step Functions (the emulator runs the compiled ASL) and the
node-runner handler, on embedded Postgres."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from flightdeck.store import approvals, outbox, outcomes
from tests.conftest import Platform, load_event
from tests.workflows.flaky import graph as flaky_graph

NODES = ["plan", "retrieve", "decide", "act", "reflect"]


def succeeded_nodes(platform: Platform, run_id: Any) -> list[str]:
    return [e.node for e in platform.events(run_id) if e.type == "node.succeeded"]


def decide(platform: Platform, approval_id: Any, decision: str, payload: Any = None) -> Any:
    return platform.services.approvals.decide(
        tenant_id=platform.tenant_id,
        approval_id=approval_id,
        decision=decision,
        payload=payload,
        decided_by="operator:test",
    )


def effects(platform: Platform, run_id: Any) -> list[Any]:
    with platform.services.tenant(platform.tenant_id) as c:
        return outbox.for_run(c, run_id)


def outcome(platform: Platform, run_id: Any) -> Any:
    with platform.services.tenant(platform.tenant_id) as c:
        return outcomes.get(c, run_id)


def test_confident_reply_runs_all_five_nodes_without_approval(platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("password_ticket"))

    run = platform.wait_status(run_id, "succeeded", "failed")

    assert run.status == "succeeded"
    assert succeeded_nodes(platform, run_id) == NODES
    assert [e.kind for e in effects(platform, run_id)] == ["email.reply"]
    snapshot = outcome(platform, run_id)
    assert snapshot.staff_minutes == 0.0
    assert snapshot.baseline_minutes == 12.0
    assert platform.execution_status(run_id) == "SUCCEEDED"


def test_refund_waits_for_approval_then_finishes_when_approved(platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("refund_ticket"))

    # Given the run stopped at the approval, with the state machine waiting on a task token
    approval = platform.pending_approval(run_id)
    assert approval.node == "decide"
    assert "the customer asks for a refund" in approval.request["reasons"]
    assert platform.execution_status(run_id) == "RUNNING"

    # When an operator approves
    decide(platform, approval.id, "approve")

    # Then the run finishes: five nodes succeeded once each, the reply queued once
    run = platform.wait_status(run_id, "succeeded", "failed")
    assert run.status == "succeeded"
    assert succeeded_nodes(platform, run_id) == NODES
    types = [e.type for e in platform.events(run_id)]
    assert types.count("node.interrupted") == 1
    assert "approval.waiting" in types
    assert "approval.approved" in types
    assert len(effects(platform, run_id)) == 1
    assert outcome(platform, run_id).staff_minutes == 2.0


def test_edited_reply_is_the_one_sent(platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("refund_ticket"))
    approval = platform.pending_approval(run_id)

    decide(platform, approval.id, "edit", {"reply": "We refunded the duplicate charge."})

    platform.wait_status(run_id, "succeeded")
    (effect,) = effects(platform, run_id)
    with platform.services.tenant(platform.tenant_id) as c:
        assert outbox.for_run(c, run_id)[0].payload["body"] == "We refunded the duplicate charge."
    assert effect.kind == "email.reply"


def test_rejected_reply_is_not_sent(platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("refund_ticket"))
    approval = platform.pending_approval(run_id)

    decide(platform, approval.id, "reject")

    run = platform.wait_status(run_id, "succeeded", "failed")
    assert run.status == "succeeded"
    assert succeeded_nodes(platform, run_id) == ["plan", "retrieve", "decide", "reflect"]
    assert effects(platform, run_id) == []
    # Nobody answered the customer: a person does the whole task after the review.
    assert outcome(platform, run_id).staff_minutes == 14.0
    with platform.services.tenant(platform.tenant_id) as c:
        (decided,) = approvals.list_for_run(c, run_id)
    assert decided.status == "rejected"
    assert decided.decided_by == "operator:test"


def test_unanswered_approval_times_out_into_the_default_action(platform: Platform) -> None:
    # Given a workflow whose approvals expire after two seconds, defaulting to reject
    run_id = platform.start("triage_quick_timeout", load_event("refund_ticket"))
    approval = platform.pending_approval(run_id)

    # When nobody decides
    run = platform.wait_status(run_id, "succeeded", "failed", timeout=60)

    # Then the wait state timed out, the default action applied, and the reply was not sent
    assert run.status == "succeeded"
    with platform.services.tenant(platform.tenant_id) as c:
        (expired,) = approvals.list_for_run(c, run_id)
    assert expired.id == approval.id
    assert expired.status == "timed_out"
    assert expired.decision == {"decision": "reject", "payload": None}
    assert "approval.timed_out" in [e.type for e in platform.events(run_id)]
    assert effects(platform, run_id) == []


def test_transient_failures_are_retried_and_visible(platform: Platform) -> None:
    run_id = platform.start("flaky", {"value": 20})

    run = platform.wait_status(run_id, "succeeded", "failed")

    assert run.status == "succeeded"
    events = platform.events(run_id)
    wobble = [(e.type, e.attempt) for e in events if e.node == "wobble"]
    assert wobble == [
        ("node.entered", 0),
        ("node.failed", 0),
        ("node.retried", 1),
        ("node.entered", 1),
        ("node.failed", 1),
        ("node.retried", 2),
        ("node.entered", 2),
        ("node.succeeded", 2),
    ]
    failures = [e for e in events if e.type == "node.failed"]
    assert {e.error_type for e in failures} == {"TransientError"}
    assert all(e.duration_ms is not None for e in failures)
    assert flaky_graph.ATTEMPTS[str(run_id)] == 3
    assert succeeded_nodes(platform, run_id) == ["double", "wobble", "finish"]


def test_permanent_failure_fails_the_run_and_keeps_reason_and_checkpoint(
    platform: Platform,
) -> None:
    run_id = platform.start("broken", {"order": "A-17"})

    run = platform.wait_status(run_id, "failed", "succeeded")

    assert run.status == "failed"
    assert run.error_type == "ValueError"
    assert run.error_message == "card declined for order A-17"
    assert run.failed_node == "charge"
    assert platform.execution_status(run_id) == "FAILED"
    # Not retried: a permanent error is caught on the first attempt.
    charge = [e.type for e in platform.events(run_id) if e.node == "charge"]
    assert charge == ["node.entered", "node.failed", "run.failed"]
    # The last checkpoint is kept: LangGraph still has the failed node next.
    with platform.services.tenant(platform.tenant_id) as c:
        assert platform.services.runner.next_node(c, run) == "charge"


def test_failed_run_resumes_from_its_failed_node_without_repeating_effects(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightdeck.workflows.support_triage import offline

    # Given reflect crashes once, after act already queued the reply
    calls = Counter[str]()
    real_score = offline.score

    def crash_once(variables: Any) -> Any:
        calls["score"] += 1
        if calls["score"] == 1:
            raise RuntimeError("worker lost")
        return real_score(variables)

    monkeypatch.setitem(platform.services.model._rules, "support_triage.score", crash_once)
    run_id = platform.start("support_triage", load_event("password_ticket"))
    failed = platform.wait_status(run_id, "failed", "succeeded")
    assert failed.status == "failed"
    assert failed.failed_node == "reflect"
    assert len(effects(platform, run_id)) == 1

    # When the run is resumed on a new execution
    resumed_at = platform.services.runs.resume(platform.tenant_id, run_id, suffix="redrive1")

    # Then it continues at reflect; finished nodes do not run again, the reply is queued once
    assert resumed_at == "reflect"
    run = platform.wait_status(run_id, "succeeded")
    assert run.error_type is None
    entered = Counter(e.node for e in platform.events(run_id) if e.type == "node.entered")
    assert entered == {"plan": 1, "retrieve": 1, "decide": 1, "act": 1, "reflect": 2}
    assert succeeded_nodes(platform, run_id) == NODES
    assert len(effects(platform, run_id)) == 1


def test_run_stopped_while_waiting_resumes_with_the_same_approval(platform: Platform) -> None:
    # Given a run waiting for approval whose execution is lost (the emulator restarted)
    run_id = platform.start("support_triage", load_event("refund_ticket"))
    first = platform.pending_approval(run_id)
    run = platform.run(run_id)
    arn = platform.machines["support_triage"].replace(":stateMachine:", ":execution:")
    platform.services.sfn.stop_execution(executionArn=f"{arn}:{run.execution_name}")

    # When it is resumed on a new execution
    assert platform.services.runs.resume(platform.tenant_id, run_id, suffix="resume1") == "decide"

    # Then it waits on the same approval again, and approving it finishes the run
    again = platform.pending_approval(run_id)
    with platform.services.tenant(platform.tenant_id) as c:
        token_now = approvals.task_token(c, again.id)
    assert again.id == first.id
    assert token_now is not None
    decide(platform, again.id, "approve")
    assert platform.wait_status(run_id, "succeeded", "failed").status == "succeeded"
    assert succeeded_nodes(platform, run_id) == NODES
    assert len(effects(platform, run_id)) == 1
