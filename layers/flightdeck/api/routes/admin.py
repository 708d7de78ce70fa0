"""The agency's administration: client tenants, API tokens and webhook secrets."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from flightdeck.api.auth import Admin, ServicesDep
from flightdeck.api.schemas import (
    IssuedSecretOut,
    IssuedTokenOut,
    TenantIn,
    TenantOut,
    TokenIn,
    TokenOut,
    WebhookSecretIn,
    WebhookSecretOut,
)
from flightdeck.errors import ConflictError, NotFoundError
from flightdeck.store import tenants

router = APIRouter(tags=["admin"])


@router.get("/v1/tenants", operation_id="listTenants", response_model=list[TenantOut])
def list_tenants(principal: Admin, svc: ServicesDep) -> list[TenantOut]:
    """The admin's own tenant and every tenant granted to it."""
    with svc.connection() as conn, conn.transaction():
        found = tenants.granted(conn, principal.home_tenant_id)
    return [TenantOut(id=t.id, slug=t.slug, name=t.name) for t in found]


@router.post("/v1/tenants", operation_id="createTenant", status_code=201, response_model=TenantOut)
def create_tenant(body: TenantIn, principal: Admin, svc: ServicesDep) -> TenantOut:
    """A client tenant, granted to the admin's tenant."""
    with svc.connection() as conn, conn.transaction():
        if tenants.get_tenant_by_slug(conn, body.slug) is not None:
            raise ConflictError(f"a tenant with slug {body.slug!r} exists")
        tenant = tenants.create_tenant(conn, body.slug, body.name)
        tenants.grant(conn, principal.home_tenant_id, tenant.id)
    return TenantOut(id=tenant.id, slug=tenant.slug, name=tenant.name)


@router.get("/v1/tokens", operation_id="listTokens", response_model=list[TokenOut])
def list_tokens(principal: Admin, svc: ServicesDep) -> list[TokenOut]:
    with svc.connection() as conn, conn.transaction():
        found = tenants.list_tokens(conn, principal.tenant_id)
    return [TokenOut(**vars(t)) for t in found]


@router.post(
    "/v1/tokens", operation_id="issueToken", status_code=201, response_model=IssuedTokenOut
)
def issue_token(body: TokenIn, principal: Admin, svc: ServicesDep) -> IssuedTokenOut:
    with svc.connection() as conn, conn.transaction():
        issued = tenants.issue_token(conn, principal.tenant_id, body.role, body.name)
    return IssuedTokenOut(id=issued.id, prefix=issued.prefix, role=issued.role, token=issued.token)


@router.delete("/v1/tokens/{token_id}", operation_id="revokeToken", status_code=204)
def revoke_token(token_id: uuid.UUID, principal: Admin, svc: ServicesDep) -> Response:
    with svc.connection() as conn, conn.transaction():
        if not tenants.revoke_token(conn, principal.tenant_id, token_id):
            raise NotFoundError(f"no live token {token_id}")
    return Response(status_code=204)


@router.get(
    "/v1/webhook-secrets", operation_id="listWebhookSecrets", response_model=list[WebhookSecretOut]
)
def list_webhook_secrets(principal: Admin, svc: ServicesDep) -> list[WebhookSecretOut]:
    with svc.tenant(principal.tenant_id) as conn:
        found = tenants.list_webhook_secrets(conn, principal.tenant_id)
    return [WebhookSecretOut(**vars(s)) for s in found]


@router.post(
    "/v1/webhook-secrets",
    operation_id="createWebhookSecret",
    status_code=201,
    response_model=IssuedSecretOut,
)
def create_webhook_secret(
    body: WebhookSecretIn, principal: Admin, svc: ServicesDep
) -> IssuedSecretOut:
    """A new signing secret, valid alongside the existing ones until those are expired:
    rotate by creating, moving the sender over, then expiring the old one."""
    if body.workflow is not None and body.workflow not in svc.registry:
        raise NotFoundError(f"no workflow named {body.workflow!r}")
    with svc.tenant(principal.tenant_id) as conn:
        secret_id, secret = tenants.create_webhook_secret(
            conn, svc.secrets, principal.tenant_id, body.workflow
        )
    return IssuedSecretOut(id=secret_id, workflow=body.workflow, secret=secret)


@router.post(
    "/v1/webhook-secrets/{secret_id}/rotate",
    operation_id="rotateWebhookSecret",
    status_code=201,
    response_model=IssuedSecretOut,
)
def rotate_webhook_secret(
    secret_id: uuid.UUID, principal: Admin, svc: ServicesDep
) -> IssuedSecretOut:
    """A new secret for the same workflow(s), shown once; the rotated one keeps verifying for
    the rotation overlap (24 hours unless the deployment sets another), then stops. `404` if
    the secret is unknown or no longer valid."""
    with svc.tenant(principal.tenant_id) as conn:
        rotated = tenants.rotate_webhook_secret(
            conn,
            svc.secrets,
            principal.tenant_id,
            secret_id,
            svc.settings.secret_rotation_overlap_seconds,
        )
    if rotated is None:
        raise NotFoundError(f"no live webhook secret {secret_id}")
    new_id, secret, workflow = rotated
    return IssuedSecretOut(id=new_id, workflow=workflow, secret=secret)


@router.delete(
    "/v1/webhook-secrets/{secret_id}", operation_id="expireWebhookSecret", status_code=204
)
def expire_webhook_secret(
    secret_id: uuid.UUID,
    principal: Admin,
    svc: ServicesDep,
    grace_seconds: int = Query(default=0, ge=0, le=7 * 24 * 3600),
) -> Response:
    # After `grace_seconds` (rotation: the sender moved to a new secret), or now (0, the
    # default): revoked, it refuses at once and its material leaves Secrets Manager.
    with svc.tenant(principal.tenant_id) as conn:
        if not tenants.expire_webhook_secret(
            conn, svc.secrets, principal.tenant_id, secret_id, grace_seconds
        ):
            raise NotFoundError(f"no live webhook secret {secret_id}")
    return Response(status_code=204)
