"""Outbound callbacks: where a tenant's run events are sent, and redelivery (admin only).

Secrets are answered once, when they are made; afterwards only their prefix is shown.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, field_validator

from flightdeck.api.auth import ServicesDep, require
from flightdeck.api.schemas import CallbackDeliveryOut
from flightdeck.errors import InvalidInputError, NotFoundError
from flightdeck.services import Services
from flightdeck.store import callbacks
from flightdeck.store.tenants import Principal

router = APIRouter(tags=["callbacks"])

Admin = Annotated[Principal, require("admin")]


class CallbackIn(BaseModel):
    url: str = Field(
        max_length=2048,
        description="an http(s) URL receiving run.succeeded, run.failed, approval.requested",
        examples=["https://n8n.example.com/webhook/flightdeck"],
    )
    rotate_secret: bool = Field(
        default=False,
        description="make a new signing secret; the old one keeps signing for 24 hours",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http:// or https:// URL")
        if any(c.isspace() for c in value):
            raise ValueError("must not contain whitespace")
        return value


class CallbackOut(BaseModel):
    workflow: str
    url: str
    source: Literal["endpoint", "manifest"] = Field(
        description="endpoint: set through this API; manifest: the workflow's default URL,"
        " signed with the tenant's default callback secret"
    )
    secret_prefix: str | None
    secret: str | None = Field(
        default=None, description="the whole signing secret: only in the answer that made it"
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CallbackSecretOut(BaseModel):
    secret_prefix: str
    secret: str = Field(description="the tenant's default callback secret, shown this once")
    updated_at: datetime


def _known(svc: Services, workflow: str) -> str | None:
    """The workflow's manifest callback URL; 404 for a workflow this deployment lacks."""
    return svc.registry.get(workflow).manifest.callback_url


def _overlap(svc: Services) -> timedelta:
    """How long a rotated-out secret keeps signing (`Settings.secret_rotation_overlap_seconds`)."""
    return timedelta(seconds=svc.settings.secret_rotation_overlap_seconds)


def _endpoint_out(endpoint: callbacks.Endpoint, secret: str | None = None) -> CallbackOut:
    return CallbackOut(
        workflow=endpoint.workflow,
        url=endpoint.url,
        source="endpoint",
        secret_prefix=endpoint.secret_prefix,
        secret=secret,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


@router.put(
    "/v1/workflows/{workflow}/callback",
    operation_id="setCallback",
    response_model=CallbackOut,
    responses={201: {"model": CallbackOut, "description": "created, with its secret"}},
)
def set_callback(
    workflow: str, body: CallbackIn, principal: Admin, svc: ServicesDep, response: Response
) -> CallbackOut:
    """Create the workflow's callback (201, answering the signing secret once) or change its
    URL (200). Deliveries waiting for a retry go to the new URL. Deployed stages deliver over
    HTTPS only; plain http is for local development."""
    _known(svc, workflow)
    if svc.settings.stage in ("staging", "prod") and not body.url.startswith("https://"):
        raise InvalidInputError("callback URLs must use https", field="url")
    with svc.tenant(principal.tenant_id) as conn:
        endpoint, secret, created = callbacks.put_endpoint(
            conn,
            svc.secrets,
            principal.tenant_id,
            workflow,
            body.url,
            rotate=body.rotate_secret,
            overlap=_overlap(svc),
        )
    response.status_code = 201 if created else 200
    return _endpoint_out(endpoint, secret)


@router.get(
    "/v1/workflows/{workflow}/callback", operation_id="getCallback", response_model=CallbackOut
)
def get_callback(workflow: str, principal: Admin, svc: ServicesDep) -> CallbackOut:
    manifest_url = _known(svc, workflow)
    with svc.tenant(principal.tenant_id) as conn:
        endpoint = callbacks.get_endpoint(conn, principal.tenant_id, workflow)
        default = None
        if endpoint is None:
            default = callbacks.get_tenant_secret(conn, svc.secrets, principal.tenant_id)
    if endpoint is not None:
        return _endpoint_out(endpoint)
    if manifest_url is None:
        raise NotFoundError(f"no callback is configured for {workflow!r}")
    return CallbackOut(
        workflow=workflow,
        url=manifest_url,
        source="manifest",
        secret_prefix=default.secret_prefix if default else None,
    )


@router.delete(
    "/v1/workflows/{workflow}/callback",
    operation_id="deleteCallback",
    status_code=204,
    response_class=Response,
)
def delete_callback(workflow: str, principal: Admin, svc: ServicesDep) -> Response:
    """Remove the tenant's endpoint; the workflow manifest's URL, if any, applies again."""
    _known(svc, workflow)
    with svc.tenant(principal.tenant_id) as conn:
        deleted = callbacks.delete_endpoint(conn, svc.secrets, principal.tenant_id, workflow)
    if not deleted:
        raise NotFoundError(f"no callback endpoint is set for {workflow!r}")
    return Response(status_code=204)


@router.post(
    "/v1/callbacks/default-secret",
    operation_id="rotateDefaultCallbackSecret",
    response_model=CallbackSecretOut,
)
def rotate_default_secret(principal: Admin, svc: ServicesDep) -> CallbackSecretOut:
    """Make (or replace) the secret that signs callbacks to workflow manifests' URLs; the one
    it replaces keeps signing for 24 hours."""
    with svc.tenant(principal.tenant_id) as conn:
        record, secret = callbacks.rotate_tenant_secret(
            conn, svc.secrets, principal.tenant_id, overlap=_overlap(svc)
        )
    return CallbackSecretOut(
        secret_prefix=callbacks.secret_prefix(secret), secret=secret, updated_at=record.updated_at
    )


@router.post(
    "/v1/callbacks/{delivery_id}/redeliver",
    operation_id="redeliverCallback",
    status_code=202,
    response_model=CallbackDeliveryOut,
)
def redeliver(delivery_id: uuid.UUID, principal: Admin, svc: ServicesDep) -> CallbackDeliveryOut:
    """Queue a delivery again, due now, with a fresh retry schedule and the same `webhook-id`
    (a receiver that already has it deduplicates)."""
    with svc.tenant(principal.tenant_id) as conn:
        delivery = callbacks.redeliver(conn, delivery_id)
    if delivery is None:
        raise NotFoundError(f"no callback delivery {delivery_id}")
    return CallbackDeliveryOut.of(delivery)
