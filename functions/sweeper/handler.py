"""Scheduled every minute: starts the executions of runs left queued without one, and refreshes
the outcome rollups writes marked (`flightdeck.engine.sweeper`)."""

from __future__ import annotations

from typing import Any

from flightdeck.observability import lambda_handler
from flightdeck.services import services


@lambda_handler(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from flightdeck.engine.sweeper import RunSweeper

    svc = services()
    report = RunSweeper(connection=svc.connection, runs=svc.runs).sweep()
    return {
        "examined": report.examined,
        "started": [str(run_id) for run_id in report.started],
        "existing": report.existing,
        "unavailable": report.unavailable,
        "rolled_up": report.rolled_up,
        "hours": report.hours,
    }
