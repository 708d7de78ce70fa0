"""The node runner: executes exactly one node of one run per Step Functions Task.

For each call it loads the run's LangGraph thread (thread id = run id) from the Postgres
checkpointer, checks that the node Step Functions asks for is the one LangGraph has next, runs
it, and answers `{next, interrupt}`; never the state. The checkpoint, the node's own effects
(outbox, outcomes) and the `node.succeeded` event commit in one transaction, so a crash either
loses the whole step (and the retry runs it) or none of it (and the retry is answered from the
recorded event without running the node again).
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from flightdeck import observability
from flightdeck.engine import lifecycle
from flightdeck.engine.compiler import END, INTERRUPT, analyse
from flightdeck.engine.context import NodeContext
from flightdeck.engine.registry import Registry
from flightdeck.engine.stores import (
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
from flightdeck.store.blobs import BlobStore
from flightdeck.store.db import Connection, scoped
from flightdeck.store.sealing import TriggerSealer, open_trigger

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
    ) -> None:
        self._registry = registry
        self._connection = connection
        self._model = model
        self._blobs = blobs
        # Built on first search: most nodes never embed anything.
        self._embeddings = embeddings
        # Opens sealed triggers: the entry node is the one place a run reads its trigger.
        self._sealer = sealer
        # Compiled graphs per connection: compiling binds the checkpointer to one connection.
        self._compiled: weakref.WeakKeyDictionary[Connection, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def compiled(self, conn: Connection, workflow: Workflow) -> Any:
        from langgraph.checkpoint.postgres import PostgresSaver

        per_conn = self._compiled.setdefault(conn, {})
        graph = per_conn.get(workflow.name)
        if graph is None:
            graph = workflow.graph.compile(checkpointer=PostgresSaver(conn))
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
        return NodeContext(
            tenant_id=run.tenant_id,
            run_id=run.id,
            run_created_at=run.created_at,
            manifest=workflow.manifest,
            model=RecordedModel(self._model, events),
            knowledge=PostgresKnowledge(conn, run.tenant_id, self._embeddings, events),
            effects=PostgresEffects(conn, run.tenant_id, run.id, node),
            outcomes=PostgresOutcomes(conn, run.tenant_id, run.id, workflow.name),
        )

    def next_node(self, conn: Connection, run: runs.Run) -> str | None:
        """The node LangGraph would run next for `run`, or None when the thread has ended.
        A run that never started answers its entry node. Call inside the run's tenant scope."""
        workflow = self._registry.get(run.workflow)
        snapshot = self.compiled(conn, workflow).get_state(thread_config(run.id))
        if not snapshot.values and not snapshot.next:
            return analyse(workflow)[0]
        return snapshot.next[0] if snapshot.next else None

    def run(self, request: StepRequest) -> StepResult:
        tenant = request.tenant_id
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
            try:
                with scoped(conn, tenant):
                    result = self._step(conn, run, workflow, request, started)
            except Exception as exc:
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
                with scoped(conn, tenant):
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
            observability.milliseconds("NodeDuration", elapsed)
            return result

    def _step(
        self,
        conn: Connection,
        run: runs.Run,
        workflow: Workflow,
        request: StepRequest,
        started: float,
    ) -> StepResult:
        from langgraph.types import Command

        # One step of a run at a time, even if two executions ask at once (a resume racing
        # the execution it replaces): the second one then sees the first one's checkpoint.
        locked = runs.lock_run(conn, run.id)
        if locked is None or locked.status in runs.TERMINAL:
            raise RunNotActiveError(f"run {run.id} is {locked.status if locked else 'gone'}")
        graph = self.compiled(conn, workflow)
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

        events = NodeEvents()
        context = self.context(conn, run, workflow, request.node, events)
        # "sync": LangGraph writes its checkpoint before the node runs, not beside it; the node's
        # own queries (knowledge, effects, usage events) share this connection, which takes one
        # command at a time.
        graph.invoke(node_input, config, context=context, interrupt_after="*", durability="sync")
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
        else:
            lifecycle.advance(
                conn, run.id, request.node if result.next == INTERRUPT else result.next
            )
        return result
