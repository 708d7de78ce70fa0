"""Duplicate deliveries through the Lambda handler, sequential and concurrent."""

from __future__ import annotations

import asyncio
import json
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import Platform, lambda_context, load_event, signed_webhook_event


def test_200_deliveries_of_20_events_make_exactly_20_runs(platform: Platform) -> None:
    from flightdeck.store import runs
    from functions.api import handler as api_handler

    api_handler._adapter = None  # built on first call against this test's platform
    base = load_event("password_ticket")
    events = {f"msg_{i:02d}": {**base, "ticket_id": f"T-{i}"} for i in range(20)}
    # Each event once, 130 more spread over them, and 50 concurrent duplicates of one key.
    pick = random.Random(7)
    deliveries = sorted(events) + [pick.choice(sorted(events)) for _ in range(130)]
    deliveries += ["msg_07"] * 50
    random.Random(11).shuffle(deliveries)

    def deliver(msg_id: str) -> tuple[str, int, dict[str, Any]]:
        event = signed_webhook_event(platform.webhook_secret, events[msg_id], msg_id)
        answer = api_handler.handler(event, lambda_context())
        return msg_id, answer["statusCode"], json.loads(answer["body"])

    # Lambda runs one request per process; here each thread gets its own event loop.
    with ThreadPoolExecutor(
        max_workers=16, initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop())
    ) as pool:
        answers = list(pool.map(deliver, deliveries))

    assert len(answers) == 200
    assert {code for _, code, _ in answers} == {202}
    run_for: dict[str, set[str]] = {}
    for msg_id, _, body in answers:
        run_for.setdefault(msg_id, set()).add(body["run_id"])
    # Every delivery of one event was answered with the same run …
    assert all(len(ids) == 1 for ids in run_for.values())
    # … and there is exactly one run per distinct event.
    with platform.services.tenant(platform.tenant_id) as c:
        stored = runs.list_runs(c, runs.RunFilter(), limit=500)
    assert len(stored) == len(run_for) == 20
    assert {str(r.id) for r in stored} == {next(iter(ids)) for ids in run_for.values()}
