"""The SnapStart hooks of the API, webhook-ingress and node-runner handlers, run as the Lambda
runtime runs them (through `snapshot_restore_py`'s registries) in a fresh process: importing a
handler builds nothing, the warm-up builds and imports without opening a connection, and a
restore drops the process's services and reseeds `random`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, random, sys
import snapshot_restore_py as runtime

import functions.api.handler as api
import functions.node_runner.handler as runner
from flightdeck import services as process, snapstart

heavy = ("fastapi", "langgraph", "psycopg", "psycopg_pool", "boto3", "flightdeck.engine.runner")
report = {
    "imported_at_import": sorted(m for m in heavy if m in sys.modules),
    "before": [f"{f.__module__}.{f.__name__}" for f, _, _ in runtime.get_before_snapshot()],
    "after": [f"{f.__module__}.{f.__name__}" for f, _, _ in runtime.get_after_restore()],
}
for hook, args, kwargs in runtime.get_before_snapshot():
    hook(*args, **kwargs)
report["imported_in_snapshot"] = sorted(
    m for m in (*heavy, "langgraph.checkpoint.postgres") if m in sys.modules
)
report["app_built"] = api._adapter is not None
report["pool_opened"] = "pool" in vars(process.services())
before_restore = process.services()
state = random.getstate()
for hook, args, kwargs in runtime.get_after_restore():
    hook(*args, **kwargs)
report["services_dropped"] = process._services is None
report["app_dropped"] = api._adapter is None
report["random_reseeded"] = random.getstate() != state
report["fresh_services"] = process.services() is not before_restore
event = {
    "resource": "/{proxy+}", "path": "/healthz", "httpMethod": "GET",
    "headers": {"host": "api.example.com"}, "multiValueHeaders": {},
    "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": {"proxy": "healthz"}, "stageVariables": None,
    "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "GET", "path": "/v1/healthz",
                       "stage": "v1", "requestId": "r", "identity": {"sourceIp": "203.0.113.1"}},
    "body": None, "isBase64Encoded": False,
}
from tests.conftest import lambda_context
answer = api.handler(event, lambda_context("flightdeck-api"))
report["healthz_after_restore"] = answer["statusCode"]
print("REPORT", json.dumps(report))
"""


INGRESS_PROBE = """
import json, random, sys
import snapshot_restore_py as runtime

import functions.webhook_ingress.handler as ingress
from flightdeck import services as process

heavy = ("psycopg", "psycopg_pool", "boto3", "flightdeck.engine.intake", "flightdeck.engine.runs",
         "fastapi")
report = {
    "imported_at_import": sorted(m for m in heavy if m in sys.modules),
    "before": [f"{f.__module__}.{f.__name__}" for f, _, _ in runtime.get_before_snapshot()],
    "after": [f"{f.__module__}.{f.__name__}" for f, _, _ in runtime.get_after_restore()],
}
for hook, args, kwargs in runtime.get_before_snapshot():
    hook(*args, **kwargs)
report["imported_in_snapshot"] = sorted(m for m in heavy if m in sys.modules)
report["pool_opened"] = "pool" in vars(process.services())
state = random.getstate()
for hook, args, kwargs in runtime.get_after_restore():
    hook(*args, **kwargs)
report["services_dropped"] = process._services is None
report["random_reseeded"] = random.getstate() != state
# A delivery without its tenant is refused before any database work.
event = {
    "resource": "/v1/webhooks/{workflow}", "path": "/v1/webhooks/support_triage",
    "httpMethod": "POST", "headers": {"content-type": "application/json"},
    "queryStringParameters": None, "pathParameters": {"workflow": "support_triage"},
    "requestContext": {"requestId": "r"}, "body": "{}", "isBase64Encoded": False,
}
from tests.conftest import lambda_context
answer = ingress.handler(event, lambda_context("flightdeck-webhook-ingress"))
report["answer_after_restore"] = answer["statusCode"]
print("REPORT", json.dumps(report))
"""


def run_probe(probe: str = PROBE) -> dict[str, object]:
    env = {
        **os.environ,
        # Settings as deployed name a database; nothing here connects to it.
        "FLIGHTDECK_DATABASE_URL": "postgresql://flightdeck@127.0.0.1:9/flightdeck",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("REPORT ")]
    report: dict[str, object] = json.loads(line.removeprefix("REPORT "))
    return report


def test_snapstart_hooks_build_before_the_snapshot_and_forget_after_a_restore() -> None:
    report = run_probe()

    # Given both handlers imported, nothing heavy is loaded yet and each registered its hooks.
    assert report["imported_at_import"] == []
    assert report["before"] == [
        "functions.api.handler.warm_up",
        "functions.node_runner.handler.warm_up",
    ]
    assert report["after"] == [
        "functions.api.handler.forget_app",
        "flightdeck.snapstart.after_restore",
    ]

    # When the runtime takes the snapshot, then the app, the engine and LangGraph are in it,
    # and no database connection was opened.
    assert report["app_built"] is True
    assert report["imported_in_snapshot"] == [
        "boto3",
        "fastapi",
        "flightdeck.engine.runner",
        "langgraph",
        "langgraph.checkpoint.postgres",
        "psycopg",
        "psycopg_pool",
    ]
    assert report["pool_opened"] is False

    # When an environment is restored, then its services (and the app on them) are built
    # anew, `random` draws its own numbers, and the API answers.
    assert report["services_dropped"] is True
    assert report["app_dropped"] is True
    assert report["fresh_services"] is True
    assert report["random_reseeded"] is True
    assert report["healthz_after_restore"] == 200


def test_the_webhook_ingress_warms_up_its_intake_before_the_snapshot() -> None:
    report = run_probe(INGRESS_PROBE)

    # Given the ingress handler imported, nothing heavy is loaded and it registered its hooks.
    assert report["imported_at_import"] == []
    assert report["before"] == ["functions.webhook_ingress.handler.warm_up"]
    assert report["after"] == ["flightdeck.snapstart.after_restore"]

    # When the runtime takes the snapshot, then the intake and its drivers are in it (FastAPI
    # is not: the ingress answers without it), and no database connection was opened.
    assert report["imported_in_snapshot"] == [
        "boto3",
        "flightdeck.engine.intake",
        "flightdeck.engine.runs",
        "psycopg",
        "psycopg_pool",
    ]
    assert report["pool_opened"] is False

    # When an environment is restored, then its services are built anew, `random` draws its
    # own numbers, and the ingress answers.
    assert report["services_dropped"] is True
    assert report["random_reseeded"] is True
    assert report["answer_after_restore"] == 422
