"""What an execution costs, from the price table in `flightdeck/prices.json`.

Figures are `Decimal` dollars, never floats, so a ledger summed over a month is exact to the
cent. A node execution is priced as: its model tokens, one node-runner Lambda invocation (its
request and the measured duration x the function's configured memory), and the Step Functions
state transitions it caused; the API request that starts a run as one API Gateway request and
one API Lambda invocation. Storage is priced per tenant and month when the ledger is read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1_000)
GIB = Decimal(1024)
BYTES_PER_GB = Decimal(1024**3)
# A cross-region inference profile (us.anthropic…) is priced as its model.
_PROFILE_PREFIX = re.compile(r"^(us|eu|apac|us-gov|global)\.")


@dataclass(frozen=True)
class ModelPrice:
    provider: str
    input_per_million: Decimal
    output_per_million: Decimal


@dataclass(frozen=True)
class Prices:
    """One region's list prices on one date (see `prices.json` for their sources)."""

    region: str
    as_of: date
    lambda_gb_second: Decimal
    lambda_per_million_requests: Decimal
    transitions_per_thousand: Decimal
    api_per_million_requests: Decimal
    s3_gb_month: Decimal
    rds_gb_month: Decimal
    models: dict[str, ModelPrice] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prices:
        models = {
            model: ModelPrice(
                provider,
                Decimal(entry["input_usd_per_million_tokens"]),
                Decimal(entry["output_usd_per_million_tokens"]),
            )
            for provider, listed in data["models"].items()
            for model, entry in listed.items()
        }
        return cls(
            region=data["region"],
            as_of=date.fromisoformat(data["as_of"]),
            lambda_gb_second=Decimal(data["lambda"]["usd_per_gb_second"]),
            lambda_per_million_requests=Decimal(data["lambda"]["usd_per_million_requests"]),
            transitions_per_thousand=Decimal(
                data["stepfunctions"]["usd_per_thousand_state_transitions"]
            ),
            api_per_million_requests=Decimal(data["apigateway"]["usd_per_million_requests"]),
            s3_gb_month=Decimal(data["storage"]["s3_usd_per_gb_month"]),
            rds_gb_month=Decimal(data["storage"]["rds_usd_per_gb_month"]),
            models=models,
            sources=dict(data.get("sources", {})),
        )

    def model(self, name: str) -> ModelPrice | None:
        return self.models.get(name) or self.models.get(_PROFILE_PREFIX.sub("", name))

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> Decimal | None:
        """The price of one call's tokens; None for a model the table does not list."""
        price = self.model(model)
        if price is None:
            return None
        return (
            Decimal(input_tokens) * price.input_per_million
            + Decimal(output_tokens) * price.output_per_million
        ) / MILLION

    def lambda_invocation(self, duration_ms: float, memory_mb: int) -> tuple[Decimal, Decimal]:
        """(GB-seconds, dollars) of one invocation: Lambda bills whole milliseconds."""
        billed_ms = Decimal(max(1, math.ceil(duration_ms)))
        gb_seconds = billed_ms / THOUSAND * Decimal(memory_mb) / GIB
        usd = gb_seconds * self.lambda_gb_second + self.lambda_per_million_requests / MILLION
        return gb_seconds, usd

    def transitions(self, count: int) -> Decimal:
        return Decimal(count) * self.transitions_per_thousand / THOUSAND

    def api_requests(self, count: int) -> Decimal:
        return Decimal(count) * self.api_per_million_requests / MILLION

    def storage_month(self, s3_bytes: int, rds_bytes: int) -> tuple[Decimal, Decimal]:
        """(S3, RDS) dollars for keeping these bytes a whole month."""
        return (
            Decimal(s3_bytes) / BYTES_PER_GB * self.s3_gb_month,
            Decimal(rds_bytes) / BYTES_PER_GB * self.rds_gb_month,
        )


@lru_cache(maxsize=1)
def load_prices() -> Prices:
    """The packaged price table, read once per process."""
    text = resources.files("flightdeck").joinpath("prices.json").read_text("utf-8")
    return Prices.from_dict(json.loads(text))


@dataclass(frozen=True)
class Usage:
    """One model call's tokens, as the `model.used` run event records them."""

    model: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class CostEntry:
    """One row of the cost ledger: what one execution cost, by AWS service."""

    input_tokens: int = 0
    output_tokens: int = 0
    unpriced_tokens: int = 0
    model_usd: Decimal = Decimal(0)
    lambda_requests: int = 0
    lambda_gb_seconds: Decimal = Decimal(0)
    lambda_usd: Decimal = Decimal(0)
    state_transitions: int = 0
    stepfunctions_usd: Decimal = Decimal(0)
    api_requests: int = 0
    api_usd: Decimal = Decimal(0)

    @property
    def total_usd(self) -> Decimal:
        return self.model_usd + self.lambda_usd + self.stepfunctions_usd + self.api_usd


def node_transitions(*, entry: bool, attempt: int, outcome: str) -> int:
    """State transitions one node-runner invocation causes in the compiled state machine
    (`flightdeck.engine.compiler.compile_workflow`): its Task state, and once it answers, the
    Choice after it and the state that Choice enters when that is not another node (the
    approval wait, or Succeed); a run's first node also pays the Start choice. A failed
    attempt is its Task state only (retries count as transitions)."""
    count = 1
    if entry and attempt == 0:
        count += 1
    if outcome in ("next", "end", "interrupt"):
        count += 1
    if outcome in ("end", "interrupt"):
        count += 1
    return count


def price_node(
    prices: Prices,
    *,
    usage: list[Usage],
    duration_ms: float,
    memory_mb: int,
    transitions: int,
) -> CostEntry:
    model_usd = Decimal(0)
    unpriced = 0
    for call in usage:
        priced = prices.tokens(call.model, call.input_tokens, call.output_tokens)
        if priced is None:
            unpriced += call.input_tokens + call.output_tokens
        else:
            model_usd += priced
    gb_seconds, lambda_usd = prices.lambda_invocation(duration_ms, memory_mb)
    return CostEntry(
        input_tokens=sum(c.input_tokens for c in usage),
        output_tokens=sum(c.output_tokens for c in usage),
        unpriced_tokens=unpriced,
        model_usd=model_usd,
        lambda_requests=1,
        lambda_gb_seconds=gb_seconds,
        lambda_usd=lambda_usd,
        state_transitions=transitions,
        stepfunctions_usd=prices.transitions(transitions),
    )


def price_api_request(
    prices: Prices, *, duration_ms: float, memory_mb: int, api_gateway: bool = True
) -> CostEntry:
    """A request that started (or found) a run: the Lambda invocation serving it, and the
    API Gateway request unless it came from elsewhere (a schedule invokes Lambda directly)."""
    gb_seconds, lambda_usd = prices.lambda_invocation(duration_ms, memory_mb)
    requests = 1 if api_gateway else 0
    return CostEntry(
        lambda_requests=1,
        lambda_gb_seconds=gb_seconds,
        lambda_usd=lambda_usd,
        api_requests=requests,
        api_usd=prices.api_requests(requests),
    )
