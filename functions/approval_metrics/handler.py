"""Scheduled every five minutes: publishes how many approvals wait and the age of the oldest."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flightdeck.observability import lambda_handler
from flightdeck.services import services
from flightdeck.store.metrics import oldest_pending_approval_age_seconds, pending_approvals_count
from functions.approval_metrics import metric


@lru_cache(maxsize=4)
def cloudwatch(region: str, endpoint_url: str | None) -> Any:
    """One client per region and endpoint, built on first use (not at import)."""
    import boto3

    return boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint_url)


def publish(client: Any, *, stage: str, age_seconds: float, pending: int = 0) -> None:
    dimensions = [{"Name": metric.STAGE_DIMENSION, "Value": stage}]
    client.put_metric_data(
        Namespace=metric.NAMESPACE,
        MetricData=[
            {
                "MetricName": metric.OLDEST_PENDING_APPROVAL,
                "Dimensions": dimensions,
                "Value": age_seconds,
                "Unit": "Seconds",
            },
            {
                "MetricName": metric.APPROVALS_PENDING,
                "Dimensions": dimensions,
                "Value": pending,
                "Unit": "Count",
            },
        ],
    )


@lambda_handler(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    svc = services()
    with svc.connection() as conn:
        age = oldest_pending_approval_age_seconds(conn)
        pending = pending_approvals_count(conn)
    settings = svc.settings
    publish(
        cloudwatch(settings.aws_region, settings.aws_endpoint_url),
        stage=settings.stage,
        age_seconds=age,
        pending=pending,
    )
    return {"oldest_pending_approval_age_seconds": age, "approvals_pending": pending}
