"""Operational figures over every tenant, for CloudWatch metrics (never shown to a tenant)."""

from __future__ import annotations

from flightdeck.store.db import Connection


def oldest_pending_approval_age_seconds(conn: Connection) -> float:
    """Seconds the oldest undecided (pending or escalated) approval has waited, across all
    tenants; 0 when none.

    Row-level security hides every tenant's rows from a transaction that names no tenant, so
    this one names them all: it returns a single age, nothing a tenant owns.
    """
    with conn.transaction():
        conn.execute(
            "SELECT set_config('app.tenant_ids',"
            " coalesce((SELECT string_agg(id::text, ',') FROM tenants), ''), true)"
        )
        row = conn.execute(
            "SELECT extract(epoch FROM now() - min(created_at))::float8 AS age"
            " FROM approvals WHERE status IN ('pending', 'escalated')"
        ).fetchone()
    age = row["age"] if row else None
    return max(float(age), 0.0) if age is not None else 0.0
