"""Write finished runs as they would have been recorded in the past (development and tests).

The engine records a run as it happens; a demo or a test of the outcome figures needs weeks of
history at known times. `record` writes one run with the rows the engine would have left (the
run, its events, its approval, its before/after snapshot and its annotations) at the times
given. It inserts finished history; it never changes the status of a live run (that is
`flightdeck.engine.lifecycle`'s job).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg.types.json import Jsonb

from flightdeck.engine.registry import discover
from flightdeck.store.db import Connection

ApprovalOutcome = Literal["approved", "edited", "rejected", "timed_out"]


@dataclass(frozen=True)
class PastNode:
    name: str
    duration_ms: float
    # Failed attempts before the one that counted (each one a node.failed + node.retried).
    retries: int = 0
    failed: bool = False
    error: str = "TransientError: the model provider timed out"


@dataclass(frozen=True)
class PastApproval:
    node: str
    outcome: ApprovalOutcome
    request: dict[str, Any]
    waited: timedelta
    decided_by: str = "token:operator"
    edited: dict[str, Any] | None = None


@dataclass(frozen=True)
class PastAnnotation:
    kind: Literal["comment", "label", "score"]
    body: str | None = None
    label: str | None = None
    score: float | None = None
    metric: str | None = None
    node: str | None = None
    author: str = "token:operator"


@dataclass(frozen=True)
class PastOutcome:
    baseline_minutes: float
    staff_minutes: float
    turnaround_seconds: float
    quality_score: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PastRun:
    workflow: str
    workflow_version: str
    created_at: datetime
    status: Literal["succeeded", "failed", "cancelled"]
    trigger: dict[str, Any]
    nodes: list[PastNode]
    # Trigger → done; None: spread evenly from the nodes' durations and the approval's wait.
    duration: timedelta | None = None
    approval: PastApproval | None = None
    outcome: PastOutcome | None = None
    annotations: list[PastAnnotation] = field(default_factory=list)
    source: Literal["webhook", "api", "schedule"] = "webhook"


def _event(
    conn: Connection,
    run: uuid.UUID,
    tenant: uuid.UUID,
    at: datetime,
    type_: str,
    *,
    node: str | None = None,
    attempt: int | None = None,
    duration_ms: float | None = None,
    error: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    error_type, _, error_message = (error or "").partition(": ")
    conn.execute(
        "INSERT INTO run_events (run_id, tenant_id, type, node, attempt, duration_ms,"
        " error_type, error_message, data, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            run,
            tenant,
            type_,
            node,
            attempt,
            duration_ms,
            error_type or None,
            error_message or None,
            Jsonb(data or {}),
            at,
        ),
    )


def _trigger_id(past: PastRun) -> str | None:
    """The business id the engine would have stored with the run (its workflow's id field)."""
    registry = discover()
    if past.workflow not in registry:
        return None
    return registry.get(past.workflow).trigger_id(past.trigger)


def record(
    conn: Connection, tenant_id: uuid.UUID, past: PastRun, *, trigger_id: bool = True
) -> uuid.UUID:
    """Write one finished run of the past; returns its id. `trigger_id=False` leaves out the
    run's business id, for a database before migration 0024 (tests of older migrations)."""
    run_id = uuid.uuid4()
    body = json.dumps(past.trigger, sort_keys=True).encode()
    waited = past.approval.waited if past.approval else timedelta(0)
    worked = timedelta(milliseconds=sum(n.duration_ms * (1 + n.retries) for n in past.nodes))
    duration = past.duration if past.duration is not None else worked + waited
    finished = past.created_at + duration
    last = past.nodes[-1] if past.nodes else None
    failed_node = last.name if past.status == "failed" and last else None
    error_type, _, error_message = (last.error if failed_node and last else "").partition(": ")
    conn.execute(
        "INSERT INTO runs (id, tenant_id, workflow, workflow_version, status, idempotency_key,"
        " trigger_source, trigger_payload, trigger_sha256, execution_name, current_node,"
        " error_type, error_message, failed_node, created_at, started_at, finished_at,"
        " updated_at"
        + (", trigger_id" if trigger_id else "")
        + ") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s"
        + (", %s" if trigger_id else "")
        + ")",
        (
            run_id,
            tenant_id,
            past.workflow,
            past.workflow_version,
            past.status,
            # What the sender's delivery id would have been: a webhook-id, or a client's key.
            f"msg_{run_id.hex[:26]}" if past.source == "webhook" else f"history:{run_id}",
            past.source,
            Jsonb(past.trigger),
            hashlib.sha256(body).digest(),
            f"history-{run_id}",
            last.name if last else None,
            error_type or None,
            error_message or None,
            failed_node,
            past.created_at,
            past.created_at,
            finished,
            finished,
            *((_trigger_id(past),) if trigger_id else ()),
        ),
    )
    at = past.created_at
    _event(conn, run_id, tenant_id, at, "run.queued")
    _event(conn, run_id, tenant_id, at, "run.started")
    # Time between events: the nodes' own durations, the approval's wait, and what is left of
    # the run's duration spread over the steps.
    slack = max(duration - worked - waited, timedelta(0)) / max(len(past.nodes), 1)
    for node in past.nodes:
        for attempt in range(node.retries + 1):
            if attempt > 0:
                _event(conn, run_id, tenant_id, at, "node.retried", node=node.name, attempt=attempt)
            _event(conn, run_id, tenant_id, at, "node.entered", node=node.name, attempt=attempt)
            at += timedelta(milliseconds=node.duration_ms)
            if attempt < node.retries or node.failed:
                _event(
                    conn,
                    run_id,
                    tenant_id,
                    at,
                    "node.failed",
                    node=node.name,
                    attempt=attempt,
                    duration_ms=node.duration_ms,
                    error=node.error,
                )
                continue
            approval = past.approval
            if approval is not None and approval.node == node.name:
                _event(
                    conn,
                    run_id,
                    tenant_id,
                    at,
                    "node.interrupted",
                    node=node.name,
                    attempt=attempt,
                    duration_ms=node.duration_ms,
                )
                _record_approval(conn, tenant_id, run_id, at, approval)
                # Decided (or timed out and given the default action): the node runs again.
                at += approval.waited
                _event(conn, run_id, tenant_id, at, "node.entered", node=node.name, attempt=0)
            _event(
                conn,
                run_id,
                tenant_id,
                at,
                "node.succeeded",
                node=node.name,
                attempt=attempt,
                duration_ms=node.duration_ms,
            )
        at += slack
    final = {"succeeded": "run.succeeded", "failed": "run.failed", "cancelled": "run.cancelled"}
    _event(conn, run_id, tenant_id, finished, final[past.status])
    if past.outcome is not None:
        o = past.outcome
        conn.execute(
            "INSERT INTO run_outcomes (run_id, tenant_id, workflow, baseline_minutes,"
            " staff_minutes, turnaround_seconds, quality_score, data, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                run_id,
                tenant_id,
                past.workflow,
                o.baseline_minutes,
                o.staff_minutes,
                o.turnaround_seconds,
                o.quality_score,
                Jsonb(o.data),
                finished,
            ),
        )
    for n, note in enumerate(past.annotations):
        conn.execute(
            "INSERT INTO annotations (id, tenant_id, run_id, node, kind, body, label, score,"
            " metric, author, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                uuid.uuid4(),
                tenant_id,
                run_id,
                note.node,
                note.kind,
                note.body,
                note.label,
                note.score,
                note.metric,
                note.author,
                finished + timedelta(minutes=5 + n),
            ),
        )
    return run_id


def _record_approval(
    conn: Connection, tenant_id: uuid.UUID, run_id: uuid.UUID, at: datetime, a: PastApproval
) -> None:
    decided_at = at + a.waited
    decisions: dict[str, dict[str, Any]] = {
        "approved": {"decision": "approve", "payload": None},
        "edited": {"decision": "edit", "payload": a.edited or {}},
        "rejected": {"decision": "reject", "payload": None},
        "timed_out": {"decision": "reject", "payload": None},
    }
    decision = decisions[a.outcome]
    conn.execute(
        "INSERT INTO approvals (id, tenant_id, run_id, node, interrupt_id, request, status,"
        " decision, decided_by, decided_at, expires_at, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            tenant_id,
            run_id,
            a.node,
            f"history-{uuid.uuid4().hex[:12]}",
            Jsonb(a.request),
            a.outcome,
            Jsonb(decision),
            "policy:timeout" if a.outcome == "timed_out" else a.decided_by,
            decided_at,
            at + timedelta(hours=4),
            at,
        ),
    )
    _event(conn, run_id, tenant_id, at, "approval.waiting", node=a.node)
    _event(conn, run_id, tenant_id, decided_at, f"approval.{a.outcome}", node=a.node)
