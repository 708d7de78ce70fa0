"""`make bench`: every benchmark, one after another, then one table of the budgeted figures.

    .venv/bin/python bench/summary.py                      # all of them
    .venv/bin/python bench/summary.py webhooks run          # some of them (file names)

Each benchmark runs in its own interpreter (cold-start figures need fresh ones, and one
benchmark's caches must not help the next) and prints its own detail as it goes; the figures
it records (`bench/figures.py`) are gathered into the table at the end: each figure, its
budget, the baseline measured in the same run, their ratio, and whether the budget holds.
A benchmark that fails is reported as such; the others still run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures import RESULTS, load, table  # noqa: E402 - after the path it is found on

# Quickest first: the figures most often wanted are on screen early.
BENCHMARKS = ("cold_start", "webhooks", "run", "telemetry", "million_runs", "retrieval")


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fd-bench-results-") as tmp:
        results = Path(tmp) / "figures.jsonl"
        env = {**os.environ, RESULTS: str(results)}
        for name in chosen:
            script = ROOT / "bench" / f"{name}.py"
            print(f"\n=== bench/{name}.py", flush=True)
            began = time.perf_counter()
            code = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env).returncode
            print(f"=== bench/{name}.py: {time.perf_counter() - began:.0f} s", flush=True)
            if code:
                failed.append(f"bench/{name}.py (exit {code})")
        figures = load(results)
    load_average = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nsummary ({os.cpu_count()} cores, load average {load_average}):\n")
    print(table(figures))
    missed = [f.name for f in figures if not f.met]
    print(f"\n{len(figures) - len(missed)} of {len(figures)} budgets hold", end="")
    print(f"; missed: {', '.join(missed)}" if missed else "")
    for failure in failed:
        print(f"FAILED: {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
