"""Pending and decided human-in-the-loop requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg.types.json import Jsonb

from flightdeck.store.db import Connection

ApprovalStatus = Literal[
    "pending", "escalated", "approved", "rejected", "edited", "timed_out", "cancelled"
]
OPEN: tuple[ApprovalStatus, ...] = ("pending", "escalated")

_COLUMNS = (
    "id, tenant_id, run_id, node, interrupt_id, request, status, decision, decided_by,"
    " decided_at, expires_at, created_at, task_token IS NOT NULL AS has_token"
)


@dataclass(frozen=True)
class Approval:
    id: uuid.UUID
    tenant_id: uuid.UUID
    run_id: uuid.UUID
    node: str
    interrupt_id: str
    request: Any
    status: ApprovalStatus
    decision: dict[str, Any] | None
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime
    created_at: datetime
    has_token: bool


def open_request(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    node: str,
    interrupt_id: str,
    request: Any,
    timeout_seconds: int,
) -> Approval:
    """The approval for this interrupt, created on first sight (a retried node finds it)."""
    conn.execute(
        "INSERT INTO approvals (id, tenant_id, run_id, node, interrupt_id, request, status,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s, 'pending',"
        " now() + make_interval(secs => %s))"
        " ON CONFLICT (run_id, interrupt_id) DO NOTHING",
        (uuid.uuid4(), tenant_id, run_id, node, interrupt_id, Jsonb(request), timeout_seconds),
    )
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE run_id = %s AND interrupt_id = %s",
        (run_id, interrupt_id),
    ).fetchone()
    assert row is not None
    return Approval(**row)


def get(conn: Connection, approval_id: uuid.UUID, *, for_update: bool = False) -> Approval | None:
    sql = f"SELECT {_COLUMNS} FROM approvals WHERE id = %s"
    if for_update:
        sql += " FOR UPDATE"
    row = conn.execute(sql, (approval_id,)).fetchone()
    return Approval(**row) if row else None


def task_token(conn: Connection, approval_id: uuid.UUID) -> str | None:
    row = conn.execute("SELECT task_token FROM approvals WHERE id = %s", (approval_id,)).fetchone()
    return row["task_token"] if row else None


def attach_token(conn: Connection, approval_id: uuid.UUID, token: str) -> None:
    conn.execute("UPDATE approvals SET task_token = %s WHERE id = %s", (token, approval_id))


def decide(
    conn: Connection,
    approval_id: uuid.UUID,
    *,
    status: ApprovalStatus,
    decision: dict[str, Any],
    decided_by: str,
) -> None:
    conn.execute(
        "UPDATE approvals SET status = %s, decision = %s, decided_by = %s, decided_at = now()"
        " WHERE id = %s",
        (status, Jsonb(decision), decided_by, approval_id),
    )


def latest_for_node(
    conn: Connection, run_id: uuid.UUID, node: str, interrupt_id: str
) -> Approval | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE run_id = %s AND node = %s AND interrupt_id = %s",
        (run_id, node, interrupt_id),
    ).fetchone()
    return Approval(**row) if row else None


def escalate(conn: Connection, approval_id: uuid.UUID, timeout_seconds: int) -> None:
    conn.execute(
        "UPDATE approvals SET status = 'escalated', escalated_at = now(),"
        " expires_at = now() + make_interval(secs => %s) WHERE id = %s",
        (timeout_seconds, approval_id),
    )


def list_for_tenant(
    conn: Connection,
    tenant_id: uuid.UUID,
    *,
    statuses: tuple[str, ...] = (),
    workflow: str | None = None,
    node: str | None = None,
    older_than_seconds: float | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 100,
) -> list[Approval]:
    """The inbox: oldest first, from just after `after` (the last one of a page).

    Only the filters given are in the statement, so a status filter (the dashboard's inbox
    asks for the open ones every few seconds) reads its rows from its status index
    however long the tenant's history of decided requests (migration 0029)."""
    clauses = ["tenant_id = %(tenant)s"]
    if len(statuses) == 1:
        # Equality, not `= ANY`: the planner then reads the status index in (created_at, id).
        clauses.append("status = %(status)s")
    elif statuses:
        clauses.append("status = ANY(%(statuses)s)")
    if after is not None:
        clauses.append("(created_at, id) > (%(after_at)s, %(after_id)s)")
    if node is not None:
        clauses.append("node = %(node)s")
    if workflow is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM runs r WHERE r.id = a.run_id AND r.workflow = %(workflow)s)"
        )
    if older_than_seconds is not None:
        clauses.append("created_at <= now() - make_interval(secs => %(older)s)")
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM approvals a WHERE {' AND '.join(clauses)}"
        " ORDER BY created_at, id LIMIT %(limit)s",
        {
            "tenant": tenant_id,
            "status": statuses[0] if statuses else None,
            "statuses": list(statuses),
            "node": node,
            "workflow": workflow,
            "older": older_than_seconds,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    ).fetchall()
    return [Approval(**r) for r in rows]


def list_for_run(conn: Connection, run_id: uuid.UUID) -> list[Approval]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE run_id = %s ORDER BY created_at", (run_id,)
    ).fetchall()
    return [Approval(**r) for r in rows]


def cancel_open(conn: Connection, run_id: uuid.UUID) -> int:
    """Withdraw the run's undecided requests; returns how many."""
    cur = conn.execute(
        "UPDATE approvals SET status = 'cancelled', decided_at = now(),"
        " decided_by = 'run:cancelled' WHERE run_id = %s AND status IN ('pending', 'escalated')",
        (run_id,),
    )
    return cur.rowcount


def open_tokens(conn: Connection, run_id: uuid.UUID) -> list[str]:
    """The task tokens the run's undecided requests are waiting with."""
    rows = conn.execute(
        "SELECT task_token FROM approvals WHERE run_id = %s"
        " AND status IN ('pending', 'escalated') AND task_token IS NOT NULL",
        (run_id,),
    ).fetchall()
    return [r["task_token"] for r in rows]


def forget_tokens(conn: Connection, run_id: uuid.UUID) -> int:
    """Drop the task tokens of the run's undecided requests: their execution is gone, and the
    new one attaches its own when it reaches the wait state again."""
    cur = conn.execute(
        "UPDATE approvals SET task_token = NULL WHERE run_id = %s"
        " AND status IN ('pending', 'escalated') AND task_token IS NOT NULL",
        (run_id,),
    )
    return cur.rowcount
