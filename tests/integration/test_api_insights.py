"""Business outcomes and technical health: figures computed in SQL from recorded runs, checked
against values worked out by hand from a small, known history."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flightdeck.local.history import (
    PastAnnotation,
    PastApproval,
    PastNode,
    PastOutcome,
    PastRun,
    record,
)
from flightdeck.store import tenants
from tests.conftest import Platform
from tests.integration.api_client import Api, api_for

SINCE = "2026-03-02T00:00:00Z"  # a Monday
UNTIL = "2026-03-16T00:00:00Z"
WINDOW = {"since": SINCE, "until": UNTIL, "workflow": "support_triage"}
REQUEST = {"kind": "reply_review", "summary": "Review the reply", "draft": {"reply": "Hello"}}


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def nodes(plan_ms: float, *, decide_retries: int = 0, act: bool = True) -> list[PastNode]:
    found = [
        PastNode("plan", plan_ms),
        PastNode("retrieve", 50),
        PastNode("decide", 200, retries=decide_retries),
    ]
    if act:
        found.append(PastNode("act", 30))
    return [*found, PastNode("reflect", 20)]


def outcome(staff: float, turnaround: float, quality: float) -> PastOutcome:
    return PastOutcome(
        baseline_minutes=12,
        staff_minutes=staff,
        turnaround_seconds=turnaround,
        quality_score=quality,
    )


def run(created: datetime, **kw: Any) -> PastRun:
    defaults: dict[str, Any] = {
        "workflow": "support_triage",
        "workflow_version": "1.0.0",
        "status": "succeeded",
        "trigger": {"ticket_id": f"T-{uuid.uuid4().hex[:6]}"},
        "nodes": nodes(100),
    }
    return PastRun(created_at=created, **{**defaults, **kw})


# A: alone, no person; B: a person edited the draft after a retried decide; C: retrieve failed
# for good after two retries; D: a person rejected the draft; E: before the window.
HISTORY = [
    run(
        at(2, 10),
        nodes=nodes(100),
        duration=timedelta(minutes=10),
        outcome=outcome(0, 600, 0.9),
        annotations=[
            PastAnnotation("score", score=0.8),
            PastAnnotation("label", label="cx:delighted"),
            PastAnnotation("score", score=1.0, metric="cx"),
            PastAnnotation("comment", body="Spot on"),
        ],
    ),
    run(
        at(3, 12),
        nodes=nodes(200, decide_retries=1),
        duration=timedelta(hours=2),
        approval=PastApproval(
            "decide", "edited", REQUEST, timedelta(hours=1), edited={"reply": "Hi"}
        ),
        outcome=outcome(2, 7200, 0.7),
        annotations=[PastAnnotation("score", score=0.6, metric="tone")],
    ),
    run(
        at(10),
        status="failed",
        nodes=[PastNode("plan", 300), PastNode("retrieve", 50, retries=2, failed=True)],
        duration=timedelta(minutes=1),
    ),
    run(
        at(11),
        nodes=nodes(400, act=False),
        duration=timedelta(minutes=30),
        approval=PastApproval("decide", "rejected", REQUEST, timedelta(minutes=20)),
        outcome=outcome(14, 1800, 0.4),
    ),
    run(datetime(2026, 2, 20, 8, tzinfo=UTC), outcome=outcome(0, 300, 1.0)),
]


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as a:
        yield a


def write(platform: Platform, history: list[PastRun], tenant: uuid.UUID | None = None) -> None:
    tenant = tenant or platform.tenant_id
    with platform.services.tenant(tenant) as conn:
        for past in history:
            record(conn, tenant, past)


def triage(body: dict[str, Any]) -> dict[str, Any]:
    found = [w for w in body["workflows"] if w["workflow"] == "support_triage"]
    assert len(found) == 1
    return found[0]  # type: ignore[no-any-return]


def test_outcomes_match_the_figures_worked_out_by_hand(api: Api, platform: Platform) -> None:
    write(platform, HISTORY)
    answer = api.get("/v1/outcomes", params=WINDOW)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["window"] == {"since": SINCE, "until": UNTIL}
    figures = triage(body)["figures"]
    assert body["total"] == figures

    assert (figures["runs"], figures["succeeded"], figures["failed"]) == (4, 3, 1)
    assert (figures["cancelled"], figures["in_progress"]) == (0, 0)
    assert figures["effectiveness"] == {
        "finished_runs": 4,
        "succeeded_without_edit": 2,  # A and D; B was edited
        "succeeded_without_edit_rate": 0.5,
        "approvals_decided": 2,
        "approvals_accepted": 1,
        "approval_acceptance_rate": 0.5,
        "annotation_scores": 2,  # 0.8 and 0.6 (tone); the cx score stands apart
        "mean_annotation_score": pytest.approx(0.7),
        "mean_quality_score": pytest.approx((0.9 + 0.7 + 0.4) / 3),
    }
    # Saved: 12 - 0, 12 - 2, and never below zero for D (12 - 14).
    assert figures["staff"] == {
        "measured_runs": 3,
        "baseline_minutes": 36.0,
        "staff_minutes": 16.0,
        "minutes_saved": 22.0,
        "hours_relieved": pytest.approx(22 / 60),
    }
    assert figures["customer_experience"] == {
        "measured_runs": 3,
        "turnaround_p50_seconds": 1800.0,
        "turnaround_p90_seconds": pytest.approx(1800 + 0.8 * 5400),
        "manual_baseline_seconds": 240 * 60.0,
        "cx_scores": 1,
        "mean_cx_score": 1.0,
        "cx_labels": {"cx:delighted": 1},
    }
    assert figures["turnaround"] == {
        "runs": 3,
        "p50_seconds": pytest.approx(1800.0),
        "p95_seconds": pytest.approx(1800 + 0.9 * 5400),
    }


def test_time_to_benefit_counts_all_time_and_says_when_it_is_not_reached(
    api: Api, platform: Platform
) -> None:
    write(platform, HISTORY)
    benefit = triage(api.get("/v1/outcomes", params=WINDOW).json())["time_to_benefit"]
    assert benefit["setup_minutes"] == 360.0
    assert benefit["first_run_at"] == "2026-02-20T08:00:00Z"
    assert benefit["reached_at"] is None
    assert benefit["days_to_benefit"] is None
    assert benefit["cumulative_minutes_saved"] == 34.0  # E 12 + A 12 + B 10 + D 0
    assert benefit["curve"] == [
        {"day": "2026-02-20", "cumulative_minutes_saved": 12.0},
        {"day": "2026-03-02", "cumulative_minutes_saved": 24.0},
        {"day": "2026-03-03", "cumulative_minutes_saved": 34.0},
        {"day": "2026-03-11", "cumulative_minutes_saved": 34.0},
    ]


def test_time_to_benefit_is_reached_when_savings_exceed_the_setup_time(
    api: Api, platform: Platform
) -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    # 12 minutes saved a day: 360 after day 29 (not more than the setup), 372 on day 30.
    write(
        platform,
        [run(start + timedelta(days=d), outcome=outcome(0, 60, 1.0)) for d in range(31)],
    )
    benefit = triage(api.get("/v1/outcomes").json())["time_to_benefit"]
    assert benefit["reached_at"] == "2026-01-31T09:00:00Z"
    assert benefit["days_to_benefit"] == 30.0
    assert len(benefit["curve"]) == 31


def test_the_weekly_trend_has_one_point_per_iso_week(api: Api, platform: Platform) -> None:
    write(platform, HISTORY)
    answer = api.get("/v1/outcomes/timeseries", params={**WINDOW, "bucket": "week"})
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["points"]
    assert first["start"] == "2026-03-02T00:00:00Z"
    assert (first["runs"], first["succeeded"], first["failed"]) == (2, 2, 0)
    assert first["minutes_saved"] == 22.0
    assert first["succeeded_without_edit_rate"] == 0.5
    assert first["approval_acceptance_rate"] == 1.0
    assert first["mean_quality_score"] == pytest.approx(0.8)
    assert first["turnaround_p50_seconds"] == pytest.approx((600 + 7200) / 2)
    assert second["start"] == "2026-03-09T00:00:00Z"
    assert (second["runs"], second["succeeded"], second["failed"]) == (2, 1, 1)
    assert second["minutes_saved"] == 0.0
    assert second["approval_acceptance_rate"] == 0.0
    assert second["cx_turnaround_p50_seconds"] == 1800.0


def test_the_daily_trend_keeps_days_without_runs(api: Api, platform: Platform) -> None:
    write(platform, HISTORY)
    points = api.get("/v1/outcomes/timeseries", params={**WINDOW, "bucket": "day"}).json()["points"]
    assert len(points) == 14
    assert [p["runs"] for p in points] == [1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
    assert points[2]["succeeded_without_edit_rate"] is None
    assert points[2]["mean_quality_score"] is None


def test_health_counts_node_executions_failures_and_retries(api: Api, platform: Platform) -> None:
    write(platform, HISTORY)
    answer = api.get("/v1/health", params=WINDOW)
    assert answer.status_code == 200, answer.text
    health = answer.json()
    assert (health["runs"], health["finished_runs"], health["failed_runs"]) == (4, 4, 1)
    assert health["error_rate"] == 0.25
    nodes = {n["node"]: n for n in health["nodes"]}
    assert list(nodes) == ["plan", "retrieve", "decide", "act", "reflect"]
    assert nodes["plan"]["executions"] == 4
    assert nodes["plan"]["p50_ms"] == 250.0
    assert nodes["plan"]["p95_ms"] == pytest.approx(300 + 0.85 * 100)
    # C's retrieve: failed, retried, failed, retried, failed.
    retrieve = nodes["retrieve"]
    assert (retrieve["executions"], retrieve["failures"], retrieve["retries"]) == (6, 3, 2)
    assert retrieve["error_rate"] == 0.5
    # B's decide failed once, was retried, paused for a person and ran again; D's paused too.
    decide = nodes["decide"]
    assert (decide["executions"], decide["failures"], decide["retries"]) == (6, 1, 1)
    assert (nodes["act"]["executions"], nodes["reflect"]["executions"]) == (2, 3)
    assert health["node_executions"] == 21
    assert health["retried_executions"] == 3
    assert health["retry_rate"] == pytest.approx(3 / 21)
    days = health["runs_per_day"]
    assert len(days) == 14
    assert days[0] == {"day": "2026-03-02", "runs": 1, "succeeded": 1, "failed": 0}
    assert days[8] == {"day": "2026-03-10", "runs": 1, "succeeded": 0, "failed": 1}
    assert sum(d["runs"] for d in days) == 4


def test_an_empty_tenant_gets_zeros_and_no_rates(api: Api) -> None:
    outcomes = api.get("/v1/outcomes").json()
    total = outcomes["total"]
    assert total["runs"] == 0
    assert total["effectiveness"]["succeeded_without_edit_rate"] is None
    assert total["effectiveness"]["approval_acceptance_rate"] is None
    assert total["staff"]["minutes_saved"] == 0.0
    assert total["turnaround"]["p50_seconds"] is None
    until = datetime.fromisoformat(outcomes["window"]["until"])
    since = datetime.fromisoformat(outcomes["window"]["since"])
    assert until - since == timedelta(days=28)
    benefit = triage(outcomes)["time_to_benefit"]
    assert benefit["first_run_at"] is None
    assert benefit["curve"] == []
    health = api.get("/v1/health").json()
    assert health["nodes"] == []
    assert health["error_rate"] is None
    assert len(health["runs_per_day"]) in (28, 29)  # a window not on midnight spans 29 days
    points = api.get("/v1/outcomes/timeseries").json()["points"]
    assert all(p["runs"] == 0 for p in points)
    assert len(points) in (4, 5)


def test_a_tenant_sees_only_its_own_runs(api: Api, platform: Platform) -> None:
    with platform.services.connection() as conn, conn.transaction():
        other = tenants.create_tenant(conn, "other-client", "Other Client")
        other_viewer = tenants.issue_token(conn, other.id, "viewer").token
    write(platform, HISTORY)
    write(platform, HISTORY[:1], other.id)
    mine = api.get("/v1/outcomes", params=WINDOW).json()["total"]["runs"]
    theirs = api.get("/v1/outcomes", other_viewer, params=WINDOW).json()["total"]["runs"]
    assert (mine, theirs) == (4, 1)
    health = api.get("/v1/health", other_viewer, params=WINDOW).json()
    assert health["node_executions"] == 5
    benefit = triage(api.get("/v1/outcomes", other_viewer).json())["time_to_benefit"]
    assert benefit["cumulative_minutes_saved"] == 12.0


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/outcomes", {"workflow": "no_such_workflow"}, 404),
        ("/v1/outcomes", {"workflow": "Bad Name!"}, 422),
        ("/v1/outcomes", {"since": UNTIL, "until": SINCE}, 422),
        ("/v1/outcomes", {"since": "yesterday"}, 422),
        ("/v1/health", {"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422),
        (
            "/v1/outcomes/timeseries",
            {"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z", "bucket": "day"},
            422,
        ),
        ("/v1/outcomes/timeseries", {"bucket": "month"}, 422),
    ],
)
def test_bad_windows_get_problem_details(
    api: Api, path: str, params: dict[str, str], status: int
) -> None:
    answer = api.get(path, params=params)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"]


def test_a_two_year_weekly_trend_is_allowed(api: Api) -> None:
    params = {"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z", "bucket": "week"}
    answer = api.get("/v1/outcomes/timeseries", params=params)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["points"]) == 105


def test_runs_are_found_by_their_ticket_id(api: Api, platform: Platform) -> None:
    write(platform, [run(at(2), trigger={"ticket_id": "T-4711"}), run(at(3))])
    found = api.get("/v1/runs", params={"trigger_id": "T-4711"}).json()["items"]
    assert len(found) == 1
    assert api.get("/v1/runs", params={"trigger_id": "T-0000"}).json()["items"] == []
