from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from flightdeck.errors import FlightdeckError

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


EmbeddingPurpose = Literal["document", "query"]


@dataclass(frozen=True)
class EmbeddingResult:
    """One vector per input text, in input order. `model` and `dimension` are what a stored
    chunk records: vectors from different models (or dimensions) are never comparable."""

    vectors: list[list[float]]
    model: str
    dimension: int
    input_tokens: int


class EmbeddingProvider(Protocol):
    """Turns texts into vectors for retrieval.

    `purpose` says whether the texts are documents to store or a query to search with: some
    models embed the two differently (the OpenAI-compatible provider can prefix each text by
    purpose); the offline and Titan ones embed both alike. Providers split long inputs into
    batches as their endpoint allows, so callers may pass a whole document's chunks at once.
    """

    name: str
    model: str
    dimension: int

    def embed(self, texts: Sequence[str], *, purpose: EmbeddingPurpose) -> EmbeddingResult: ...


class ProviderError(FlightdeckError):
    """The model provider refused the request for a reason a retry cannot fix (bad model id,
    no model access, malformed input, an answer cut short). Throttling, timeouts and server
    errors raise `TransientError` instead, which Step Functions retries."""

    status = 502
    title = "Model provider error"


def batched(texts: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Consecutive slices of at most `size` texts (`itertools.batched` is 3.12+)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(texts), size):
        yield texts[start : start + size]


def estimate_tokens(text: str) -> int:
    """A rough token count (four characters a token) for providers that report none."""
    return max(1, len(text) // 4)
