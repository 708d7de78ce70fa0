"""Business outcomes and technical health, computed in SQL from what the engine records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from flightdeck.api.auth import ServicesDep, Viewer
from flightdeck.api.schemas import OutcomeSeries, OutcomesOut, TechnicalHealth
from flightdeck.engine.workflow import NAME_PATTERN

router = APIRouter(tags=["insights"])

WorkflowQuery = Annotated[
    str | None, Query(pattern=NAME_PATTERN.pattern, description="one workflow; default all")
]
SinceQuery = Annotated[
    datetime | None,
    Query(description="from this time, inclusive (UTC when no offset); default 28 days ago"),
]
UntilQuery = Annotated[
    datetime | None, Query(description="before this time, exclusive; default now")
]


@router.get("/v1/outcomes", operation_id="getOutcomes", response_model=OutcomesOut)
def get_outcomes(
    principal: Viewer,
    svc: ServicesDep,
    workflow: WorkflowQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> OutcomesOut:
    """The five business outcomes over a window, in total and per workflow."""
    raise NotImplementedError


@router.get(
    "/v1/outcomes/timeseries", operation_id="getOutcomeSeries", response_model=OutcomeSeries
)
def get_outcome_series(
    principal: Viewer,
    svc: ServicesDep,
    workflow: WorkflowQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    bucket: Literal["day", "week"] = "week",
) -> OutcomeSeries:
    """The outcomes' trend, one point per day or ISO week (UTC)."""
    raise NotImplementedError


@router.get("/v1/health", operation_id="getTechnicalHealth", response_model=TechnicalHealth)
def get_technical_health(
    principal: Viewer,
    svc: ServicesDep,
    workflow: WorkflowQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> TechnicalHealth:
    """Latency per node, error and retry rates, runs per day."""
    raise NotImplementedError
