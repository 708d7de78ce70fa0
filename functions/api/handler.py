"""The HTTP API behind API Gateway: the FastAPI app through Mangum.

Importing this module builds nothing: the app (FastAPI, every router and its schemas) is built
by the first request, or, with SnapStart, before the snapshot is taken, so that a restored
environment answers its first request with every module the app needs already imported
(`flightdeck.snapstart`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from flightdeck import snapstart
from flightdeck.observability import lambda_handler

if TYPE_CHECKING:
    from mangum import Mangum

_adapter: Mangum | None = None
_lock = threading.Lock()


def adapter() -> Mangum:
    """The app behind Mangum, built once per process."""
    global _adapter
    if _adapter is None:
        with _lock:
            if _adapter is None:
                from mangum import Mangum

                from flightdeck.api.app import create_app
                from flightdeck.services import services

                app = create_app()
                # With the OTLP exporter, a span per request (the run's spans hang under it).
                services().tracing.instrument_app(app)
                _adapter = Mangum(app, lifespan="off")
    return _adapter


@lambda_handler(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: Any) -> Any:
    return adapter()(event, context)


def warm_up() -> None:
    """Before the snapshot: the app, the tracer, and the modules the first requests import
    (the engine, the AWS SDK, and through the workflow registry LangGraph and the graphs).
    No client is made and no connection opened: those belong to each restored environment."""
    import boto3  # noqa: F401

    import flightdeck.engine.approvals
    import flightdeck.engine.runs  # noqa: F401
    from flightdeck.observability import tracer, tracing_disabled
    from flightdeck.services import services

    adapter()
    if not tracing_disabled():
        tracer()
    _ = services().registry


def forget_app() -> None:
    """After a restore: the app is built again by the next request, on the restored
    environment's services (its request tracing included); its modules are in the snapshot,
    so that takes milliseconds."""
    global _adapter
    with _lock:
        _adapter = None


snapstart.prepare(warm_up, forget=forget_app)
