"""Bearer-token authentication: a token stands for one tenant and one role.

Roles rank viewer < operator < admin. An admin token may act on the tenants granted to its own
tenant (the agency acting for a client) by naming one in the `Flightdeck-Tenant` header.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Request

from flightdeck.errors import ForbiddenError, UnauthorizedError
from flightdeck.services import Services
from flightdeck.store import tenants
from flightdeck.store.tenants import Principal, Role

_RANK: dict[Role, int] = {"viewer": 0, "operator": 1, "admin": 2}
TENANT_HEADER = "Flightdeck-Tenant"


async def get_services(request: Request) -> Services:
    # async: a plain lookup, not worth a trip through the thread pool
    services: Services = request.app.state.services()
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def authenticate(
    request: Request,
    services: ServicesDep,
    flightdeck_tenant: Annotated[
        uuid.UUID | None,
        Header(description="an admin acting on a granted tenant names it here"),
    ] = None,
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send the tenant's API token as 'Authorization: Bearer <token>'")
    with services.connection() as conn, conn.transaction():
        principal = tenants.authenticate(conn, token.strip())
        if principal is None:
            raise UnauthorizedError("the API token is unknown or revoked")
        if flightdeck_tenant is None or flightdeck_tenant == principal.home_tenant_id:
            return principal
        if principal.role != "admin" or not tenants.is_granted(
            conn, principal.home_tenant_id, flightdeck_tenant
        ):
            raise ForbiddenError(f"this token may not act on tenant {flightdeck_tenant}")
    return Principal(
        flightdeck_tenant, principal.token_id, principal.role, principal.home_tenant_id
    )


def require(role: Role) -> object:
    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if _RANK[principal.role] < _RANK[role]:
            raise ForbiddenError(f"this needs the {role} role; the token has {principal.role}")
        return principal

    return Depends(check)


Viewer = Annotated[Principal, require("viewer")]
Operator = Annotated[Principal, require("operator")]
Admin = Annotated[Principal, require("admin")]
