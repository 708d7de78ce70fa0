"""Cold start of the API and node-runner Lambda handlers, each in a fresh interpreter.

    .venv/bin/python bench/cold_start.py [--repeat N] [--detail]

Every sample is a new Python process timing, with `time.perf_counter`, what Lambda's init
phase and first invocation pay (interpreter start-up is the same for every subject and left
out). Columns:

- **import**: importing the handler module (DESIGN's cold-start proxy);
- **+ GET /healthz**: the import, then the first request through the handler with an API
  Gateway REST event (the app is built, the middleware runs, Mangum shapes the answer);
- **+ warm-up**: the import and the SnapStart before-snapshot hook (`warm_up` in the handler
  module): what the snapshot holds, i.e. what the first invocation pays without SnapStart;
- **restored: GET**: after the warm-up, the after-restore hook, then the first request: what a
  cold start restored from the snapshot pays in the handler.

Subjects and the baselines measured in the same run, interleaved so that a noisy neighbour
hits every subject alike:

- `bare fastapi+mangum`: `fastapi` and `mangum` imported, a one-route app built and wrapped
  in `Mangum` (the baseline of the API handler: what any FastAPI-on-Lambda function pays);
- `functions.api.handler`: import budget 1.3x the baseline's, and 150 ms (DESIGN);
- `langgraph floor`: `langgraph.graph` and LangGraph's Postgres checkpointer imported: what
  the node runner cannot avoid before it runs its first node (its baseline);
- `functions.node_runner.handler`: import budget 250 ms (DESIGN).

Outside Lambda, Powertools' tracer is inert and not built, so the X-Ray SDK (loaded by the
first traced invocation on Lambda, or before the snapshot) is in none of these figures.
`--detail` prints, per handler, the modules with the largest cumulative import time
(`python -X importtime`) from one extra process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures import Figure, percentile, record  # noqa: E402

API_BUDGET_MS = 150.0
API_RATIO_BUDGET = 1.3
RUNNER_BUDGET_MS = 250.0

# `GET /healthz` as API Gateway (REST, proxy integration) hands it to the function.
HEALTHZ_EVENT = {
    "resource": "/{proxy+}",
    "path": "/healthz",
    "httpMethod": "GET",
    "headers": {"accept": "application/json", "host": "api.example.com"},
    "multiValueHeaders": {},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": {"proxy": "healthz"},
    "stageVariables": None,
    "requestContext": {
        "resourcePath": "/{proxy+}",
        "httpMethod": "GET",
        "path": "/v1/healthz",
        "stage": "v1",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "identity": {"sourceIp": "203.0.113.10", "userAgent": "bench"},
        "accountId": "123456789012",
        "apiId": "abc123",
    },
    "body": None,
    "isBase64Encoded": False,
}

# Run in the child process. `first`: the import, then the first request. `snap`: the import and
# the SnapStart warm-up (what the snapshot holds), then the after-restore hook and the first
# request (what a restored environment pays).
_CHILD = """
import json, time
class Context:
    function_name = "flightdeck-bench"
    function_version = "1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:flightdeck-bench"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/flightdeck-bench"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 30000
def check(answer):
    if answer is not None:
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"])["status"] == "ok", answer
event = json.loads({event!r})
started = time.perf_counter()
{import_}
imported = time.perf_counter()
if {snap!r}:
    warm_up()
    warmed = time.perf_counter()
    from flightdeck import snapstart
    snapstart.after_restore()
    restored = time.perf_counter()
    check({call})
    print("COLD", json.dumps([(warmed - started) * 1000, (time.perf_counter() - restored) * 1000]))
else:
    check({call})
    print("COLD", json.dumps([(imported - started) * 1000, (time.perf_counter() - started) * 1000]))
"""

BARE_APP = """
from fastapi import FastAPI
from mangum import Mangum
app = FastAPI()
@app.get("/healthz")
def health():
    return {"status": "ok", "version": "0"}
