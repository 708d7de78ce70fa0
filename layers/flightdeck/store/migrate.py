"""Ordered schema migrations with a version table, then LangGraph's own checkpoint tables.

Safe on a fresh database and on one at any earlier version; concurrent callers serialise on an
advisory lock, so a deploy-time migration and a local start never race.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from flightdeck.store.db import Connection

APP_ROLE = "flightdeck_app"  # the non-owner role the application works as (0003)
_LOCK_ID = 7_361_001  # arbitrary, fixed: the advisory lock every migrator takes
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("flightdeck.store.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return found


def applied(conn: Connection) -> list[int]:
    exists = conn.execute("SELECT to_regclass('public.schema_migrations') AS t").fetchone()
    if not exists or exists["t"] is None:
        return []
    return [r["version"] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def _roles(conn: Connection) -> set[str]:
    return {r["rolname"] for r in conn.execute("SELECT rolname FROM pg_roles")}


def migrate(conn: Connection, *, checkpointer: bool = True) -> list[int]:
    """Apply pending migrations in order; returns the versions applied now."""
    newly: list[int] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = set(applied(conn))
        for migration in available():
            if migration.version in done:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            newly.append(migration.version)
        if checkpointer:
            from langgraph.checkpoint.postgres import PostgresSaver

            PostgresSaver(conn).setup()
        if APP_ROLE in _roles(conn):
            # LangGraph's tables (and any created outside our files) for the app role too.
            conn.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}"
            )
            conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return newly
