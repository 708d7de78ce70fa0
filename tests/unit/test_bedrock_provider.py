"""Bedrock chat (Converse) and Titan embeddings against botocore's Stubber: no network."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from flightdeck.errors import TransientError
from flightdeck.llm.base import ModelRequest, ProviderError
from flightdeck.llm.bedrock import TITAN_EMBED_V2, BedrockProvider, BedrockTitanEmbedder
from flightdeck.workflows.support_triage.state import Classification, Draft

CHAT_MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
REQUEST = ModelRequest(
    task="support_triage.draft", system="be brief", prompt="draft a reply", schema=Draft
)


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "bedrock-runtime",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def converse_answer(
    content: list[dict[str, Any]], *, stop: str = "tool_use", tokens: tuple[int, int] = (52, 17)
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {
            "inputTokens": tokens[0],
            "outputTokens": tokens[1],
            "totalTokens": sum(tokens),
        },
        "metrics": {"latencyMs": 412},
    }


def tool_use(name: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": "tooluse_1", "name": name, "input": value}}


def test_converse_forces_the_schema_tool_and_parses_its_input(bedrock: Any) -> None:
    client, stubber = bedrock
    stubber.add_response(
        "converse",
        converse_answer([tool_use("Draft", {"reply": "Hello", "confidence": 0.9})]),
        {
            "modelId": CHAT_MODEL,
            "system": [{"text": "be brief"}],
            "messages": [{"role": "user", "content": [{"text": "draft a reply"}]}],
            "inferenceConfig": {"temperature": 0.0, "maxTokens": 2048},
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "Draft",
                            "description": ANY,
                            "inputSchema": {"json": Draft.model_json_schema()},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": "Draft"}},
            },
        },
    )

    result = BedrockProvider(client=client, model=CHAT_MODEL).complete(REQUEST)

    assert result.value == Draft(reply="Hello", confidence=0.9)
    assert (result.model, result.input_tokens, result.output_tokens) == (CHAT_MODEL, 52, 17)


def test_an_enum_schema_answer_is_validated(bedrock: Any) -> None:
    client, stubber = bedrock
    answer = {
        "category": "billing",
        "urgency": "high",
        "refund_requested": True,
        "search_query": "refund damaged kettle",
    }
    stubber.add_response("converse", converse_answer([tool_use("Classification", answer)]))
    request = ModelRequest(task="t", system="s", prompt="p", schema=Classification)

    result = BedrockProvider(client=client, model=CHAT_MODEL).complete(request)

    assert result.value == Classification.model_validate(answer)


def test_json_in_a_text_answer_is_accepted(bedrock: Any) -> None:
    # Given a model that answers in text (a fenced JSON block) instead of calling the tool
    client, stubber = bedrock
    text = '```json\n{"reply": "Hi there", "confidence": 0.4}\n```'
    stubber.add_response("converse", converse_answer([{"text": text}], stop="end_turn"))

    result = BedrockProvider(client=client, model=CHAT_MODEL).complete(REQUEST)

    assert result.value == Draft(reply="Hi there", confidence=0.4)


@pytest.mark.parametrize(
    "content",
    [
        [tool_use("Draft", {"reply": "x", "confidence": 7})],
        [{"text": "I cannot help with that."}],
    ],
    ids=["outside-schema", "no-answer"],
)
def test_an_answer_that_misses_the_schema_is_transient(bedrock: Any, content: Any) -> None:
    client, stubber = bedrock
    stubber.add_response("converse", converse_answer(content))
    with pytest.raises(TransientError):
        BedrockProvider(client=client, model=CHAT_MODEL).complete(REQUEST)


def test_an_answer_cut_short_is_not_retried(bedrock: Any) -> None:
    client, stubber = bedrock
    stubber.add_response(
        "converse", converse_answer([tool_use("Draft", {"reply": "Hel"})], stop="max_tokens")
    )
    with pytest.raises(ProviderError, match="ran out of tokens"):
        BedrockProvider(client=client, model=CHAT_MODEL, max_tokens=16).complete(REQUEST)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 429),
        ("ServiceUnavailableException", 503),
        ("InternalServerException", 500),
        ("ModelTimeoutException", 408),
        ("ModelNotReadyException", 429),
    ],
)
def test_throttling_and_server_errors_are_transient(bedrock: Any, code: str, status: int) -> None:
    client, stubber = bedrock
    stubber.add_client_error("converse", code, "try again", http_status_code=status)
    with pytest.raises(TransientError, match=code):
        BedrockProvider(client=client, model=CHAT_MODEL).complete(REQUEST)


@pytest.mark.parametrize(
    ("code", "status", "hint"),
    [
        ("AccessDeniedException", 403, "model access"),
        ("ValidationException", 400, "ValidationException: bad input"),
        ("ResourceNotFoundException", 404, "model id"),
    ],
)
def test_refusals_are_clear_and_not_retried(
    bedrock: Any, code: str, status: int, hint: str
) -> None:
    client, stubber = bedrock
    stubber.add_client_error("converse", code, "bad input", http_status_code=status)
    with pytest.raises(ProviderError, match=hint) as raised:
        BedrockProvider(client=client, model=CHAT_MODEL).complete(REQUEST)
    assert not isinstance(raised.value, TransientError)
    assert CHAT_MODEL in str(raised.value)


def titan_answer(vector: list[float], tokens: int) -> dict[str, Any]:
    data = json.dumps({"embedding": vector, "inputTextTokenCount": tokens}).encode()
    return {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}


def titan_request(text: str, dimension: int) -> dict[str, Any]:
    body = {"inputText": text, "dimensions": dimension, "normalize": True}
    return {
        "modelId": TITAN_EMBED_V2,
        "body": json.dumps(body),
        "contentType": "application/json",
        "accept": "application/json",
    }


def test_titan_embeds_one_text_per_call_and_sums_tokens(bedrock: Any) -> None:
    client, stubber = bedrock
    first, second = [0.6, 0.8] + [0.0] * 254, [0.0] * 255 + [1.0]
    stubber.add_response("invoke_model", titan_answer(first, 5), titan_request("refunds", 256))
    stubber.add_response("invoke_model", titan_answer(second, 7), titan_request("shipping", 256))

    result = BedrockTitanEmbedder(client=client, dimension=256).embed(
        ["refunds", "shipping"], purpose="document"
    )

    assert result.vectors == [first, second]
    assert (result.model, result.dimension, result.input_tokens) == (TITAN_EMBED_V2, 256, 12)


def test_titan_throttling_is_transient(bedrock: Any) -> None:
    client, stubber = bedrock
    stubber.add_client_error(
        "invoke_model", "ThrottlingException", "Too many requests", http_status_code=429
    )
    with pytest.raises(TransientError, match="ThrottlingException"):
        BedrockTitanEmbedder(client=client).embed(["refunds"], purpose="query")


def test_titan_answer_of_another_size_is_refused(bedrock: Any) -> None:
    client, stubber = bedrock
    stubber.add_response("invoke_model", titan_answer([1.0] * 512, 3))
    with pytest.raises(ProviderError, match="512 dimensions, expected 1024"):
        BedrockTitanEmbedder(client=client).embed(["refunds"], purpose="query")


def test_titan_v2_dimensions_are_checked_up_front(bedrock: Any) -> None:
    client, _ = bedrock
    with pytest.raises(ValueError, match="not 384"):
        BedrockTitanEmbedder(client=client, dimension=384)
    assert BedrockTitanEmbedder(client=client).embed([], purpose="document").vectors == []
