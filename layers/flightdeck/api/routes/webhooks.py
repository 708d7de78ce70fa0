"""Runs started by Standard Webhooks deliveries (n8n or any sender)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from flightdeck import metrics
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


async def raw_body(request: Request) -> bytes:
    """The exact bytes that were signed (the route itself runs in the thread pool, as it
    talks to the database)."""
    return await request.body()


@router.post(
    "/v1/webhooks/{workflow}",
    operation_id="triggerWebhook",
    status_code=202,
    response_model=RunAccepted,
    summary="Start a run from a Standard Webhooks delivery",
)
def webhook(
    workflow: str,
    request: Request,
    body: Annotated[bytes, Depends(raw_body)],
    svc: ServicesDep,
    response: Response,
    tenant: str = Query(min_length=1, max_length=63, description="the tenant's slug"),
) -> RunAccepted:
    """The body is verified against the tenant's webhook secrets (HMAC-SHA256 over
    `webhook-id.webhook-timestamp.body`); `webhook-id` is the idempotency key, so a duplicate
    delivery gets the original answer (with `Idempotent-Replayed: true`)."""
    if len(body) > svc.settings.max_body_bytes:
        raise PayloadTooLargeError(f"the body exceeds {svc.settings.max_body_bytes} bytes")
    if workflow not in svc.registry:
        raise NotFoundError(f"no workflow named {workflow!r}")
    with svc.connection() as conn:
        tenant_id, secrets = tenants.webhook_secrets_for_slug(conn, svc.secrets, tenant, workflow)
    if tenant_id is None:
        metrics.record_webhook_verification_failure(workflow, metrics.UNKNOWN_TENANT)
        raise UnauthorizedError("the webhook signature cannot be verified")
    try:
        msg_id = verify(secrets, request.headers, body)
    except WebhookVerificationError as exc:
        metrics.record_webhook_verification_failure(workflow, metrics.INVALID_SIGNATURE)
        raise UnauthorizedError(f"the webhook signature is not valid: {exc}") from exc
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}", field="body") from exc
    started = svc.runs.start(
        tenant_id=tenant_id,
        workflow_name=workflow,
        payload=payload,
        idempotency_key=msg_id,
        source="webhook",
    )
    if not started.created:
        response.headers["Idempotent-Replayed"] = "true"
    return RunAccepted(run_id=started.run.id, workflow=started.run.workflow)
