"""The retry schedule of outbound callbacks: capped exponential backoff with full jitter."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flightdeck.engine.callbacks import RetryPolicy

POLICY = RetryPolicy()


def test_the_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    ceilings = [POLICY.ceiling(n) for n in range(1, 14)]

    assert ceilings[:4] == [30.0, 60.0, 120.0, 240.0]
    assert all(a <= b for a, b in itertools.pairwise(ceilings))
    assert max(ceilings) == POLICY.cap_seconds == 6 * 3600
    # Far past the cap (a redelivered or very old row) it stays capped, without overflow
    assert POLICY.ceiling(10_000) == POLICY.cap_seconds


def test_the_jitter_spans_from_the_minimum_to_the_ceiling() -> None:
    assert POLICY.delay(3, lambda: 0.0) == POLICY.min_delay_seconds
    assert POLICY.delay(3, lambda: 0.5) == 60.0
    assert POLICY.delay(3, lambda: 0.999999) == pytest.approx(120.0, rel=1e-5)


@given(attempts=st.integers(min_value=1, max_value=200), draw=st.floats(0.0, 1.0, exclude_max=True))
def test_every_delay_is_within_its_bounds(attempts: int, draw: float) -> None:
    delay = POLICY.delay(attempts, lambda: draw)

    assert POLICY.min_delay_seconds <= delay <= POLICY.ceiling(attempts) <= POLICY.cap_seconds


def test_a_delivery_is_given_up_within_a_day_of_retries() -> None:
    # The longest a delivery can stay pending: every retry waits its whole ceiling
    worst = sum(POLICY.ceiling(n) for n in range(1, POLICY.max_attempts))

    assert 12 * 3600 < worst < 24 * 3600


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_seconds": 0},
        {"min_delay_seconds": 0},
        {"base_seconds": 60, "cap_seconds": 30},
        {"max_attempts": 0},
        {"lease_seconds": 5, "timeout_seconds": 10},
    ],
)
def test_an_impossible_policy_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"retry policy|lease"):
        RetryPolicy(**kwargs)
