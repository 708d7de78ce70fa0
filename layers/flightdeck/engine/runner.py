"""The node runner: executes exactly one node of one run per Step Functions Task.

For each call it loads the run's LangGraph thread (thread id = run id) from the Postgres
checkpointer, checks that the node Step Functions asks for is the one LangGraph has next, runs
it, and answers `{next, interrupt}`; never the state. The checkpoint, the node's own effects
(outbox, outcomes) and the `node.succeeded` event commit in one transaction, so a crash either
loses the whole step (and the retry runs it) or none of it (and the retry is answered from the
recorded event without running the node again).
"""

from __future__ import annotations

import functools
import time
import uuid
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from flightdeck import metrics, observability
from flightdeck.engine import lifecycle
from flightdeck.engine.checkpoint_keys import CheckpointCipher
from flightdeck.engine.compiler import END, INTERRUPT, analyse
from flightdeck.engine.context import NodeContext
from flightdeck.engine.registry import Registry
from flightdeck.engine.stores import (
    MODEL_USED,
    ModelTelemetry,
    NodeEvents,
    PostgresEffects,
    PostgresKnowledge,
    PostgresOutcomes,
    RecordedModel,
)
from flightdeck.engine.workflow import Workflow
from flightdeck.errors import FlightdeckError, NodeMismatchError, NotFoundError
from flightdeck.llm.base import EmbeddingProvider, ModelProvider
from flightdeck.store import approvals, runs
from flightdeck.store import telemetry as telemetry_store
from flightdeck.store.blobs import BlobStore
from flightdeck.store.db import Connection, scoped
from flightdeck.store.sealing import TriggerSealer, open_trigger
from flightdeck.telemetry import costs, tracing

logger = observability.logger
ConnectionFactory = Callable[[], AbstractContextManager[Connection]]


class RunNotActiveError(FlightdeckError):
    """The run was cancelled or already finished: its state machine must stop, not retry."""

    title = "Run not active"


@dataclass(frozen=True)
class StepRequest:
    run_id: uuid.UUID
    tenant_id: uuid.UUID
    workflow: str
    node: str
    attempt: int
    execution: str
    entered_at: str
    # The W3C traceparent of the run's execution span; empty when tracing was off.
    traceparent: str = ""

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> StepRequest:
        try:
            return cls(
                run_id=uuid.UUID(str(event["run_id"])),
                tenant_id=uuid.UUID(str(event["tenant_id"])),
                workflow=str(event["workflow"]),
                node=str(event["node"]),
                attempt=int(event.get("attempt", 0)),
                execution=str(event.get("execution", "")),
                entered_at=str(event.get("entered_at", "")),
                traceparent=str(event.get("traceparent") or ""),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"malformed node runner event: {exc}") from exc

    @property
    def invocation(self) -> str:
        """One Step Functions state entry; the same across that entry's retries."""
        return f"{self.execution}|{self.node}|{self.entered_at}"


@dataclass(frozen=True)
class StepResult:
    next: str
    interrupt: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"next": self.next, "interrupt": self.interrupt}


def thread_config(run_id: uuid.UUID) -> dict[str, Any]:
    return {"configurable": {"thread_id": str(run_id)}}


def decision_as_resume(approval: approvals.Approval) -> dict[str, Any]:
    """What the interrupted node receives from `interrupt()` once a person (or the timeout
    policy) has decided."""
    decision = dict(approval.decision or {})
    return {
        "decision": decision.get("decision"),
        "payload": decision.get("payload"),
        "decided_by": approval.decided_by,
        "approval_id": str(approval.id),
    }


