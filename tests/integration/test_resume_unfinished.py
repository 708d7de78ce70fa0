"""`make dev` continues, on start, the runs that were under way when it stopped or was killed
(the emulator's executions died with it)."""

from __future__ import annotations

import uuid
from typing import Any

from flightdeck.engine.runs import canonical_sha256
from flightdeck.local.dev import resume_unfinished
from flightdeck.store import runs
from tests.conftest import Platform


def test_unfinished_runs_continue_and_one_that_cannot_does_not_hold_up_the_rest(
    platform: Platform, capsys: Any
) -> None:
    # Given a run whose execution never started, and one of a workflow that no longer exists
    parked = platform.park("single_step", {"ticket_id": "T-parked"})
    with platform.services.tenant(platform.tenant_id) as c:
        retired, _ = runs.insert_run(
            c,
            run_id=uuid.uuid4(),
            tenant_id=platform.tenant_id,
            workflow="retired",
            workflow_version="1",
            idempotency_key=f"retired-{uuid.uuid4()}",
            trigger_source="api",
            trigger_payload={},
            trigger_ref=None,
            trigger_sha256=canonical_sha256({}),
            execution_name="manual",
        )

    # When the stack starts again
    resumed = resume_unfinished(platform.services)

    # Then the first continues on a new execution and finishes; the other is reported and kept
    assert resumed == [str(parked)]
    assert platform.wait_status(parked, "succeeded", "failed").status == "succeeded"
    assert platform.run(parked).execution_name == f"{parked}-resume1"
    assert platform.run(retired.id).status == "queued"
    assert f"run {retired.id} cannot continue" in capsys.readouterr().err
