"""Business outcomes and technical health, computed in SQL from what the engine records.

The definitions live in `flightdeck.store.insights` (what is counted) and here (the workflow
manifests' baselines: setup hours, manual turnaround); the dashboard only displays them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query

from flightdeck.api.auth import ServicesDep, Viewer
from flightdeck.api.schemas import (
    BenefitPoint,
    CustomerExperience,
    DayHealth,
    Effectiveness,
    NodeHealth,
    OutcomeFigures,
    OutcomePoint,
    OutcomeSeries,
    OutcomesOut,
    StaffTime,
    TechnicalHealth,
    TimeToBenefit,
    Turnaround,
    Window,
    WorkflowOutcomes,
)
from flightdeck.engine.workflow import NAME_PATTERN
from flightdeck.errors import InvalidInputError, NotFoundError
from flightdeck.store import insights
from flightdeck.store.db import Connection
from flightdeck.store.tenants import Principal

if TYPE_CHECKING:
    from flightdeck.engine.registry import Registry

router = APIRouter(tags=["insights"])

DEFAULT_WINDOW = timedelta(days=28)
# The most days (health, daily trend) or weeks (weekly trend) one answer holds.
MAX_BUCKETS = 400

WorkflowQuery = Annotated[
    str | None, Query(pattern=NAME_PATTERN.pattern, description="one workflow; default all")
]
SinceQuery = Annotated[
    datetime | None,
    Query(description="from this time, inclusive (UTC when no offset); default 28 days ago"),
]
UntilQuery = Annotated[
    datetime | None, Query(description="before this time, exclusive; default now")
]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _scope(
    principal: Principal,
    registry: Registry,
    workflow: str | None,
    since: datetime | None,
    until: datetime | None,
    bucket: timedelta | None,
) -> insights.Scope:
    if workflow is not None and workflow not in registry:
        raise NotFoundError(f"no workflow {workflow!r}; known: {', '.join(registry.names())}")
    end = _utc(until) if until is not None else datetime.now(UTC)
    start = _utc(since) if since is not None else end - DEFAULT_WINDOW
    if start >= end:
        raise InvalidInputError("since must be before until", field="since")
    if bucket is not None and end - start > bucket * MAX_BUCKETS:
        raise InvalidInputError(
            f"the window holds more than {MAX_BUCKETS} {'days' if bucket.days == 1 else 'weeks'};"
            " narrow it or use a coarser bucket",
            field="since",
        )
    return insights.Scope(principal.tenant_id, start, end, workflow)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _figures(row: dict[str, Any] | None, manual_baseline_seconds: float | None) -> OutcomeFigures:
    row = row or {}
    finished = row.get("succeeded", 0) + row.get("failed", 0) + row.get("cancelled", 0)
    saved = float(row.get("minutes_saved", 0))
    return OutcomeFigures(
        runs=row.get("runs", 0),
        succeeded=row.get("succeeded", 0),
        failed=row.get("failed", 0),
        cancelled=row.get("cancelled", 0),
        in_progress=row.get("in_progress", 0),
        effectiveness=Effectiveness(
            finished_runs=finished,
            succeeded_without_edit=row.get("succeeded_without_edit", 0),
            succeeded_without_edit_rate=_rate(row.get("succeeded_without_edit", 0), finished),
            approvals_decided=row.get("approvals_decided", 0),
            approvals_accepted=row.get("approvals_accepted", 0),
            approval_acceptance_rate=_rate(
                row.get("approvals_accepted", 0), row.get("approvals_decided", 0)
            ),
            annotation_scores=row.get("annotation_scores", 0),
            mean_annotation_score=_float(row.get("mean_annotation_score")),
            mean_quality_score=_float(row.get("mean_quality_score")),
        ),
        staff=StaffTime(
            measured_runs=row.get("measured_runs", 0),
            baseline_minutes=float(row.get("baseline_minutes", 0)),
            staff_minutes=float(row.get("staff_minutes", 0)),
            minutes_saved=saved,
            hours_relieved=saved / 60,
        ),
        customer_experience=CustomerExperience(
            measured_runs=row.get("measured_runs", 0),
            turnaround_p50_seconds=_float(row.get("cx_p50")),
            turnaround_p90_seconds=_float(row.get("cx_p90")),
            manual_baseline_seconds=manual_baseline_seconds,
            cx_scores=row.get("cx_scores", 0),
            mean_cx_score=_float(row.get("mean_cx_score")),
            cx_labels=row.get("cx_labels", {}),
        ),
        turnaround=Turnaround(
            runs=row.get("succeeded", 0),
            p50_seconds=_float(row.get("turnaround_p50")),
            p95_seconds=_float(row.get("turnaround_p95")),
        ),
    )


def _outcomes(conn: Connection, registry: Registry, scope: insights.Scope) -> OutcomesOut:
    shown = [w for w in registry if scope.workflow in (None, w.name)]
    rows = insights.figures(conn, scope)
    benefits = insights.benefit(
        conn, scope.tenant_id, {w.name: w.manifest.setup_hours * 60 for w in shown}
    )
    manual = {
        w.name: w.manifest.manual_turnaround_minutes * 60
        for w in shown
        if w.manifest.manual_turnaround_minutes is not None
    }
    # The total's manual baseline: each workflow's, weighted by its measured runs.
    weights = {name: rows.get(name, {}).get("measured_runs", 0) for name in manual}
    total_manual = (
        sum(manual[name] * n for name, n in weights.items()) / sum(weights.values())
        if sum(weights.values())
        else (next(iter(manual.values())) if len(manual) == 1 else None)
    )
    per_workflow = []
    for w in shown:
        got = benefits[w.name]
        reached = got.reached_at
        first = got.first_run_at
        per_workflow.append(
            WorkflowOutcomes(
                workflow=w.name,
                description=w.manifest.description,
                figures=_figures(rows.get(w.name), manual.get(w.name)),
                time_to_benefit=TimeToBenefit(
                    setup_minutes=w.manifest.setup_hours * 60,
                    first_run_at=first,
                    reached_at=reached,
                    days_to_benefit=(reached - first).total_seconds() / 86400
                    if reached is not None and first is not None
                    else None,
                    cumulative_minutes_saved=got.cumulative_minutes_saved,
                    curve=[
                        BenefitPoint(day=day, cumulative_minutes_saved=value)
                        for day, value in got.curve
                    ],
                ),
            )
        )
    return OutcomesOut(
        window=Window(since=scope.since, until=scope.until),
        total=_figures(rows.get(None), total_manual),
        workflows=per_workflow,
    )


@router.get("/v1/outcomes", operation_id="getOutcomes", response_model=OutcomesOut)
def get_outcomes(
    principal: Viewer,
    svc: ServicesDep,
    workflow: WorkflowQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> OutcomesOut:
    """The five business outcomes over a window, in total and per workflow: effectiveness and
    quality, staff hours relieved, customer experience, turnaround time (runs triggered in the
    window) and time to benefit (all time)."""
    scope = _scope(principal, svc.registry, workflow, since, until, None)
    with svc.tenant(principal.tenant_id) as conn:
        insights.use_utc(conn)
        return _outcomes(conn, svc.registry, scope)


@router.get(
    "/v1/outcomes/timeseries", operation_id="getOutcomeSeries", response_model=OutcomeSeries
)
def get_outcome_series(
    principal: Viewer,
    svc: ServicesDep,
    workflow: WorkflowQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    bucket: Literal["day", "week"] = "week",
) -> OutcomeSeries:
    """The outcomes' trend, one point per UTC day or ISO week (starting Monday); at most 400."""
    size = timedelta(days=1 if bucket == "day" else 7)
    scope = _scope(principal, svc.registry, workflow, since, until, size)
    with svc.tenant(principal.tenant_id) as conn:
        insights.use_utc(conn)
        rows = insights.series(conn, scope, bucket)
    return OutcomeSeries(
        window=Window(since=scope.since, until=scope.until),
        bucket=bucket,
        workflow=workflow,
        points=[OutcomePoint(**row) for row in rows],
    )


