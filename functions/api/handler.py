"""The HTTP API behind API Gateway: the FastAPI app through Mangum."""

from typing import Any

from mangum import Mangum

from flightdeck.api.app import create_app

_adapter: Mangum | None = None


def handler(event: dict[str, Any], context: Any) -> Any:
    global _adapter
    if _adapter is None:
        _adapter = Mangum(create_app(), lifespan="off")
    return _adapter(event, context)
