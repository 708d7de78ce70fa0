"""Runs started by Standard Webhooks deliveries (n8n or any sender)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Query, Request, Response

from flightdeck.api.auth import ServicesDep
from flightdeck.api.schemas import RunAccepted
from flightdeck.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from flightdeck.store import tenants
from flightdeck.webhooks import WebhookVerificationError, verify

router = APIRouter(tags=["runs"])


@router.post(
    "/v1/webhooks/{workflow}",
    operation_id="triggerWebhook",
    status_code=202,
    response_model=RunAccepted,
    summary="Start a run from a Standard Webhooks delivery",
    responses={200: {"model": RunAccepted, "description": "a duplicate delivery"}},
)
async def webhook(
    workflow: str,
    request: Request,
    svc: ServicesDep,
    response: Response,
    tenant: str = Query(min_length=1, max_length=63, description="the tenant's slug"),
) -> RunAccepted:
    """The body is verified against the tenant's webhook secrets (HMAC-SHA256 over
    `webhook-id.webhook-timestamp.body`); `webhook-id` is the idempotency key, so a duplicate
    delivery answers 200 with the original run."""
    body = await request.body()
    if len(body) > svc.settings.max_body_bytes:
        raise PayloadTooLargeError(f"the body exceeds {svc.settings.max_body_bytes} bytes")
    if workflow not in svc.registry:
        raise NotFoundError(f"no workflow named {workflow!r}")
    with svc.connection() as conn, conn.transaction():
        found = tenants.get_tenant_by_slug(conn, tenant)
    if found is None:
        raise UnauthorizedError("the webhook signature cannot be verified")
    with svc.tenant(found.id) as conn:
        secrets = tenants.webhook_secrets(conn, found.id, workflow)
    try:
        msg_id = verify(secrets, request.headers, body)
    except WebhookVerificationError as exc:
        raise UnauthorizedError(f"the webhook signature is not valid: {exc}") from exc
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}", field="body") from exc
    started = svc.runs.start(
        tenant_id=found.id,
        workflow_name=workflow,
        payload=payload,
        idempotency_key=msg_id,
        source="webhook",
    )
    if not started.created:
        response.status_code = 200
    return RunAccepted(
        run_id=started.run.id, status=started.run.status, duplicate=not started.created
    )
