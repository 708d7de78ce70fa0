"""Amazon Bedrock: chat through the Converse API, embeddings through Titan Text Embeddings v2.

Both take a `bedrock-runtime` client (boto3) from the caller, so tests hand in one wrapped in
botocore's `Stubber` and the services build one for the configured region.

Structured answers use tool use: the request carries a single tool whose input schema is the
answer's JSON schema, and `toolChoice` forces the model to call it, so the answer arrives as
parsed JSON in the `toolUse` block. Converse supports that across the model families that
support tools; Bedrock's newer native structured output (`outputConfig`) covers fewer models.
A text answer holding the JSON is accepted too, for models that answer in text anyway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pydantic import ValidationError

from flightdeck.errors import TransientError
from flightdeck.llm.base import (
    EmbeddingPurpose,
    EmbeddingResult,
    M,
    ModelRequest,
    ModelResult,
    ProviderError,
)

TITAN_EMBED_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)

# Error codes worth retrying: the request was fine, Bedrock was not (or not yet).
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelTimeoutException",
        "ModelNotReadyException",
        "ModelErrorException",
    }
)
_NETWORK_ERRORS = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _call(client: Any, operation: str, **params: Any) -> Any:
    """Call Bedrock, turning its failures into the two kinds the platform knows."""
    try:
        return getattr(client, operation)(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = error.get("Message", str(exc))
        model = params.get("modelId", "")
        if code in _TRANSIENT_CODES or status == 429 or status >= 500:
            raise TransientError(f"Bedrock {operation} on {model}: {code}: {message}") from exc
        hint = {
            "AccessDeniedException": " (is model access granted in this account and region, "
            "and does the role allow bedrock:InvokeModel on it?)",
            "ResourceNotFoundException": " (check the model id and the region)",
        }.get(code, "")
        raise ProviderError(f"Bedrock {operation} on {model}: {code}: {message}{hint}") from exc
    except _NETWORK_ERRORS as exc:
        raise TransientError(f"Bedrock unreachable: {exc}") from exc


def _tool_name(schema_name: str) -> str:
    """A tool name Bedrock accepts (`[a-zA-Z0-9_-]{1,64}`)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", schema_name)[:64] or "answer"


class BedrockProvider:
    """Structured completions from any Bedrock model that supports tool use in Converse."""

    name = "bedrock"

    def __init__(self, *, client: Any, model: str, max_tokens: int = 2048) -> None:
        self._client = client
        self._model = model
        self._max_tokens = max_tokens

    def complete(self, request: ModelRequest[M]) -> ModelResult[M]:
        tool = _tool_name(request.schema.__name__)
        response = _call(
            self._client,
            "converse",
            modelId=self._model,
            system=[{"text": request.system}],
            messages=[{"role": "user", "content": [{"text": request.prompt}]}],
            inferenceConfig={"temperature": 0.0, "maxTokens": self._max_tokens},
            toolConfig={
                "tools": [
                    {
                        "toolSpec": {
                            "name": tool,
                            "description": f"Give the answer to the task as {tool}.",
                            "inputSchema": {"json": request.schema.model_json_schema()},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": tool}},
            },
        )
        if response.get("stopReason") == "max_tokens":
            raise ProviderError(
                f"Bedrock {self._model} ran out of tokens ({self._max_tokens}) before finishing "
                f"its {tool} answer"
            )
        answer = self._answer(response, tool)
        try:
            value = request.schema.model_validate(answer)
        except ValidationError as exc:
            # Sampling can give a different answer next time, as for the OpenAI provider.
            raise TransientError(f"model answer did not match {request.schema.__name__}") from exc
        usage = response.get("usage") or {}
        return ModelResult(
            value=value,
            model=self._model,
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
        )

    def _answer(self, response: Any, tool: str) -> Any:
        """The forced tool call's input; failing that, JSON in the text of the answer."""
        content = ((response.get("output") or {}).get("message") or {}).get("content") or []
        for block in content:
            use = block.get("toolUse")
            if use and use.get("name") == tool:
                return use.get("input")
        text = "".join(block.get("text", "") for block in content).strip()
        fenced = _FENCE.match(text)
        try:
            return json.loads(fenced.group(1) if fenced else text)
        except json.JSONDecodeError as exc:
            raise TransientError(f"Bedrock {self._model} gave no {tool} answer") from exc


class BedrockTitanEmbedder:
    """Titan Text Embeddings v2: normalised vectors, one text per `InvokeModel` call (Titan has
    no batch call, so there is no batch size to set).

    Titan v2 makes 256-, 512- or 1024-dimensional vectors (not 384, the offline default).
    Queries and documents are embedded alike: Titan takes no purpose.
    """

    name = "bedrock"

    def __init__(
        self,
        *,
        client: Any,
        model: str = TITAN_EMBED_V2,
        dimension: int = 1024,
    ) -> None:
        if model.startswith("amazon.titan-embed-text-v2") and dimension not in TITAN_V2_DIMENSIONS:
            raise ValueError(
                f"Titan Text Embeddings v2 makes vectors of {TITAN_V2_DIMENSIONS}, not {dimension}"
            )
        self._client = client
        self.model = model
        self.dimension = dimension

    def embed(self, texts: Sequence[str], *, purpose: EmbeddingPurpose) -> EmbeddingResult:
        vectors: list[list[float]] = []
        tokens = 0
        for text in texts:
            vector, used = self._one(text)
            vectors.append(vector)
            tokens += used
        return EmbeddingResult(
            vectors=vectors, model=self.model, dimension=self.dimension, input_tokens=tokens
        )

    def _one(self, text: str) -> tuple[list[float], int]:
        body = {"inputText": text, "dimensions": self.dimension, "normalize": True}
        response = _call(
            self._client,
            "invoke_model",
            modelId=self.model,
            body=json.dumps(body),
            contentType="application/json",
            accept="application/json",
        )
        payload = json.loads(response["body"].read())
        vector = [float(x) for x in payload["embedding"]]
        if len(vector) != self.dimension:
            raise ProviderError(
                f"{self.model} returned {len(vector)} dimensions, expected {self.dimension}"
            )
        return vector, int(payload.get("inputTextTokenCount", 0))
