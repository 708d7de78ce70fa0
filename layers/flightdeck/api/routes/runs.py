"""Runs: start, list, inspect, cancel, redrive, re-run, and act in bulk."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from flightdeck.api.auth import Operator, ServicesDep, Viewer
from flightdeck.api.paging import decode_cursor, encode_cursor
from flightdeck.api.schemas import (
    AnnotationOut,
    ApprovalOut,
    BulkIn,
    BulkOut,
    CallbackDeliveryOut,
    EdgeOut,
    EventOut,
    GraphOut,
    NodeOut,
    OutboxOut,
    OutcomeOut,
    RunAccepted,
    RunAction,
    RunCreate,
    RunOut,
    RunPage,
    RunSummary,
)
from flightdeck.errors import InvalidInputError, NotFoundError
from flightdeck.store import annotations as annotation_store
from flightdeck.store import approvals, outbox, outcomes, runs
from flightdeck.store import callbacks as callback_store

router = APIRouter(tags=["runs"])
REPLAYED = "Idempotent-Replayed"


def parse_trigger_filters(values: list[str]) -> dict[str, str] | None:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, expected = value.partition(":")
        if not sep or not key:
            raise InvalidInputError("trigger filters look like 'field:value'", field="trigger")
        pairs[key] = expected
    return pairs or None


def summary(run: runs.Run) -> RunSummary:
    return RunSummary(
        id=run.id,
        workflow=run.workflow,
        workflow_version=run.workflow_version,
        status=run.status,
        trigger_source=run.trigger_source,
        current_node=run.current_node,
        failed_node=run.failed_node,
        error_type=run.error_type,
        rerun_of=run.rerun_of,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


@router.post(
    "/v1/runs",
    operation_id="createRun",
    status_code=202,
    response_model=RunAccepted,
    summary="Start a run from the API",
)
def create_run(
    body: RunCreate,
    principal: Operator,
    svc: ServicesDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="a retry with the same key returns the original run",
        ),
    ] = None,
) -> RunAccepted:
    started = svc.runs.start(
        tenant_id=principal.tenant_id,
        workflow_name=body.workflow,
        payload=body.input,
        idempotency_key=idempotency_key or f"api:{uuid.uuid4()}",
        source="api",
    )
    if not started.created:
        response.headers[REPLAYED] = "true"
    return RunAccepted(run_id=started.run.id, workflow=started.run.workflow)


@router.get("/v1/runs", operation_id="listRuns", response_model=RunPage)
def list_runs(
    principal: Viewer,
    svc: ServicesDep,
    status: Annotated[
        list[
            Literal["queued", "running", "waiting_for_approval", "succeeded", "failed", "cancelled"]
        ],
        Query(),
    ] = [],  # noqa: B006 - FastAPI copies defaults
    workflow: str | None = Query(default=None, max_length=48),
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    source: Literal["webhook", "api", "schedule"] | None = None,
    trigger: Annotated[
        list[str], Query(description="trigger field filters, 'field:value'; all must match")
    ] = [],  # noqa: B006
    trigger_id: str | None = Query(
        default=None,
        min_length=1,
        max_length=200,
        description="the trigger's id: the webhook-id / Idempotency-Key, or the business id"
        " the workflow names (e.g. a ticket id)",
    ),
    sort: Literal["-created_at", "created_at"] = "-created_at",
    cursor: str | None = Query(default=None, max_length=400),
    limit: int = Query(default=50, ge=1, le=200),
) -> RunPage:
    where = runs.RunFilter(
        statuses=tuple(status),
        workflow=workflow,
        created_after=created_after,
        created_before=created_before,
        source=source,
        trigger=parse_trigger_filters(trigger),
        trigger_id=trigger_id,
    )
    after = runs.Cursor(*decode_cursor(cursor)) if cursor else None
    with svc.tenant(principal.tenant_id) as conn:
        page = runs.list_runs(
            conn,
            where,
            tenant_id=principal.tenant_id,
            descending=sort.startswith("-"),
            after=after,
            limit=limit + 1,
        )
    more = len(page) > limit
    page = page[:limit]
    return RunPage(
        items=[summary(r) for r in page],
        next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if more and page else None,
    )


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
        notes = annotation_store.list_for_run(conn, run_id)
        deliveries = callback_store.list_for_run(conn, run_id)
    from flightdeck.engine.views import graph_view  # the compiler: only the detail view uses it

    graph = graph_view(svc.registry.get(run.workflow), run, events)
    return RunOut(
        **summary(run).model_dump(),
        idempotency_key=run.idempotency_key,
        error_message=run.error_message,
        graph=GraphOut(
            entry=graph.entry,
            nodes=[NodeOut(**vars(n)) for n in graph.nodes],
            edges=[EdgeOut(**e) for e in graph.edges],
        ),
        events=[EventOut(**vars(e)) for e in events],
        approvals=[ApprovalOut.of(a) for a in approval_list],
        outcome=OutcomeOut(**vars(outcome), minutes_saved=outcome.minutes_saved)
        if outcome
        else None,
        effects=[
            OutboxOut(key=e.key, kind=e.kind, node=e.node, status=e.status, created_at=e.created_at)
            for e in effects
        ],
        annotations=[AnnotationOut.of(a) for a in notes],
        deliveries=[CallbackDeliveryOut.of(d) for d in deliveries],
    )


@router.post("/v1/runs/{run_id}/cancel", operation_id="cancelRun", response_model=RunAction)
def cancel_run(run_id: uuid.UUID, principal: Operator, svc: ServicesDep) -> RunAction:
    run = svc.runs.cancel(tenant_id=principal.tenant_id, run_id=run_id, actor=principal.actor)
    return RunAction(run_id=run.id, status=run.status)


@router.post(
    "/v1/runs/{run_id}/redrive",
    operation_id="redriveRun",
    status_code=202,
    response_model=RunAction,
    summary="Continue a failed run from its failed node",
)
def redrive_run(run_id: uuid.UUID, principal: Operator, svc: ServicesDep) -> RunAction:
    node = svc.runs.redrive(tenant_id=principal.tenant_id, run_id=run_id, actor=principal.actor)
    return RunAction(run_id=run_id, status="running", node=node)


@router.post(
    "/v1/runs/{run_id}/rerun",
    operation_id="rerunRun",
    status_code=202,
    response_model=RunAccepted,
    summary="Start a new run from this run's trigger, on the current workflow version",
)
def rerun_run(
    run_id: uuid.UUID,
    principal: Operator,
    svc: ServicesDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> RunAccepted:
    started = svc.runs.rerun(
        tenant_id=principal.tenant_id,
        run_id=run_id,
        actor=principal.actor,
        idempotency_key=f"rerun:{run_id}:{idempotency_key}" if idempotency_key else None,
    )
    if not started.created:
        response.headers[REPLAYED] = "true"
    return RunAccepted(run_id=started.run.id, workflow=started.run.workflow)


@router.post(
    "/v1/runs/bulk",
    operation_id="bulkRuns",
    response_model=BulkOut,
    summary="Cancel or retry every run matching a filter",
)
def bulk_runs(body: BulkIn, principal: Operator, svc: ServicesDep) -> BulkOut:
    f = body.filter
    matched, touched = svc.runs.bulk(
        tenant_id=principal.tenant_id,
        action=body.action,
        where=runs.RunFilter(
            statuses=tuple(f.status),
            workflow=f.workflow,
            created_after=f.created_after,
            created_before=f.created_before,
            source=f.source,
        ),
        actor=principal.actor,
    )
    return BulkOut(action=body.action, matched=matched, touched=touched)
