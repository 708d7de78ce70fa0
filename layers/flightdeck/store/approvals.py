"""Pending and decided human-in-the-loop requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg.types.json import Jsonb

from flightdeck.store.db import Connection

ApprovalStatus = Literal["pending", "approved", "rejected", "edited", "timed_out"]

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


def list_for_tenant(
    conn: Connection, tenant_id: uuid.UUID, *, status: ApprovalStatus | None, limit: int = 100
) -> list[Approval]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE tenant_id = %s"
        " AND (%s::text IS NULL OR status = %s) ORDER BY created_at LIMIT %s",
        (tenant_id, status, status, limit),
    ).fetchall()
    return [Approval(**r) for r in rows]


def list_for_run(conn: Connection, run_id: uuid.UUID) -> list[Approval]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE run_id = %s ORDER BY created_at", (run_id,)
    ).fetchall()
    return [Approval(**r) for r in rows]
