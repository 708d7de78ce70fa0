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
from flightdeck.store import approvals, runs, steps
from flightdeck.store import telemetry as telemetry_store
from flightdeck.store.blobs import BlobStore
from flightdeck.store.db import Connection
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


def decision_as_resume(
    approval: approvals.Approval, sealer: TriggerSealer | None = None
) -> dict[str, Any]:
    """What the interrupted node receives from `interrupt()` once a person (or the timeout
    policy) has decided (an edit's sealed fields opened)."""
    from flightdeck.engine.approvals import opened_edit

    decision = dict(approval.decision or {})
    return {
        "decision": decision.get("decision"),
        "payload": opened_edit(sealer, approval),
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
        from flightdeck.engine.checkpointer import StepSaver

        cipher = self._checkpoint_cipher()
        if cipher is not None:
            cipher.use(conn, tenant_id)
        per_conn = self._compiled.setdefault(conn, {})
        graph: Any = per_conn.get(workflow.name)
        if graph is None:
            graph = workflow.graph.compile(checkpointer=StepSaver(conn))
            per_conn[workflow.name] = graph
        if cipher is not None:
            # The graph is kept per connection, its tenant per step: the tenant's serializer
            # names its key itself (LangGraph saves from its own worker threads).
            graph.checkpointer.serde = cipher.serializer(tenant_id)
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
        with self._connection() as conn:
            try:
                return self._run(conn, request, invoked)
            finally:
                _roll_back_open(conn)

    def _run(self, conn: Connection, request: StepRequest, invoked: float) -> StepResult:
        from flightdeck.engine.checkpointer import StepSaver

        tenant = request.tenant_id
        # One round trip: the node's entry is recorded (and a queued run started) in a
        # transaction of its own, committed before the node runs, so the run shows what it is
        # doing meanwhile; then the step's transaction locks the run and reads its answer to
        # an earlier attempt and its latest checkpoint. The entry's commit does not wait for
        # the disk: the step's own (durable) commit flushes it, and should the database crash
        # first, the retried step records its entry again.
        with conn.pipeline():
            steps.begin(conn, tenant, durable=False)
            lifecycle.enter(
                conn,
                run_id=request.run_id,
                tenant_id=tenant,
                workflow=request.workflow,
                node=request.node,
                attempt=request.attempt,
                invocation=request.invocation,
            )
            steps.commit(conn)
            steps.begin(conn, tenant)
            locking = steps.lock_run(conn, request.run_id)
            answered = steps.event_for_invocation(conn, request.run_id, request.invocation)
            queued = (
                steps.last_event(conn, request.run_id, (runs.RUN_QUEUED,))
                if not request.traceparent and self._tracing.enabled
                else None
            )
            checkpoint = StepSaver.prefetch(conn, str(request.run_id))
        run, prior = locking.result(), answered.result()
        if prior is not None:
            # This state entry already ran (its answer was lost on the way back).
            steps.commit(conn)
            return StepResult(**prior.data["result"])
        if run is None:
            raise NotFoundError(f"no run {request.run_id} for tenant {tenant}")
        if run.status in runs.TERMINAL:
            raise RunNotActiveError(f"run {run.id} is {run.status}")
        if run.workflow != request.workflow:
            raise NodeMismatchError(
                f"run {run.id} belongs to {run.workflow}, not {request.workflow}"
            )
        workflow = self._registry.get(run.workflow)
        parent = request.traceparent
        if queued is not None:
            # An execution started without one (before tracing was on): the run's root.
            event = queued.result()
            parent = str((event.data or {}).get("traceparent") or "") if event else ""
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
        graph = None
        try:
            with span.current():
                graph = self.compiled(conn, workflow, tenant)
                graph.checkpointer.adopt(str(run.id), checkpoint.fetchone())
                result = self._step(conn, graph, run, workflow, request, started, events, recorder)
        except Exception as exc:
            if graph is not None:
                graph.checkpointer.forget()
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
            if not conn.broken:
                # The step's transaction is undone; its failure is recorded in one of its own.
                conn.rollback()
                with conn.pipeline():
                    steps.begin(conn, tenant)
                    steps.append_events(
                        conn,
                        run.id,
                        tenant,
                        [
                            steps.NewEvent(
                                runs.NODE_FAILED,
                                node=request.node,
                                attempt=request.attempt,
                                duration_ms=elapsed,
                                error_type=type(exc).__name__,
                                error_message=str(exc)[:2000],
                            )
                        ],
                        beside=recorder.rows("failed"),
                    )
                    steps.commit(conn)
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
        metrics.record_node(run.workflow, request.node, elapsed / 1000, retry=request.attempt > 0)
        self._tracing.flush()
        return result

    def _step(
        self,
        conn: Connection,
        graph: Any,
        run: runs.Run,
        workflow: Workflow,
        request: StepRequest,
        started: float,
        events: NodeEvents,
        recorder: _StepTelemetry,
    ) -> StepResult:
        """Run the node in the step's transaction, which holds the run's row lock (one step of
        a run at a time, even if two executions ask at once: the second one then sees the
        first one's checkpoint), and commit it with one batch."""
        from langgraph.types import Command

        config = thread_config(run.id)
        snapshot = graph.get_state(config)
        node_input: Any
        if not snapshot.values and not snapshot.next:
            entry = self._entry(workflow)
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
                    node_input = Command(resume=decision_as_resume(approval, self._sealer()))
        else:
            raise NodeMismatchError(
                f"Step Functions asked for {request.node!r} but LangGraph has next "
                f"{list(snapshot.next) or 'nothing'} for run {run.id}"
            )

        context = self.context(conn, run, workflow, request.node, events)
        saver = graph.checkpointer
        # LangGraph's checkpoint writes wait for the closing batch; "sync": they are all made
        # by the time the graph returns. Its last checkpoint says what runs next, and an
        # `interrupt()` inside the node comes back as an update: nothing is read again.
        saver.hold()
        next_nodes: tuple[str, ...] | None = None
        interrupts: tuple[Any, ...] = ()
        for mode, payload in graph.stream(
            node_input,
            config,
            context=context,
            interrupt_after="*",
            durability="sync",
            stream_mode=["checkpoints", "updates"],
        ):
            if mode == "checkpoints":
                next_nodes = tuple(payload["next"])
            elif isinstance(payload, dict) and payload.get(_INTERRUPTS):
                interrupts = tuple(payload[_INTERRUPTS])
        if next_nodes is None:
            next_nodes = graph.get_state(config).next
        metrics.record_model_usage(workflow.name, events.pending(MODEL_USED))
        duration_ms = (time.perf_counter() - started) * 1000

        if interrupts:
            policy = workflow.manifest.approval
            if policy is None or request.node not in policy.nodes:
                raise NodeMismatchError(
                    f"node {request.node!r} asked for approval but the workflow's approval "
                    "policy does not name it"
                )
            result_next, event_type = INTERRUPT, runs.NODE_INTERRUPTED
        elif not next_nodes:
            result_next, event_type = END, runs.NODE_SUCCEEDED
        elif len(next_nodes) != 1:
            raise NodeMismatchError(f"LangGraph has several next nodes: {next_nodes}")
        else:
            result_next, event_type = next_nodes[0], runs.NODE_SUCCEEDED

        # The closing batch, one round trip: LangGraph's checkpoint, the approval a node asked
        # for, the node's events with its span and ledger row, the run's move, COMMIT.
        with conn.pipeline():
            saver.release(conn)
            result = StepResult(result_next)
            if interrupts:
                approval = approvals.open_request(
                    conn,
                    tenant_id=run.tenant_id,
                    run_id=run.id,
                    node=request.node,
                    interrupt_id=interrupts[0].id,
                    request=interrupts[0].value,
                    timeout_seconds=policy.timeout_seconds,  # type: ignore[union-attr]
                )
                result = StepResult(INTERRUPT, {"approval_id": str(approval.id)})
            outcome = {END: "end", INTERRUPT: "interrupt"}.get(result.next, "next")
            # One statement: the node's usage and citation events, then its closing event,
            # and with them the span and ledger rows.
            steps.append_events(
                conn,
                run.id,
                run.tenant_id,
                [
                    *events.take(request.node),
                    steps.NewEvent(
                        event_type,
                        node=request.node,
                        attempt=request.attempt,
                        duration_ms=duration_ms,
                        invocation=request.invocation,
                        data={"result": result.to_dict()},
                    ),
                ],
                beside=recorder.rows(outcome, next_node=result.next),
            )
            if result.next == END:
                lifecycle.succeed(
                    conn, self._registry, run.id, run.tenant_id, request.node, locked=run
                )
            else:
                lifecycle.advance(
                    conn,
                    run.id,
                    request.node if result.next == INTERRUPT else result.next,
                    locked=run,
                )
            steps.commit(conn)
        if result.next == END:
            metrics.record_run_finished(workflow.name, "succeeded")
        return result


_INTERRUPTS = "__interrupt__"


def _roll_back_open(conn: Connection) -> None:
    """Undo what a step left open (an error between its batches); nothing once committed."""
    from psycopg.pq import TransactionStatus

    if not conn.closed and conn.info.transaction_status in (
        TransactionStatus.INTRANS,
        TransactionStatus.INERROR,
    ):
        conn.rollback()


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

    def rows(self, outcome: str, *, next_node: str | None = None) -> tuple[list[str], list[Any]]:
        """The ledger row and the spans as `WITH` clauses for the statement that writes the
        execution's closing event (`steps.append_events(beside=...)`). Asked again after the
        transaction that first wrote them rolled back (the step failed after recording), the
        same rows."""
        if self._made is None:
            self._made = self._make(outcome, next_node)
        entry, spans = self._made
        run, prices = self._run, self._runner._prices
        return telemetry_store.written_with(
            tenant_id=run.tenant_id,
            run_id=run.id,
            workflow=run.workflow,
            node=self._request.node,
            attempt=self._request.attempt,
            entry=entry if prices is not None else None,
            prices_as_of=prices.as_of if prices is not None else None,
            spans=spans,
        )

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
