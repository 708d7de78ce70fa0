"""Request and response bodies of the API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from flightdeck.store import approvals, callbacks, sealing
from flightdeck.store.annotations import Annotation, Kind


class RunAccepted(BaseModel):
    """The answer to a trigger; a replayed trigger gets the very same body (and the header
    `Idempotent-Replayed: true`)."""

    run_id: uuid.UUID
    workflow: str


class RunCreate(BaseModel):
    workflow: str = Field(min_length=1, max_length=48)
    input: dict[str, Any]


class RunSummary(BaseModel):
    id: uuid.UUID
    workflow: str
    workflow_version: str
    status: str
    trigger_source: str
    current_node: str | None
    failed_node: str | None
    error_type: str | None
    rerun_of: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunPage(BaseModel):
    items: list[RunSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class NodeOut(BaseModel):
    name: str
    status: str
    attempts: int
    duration_ms: float | None
    error_type: str | None
    error_message: str | None


class EdgeOut(BaseModel):
    source: str
    target: str
    conditional: bool


class GraphOut(BaseModel):
    entry: str
    nodes: list[NodeOut]
    edges: list[EdgeOut]


class RunAction(BaseModel):
    run_id: uuid.UUID
    status: str
    node: str | None = None


class BulkFilter(BaseModel):
    status: list[Literal["queued", "running", "waiting_for_approval", "failed"]] = []
    workflow: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    source: Literal["webhook", "api", "schedule"] | None = None


class BulkIn(BaseModel):
    action: Literal["cancel", "retry"]
    filter: BulkFilter = BulkFilter()


class BulkOut(BaseModel):
    action: str
    matched: int
    touched: int


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
    age_seconds: float

    @classmethod
    def of(cls, a: approvals.Approval) -> ApprovalOut:
        end = a.decided_at or datetime.now(UTC)
        return cls(
            age_seconds=round((end - a.created_at).total_seconds(), 3),
            id=a.id,
            run_id=a.run_id,
            node=a.node,
            status=a.status,
            request=a.request,
            # An edit's sealed fields read "<encrypted>" (as a sealed trigger's do).
            decision=a.decision
            and {**a.decision, "payload": sealing.unsealed(a.decision.get("payload"))},
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


class AnnotationOut(BaseModel):
    id: uuid.UUID
    run_id: uuid.UUID
    workflow: str
    node: str | None
    kind: Kind
    body: str | None
    label: str | None
    score: float | None
    metric: str | None
    author: str
    created_at: datetime

    @classmethod
    def of(cls, a: Annotation) -> AnnotationOut:
        return cls(
            id=a.id,
            run_id=a.run_id,
            workflow=a.workflow,
            node=a.node,
            kind=a.kind,
            body=a.body,
            label=a.label,
            score=a.score,
            metric=a.metric,
            author=a.author,
            created_at=a.created_at.astimezone(UTC),
        )


class CallbackDeliveryOut(BaseModel):
    """One entry of a run's delivery log. `id` is the `webhook-id` the receiver saw."""

    id: uuid.UUID
    event_type: str
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: callbacks.Delivery) -> CallbackDeliveryOut:
        return cls(
            id=d.id,
            event_type=d.event_type,
            url=d.url,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )


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
    rerun_of: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    graph: GraphOut
    events: list[EventOut]
    approvals: list[ApprovalOut]
    outcome: OutcomeOut | None
    effects: list[OutboxOut]
    annotations: list[AnnotationOut]
    deliveries: list[CallbackDeliveryOut] = Field(description="outbound callbacks about this run")


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


