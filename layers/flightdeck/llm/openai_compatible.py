"""Providers for any endpoint speaking the OpenAI protocol: chat completions and embeddings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import ValidationError

from flightdeck.errors import TransientError
from flightdeck.llm.base import (
    EmbeddingPurpose,
    EmbeddingResult,
    M,
    ModelRequest,
    ModelResult,
    ProviderError,
    batched,
    estimate_tokens,
)


class OpenAICompatibleProvider:
    name = "openai-compatible"

    def __init__(
        self, *, base_url: str, api_key: str, model: str, client: httpx.Client | None = None
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._client = client or httpx.Client(timeout=60.0)

    def complete(self, request: ModelRequest[M]) -> ModelResult[M]:
        body: dict[str, Any] = {
            "model": self._model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.prompt},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema.__name__,
                    "schema": request.schema.model_json_schema(),
                },
            },
        }
        try:
            response = self._client.post(self._url, json=body, headers=self._headers)
        except httpx.TransportError as exc:
            raise TransientError(f"model endpoint unreachable: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"model endpoint answered {response.status_code}")
        response.raise_for_status()
        payload = response.json()
        content = payload["choices"][0]["message"]["content"]
        try:
            value = request.schema.model_validate(json.loads(content))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise TransientError(f"model answer did not match {request.schema.__name__}") from exc
        usage = payload.get("usage") or {}
        return ModelResult(
            value=value,
            model=payload.get("model", self._model),
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
        )


class OpenAICompatibleEmbedder:
    """Embeddings from `POST {base_url}/embeddings`, several texts a request.

    `dimension` is what the model returns; it is checked on every answer, so a wrong setting
    fails loudly instead of storing vectors of another size. `send_dimensions` asks the endpoint
    to shorten its vectors (OpenAI's `text-embedding-3-*` can; many servers refuse the field).
    `prefixes` are put before each text by purpose, for models trained with them (E5 wants
    `"query: "` and `"passage: "`); by default queries and documents are embedded alike.
    """

    name = "openai-compatible"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        dimension: int,
        batch_size: int = 64,
        send_dimensions: bool = False,
        prefixes: dict[EmbeddingPurpose, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(timeout=60.0)
        self._send_dimensions = send_dimensions
        self._prefixes = dict(prefixes or {})
        self.model = model
        self.dimension = dimension
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], *, purpose: EmbeddingPurpose) -> EmbeddingResult:
        prefix = self._prefixes.get(purpose, "")
        vectors: list[list[float]] = []
        tokens = 0
        for batch in batched(texts, self.batch_size):
            batch_vectors, used = self._batch([prefix + text for text in batch])
            vectors.extend(batch_vectors)
            tokens += used
        return EmbeddingResult(
            vectors=vectors, model=self.model, dimension=self.dimension, input_tokens=tokens
        )

    def _batch(self, texts: list[str]) -> tuple[list[list[float]], int]:
        body: dict[str, Any] = {"model": self.model, "input": texts}
        if self._send_dimensions:
            body["dimensions"] = self.dimension
        try:
            response = self._client.post(self._url, json=body, headers=self._headers)
        except httpx.TransportError as exc:
            raise TransientError(f"embedding endpoint unreachable: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"embedding endpoint answered {response.status_code}")
        if response.is_error:
            raise ProviderError(
                f"embedding endpoint refused {self.model}: {response.status_code} "
                f"{response.text[:300]}"
            )
        try:
            payload = response.json()
            # The protocol says `index`; sort by it rather than trust the order.
            rows = sorted(payload["data"], key=lambda row: int(row.get("index", 0)))
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProviderError(f"embedding endpoint gave no embeddings for {self.model}") from exc
        if len(vectors) != len(texts):
            raise ProviderError(
                f"embedding endpoint returned {len(vectors)} vectors for {len(texts)} texts"
            )
        for vector in vectors:
            if len(vector) != self.dimension:
                raise ProviderError(
                    f"{self.model} returned {len(vector)} dimensions, expected {self.dimension} "
                    "(set the embedding dimension to the model's)"
                )
        usage = payload.get("usage") or {}
        if "prompt_tokens" in usage:
            return vectors, int(usage["prompt_tokens"])
        return vectors, sum(estimate_tokens(text) for text in texts)  # a server that counts none
