"""One figure of a benchmark, its budget and the baseline measured in the same run.

Every script under `bench/` prints its own detail and records its budgeted figures with
`record(...)`. `make bench` runs the scripts one after another with `FLIGHTDECK_BENCH_RESULTS`
pointing at a file, then prints all the recorded figures as one table (`bench/summary.py`).
Run alone, a script records nothing and prints its figures as it goes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = "FLIGHTDECK_BENCH_RESULTS"


def percentile(values: Sequence[float], q: float) -> float:
    """The `q` quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Figure:
    """`value` against `budget` (in `unit`); `baseline` is measured in the same run.

    Budgets are either absolute (`budget` in the figure's unit) or relative to the baseline
    (`ratio_budget`: the figure divided by the baseline). `higher_is_better` flips the
    comparison (throughput); `met` is what the table reports."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    budget: float | None = None
    ratio_budget: float | None = None
    higher_is_better: bool = False

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool:
        checks: list[bool] = []
        if self.budget is not None:
            checks.append(
                self.value >= self.budget if self.higher_is_better else self.value <= self.budget
            )
        if self.ratio_budget is not None:
            checks.append(
                self.ratio >= self.ratio_budget
                if self.higher_is_better
                else self.ratio <= self.ratio_budget
            )
        return all(checks)

    def budget_text(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        parts = []
        if self.budget is not None:
            parts.append(f"{sign} {self.budget:g} {self.unit}")
        if self.ratio_budget is not None:
            parts.append(f"{sign} {self.ratio_budget:g}x baseline")
        return ", ".join(parts) or "-"


def record(figure: Figure) -> None:
    """Add the figure to this `make bench` run's results (nothing when run alone)."""
    path = os.environ.get(RESULTS)
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(figure)) + "\n")


def load(path: Path) -> list[Figure]:
    if not path.exists():
        return []
    return [Figure(**json.loads(line)) for line in path.read_text().splitlines() if line]


def table(figures: list[Figure]) -> str:
    header = f"{'figure':<46} {'value':>12}  {'budget':<30} {'baseline':>36} {'ratio':>8}  met"
    lines = [header, "-" * len(header)]
    for f in figures:
        lines.append(
            f"{f.name:<46} {f.value:>9.2f} {f.unit:<2}  {f.budget_text():<30} "
            f"{f.baseline_name[:24]:>24} {f.baseline:>8.2f} {f.unit:<2} {f.ratio:>7.2f}x  "
            f"{'yes' if f.met else 'NO'}"
        )
    return "\n".join(lines)
