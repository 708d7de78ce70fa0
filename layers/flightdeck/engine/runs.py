"""Starting runs from triggers, recording failures, and resuming runs from their checkpoint."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from flightdeck import metrics, privacy
from flightdeck.engine import lifecycle
from flightdeck.engine.registry import Registry
from flightdeck.engine.runner import ConnectionFactory, NodeRunner
from flightdeck.engine.workflow import Workflow
from flightdeck.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TransientError,
    UnauthorizedError,
)
from flightdeck.store import approvals as approval_store
from flightdeck.store import runs
from flightdeck.store import telemetry as telemetry_store
from flightdeck.store import tenants as tenant_store
from flightdeck.store.blobs import BlobStore, tenant_key
from flightdeck.store.db import scoped
from flightdeck.store.sealing import (
    TriggerKeyMissingError,
    TriggerSealer,
    is_sealed,
    open_trigger,
)
from flightdeck.telemetry import costs, tracing

_RUN_NAMESPACE = uuid.UUID("6f1f8c1e-3b8a-4f7e-9d51-0c7f7f1a2b3c")


def run_id_for(tenant_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    """The run id, derived from the idempotency key: a duplicate delivery names the same run
    and so the same Step Functions execution."""
    return uuid.uuid5(_RUN_NAMESPACE, f"{tenant_id}:{idempotency_key}")


def canonical_sha256(payload: Any) -> bytes:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).digest()


class ExecutionStartError(TransientError):
    """Step Functions could not start a stored run's execution (unreachable, throttling, a
    service error). The run stays queued: the API answers 503 with `Retry-After`, and the
    sender's retry of the same delivery, or the sweeper, starts it."""

    status = 503
    title = "Service unavailable"
    retry_after_seconds = 5


class WebhookSecretWithdrawnError(UnauthorizedError):
    """The webhook secret that verified a delivery expired or was revoked before its run was
    stored: nothing was written."""


# Step Functions error codes that say "try again later" rather than "this is wrong".
_RETRYABLE_CODES = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalServerError", "RequestTimeout"}
)


def _unavailable(exc: BaseException) -> ExecutionStartError | None:
    """`exc` from StartExecution as `ExecutionStartError` when it is worth retrying: the
    endpoint unreachable or timing out, throttling, a 5xx; None for anything else (a
    misconfiguration stays a 500, while its run waits for the sweeper)."""
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    if isinstance(exc, ParamValidationError):
        return None
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if error.get("Code") not in _RETRYABLE_CODES and status < 500:
            return None
    elif not isinstance(exc, BotoCoreError):
        return None
    return ExecutionStartError(
        "the run is stored but Step Functions could not start it; send the delivery again"
        f" ({type(exc).__name__})"
    )


@dataclass(frozen=True)
class Started:
    run: runs.Run
    created: bool


