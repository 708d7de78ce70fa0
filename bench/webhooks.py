"""Webhook throughput through the API Lambda handler, in process: signature verification and
the idempotent run insert, with Step Functions answered by an in-memory stand-in (its latency
is AWS's, not ours). Baseline: `GET /healthz` through the same handler in the same run.

    .venv/bin/python bench/webhooks.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class StepFunctionsStandIn:
    """Accepts StartExecution like Step Functions, without the network."""

    class exceptions:
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self) -> None:
        self.started: set[str] = set()

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.started.add(kwargs["name"])
        return {"executionArn": kwargs["name"]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    from mangum import Mangum

    from flightdeck import webhooks
    from flightdeck.api.app import create_app
    from flightdeck.local.dev import SAMPLE_TICKET
    from flightdeck.local.emulator import Emulator
    from flightdeck.local.postgres import EmbeddedPostgres
    from flightdeck.local.seed import seed_demo
    from flightdeck.services import Services
    from flightdeck.settings import Settings
    from flightdeck.store.db import connect
    from flightdeck.store.migrate import migrate
    from tests.conftest import free_port, lambda_context, load_event

    asyncio.set_event_loop(asyncio.new_event_loop())
    with tempfile.TemporaryDirectory(prefix="fd-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg").start()
        # Webhook secrets live in Secrets Manager: the emulator's, read once into the cache.
        emulator = Emulator(port=free_port()).start()
        try:
            url = pg.ensure_database("bench")
            with connect(url) as owner:
                migrate(owner)
            settings = Settings(
                database_url=url,
                stage="test",
                aws_endpoint_url=emulator.endpoint_url,
                aws_region=emulator.region,
                # Triggers are sealed as deployed: personal fields through the KMS key.
                trigger_key_id=emulator.kms_key("bench-triggers"),
            )
            svc = Services(settings, pool_size=2)
            stand_in = StepFunctionsStandIn()
            svc.__dict__["sfn"] = stand_in
            with svc.connection() as conn:
                creds = seed_demo(conn, svc.registry, secrets=svc.secrets)
            handler = Mangum(create_app(lambda: svc), lifespan="off")
            context = lambda_context()

            def event(i: int) -> dict[str, Any]:
                body = json.dumps({**SAMPLE_TICKET, "ticket_id": f"W-{i}"})
                e = load_event("apigw_webhook")
                e["headers"].update(
                    webhooks.headers(creds.webhook_secret, f"msg_{uuid.uuid4()}", body.encode())
                )
                e["body"] = body
                return e

            health = load_event("apigw_webhook")
            health.update(httpMethod="GET", path="/healthz", body=None, queryStringParameters=None)
            for i in range(50):  # warm up: pool, compiled routes, prepared paths
                handler(event(-i - 1), context)
                handler(health, context)

            def measure(make: Any) -> tuple[list[float], float]:
                events = [make(i) for i in range(args.requests)]
                times = []
                started = time.perf_counter()
                for e in events:
                    t = time.perf_counter()
                    answer = handler(e, context)
                    times.append((time.perf_counter() - t) * 1000)
                    assert answer["statusCode"] in (200, 202), answer
                return times, args.requests / (time.perf_counter() - started)

            base, base_rate = measure(lambda i: health)
            hooks, rate = measure(event)
            assert len(stand_in.started) == args.requests + 50
            for name, values, per_second in (
                ("webhook (signature + idempotent insert)", hooks, rate),
                ("baseline: GET /healthz", base, base_rate),
            ):
                print(
                    f"{name:<42} {per_second:8.0f}/s  p50 {statistics.median(values):6.2f} ms"
                    f"  p95 {percentile(values, 0.95):6.2f} ms"
                )
            svc.close()
        finally:
            emulator.stop()
            pg.stop()


if __name__ == "__main__":
    main()