class TenantIn(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = Field(min_length=1, max_length=200)


class TenantOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str


class TokenIn(BaseModel):
    role: Literal["viewer", "operator", "admin"]
    name: str = Field(default="", max_length=200)


class TokenOut(BaseModel):
    id: uuid.UUID
    prefix: str
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedTokenOut(BaseModel):
    id: uuid.UUID
    prefix: str
    role: str
    token: str = Field(description="shown once; only its hash is kept")


class WebhookSecretIn(BaseModel):
    workflow: str | None = Field(
        default=None, description="the workflow it signs for; none: every workflow"
    )


class WebhookSecretOut(BaseModel):
    id: uuid.UUID
    workflow: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None


class IssuedSecretOut(BaseModel):
    id: uuid.UUID
    workflow: str | None
    secret: str = Field(description="shown once")


# --- Business outcomes and technical health (read models for the dashboard) ---------------


class Window(BaseModel):
    """The time window figures were computed over: `since` inclusive, `until` exclusive."""

    since: datetime
    until: datetime


class Effectiveness(BaseModel):
    """Effectiveness and quality."""

    finished_runs: int = Field(description="runs that succeeded, failed or were cancelled")
    succeeded_without_edit: int = Field(
        description="succeeded runs whose approvals (if any) were not edited"
    )
    succeeded_without_edit_rate: float | None = Field(
        description="succeeded_without_edit / finished_runs; null when nothing finished"
    )
    approvals_decided: int = Field(description="approvals a person approved, edited or rejected")
    approvals_accepted: int = Field(description="of those, approved or edited")
    approval_acceptance_rate: float | None
    annotation_scores: int = Field(description="score annotations, customer-experience ones aside")
    mean_annotation_score: float | None
    mean_quality_score: float | None = Field(
        description="the workflow's own quality score of its runs (the before/after snapshot)"
    )


class StaffTime(BaseModel):
    """Staff hours relieved: Σ (baseline minutes - staff minutes spent) over measured runs."""

    measured_runs: int
    baseline_minutes: float
    staff_minutes: float
    minutes_saved: float
    hours_relieved: float


# Percentiles of the outcomes and health endpoints are merged from hourly, daily and weekly
# sketches (flightdeck.store.insights): within 2% of percentile_cont over the same runs.
APPROXIMATE = (
    "the {q}, interpolated as percentile_cont does; within 2% (relative) of the exact value,"
    " and exact when no two values share a 2% bucket"
)


class CustomerExperience(BaseModel):
    """How long the end customer waited for the outcome, against the manual process."""

    measured_runs: int
    turnaround_p50_seconds: float | None = Field(description=APPROXIMATE.format(q="median"))
    turnaround_p90_seconds: float | None = Field(
        description=APPROXIMATE.format(q="90th percentile")
    )
    manual_baseline_seconds: float | None = Field(
        description="what the customer waits without automation (the workflow manifest's"
        " `manual_turnaround_minutes`, run-weighted across workflows)"
    )
    cx_scores: int = Field(description="score annotations with metric `cx`")
    mean_cx_score: float | None
    cx_labels: dict[str, int] = Field(description="labels starting `cx:` and how often each")


class Turnaround(BaseModel):
    """Trigger → done (created → finished) of succeeded runs."""

    runs: int
    p50_seconds: float | None = Field(description=APPROXIMATE.format(q="median"))
    p95_seconds: float | None = Field(description=APPROXIMATE.format(q="95th percentile"))


class OutcomeFigures(BaseModel):
    runs: int
    succeeded: int
    failed: int
    cancelled: int
    in_progress: int
    effectiveness: Effectiveness
    staff: StaffTime
    customer_experience: CustomerExperience
    turnaround: Turnaround


class BenefitPoint(BaseModel):
    day: date
    cumulative_minutes_saved: float


class TimeToBenefit(BaseModel):
    """Days from the workflow's first run for the tenant until its cumulative staff time saved
    exceeds its setup time (all time, not only the window), and the curve to get there."""

    setup_minutes: float
    first_run_at: datetime | None
    reached_at: datetime | None
    days_to_benefit: float | None
    cumulative_minutes_saved: float
    curve: list[BenefitPoint] = Field(description="one point per day with runs, cumulative")


class WorkflowOutcomes(BaseModel):
    workflow: str
    description: str
    figures: OutcomeFigures
    time_to_benefit: TimeToBenefit


class OutcomesOut(BaseModel):
    window: Window
    total: OutcomeFigures
    workflows: list[WorkflowOutcomes]


class OutcomePoint(BaseModel):
    """One bucket of the outcome trend; empty buckets are present with zero runs."""

    start: datetime
    runs: int
    succeeded: int
    failed: int
    baseline_minutes: float
    staff_minutes: float
    minutes_saved: float
    succeeded_without_edit_rate: float | None
    approval_acceptance_rate: float | None
    mean_quality_score: float | None
    turnaround_p50_seconds: float | None = Field(description=APPROXIMATE.format(q="median"))
    turnaround_p95_seconds: float | None = Field(
        description=APPROXIMATE.format(q="95th percentile")
    )
    cx_turnaround_p50_seconds: float | None = Field(description=APPROXIMATE.format(q="median"))
    cx_turnaround_p90_seconds: float | None = Field(
        description=APPROXIMATE.format(q="90th percentile")
    )


class OutcomeSeries(BaseModel):
    window: Window
    bucket: Literal["day", "week"]
    workflow: str | None
    points: list[OutcomePoint]


class NodeHealth(BaseModel):
    workflow: str
    node: str
    executions: int = Field(description="finished node executions: succeeded, waiting or failed")
    failures: int
    retries: int
    error_rate: float | None
    p50_ms: float | None = Field(description=APPROXIMATE.format(q="median"))
    p95_ms: float | None = Field(description=APPROXIMATE.format(q="95th percentile"))


class DayHealth(BaseModel):
    day: date
    runs: int
    succeeded: int
    failed: int


class TechnicalHealth(BaseModel):
    window: Window
    runs: int
    finished_runs: int
    failed_runs: int
    error_rate: float | None = Field(description="failed / finished runs")
    node_executions: int
    retried_executions: int
    retry_rate: float | None = Field(description="retried / all node executions")
    nodes: list[NodeHealth]
    runs_per_day: list[DayHealth]


# --- Who is signed in, and one-time sign-in links for the dashboard ------------------------


class MeOut(BaseModel):
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    role: Literal["viewer", "operator", "admin"]
    token_prefix: str
    expires_at: datetime | None = Field(description="when this token stops working, if ever")


class SignInLinkIn(BaseModel):
    role: Literal["viewer", "operator"] = "viewer"
    ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)


