"""Schema migrations: a fresh database and an upgrade from an earlier version."""

from __future__ import annotations

from typing import Any

from flightdeck.store import migrate as migrations
from flightdeck.store.db import connect


def tables(conn: Any) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r["tablename"] for r in rows}


def test_fresh_database_gets_every_migration_and_checkpoint_tables(postgres: Any) -> None:
    with connect(postgres.ensure_database("fresh_migrations")) as conn:
        applied = migrations.migrate(conn)

        assert applied == [m.version for m in migrations.available()]
        assert {"runs", "run_events", "approvals", "outbox", "tenants", "checkpoints"} <= tables(
            conn
        )
        assert migrations.migrate(conn) == []


def test_upgrade_applies_only_what_is_missing(postgres: Any, monkeypatch: Any) -> None:
    all_migrations = migrations.available()
    with connect(postgres.ensure_database("upgrade_migrations")) as conn:
        # Given a database at the first version
        monkeypatch.setattr(migrations, "available", lambda: all_migrations[:1])
        assert migrations.migrate(conn, checkpointer=False) == [1]
        monkeypatch.undo()
        conn.execute(
            "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'kept', 'Kept')"
        )

        # When the current code migrates it
        applied = migrations.migrate(conn)

        # Then only the newer versions run and existing rows are kept
        assert applied == [m.version for m in all_migrations[1:]]
        assert migrations.applied(conn) == [m.version for m in all_migrations]
        assert conn.execute("SELECT count(*) AS n FROM tenants").fetchone()["n"] == 1
        ext = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert ext is not None
