"""Runs started by Standard Webhooks deliveries (n8n or any sender)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from flightdeck.api.auth import ServicesDep
from flightdeck.api.schemas import RunAccepted
from flightdeck.engine.intake import SLUG_MAX_LENGTH

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
    tenant: str = Query(min_length=1, max_length=SLUG_MAX_LENGTH, description="the tenant's slug"),
) -> RunAccepted:
    """The body is verified against the tenant's webhook secrets (HMAC-SHA256 over
    `webhook-id.webhook-timestamp.body`); `webhook-id` is the idempotency key, so a duplicate
    delivery gets the original answer (with `Idempotent-Replayed: true`)."""
    # When Step Functions cannot start the run the answer is 503 with `Retry-After`
    # (`ExecutionStartError`): the run is kept, and the same delivery sent again starts it.
    from flightdeck.engine.intake import WebhookIntake

    started = WebhookIntake(
        registry=svc.registry,
        connection=svc.connection,
        secrets=svc.secrets,
        runs=svc.runs,
        max_body_bytes=svc.settings.max_body_bytes,
    ).accept(workflow=workflow, tenant=tenant, headers=request.headers, body=body)
    if not started.created:
        response.headers["Idempotent-Replayed"] = "true"
    return RunAccepted(run_id=started.run.id, workflow=started.run.workflow)
