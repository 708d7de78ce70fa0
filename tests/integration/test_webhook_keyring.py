"""The webhook hot path: a warm process verifies from its keyring and stores the run in one
round trip (and its telemetry in one more), and the keyring never outlives a secret's validity:
a secret revoked or rotated by another process takes effect at the very next delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import Platform, load_event
from tests.roundtrips import RoundTripProxy


@pytest.fixture
def proxy(database_url: str) -> Iterator[RoundTripProxy]:
    counting = RoundTripProxy(database_url)
    yield counting
    counting.close()


def intake(platform: Platform, connection: Any = None) -> Any:
    """The webhook intake as a process builds it; `connection` replaces its database access
    (the round-trip proxy) for both the keyring and the run service."""
    from flightdeck.engine.intake import WebhookIntake
    from flightdeck.engine.runs import RunService

    svc = platform.services
    connection = connection or svc.connection
    runs = RunService(
        registry=svc.registry,
        connection=connection,
        sfn=svc.sfn,
        blobs=svc.blobs,
        state_machine_arn=svc.settings.state_machine_arn,
        inline_payload_limit=svc.settings.inline_payload_limit,
        sealer=lambda: svc.sealer,
        tracer=svc.tracing,
        prices=svc.prices,
    )
    return WebhookIntake(
        registry=svc.registry,
        connection=connection,
        secrets=svc.secrets,
        runs=runs,
        max_body_bytes=svc.settings.max_body_bytes,
    )


def delivery(secret: str, msg_id: str, ticket: str) -> tuple[dict[str, str], bytes]:
    from flightdeck import webhooks

    body = json.dumps({**load_event("password_ticket"), "ticket_id": ticket}).encode()
    return webhooks.headers(secret, msg_id, body), body


def test_a_warm_delivery_is_one_round_trip_and_its_telemetry_one_more(
    platform: Platform, proxy: RoundTripProxy
) -> None:
    from flightdeck.store.db import connect

    conn = connect(proxy.url, role=platform.services.settings.database_role)

    @contextmanager
    def connection() -> Iterator[Any]:
        yield conn

    door = intake(platform, connection)

    def accept(msg_id: str, ticket: str) -> tuple[Any, int]:
        headers, body = delivery(platform.webhook_secret, msg_id, ticket)
        with proxy.counting() as counted:
            started = door.accept(
                workflow="support_triage", tenant="demo", headers=headers, body=body
            )
        return started, counted[0]

    # The first delivery reads the keyring; the next ones verify from it.
    first, cold = accept("msg_rt_1", "T-1")
    second, warm = accept("msg_rt_2", "T-2")
    # A replay of a run whose execution has begun (a replay of one still queued may have to
    # start it, and reads the run's trace for that).
    platform.wait_status(second.run.id, "running", "waiting_for_approval", "succeeded", "failed")
    replay, replayed = accept("msg_rt_2", "T-2")

    assert first.created
    assert second.created
    assert not replay.created
    assert replay.run.id == second.run.id
    assert cold == 3
    assert warm == 2
    # A replay costs the same: the statement that finds the run, then the request's cost.
    assert replayed == 2
    conn.close()


def test_a_secret_revoked_by_another_process_refuses_at_once(platform: Platform) -> None:
    from flightdeck.errors import UnauthorizedError
    from flightdeck.services import Services
    from flightdeck.store import tenants

    door = intake(platform)
    headers, body = delivery(platform.webhook_secret, "msg_kr_1", "T-1")
    assert door.accept(workflow="support_triage", tenant="demo", headers=headers, body=body)
    # This process now keeps the demo tenant's keyring, the seeded secret in it.

    # When another process (its own services, its own caches) rotates to a new secret and
    # revokes the seeded one at once
    other = Services(platform.services.settings)
    try:
        with other.tenant(platform.tenant_id) as c:
            (seeded,) = [
                s for s in tenants.list_webhook_secrets(c, platform.tenant_id) if s.workflow is None
            ]
            rotated = tenants.rotate_webhook_secret(
                c, other.secrets, platform.tenant_id, seeded.id, overlap_seconds=0
            )
        assert rotated is not None
        new_secret = rotated[1]
    finally:
        other.close()

    # Then a delivery signed with the revoked secret is refused here, though the keyring held it
    headers, body = delivery(platform.webhook_secret, "msg_kr_2", "T-2")
    with pytest.raises(UnauthorizedError):
        door.accept(workflow="support_triage", tenant="demo", headers=headers, body=body)
    # … and one signed with the new secret, which the keyring did not hold, is accepted.
    headers, body = delivery(new_secret, "msg_kr_3", "T-3")
    started = door.accept(workflow="support_triage", tenant="demo", headers=headers, body=body)
    assert started.created
    from flightdeck.store import runs

    with platform.services.tenant(platform.tenant_id) as c:
        keys = {r.idempotency_key for r in runs.list_runs(c, runs.RunFilter(), limit=10)}
    assert keys == {"msg_kr_1", "msg_kr_3"}
