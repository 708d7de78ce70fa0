"""Approvals over the API: the inbox, exactly one outcome per request under races, late
decisions, escalation to admins."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Platform, load_event, wait_for
from tests.integration.api_client import Api, api_for


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as a:
        yield a


def race(api: Api, approval_id: str, bodies: list[dict[str, Any]], token: str) -> list[int]:
    """Send the decisions at the same moment from separate threads."""
    barrier = threading.Barrier(len(bodies))
    codes: list[int] = [0] * len(bodies)

    def send(i: int) -> None:
        barrier.wait()
        codes[i] = api.post(
            f"/v1/approvals/{approval_id}/decision", token, json=bodies[i]
        ).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(codes)


def test_inbox_filters_and_ages(api: Api) -> None:
    run_id = api.webhook(load_event("refund_ticket")).json()["run_id"]
    approval = api.pending(run_id)

    inbox = api.get("/v1/approvals", params={"status": "pending", "workflow": "support_triage"})
    (item,) = inbox.json()
    assert item["id"] == approval["id"]
    assert item["age_seconds"] >= 0
    assert api.get("/v1/approvals", params={"workflow": "flaky"}).json() == []
    assert api.get("/v1/approvals", params={"node": "act"}).json() == []
    assert api.get("/v1/approvals", params={"older_than_seconds": 3600}).json() == []
    assert api.get(f"/v1/approvals/{uuid.uuid4()}").status_code == 404


def test_inbox_pages_through_the_link_header(api: Api) -> None:
    run_ids = []
    for n in range(3):
        ticket = {**load_event("refund_ticket"), "ticket_id": f"T-PAGE-{n}"}
        run_ids.append(api.webhook(ticket).json()["run_id"])
    made = [api.pending(run_id)["id"] for run_id in run_ids]
    ask = {"status": "pending", "workflow": "support_triage", "limit": 2}

    first = api.get("/v1/approvals", params=ask)
    link = first.headers["link"]
    assert link.startswith("<?")
    assert link.endswith('>; rel="next"')
    # The next page is the same query (filters kept) from a cursor, relative to the request.
    second = api.get("/v1/approvals" + link[1 : link.index(">")])
    assert "link" not in second.headers

    seen = [a["id"] for a in first.json() + second.json()]
    assert len(first.json()) == 2
    assert len(second.json()) == 1
    assert sorted(seen) == sorted(made)
    assert len(set(seen)) == 3
    created = [a["created_at"] for a in first.json() + second.json()]
    assert created == sorted(created), "oldest first across pages"
    assert "link" not in api.get("/v1/approvals", params={**ask, "limit": 3}).headers

    bad = api.get("/v1/approvals", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422  # as GET /v1/runs answers a cursor it did not give
    assert bad.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "bodies",
    [
        [{"decision": "approve"}, {"decision": "approve"}],
        [{"decision": "approve"}, {"decision": "reject"}],
        [{"decision": "reject"}, {"decision": "approve"}, {"decision": "approve"}],
    ],
    ids=["double-approve", "approve-vs-reject", "three-way"],
)
def test_racing_decisions_have_exactly_one_outcome(api: Api, bodies: list[dict[str, Any]]) -> None:
    run_id = api.webhook(load_event("refund_ticket")).json()["run_id"]
    approval = api.pending(run_id)

    codes = race(api, approval["id"], bodies, api.operator)

    assert codes == [200] + [409] * (len(bodies) - 1)
    run = api.wait_run(run_id, "succeeded", "failed")
    assert run["status"] == "succeeded"
    (decided,) = run["approvals"]
    decision_events = [
        e
        for e in run["events"]
        if e["type"].startswith("approval.") and e["type"] != "approval.waiting"
    ]
    assert len(decision_events) == 1
    # The run followed the one decision that won.
    sent = bool(run["effects"])
    assert sent == (decided["status"] == "approved")


def test_a_late_decision_is_gone_and_the_default_action_stands(api: Api) -> None:
    run_id = api.post(
        "/v1/runs", json={"workflow": "triage_quick_timeout", "input": load_event("refund_ticket")}
    ).json()["run_id"]
    approval = api.pending(run_id)

    run = api.wait_run(run_id, "succeeded", "failed")
    late = api.post(f"/v1/approvals/{approval['id']}/decision", json={"decision": "approve"})

    assert late.status_code == 410
    assert late.headers["content-type"] == "application/problem+json"
    assert run["approvals"][0]["status"] == "timed_out"
    assert run["effects"] == []


def test_unknown_approval_is_not_found(api: Api) -> None:
    response = api.post(f"/v1/approvals/{uuid.uuid4()}/decision", json={"decision": "approve"})
    assert response.status_code == 404


def test_an_unanswered_request_escalates_to_admins(api: Api, platform: Platform) -> None:
    run_id = api.post(
        "/v1/runs", json={"workflow": "triage_escalating", "input": load_event("refund_ticket")}
    ).json()["run_id"]

    escalated = wait_for(
        lambda: (a := api.get("/v1/approvals", params={"status": "escalated"}).json()) and a[0]
    )
    assert escalated["run_id"] == run_id
    wait_for(lambda: platform.execution_status(uuid.UUID(run_id)) == "RUNNING")
    by_operator = api.post(
        f"/v1/approvals/{escalated['id']}/decision", json={"decision": "approve"}
    )
    assert by_operator.status_code == 403

    def admin_decides() -> Any:
        answer = api.post(
            f"/v1/approvals/{escalated['id']}/decision", api.admin, json={"decision": "approve"}
        )
        return answer if answer.status_code == 200 else None

    wait_for(admin_decides, every=0.2)
    run = api.wait_run(run_id, "succeeded", "failed")
    assert run["status"] == "succeeded"
    types = [e["type"] for e in run["events"]]
    assert types.index("approval.escalated") < types.index("approval.approved")
    assert len(run["effects"]) == 1


def test_an_edit_is_validated_and_audited_with_its_comment(api: Api) -> None:
    run_id = api.webhook(load_event("refund_ticket")).json()["run_id"]
    approval = api.pending(run_id)
    path = f"/v1/approvals/{approval['id']}/decision"

    invalid = api.post(path, json={"decision": "edit", "payload": {"reply": ""}})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "payload.reply"
    missing = api.post(path, json={"decision": "edit"})
    assert missing.json()["errors"][0]["field"] == "payload"

    edited = api.post(
        path,
        json={
            "decision": "edit",
            "payload": {"reply": "Refunded, sorry for the trouble."},
            "comment": "tone",
        },
    )
    assert edited.status_code == 200
    run = api.wait_run(run_id, "succeeded")
    (decided,) = run["approvals"]
    assert decided["status"] == "edited"
    assert decided["decision"]["comment"] == "tone"
    assert decided["decided_by"].startswith("token:")
    audit = next(e for e in run["events"] if e["type"] == "approval.edited")
    assert audit["data"]["before"]["reply"] == approval["request"]["draft"]["reply"]
    assert audit["data"]["after"] == {"reply": "Refunded, sorry for the trouble."}


def test_an_edit_naming_the_customer_is_stored_sealed_and_sent_as_typed(api: Api) -> None:
    from flightdeck.store import outbox

    run_id = api.webhook(load_event("refund_ticket")).json()["run_id"]
    approval = api.pending(run_id)
    reply = "Refunded to card 4111 1111 1111 1111; questions to billing.lee@example.org"

    # When an operator's edit names the customer's card and address
    edited = api.post(
        f"/v1/approvals/{approval['id']}/decision",
        json={"decision": "edit", "payload": {"reply": reply}},
    )
    assert edited.status_code == 200
    run = api.wait_run(run_id, "succeeded")

    # Then neither is in any column of the approval or of the run's events
    services = api.platform.services
    with services.tenant(api.platform.tenant_id) as conn:
        stored = conn.execute(
            "SELECT decision::text AS decision FROM approvals WHERE id = %s", (approval["id"],)
        ).fetchone()
        events = conn.execute(
            "SELECT string_agg(data::text, ' ') AS data FROM run_events WHERE run_id = %s",
            (run_id,),
        ).fetchone()
        (effect,) = outbox.for_run(conn, uuid.UUID(run_id))
    for text in (stored["decision"], events["data"]):
        assert "4111" not in text
        assert "billing.lee@example.org" not in text
    # the API shows the sealed field as such, the audit event a masked copy
    (decided,) = run["approvals"]
    assert decided["decision"]["payload"] == {"reply": "<encrypted>"}
    audit = next(e for e in run["events"] if e["type"] == "approval.edited")
    assert "<email:" in audit["data"]["after"]["reply"]

    # And the resumed node sent the reply exactly as the operator typed it
    sealer = services.sealer
    assert sealer is not None
    sent = sealer.open(
        effect.payload,
        tenant_id=api.platform.tenant_id,
        run_id=uuid.UUID(run_id),
        scope=f"outbox:{effect.key}:",
    )
    assert sent["body"] == reply


def test_a_wait_state_retried_after_it_committed_asks_no_one_twice(api: Api) -> None:
    # Given a run waiting on its approval, its wait state's token stored
    run_id = api.webhook(load_event("refund_ticket")).json()["run_id"]
    approval = api.pending(run_id)
    services = api.platform.services

    def counts() -> tuple[int, int]:
        with services.tenant(api.platform.tenant_id) as conn:
            waiting = conn.execute(
                "SELECT count(*) AS n FROM run_events WHERE run_id = %s AND type = %s",
                (run_id, "approval.waiting"),
            ).fetchone()["n"]
            deliveries = conn.execute(
                "SELECT count(*) AS n FROM callback_deliveries WHERE run_id = %s", (run_id,)
            ).fetchone()["n"]
        return waiting, deliveries

    before = counts()
    with services.tenant(api.platform.tenant_id) as conn:
        token = conn.execute(
            "SELECT task_token FROM approvals WHERE id = %s", (approval["id"],)
        ).fetchone()["task_token"]

    # When Step Functions retries that wait state (its first answer was lost)
    services.approvals.register_token(
        tenant_id=api.platform.tenant_id,
        run_id=uuid.UUID(run_id),
        approval_id=uuid.UUID(approval["id"]),
        task_token=token,
    )

    # Then no second waiting event and no second approval-requested callback
    assert before[0] == 1
    assert counts() == before
    decided = api.post(f"/v1/approvals/{approval['id']}/decision", json={"decision": "approve"})
    assert decided.status_code == 200
    assert api.wait_run(run_id, "succeeded")["status"] == "succeeded"
