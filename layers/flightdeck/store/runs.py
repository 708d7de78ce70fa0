"""Runs and their events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from flightdeck.store.db import Connection

RunStatus = Literal["queued", "running", "waiting_for_approval", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

# Event types. Node events carry node, attempt, duration and error; approval events the decision.
RUN_QUEUED = "run.queued"
RUN_STARTED = "run.started"
RUN_SUCCEEDED = "run.succeeded"
RUN_FAILED = "run.failed"
RUN_CANCELLED = "run.cancelled"
RUN_REDRIVEN = "run.redriven"
RUN_RERUN = "run.rerun"
NODE_ENTERED = "node.entered"
NODE_SUCCEEDED = "node.succeeded"
NODE_INTERRUPTED = "node.interrupted"
NODE_FAILED = "node.failed"
NODE_RETRIED = "node.retried"
APPROVAL_WAITING = "approval.waiting"
APPROVAL_APPROVED = "approval.approved"
APPROVAL_REJECTED = "approval.rejected"
APPROVAL_EDITED = "approval.edited"
APPROVAL_TIMED_OUT = "approval.timed_out"
APPROVAL_ESCALATED = "approval.escalated"

_RUN_COLUMNS = (
    "id, tenant_id, workflow, workflow_version, status, idempotency_key, trigger_source,"
    " trigger_payload, trigger_ref, trigger_sha256, execution_name, current_node, error_type,"
    " error_message, failed_node, created_at, started_at, finished_at, updated_at, rerun_of,"
    " trigger_sealed"
)


@dataclass(frozen=True)
class Run:
    id: uuid.UUID
    tenant_id: uuid.UUID
    workflow: str
    workflow_version: str
    status: RunStatus
    idempotency_key: str
    trigger_source: str
    trigger_payload: Any
    trigger_ref: str | None
    trigger_sha256: bytes
    execution_name: str
    current_node: str | None
    error_type: str | None
    error_message: str | None
    failed_node: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    rerun_of: uuid.UUID | None
    # Whether the trigger's personal fields are encrypted (`flightdeck.store.sealing`), inline
    # or in the S3 object; false for triggers stored before migration 0011.
    trigger_sealed: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        return cls(**{**row, "trigger_sha256": bytes(row["trigger_sha256"])})


@dataclass(frozen=True)
class RunEvent:
    id: int
    type: str
    node: str | None
    attempt: int | None
    duration_ms: float | None
    error_type: str | None
    error_message: str | None
    data: dict[str, Any]
    created_at: datetime


def insert_run(
    conn: Connection,
    *,
    run_id: uuid.UUID,
    tenant_id: uuid.UUID,
    workflow: str,
    workflow_version: str,
    idempotency_key: str,
    trigger_source: str,
    trigger_payload: Any,
    trigger_ref: str | None,
    trigger_sha256: bytes,
    execution_name: str,
    rerun_of: uuid.UUID | None = None,
    trigger_sealed: bool = False,
    trigger_id: str | None = None,
) -> tuple[Run, bool]:
    """Insert a queued run, or return the run already holding the idempotency key.

    The boolean says whether this call created it. Concurrent duplicates are settled by the
    unique constraint: exactly one insert wins, the others read the winner.
    """
    row = conn.execute(
        f"INSERT INTO runs (id, tenant_id, workflow, workflow_version, status, idempotency_key,"
        f" trigger_source, trigger_payload, trigger_ref, trigger_sha256, execution_name,"
        f" rerun_of, trigger_sealed, trigger_id)"
        f" VALUES (%s, %s, %s, %s, 'queued', %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" ON CONFLICT DO NOTHING RETURNING {_RUN_COLUMNS}",
        (
            run_id,
            tenant_id,
            workflow,
            workflow_version,
            idempotency_key,
            trigger_source,
            Jsonb(trigger_payload) if trigger_payload is not None else None,
            trigger_ref,
            trigger_sha256,
            execution_name,
            rerun_of,
            trigger_sealed,
            trigger_id,
        ),
    ).fetchone()
    if row is not None:
        return Run.from_row(row), True
    existing = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE tenant_id = %s AND idempotency_key = %s",
        (tenant_id, idempotency_key),
    ).fetchone()
    assert existing is not None, "a conflicting run must exist"
    return Run.from_row(existing), False


StartOutcome = Literal["created", "existing", "refused"]

_STARTED_COLUMNS = ", ".join(f"(s.run).{c.strip()}" for c in _RUN_COLUMNS.split(","))


def start_run(
    conn: Connection,
    *,
    run_id: uuid.UUID,
    tenant_id: uuid.UUID,
    workflow: str,
    workflow_version: str,
    idempotency_key: str,
    trigger_source: str,
    trigger_json: str | None,
    trigger_ref: str | None,
    trigger_sha256: bytes,
    execution_name: str,
    queued: dict[str, Any],
    rerun_of: uuid.UUID | None = None,
    trigger_sealed: bool = False,
    webhook_secret: tuple[str, uuid.UUID] | None = None,
    trigger_id: str | None = None,
) -> tuple[Run | None, StartOutcome]:
    """`insert_run` and the new run's `run.queued` event (with `queued` as its data) in one
    statement, one round trip: on an autocommit connection it is its own transaction, scoped
    to `tenant_id` (migration 0017).

    `trigger_json` is the trigger already serialised (its size decided whether it is stored
    inline). With `webhook_secret` (the tenant's slug and the id of the secret version that
    verified the delivery) nothing is written unless that version is still valid for the
    workflow at this moment: the outcome is then "refused" and the run None. Otherwise the run
    and whether this call created it ("created") or found it holding the key ("existing").
    """
    slug, secret_id = webhook_secret or (None, None)
    row = conn.execute(
        f"SELECT s.outcome, {_STARTED_COLUMNS} FROM flightdeck_start_run("
        "%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s) s",
        (
            run_id,
            tenant_id,
            workflow,
            workflow_version,
            idempotency_key,
            trigger_source,
            trigger_json,
            trigger_ref,
            trigger_sha256,
            execution_name,
            rerun_of,
            trigger_sealed,
            Jsonb(queued),
            slug,
            secret_id,
            trigger_id,
        ),
    ).fetchone()
    assert row is not None
    outcome = row.pop("outcome")
    if outcome == "refused":
        return None, "refused"
    assert row["id"] is not None, "a conflicting run must exist"
    return Run.from_row(row), outcome


def get_run(
    conn: Connection, run_id: uuid.UUID, *, tenant_id: uuid.UUID | None = None
) -> Run | None:
    sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = %s"
    params: tuple[Any, ...] = (run_id,)
    if tenant_id is not None:
        sql += " AND tenant_id = %s"
        params = (run_id, tenant_id)
    row = conn.execute(sql, params).fetchone()
    return Run.from_row(row) if row else None


def lock_run(conn: Connection, run_id: uuid.UUID) -> Run | None:
    row = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = %s FOR UPDATE", (run_id,)
    ).fetchone()
    return Run.from_row(row) if row else None


def set_status(
    conn: Connection,
    run_id: uuid.UUID,
    status: RunStatus,
    *,
    from_statuses: tuple[str, ...],
    current_node: str | None = None,
    error_type: str | None = None,
    error_message: str | None = None,
    failed_node: str | None = None,
) -> bool:
    """Move the run to `status` if it is in one of `from_statuses`; False when it is not.
    Only `flightdeck.engine.lifecycle` calls this: it knows which moves are allowed."""
    row = conn.execute(
        "SELECT flightdeck_set_status(%s, %s, %s, %s, %s, %s, %s) AS moved",
        (
            run_id,
            status,
            list(from_statuses),
            current_node,
            error_type,
            error_message,
            failed_node,
        ),
    ).fetchone()
    return bool(row and row["moved"])


def append_event(
    conn: Connection,
    *,
    run_id: uuid.UUID,
    tenant_id: uuid.UUID,
    type: str,
    node: str | None = None,
    attempt: int | None = None,
    duration_ms: float | None = None,
    error_type: str | None = None,
    error_message: str | None = None,
    invocation: str | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO run_events (run_id, tenant_id, type, node, attempt, duration_ms,"
        " error_type, error_message, invocation, data)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            run_id,
            tenant_id,
            type,
            node,
            attempt,
            duration_ms,
            error_type,
            error_message,
            invocation,
            Jsonb(data or {}),
        ),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def event_for_invocation(conn: Connection, run_id: uuid.UUID, invocation: str) -> RunEvent | None:
    row = conn.execute(
        "SELECT id, type, node, attempt, duration_ms, error_type, error_message, data, created_at"
        " FROM run_events WHERE run_id = %s AND invocation = %s",
        (run_id, invocation),
    ).fetchone()
    return RunEvent(**row) if row else None


def list_events(conn: Connection, run_id: uuid.UUID) -> list[RunEvent]:
    rows = conn.execute(
        "SELECT id, type, node, attempt, duration_ms, error_type, error_message, data, created_at"
        " FROM run_events WHERE run_id = %s ORDER BY id",
        (run_id,),
    ).fetchall()
    return [RunEvent(**r) for r in rows]


def last_event(conn: Connection, run_id: uuid.UUID, types: tuple[str, ...]) -> RunEvent | None:
    row = conn.execute(
        "SELECT id, type, node, attempt, duration_ms, error_type, error_message, data, created_at"
        " FROM run_events WHERE run_id = %s AND type = ANY(%s) ORDER BY id DESC LIMIT 1",
        (run_id, list(types)),
    ).fetchone()
    return RunEvent(**row) if row else None


def reopen(conn: Connection, run_id: uuid.UUID, *, execution_name: str) -> Run:
    """Point the run at a new execution; a failed run becomes running again, its last
    failure kept in the events, and so does a run that waited for approval (the new execution
    asks again). Called through `flightdeck.engine.lifecycle.reopen`."""
    row = conn.execute(
        f"UPDATE runs SET execution_name = %s,"
        f" status = CASE WHEN status IN ('failed', 'waiting_for_approval') THEN 'running'"
        f" ELSE status END,"
        f" error_type = NULL, error_message = NULL, finished_at = NULL, updated_at = now()"
        f" WHERE id = %s RETURNING {_RUN_COLUMNS}",
        (execution_name, run_id),
    ).fetchone()
    assert row is not None
    return Run.from_row(row)


def plaintext_triggers(conn: Connection, *, limit: int) -> list[Run]:
    """Runs whose trigger is stored unsealed, oldest first."""
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE NOT trigger_sealed ORDER BY created_at, id"
        " LIMIT %s",
        (limit,),
    ).fetchall()
    return [Run.from_row(r) for r in rows]


def count_plaintext_triggers(conn: Connection) -> int:
    row = conn.execute("SELECT count(*) AS n FROM runs WHERE NOT trigger_sealed").fetchone()
    return int(row["n"]) if row else 0


def mark_trigger_sealed(conn: Connection, run_id: uuid.UUID, sealed_payload: Any) -> None:
    """Record that the run's trigger is sealed: `sealed_payload` replaces the inline payload
    (None when the trigger lives in S3 and was sealed there)."""
    conn.execute(
        "UPDATE runs SET trigger_sealed = true,"
        " trigger_payload = CASE WHEN trigger_ref IS NULL THEN %s ELSE trigger_payload END"
        " WHERE id = %s",
        (Jsonb(sealed_payload) if sealed_payload is not None else None, run_id),
    )


def write_unflushed(
    conn: Connection, tenant_id: uuid.UUID, clauses: list[str], values: list[Any]
) -> None:
    """Write data-modifying `WITH` clauses (`flightdeck.store.telemetry.written_with`) in a
    transaction of their own, scoped to `tenant_id` as `flightdeck.store.db.scoped` scopes,
    in one round trip (the whole transaction one simple query, bound client-side), its commit
    not waiting for the WAL flush (`synchronous_commit` off for it alone). For what a database
    crash within a fraction of a second may lose (a request's telemetry), never for a run."""
    try:
        psycopg.ClientCursor(conn).execute(
            "BEGIN; SELECT set_config('app.tenant_ids', %s, true),"
            " set_config('synchronous_commit', 'off', true);"
            " WITH " + ", ".join(clauses) + " SELECT 1; COMMIT",
            [str(tenant_id), *values],
        )
    except BaseException:
        if not conn.broken:
            conn.rollback()
        raise


def queued_since(
    conn: Connection, tenant_ids: list[uuid.UUID], *, seconds: float, limit: int
) -> list[Run]:
    """Runs of `tenant_ids` still queued `seconds` after they were last pointed at an
    execution (created, or resumed), oldest first: those whose execution may never have
    started (`flightdeck.engine.sweeper`). Call in a transaction scoped to the same tenants."""
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE tenant_id = ANY(%s) AND status = 'queued'"
        " AND updated_at < now() - make_interval(secs => %s) ORDER BY updated_at LIMIT %s",
        (tenant_ids, seconds, limit),
    ).fetchall()
    return [Run.from_row(r) for r in rows]


