"""The span store (the local trace exporter) and the cost ledger. Call inside a tenant scope:
both tables are under row-level security like every tenant table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from psycopg.types.json import Jsonb

from flightdeck.store.db import Connection
from flightdeck.telemetry.costs import CostEntry
from flightdeck.telemetry.tracing import SpanRecord

_SPAN_COLUMNS = (
    "tenant_id, run_id, trace_id, span_id, parent_span_id, name, kind, started_at, ended_at,"
    " status, attributes"
)


def _span_row(s: SpanRecord) -> tuple[Any, ...]:
    return (
        s.tenant_id,
        s.run_id,
        s.trace_id,
        s.span_id,
        s.parent_span_id,
        s.name,
        s.kind,
        s.started_at,
        s.ended_at,
        s.status,
        Jsonb(s.attributes),
    )


_SPAN_VALUES = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def insert_spans(conn: Connection, spans: Iterable[SpanRecord]) -> int:
    """Store ended spans in one statement; a span already stored (a retried write) is kept as
    it was."""
    rows = [_span_row(s) for s in spans]
    if rows:
        conn.execute(
            f"INSERT INTO run_spans ({_SPAN_COLUMNS}) VALUES "
            + ", ".join([_SPAN_VALUES] * len(rows))
            + " ON CONFLICT DO NOTHING",
            [value for row in rows for value in row],
        )
    return len(rows)


def spans_for_run(conn: Connection, run_id: uuid.UUID) -> list[SpanRecord]:
    rows = conn.execute(
        f"SELECT {_SPAN_COLUMNS} FROM run_spans WHERE run_id = %s ORDER BY started_at, span_id",
        (run_id,),
    ).fetchall()
    return [
        SpanRecord(
            **{
                **r,
                "tenant_id": str(r["tenant_id"]),
                "run_id": str(r["run_id"]),
            }
        )
        for r in rows
    ]


_COST_COLUMNS = (
    "tenant_id, run_id, workflow, node, attempt, input_tokens, output_tokens, unpriced_tokens,"
    " model_usd, lambda_requests, lambda_gb_seconds, lambda_usd, state_transitions,"
    " stepfunctions_usd, api_requests, api_usd, prices_as_of"
)
_COST_VALUES = "(" + ", ".join(["%s"] * 17) + ")"


def insert_cost(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    workflow: str,
    node: str | None,
    attempt: int | None,
    entry: CostEntry,
    prices_as_of: Any,
    spans: Sequence[SpanRecord] = (),
) -> None:
    """One ledger row, and the spans that go with it, in one statement."""
    clauses, values = written_with(
        tenant_id=tenant_id,
        run_id=run_id,
        workflow=workflow,
        node=node,
        attempt=attempt,
        entry=entry,
        prices_as_of=prices_as_of,
        spans=spans,
    )
    conn.execute("WITH " + ", ".join(clauses) + " SELECT 1", values)


def written_with(
    *,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    workflow: str,
    node: str | None,
    attempt: int | None,
    entry: CostEntry | None,
    prices_as_of: Any,
    spans: Sequence[SpanRecord] = (),
) -> tuple[list[str], list[Any]]:
    """The ledger row (none without `entry`) and the spans as `WITH` clauses and their
    parameters, for another statement to write with it (the node runner's closing event:
    `flightdeck.store.steps.append_events(beside=...)`). A span already stored (a retried
    write) is kept as it was."""
    clauses: list[str] = []
    values: list[Any] = []
    if entry is not None:
        clauses.append(
            f"cost AS (INSERT INTO cost_entries ({_COST_COLUMNS}) VALUES {_COST_VALUES})"
        )
        values += [
            tenant_id,
            run_id,
            workflow,
            node,
            attempt,
            entry.input_tokens,
            entry.output_tokens,
            entry.unpriced_tokens,
            entry.model_usd,
            entry.lambda_requests,
            entry.lambda_gb_seconds,
            entry.lambda_usd,
            entry.state_transitions,
            entry.stepfunctions_usd,
            entry.api_requests,
            entry.api_usd,
            prices_as_of,
        ]
    if spans:
        clauses.append(
            f"spans AS (INSERT INTO run_spans ({_SPAN_COLUMNS}) VALUES "
            + ", ".join([_SPAN_VALUES] * len(spans))
            + " ON CONFLICT DO NOTHING)"
        )
        values += [value for s in spans for value in _span_row(s)]
    return clauses, values


Grouping = Literal["run", "workflow", "tenant"]


@dataclass(frozen=True)
class CostRow:
    """The ledger summed over one run, workflow or tenant in a window."""

    key: str
    tenant_id: uuid.UUID
    workflow: str | None
    executions: int
    runs: int
    input_tokens: int
    output_tokens: int
    unpriced_tokens: int
    model_usd: Decimal
    lambda_gb_seconds: Decimal
    lambda_usd: Decimal
    state_transitions: int
    stepfunctions_usd: Decimal
    api_requests: int
    api_usd: Decimal
    first_at: datetime
    last_at: datetime


_GROUP_BY = {"run": "run_id, tenant_id", "workflow": "workflow, tenant_id", "tenant": "tenant_id"}


def summarise(
    conn: Connection,
    by: Grouping,
    *,
    since: datetime,
    until: datetime,
    workflow: str | None = None,
    limit: int = 100,
) -> list[CostRow]:
    """Ledger sums per run, workflow or tenant for entries in [since, until), most expensive
    first; only the tenants the transaction is scoped to are seen."""
    key = {
        "run": "run_id::text",
        "workflow": "workflow",
        "tenant": "tenant_id::text",
    }[by]
    group = _GROUP_BY[by]
    wf_column = "NULL::text" if by == "tenant" else "min(workflow)"
    rows = conn.execute(
        f"SELECT {key} AS key, tenant_id, {wf_column} AS workflow,"
        " count(*) FILTER (WHERE node IS NOT NULL) AS executions,"
        " count(DISTINCT run_id) AS runs,"
        " sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,"
        " sum(unpriced_tokens)::bigint AS unpriced_tokens, sum(model_usd) AS model_usd,"
        " sum(lambda_gb_seconds) AS lambda_gb_seconds, sum(lambda_usd) AS lambda_usd,"
        " sum(state_transitions)::bigint AS state_transitions,"
        " sum(stepfunctions_usd) AS stepfunctions_usd, sum(api_requests)::bigint AS api_requests,"
        " sum(api_usd) AS api_usd, min(occurred_at) AS first_at, max(occurred_at) AS last_at"
        " FROM cost_entries WHERE occurred_at >= %s AND occurred_at < %s"
        " AND (%s::text IS NULL OR workflow = %s)"
        f" GROUP BY {group}"
        " ORDER BY sum(model_usd + lambda_usd + stepfunctions_usd + api_usd) DESC, key"
        " LIMIT %s",
        (since, until, workflow, workflow, limit),
    ).fetchall()
    return [CostRow(**r) for r in rows]


def run_cost(conn: Connection, run_id: uuid.UUID) -> CostRow | None:
    """The whole ledger of one run, whenever its entries were written."""
    row = conn.execute(
        "SELECT run_id::text AS key, tenant_id, min(workflow) AS workflow,"
        " count(*) FILTER (WHERE node IS NOT NULL) AS executions, 1 AS runs,"
        " sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,"
        " sum(unpriced_tokens)::bigint AS unpriced_tokens, sum(model_usd) AS model_usd,"
        " sum(lambda_gb_seconds) AS lambda_gb_seconds, sum(lambda_usd) AS lambda_usd,"
        " sum(state_transitions)::bigint AS state_transitions,"
        " sum(stepfunctions_usd) AS stepfunctions_usd, sum(api_requests)::bigint AS api_requests,"
        " sum(api_usd) AS api_usd, min(occurred_at) AS first_at, max(occurred_at) AS last_at"
        " FROM cost_entries WHERE run_id = %s GROUP BY run_id, tenant_id",
        (run_id,),
    ).fetchone()
    return CostRow(**row) if row else None


@dataclass(frozen=True)
class StoredBytes:
    tenant_id: uuid.UUID
    s3_bytes: int
    rds_bytes: int


def stored_bytes(conn: Connection, tenant_ids: Sequence[uuid.UUID]) -> list[StoredBytes]:
    """What each tenant keeps now: documents in S3 (their uploaded sizes) and its rows in
    Postgres (runs, events, spans, ledger, documents and their chunks, as stored, TOAST
    included). Each row is measured, so this reads every row of the tenant: for the monthly
    cost view, not for hot paths."""
    found: list[StoredBytes] = []
    for tenant_id in tenant_ids:
        row = conn.execute(
            "SELECT"
            " (SELECT coalesce(sum(size_bytes), 0) FROM documents WHERE tenant_id = %(t)s)"
            "   AS s3_bytes,"
            " (SELECT coalesce(sum(pg_column_size(r.*)), 0) FROM runs r WHERE tenant_id = %(t)s)"
            " + (SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM run_events e"
            "    WHERE tenant_id = %(t)s)"
            " + (SELECT coalesce(sum(pg_column_size(s.*)), 0) FROM run_spans s"
            "    WHERE tenant_id = %(t)s)"
            " + (SELECT coalesce(sum(pg_column_size(c.*)), 0) FROM cost_entries c"
            "    WHERE tenant_id = %(t)s)"
            " + (SELECT coalesce(sum(pg_column_size(d.*)), 0) FROM documents d"
            "    WHERE tenant_id = %(t)s)"
            " + (SELECT coalesce(sum(pg_column_size(k.*)), 0) FROM document_chunks k"
            "    WHERE tenant_id = %(t)s)"
            "   AS rds_bytes",
            {"t": tenant_id},
        ).fetchone()
        assert row is not None
        found.append(StoredBytes(tenant_id, int(row["s3_bytes"]), int(row["rds_bytes"])))
    return found
