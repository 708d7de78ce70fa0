"""The node runner's contract with Step Functions: one node per state entry, the right node,
the same result as LangGraph on its own."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from flightdeck.engine.context import memory_context
from flightdeck.engine.runner import StepRequest, decision_as_resume
from flightdeck.engine.stores import NodeEvents, PostgresKnowledge
from flightdeck.errors import NodeMismatchError
from flightdeck.store import approvals
from tests.conftest import Platform, lambda_context, load_event


def test_step_functions_path_and_plain_invoke_reach_the_same_state(platform: Platform) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    ticket = load_event("refund_ticket")
    # Given a run through Step Functions, approved by an operator
    run_id = platform.start("support_triage", ticket)
    approval = platform.pending_approval(run_id)
    platform.services.approvals.decide(
        tenant_id=platform.tenant_id,
        approval_id=approval.id,
        decision="approve",
        payload=None,
        decided_by="operator:test",
    )
    run = platform.wait_status(run_id, "succeeded")
    svc = platform.services
    workflow = svc.registry.get("support_triage")
    with svc.tenant(platform.tenant_id) as c:
        via_step_functions = (
            svc.runner.compiled(c, workflow, platform.tenant_id)
            .get_state({"configurable": {"thread_id": str(run_id)}})
            .values
        )
        decided = approvals.get(c, approval.id)
        knowledge = PostgresKnowledge(c, platform.tenant_id, lambda: svc.embeddings, NodeEvents())

        # When the same graph runs under a plain graph.invoke with the same input and decision
        graph = workflow.graph.compile(checkpointer=InMemorySaver())
        context = memory_context(
            tenant_id=platform.tenant_id,
            manifest=workflow.manifest,
            model=svc.model,
            knowledge=knowledge,
            run_created_at=run.created_at,
        )
        config: Any = {"configurable": {"thread_id": "plain"}}
        first = graph.invoke(
            workflow.initial_state(workflow.parse_trigger(ticket)), config, context=context
        )
        assert "__interrupt__" in first
        plain = graph.invoke(Command(resume=decision_as_resume(decided)), config, context=context)

    # Then both reach the same final state
    assert plain == via_step_functions
    assert set(plain) == {"ticket", "plan", "context", "draft", "review", "action", "reflection"}


def _request(
    tenant_id: uuid.UUID, run_id: uuid.UUID, node: str, entered: str = "t0", attempt: int = 0
) -> StepRequest:
    return StepRequest(
        run_id=run_id,
        tenant_id=tenant_id,
        workflow="broken",
        node=node,
        attempt=attempt,
        execution="manual",
        entered_at=entered,
    )


def test_a_retried_invocation_of_the_same_state_entry_does_not_run_the_node_again(
    platform: Platform,
) -> None:
    runner = platform.services.runner
    run_id = platform.start("flaky", {"value": 1})
    platform.wait_status(run_id, "succeeded")
    events_before = platform.events(run_id)
    first = next(e for e in events_before if e.type == "node.succeeded" and e.node == "double")

    # When Step Functions re-sends the very same invocation (its answer was lost)
    execution, node, entered_at = platform_invocation(platform, first.id).split("|")
    again = runner.run(
        StepRequest(run_id, platform.tenant_id, "flaky", node, 1, execution, entered_at)
    )

    # Then it gets the recorded answer and nothing runs or is recorded again
    assert again.next == "wobble"
    assert len(platform.events(run_id)) == len(events_before)


def platform_invocation(platform: Platform, event_id: int) -> str:
    with platform.services.tenant(platform.tenant_id) as c:
        row = c.execute("SELECT invocation FROM run_events WHERE id = %s", (event_id,)).fetchone()
    return str(row["invocation"])


def test_asking_for_a_node_langgraph_does_not_have_next_is_refused(platform: Platform) -> None:
    run_id = platform.park("broken", {"order": "B-1"})
    runner = platform.services.runner

    with pytest.raises(NodeMismatchError, match="first node is 'check'"):
        runner.run(_request(platform.tenant_id, run_id, "charge"))

    assert runner.run(_request(platform.tenant_id, run_id, "check", "t1")).next == "charge"
    with pytest.raises(NodeMismatchError, match="LangGraph has next \\['charge'\\]"):
        runner.run(_request(platform.tenant_id, run_id, "check", "t2"))
    failed = [e for e in platform.events(run_id) if e.type == "node.failed"]
    assert [e.error_type for e in failed] == ["NodeMismatchError", "NodeMismatchError"]


def test_a_schedule_firing_starts_one_run_per_tenant_once(platform: Platform) -> None:
    from flightdeck.store import tenants
    from functions.scheduled_run.handler import handler

    with platform.services.tenant(platform.tenant_id) as c:
        tenants.create_tenant(c, "second", "Second Shop")
    event = {"workflow": "flaky", "scheduled_at": "2026-11-23T06:00:00Z"}

    first = handler(event, lambda_context())
    again = handler(event, lambda_context())

    assert len(first["runs"]) == 2
    assert again["runs"] == []