@router.get("/v1/health", operation_id="getTechnicalHealth", response_model=TechnicalHealth)
def get_technical_health(
    principal: Viewer,
    svc: ServicesDep,
    workflow: WorkflowQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> TechnicalHealth:
    """Latency per node (p50/p95), error and retry rates, runs per UTC day (at most 400 days)."""
    scope = _scope(principal, svc.registry, workflow, since, until, timedelta(days=1))
    with svc.tenant(principal.tenant_id) as conn:
        insights.use_utc(conn)
        nodes = insights.node_health(conn, scope)
        days = insights.runs_per_day(conn, scope)
        totals = insights.figures(conn, scope).get(None, {})
    finished = totals.get("succeeded", 0) + totals.get("failed", 0) + totals.get("cancelled", 0)
    executions = sum(n["executions"] for n in nodes)
    retries = sum(n["retries"] for n in nodes)
    return TechnicalHealth(
        window=Window(since=scope.since, until=scope.until),
        runs=totals.get("runs", 0),
        finished_runs=finished,
        failed_runs=totals.get("failed", 0),
        error_rate=_rate(totals.get("failed", 0), finished),
        node_executions=executions,
        retried_executions=retries,
        retry_rate=_rate(retries, executions),
        nodes=[
            NodeHealth(
                workflow=n["workflow"],
                node=n["node"],
                executions=n["executions"],
                failures=n["failures"],
                retries=n["retries"],
                error_rate=_rate(n["failures"], n["executions"]),
                p50_ms=_float(n["p50_ms"]),
                p95_ms=_float(n["p95_ms"]),
            )
            for n in nodes
        ],
        runs_per_day=[
            DayHealth(
                day=d["day"].date(), runs=d["runs"], succeeded=d["succeeded"], failed=d["failed"]
            )
            for d in days
        ],
    )
