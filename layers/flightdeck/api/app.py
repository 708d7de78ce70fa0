"""Routes: trigger runs by signed webhook, read a run, list and decide approvals."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI, Query, Request, Response
from pydantic import BaseModel, Field

from flightdeck import __version__
from flightdeck.api import problems
from flightdeck.api.auth import Operator, ServicesDep, Viewer
from flightdeck.errors import InvalidInputError, NotFoundError, UnauthorizedError
from flightdeck.services import Services, services
from flightdeck.store import approvals, outbox, outcomes, runs, tenants
from flightdeck.webhooks import WebhookVerificationError, verify


class RunAccepted(BaseModel):
    run_id: uuid.UUID
    status: str
    duplicate: bool


class EventOut(BaseModel):
    id: int
    type: str
    node: str | None
    attempt: int | None
    duration_ms: float | None
    error_type: str | None
    error_message: str | None
    data: dict[str, Any]
    created_at: datetime


class ApprovalOut(BaseModel):
    id: uuid.UUID
    run_id: uuid.UUID
    node: str
    status: str
    request: Any
    decision: dict[str, Any] | None
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, a: approvals.Approval) -> ApprovalOut:
        return cls(
            id=a.id,
            run_id=a.run_id,
            node=a.node,
            status=a.status,
            request=a.request,
            decision=a.decision,
            decided_by=a.decided_by,
            decided_at=a.decided_at,
            expires_at=a.expires_at,
            created_at=a.created_at,
        )


class OutcomeOut(BaseModel):
    baseline_minutes: float
    staff_minutes: float
    minutes_saved: float
    turnaround_seconds: float
    quality_score: float
    data: dict[str, Any]


class OutboxOut(BaseModel):
    key: str
    kind: str
    node: str
    status: str
    created_at: datetime


class RunOut(BaseModel):
    id: uuid.UUID
    workflow: str
    workflow_version: str
    status: str
    trigger_source: str
    idempotency_key: str
    current_node: str | None
    error_type: str | None
    error_message: str | None
    failed_node: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    events: list[EventOut]
    approvals: list[ApprovalOut]
    outcome: OutcomeOut | None
    effects: list[OutboxOut]


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject", "edit"]
    payload: Any = None
    comment: str | None = Field(default=None, max_length=2000)


class DecisionOut(BaseModel):
    approval_id: uuid.UUID
    run_id: uuid.UUID
    status: str


class Health(BaseModel):
    status: str
    version: str


def create_app(get: Callable[[], Services] = services) -> FastAPI:
    app = FastAPI(
        title="Flightdeck API",
        version=__version__,
        description="Start LangGraph workflow runs, watch them, and decide approvals.",
    )
    app.state.services = get
    problems.install(app)

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        limit = app.state.services().settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return problems.problem(413, "Payload too large", f"the body exceeds {limit} bytes")
        return await call_next(request)

    @app.get("/healthz", operation_id="health", response_model=Health, tags=["health"])
    def health() -> Health:
        return Health(status="ok", version=__version__)

    @app.post(
        "/v1/webhooks/{workflow}",
        operation_id="triggerWebhook",
        status_code=202,
        response_model=RunAccepted,
        tags=["runs"],
        summary="Start a run from a Standard Webhooks delivery",
    )
    async def webhook(
        workflow: str,
        request: Request,
        svc: ServicesDep,
        response: Response,
        tenant: str = Query(min_length=1, max_length=63, description="the tenant's slug"),
    ) -> RunAccepted:
        body = await request.body()
        if len(body) > svc.settings.max_body_bytes:
            return problems.problem(  # type: ignore[return-value]
                413, "Payload too large", f"the body exceeds {svc.settings.max_body_bytes} bytes"
            )
        if workflow not in svc.registry:
            raise NotFoundError(f"no workflow named {workflow!r}")
        with svc.connection() as conn:
            found = tenants.get_tenant_by_slug(conn, tenant)
            secrets = tenants.webhook_secrets(conn, found.id, workflow) if found else []
        if found is None or not secrets:
            raise UnauthorizedError("the webhook signature cannot be verified")
        try:
            msg_id = verify(secrets, request.headers, body)
        except WebhookVerificationError as exc:
            raise UnauthorizedError(f"the webhook signature is not valid: {exc}") from exc
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"the body is not valid JSON: {exc}", field="body") from exc
        started = svc.runs.start(
            tenant_id=found.id,
            workflow_name=workflow,
            payload=payload,
            idempotency_key=msg_id,
            source="webhook",
        )
        if not started.created:
            response.status_code = 200
        return RunAccepted(
            run_id=started.run.id, status=started.run.status, duplicate=not started.created
        )

    @app.get("/v1/runs/{run_id}", operation_id="getRun", response_model=RunOut, tags=["runs"])
    def get_run(run_id: uuid.UUID, principal: Viewer, svc: ServicesDep) -> RunOut:
        with svc.connection() as conn:
            run = runs.get_run(conn, run_id, tenant_id=principal.tenant_id)
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
                OutboxOut(
                    key=e.key, kind=e.kind, node=e.node, status=e.status, created_at=e.created_at
                )
                for e in effects
            ],
        )

    @app.get(
        "/v1/approvals",
        operation_id="listApprovals",
        response_model=list[ApprovalOut],
        tags=["approvals"],
    )
    def list_approvals(
        principal: Viewer,
        svc: ServicesDep,
        status: Literal["pending", "approved", "rejected", "edited", "timed_out"] | None = None,
        limit: int = Query(default=100, ge=1, le=500),
    ) -> list[ApprovalOut]:
        with svc.connection() as conn:
            found = approvals.list_for_tenant(conn, principal.tenant_id, status=status, limit=limit)
        return [ApprovalOut.of(a) for a in found]

    @app.post(
        "/v1/approvals/{approval_id}/decision",
        operation_id="decideApproval",
        response_model=DecisionOut,
        tags=["approvals"],
    )
    def decide(
        approval_id: uuid.UUID, body: DecisionIn, principal: Operator, svc: ServicesDep
    ) -> DecisionOut:
        result = svc.approvals.decide(
            tenant_id=principal.tenant_id,
            approval_id=approval_id,
            decision=body.decision,
            payload=body.payload,
            decided_by=f"token:{principal.token_id}",
        )
        return DecisionOut(
            approval_id=result.approval_id, run_id=result.run_id, status=result.status
        )

    return app