def unfinished(conn: Connection) -> list[Run]:
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs"
        " WHERE status IN ('queued', 'running', 'waiting_for_approval') ORDER BY created_at"
    ).fetchall()
    return [Run.from_row(r) for r in rows]


@dataclass(frozen=True)
class RunFilter:
    statuses: tuple[str, ...] = ()
    workflow: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    source: str | None = None
    # Top-level trigger fields that must match exactly (JSON containment).
    trigger: dict[str, Any] | None = None
    # A trigger id: the run's idempotency key, or the business id its workflow's trigger names
    # (`runs.trigger_id`, migration 0024), e.g. a ticket id.
    trigger_id: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Where a keyset page ends: the last row's sort key."""

    created_at: datetime
    id: uuid.UUID


def _where(f: RunFilter) -> tuple[list[sql.Composable], list[Any]]:
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    if len(f.statuses) == 1:
        # Equality, not `= ANY`: the planner then reads the status index in (created_at, id)
        # order and stops after a page instead of sorting every run with that status.
        clauses.append(sql.SQL("status = %s"))
        params.append(f.statuses[0])
    elif f.statuses:
        clauses.append(sql.SQL("status = ANY(%s)"))
        params.append(list(f.statuses))
    if f.workflow:
        clauses.append(sql.SQL("workflow = %s"))
        params.append(f.workflow)
    if f.created_after:
        clauses.append(sql.SQL("created_at >= %s"))
        params.append(f.created_after)
    if f.created_before:
        clauses.append(sql.SQL("created_at < %s"))
        params.append(f.created_before)
    if f.source:
        clauses.append(sql.SQL("trigger_source = %s"))
        params.append(f.source)
    if f.trigger:
        clauses.append(sql.SQL("trigger_payload @> %s"))
        params.append(Jsonb(f.trigger))
    if f.trigger_id is not None:
        clauses.append(sql.SQL("(idempotency_key = %s OR trigger_id = %s)"))
        params += [f.trigger_id, f.trigger_id]
    return clauses, params


