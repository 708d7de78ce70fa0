"""The Postgres-backed things a node may use, bound to the runner's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flightdeck.engine.context import Passage
from flightdeck.llm.base import EmbeddingProvider
from flightdeck.store import documents, outbox, outcomes, runs
from flightdeck.store.db import Connection
from flightdeck.store.outcomes import Outcome

KNOWLEDGE_CITED = "knowledge.cited"


class PostgresKnowledge:
    """The tenant's documents, searched exactly as `POST /v1/knowledge/search` does; what a
    node found is recorded as a `knowledge.cited` event of the run (chunk ids and scores)."""

    def __init__(
        self,
        conn: Connection,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        node: str,
        embeddings: Callable[[], EmbeddingProvider],
    ) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._run_id = run_id
        self._node = node
        self._embeddings = embeddings

    def search(self, query: str, limit: int = 3) -> list[Passage]:
        provider = self._embeddings()
        vector = provider.embed([query], purpose="query").vectors[0]
        hits = documents.search(
            self._conn,
            self._tenant_id,
            query=query,
            embedding=vector,
            model=provider.model,
            k=limit,
        )
        passages = [
            Passage(
                chunk_id=h.chunk_id,
                document_id=h.document_id,
                source=h.filename,
                title=h.heading.rsplit(" > ", 1)[-1] or (h.title or h.filename),
                body=_without_heading(h.body, h.heading),
                score=h.score,
                matched_words=h.text_rank is not None,
            )
            for h in hits
        ]
        runs.append_event(
            self._conn,
            run_id=self._run_id,
            tenant_id=self._tenant_id,
            type=KNOWLEDGE_CITED,
            node=self._node,
            data={
                "query": query,
                "embedding_model": provider.model,
                "chunks": [
                    {
                        "chunk_id": str(h.chunk_id),
                        "document_id": str(h.document_id),
                        "filename": h.filename,
                        "heading": h.heading,
                        "vector_rank": h.vector_rank,
                        "text_rank": h.text_rank,
                        "score": round(h.score, 6),
                    }
                    for h in hits
                ],
            },
        )
        return passages


def _without_heading(text: str, heading: str) -> str:
    """A chunk's text starts with its heading path; the passage's title says it already."""
    return text[len(heading) :].lstrip() if heading and text.startswith(heading) else text


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
