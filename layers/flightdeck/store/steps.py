"""The node runner's statements, written to travel in a pipeline (`conn.pipeline()`).

A node step reads its run, its answer to an earlier attempt and its checkpoint in one round
trip, and writes its checkpoint, events, spans, cost and status in one more. Nothing here
reads a result while the pipeline is open: queries return a `Pending` that is read once the
pipeline has synced, and writes read nothing back (no `RETURNING`, no `rowcount`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from flightdeck.store import runs
from flightdeck.store.db import Connection, execute_wide

T = TypeVar("T")

_EVENT_COLUMNS = "id, type, node, attempt, duration_ms, error_type, error_message, data, created_at"
_TERMINAL = sorted(runs.TERMINAL)


class Pending(Generic[T]):
    """A query sent in a pipeline; `result()` once the pipeline has synced."""

    def __init__(self, cursor: Cursor[DictRow], convert: Callable[[DictRow | None], T]) -> None:
        self._cursor = cursor
        self._convert = convert

    def result(self) -> T:
        return self._convert(self._cursor.fetchone())


def begin(conn: Connection, *tenant_ids: uuid.UUID, durable: bool = True) -> None:
    """Open a transaction scoped to `tenant_ids` (as `flightdeck.store.db.scoped` does),
    without waiting for the server. The caller ends it with `commit` or `conn.rollback()`.

    Not `durable`: its commit does not wait for the write-ahead log to reach the disk
    (`synchronous_commit = off`, for this transaction only). Only for what may be lost if the
    database itself crashes in the next moments: any later durable commit on the server
    flushes it too, since the log is written in order."""
    conn.execute("BEGIN")
    conn.execute(
        _SCOPE if durable else _SCOPE_NOT_DURABLE,
        (",".join(str(t) for t in tenant_ids),),
    )


_SCOPE = "SELECT set_config('app.tenant_ids', %s, true)"
_SCOPE_NOT_DURABLE = _SCOPE + ", set_config('synchronous_commit', 'off', true)"


def commit(conn: Connection) -> None:
    conn.execute("COMMIT")


def lock_run(conn: Connection, run_id: uuid.UUID) -> Pending[runs.Run | None]:
    """The run, its row locked until the transaction ends (`runs.lock_run`)."""
    cur = conn.execute(f"SELECT {runs._RUN_COLUMNS} FROM flightdeck_lock_run(%s)", (run_id,))
    return Pending(cur, lambda row: runs.Run.from_row(row) if row else None)


def _event(row: DictRow | None) -> runs.RunEvent | None:
    return runs.RunEvent(**row) if row else None


def event_for_invocation(
    conn: Connection, run_id: uuid.UUID, invocation: str
) -> Pending[runs.RunEvent | None]:
    cur = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM flightdeck_answer_to(%s, %s)", (run_id, invocation)
    )
    return Pending(cur, _event)


def last_event(
    conn: Connection, run_id: uuid.UUID, types: tuple[str, ...]
) -> Pending[runs.RunEvent | None]:
    cur = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM run_events WHERE run_id = %s AND type = ANY(%s)"
        " ORDER BY id DESC LIMIT 1",
        (run_id, list(types)),
    )
    return Pending(cur, _event)


@dataclass(frozen=True)
class NewEvent:
    """A run event to write (`runs.append_event`'s arguments)."""

    type: str
    node: str | None = None
    attempt: int | None = None
    duration_ms: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    invocation: str | None = None
    data: dict[str, Any] | None = None


_EVENT_VALUES = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def append_events(
    conn: Connection,
    run_id: uuid.UUID,
    tenant_id: uuid.UUID,
    events: Sequence[NewEvent],
    *,
    beside: tuple[Sequence[str], Sequence[Any]] = ((), ()),
) -> None:
    """The events in one statement, in order (ids ascend as listed). `beside`: `WITH` clauses
    (data-modifying, with their parameters) that the same statement writes too, such as the
    span and ledger rows of `flightdeck.store.telemetry.written_with`."""
    clauses, before = beside
    if not events and not clauses:
        return
    values: list[Any] = list(before)
    for e in events:
        values += [
            run_id,
            tenant_id,
            e.type,
            e.node,
            e.attempt,
            e.duration_ms,
            e.error_type,
            e.error_message,
            e.invocation,
            Jsonb(e.data or {}),
        ]
    head = ("WITH " + ", ".join(clauses) + " ") if clauses else ""
    if not events:  # the clauses alone
        conn.execute(head + "SELECT 1", values)
        return
    execute_wide(
        conn,
        head + "INSERT INTO run_events (run_id, tenant_id, type, node, attempt, duration_ms,"
        " error_type, error_message, invocation, data) VALUES "
        + ", ".join([_EVENT_VALUES] * len(events)),
        values,
    )


def enter(
    conn: Connection,
    *,
    run_id: uuid.UUID,
    tenant_id: uuid.UUID,
    workflow: str,
    node: str,
    attempt: int,
    invocation: str,
    start: runs.RunStatus,
    started_event: str,
) -> None:
    """A node entered, written only if the run exists, belongs to `workflow`, has not ended
    and has not answered `invocation` yet: a queued run moves to `start` (with `started_event`),
    then `node.retried` (attempt > 0) and `node.entered`. Called by
    `flightdeck.engine.lifecycle.enter` only: it knows the moves."""
    # One function (migration 0023): its statements' plans are kept by the connection.
    conn.execute(
        "SELECT flightdeck_enter_node(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            run_id,
            tenant_id,
            workflow,
            node,
            attempt,
            invocation,
            start,
            started_event,
            runs.NODE_RETRIED if attempt > 0 else None,
            runs.NODE_ENTERED,
            _TERMINAL,
        ),
    )


def set_status(
    conn: Connection,
    run_id: uuid.UUID,
    status: runs.RunStatus,
    *,
    from_statuses: tuple[str, ...],
    current_node: str | None = None,
) -> None:
    """`runs.set_status` without reading whether it applied: the caller holds the run's row
    lock and has checked the move against the status it locked. Called by
    `flightdeck.engine.lifecycle` only."""
    conn.execute(
        "SELECT flightdeck_set_status(%s, %s, %s, %s, NULL, NULL, NULL)",
        (run_id, status, list(from_statuses), current_node),
    )
