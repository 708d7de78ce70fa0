"""What a node may use besides its state: handed in by the runner as LangGraph's runtime context.

Nodes never open connections or clients: the runner binds these to the current transaction, so
a node's effects commit together with its checkpoint, and tests bind in-memory versions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from flightdeck.engine.workflow import Manifest
from flightdeck.llm.base import ModelProvider
from flightdeck.store.outcomes import Outcome


@dataclass(frozen=True)
class Passage:
    """A piece of the tenant's knowledge a node found: the chunk it came from (cited by id),
    the document, the section title and the text. `matched_words`: the query shares words with
    it (full-text evidence), not only meaning (vector nearness)."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID | None
    source: str
    title: str
    body: str
    score: float
    matched_words: bool = True


class KnowledgeBase(Protocol):
    def search(self, query: str, limit: int = 3) -> list[Passage]: ...


class Effects(Protocol):
    def record(self, key: str, kind: str, payload: dict[str, Any]) -> tuple[int, bool]:
        """Record a side effect under `key`; returns (entry id, created now)."""
        ...


class OutcomeSink(Protocol):
    def record(self, outcome: Outcome) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class NodeContext:
    tenant_id: uuid.UUID
    run_id: uuid.UUID
    run_created_at: datetime
    manifest: Manifest
    model: ModelProvider
    knowledge: KnowledgeBase
    effects: Effects
    outcomes: OutcomeSink
    now: Callable[[], datetime] = field(default=utcnow)


class MemoryKnowledge:
    def __init__(self, articles: list[tuple[str, str]]) -> None:
        self._articles = articles

    def search(self, query: str, limit: int = 3) -> list[Passage]:
        words = {w for w in query.lower().split() if len(w) > 2}
        scored = []
        for title, body in self._articles:
            text = f"{title} {body}".lower()
            score = sum(1 for w in words if w in text)
            if score:
                chunk_id = uuid.uuid5(uuid.NAMESPACE_URL, title)
                scored.append(Passage(chunk_id, None, "memory", title, body, float(score)))
        scored.sort(key=lambda a: (-a.score, a.title))
        return scored[:limit]


class MemoryEffects:
    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, str, dict[str, Any]]] = {}

    def record(self, key: str, kind: str, payload: dict[str, Any]) -> tuple[int, bool]:
        if key in self.entries:
            return self.entries[key][0], False
        self.entries[key] = (len(self.entries) + 1, kind, payload)
        return len(self.entries), True


class MemoryOutcomes:
    def __init__(self) -> None:
        self.recorded: list[Outcome] = []

    def record(self, outcome: Outcome) -> None:
        self.recorded.append(outcome)


def memory_context(
    *,
    tenant_id: uuid.UUID,
    manifest: Manifest,
    model: ModelProvider,
    knowledge: KnowledgeBase,
    run_created_at: datetime | None = None,
) -> NodeContext:
    """A context for running a workflow's graph under plain LangGraph (no Step Functions, no
    run row): effects and outcomes are kept in memory."""
    return NodeContext(
        tenant_id=tenant_id,
        run_id=uuid.uuid4(),
        run_created_at=run_created_at or utcnow(),
        manifest=manifest,
        model=model,
        knowledge=knowledge,
        effects=MemoryEffects(),
        outcomes=MemoryOutcomes(),
    )
