"""A run's trace (the span tree from the span store) and the cost ledger, summed per run,
workflow or tenant and month."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from flightdeck.api.auth import ServicesDep, Viewer
from flightdeck.engine.workflow import NAME_PATTERN
from flightdeck.errors import NotFoundError
from flightdeck.store import runs, tenants
from flightdeck.store import telemetry as telemetry_store
from flightdeck.store.telemetry import CostRow
from flightdeck.telemetry.tracing import SpanRecord

router = APIRouter()

SpanAttribute = str | int | float | bool


class SpanOut(BaseModel):
    span_id: str
    parent_span_id: str | None
    name: str
    kind: Literal["api", "execution", "node", "model", "other"] = Field(
        description="the API request that started the run, a Step Functions execution, "
        "a node execution, a model call"
    )
    started_at: datetime
    ended_at: datetime | None = Field(
        description="an execution span lasts until its last node's span ends (Step Functions "
        "does not report its end to the runner); null while nothing under it has ended"
    )
    duration_ms: float | None
    status: Literal["unset", "ok", "error"]
    attributes: dict[str, SpanAttribute]
    children: list[SpanOut]


class TraceOut(BaseModel):
    run_id: uuid.UUID
    trace_id: str | None = Field(description="null when no span of the run was stored")
    exporter: Literal["postgres", "otlp", "none"] = Field(
        description="where this deployment sends spans; only 'postgres' keeps them here"
    )
    spans: list[SpanOut] = Field(description="the roots (one per trace), children nested")


class CostFigures(BaseModel):
    runs: int
    executions: int = Field(description="node executions (retries included)")
    input_tokens: int
    output_tokens: int
    unpriced_tokens: int = Field(description="tokens of models the price table does not list")
    lambda_gb_seconds: float
    state_transitions: int
    api_requests: int
    model_usd: float
    lambda_usd: float
    stepfunctions_usd: float
    api_usd: float
    storage_usd: float = Field(description="S3 and Postgres storage for the month (tenants only)")
    total_usd: float


class CostLine(CostFigures):
    key: str = Field(description="the run id, workflow name or tenant id")
    label: str
    tenant_id: uuid.UUID
    workflow: str | None
    s3_bytes: int | None = None
    rds_bytes: int | None = None


class PriceSource(BaseModel):
    region: str
    as_of: str
    currency: Literal["USD"] = "USD"
    sources: dict[str, str]


class CostsOut(BaseModel):
    month: str
    by: Literal["run", "workflow", "tenant"]
    prices: PriceSource
    rows: list[CostLine] = Field(description="most expensive first")
    total: CostFigures = Field(description="every tenant in scope for the month, storage included")


def _tree(records: list[SpanRecord]) -> list[SpanOut]:
    nodes = {
        r.span_id: SpanOut(
            span_id=r.span_id,
            parent_span_id=r.parent_span_id,
            name=r.name,
            kind=r.kind,  # type: ignore[arg-type]
            started_at=r.started_at,
            ended_at=r.ended_at,
            duration_ms=None,
            status=r.status,
            attributes={
                k: v for k, v in r.attributes.items() if isinstance(v, str | int | float | bool)
            },
            children=[],
        )
        for r in records
    }
    roots: list[SpanOut] = []
    for span in nodes.values():
        parent = nodes.get(span.parent_span_id or "")
        (parent.children if parent is not None else roots).append(span)

    def settle(span: SpanOut) -> datetime | None:
        span.children.sort(key=lambda c: (c.started_at, c.span_id))
        ends = [e for e in (settle(c) for c in span.children) if e is not None]
        if span.kind == "execution" and ends:
            span.ended_at = max([*ends, *([span.ended_at] if span.ended_at else [])])
        if span.ended_at is not None:
            span.duration_ms = round((span.ended_at - span.started_at).total_seconds() * 1000, 3)
        return max([*ends, *([span.ended_at] if span.ended_at else [])], default=None)

    for root in roots:
        settle(root)
    roots.sort(key=lambda r: (r.started_at, r.span_id))
    return roots


@router.get(
    "/v1/runs/{run_id}/trace",
    operation_id="getRunTrace",
    response_model=TraceOut,
    tags=["runs"],
    summary="The run's OpenTelemetry spans as a tree",
)
def get_run_trace(run_id: uuid.UUID, principal: Viewer, svc: ServicesDep) -> TraceOut:
    """API request → Step Functions execution → node executions → model calls, with the
    business event each node serves and what it cost. Spans are kept here when the exporter is
    `postgres` (the local default); with `otlp` they are in the tracing backend instead."""
    with svc.tenant(principal.tenant_id) as conn:
        if runs.get_run(conn, run_id) is None:
            raise NotFoundError(f"no run {run_id}")
        records = telemetry_store.spans_for_run(conn, run_id)
    roots = _tree(records)
    return TraceOut(
        run_id=run_id,
        trace_id=records[0].trace_id if records else None,
        exporter=svc.settings.telemetry_exporter,
        spans=roots,
    )


MonthQuery = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="a calendar month in UTC, YYYY-MM; default the current one",
    ),
]


def _window(month: str | None) -> tuple[str, datetime, datetime]:
    now = datetime.now(UTC)
    year, number = (int(p) for p in month.split("-")) if month else (now.year, now.month)
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return f"{year:04d}-{number:02d}", start, end


def _money(value: Decimal) -> float:
    return float(round(value, 10))


def _figures(row: CostRow, storage: Decimal = Decimal(0)) -> dict[str, object]:
    total = row.model_usd + row.lambda_usd + row.stepfunctions_usd + row.api_usd + storage
    return {
        "runs": row.runs,
        "executions": row.executions,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "unpriced_tokens": row.unpriced_tokens,
        "lambda_gb_seconds": float(row.lambda_gb_seconds),
        "state_transitions": row.state_transitions,
        "api_requests": row.api_requests,
        "model_usd": _money(row.model_usd),
        "lambda_usd": _money(row.lambda_usd),
        "stepfunctions_usd": _money(row.stepfunctions_usd),
        "api_usd": _money(row.api_usd),
        "storage_usd": _money(storage),
        "total_usd": _money(total),
    }


@router.get(
    "/v1/costs",
    operation_id="getCosts",
    response_model=CostsOut,
    tags=["insights"],
    summary="What runs cost in a month, per run, workflow or tenant",
)
def get_costs(
    principal: Viewer,
    svc: ServicesDep,
    by: Annotated[
        Literal["run", "workflow", "tenant"],
        Query(description="one row per run, per workflow, or per tenant (client)"),
    ] = "tenant",
    month: MonthQuery = None,
    workflow: Annotated[
        str | None, Query(pattern=NAME_PATTERN.pattern, description="one workflow; default all")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="the most rows returned")] = 100,
) -> CostsOut:
    """Model tokens priced by the price table, Lambda GB-seconds and requests, Step Functions state
    transitions and API Gateway requests from the cost ledger (written as runs execute), plus,
    per tenant, a month of the storage it keeps now. An admin sees every tenant granted to it
    in the per-tenant view; everyone else their own tenant."""
    if workflow is not None and workflow not in svc.registry:
        raise NotFoundError(f"no workflow {workflow!r}; known: {', '.join(svc.registry.names())}")
    label, since, until = _window(month)
    prices = svc.prices
    with svc.connection() as conn, conn.transaction():
        if by == "tenant" and principal.role == "admin":
            scope = tenants.granted(conn, principal.home_tenant_id)
        else:
            scope = [
                t for t in tenants.granted(conn, principal.tenant_id) if t.id == principal.tenant_id
            ]
    names = {t.id: t.name for t in scope}
    ids = list(names)
    with svc.tenant(*ids) as conn:
        rows = telemetry_store.summarise(
            conn, by, since=since, until=until, workflow=workflow, limit=limit
        )
        per_tenant = telemetry_store.summarise(
            conn, "tenant", since=since, until=until, workflow=workflow, limit=len(ids)
        )
        stored = {s.tenant_id: s for s in telemetry_store.stored_bytes(conn, ids)}
    storage = {
        tenant_id: sum(prices.storage_month(s.s3_bytes, s.rds_bytes), Decimal(0))
        for tenant_id, s in stored.items()
    }
    lines = []
    for row in rows:
        tenant_storage = storage.get(row.tenant_id, Decimal(0)) if by == "tenant" else Decimal(0)
        line = CostLine(
            key=row.key,
            label=names.get(row.tenant_id, row.key) if by == "tenant" else row.key,
            tenant_id=row.tenant_id,
            workflow=row.workflow,
            s3_bytes=stored[row.tenant_id].s3_bytes if by == "tenant" else None,
            rds_bytes=stored[row.tenant_id].rds_bytes if by == "tenant" else None,
            **_figures(row, tenant_storage),  # type: ignore[arg-type]
        )
        lines.append(line)
    if by == "tenant":
        # A tenant that ran nothing this month still pays for what it keeps.
        seen = {line.tenant_id for line in lines}
        for tenant_id in ids:
            if tenant_id not in seen and storage.get(tenant_id):
                empty = _empty_row(tenant_id)
                lines.append(
                    CostLine(
                        key=str(tenant_id),
                        label=names[tenant_id],
                        tenant_id=tenant_id,
                        workflow=None,
                        s3_bytes=stored[tenant_id].s3_bytes,
                        rds_bytes=stored[tenant_id].rds_bytes,
                        **_figures(empty, storage[tenant_id]),  # type: ignore[arg-type]
                    )
                )
        lines.sort(key=lambda line: (-line.total_usd, line.label))
        lines = lines[:limit]
    total = _total(per_tenant, sum(storage.values(), Decimal(0)))
    return CostsOut(
        month=label,
        by=by,
        prices=PriceSource(
            region=prices.region, as_of=prices.as_of.isoformat(), sources=prices.sources
        ),
        rows=lines,
        total=total,
    )


def _empty_row(tenant_id: uuid.UUID) -> CostRow:
    now = datetime.now(UTC)
    zero = Decimal(0)
    return CostRow(
        key=str(tenant_id),
        tenant_id=tenant_id,
        workflow=None,
        executions=0,
        runs=0,
        input_tokens=0,
        output_tokens=0,
        unpriced_tokens=0,
        model_usd=zero,
        lambda_gb_seconds=zero,
        lambda_usd=zero,
        state_transitions=0,
        stepfunctions_usd=zero,
        api_requests=0,
        api_usd=zero,
        first_at=now,
        last_at=now,
    )


def _total(rows: list[CostRow], storage: Decimal) -> CostFigures:
    def add(name: str) -> Decimal:
        return sum((Decimal(getattr(r, name)) for r in rows), Decimal(0))

    model, lam, sfn, api = (
        add("model_usd"),
        add("lambda_usd"),
        add("stepfunctions_usd"),
        add("api_usd"),
    )
    return CostFigures(
        runs=int(add("runs")),
        executions=int(add("executions")),
        input_tokens=int(add("input_tokens")),
        output_tokens=int(add("output_tokens")),
        unpriced_tokens=int(add("unpriced_tokens")),
        lambda_gb_seconds=float(add("lambda_gb_seconds")),
        state_transitions=int(add("state_transitions")),
        api_requests=int(add("api_requests")),
        model_usd=_money(model),
        lambda_usd=_money(lam),
        stepfunctions_usd=_money(sfn),
        api_usd=_money(api),
        storage_usd=_money(storage),
        total_usd=_money(model + lam + sfn + api + storage),
    )