handler = Mangum(app, lifespan="off")
"""

HEALTHZ = "handler(event, Context())"


@dataclass(frozen=True)
class Subject:
    name: str
    import_: str
    # The first request (None: the subject serves none) and whether the subject has a
    # SnapStart warm-up (`warm_up` in the imported module).
    call: str | None = None
    snapstart: bool = False


SUBJECTS = (
    Subject("bare fastapi+mangum", BARE_APP, HEALTHZ),
    Subject(
        "functions.api.handler",
        "from functions.api.handler import handler, warm_up",
        HEALTHZ,
        snapstart=True,
    ),
    Subject("langgraph floor", "import langgraph.graph\nimport langgraph.checkpoint.postgres"),
    Subject(
        "functions.node_runner.handler",
        "from functions.node_runner.handler import handler, warm_up",
        snapstart=True,
    ),
)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # As deployed: the database named (never connected to by these samples).
    env.setdefault("FLIGHTDECK_DATABASE_URL", "postgresql://flightdeck@127.0.0.1:9/flightdeck")
    return env


def sample(subject: Subject, *, snap: bool) -> tuple[float, float]:
    """One fresh process: (import, import + first request) or, with `snap`, (import + warm-up,
    first request after the restore hook)."""
    code = _CHILD.format(
        event=json.dumps(HEALTHZ_EVENT),
        import_=subject.import_.strip(),
        call=subject.call or "None",
        snap=snap,
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("COLD ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{subject.name}: the child failed\n{out.stdout}\n{out.stderr}")
    first, second = json.loads(lines[-1][len("COLD ") :])
    return first, second


def detail(module: str, top: int = 15) -> None:
    """The modules with the largest cumulative import time under `module`."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[int, str]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _self, cumulative_us, name = line[len("import time:") :].split("|")
        rows.append((int(cumulative_us), name.rstrip()))
    print(f"\n  largest cumulative imports under {module} (-X importtime, one process):")
    for microseconds, module_name in sorted(rows, reverse=True)[:top]:
        print(f"    {microseconds / 1000:8.1f} ms  {module_name}")


@dataclass
class Samples:
    imported: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    warmed: list[float] = field(default_factory=list)
    restored: list[float] = field(default_factory=list)


def p50(values: list[float]) -> float:
    return statistics.median(values)


def cell(values: list[float]) -> str:
    if not values:
        return f"{'-':>9} {'-':>7}"
    return f"{p50(values):>9.1f} {percentile(values, 0.95):>7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--detail", action="store_true")
    args = parser.parse_args()

    runs = [(s, False) for s in SUBJECTS] + [(s, True) for s in SUBJECTS if s.snapstart]
    for subject, snap in runs:  # one unmeasured round: bytecode written, files in page cache
        sample(subject, snap=snap)
    samples = {s.name: Samples() for s in SUBJECTS}
    for _ in range(args.repeat):
        for subject, snap in runs:  # interleaved: a noisy neighbour hits every subject alike
            first, second = sample(subject, snap=snap)
            into = samples[subject.name]
            if snap:
                into.warmed.append(first)
                if subject.call:
                    into.restored.append(second)
            else:
                into.imported.append(first)
                if subject.call:
                    into.first.append(second)

    print(f"cold start, a fresh interpreter per sample, {args.repeat} samples each: p50 p95 (ms)")
    print(
        f"{'subject':<31} {'import':>17} {'+ GET /healthz':>17} {'+ warm-up':>17} "
        f"{'restored: GET':>17}"
    )
    for subject in SUBJECTS:
        got = samples[subject.name]
        print(
            f"{subject.name:<31} {cell(got.imported)} {cell(got.first)} {cell(got.warmed)} "
            f"{cell(got.restored)}"
        )
    print(
        "  import: the handler module alone; + GET /healthz: then the first request through\n"
        "  the handler (API Gateway REST event); + warm-up: the import and the SnapStart\n"
        "  before-snapshot hook (what the snapshot holds); restored: the first request after\n"
        "  the after-restore hook (what a cold start restored from the snapshot pays)."
    )

    bare, api = samples["bare fastapi+mangum"], samples["functions.api.handler"]
    floor, runner = samples["langgraph floor"], samples["functions.node_runner.handler"]
    print(
        f"\nAPI handler import: {p50(api.imported):.1f} ms, "
        f"{p50(api.imported) / p50(bare.imported):.2f}x the bare app's "
        f"(budget {API_RATIO_BUDGET:g}x and {API_BUDGET_MS:g} ms)"
    )
    print(
        f"API handler import + first GET /healthz: {p50(api.first):.1f} ms, "
        f"{p50(api.first) / p50(bare.first):.2f}x the bare app's (no budget: printed here, "
        "not recorded for the table)"
    )
    print(
        f"node-runner import: {p50(runner.imported):.1f} ms (budget {RUNNER_BUDGET_MS:g} ms); "
        f"with its warm-up (the engine, LangGraph, the graphs): {p50(runner.warmed):.1f} ms, "
        f"against the langgraph floor {p50(floor.imported):.1f} ms"
    )

    record(
        Figure(
            name="cold start: API handler import",
            value=p50(api.imported),
            unit="ms",
            baseline_name="bare fastapi+mangum",
            baseline=p50(bare.imported),
            budget=API_BUDGET_MS,
            ratio_budget=API_RATIO_BUDGET,
        )
    )
    record(
        Figure(
            name="cold start: node-runner import",
            value=p50(runner.imported),
            unit="ms",
            baseline_name="langgraph floor",
            baseline=p50(floor.imported),
            budget=RUNNER_BUDGET_MS,
        )
    )
    if args.detail:
        detail("functions.api.handler")
        detail("functions.node_runner.handler")


if __name__ == "__main__":
    main()
