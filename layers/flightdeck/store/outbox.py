"""The keyed outbox through which `act` nodes record side effects exactly once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from flightdeck.store.db import Connection


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    run_id: uuid.UUID
    node: str
    key: str
    kind: str
    payload: dict[str, Any]
    status: str
    created_at: datetime


_COLUMNS = "id, run_id, node, key, kind, payload, status, created_at"


def put(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    node: str,
    key: str,
    kind: str,
    payload: dict[str, Any],
) -> tuple[OutboxEntry, bool]:
    """Record an effect under `key`; a second call with the same key returns the first entry."""
    row = conn.execute(
        f"INSERT INTO outbox (tenant_id, run_id, node, key, kind, payload)"
        f" VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, key) DO NOTHING"
        f" RETURNING {_COLUMNS}",
        (tenant_id, run_id, node, key, kind, Jsonb(payload)),
    ).fetchone()
    if row is not None:
        return OutboxEntry(**row), True
    existing = conn.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE run_id = %s AND key = %s", (run_id, key)
    ).fetchone()
    assert existing is not None
    return OutboxEntry(**existing), False


def for_run(conn: Connection, run_id: uuid.UUID) -> list[OutboxEntry]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE run_id = %s ORDER BY id", (run_id,)
    ).fetchall()
    return [OutboxEntry(**r) for r in rows]
