"""The approval inbox and decisions."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query

from flightdeck.api.auth import Operator, ServicesDep, Viewer
from flightdeck.api.schemas import ApprovalOut, DecisionIn, DecisionOut
from flightdeck.store import approvals

router = APIRouter(tags=["approvals"])


@router.get("/v1/approvals", operation_id="listApprovals", response_model=list[ApprovalOut])
def list_approvals(
    principal: Viewer,
    svc: ServicesDep,
    status: Literal["pending", "approved", "rejected", "edited", "timed_out"] | None = None,
    limit: int = Query(default=100, ge=1, le=500),
) -> list[ApprovalOut]:
    with svc.tenant(principal.tenant_id) as conn:
        found = approvals.list_for_tenant(conn, principal.tenant_id, status=status, limit=limit)
    return [ApprovalOut.of(a) for a in found]


@router.post(
    "/v1/approvals/{approval_id}/decision",
    operation_id="decideApproval",
    response_model=DecisionOut,
)
def decide(
    approval_id: uuid.UUID, body: DecisionIn, principal: Operator, svc: ServicesDep
) -> DecisionOut:
    """Exactly one decision per request: a second one is 409, one after expiry 410."""
    result = svc.approvals.decide(
        tenant_id=principal.tenant_id,
        approval_id=approval_id,
        decision=body.decision,
        payload=body.payload,
        decided_by=f"token:{principal.token_id}",
    )
    return DecisionOut(approval_id=result.approval_id, run_id=result.run_id, status=result.status)
