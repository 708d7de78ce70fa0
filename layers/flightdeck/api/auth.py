"""Bearer-token authentication: a token stands for one tenant and one role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flightdeck.errors import ForbiddenError, UnauthorizedError
from flightdeck.services import Services
from flightdeck.store import tenants
from flightdeck.store.tenants import Principal, Role

_RANK: dict[Role, int] = {"viewer": 0, "operator": 1, "admin": 2}


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services()
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def authenticate(request: Request, services: ServicesDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("send the tenant's API token as 'Authorization: Bearer <token>'")
    with services.connection() as conn, conn.transaction():
        principal = tenants.authenticate(conn, token.strip())
    if principal is None:
        raise UnauthorizedError("the API token is unknown or revoked")
    return principal


def require(role: Role) -> object:
    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if _RANK[principal.role] < _RANK[role]:
            raise ForbiddenError(f"this needs the {role} role; the token has {principal.role}")
        return principal

    return Depends(check)


Viewer = Annotated[Principal, require("viewer")]
Operator = Annotated[Principal, require("operator")]
