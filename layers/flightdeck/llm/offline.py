"""The offline, deterministic provider: same input, same answer, no network."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from flightdeck.llm.base import M, ModelRequest, ModelResult, estimate_tokens

OfflineRule = Callable[[Mapping[str, Any]], BaseModel]


class OfflineProvider:
    """Answers each task with the rule registered for it. It reasons by rules, not by a model:
    good enough to run every workflow end to end on a laptop, and clearly named as such."""

    name = "offline-deterministic"

    def __init__(self, rules: Mapping[str, OfflineRule]) -> None:
        self._rules = dict(rules)

    def complete(self, request: ModelRequest[M]) -> ModelResult[M]:
        rule = self._rules.get(request.task)
        if rule is None:
            raise LookupError(f"the offline provider has no rule for task {request.task!r}")
        value = request.schema.model_validate(rule(request.variables).model_dump())
        return ModelResult(
            value=value,
            model=self.name,
            input_tokens=estimate_tokens(request.system + request.prompt),
            output_tokens=estimate_tokens(value.model_dump_json()),
        )
