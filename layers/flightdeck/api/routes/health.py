from fastapi import APIRouter

from flightdeck import __version__
from flightdeck.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health", response_model=Health)
def health() -> Health:
    return Health(status="ok", version=__version__)
