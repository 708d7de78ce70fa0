"""`GET /metrics` of the local stack: runs in a known state give exact figures in the scrape,
parsed with prometheus_client's own text parser; the route exists only in the local app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from flightdeck import metrics, webhooks
from flightdeck.api.app import create_app
from flightdeck.engine.stores import MODEL_USED
from flightdeck.local import prometheus
from flightdeck.local.history import PastNode, PastRun, record
from flightdeck.store import runs
from tests.conftest import Platform, open_waiting_approval

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = "support_triage"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def past(status: Any, nodes: list[PastNode]) -> PastRun:
    return PastRun(
        workflow=WORKFLOW,
        workflow_version="1.0.0",
        created_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        status=status,
        trigger={"ticket_id": f"T-{uuid.uuid4().hex[:6]}"},
        nodes=nodes,
    )


# Succeeded after one retry of decide; failed in retrieve after two retries; cancelled after plan.
HISTORY = [
    past(
        "succeeded",
        [
            PastNode("plan", 100),
            PastNode("retrieve", 50),
            PastNode("decide", 200, retries=1),
            PastNode("act", 30),
            PastNode("reflect", 20),
        ],
    ),
    past("failed", [PastNode("plan", 300), PastNode("retrieve", 50, retries=2, failed=True)]),
    past("cancelled", [PastNode("plan", 2000)]),
]


def usage(kind: str, model: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "task": "test",
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }


def seed(platform: Platform) -> None:
    """The history above, token usage on two of its runs, one run waiting ten minutes for a
    person, and the cost ledger's rows of one run."""
    tenant = platform.tenant_id
    with platform.services.tenant(tenant) as conn:
        ids = [record(conn, tenant, run) for run in HISTORY]
        for run_id, data in [
            (ids[0], usage("chat", "offline-chat", 120, 30)),
            (ids[0], usage("embedding", "offline-embed", 8, 0)),
            (ids[1], usage("chat", "offline-chat", 80, 20)),
        ]:
            runs.append_event(
                conn, run_id=run_id, tenant_id=tenant, type=MODEL_USED, node="decide", data=data
            )
        open_waiting_approval(conn, tenant, age=timedelta(minutes=10), workflow=WORKFLOW)
        # Two ledger rows of the succeeded run (prices in dollars, as the ledger keeps them).
        for model, lambda_, transitions, api in [
            ("0.0012", "0.0000166667", "0.000025", "0.0000035"),
            ("0.0003", "0.0000333334", "0.000050", "0"),
        ]:
            conn.execute(
                "INSERT INTO cost_entries (tenant_id, run_id, workflow, node, model_usd,"
                " lambda_usd, stepfunctions_usd, api_usd, prices_as_of)"
                " VALUES (%s, %s, %s, 'decide', %s, %s, %s, %s, '2026-11-01')",
                (tenant, ids[0], WORKFLOW, model, lambda_, transitions, api),
            )


