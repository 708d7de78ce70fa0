"""Operational figures over every tenant, for CloudWatch metrics and the local Prometheus
exporter (never shown to a tenant)."""

from __future__ import annotations

from dataclasses import dataclass

from flightdeck.store.db import Connection


def _see_all_tenants(conn: Connection) -> None:
    """Row-level security hides every tenant's rows from a transaction that names no tenant:
    name them all, for figures that sum over tenants and return nothing a tenant owns."""
    conn.execute(
        "SELECT set_config('app.tenant_ids',"
        " coalesce((SELECT string_agg(id::text, ',') FROM tenants), ''), true)"
    )


def oldest_pending_approval_age_seconds(conn: Connection) -> float:
    """Seconds the oldest undecided (pending or escalated) approval has waited, across all
    tenants; 0 when none."""
    with conn.transaction():
        _see_all_tenants(conn)
        row = conn.execute(
            "SELECT extract(epoch FROM now() - min(created_at))::float8 AS age"
            " FROM approvals WHERE status IN ('pending', 'escalated')"
        ).fetchone()
    age = row["age"] if row else None
    return max(float(age), 0.0) if age is not None else 0.0


def pending_approvals_count(conn: Connection) -> int:
    """Undecided (pending or escalated) approvals, across all tenants."""
    with conn.transaction():
        _see_all_tenants(conn)
        row = conn.execute(
            "SELECT count(*) AS n FROM approvals WHERE status IN ('pending', 'escalated')"
        ).fetchone()
    return int(row["n"]) if row else 0


# Upper bounds (seconds) of the node-duration histogram: model calls take seconds, the
# orchestration around them milliseconds.
NODE_DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)  # fmt: skip

_RUN_ENDS = {"run.succeeded": "succeeded", "run.failed": "failed", "run.cancelled": "cancelled"}
_NODE_EXECUTED = ("node.succeeded", "node.interrupted", "node.failed")


@dataclass(frozen=True)
class NodeDurations:
    """One workflow node's executions: cumulative counts per bucket bound (seconds, in
    `NODE_DURATION_BUCKETS` order), the total count and the sum of seconds."""

    workflow: str
    node: str
    buckets: tuple[int, ...]
    count: int
    sum_seconds: float


@dataclass(frozen=True)
class PendingApprovals:
    workflow: str
    count: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class TokenUsage:
    workflow: str
    kind: str
    model: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Cost:
    """A workflow's cost ledger summed, in US dollars per component."""

    workflow: str
    model: float
    lambda_: float
    stepfunctions: float
    api: float


@dataclass(frozen=True)
class Scrape:
    """Every tenant's runs, summed: what `/metrics` of `make dev` exposes (no tenant label)."""

    runs_started: dict[str, int]
    runs_finished: dict[tuple[str, str], int]
    node_durations: list[NodeDurations]
    node_retries: dict[tuple[str, str], int]
    approvals: list[PendingApprovals]
    tokens: list[TokenUsage]
    costs: list[Cost]


def scrape(conn: Connection) -> Scrape:
    """The figures of `flightdeck.metrics`' catalogue as they stand now, from the rows the engine
    recorded (runs, run events, approvals): counters only grow as rows are added.

    Reads every run event of the given types; meant for the local stack's scrape interval, not
    for a production database (AWS gets the same names as EMF written when things happen).
    """
    bounds = ", ".join(
        f"count(*) FILTER (WHERE e.duration_ms <= {le * 1000!r})" for le in NODE_DURATION_BUCKETS
    )
    with conn.transaction():
        _see_all_tenants(conn)
        started = {
            row["workflow"]: row["n"]
            for row in conn.execute(
                "SELECT workflow, count(*) AS n FROM runs GROUP BY workflow"
            ).fetchall()
        }
        finished = {
            (row["workflow"], _RUN_ENDS[row["type"]]): row["n"]
            for row in conn.execute(
                "SELECT r.workflow, e.type, count(*) AS n FROM run_events e"
                " JOIN runs r ON r.id = e.run_id WHERE e.type = ANY(%s)"
                " GROUP BY r.workflow, e.type",
                (list(_RUN_ENDS),),
            ).fetchall()
        }
        durations = [
            NodeDurations(
                workflow=row["workflow"],
                node=row["node"],
                buckets=tuple(row["buckets"]),
                count=row["n"],
                sum_seconds=float(row["total_ms"]) / 1000,
            )
            for row in conn.execute(
                f"SELECT r.workflow, e.node, ARRAY[{bounds}] AS buckets, count(*) AS n,"
                " coalesce(sum(e.duration_ms), 0) AS total_ms"
                " FROM run_events e JOIN runs r ON r.id = e.run_id"
                " WHERE e.type = ANY(%s) AND e.duration_ms IS NOT NULL"
                " GROUP BY r.workflow, e.node ORDER BY r.workflow, e.node",
                (list(_NODE_EXECUTED),),
            ).fetchall()
        ]
        retries = {
            (row["workflow"], row["node"]): row["n"]
            for row in conn.execute(
                "SELECT r.workflow, e.node, count(*) AS n FROM run_events e"
                " JOIN runs r ON r.id = e.run_id WHERE e.type = 'node.retried'"
                " GROUP BY r.workflow, e.node"
            ).fetchall()
        }
        approvals = [
            PendingApprovals(
                workflow=row["workflow"],
                count=row["n"],
                oldest_age_seconds=max(float(row["age"]), 0.0),
            )
            for row in conn.execute(
                "SELECT r.workflow, count(*) AS n,"
                " extract(epoch FROM now() - min(a.created_at))::float8 AS age"
                " FROM approvals a JOIN runs r ON r.id = a.run_id"
                " WHERE a.status IN ('pending', 'escalated') GROUP BY r.workflow"
            ).fetchall()
        ]
        tokens = [
            TokenUsage(
                workflow=row["workflow"],
                kind=row["kind"] or "",
                model=row["model"] or "",
                input_tokens=int(row["input_tokens"]),
                output_tokens=int(row["output_tokens"]),
            )
            for row in conn.execute(
                "SELECT r.workflow, e.data->>'kind' AS kind, e.data->>'model' AS model,"
                " coalesce(sum((e.data->>'input_tokens')::bigint), 0) AS input_tokens,"
                " coalesce(sum((e.data->>'output_tokens')::bigint), 0) AS output_tokens"
                " FROM run_events e JOIN runs r ON r.id = e.run_id"
                " WHERE e.type = 'model.used' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ).fetchall()
        ]
        costs = [
            Cost(
                workflow=row["workflow"],
                model=float(row["model"]),
                lambda_=float(row["lambda"]),
                stepfunctions=float(row["stepfunctions"]),
                api=float(row["api"]),
            )
            for row in conn.execute(
                "SELECT workflow, sum(model_usd) AS model, sum(lambda_usd) AS lambda,"
                " sum(stepfunctions_usd) AS stepfunctions, sum(api_usd) AS api"
                " FROM cost_entries GROUP BY workflow ORDER BY workflow"
            ).fetchall()
        ]
    return Scrape(
        runs_started=started,
        runs_finished=finished,
        node_durations=durations,
        node_retries=retries,
        approvals=approvals,
        tokens=tokens,
        costs=costs,
    )
