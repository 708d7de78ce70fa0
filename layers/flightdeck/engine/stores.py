"""The Postgres-backed things a node may use, bound to the runner's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from flightdeck.engine.context import Passage
from flightdeck.llm.base import EmbeddingProvider, M, ModelProvider, ModelRequest, ModelResult
from flightdeck.store import documents, outbox, outcomes, steps
from flightdeck.store.db import Connection
from flightdeck.store.outcomes import Outcome
from flightdeck.store.sealing import TriggerSealer
from flightdeck.telemetry import tracing
from flightdeck.telemetry.costs import Prices, Usage

KNOWLEDGE_CITED = "knowledge.cited"
MODEL_USED = "model.used"


class NodeEvents:
    """Run events a node produces (token usage, citations), kept until the node has run and
    then written by the runner in the step's transaction. Not written while the node runs:
    LangGraph may be writing to the same connection then (a resumed node's pending writes)."""

    def __init__(self) -> None:
        self._events: list[tuple[str, dict[str, Any]]] = []
        # Kept past `flush`: the cost ledger prices the node's calls once it has ended.
        self._usage: list[Usage] = []

    def add(self, type_: str, data: dict[str, Any]) -> None:
        self._events.append((type_, data))

    def usage(
        self, *, kind: str, task: str, model: str, input_tokens: int, output_tokens: int
    ) -> None:
        self._usage.append(Usage(model, input_tokens, output_tokens))
        self.add(
            MODEL_USED,
            {
                "kind": kind,
                "task": task,
                "model": model,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
            },
        )

    def usage_so_far(self) -> list[Usage]:
        """Every model call's tokens so far, written or not (the cost ledger prices them)."""
        return list(self._usage)

    def pending(self, type_: str) -> list[dict[str, Any]]:
        """The data of the events of `type_` not yet written (metrics are taken from them)."""
        return [data for t, data in self._events if t == type_]

    def take(self, node: str) -> list[steps.NewEvent]:
        """The events not yet written, as `node`'s, to write in the step's closing statement
        (`steps.append_events`); they are not handed out again."""
        taken = [steps.NewEvent(type_, node=node, data=data) for type_, data in self._events]
        self._events.clear()
        return taken


SpanFactory = Callable[..., AbstractContextManager[tracing.Span]]


@dataclass(frozen=True)
class ModelTelemetry:
    """How a node's model calls are traced (a child span each) and priced."""

    span: SpanFactory
    prices: Prices

    @contextmanager
    def call(self, provider: str, kind: str, task: str) -> Iterator[ModelCallSpan]:
        attributes = {"gen_ai.system": provider, "gen_ai.operation.name": kind, "task": task}
        with self.span(f"{kind} {task}", "model", attributes=attributes) as span:
            yield ModelCallSpan(span, self.prices)


class ModelCallSpan:
    def __init__(self, span: tracing.Span, prices: Prices) -> None:
        self._span = span
        self._prices = prices

    def used(self, model: str, input_tokens: int, output_tokens: int) -> None:
        cost = self._prices.tokens(model, input_tokens, output_tokens)
        attributes: Mapping[str, tracing.AttributeValue | None] = {
            "gen_ai.response.model": model,
            tracing.INPUT_TOKENS: input_tokens,
            tracing.OUTPUT_TOKENS: output_tokens,
            tracing.COST: None if cost is None else float(cost),
        }
        self._span.set(attributes)


@contextmanager
def _untraced(provider: str, kind: str, task: str) -> Iterator[ModelCallSpan | None]:
    yield None


class RecordedModel:
    """The model provider as a node sees it: every call's token usage becomes a `model.used`
    event of the run and node (the cost ledger prices them), and a span of the node's trace."""

    def __init__(
        self, model: ModelProvider, events: NodeEvents, telemetry: ModelTelemetry | None = None
    ) -> None:
        self.name = model.name
        self._model = model
        self._events = events
        self._telemetry = telemetry

    def complete(self, request: ModelRequest[M]) -> ModelResult[M]:
        trace = self._telemetry.call if self._telemetry else _untraced
        with trace(self.name, "chat", request.task) as span:
            result = self._model.complete(request)
            if span is not None:
                span.used(result.model, result.input_tokens, result.output_tokens)
        self._events.usage(
            kind="chat",
            task=request.task,
            model=result.model,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
        )
        return result


class PostgresKnowledge:
    """The tenant's documents, searched exactly as `POST /v1/knowledge/search` does; what a
    node found is recorded as a `knowledge.cited` event of the run (chunk ids and scores)."""

    def __init__(
        self,
        conn: Connection,
        tenant_id: uuid.UUID,
        embeddings: Callable[[], EmbeddingProvider],
        events: NodeEvents,
        telemetry: ModelTelemetry | None = None,
    ) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._embeddings = embeddings
        self._events = events
        self._telemetry = telemetry

    def search(self, query: str, limit: int = 3) -> list[Passage]:
        provider = self._embeddings()
        trace = self._telemetry.call if self._telemetry else _untraced
        with trace(provider.name, "embeddings", "knowledge.search") as span:
            embedded = provider.embed([query], purpose="query")
            if span is not None:
                span.used(embedded.model, embedded.input_tokens, 0)
        self._events.usage(
            kind="embedding",
            task="knowledge.search",
            model=embedded.model,
            input_tokens=embedded.input_tokens,
            output_tokens=0,
        )
        vector = embedded.vectors[0]
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
        self._events.add(
            KNOWLEDGE_CITED,
            {
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
    """The keyed outbox. With a sealer, an effect's personal fields (a reply's recipient and
    text) are stored as KMS envelopes like a trigger's, under the scope `outbox:<key>:`;
    whatever performs the effect opens them with the same scope."""

    def __init__(
        self,
        conn: Connection,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        node: str,
        sealer: TriggerSealer | None = None,
    ) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._run_id = run_id
        self._node = node
        self._sealer = sealer

    def record(self, key: str, kind: str, payload: dict[str, Any]) -> tuple[int, bool]:
        entry, created = outbox.put(
            self._conn,
            tenant_id=self._tenant_id,
            run_id=self._run_id,
            node=self._node,
            key=key,
            kind=kind,
            payload=payload
            if self._sealer is None
            else self._sealer.seal(
                payload, tenant_id=self._tenant_id, run_id=self._run_id, scope=f"outbox:{key}:"
            ),
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
