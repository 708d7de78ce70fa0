"""Who is calling, and the dashboard's sign-in: one-time links exchanged for session tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from flightdeck.api.auth import Admin, ServicesDep, Viewer
from flightdeck.api.schemas import MeOut, SignInIn, SignInLinkIn, SignInLinkOut, SignInOut
from flightdeck.errors import UnauthorizedError
from flightdeck.store import sessions

router = APIRouter(tags=["session"])


@router.get("/v1/me", operation_id="getMe", response_model=MeOut)
def get_me(principal: Viewer, svc: ServicesDep) -> MeOut:
    """The tenant and role the token stands for (the dashboard shows what the role allows)."""
    with svc.connection() as conn, conn.transaction():
        caller = sessions.describe(conn, principal.tenant_id, principal.token_id)
    return MeOut(
        tenant_id=caller.tenant_id,
        tenant_slug=caller.tenant_slug,
        tenant_name=caller.tenant_name,
        role=principal.role,
        token_prefix=caller.token_prefix,
        expires_at=caller.expires_at,
    )


@router.post(
    "/v1/sign-in-links",
    operation_id="createSignInLink",
    status_code=201,
    response_model=SignInLinkOut,
)
def create_sign_in_link(body: SignInLinkIn, principal: Admin, svc: ServicesDep) -> SignInLinkOut:
    """A one-time link that signs a person into the dashboard for this tenant."""
    with svc.connection() as conn, conn.transaction():
        code = sessions.create_code(
            conn,
            principal.tenant_id,
            body.role,
            timedelta(seconds=body.ttl_seconds),
            principal.actor,
        )
    return SignInLinkOut(
        code=code.code,
        path=f"/signin/#code={code.code}",
        role=code.role,
        expires_at=code.expires_at,
    )


@router.post("/v1/sign-in", operation_id="signIn", response_model=SignInOut)
def sign_in(body: SignInIn, svc: ServicesDep) -> SignInOut:
    """Exchange a one-time code for a session token (used once; expired or used: 401)."""
    with svc.connection() as conn, conn.transaction():
        session = sessions.exchange(conn, body.code.strip())
    if session is None:
        raise UnauthorizedError(
            "this sign-in link is unknown, expired or already used; ask for a new one"
        )
    return SignInOut(
        token=session.token.token,
        role=session.token.role,
        tenant_id=session.tenant_id,
        expires_at=session.expires_at,
    )


@router.post("/v1/sign-out", operation_id="signOut", status_code=204)
def sign_out(principal: Viewer, svc: ServicesDep) -> Response:
    """Revoke the calling token if it is a dashboard session token; other tokens stay valid."""
    with svc.connection() as conn, conn.transaction():
        sessions.end(conn, principal.token_id)
    return Response(status_code=204)