def list_runs(
    conn: Connection,
    f: RunFilter,
    *,
    tenant_id: uuid.UUID | None = None,
    descending: bool = True,
    after: Cursor | None = None,
    limit: int = 50,
) -> list[Run]:
    """One keyset page, newest first by default. Stable under inserts: a page continues
    strictly after the previous page's last (created_at, id).

    Pass the scoped transaction's `tenant_id`: row-level security alone names the tenants as
    an array the planner cannot see through, so without it the page is sorted from all the
    tenant's matching rows instead of read in order from an index (docs/architecture.md,
    "Run-list indexes"). The rows returned are the same either way."""
    clauses, params = _where(f)
    if tenant_id is not None:
        clauses.insert(0, sql.SQL("tenant_id = %s"))
        params.insert(0, tenant_id)
    if after is not None:
        op = sql.SQL("<") if descending else sql.SQL(">")
        clauses.append(sql.SQL("(created_at, id) {} (%s, %s)").format(op))
        params += [after.created_at, after.id]
    direction = sql.SQL("DESC") if descending else sql.SQL("ASC")
    query = sql.SQL(
        "SELECT {cols} FROM runs {where} ORDER BY created_at {d}, id {d} LIMIT %s"
    ).format(
        cols=sql.SQL(_RUN_COLUMNS),
        where=sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL(""),
        d=direction,
    )
    rows = conn.execute(query, [*params, limit]).fetchall()
    return [Run.from_row(r) for r in rows]


def count_events(conn: Connection, run_id: uuid.UUID, type: str) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM run_events WHERE run_id = %s AND type = %s", (run_id, type)
    ).fetchone()
    return int(row["n"]) if row else 0
