"""The OpenAI-compatible provider, against an in-memory HTTP transport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from flightdeck.errors import TransientError
from flightdeck.llm.base import ModelRequest
from flightdeck.llm.openai_compatible import OpenAICompatibleProvider
from flightdeck.workflows.support_triage.state import Draft

REQUEST = ModelRequest(
    task="support_triage.draft", system="be brief", prompt="draft a reply", schema=Draft
)


def provider(answer: Any) -> tuple[OpenAICompatibleProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request) if callable(answer) else answer

    client = httpx.Client(transport=httpx.MockTransport(handle))
    return (
        OpenAICompatibleProvider(
            base_url="https://models.example.com/v1/", api_key="k-1", model="m-1", client=client
        ),
        seen,
    )


def completion(content: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": "m-1-2026",
            "choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 31, "completion_tokens": 12},
        },
    )


def test_a_structured_answer_is_parsed_into_the_schema() -> None:
    model, seen = provider(completion(json.dumps({"reply": "Hello", "confidence": 0.9})))

    result = model.complete(REQUEST)

    assert result.value == Draft(reply="Hello", confidence=0.9)
    assert (result.model, result.input_tokens, result.output_tokens) == ("m-1-2026", 31, 12)
    (sent,) = seen
    assert str(sent.url) == "https://models.example.com/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer k-1"
    body = json.loads(sent.content)
    assert body["model"] == "m-1"
    assert body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["reply", "confidence"]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(429, json={"error": "slow down"}),
        httpx.Response(503, text="unavailable"),
        completion("not json"),
        completion(json.dumps({"reply": "x", "confidence": 7})),
    ],
    ids=["throttled", "unavailable", "not-json", "outside-schema"],
)
def test_retryable_failures_raise_the_transient_error(answer: httpx.Response) -> None:
    model, _ = provider(answer)
    with pytest.raises(TransientError):
        model.complete(REQUEST)


def test_an_unreachable_endpoint_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    model, _ = provider(refuse)
    with pytest.raises(TransientError, match="unreachable"):
        model.complete(REQUEST)


def test_a_client_error_is_not_retried() -> None:
    model, _ = provider(httpx.Response(401, json={"error": "bad key"}))
    with pytest.raises(httpx.HTTPStatusError):
        model.complete(REQUEST)
