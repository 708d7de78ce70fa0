"""Who is calling, and the dashboard's sign-in: one-time links exchanged for session tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response

from flightdeck.api.auth import Admin, ServicesDep, Viewer
from flightdeck.api.schemas import MeOut, SignInIn, SignInLinkIn, SignInLinkOut, SignInOut

router = APIRouter(tags=["session"])


@router.get("/v1/me", operation_id="getMe", response_model=MeOut)
def get_me(principal: Viewer, svc: ServicesDep) -> MeOut:
    """The tenant and role the token stands for (the dashboard shows what the role allows)."""
    raise NotImplementedError


@router.post(
    "/v1/sign-in-links",
    operation_id="createSignInLink",
    status_code=201,
    response_model=SignInLinkOut,
)
def create_sign_in_link(body: SignInLinkIn, principal: Admin, svc: ServicesDep) -> SignInLinkOut:
    """A one-time link that signs a person into the dashboard for this tenant."""
    raise NotImplementedError


@router.post("/v1/sign-in", operation_id="signIn", response_model=SignInOut)
def sign_in(body: SignInIn, svc: ServicesDep) -> SignInOut:
    """Exchange a one-time code for a session token (used once; expired or used: 401)."""
    raise NotImplementedError


@router.post("/v1/sign-out", operation_id="signOut", status_code=204)
def sign_out(principal: Viewer, svc: ServicesDep) -> Response:
    """Revoke the calling token if it is a dashboard session token; other tokens stay valid."""
    raise NotImplementedError
