"""Human-in-the-loop: the wait state's token, an operator's decision, and the timeout policy.

Exactly one outcome per request: every path locks the approval row first, and a decision is
only kept if Step Functions accepted it (the send happens inside the same transaction).

An operator's edit is what the customer receives, so it may name them: with a trigger key
configured, its personal fields are stored sealed (as triggers are, `flightdeck.store.sealing`)
and opened only by the node runner that resumes the node; the run's audit event keeps a masked
copy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from flightdeck import privacy
from flightdeck.engine import lifecycle
from flightdeck.engine.registry import Registry
from flightdeck.engine.runner import ConnectionFactory
from flightdeck.errors import (
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidInputError,
    NotFoundError,
)
from flightdeck.store import approvals, runs
from flightdeck.store.db import scoped
from flightdeck.store.tenants import Role

if TYPE_CHECKING:
    from flightdeck.store.sealing import TriggerSealer

Decision = Literal["approve", "reject", "edit"]
_STATUS_FOR: dict[str, approvals.ApprovalStatus] = {
    "approve": "approved",
    "reject": "rejected",
    "edit": "edited",
}
_EVENT_FOR = {
    "approve": runs.APPROVAL_APPROVED,
    "reject": runs.APPROVAL_REJECTED,
    "edit": runs.APPROVAL_EDITED,
}


@dataclass(frozen=True)
class DecisionResult:
    approval_id: uuid.UUID
    run_id: uuid.UUID
    status: str


class ApprovalService:
    def __init__(
        self,
        *,
        registry: Registry,
        connection: ConnectionFactory,
        sfn: Any,
        sealer: Callable[[], TriggerSealer | None] = lambda: None,
    ) -> None:
        self._registry = registry
        self._connection = connection
        self._sfn = sfn
        self._sealer = sealer

    def _send(self, token: str, approval: approvals.Approval, decision: dict[str, Any]) -> None:
        output = {"approval_id": str(approval.id), "decision": decision.get("decision")}
        self._sfn.send_task_success(taskToken=token, output=json.dumps(output))

    def register_token(
        self,
        *,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        approval_id: uuid.UUID,
        task_token: str,
        escalate: bool = False,
    ) -> None:
        """Called by the wait state: keep the token with the request, mark the run waiting.
        If a decision arrived before the token did, hand it to Step Functions now.

        With `escalate` (the first wait timed out and the policy escalates), the request goes
        to admins, with a new expiry."""
        with self._connection() as conn, scoped(conn, tenant_id):
            # Locks in one order everywhere (the run, then its approval), as the node runner
            # takes them, so a decision racing a wait state never deadlocks.
            runs.lock_run(conn, run_id)
            approval = approvals.get(conn, approval_id, for_update=True)
            if approval is None or approval.run_id != run_id:
                raise NotFoundError(f"no approval {approval_id} for run {run_id}")
            if approvals.task_token(conn, approval_id) == task_token:
                # Step Functions retried this very wait state after its first call committed
                # (the answer was lost): the person was asked then, and not again.
                return
            approvals.attach_token(conn, approval_id, task_token)
            if escalate and approval.status == "pending":
                run = runs.get_run(conn, run_id)
                assert run is not None
                policy = self._registry.get(run.workflow).manifest.approval
                assert policy is not None
                approvals.escalate(conn, approval_id, policy.escalation_timeout_seconds)
                runs.append_event(
                    conn,
                    run_id=run_id,
                    tenant_id=approval.tenant_id,
                    type=runs.APPROVAL_ESCALATED,
                    node=approval.node,
                    data={"approval_id": str(approval_id), "to": "admin"},
                )
            elif approval.status == "pending":
                lifecycle.await_approval(conn, self._registry, approval)
            else:
                self._send(task_token, approval, approval.decision or {})

    def decide(
        self,
        *,
        tenant_id: uuid.UUID,
        approval_id: uuid.UUID,
        decision: Decision,
        payload: Any,
        decided_by: str,
        role: Role = "operator",
        comment: str | None = None,
    ) -> DecisionResult:
        if decision not in _STATUS_FOR:
            raise InvalidInputError("decision must be approve, reject or edit", field="decision")
        if decision == "edit" and payload is None:
            raise InvalidInputError("an edit needs a payload", field="payload")
        with self._connection() as conn, scoped(conn, tenant_id):
            found = approvals.get(conn, approval_id)
            if found is None or found.tenant_id != tenant_id:
                raise NotFoundError(f"no approval {approval_id}")
            runs.lock_run(conn, found.run_id)  # the run first, then its approval
            approval = approvals.get(conn, approval_id, for_update=True)
            assert approval is not None
            if approval.status == "timed_out":
                raise GoneError(f"approval {approval_id} expired and took its default action")
            if approval.status == "cancelled":
                raise GoneError(f"approval {approval_id} was withdrawn: its run was cancelled")
            if approval.status not in approvals.OPEN:
                raise ConflictError(
                    f"approval {approval_id} was already decided: {approval.status}"
                )
            if approval.expires_at <= datetime.now(UTC):
                raise GoneError(f"approval {approval_id} expired at {approval.expires_at}")
            if approval.status == "escalated" and role != "admin":
                raise ForbiddenError(f"approval {approval_id} was escalated to admins")
            if decision == "edit":
                _validate_edit(approval.request, payload)
            stored = None
            if decision == "edit":
                stored = edit_for_storage(self._sealer(), payload, approval)
            body = {"decision": decision, "payload": stored}
            if comment:
                body["comment"] = comment
            status = _STATUS_FOR[decision]
            approvals.decide(conn, approval_id, status=status, decision=body, decided_by=decided_by)
            lifecycle.resume(conn, approval.run_id, approval.node)
            runs.append_event(
                conn,
                run_id=approval.run_id,
                tenant_id=tenant_id,
                type=_EVENT_FOR[decision],
                node=approval.node,
                data={
                    "approval_id": str(approval_id),
                    "decided_by": decided_by,
                    "comment": comment,
                    "before": (approval.request or {}).get("draft") if decision == "edit" else None,
                    "after": privacy.mask_value(payload) if decision == "edit" else None,
                },
            )
            token = approvals.task_token(conn, approval_id)
            if token is not None:
                try:
                    self._send(token, approval, body)
                except self._sfn.exceptions.TaskTimedOut as exc:
                    raise GoneError(f"approval {approval_id} expired") from exc
                except self._sfn.exceptions.TaskDoesNotExist as exc:
                    raise GoneError(f"approval {approval_id} is no longer awaited") from exc
            return DecisionResult(approval_id, approval.run_id, status)

    def time_out(
        self, *, tenant_id: uuid.UUID, run_id: uuid.UUID, approval_id: uuid.UUID
    ) -> dict[str, Any]:
        """The wait state timed out: apply the policy's default action, unless a decision
        landed first (then that decision stands)."""
        with self._connection() as conn, scoped(conn, tenant_id):
            runs.lock_run(conn, run_id)  # the run first, then its approval
            approval = approvals.get(conn, approval_id, for_update=True)
            if approval is None or approval.run_id != run_id:
                raise NotFoundError(f"no approval {approval_id} for run {run_id}")
            if approval.status not in approvals.OPEN:
                return {
                    "approval_id": str(approval_id),
                    "decision": (approval.decision or {}).get("decision"),
                }
            run = runs.get_run(conn, run_id)
            assert run is not None
            policy = self._registry.get(run.workflow).manifest.approval
            action = policy.default_action if policy else "reject"
            body = {"decision": action, "payload": None}
            approvals.decide(
                conn, approval_id, status="timed_out", decision=body, decided_by="policy:timeout"
            )
            lifecycle.resume(conn, run_id, approval.node)
            runs.append_event(
                conn,
                run_id=run_id,
                tenant_id=approval.tenant_id,
                type=runs.APPROVAL_TIMED_OUT,
                node=approval.node,
                data={"approval_id": str(approval_id), "default_action": action},
            )
            return {"approval_id": str(approval_id), "decision": action}


def _validate_edit(request: Any, payload: Any) -> None:
    """An edit must match the request's `edit_schema` (JSON Schema), when it declares one."""
    schema = request.get("edit_schema") if isinstance(request, dict) else None
    if schema is None:
        return
    import jsonschema

    try:
        jsonschema.validate(payload, schema)
    except jsonschema.ValidationError as exc:
        field = ".".join(str(p) for p in exc.absolute_path) or "payload"
        raise InvalidInputError(
            f"edited payload does not match the request: {exc.message}",
            field=f"payload.{field}" if field != "payload" else field,
        ) from exc


def edit_scope(approval_id: uuid.UUID) -> str:
    """The sealed fields of an edit name their approval (one run may hold several)."""
    return f"approval:{approval_id}:"


def edit_for_storage(
    sealer: TriggerSealer | None, payload: Any, approval: approvals.Approval
) -> Any:
    """The edit as stored: its personal fields sealed (as typed where no key is configured)."""
    if sealer is None:
        return payload
    return sealer.seal(
        payload, tenant_id=approval.tenant_id, run_id=approval.run_id, scope=edit_scope(approval.id)
    )


def opened_edit(sealer: TriggerSealer | None, approval: approvals.Approval) -> Any:
    """The edit as the operator typed it (for the node that resumes with it)."""
    payload = (approval.decision or {}).get("payload")
    if sealer is None or payload is None:
        return payload
    return sealer.open(
        payload, tenant_id=approval.tenant_id, run_id=approval.run_id, scope=edit_scope(approval.id)
    )
