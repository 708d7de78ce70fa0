"""A run's status moves only along the lifecycle: a finished run never runs again unless a
failed one is reopened, and each move records its run event."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from flightdeck.engine import lifecycle
from flightdeck.engine.registry import Registry
from flightdeck.store import runs, tenants
from flightdeck.store.db import scoped


def _queued_run(conn: Any, tenant_id: uuid.UUID) -> uuid.UUID:
    run, _ = runs.insert_run(
        conn,
        run_id=uuid.uuid4(),
        tenant_id=tenant_id,
        workflow="support_triage",
        workflow_version="1",
        idempotency_key=str(uuid.uuid4()),
        trigger_source="api",
        trigger_payload={},
        trigger_ref=None,
        trigger_sha256=b"x",
        execution_name="e",
    )
    return run.id


@pytest.fixture
def tenant(conn: Any) -> uuid.UUID:
    with conn.transaction():
        return tenants.create_tenant(conn, f"t-{uuid.uuid4().hex[:8]}", "T").id


def test_a_run_moves_forward_and_records_each_move(conn: Any, tenant: uuid.UUID) -> None:
    registry = Registry([])
    with scoped(conn, tenant):
        run_id = _queued_run(conn, tenant)
        lifecycle.start(conn, run_id, tenant, "plan")
        lifecycle.advance(conn, run_id, "retrieve")
        lifecycle.succeed(conn, registry, run_id, tenant, "reflect")
        run = runs.get_run(conn, run_id)
        types = [e.type for e in runs.list_events(conn, run_id)]
    assert run is not None
    assert (run.status, run.current_node) == ("succeeded", "reflect")
    assert run.started_at is not None
    assert run.finished_at is not None
    assert types == [runs.RUN_STARTED, runs.RUN_SUCCEEDED]


@pytest.mark.parametrize("move", ["advance", "resume", "cancel", "start"])
def test_a_finished_run_refuses_to_move(conn: Any, tenant: uuid.UUID, move: str) -> None:
    with scoped(conn, tenant):
        run_id = _queued_run(conn, tenant)
        lifecycle.cancel(conn, run_id, tenant, actor="test")
    moves = {
        "cancel": lambda: lifecycle.cancel(conn, run_id, tenant, actor="again"),
        "start": lambda: lifecycle.start(conn, run_id, tenant, "plan"),
        "advance": lambda: lifecycle.advance(conn, run_id, "plan"),
        "resume": lambda: lifecycle.resume(conn, run_id, "plan"),
    }
    with scoped(conn, tenant), pytest.raises(lifecycle.TransitionError, match="is cancelled"):
        moves[move]()
    with scoped(conn, tenant):
        run = runs.get_run(conn, run_id)
    assert run is not None
    assert run.status == "cancelled"


def test_only_a_reopened_failed_run_runs_again(conn: Any, tenant: uuid.UUID) -> None:
    registry = Registry([])
    with scoped(conn, tenant):
        run_id = _queued_run(conn, tenant)
        lifecycle.start(conn, run_id, tenant, "plan")
        lifecycle.fail(
            conn, registry, run_id, tenant, error_type="Boom", error_message="no", node="plan"
        )
    with pytest.raises(lifecycle.TransitionError), scoped(conn, tenant):
        lifecycle.advance(conn, run_id, "retrieve")
    with scoped(conn, tenant):
        reopened = lifecycle.reopen(conn, run_id, execution_name="e-redrive1")
        lifecycle.advance(conn, run_id, "retrieve")
        run = runs.get_run(conn, run_id)
    assert reopened.status == "running"
    assert run is not None
    assert (run.status, run.error_type) == ("running", None)


def _enter(conn: Any, tenant: uuid.UUID, run_id: uuid.UUID, **overrides: Any) -> None:
    step: dict[str, Any] = {
        "run_id": run_id,
        "tenant_id": tenant,
        "workflow": "support_triage",
        "node": "plan",
        "attempt": 0,
        "invocation": "e/plan/1",
    }
    with scoped(conn, tenant):
        lifecycle.enter(conn, **{**step, **overrides})


def _moves(conn: Any, tenant: uuid.UUID, run_id: uuid.UUID) -> tuple[str, list[tuple[Any, ...]]]:
    with scoped(conn, tenant):
        run = runs.get_run(conn, run_id)
        events = [(e.type, e.node, e.attempt) for e in runs.list_events(conn, run_id)]
    assert run is not None
    return run.status, events


def test_entering_a_node_starts_a_queued_run_and_records_each_attempt(
    conn: Any, tenant: uuid.UUID
) -> None:
    with scoped(conn, tenant):
        run_id = _queued_run(conn, tenant)

    _enter(conn, tenant, run_id)
    _enter(conn, tenant, run_id, attempt=1, invocation="e/plan/2")

    assert _moves(conn, tenant, run_id) == (
        "running",
        [
            (runs.RUN_STARTED, None, None),
            (runs.NODE_ENTERED, "plan", 0),
            (runs.NODE_RETRIED, "plan", 1),
            (runs.NODE_ENTERED, "plan", 1),
        ],
    )


def test_entering_writes_nothing_for_an_answered_invocation_an_ended_run_or_another_workflow(
    conn: Any, tenant: uuid.UUID
) -> None:
    with scoped(conn, tenant):
        answered = _queued_run(conn, tenant)
        lifecycle.start(conn, answered, tenant, "plan")
        runs.append_event(
            conn,
            run_id=answered,
            tenant_id=tenant,
            type=runs.NODE_SUCCEEDED,
            node="plan",
            attempt=0,
            invocation="e/plan/1",
        )
        ended = _queued_run(conn, tenant)
        lifecycle.cancel(conn, ended, tenant, actor="test")
        other = _queued_run(conn, tenant)
    before = {r: _moves(conn, tenant, r) for r in (answered, ended, other)}

    _enter(conn, tenant, answered)  # the state entry already ran; its answer was lost
    _enter(conn, tenant, ended)
    _enter(conn, tenant, other, workflow="invoice_chaser")
    _enter(conn, tenant, uuid.uuid4())  # no such run

    assert {r: _moves(conn, tenant, r) for r in (answered, ended, other)} == before
    assert before[other] == ("queued", [])
