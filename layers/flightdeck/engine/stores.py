"""The Postgres-backed things a node may use, bound to the runner's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from flightdeck.store import knowledge, outbox, outcomes
from flightdeck.store.db import Connection
from flightdeck.store.knowledge import Article
from flightdeck.store.outcomes import Outcome


class PostgresKnowledge:
    def __init__(self, conn: Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def search(self, query: str, limit: int = 3) -> list[Article]:
        return knowledge.search(self._conn, self._tenant_id, query, limit)


class PostgresEffects:
    def __init__(
        self, conn: Connection, tenant_id: uuid.UUID, run_id: uuid.UUID, node: str
    ) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._run_id = run_id
        self._node = node

    def record(self, key: str, kind: str, payload: dict[str, Any]) -> tuple[int, bool]:
        entry, created = outbox.put(
            self._conn,
            tenant_id=self._tenant_id,
            run_id=self._run_id,
            node=self._node,
            key=key,
            kind=kind,
            payload=payload,
        )
        return entry.id, created


class PostgresOutcomes:
    def __init__(
        self, conn: Connection, tenant_id: uuid.UUID, run_id: uuid.UUID, workflow: str
    ) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._run_id = run_id
        self._workflow = workflow

    def record(self, outcome: Outcome) -> None:
        outcomes.record(
            self._conn,
            tenant_id=self._tenant_id,
            run_id=self._run_id,
            workflow=self._workflow,
            outcome=outcome,
        )