@pytest.fixture
def local(platform: Platform) -> Iterator[TestClient]:
    """The app as `make dev` serves it."""
    app = create_app()
    prometheus.mount(app)
    with TestClient(app) as client:
        yield client


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_the_scrape_gives_the_known_runs_exact_figures(
    local: TestClient, platform: Platform
) -> None:
    seed(platform)
    samples = scrape(local)

    assert value(samples, "flightdeck_runs_started_total", workflow=WORKFLOW) == 4
    for status in ("succeeded", "failed", "cancelled"):
        assert (
            value(samples, "flightdeck_runs_finished_total", workflow=WORKFLOW, status=status) == 1
        )
    # A workflow nobody ran is there, at zero; and it has finished nothing.
    assert value(samples, "flightdeck_runs_started_total", workflow="nightly_digest") == 0
    assert not [k for k in samples if k[0] == "flightdeck_runs_finished_total"
                and ("workflow", "nightly_digest") in k[1]]  # fmt: skip

    # plan ran 100 ms, 300 ms and 2 s.
    plan = {"workflow": WORKFLOW, "node": "plan"}
    buckets = {
        "0.05": 0, "0.1": 1, "0.25": 1, "0.5": 2, "1.0": 2, "2.5": 3, "120.0": 3, "+Inf": 3,
    }  # fmt: skip
    for le, n in buckets.items():
        assert value(samples, "flightdeck_node_duration_seconds_bucket", **plan, le=le) == n, le
    assert value(samples, "flightdeck_node_duration_seconds_count", **plan) == 3
    assert value(samples, "flightdeck_node_duration_seconds_sum", **plan) == pytest.approx(2.4)
    # retrieve: 50 ms once, then three failed attempts of 50 ms; decide: a failure, a success.
    retrieve = {"workflow": WORKFLOW, "node": "retrieve"}
    assert value(samples, "flightdeck_node_duration_seconds_count", **retrieve) == 4
    assert value(samples, "flightdeck_node_duration_seconds_sum", **retrieve) == pytest.approx(0.2)
    decide = {"workflow": WORKFLOW, "node": "decide"}
    assert value(samples, "flightdeck_node_duration_seconds_count", **decide) == 2
    assert value(samples, "flightdeck_node_retries_total", **retrieve) == 2
    assert value(samples, "flightdeck_node_retries_total", **decide) == 1
    assert ("flightdeck_node_retries_total", frozenset(plan.items())) not in samples

    assert value(samples, "flightdeck_approvals_pending", workflow=WORKFLOW) == 1
    age = value(samples, "flightdeck_oldest_pending_approval_age_seconds", workflow=WORKFLOW)
    assert 600 <= age < 660
    assert value(samples, "flightdeck_approvals_pending", workflow="nightly_digest") == 0

    chat = {"workflow": WORKFLOW, "kind": "chat", "model": "offline-chat"}
    embed = {"workflow": WORKFLOW, "kind": "embedding", "model": "offline-embed"}
    assert value(samples, "flightdeck_model_tokens_total", **chat, direction="input") == 200
    assert value(samples, "flightdeck_model_tokens_total", **chat, direction="output") == 50
    assert value(samples, "flightdeck_model_tokens_total", **embed, direction="input") == 8
    assert value(samples, "flightdeck_model_tokens_total", **embed, direction="output") == 0

    def cost(component: str) -> float:
        return value(samples, "flightdeck_cost_usd_total", workflow=WORKFLOW, component=component)

    assert cost("model") == pytest.approx(0.0015, abs=1e-12)
    assert cost("lambda") == pytest.approx(0.0000500001, abs=1e-12)
    assert cost("stepfunctions") == pytest.approx(0.000075, abs=1e-12)
    assert cost("api") == pytest.approx(0.0000035, abs=1e-12)


def test_counters_grow_as_runs_are_recorded(local: TestClient, platform: Platform) -> None:
    seed(platform)
    before = scrape(local)
    with platform.services.tenant(platform.tenant_id) as conn:
        record(conn, platform.tenant_id, past("failed", [PastNode("plan", 10, failed=True)]))
    after = scrape(local)
    failed = {"workflow": WORKFLOW, "status": "failed"}
    assert value(after, "flightdeck_runs_finished_total", **failed) == 2
    assert value(before, "flightdeck_runs_finished_total", **failed) == 1
    assert value(after, "flightdeck_runs_started_total", workflow=WORKFLOW) == 5


def test_webhook_verification_failures_are_counted_by_reason(
    local: TestClient, platform: Platform
) -> None:
    def failures(reason: str) -> float:
        labels = frozenset({"workflow": WORKFLOW, "reason": reason}.items())
        return scrape(local).get(("flightdeck_webhook_verification_failures_total", labels), 0)

    invalid, unknown = failures(metrics.INVALID_SIGNATURE), failures(metrics.UNKNOWN_TENANT)
    body = json.dumps({"ticket_id": "T-1", "subject": "s", "body": "b"}).encode()
    wrong = webhooks.headers("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", "msg_bad", body)
    for tenant in ("demo", "demo", "nobody"):
        answer = local.post(
            f"/v1/webhooks/{WORKFLOW}",
            params={"tenant": tenant},
            content=body,
            headers={**wrong, "content-type": "application/json"},
        )
        assert answer.status_code == 401, answer.text
    assert failures(metrics.INVALID_SIGNATURE) == invalid + 2
    assert failures(metrics.UNKNOWN_TENANT) == unknown + 1


def test_metrics_is_served_locally_only_and_not_in_the_contract(
    local: TestClient, platform: Platform
) -> None:
    # The Lambda's app (functions/api) is create_app() alone: no /metrics there.
    with TestClient(create_app()) as lambda_app:
        assert lambda_app.get("/metrics").status_code == 404
    assert local.get("/metrics").status_code == 200
    assert prometheus.PATH not in local.app.openapi()["paths"]  # type: ignore[attr-defined]
    contract = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert prometheus.PATH not in contract["paths"]


def test_every_catalogue_metric_is_exposed(local: TestClient, platform: Platform) -> None:
    seed(platform)
    families = {
        f.name for f in text_string_to_metric_families(local.get("/metrics").text) if f.samples
    }
    # The webhook counter has samples once a delivery was refused in this process.
    local.post(f"/v1/webhooks/{WORKFLOW}", params={"tenant": "nobody"}, content=b"{}")
    families |= {
        f.name for f in text_string_to_metric_families(local.get("/metrics").text) if f.samples
    }
    assert families >= {m.prometheus for m in metrics.CATALOGUE}
