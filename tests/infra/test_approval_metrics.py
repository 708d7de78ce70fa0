"""The publisher behind the `OldestPendingApprovalAgeSeconds` alarm: its query, on a real
database, and the handler publishing it to CloudWatch (the emulator's)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flightdeck.store import approvals, tenants
from flightdeck.store.metrics import oldest_pending_approval_age_seconds
from functions.approval_metrics import metric
from tests.conftest import Platform, lambda_context, open_waiting_approval


@contextmanager
def as_tenant(platform: Platform, tenant_id: uuid.UUID) -> Iterator[Any]:
    """A transaction naming its tenant, as the application's own transactions do."""
    with platform.services.tenant(tenant_id) as conn:
        yield conn


def pending_approval(platform: Platform, tenant_id: uuid.UUID, *, age: timedelta) -> uuid.UUID:
    """A run waiting on an approval opened `age` ago."""
    with as_tenant(platform, tenant_id) as conn:
        return open_waiting_approval(conn, tenant_id, age=age)


def other_tenant(platform: Platform) -> uuid.UUID:
    with platform.services.connection() as conn, conn.transaction():
        return tenants.create_tenant(conn, f"other-{uuid.uuid4().hex[:8]}", "Other Co").id


def oldest(platform: Platform) -> float:
    with platform.services.connection() as conn:
        return oldest_pending_approval_age_seconds(conn)


def test_no_pending_approval_is_an_age_of_zero(platform: Platform) -> None:
    assert oldest(platform) == 0.0


def test_the_oldest_pending_approval_of_any_tenant_sets_the_age(platform: Platform) -> None:
    # Given a pending approval of 10 minutes for the demo tenant, one of 2 hours for another
    # tenant, and a 3-hour-old approval that was already decided
    pending_approval(platform, platform.tenant_id, age=timedelta(minutes=10))
    second = other_tenant(platform)
    pending_approval(platform, second, age=timedelta(hours=2))
    decided = pending_approval(platform, platform.tenant_id, age=timedelta(hours=3))
    with as_tenant(platform, platform.tenant_id) as conn:
        approvals.decide(
            conn, decided, status="approved", decision={"decision": "approve"}, decided_by="op"
        )

    # Then the age is the other tenant's two hours: decided requests do not count
    assert oldest(platform) == pytest.approx(7200, abs=30)


def test_the_handler_publishes_the_age_per_stage(platform: Platform) -> None:
    from functions.approval_metrics.handler import handler

    pending_approval(platform, platform.tenant_id, age=timedelta(minutes=30))
    since = datetime.now(UTC) - timedelta(minutes=1)

    answer = handler({}, lambda_context())

    assert answer["oldest_pending_approval_age_seconds"] == pytest.approx(1800, abs=30)
    cloudwatch = platform.emulator.client("cloudwatch")
    stats = cloudwatch.get_metric_statistics(
        Namespace=metric.NAMESPACE,
        MetricName=metric.OLDEST_PENDING_APPROVAL,
        Dimensions=[{"Name": metric.STAGE_DIMENSION, "Value": "test"}],
        StartTime=since,
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )
    assert stats["Datapoints"]
    assert max(p["Maximum"] for p in stats["Datapoints"]) == pytest.approx(1800, abs=30)
    assert {p["Unit"] for p in stats["Datapoints"]} == {"Seconds"}