class NodeRunner:
    def __init__(
        self,
        *,
        registry: Registry,
        connection: ConnectionFactory,
        model: ModelProvider,
        blobs: BlobStore,
        embeddings: Callable[[], EmbeddingProvider],
        sealer: Callable[[], TriggerSealer | None] = lambda: None,
        checkpoint_cipher: Callable[[], CheckpointCipher | None] = lambda: None,
        tracer: tracing.Tracing | None = None,
        prices: costs.Prices | None = None,
        memory_mb: int = 1024,
    ) -> None:
        self._registry = registry
        self._tracing = tracer or tracing.Tracing("none")
        # Without a price table nothing is priced (tests and tools building a bare runner).
        self._prices = prices
        self._memory_mb = memory_mb
        self._entries: dict[str, str] = {}
        self._connection = connection
        self._model = model
        self._blobs = blobs
        # Built on first search: most nodes never embed anything.
        self._embeddings = embeddings
        # Opens sealed triggers: the entry node is the one place a run reads its trigger.
        self._sealer = sealer
        # Encrypts the checkpoints (they hold the opened trigger); None: stored as LangGraph
        # writes them.
        self._checkpoint_cipher = checkpoint_cipher
        # Compiled graphs per connection: compiling binds the checkpointer to one connection.
        self._compiled: weakref.WeakKeyDictionary[Connection, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def compiled(self, conn: Connection, workflow: Workflow, tenant_id: uuid.UUID) -> Any:
        """The workflow's graph over this connection's checkpointer, ready to read and write
        the tenant's threads. Call inside the tenant's scope."""
        from langgraph.checkpoint.postgres import PostgresSaver

        cipher = self._checkpoint_cipher()
        if cipher is not None:
            cipher.use(conn, tenant_id)
        per_conn = self._compiled.setdefault(conn, {})
        graph = per_conn.get(workflow.name)
        if graph is None:
            serde = cipher.serializer() if cipher is not None else None
            graph = workflow.graph.compile(checkpointer=PostgresSaver(conn, serde=serde))
            per_conn[workflow.name] = graph
        return graph

    def context(
        self,
        conn: Connection,
        run: runs.Run,
        workflow: Workflow,
        node: str,
        events: NodeEvents | None = None,
    ) -> NodeContext:
        """What `node` may use; the usage and citation events it produces go to `events`,
        which the caller writes once the node has run."""
        events = events if events is not None else NodeEvents()
        telemetry = None
        if self._tracing.enabled and self._prices is not None:
            telemetry = ModelTelemetry(
                functools.partial(self._tracing.span, tenant_id=run.tenant_id, run_id=run.id),
                self._prices,
            )
        return NodeContext(
            tenant_id=run.tenant_id,
            run_id=run.id,
            run_created_at=run.created_at,
            manifest=workflow.manifest,
            model=RecordedModel(self._model, events, telemetry),
            knowledge=PostgresKnowledge(conn, run.tenant_id, self._embeddings, events, telemetry),
            effects=PostgresEffects(conn, run.tenant_id, run.id, node, self._sealer()),
            outcomes=PostgresOutcomes(conn, run.tenant_id, run.id, workflow.name),
        )

    def _entry(self, workflow: Workflow) -> str:
        entry = self._entries.get(workflow.name)
        if entry is None:
            entry = self._entries[workflow.name] = analyse(workflow)[0]
        return entry

    def next_node(self, conn: Connection, run: runs.Run) -> str | None:
        """The node LangGraph would run next for `run`, or None when the thread has ended.
        A run that never started answers its entry node. Call inside the run's tenant scope."""
        workflow = self._registry.get(run.workflow)
        snapshot = self.compiled(conn, workflow, run.tenant_id).get_state(thread_config(run.id))
        if not snapshot.values and not snapshot.next:
            return analyse(workflow)[0]
        return snapshot.next[0] if snapshot.next else None

    def run(self, request: StepRequest) -> StepResult:
        invoked = time.perf_counter()
        tenant = request.tenant_id
        parent = request.traceparent
        with self._connection() as conn:
            with scoped(conn, tenant):
                prior = runs.event_for_invocation(conn, request.run_id, request.invocation)
                if prior is not None:
                    # This state entry already ran (its answer was lost on the way back).
                    return StepResult(**prior.data["result"])
                run = runs.get_run(conn, request.run_id)
                if run is None:
                    raise NotFoundError(f"no run {request.run_id} for tenant {tenant}")
                if run.status in runs.TERMINAL:
                    raise RunNotActiveError(f"run {run.id} is {run.status}")
                if run.workflow != request.workflow:
                    raise NodeMismatchError(
                        f"run {run.id} belongs to {run.workflow}, not {request.workflow}"
                    )
                workflow = self._registry.get(run.workflow)
                if not parent and self._tracing.enabled:
                    # An execution started without one (before tracing was on): the run's root.
                    queued = runs.last_event(conn, run.id, (runs.RUN_QUEUED,))
                    parent = str((queued.data or {}).get("traceparent") or "") if queued else ""
                if run.status == "queued":
                    lifecycle.start(conn, run.id, tenant, request.node)
                if request.attempt > 0:
                    runs.append_event(
                        conn,
                        run_id=run.id,
                        tenant_id=tenant,
                        type=runs.NODE_RETRIED,
                        node=request.node,
                        attempt=request.attempt,
                    )
                runs.append_event(
                    conn,
                    run_id=run.id,
                    tenant_id=tenant,
                    type=runs.NODE_ENTERED,
                    node=request.node,
                    attempt=request.attempt,
                )
            started = time.perf_counter()
            span = self._tracing.open(
                f"node {request.node}",
                "node",
                tenant_id=tenant,
                run_id=run.id,
                parent=parent,
                attributes={
                    tracing.WORKFLOW: run.workflow,
                    tracing.VERSION: run.workflow_version,
                    tracing.NODE: request.node,
                    tracing.ATTEMPT: request.attempt,
                    tracing.BUSINESS_EVENT: workflow.manifest.business_events.get(request.node),
                    "faas.invocation_id": request.invocation,
                },
            )
            events = NodeEvents()
            recorder = _StepTelemetry(self, run, workflow, request, span, events, invoked)
            try:
                with span.current(), scoped(conn, tenant):
                    result = self._step(conn, run, workflow, request, started, events, recorder)
            except Exception as exc:
                span.fail(type(exc).__name__)
                elapsed = (time.perf_counter() - started) * 1000
                logger.warning(
                    "node failed",
                    extra={
                        "run_id": str(run.id),
                        "workflow": run.workflow,
                        "node": request.node,
                        "attempt": request.attempt,
                        "error_type": type(exc).__name__,
                    },
                )
                observability.count("NodeFailed")
                metrics.record_node(
                    run.workflow, request.node, elapsed / 1000, retry=request.attempt > 0
                )
                with scoped(conn, tenant), conn.pipeline():
                    runs.append_event(
                        conn,
                        run_id=run.id,
                        tenant_id=tenant,
                        type=runs.NODE_FAILED,
                        node=request.node,
                        attempt=request.attempt,
                        duration_ms=elapsed,
                        error_type=type(exc).__name__,
                        error_message=str(exc)[:2000],
                    )
                    recorder.record(conn, "failed")
                self._tracing.flush()
                raise
            elapsed = (time.perf_counter() - started) * 1000
            logger.info(
                "node finished",
                extra={
                    "run_id": str(run.id),
                    "workflow": run.workflow,
                    "node": request.node,
                    "next": result.next,
                    "duration_ms": round(elapsed, 2),
                },
            )
            observability.count("NodeSucceeded")
            metrics.record_node(
                run.workflow, request.node, elapsed / 1000, retry=request.attempt > 0
            )
            self._tracing.flush()
            return result

    def _step(
        self,
        conn: Connection,
        run: runs.Run,
        workflow: Workflow,
        request: StepRequest,
        started: float,
        events: NodeEvents,
        recorder: _StepTelemetry,
    ) -> StepResult:
        from langgraph.types import Command

        # One step of a run at a time, even if two executions ask at once (a resume racing
        # the execution it replaces): the second one then sees the first one's checkpoint.
        locked = runs.lock_run(conn, run.id)
        if locked is None or locked.status in runs.TERMINAL:
            raise RunNotActiveError(f"run {run.id} is {locked.status if locked else 'gone'}")
        graph = self.compiled(conn, workflow, run.tenant_id)
        config = thread_config(run.id)
        snapshot = graph.get_state(config)
        node_input: Any
        if not snapshot.values and not snapshot.next:
            entry = analyse(workflow)[0]
            if request.node != entry:
                raise NodeMismatchError(
                    f"run {run.id} has not started; its first node is {entry!r}, "
                    f"not {request.node!r}"
                )
            node_input = workflow.initial_state(open_trigger(self._blobs, self._sealer(), run))
        elif snapshot.next == (request.node,):
            node_input = None
            pending = [i for i in snapshot.interrupts]
            if pending:
                approval = approvals.latest_for_node(conn, run.id, request.node, pending[0].id)
                if approval is not None and approval.status != "pending":
                    node_input = Command(resume=decision_as_resume(approval))
        else:
            raise NodeMismatchError(
                f"Step Functions asked for {request.node!r} but LangGraph has next "
                f"{list(snapshot.next) or 'nothing'} for run {run.id}"
            )

        context = self.context(conn, run, workflow, request.node, events)
        # "sync": LangGraph writes its checkpoint before the node runs, not beside it; the node's
        # own queries (knowledge, effects, usage events) share this connection, which takes one
        # command at a time.
        graph.invoke(node_input, config, context=context, interrupt_after="*", durability="sync")
        metrics.record_model_usage(workflow.name, events.pending(MODEL_USED))
        events.flush(conn, run.tenant_id, run.id, request.node)
        after = graph.get_state(config)
        duration_ms = (time.perf_counter() - started) * 1000

        if after.interrupts:
            interrupt = after.interrupts[0]
            policy = workflow.manifest.approval
            if policy is None or request.node not in policy.nodes:
                raise NodeMismatchError(
                    f"node {request.node!r} asked for approval but the workflow's approval "
                    "policy does not name it"
                )
            approval = approvals.open_request(
                conn,
                tenant_id=run.tenant_id,
                run_id=run.id,
                node=request.node,
                interrupt_id=interrupt.id,
                request=interrupt.value,
                timeout_seconds=policy.timeout_seconds,
            )
            result = StepResult(INTERRUPT, {"approval_id": str(approval.id)})
            event_type = runs.NODE_INTERRUPTED
        elif not after.next:
            result = StepResult(END)
            event_type = runs.NODE_SUCCEEDED
        else:
            if len(after.next) != 1:
                raise NodeMismatchError(f"LangGraph has several next nodes: {after.next}")
            result = StepResult(after.next[0])
            event_type = runs.NODE_SUCCEEDED

        outcome = {END: "end", INTERRUPT: "interrupt"}.get(result.next, "next")
        # Pipelined: the ledger row and spans travel with the event, one round trip for both.
        with conn.pipeline():
            recorder.record(conn, outcome, next_node=result.next)
            runs.append_event(
                conn,
                run_id=run.id,
                tenant_id=run.tenant_id,
                type=event_type,
                node=request.node,
                attempt=request.attempt,
                duration_ms=duration_ms,
                invocation=request.invocation,
                data={"result": result.to_dict()},
            )
        if result.next == END:
            lifecycle.succeed(conn, self._registry, run.id, run.tenant_id, request.node)
            metrics.record_run_finished(workflow.name, "succeeded")
        else:
            lifecycle.advance(
                conn, run.id, request.node if result.next == INTERRUPT else result.next
            )
        return result


class _StepTelemetry:
    """The node execution's span and cost-ledger row, written once in the transaction that
    records how the execution ended (its result, or its failure)."""

    def __init__(
        self,
        runner: NodeRunner,
        run: runs.Run,
        workflow: Workflow,
        request: StepRequest,
        span: tracing.Span,
        events: NodeEvents,
        invoked: float,
    ) -> None:
        self._runner = runner
        self._run = run
        self._workflow = workflow
        self._request = request
        self._span = span
        self._events = events
        self._invoked = invoked
        self._made: tuple[costs.CostEntry | None, list[tracing.SpanRecord]] | None = None

    def record(self, conn: Connection, outcome: str, *, next_node: str | None = None) -> None:
        """Write the ledger row and the spans. Called again after the transaction that first
        wrote them rolled back (the step failed after recording), it writes the same rows."""
        if self._made is None:
            self._made = self._make(outcome, next_node)
        entry, spans = self._made
        run = self._run
        if entry is not None and self._runner._prices is not None:
            telemetry_store.insert_cost(
                conn,
                tenant_id=run.tenant_id,
                run_id=run.id,
                workflow=run.workflow,
                node=self._request.node,
                attempt=self._request.attempt,
                entry=entry,
                prices_as_of=self._runner._prices.as_of,
                spans=spans,
            )
        else:
            telemetry_store.insert_spans(conn, spans)

    def _make(
        self, outcome: str, next_node: str | None
    ) -> tuple[costs.CostEntry | None, list[tracing.SpanRecord]]:
        runner, request = self._runner, self._request
        entry: costs.CostEntry | None = None
        if runner._prices is not None:
            entry = costs.price_node(
                runner._prices,
                usage=self._events.usage_so_far(),
                duration_ms=(time.perf_counter() - self._invoked) * 1000,
                memory_mb=runner._memory_mb,
                transitions=costs.node_transitions(
                    entry=request.node == runner._entry(self._workflow),
                    attempt=request.attempt,
                    outcome=outcome,
                ),
            )
        self._span.set(
            {
                "flightdeck.next": next_node,
                tracing.INPUT_TOKENS: entry.input_tokens if entry else None,
                tracing.OUTPUT_TOKENS: entry.output_tokens if entry else None,
                tracing.COST: float(entry.total_usd) if entry else None,
                "flightdeck.cost.model_usd": float(entry.model_usd) if entry else None,
                "flightdeck.cost.lambda_usd": float(entry.lambda_usd) if entry else None,
                "flightdeck.cost.stepfunctions_usd": float(entry.stepfunctions_usd)
                if entry
                else None,
                "flightdeck.state_transitions": entry.state_transitions if entry else None,
            }
        )
        self._span.end()
        return entry, runner._tracing.take(self._span.trace_id)