class SignInLinkOut(BaseModel):
    code: str = Field(description="shown once; good for one sign-in before `expires_at`")
    path: str = Field(description="append to the dashboard's address: /signin#code=…")
    role: str
    expires_at: datetime


class SignInIn(BaseModel):
    code: str = Field(min_length=1, max_length=200)


class SignInOut(BaseModel):
    token: str = Field(description="a session token for the dashboard; shown once")
    role: str
    tenant_id: uuid.UUID
    expires_at: datetime


# --- Knowledge: documents and retrieval ---------------------------------------------------

Tag = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_:-]{0,63}$")]


class DocumentOut(BaseModel):
    id: uuid.UUID
    filename: str
    title: str | None
    content_type: str
    size_bytes: int
    tags: list[str]
    status: Literal["queued", "ingesting", "ready", "failed"]
    error: str | None = Field(description="why ingestion failed, for a person")
    chunk_count: int
    embedding_model: str | None
    embedding_dimension: int | None
    created_at: datetime
    updated_at: datetime
    ingested_at: datetime | None


class UploadIn(BaseModel):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str | None = Field(default=None, max_length=200)
    size_bytes: int = Field(ge=1)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class UploadOut(BaseModel):
    document: DocumentOut
    url: str = Field(description="PUT the file's bytes here before `expires_in` seconds pass")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="send these headers with the PUT")
    expires_in: int


class SearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=5, ge=1, le=50)
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class SearchHit(BaseModel):
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    title: str | None
    ordinal: int
    heading: str
    text: str
    vector_rank: int | None = Field(
        description="rank among the nearest vectors; null: not among them"
    )
    text_rank: int | None = Field(description="rank in full-text search; null: no word matched")
    score: float = Field(description="reciprocal rank fusion: Σ 1/(60 + rank)")


class SearchOut(BaseModel):
    query: str
    embedding_model: str
    hits: list[SearchHit]
