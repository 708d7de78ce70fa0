"""A run's status changes here, and nowhere else.

The runner, the approval service and the run service each reach points where a run moves on
(it starts, advances, waits for a person, resumes, ends). Each of those moves is one function
below: it checks the run may make the move from the status it has now, writes the status, and
records the run-level event and queues the callback the move owes — all in the caller's
tenant-scoped transaction, so a move is either wholly recorded or not at all.

The node runner makes its moves inside a pipeline (`flightdeck.store.steps`), where nothing is
read back before the batch is sent: `enter` writes its move only if it may be made, and
`advance` and `succeed` are given the run as locked (`locked=`) and check the move against the
status it had under the lock, which nothing else can change until the step commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from flightdeck.engine import callbacks
from flightdeck.engine.registry import Registry
from flightdeck.errors import ConflictError
from flightdeck.store import approvals, runs, steps
from flightdeck.store.db import Connection
from flightdeck.store.runs import RunStatus

OPEN: tuple[RunStatus, ...] = ("queued", "running", "waiting_for_approval")

# Which statuses a run may be in for each move. A failed run runs again only when it is
# redriven or resumed (`reopen`); a succeeded or cancelled run never moves again.
_FROM: dict[str, tuple[RunStatus, ...]] = {
    "start": ("queued",),
    "advance": ("running",),
    "await_approval": ("running", "waiting_for_approval"),
    "resume": ("running", "waiting_for_approval"),
    "succeed": ("running",),
    "fail": OPEN,
    "cancel": OPEN,
}


class TransitionError(ConflictError):
    """The run is not in a status this move starts from (it ended, or moved meanwhile)."""


def _move(
    conn: Connection,
    move: str,
    run_id: uuid.UUID,
    to: RunStatus,
    **fields: Any,
) -> None:
    allowed = _FROM[move]
    if not runs.set_status(conn, run_id, to, from_statuses=allowed, **fields):
        run = runs.get_run(conn, run_id)
        now = run.status if run is not None else "gone"
        raise TransitionError(f"run {run_id} is {now}; it cannot {move.replace('_', ' ')}")


def _queue_move(
    conn: Connection, move: str, locked: runs.Run, to: RunStatus, *, current_node: str
) -> None:
    allowed = _FROM[move]
    if locked.status not in allowed:
        raise TransitionError(
            f"run {locked.id} is {locked.status}; it cannot {move.replace('_', ' ')}"
        )
    steps.set_status(conn, locked.id, to, from_statuses=allowed, current_node=current_node)


def enter(
    conn: Connection,
    *,
    run_id: uuid.UUID,
    tenant_id: uuid.UUID,
    workflow: str,
    node: str,
    attempt: int,
    invocation: str,
) -> None:
    """A node step begins (pipelined): a queued run starts (`start`), and the node's
    `node.retried` / `node.entered` events are written; nothing is written for a run that is
    missing, of another workflow, ended, or that already answered this invocation."""
    steps.enter(
        conn,
        run_id=run_id,
        tenant_id=tenant_id,
        workflow=workflow,
        node=node,
        attempt=attempt,
        invocation=invocation,
        start="running",
        started_event=runs.RUN_STARTED,
    )


def start(conn: Connection, run_id: uuid.UUID, tenant_id: uuid.UUID, node: str) -> None:
    """The first node was entered."""
    _move(conn, "start", run_id, "running", current_node=node)
    runs.append_event(conn, run_id=run_id, tenant_id=tenant_id, type=runs.RUN_STARTED)


def advance(
    conn: Connection, run_id: uuid.UUID, node: str, *, locked: runs.Run | None = None
) -> None:
    """A node finished (or asked for approval); `node` is where the run stands now. With
    `locked` (the run as read under its row lock), checked against it and pipelined."""
    if locked is not None:
        _queue_move(conn, "advance", locked, "running", current_node=node)
        return
    _move(conn, "advance", run_id, "running", current_node=node)


def await_approval(conn: Connection, registry: Registry, approval: approvals.Approval) -> None:
    """The wait state holds the approval's task token: a person is asked."""
    _move(
        conn, "await_approval", approval.run_id, "waiting_for_approval", current_node=approval.node
    )
    runs.append_event(
        conn,
        run_id=approval.run_id,
        tenant_id=approval.tenant_id,
        type=runs.APPROVAL_WAITING,
        node=approval.node,
        data={"approval_id": str(approval.id), "expires_at": approval.expires_at.isoformat()},
    )
    callbacks.enqueue(
        conn, registry, approval.run_id, callbacks.APPROVAL_REQUESTED, approval=approval
    )


def resume(conn: Connection, run_id: uuid.UUID, node: str) -> None:
    """An approval was decided (by a person or by the timeout policy): the run goes on."""
    _move(conn, "resume", run_id, "running", current_node=node)


def succeed(
    conn: Connection,
    registry: Registry,
    run_id: uuid.UUID,
    tenant_id: uuid.UUID,
    node: str,
    *,
    locked: runs.Run | None = None,
) -> None:
    """The last node finished. With `locked`, as `advance`."""
    if locked is not None:
        _queue_move(conn, "succeed", locked, "succeeded", current_node=node)
        steps.append_events(conn, run_id, tenant_id, [steps.NewEvent(runs.RUN_SUCCEEDED)])
    else:
        _move(conn, "succeed", run_id, "succeeded", current_node=node)
        runs.append_event(conn, run_id=run_id, tenant_id=tenant_id, type=runs.RUN_SUCCEEDED)
    callbacks.enqueue(conn, registry, run_id, callbacks.RUN_SUCCEEDED)


def fail(
    conn: Connection,
    registry: Registry,
    run_id: uuid.UUID,
    tenant_id: uuid.UUID,
    *,
    error_type: str,
    error_message: str,
    node: str | None,
) -> None:
    """The state machine gave up: keep the reason and the node it failed in."""
    _move(
        conn,
        "fail",
        run_id,
        "failed",
        error_type=error_type,
        error_message=error_message,
        failed_node=node,
    )
    runs.append_event(
        conn,
        run_id=run_id,
        tenant_id=tenant_id,
        type=runs.RUN_FAILED,
        node=node,
        error_type=error_type,
        error_message=error_message,
    )
    callbacks.enqueue(conn, registry, run_id, callbacks.RUN_FAILED)


def cancel(conn: Connection, run_id: uuid.UUID, tenant_id: uuid.UUID, *, actor: str) -> int:
    """Stop the run where it stands and withdraw its undecided approvals; returns how many
    were withdrawn."""
    _move(conn, "cancel", run_id, "cancelled")
    withdrawn = approvals.cancel_open(conn, run_id)
    runs.append_event(
        conn,
        run_id=run_id,
        tenant_id=tenant_id,
        type=runs.RUN_CANCELLED,
        data={"by": actor, "withdrawn_approvals": withdrawn},
    )
    return withdrawn


def reopen(conn: Connection, run_id: uuid.UUID, *, execution_name: str) -> runs.Run:
    """Point the run at a new execution (redrive, resume): a failed run is running again. Task
    tokens of the old execution's wait states die with it; a decision made before the new
    execution waits again is handed over when it does."""
    approvals.forget_tokens(conn, run_id)
    return runs.reopen(conn, run_id, execution_name=execution_name)
