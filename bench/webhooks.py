"""Webhook throughput through the Lambda handler, in process: signature verification and the
idempotent run insert (personal fields sealed under the emulator's KMS key, the run's spans and
cost row recorded), with Step Functions answered by an in-memory stand-in (its latency is AWS's,
not ours). Both doors of `POST /v1/webhooks/{workflow}` are measured: the dedicated ingress
function API Gateway invokes for it on AWS (`functions/webhook_ingress`, the budgeted figure)
and the FastAPI route through Mangum (what the API function would do without it).
Baseline: `GET /healthz` through the API's handler (FastAPI through Mangum) in the same run.

The CloudWatch metrics a webhook writes (EMF lines on stdout) are captured, not switched off:
their cost is part of the path, and the count shows one `RunsStarted` per run.

    .venv/bin/python bench/webhooks.py [--requests N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from bench.figures import Figure, percentile, record  # noqa: E402

THROUGHPUT_BUDGET = 1000.0  # deliveries per second (DESIGN)
THROUGHPUT_RATIO = 0.6  # of the /healthz baseline (issue 10)
P95_BUDGET_MS = 3.0


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


class LineCount(io.TextIOBase):
    """Where the EMF lines go while measuring: counted, not printed."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the webhooks and print the top functions"
    )
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
    from functions.webhook_ingress.handler import answer as ingress
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
            template = load_event("apigw_webhook")

            def event(i: int) -> dict[str, Any]:
                body = json.dumps({**SAMPLE_TICKET, "ticket_id": f"W-{i}"})
                e = {**template, "headers": dict(template["headers"]), "body": body}
                e["headers"].update(
                    webhooks.headers(creds.webhook_secret, f"msg_{uuid.uuid4()}", body.encode())
                )
                return e

            health = {
                **template,
                "httpMethod": "GET",
                "path": "/healthz",
                "body": None,
                "queryStringParameters": None,
                "multiValueQueryStringParameters": None,
            }
            emf = LineCount()
            with contextlib.redirect_stdout(emf):
                for i in range(50):  # warm up: pool, compiled routes, caches, KMS data key
                    handler(event(-i - 1), context)
                    ingress(event(-i - 1000), svc)
                    handler(health, context)
            emf.lines = 0

            def through_api(e: dict[str, Any]) -> dict[str, Any]:
                return dict(handler(e, context))

            def through_ingress(e: dict[str, Any]) -> dict[str, Any]:
                return ingress(e, svc)

            def measure(
                make: Callable[[int], dict[str, Any]],
                door: Callable[[dict[str, Any]], dict[str, Any]] = through_api,
            ) -> tuple[list[float], float]:
                events = [make(i) for i in range(args.requests)]
                times = []
                with contextlib.redirect_stdout(emf):
                    started = time.perf_counter()
                    for e in events:
                        t = time.perf_counter()
                        answer = door(e)
                        times.append((time.perf_counter() - t) * 1000)
                        assert answer["statusCode"] in (200, 202), answer
                    elapsed = time.perf_counter() - started
                return times, args.requests / elapsed

            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
                measure(lambda i: event(i + 10_000_000), through_ingress)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
                return

            # The three sides take turns request by request, so that load from other processes
            # (a shared machine) falls on each alike; a side's rate is its requests over the
            # time they took.
            sides: dict[str, tuple[Callable[[int], dict[str, Any]], Any]] = {
                "health": (lambda i: health, through_api),
                "ingress": (lambda i: event(i + 10_000_000), through_ingress),
                "route": (event, through_api),
            }
            prepared = {
                k: [make(i) for i in range(args.requests)] for k, (make, _) in sides.items()
            }
            times: dict[str, list[float]] = {k: [] for k in sides}
            floor: list[float] = []
            # What the disk allows: one durable single-row INSERT (its commit waits for the WAL
            # flush, as a webhook's run insert does), on the same database, taking turns too.
            with connect(url) as owner, contextlib.redirect_stdout(emf):
                owner.execute("CREATE TABLE IF NOT EXISTS bench_commit (id uuid PRIMARY KEY)")
                for i in range(args.requests):
                    for key, (_, door) in sides.items():
                        t = time.perf_counter()
                        answer = door(prepared[key][i])
                        times[key].append((time.perf_counter() - t) * 1000)
                        assert answer["statusCode"] in (200, 202), answer
                    t = time.perf_counter()
                    owner.execute("INSERT INTO bench_commit VALUES (%s)", (uuid.uuid4(),))
                    floor.append((time.perf_counter() - t) * 1000)
            base, hooks, routed = times["health"], times["ingress"], times["route"]
            base_rate, rate, routed_rate = (1000 * len(v) / sum(v) for v in (base, hooks, routed))
            assert len(stand_in.started) == 2 * args.requests + 100
            with svc.connection() as conn:
                conn.execute(
                    "SELECT set_config('app.tenant_ids', %s, false)", (str(creds.tenant_id),)
                )
                runs_stored = conn.execute("SELECT count(*) AS n FROM runs").fetchone()["n"]
                costed = conn.execute(
                    "SELECT count(DISTINCT run_id) AS n FROM cost_entries"
                ).fetchone()["n"]
            for name, values, per_second in (
                ("webhook, ingress function (budgeted)", hooks, rate),
                ("webhook, FastAPI route through Mangum", routed, routed_rate),
                ("baseline: GET /healthz (FastAPI, Mangum)", base, base_rate),
            ):
                print(
                    f"{name:<42} {per_second:8.0f}/s  p50 {statistics.median(values):6.2f} ms"
                    f"  p95 {percentile(values, 0.95):6.2f} ms"
                )
            print(
                f"{'floor: one durable INSERT, no webhook':<42} {'':>10}  p50"
                f" {statistics.median(floor):6.2f} ms  p95 {percentile(floor, 0.95):6.2f} ms"
            )
            print(
                f"ratio to the baseline: ingress {rate / base_rate:.2f}x, FastAPI route"
                f" {routed_rate / base_rate:.2f}x (budget >= {THROUGHPUT_RATIO}x,"
                f" >= {THROUGHPUT_BUDGET:g}/s, p95 <= {P95_BUDGET_MS:g} ms)\nruns stored"
                f" {runs_stored}, with a cost row {costed}; EMF lines captured {emf.lines};"
                f" load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
            )
            record(
                Figure(
                    name="webhook throughput",
                    value=rate,
                    unit="/s",
                    baseline_name="GET /healthz",
                    baseline=base_rate,
                    budget=THROUGHPUT_BUDGET,
                    ratio_budget=THROUGHPUT_RATIO,
                    higher_is_better=True,
                )
            )
            record(
                Figure(
                    name="webhook p95",
                    value=percentile(hooks, 0.95),
                    unit="ms",
                    baseline_name="GET /healthz p95",
                    baseline=percentile(base, 0.95),
                    budget=P95_BUDGET_MS,
                )
            )
            svc.close()
        finally:
            emulator.stop()
            pg.stop()


if __name__ == "__main__":
    main()
