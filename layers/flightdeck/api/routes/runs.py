"""Runs: the detail view with its timeline."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from flightdeck.api.auth import ServicesDep, Viewer
from flightdeck.api.schemas import ApprovalOut, EventOut, OutboxOut, OutcomeOut, RunOut
from flightdeck.errors import NotFoundError
from flightdeck.store import approvals, outbox, outcomes, runs

router = APIRouter(tags=["runs"])


@router.get("/v1/runs/{run_id}", operation_id="getRun", response_model=RunOut)
def get_run(run_id: uuid.UUID, principal: Viewer, svc: ServicesDep) -> RunOut:
    with svc.tenant(principal.tenant_id) as conn:
        run = runs.get_run(conn, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id}")
        events = runs.list_events(conn, run_id)
        approval_list = approvals.list_for_run(conn, run_id)
        outcome = outcomes.get(conn, run_id)
        effects = outbox.for_run(conn, run_id)
    return RunOut(
        id=run.id,
        workflow=run.workflow,
        workflow_version=run.workflow_version,
        status=run.status,
        trigger_source=run.trigger_source,
        idempotency_key=run.idempotency_key,
        current_node=run.current_node,
        error_type=run.error_type,
        error_message=run.error_message,
        failed_node=run.failed_node,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        events=[EventOut(**vars(e)) for e in events],
        approvals=[ApprovalOut.of(a) for a in approval_list],
        outcome=OutcomeOut(**vars(outcome), minutes_saved=outcome.minutes_saved)
        if outcome
        else None,
        effects=[
            OutboxOut(key=e.key, kind=e.kind, node=e.node, status=e.status, created_at=e.created_at)
            for e in effects
        ],
    )
