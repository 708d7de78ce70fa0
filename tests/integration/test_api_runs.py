"""Run management over the API: start with an idempotency key, list with filters and keyset
pages, the detail's graph, cancel, redrive, re-run, and bulk actions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Platform, load_event, wait_for
from tests.integration.api_client import Api, api_for


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as a:
        yield a


def create(api: Api, workflow: str, body: Any, key: str | None = None) -> Any:
    headers = {"idempotency-key": key} if key else {}
    return api.post("/v1/runs", json={"workflow": workflow, "input": body}, headers=headers)


def test_api_runs_are_idempotent_per_key(api: Api) -> None:
    first = create(api, "flaky", {"value": 1}, key="order-17")
    again = create(api, "flaky", {"value": 1}, key="order-17")
    other = create(api, "flaky", {"value": 2}, key="order-17")

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 409
    assert create(api, "flaky", {"value": 1}).json()["run_id"] != first.json()["run_id"]
    assert create(api, "nope", {"value": 1}).status_code == 404
    assert create(api, "flaky", {"value": "x"}).json()["errors"][0]["field"] == "value"
    assert (
        api.post("/v1/runs", api.viewer, json={"workflow": "flaky", "input": {}}).status_code == 403
    )


def test_list_filters_sorts_and_pages_stably_under_inserts(api: Api) -> None:
    ids = [create(api, "broken", {"order": f"O-{i}"}).json()["run_id"] for i in range(5)]
    ticket = load_event("password_ticket")
    triage = api.webhook(ticket).json()["run_id"]
    for run_id in ids:
        api.wait_run(run_id, "failed")
    api.wait_run(triage, "succeeded")

    # Page through failed runs two at a time, newest first, while new runs arrive.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "failed", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/runs", params=params).json()
        seen += [r["id"] for r in page["items"]]
        create(api, "broken", {"order": "late"})  # an insert between pages
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[:5] == list(reversed(ids))
    assert len(seen) == len(set(seen))

    oldest_first = api.get("/v1/runs", params={"workflow": "broken", "sort": "created_at"}).json()
    assert [r["id"] for r in oldest_first["items"][:5]] == ids
    by_trigger = api.get("/v1/runs", params={"trigger": "ticket_id:T-2002"}).json()["items"]
    assert [r["id"] for r in by_trigger] == [triage]
    webhooks_only = api.get("/v1/runs", params={"source": "webhook"}).json()["items"]
    assert [r["id"] for r in webhooks_only] == [triage]
    assert api.get("/v1/runs", params={"cursor": "garbage"}).status_code == 422
    assert api.get("/v1/runs", params={"trigger": "novalue"}).status_code == 422
    assert api.get("/v1/runs", params={"status": "exploded"}).status_code == 422


def test_detail_shows_the_graph_with_node_status(api: Api) -> None:
    run_id = create(api, "broken", {"order": "G-1"}).json()["run_id"]
    run = api.wait_run(run_id, "failed")

    nodes = {n["name"]: n for n in run["graph"]["nodes"]}
    assert nodes["check"]["status"] == "succeeded"
    assert nodes["charge"]["status"] == "failed"
    assert nodes["charge"]["error_type"] == "ValueError"
    assert nodes["charge"]["attempts"] == 1
    assert {"source": "check", "target": "charge", "conditional": False} in run["graph"]["edges"]
    assert run["graph"]["entry"] == "check"


def test_cancel_withdraws_the_pending_approval(api: Api, platform: Platform) -> None:
    run_id = api.webhook(load_event("refund_ticket")).json()["run_id"]
    approval = api.pending(run_id)

    cancelled = api.post(f"/v1/runs/{run_id}/cancel")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    late = api.post(f"/v1/approvals/{approval['id']}/decision", json={"decision": "approve"})
    assert late.status_code == 410
    assert api.post(f"/v1/runs/{run_id}/cancel").status_code == 409
    # The execution ends (ABORTED on AWS; the emulator releases the wait as a failure).
    assert wait_for(lambda: platform.execution_status(run_id) != "RUNNING")
    detail = api.run(run_id)
    assert detail["approvals"][0]["status"] == "cancelled"
    assert "run.cancelled" in [e["type"] for e in detail["events"]]
    # The node that asked ran and was stopped by the cancel; the ones after it were never reached.
    nodes = {n["name"]: n["status"] for n in detail["graph"]["nodes"]}
    assert nodes["decide"] == "stopped"
    assert nodes["act"] == nodes["reflect"] == "skipped"


def test_redrive_continues_a_failed_run_from_its_failed_node(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightdeck.workflows.support_triage import offline

    calls = Counter[str]()

    def crash_once(variables: Any) -> Any:
        calls["score"] += 1
        if calls["score"] == 1:
            raise RuntimeError("worker lost")
        return offline.score(variables)

    monkeypatch.setitem(platform.services.model._rules, "support_triage.score", crash_once)
    run_id = api.webhook(load_event("password_ticket")).json()["run_id"]
    api.wait_run(run_id, "failed")

    redriven = api.post(f"/v1/runs/{run_id}/redrive")

    assert redriven.status_code == 202
    assert redriven.json()["node"] == "reflect"
    run = api.wait_run(run_id, "succeeded")
    entered = Counter(e["node"] for e in run["events"] if e["type"] == "node.entered")
    assert entered == {"plan": 1, "retrieve": 1, "decide": 1, "act": 1, "reflect": 2}
    assert len(run["effects"]) == 1
    assert api.post(f"/v1/runs/{run_id}/redrive").status_code == 409


def test_rerun_starts_a_new_run_from_the_original_trigger(api: Api) -> None:
    original = api.webhook(load_event("password_ticket")).json()["run_id"]
    api.wait_run(original, "succeeded")

    rerun = api.post(f"/v1/runs/{original}/rerun", headers={"idempotency-key": "again-1"})
    replay = api.post(f"/v1/runs/{original}/rerun", headers={"idempotency-key": "again-1"})

    assert rerun.status_code == 202
    assert replay.json() == rerun.json()
    new_id = rerun.json()["run_id"]
    assert new_id != original
    new = api.wait_run(new_id, "succeeded")
    assert new["rerun_of"] == original
    assert new["workflow_version"] == "1.0.0"
    assert api.post(f"/v1/runs/{original}/rerun", api.viewer).status_code == 403


def test_bulk_cancel_and_retry_report_what_they_touched(api: Api) -> None:
    failed = [create(api, "broken", {"order": f"B-{i}"}).json()["run_id"] for i in range(3)]
    for run_id in failed:
        api.wait_run(run_id, "failed")
    waiting = [api.webhook(load_event("refund_ticket")).json()["run_id"] for _ in range(2)]
    for run_id in waiting:
        api.pending(run_id)

    cancelled = api.post(
        "/v1/runs/bulk", json={"action": "cancel", "filter": {"workflow": "support_triage"}}
    ).json()
    retried = api.post("/v1/runs/bulk", json={"action": "retry", "filter": {"workflow": "broken"}})

    assert cancelled == {"action": "cancel", "matched": 2, "touched": 2}
    assert retried.json() == {"action": "retry", "matched": 3, "touched": 3}
    for run_id in waiting:
        assert api.run(run_id)["status"] == "cancelled"
    for run_id in failed:
        run = api.wait_run(run_id, "failed")
        assert [e["type"] for e in run["events"]].count("run.redriven") == 1
    assert api.post("/v1/runs/bulk", api.viewer, json={"action": "cancel"}).status_code == 403
