"""A provider for any endpoint speaking the OpenAI chat-completions protocol."""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import ValidationError

from flightdeck.errors import TransientError
from flightdeck.llm.base import M, ModelRequest, ModelResult


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
