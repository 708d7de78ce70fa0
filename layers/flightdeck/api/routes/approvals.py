"""The approval inbox and decisions."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from flightdeck.api.auth import Operator, ServicesDep, Viewer
from flightdeck.api.paging import decode_cursor, encode_cursor
from flightdeck.api.schemas import ApprovalOut, DecisionIn, DecisionOut
from flightdeck.errors import NotFoundError
from flightdeck.store import approvals

router = APIRouter(tags=["approvals"])

Status = Literal["pending", "escalated", "approved", "rejected", "edited", "timed_out", "cancelled"]


@router.get(
    "/v1/approvals",
    operation_id="listApprovals",
    response_model=list[ApprovalOut],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'when more requests match: `<?…&cursor=…>; rel="next"`, the'
                    " same query for the next page",
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
def list_approvals(
    request: Request,
    response: Response,
    principal: Viewer,
    svc: ServicesDep,
    status: Annotated[list[Status], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    workflow: str | None = Query(default=None, max_length=48),
    node: str | None = Query(default=None, max_length=100),
    older_than_seconds: float | None = Query(default=None, ge=0),
    cursor: str | None = Query(
        default=None, max_length=400, description='from a `Link: rel="next"` header'
    ),
    limit: int = Query(default=100, ge=1, le=500),
) -> list[ApprovalOut]:
    """Oldest first, each with its age (until decided). When more match than `limit`, the
    `Link` header names the next page."""
    with svc.tenant(principal.tenant_id) as conn:
        found = approvals.list_for_tenant(
            conn,
            principal.tenant_id,
            statuses=tuple(status),
            workflow=workflow,
            node=node,
            older_than_seconds=older_than_seconds,
            after=decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
        )
    if len(found) > limit:
        found = found[:limit]
        last = found[-1]
        query = request.url.include_query_params(cursor=encode_cursor(last.created_at, last.id))
        # Relative to the request (RFC 8288): right behind any stage or path prefix.
        response.headers["Link"] = f'<?{query.query}>; rel="next"'
    return [ApprovalOut.of(a) for a in found]


@router.get("/v1/approvals/{approval_id}", operation_id="getApproval", response_model=ApprovalOut)
def get_approval(approval_id: uuid.UUID, principal: Viewer, svc: ServicesDep) -> ApprovalOut:
    with svc.tenant(principal.tenant_id) as conn:
        found = approvals.get(conn, approval_id)
    if found is None:
        raise NotFoundError(f"no approval {approval_id}")
    return ApprovalOut.of(found)


@router.post(
    "/v1/approvals/{approval_id}/decision",
    operation_id="decideApproval",
    response_model=DecisionOut,
)
def decide(
    approval_id: uuid.UUID, body: DecisionIn, principal: Operator, svc: ServicesDep
) -> DecisionOut:
    """Exactly one decision per request: a second one is 409, one after expiry 410, an
    escalated request needs an admin."""
    result = svc.approvals.decide(
        tenant_id=principal.tenant_id,
        approval_id=approval_id,
        decision=body.decision,
        payload=body.payload,
        decided_by=principal.actor,
        role=principal.role,
        comment=body.comment,
    )
    return DecisionOut(approval_id=result.approval_id, run_id=result.run_id, status=result.status)
