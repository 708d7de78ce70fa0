"""The Grafana dashboard and the Prometheus scrape config in docs/observability/: valid, and
querying only metrics the local exporter emits."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightdeck import metrics
from flightdeck.local import prometheus

DOCS = Path(__file__).resolve().parents[2] / "docs" / "observability"
DASHBOARD = DOCS / "grafana" / "flightdeck.json"
METRIC = re.compile(r"\bflightdeck_[a-z0-9_]+")


def queries(dashboard: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [v["definition"] for v in dashboard["templating"]["list"] if v.get("type") == "query"]
    return found


def test_the_dashboard_queries_only_metrics_the_exporter_emits() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    emitted = {name for m in metrics.CATALOGUE for name in m.samples}
    queried = {name for q in queries(dashboard) for name in METRIC.findall(q)}
    assert queried, "the dashboard queries nothing"
    assert queried <= emitted, queried - emitted


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = " ".join(queries(dashboard))
    for metric in (
        metrics.RUNS_STARTED,
        metrics.RUNS_FINISHED,
        metrics.NODE_DURATION,
        metrics.NODE_RETRIES,
        metrics.APPROVALS_PENDING,
        metrics.OLDEST_PENDING_APPROVAL_AGE,
        metrics.WEBHOOK_VERIFICATION_FAILURES,
        metrics.MODEL_TOKENS,
        metrics.COST,
    ):
        assert metric.prometheus in exprs, metric.name
    assert "histogram_quantile(0.5," in exprs
    assert "histogram_quantile(0.95," in exprs


def test_the_dashboard_is_importable() -> None:
    # Grafana needs a uid, a title, panels with unique ids inside the 24-column grid, and a
    # data source it can bind on import or provisioning (the `datasource` variable).
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_the_scrape_config_scrapes_the_dev_api_where_metrics_is_mounted() -> None:
    config = yaml.safe_load((DOCS / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == prometheus.PATH
    assert job["static_configs"] == [{"targets": ["127.0.0.1:8000"]}]


def test_the_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    provisioning = DOCS / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "flightdeck.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "flightdeck.yml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus)")
def test_promtool_accepts_the_scrape_config() -> None:
    checked = subprocess.run(
        ["promtool", "check", "config", str(DOCS / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
