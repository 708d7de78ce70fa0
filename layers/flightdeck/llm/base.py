from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ModelRequest(Generic[M]):
    """One structured completion: what to do (`task`), the rendered prompt, and the shape of
    the answer. `variables` are the values the prompt was rendered from."""

    task: str
    system: str
    prompt: str
    schema: type[M]
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelResult(Generic[M]):
    value: M
    model: str
    input_tokens: int
    output_tokens: int


class ModelProvider(Protocol):
    name: str

    def complete(self, request: ModelRequest[M]) -> ModelResult[M]: ...


def estimate_tokens(text: str) -> int:
    """A rough token count (four characters a token) for providers that report none."""
    return max(1, len(text) // 4)
