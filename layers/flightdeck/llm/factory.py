"""Which providers a process uses, from its settings alone.

`client_factory(service)` builds a boto3 client (the services pass one that talks to real AWS,
never the local emulator, which has no Bedrock). Provider modules are imported only when chosen,
so a process on the offline providers never loads botocore's Bedrock model or httpx clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flightdeck.llm import offline_embeddings
from flightdeck.llm.base import EmbeddingProvider, ModelProvider
from flightdeck.settings import EnvVar, Settings

ClientFactory = Callable[[str], Any]

TITAN_DEFAULT_DIMENSION = 1024


def embedding_model(settings: Settings) -> tuple[str, int]:
    """The embedding model id and dimension the settings choose, defaults applied: what every
    stored chunk records, and what the stack grants Bedrock access to."""
    if settings.embedding_provider == "offline":
        model, dimension = offline_embeddings.MODEL, offline_embeddings.DEFAULT_DIMENSION
        if settings.embedding_model not in (None, model):
            raise ValueError(
                f"the offline embedder is {model}; unset {EnvVar.EMBEDDING_MODEL} "
                "or choose another provider"
            )
    elif settings.embedding_provider == "bedrock":
        from flightdeck.llm.bedrock import TITAN_EMBED_V2

        model = settings.embedding_model or TITAN_EMBED_V2
        dimension = TITAN_DEFAULT_DIMENSION
    else:
        if not (settings.embedding_model and settings.embedding_dimension):
            raise ValueError(
                f"the openai embedding provider needs {EnvVar.EMBEDDING_MODEL} "
                f"and {EnvVar.EMBEDDING_DIMENSION}"
            )
        model, dimension = settings.embedding_model, settings.embedding_dimension
    return model, settings.embedding_dimension or dimension


def embedding_provider(settings: Settings, client_factory: ClientFactory) -> EmbeddingProvider:
    model, dimension = embedding_model(settings)
    if settings.embedding_provider == "offline":
        return offline_embeddings.OfflineHashingEmbedder(
            dimension=dimension, batch_size=settings.embedding_batch_size
        )
    if settings.embedding_provider == "bedrock":
        from flightdeck.llm.bedrock import BedrockTitanEmbedder

        return BedrockTitanEmbedder(
            client=client_factory("bedrock-runtime"), model=model, dimension=dimension
        )
    from flightdeck.llm.openai_compatible import OpenAICompatibleEmbedder

    base_url = settings.embedding_base_url or settings.model_base_url
    if not base_url:
        raise ValueError(
            f"the openai embedding provider needs {EnvVar.EMBEDDING_BASE_URL} "
            f"(or {EnvVar.MODEL_BASE_URL})"
        )
    return OpenAICompatibleEmbedder(
        base_url=base_url,
        api_key=settings.embedding_api_key or settings.model_api_key or "",
        model=model,
        dimension=dimension,
        batch_size=settings.embedding_batch_size,
    )


def chat_provider(
    settings: Settings,
    client_factory: ClientFactory,
    offline_rules: Callable[[], Mapping[str, Any]],
) -> ModelProvider:
    """The chat provider; `offline_rules` is called only when the offline provider is chosen
    (it loads every workflow's rules)."""
    if settings.model_provider == "offline":
        from flightdeck.llm.offline import OfflineProvider

        return OfflineProvider(offline_rules())
    if settings.model_provider == "bedrock":
        from flightdeck.llm.bedrock import BedrockProvider

        if not settings.bedrock_chat_model:
            raise ValueError(f"the bedrock model provider needs {EnvVar.BEDROCK_CHAT_MODEL}")
        return BedrockProvider(
            client=client_factory("bedrock-runtime"), model=settings.bedrock_chat_model
        )
    from flightdeck.llm.openai_compatible import OpenAICompatibleProvider

    if not (settings.model_base_url and settings.model_name):
        raise ValueError(
            f"the openai provider needs {EnvVar.MODEL_BASE_URL} and {EnvVar.MODEL_NAME}"
        )
    return OpenAICompatibleProvider(
        base_url=settings.model_base_url,
        api_key=settings.model_api_key or "",
        model=settings.model_name,
    )
