"""OpenAI-compatible embeddings against an in-memory HTTP transport: no network."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flightdeck.errors import TransientError
from flightdeck.llm.base import ProviderError, estimate_tokens
from flightdeck.llm.openai_compatible import OpenAICompatibleEmbedder

Handler = Callable[[httpx.Request], httpx.Response]


def vector(n: int, dimension: int = 4) -> list[float]:
    return [float(n)] + [0.0] * (dimension - 1)


def server(*, dimension: int = 4, usage: bool = True, shuffle: bool = False) -> Handler:
    """A fake endpoint: text number n (by its trailing digit) embeds as [n, 0, 0, …]."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        rows = [
            {"object": "embedding", "index": i, "embedding": vector(int(t[-1]), dimension)}
            for i, t in enumerate(body["input"])
        ]
        payload: dict[str, Any] = {"object": "list", "data": rows[::-1] if shuffle else rows}
        payload["model"] = body["model"]
        if usage:
            payload["usage"] = {"prompt_tokens": 3 * len(rows), "total_tokens": 3 * len(rows)}
        return httpx.Response(200, json=payload)

    return handle


def embedder(handler: Handler, **kw: Any) -> tuple[OpenAICompatibleEmbedder, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    options: dict[str, Any] = {"model": "nomic-embed-text", "dimension": 4, **kw}
    return (
        OpenAICompatibleEmbedder(
            base_url="http://127.0.0.1:11434/v1/",
            api_key="k-1",
            client=httpx.Client(transport=httpx.MockTransport(record)),
            **options,
        ),
        seen,
    )


def test_texts_are_posted_in_batches_and_come_back_in_order() -> None:
    model, seen = embedder(server(shuffle=True), batch_size=2)
    texts = [f"text {n}" for n in range(5)]

    result = model.embed(texts, purpose="document")

    assert result.vectors == [vector(n) for n in range(5)]
    assert (result.model, result.dimension, result.input_tokens) == ("nomic-embed-text", 4, 15)
    assert [json.loads(r.content)["input"] for r in seen] == [
        ["text 0", "text 1"],
        ["text 2", "text 3"],
        ["text 4"],
    ]
    first = seen[0]
    assert str(first.url) == "http://127.0.0.1:11434/v1/embeddings"
    assert first.headers["authorization"] == "Bearer k-1"
    assert json.loads(first.content) == {"model": "nomic-embed-text", "input": ["text 0", "text 1"]}


def test_dimensions_and_prefixes_are_sent_when_asked() -> None:
    model, seen = embedder(
        server(),
        send_dimensions=True,
        prefixes={"query": "query: ", "document": "passage: "},
    )

    model.embed(["what about 1"], purpose="query")
    model.embed(["doc 2"], purpose="document")

    bodies = [json.loads(r.content) for r in seen]
    assert [b["input"] for b in bodies] == [["query: what about 1"], ["passage: doc 2"]]
    assert {b["dimensions"] for b in bodies} == {4}


def test_a_server_without_usage_gets_estimated_tokens() -> None:
    model, _ = embedder(server(usage=False))
    texts = ["a fairly long sentence number 1", "short 2"]
    assert model.embed(texts, purpose="document").input_tokens == sum(map(estimate_tokens, texts))


def test_nothing_to_embed_makes_no_request() -> None:
    model, seen = embedder(server())
    assert model.embed([], purpose="query").vectors == []
    assert seen == []


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(429, json={"error": "slow down"}), httpx.Response(502, text="bad gateway")],
    ids=["throttled", "unavailable"],
)
def test_throttling_and_server_errors_are_transient(answer: httpx.Response) -> None:
    model, _ = embedder(lambda _: answer)
    with pytest.raises(TransientError):
        model.embed(["text 1"], purpose="document")


def test_an_unreachable_endpoint_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    model, _ = embedder(refuse)
    with pytest.raises(TransientError, match="unreachable"):
        model.embed(["text 1"], purpose="document")


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (lambda _: httpx.Response(404, json={"error": "model not found"}), "404"),
        (lambda _: httpx.Response(200, json={"data": "nope"}), "no embeddings"),
        (lambda _: httpx.Response(200, json={"data": []}), "0 vectors for 1 texts"),
        (server(dimension=8), "8 dimensions, expected 4"),
    ],
    ids=["unknown-model", "malformed", "missing-vectors", "wrong-dimension"],
)
def test_refusals_and_wrong_answers_are_not_retried(handler: Handler, message: str) -> None:
    model, _ = embedder(handler)
    with pytest.raises(ProviderError, match=message) as raised:
        model.embed(["text 1"], purpose="document")
    assert not isinstance(raised.value, TransientError)
