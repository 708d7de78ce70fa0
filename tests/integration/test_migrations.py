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


def test_partitioning_the_chunks_keeps_every_chunk_and_counts_its_words(
    postgres: Any, monkeypatch: Any
) -> None:
    all_migrations = migrations.available()
    before = [m for m in all_migrations if m.version < 10]
    with connect(postgres.ensure_database("partition_chunks")) as conn:
        # Given a database at 0009 with a tenant's document and two chunks
        monkeypatch.setattr(migrations, "available", lambda: before)
        migrations.migrate(conn, checkpointer=False)
        monkeypatch.undo()
        tenant = conn.execute(
            "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'a', 'A') RETURNING id"
        ).fetchone()["id"]
        document = conn.execute(
            "INSERT INTO documents (id, tenant_id, filename, content_type, size_bytes, s3_key,"
            " status) VALUES (gen_random_uuid(), %s, 'f.md', 'text/markdown', 1, 'k', 'ready')"
            " RETURNING id",
            (tenant,),
        ).fetchone()["id"]
        vector = "[" + ",".join(["0.05"] * 384) + "]"
        for ordinal, body in enumerate(["Refund policy for parcels", "Parcel tracking"]):
            conn.execute(
                "INSERT INTO document_chunks (id, tenant_id, document_id, ordinal, body,"
                " token_count, content_hash, embedding_model, embedding_dimension, embedding)"
                " VALUES (gen_random_uuid(), %s, %s, %s, %s, 3, 'h', 'm', 384, %s::vector)",
                (tenant, document, ordinal, body, vector),
            )
        conn.commit()

        # When 0010 partitions the chunks
        assert migrations.migrate(conn, checkpointer=False) == [
            m.version for m in all_migrations if m.version >= 10
        ]

        # Then every chunk is kept, in its tenant's partition, and its words are counted
        rows = conn.execute(
            "SELECT tableoid::regclass::text AS partition, body FROM document_chunks"
            " ORDER BY ordinal"
        ).fetchall()
        assert [r["body"] for r in rows] == ["Refund policy for parcels", "Parcel tracking"]
        assert all(r["partition"].startswith("document_chunks_p") for r in rows)
        terms = conn.execute("SELECT lexeme, chunks FROM knowledge_terms ORDER BY 1").fetchall()
        assert {r["lexeme"]: r["chunks"] for r in terms} == {
            "parcel": 2,
            "polici": 1,
            "refund": 1,
            "track": 1,
        }