class RunService:
    def __init__(
        self,
        *,
        registry: Registry,
        connection: ConnectionFactory,
        sfn: Any,
        blobs: BlobStore,
        state_machine_arn: Any,
        inline_payload_limit: int,
        runner: NodeRunner | None = None,
        sealer: Callable[[], TriggerSealer | None] = lambda: None,
        tracer: tracing.Tracing | None = None,
        prices: costs.Prices | None = None,
        memory_mb: int = 1024,
    ) -> None:
        self._registry = registry
        self._tracing = tracer or tracing.Tracing("none")
        self._prices = prices
        self._memory_mb = memory_mb
        self._connection = connection
        self._sfn = sfn
        self._blobs = blobs
        self._state_machine_arn = state_machine_arn
        self._inline_limit = inline_payload_limit
        self._runner = runner
        # Seals the personal fields of triggers before they are stored (None: stored as sent).
        self._sealer = sealer

    def start(
        self,
        *,
        tenant_id: uuid.UUID,
        workflow_name: str,
        payload: Any,
        idempotency_key: str,
        source: str,
        rerun_of: uuid.UUID | None = None,
        webhook_secret: tuple[str, uuid.UUID] | None = None,
    ) -> Started:
        """Create the run for this trigger and start its execution, once per key.

        A duplicate with the same payload returns the original run (and starts its execution
        if an earlier attempt stopped before doing so); a different payload is a conflict.
        A new run's trace starts here: this span is its root, the execution's span its child.

        With `webhook_secret` (the tenant's slug and the webhook secret version that verified
        the delivery), the run is stored only while that version is still valid
        (`WebhookSecretWithdrawnError` otherwise). When Step Functions cannot start the
        execution the run stays queued and `ExecutionStartError` (503) is raised: a retried
        delivery, or the sweeper (`flightdeck.engine.sweeper`), starts it.
        """
        began = time.perf_counter()
        workflow = self._registry.get(workflow_name)
        try:
            trigger = workflow.parse_trigger(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            raise InvalidInputError(f"{field}: {first['msg']}", field=field) from exc
        digest = canonical_sha256(trigger)
        run_id = run_id_for(tenant_id, idempotency_key)
        root = self._tracing.open(
            f"start {workflow.name}",
            "api",
            tenant_id=tenant_id,
            run_id=run_id,
            attributes={
                tracing.WORKFLOW: workflow.name,
                tracing.VERSION: workflow.manifest.version,
                "flightdeck.trigger_source": source,
            },
        )
        started: Started | None = None
        try:
            with root.current():
                started = self._create(
                    tenant_id,
                    workflow,
                    trigger,
                    digest,
                    run_id,
                    idempotency_key,
                    source,
                    rerun_of,
                    root,
                    webhook_secret,
                )
                if started.created:
                    self._traced_execution(
                        started.run, {"run_id": str(run_id), "tenant_id": str(tenant_id)}
                    )
        except BaseException as exc:
            root.fail(type(exc).__name__)
            root.end()
            if started is None or not started.created:
                self._tracing.take(root.trace_id)  # nothing was created to hang them on
                raise
            # The run is stored, its execution is not started: the request's spans and cost
            # belong to it all the same.
            self._record_start(started, source, began, root)
            unavailable = _unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc
        root.end()
        later: list[tracing.SpanRecord] = []
        if not started.created and started.run.status == "queued":
            # An earlier attempt stored the run but may not have started its execution.
            try:
                later, _ = self._start_queued(started.run)
            except BaseException:
                self._tracing.take(root.trace_id)  # a duplicate's spans are not kept
                raise
        self._record_start(started, source, began, root, later)
        return started

    def _create(
        self,
        tenant_id: uuid.UUID,
        workflow: Workflow,
        trigger: dict[str, Any],
        digest: bytes,
        run_id: uuid.UUID,
        idempotency_key: str,
        source: str,
        rerun_of: uuid.UUID | None,
        root: tracing.Span,
        webhook_secret: tuple[str, uuid.UUID] | None,
    ) -> Started:
        stored = self._seal(trigger, workflow, tenant_id, run_id)
        text: str | None = json.dumps(stored)
        ref = None
        if len(text or "") > self._inline_limit:
            ref = self._blobs.put_json(
                tenant_key(tenant_id, "runs", str(run_id), "trigger.json"), stored
            )
            text = None
        # One statement, one round trip: the run, its queued event and (for a webhook) the
        # check that the secret that verified it is still valid.
        with self._connection() as conn:
            run, outcome = runs.start_run(
                conn,
                run_id=run_id,
                tenant_id=tenant_id,
                workflow=workflow.name,
                workflow_version=workflow.manifest.version,
                idempotency_key=idempotency_key,
                trigger_source=source,
                trigger_json=text,
                trigger_ref=ref,
                trigger_sha256=digest,
                execution_name=str(run_id),
                rerun_of=rerun_of,
                trigger_sealed=is_sealed(stored),
                trigger_id=workflow.trigger_id(trigger),
                queued={
                    "source": source,
                    "idempotency_key": idempotency_key,
                    "rerun_of": str(rerun_of) if rerun_of else None,
                    "traceparent": root.traceparent,
                },
                webhook_secret=webhook_secret,
            )
        if run is None:
            raise WebhookSecretWithdrawnError(
                "the webhook secret that signed the delivery is no longer valid"
            )
        if outcome == "existing" and run.trigger_sha256 != digest:
            raise ConflictError(
                f"idempotency key {idempotency_key!r} was used for a different payload"
            )
        if outcome == "created":
            metrics.record_run_started(workflow.name)
        return Started(run, outcome == "created")

    def start_queued(self, run: runs.Run) -> bool:
        """Start the execution of a stored run that may have none (Step Functions was
        unavailable when it was created): idempotent, as the execution is named after the run
        and Step Functions refuses a second execution of that name. True when this call
        started it, False when it already existed.

        The execution joins the run's trace under the root span of the request that created
        it, and its span is written to the span store. Raises `ExecutionStartError` while Step
        Functions is unavailable."""
        spans, started = self._start_queued(run)
        if spans:
            with self._connection() as conn, scoped(conn, run.tenant_id):
                telemetry_store.insert_spans(conn, spans)
        self._tracing.flush()
        return started

    def _start_queued(self, run: runs.Run) -> tuple[list[tracing.SpanRecord], bool]:
        with self._connection() as conn, scoped(conn, run.tenant_id):
            queued = runs.last_event(conn, run.id, (runs.RUN_QUEUED,))
            node = None
            if run.execution_name != str(run.id) and self._runner is not None:
                # A resumed run (its execution renamed): the new execution names the node.
                node = self._runner.next_node(conn, run)
        root = str((queued.data or {}).get("traceparent") or "") if queued else ""
        payload = {"run_id": str(run.id), "tenant_id": str(run.tenant_id)}
        if node is not None:
            payload["next"] = node
        try:
            return self._traced_execution(run, payload, parent=root or None)
        except Exception as exc:
            unavailable = _unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc

    def _traced_execution(
        self, run: runs.Run, payload: dict[str, Any], parent: str | None = None
    ) -> tuple[list[tracing.SpanRecord], bool]:
        """Start the execution inside its span; the span is the parent of every node span of
        that execution (its traceparent travels in the input). Inside another span (a new
        run's root) its parent collects it; otherwise it returns the ended span, unless the
        execution was not started by this call (it existed, or starting it failed: then no
        span is kept). The boolean says whether this call started the execution."""
        trace_id = None
        try:
            with self._tracing.span(
                f"execution {run.execution_name}",
                "execution",
                tenant_id=run.tenant_id,
                run_id=run.id,
                parent=parent,
                attributes={
                    tracing.WORKFLOW: run.workflow,
                    "aws.step_functions.execution_name": run.execution_name,
                },
            ) as span:
                trace_id = span.trace_id
                started = self._start_execution(
                    run, {**payload, "traceparent": span.traceparent or ""}
                )
        except BaseException:
            if not self._tracing.inside_span():
                self._tracing.take(trace_id)
            raise
        if self._tracing.inside_span():
            return [], started
        spans = self._tracing.take(trace_id)
        return (spans if started else []), started

    def _record_start(
        self,
        started: Started,
        source: str,
        began: float,
        root: tracing.Span,
        later: list[tracing.SpanRecord] | None = None,
    ) -> None:
        """The new run's spans (or those of the execution this request started for an earlier
        one, `later`), and what the request cost (a duplicate delivery costs a request too, but
        adds no span of its own to the original run's trace).

        Written in one round trip that does not wait for the WAL flush (`synchronous_commit`
        off for this transaction only): the run itself was committed durably before; what a
        database crash within a fraction of a second could lose is this request's telemetry,
        never a run or an event."""
        spans = self._tracing.take(root.trace_id)
        if not started.created:
            spans = later or []
        entry = None
        if self._prices is not None:
            entry = costs.price_api_request(
                self._prices,
                duration_ms=(time.perf_counter() - began) * 1000,
                memory_mb=self._memory_mb,
                api_gateway=source != "schedule",
            )
        if not spans and entry is None:
            return
        run = started.run
        clauses, values = telemetry_store.written_with(
            tenant_id=run.tenant_id,
            run_id=run.id,
            workflow=run.workflow,
            node=None,
            attempt=None,
            entry=entry,
            prices_as_of=self._prices.as_of if self._prices is not None else None,
            spans=spans,
        )
        with self._connection() as conn:
            runs.write_unflushed(conn, run.tenant_id, clauses, values)
        self._tracing.flush()

    def start_scheduled(self, *, workflow_name: str, scheduled_at: str) -> list[Started]:
        """A schedule fired: start the workflow for every tenant, once per firing.

        The trigger is `{"scheduled_at": ...}`; a scheduled workflow's input model accepts it.
        A repeated delivery of the same firing finds the runs it already started.
        """
        with self._connection() as conn, conn.transaction():
            tenant_ids = tenant_store.all_ids(conn)
        return [
            self.start(
                tenant_id=tenant_id,
                workflow_name=workflow_name,
                payload={"scheduled_at": scheduled_at},
                idempotency_key=f"schedule:{workflow_name}:{scheduled_at}",
                source="schedule",
            )
            for tenant_id in tenant_ids
        ]

    def execution_arn(self, run: runs.Run) -> str:
        machine = self._state_machine_arn(run.workflow)
        return f"{machine.replace(':stateMachine:', ':execution:')}:{run.execution_name}"

    def cancel(self, *, tenant_id: uuid.UUID, run_id: uuid.UUID, actor: str) -> runs.Run:
        """Stop a run that has not finished: its execution is stopped, its pending approvals
        are withdrawn; nothing it already did is undone."""
        with self._connection() as conn, scoped(conn, tenant_id):
            run = runs.lock_run(conn, run_id)
            if run is None:
                raise NotFoundError(f"no run {run_id}")
            if run.status in runs.TERMINAL:
                raise ConflictError(f"run {run_id} already {run.status}")
            tokens = approval_store.open_tokens(conn, run_id)
            lifecycle.cancel(conn, run_id, tenant_id, actor=actor)
            metrics.record_run_finished(run.workflow, "cancelled")
        with contextlib.suppress(self._sfn.exceptions.ExecutionDoesNotExist):
            self._sfn.stop_execution(
                executionArn=self.execution_arn(run), error="Cancelled", cause=f"by {actor}"
            )
        # A wait state that is still holding on (the emulator does not stop waits) is
        # released too; on AWS the token is already void and this is a no-op.
        gone = (
            self._sfn.exceptions.TaskDoesNotExist,
            self._sfn.exceptions.TaskTimedOut,
            self._sfn.exceptions.InvalidToken,
        )
        for token in tokens:
            with contextlib.suppress(*gone):
                self._sfn.send_task_failure(taskToken=token, error="RunCancelled", cause=actor)
        return self._get(tenant_id, run_id)

    def redrive(self, *, tenant_id: uuid.UUID, run_id: uuid.UUID, actor: str) -> str:
        """Continue a failed run from its failed node on a new execution."""
        with self._connection() as conn, scoped(conn, tenant_id):
            run = runs.get_run(conn, run_id)
            if run is None:
                raise NotFoundError(f"no run {run_id}")
            if run.status != "failed":
                raise ConflictError(
                    f"only a failed run can be redriven; run {run_id} is {run.status}"
                )
            attempt = runs.count_events(conn, run_id, runs.RUN_REDRIVEN) + 1
        node = self.resume(tenant_id, run_id, suffix=f"redrive{attempt}")
        if node is None:
            raise ConflictError(f"run {run_id} has nothing left to run")
        with self._connection() as conn, scoped(conn, tenant_id):
            runs.append_event(
                conn,
                run_id=run_id,
                tenant_id=tenant_id,
                type=runs.RUN_REDRIVEN,
                node=node,
                data={"by": actor, "attempt": attempt},
            )
        return node

    def rerun(
        self,
        *,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        actor: str,
        idempotency_key: str | None = None,
    ) -> Started:
        """A new run from the original trigger, on the workflow's current version."""
        original = self._get(tenant_id, run_id)
        key = idempotency_key or f"rerun:{run_id}:{uuid.uuid4()}"
        started = self.start(
            tenant_id=tenant_id,
            workflow_name=original.workflow,
            payload=open_trigger(self._blobs, self._sealer(), original),
            idempotency_key=key,
            source=original.trigger_source,
            rerun_of=original.id,
        )
        if started.created:
            with self._connection() as conn, scoped(conn, tenant_id):
                runs.append_event(
                    conn,
                    run_id=original.id,
                    tenant_id=tenant_id,
                    type=runs.RUN_RERUN,
                    data={"by": actor, "new_run_id": str(started.run.id)},
                )
        return started

    def bulk(
        self,
        *,
        tenant_id: uuid.UUID,
        action: Literal["cancel", "retry"],
        where: runs.RunFilter,
        actor: str,
        limit: int = 1000,
    ) -> tuple[int, int]:
        """Apply `action` to every run matching `where` (cancel: unfinished runs; retry:
        failed runs, redriven). Returns (matched, touched)."""
        eligible = (
            ("failed",) if action == "retry" else ("queued", "running", "waiting_for_approval")
        )
        statuses = tuple(s for s in (where.statuses or eligible) if s in eligible)
        if not statuses:
            return 0, 0
        narrowed = dataclasses.replace(where, statuses=statuses)
        with self._connection() as conn, scoped(conn, tenant_id):
            matched = runs.list_runs(conn, narrowed, tenant_id=tenant_id, limit=limit)
        touched = 0
        for run in matched:
            try:
                if action == "cancel":
                    self.cancel(tenant_id=tenant_id, run_id=run.id, actor=actor)
                else:
                    self.redrive(tenant_id=tenant_id, run_id=run.id, actor=actor)
            except ConflictError:
                continue  # it changed state meanwhile: not ours to touch any more
            touched += 1
        return len(matched), touched

    def _seal(
        self, trigger: Any, workflow: Workflow, tenant_id: uuid.UUID, run_id: uuid.UUID
    ) -> Any:
        sealer = self._sealer()
        if sealer is None:
            return trigger
        personal = privacy.personal_fields(workflow.manifest.input_model)
        return sealer.seal(trigger, tenant_id=tenant_id, run_id=run_id, personal=personal)

    def seal_stored_triggers(
        self, tenant_id: uuid.UUID, *, batch: int = 100, deadline: float | None = None
    ) -> int:
        """Encrypt the triggers of `tenant_id`'s runs stored in plaintext (before migration
        0011, or while no key was configured), in place: the row, or the S3 object it points
        to (its earlier, plaintext versions deleted). Each batch commits on its own; with a
        `deadline` (a `time.monotonic()` value) no batch starts after it. Idempotent: returns
        how many it sealed, and a second call finds nothing left."""
        sealer = self._sealer()
        if sealer is None:
            raise TriggerKeyMissingError("no trigger key is configured: nothing can be sealed")
        sealed = 0
        while deadline is None or time.monotonic() < deadline:
            with self._connection() as conn, scoped(conn, tenant_id):
                todo = runs.plaintext_triggers(conn, limit=batch)
                for run in todo:
                    plain = self._blobs.inline_or_stored(run.trigger_payload, run.trigger_ref)
                    personal: tuple[str, ...] = ()
                    if run.workflow in self._registry:
                        model = self._registry.get(run.workflow).manifest.input_model
                        personal = privacy.personal_fields(model)
                    stored = sealer.seal(
                        plain, tenant_id=tenant_id, run_id=run.id, personal=personal
                    )
                    if run.trigger_ref is not None:
                        self._blobs.replace_json(run.trigger_ref, stored)
                        runs.mark_trigger_sealed(conn, run.id, None)
                    else:
                        runs.mark_trigger_sealed(conn, run.id, stored)
                    sealed += 1
            if len(todo) < batch:
                break
        return sealed

    def _get(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> runs.Run:
        with self._connection() as conn, scoped(conn, tenant_id):
            run = runs.get_run(conn, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id}")
        return run

    def _start_execution(self, run: runs.Run, payload: dict[str, Any]) -> bool:
        try:
            self._sfn.start_execution(
                stateMachineArn=self._state_machine_arn(run.workflow),
                name=run.execution_name,
                # The node runner's Task reads $.traceparent: it is always there.
                input=json.dumps({"traceparent": "", **payload}),
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            # An earlier delivery of the same trigger (or the sweeper) started it.
            return False
        return True

    def record_failure(
        self, *, tenant_id: uuid.UUID, run_id: uuid.UUID, error: dict[str, Any]
    ) -> None:
        """Called by the state machine's failure state: keep the reason, end the run."""
        error_type = str(error.get("Error") or "Unknown")
        message = _cause_message(error.get("Cause"))
        with self._connection() as conn, scoped(conn, tenant_id):
            run = runs.lock_run(conn, run_id)
            if run is None:
                raise NotFoundError(f"no run {run_id}")
            if run.status in runs.TERMINAL:
                return
            failed = runs.last_event(conn, run_id, (runs.NODE_FAILED, runs.NODE_ENTERED))
            node = failed.node if failed else run.current_node
            lifecycle.fail(
                conn,
                self._registry,
                run_id,
                run.tenant_id,
                error_type=error_type,
                error_message=message,
                node=node,
            )
            metrics.record_run_finished(run.workflow, "failed")

    def resume(self, tenant_id: uuid.UUID, run_id: uuid.UUID, *, suffix: str) -> str | None:
        """Start a new execution continuing `run_id` from the node LangGraph has next.

        Finished nodes are not run again: the checkpoint says where the run is. Returns the
        node it continues from, or None when there is nothing left to run.
        """
        assert self._runner is not None, "resume needs the node runner"
        with self._connection() as conn, scoped(conn, tenant_id):
            run = runs.get_run(conn, run_id)
            if run is None:
                raise NotFoundError(f"no run {run_id}")
            if run.status in ("succeeded", "cancelled"):
                return None
            node = self._runner.next_node(conn, run)
            if node is None:
                return None
            name = f"{run.id}-{suffix}"[:80]
            resumed = lifecycle.reopen(conn, run.id, execution_name=name)
            queued = runs.last_event(conn, run.id, (runs.RUN_QUEUED,))
        root = str((queued.data or {}).get("traceparent") or "") if queued else ""
        payload = {"run_id": str(run.id), "tenant_id": str(tenant_id), "next": node}
        # The new execution joins the run's trace, beside the executions before it.
        spans, _ = self._traced_execution(resumed, payload, parent=root or None)
        if spans:
            with self._connection() as conn, scoped(conn, tenant_id):
                telemetry_store.insert_spans(conn, spans)
        self._tracing.flush()
        return node


def _cause_message(cause: Any) -> str:
    """Step Functions passes a Lambda error's cause as a JSON string."""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except json.JSONDecodeError:
            return cause[:2000]
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            return str(parsed["errorMessage"])[:2000]
        return cause[:2000]
    return json.dumps(cause)[:2000] if cause is not None else ""
