"""The FastAPI app: routers, problem details, the request size limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from flightdeck import __version__
from flightdeck.api import problems
from flightdeck.api.routes import (
    admin,
    approvals,
    documents,
    health,
    insights,
    runs,
    session,
    telemetry,
    webhooks,
)
from flightdeck.api.routes import annotations as annotation_routes
from flightdeck.api.routes import callbacks as callback_routes
from flightdeck.services import Services, services
from flightdeck.store.documents import MAX_DIRECT_BYTES


def create_app(get: Callable[[], Services] = services) -> FastAPI:
    app = FastAPI(
        title="Flightdeck API",
        version=__version__,
        description="Start LangGraph workflow runs, watch them, and decide approvals.",
    )
    app.state.services = get
    problems.install(app)

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse a declared oversize body before reading it (routes that read raw bodies
        check undeclared sizes themselves)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            # Settings are read only here: a request without a body never needs them.
            limit = app.state.services().settings.max_body_bytes
            if request.method == "POST" and request.url.path == "/v1/documents":
                # A direct document upload: the file and its multipart framing.
                limit = MAX_DIRECT_BYTES + 64 * 1024
            if int(declared) > limit:
                return problems.problem(413, "Payload too large", f"the body exceeds {limit} bytes")
        return await call_next(request)

    for module in (
        health,
        session,
        webhooks,
        runs,
        approvals,
        annotation_routes,
        insights,
        admin,
        callback_routes,
        documents,
        telemetry,
    ):
        app.include_router(module.router, responses=problems.RESPONSES)
    return app
