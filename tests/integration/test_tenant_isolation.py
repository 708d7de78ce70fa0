"""Row-level security underneath every query: the application's role sees only the rows of the
tenant(s) its transaction names, and nothing when it names none."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from flightdeck.store import tenants
from flightdeck.store.db import connect, scoped
from flightdeck.store.migrate import APP_ROLE
from tests.conftest import Platform, load_event

TENANT_TABLES = [
    "runs",
    "run_events",
    "approvals",
    "outbox",
    "run_outcomes",
    "documents",
    "document_chunks",
    "webhook_secrets",
]


def count(conn: Any, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"])


def test_the_application_pool_works_as_the_non_owner_role(platform: Platform) -> None:
    with platform.services.connection() as conn:
        role = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert role == {"rolname": APP_ROLE, "rolsuper": False, "rolbypassrls": False}


def test_no_tenant_set_reads_no_rows(platform: Platform, database_url: str) -> None:
    # Given a finished run with events, an outcome, an effect and knowledge
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")

    with connect(database_url, role=APP_ROLE) as conn:
        # When the application role reads without naming a tenant
        for table in TENANT_TABLES:
            # Then it sees nothing, in every tenant table
            assert count(conn, table) == 0, table
        # while the tenant's own transaction sees its rows
        with scoped(conn, platform.tenant_id):
            assert count(conn, "runs") == 1
            assert count(conn, "run_events") > 5
            assert count(conn, "document_chunks") > 0


def test_a_tenant_cannot_read_or_write_another_tenants_rows(
    platform: Platform, database_url: str
) -> None:
    run_id = platform.start("support_triage", load_event("password_ticket"))
    platform.wait_status(run_id, "succeeded")
    with platform.services.connection() as conn, conn.transaction():
        other = tenants.create_tenant(conn, "other", "Other Ltd")

    with connect(database_url, role=APP_ROLE) as conn:
        with scoped(conn, other.id):
            assert count(conn, "runs") == 0
            assert conn.execute("SELECT 1 FROM runs WHERE id = %s", (run_id,)).fetchone() is None
            updated = conn.execute(
                "UPDATE runs SET status = 'cancelled' WHERE id = %s", (run_id,)
            ).rowcount
            assert updated == 0
        # Writing a row for another tenant than the one named is refused outright.
        with pytest.raises(psycopg.errors.InsufficientPrivilege), scoped(conn, other.id):
            conn.execute(
                "INSERT INTO documents (id, tenant_id, filename, content_type, size_bytes,"
                " s3_key, status) VALUES (%s, %s, 'x.md', 'text/markdown', 1, %s, 'queued')",
                (uuid.uuid4(), platform.tenant_id, f"tenants/{platform.tenant_id}/x"),
            )
    assert platform.run(run_id).status == "succeeded"
