"""Providers are chosen by settings alone."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from flightdeck.llm.bedrock import BedrockProvider, BedrockTitanEmbedder
from flightdeck.llm.factory import chat_provider, embedding_model, embedding_provider
from flightdeck.llm.offline import OfflineProvider
from flightdeck.llm.offline_embeddings import OfflineHashingEmbedder
from flightdeck.llm.openai_compatible import OpenAICompatibleEmbedder, OpenAICompatibleProvider
from flightdeck.services import Services
from flightdeck.settings import EnvVar, Settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in EnvVar:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(EnvVar.DATABASE_URL, "postgresql://x/y")
    return monkeypatch


class Clients:
    """Records which clients a provider asked for."""

    def __init__(self) -> None:
        self.services: list[str] = []

    def __call__(self, service: str) -> Any:
        self.services.append(service)
        return object()


def test_offline_is_the_default_for_both(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    clients = Clients()

    embedder = embedding_provider(settings, clients)
    chat = chat_provider(settings, clients, lambda: {})

    assert isinstance(embedder, OfflineHashingEmbedder)
    assert (embedder.model, embedder.dimension) == ("offline-hashing-v1", 384)
    assert isinstance(chat, OfflineProvider)
    assert clients.services == []


def test_bedrock_by_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv(EnvVar.EMBEDDING_PROVIDER, "bedrock")
    env.setenv(EnvVar.EMBEDDING_DIMENSION, "512")
    env.setenv(EnvVar.MODEL_PROVIDER, "bedrock")
    env.setenv(EnvVar.BEDROCK_CHAT_MODEL, "amazon.nova-lite-v1:0")
    settings = Settings()
    clients = Clients()

    embedder = embedding_provider(settings, clients)
    chat = chat_provider(settings, clients, lambda: {})

    assert isinstance(embedder, BedrockTitanEmbedder)
    assert (embedder.model, embedder.dimension) == ("amazon.titan-embed-text-v2:0", 512)
    assert embedding_model(settings) == ("amazon.titan-embed-text-v2:0", 512)
    assert isinstance(chat, BedrockProvider)
    assert clients.services == ["bedrock-runtime", "bedrock-runtime"]


def test_openai_compatible_by_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv(EnvVar.EMBEDDING_PROVIDER, "openai")
    env.setenv(EnvVar.MODEL_BASE_URL, "http://127.0.0.1:11434/v1")
    env.setenv(EnvVar.EMBEDDING_MODEL, "nomic-embed-text")
    env.setenv(EnvVar.EMBEDDING_DIMENSION, "768")
    env.setenv(EnvVar.EMBEDDING_BATCH_SIZE, "16")
    env.setenv(EnvVar.MODEL_PROVIDER, "openai")
    env.setenv(EnvVar.MODEL_NAME, "llama3.1")

    embedder = embedding_provider(Settings(), Clients())
    chat = chat_provider(Settings(), Clients(), lambda: {})

    assert isinstance(embedder, OpenAICompatibleEmbedder)
    assert (embedder.model, embedder.dimension, embedder.batch_size) == (
        "nomic-embed-text",
        768,
        16,
    )
    assert isinstance(chat, OpenAICompatibleProvider)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({EnvVar.MODEL_PROVIDER: "bedrock"}, "FLIGHTDECK_BEDROCK_CHAT_MODEL"),
        (
            {EnvVar.EMBEDDING_PROVIDER: "openai", EnvVar.EMBEDDING_MODEL: "m"},
            "FLIGHTDECK_EMBEDDING_BASE_URL .or FLIGHTDECK_MODEL_BASE_URL., "
            "FLIGHTDECK_EMBEDDING_DIMENSION",
        ),
        ({EnvVar.EMBEDDING_PROVIDER: "local"}, "embedding_provider"),
        ({EnvVar.EMBEDDING_DIMENSION: "3"}, "embedding_dimension"),
    ],
    ids=["bedrock-chat-model", "openai-embeddings", "unknown-provider", "tiny-dimension"],
)
def test_incomplete_settings_are_refused_at_start(
    env: pytest.MonkeyPatch, values: dict[str, str], message: str
) -> None:
    for name, value in values.items():
        env.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_a_model_id_the_provider_does_not_make_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv(EnvVar.EMBEDDING_MODEL, "amazon.titan-embed-text-v2:0")  # but provider: offline
    with pytest.raises(ValueError, match="offline-hashing-v1"):
        embedding_model(Settings())
    env.setenv(EnvVar.EMBEDDING_PROVIDER, "bedrock")
    env.setenv(EnvVar.EMBEDDING_DIMENSION, "384")
    with pytest.raises(ValueError, match="not 384"):
        embedding_provider(Settings(), Clients())


def test_services_expose_the_chosen_embeddings(env: pytest.MonkeyPatch) -> None:
    env.setenv(EnvVar.EMBEDDING_DIMENSION, "128")
    services = Services(Settings())

    embeddings = services.embeddings

    assert services.embeddings is embeddings
    assert (embeddings.model, embeddings.dimension) == ("offline-hashing-v1", 128)
    result = embeddings.embed(["refund"], purpose="query")
    assert len(result.vectors[0]) == 128


def test_bedrock_clients_never_point_at_the_emulator(env: pytest.MonkeyPatch) -> None:
    env.setenv(EnvVar.AWS_ENDPOINT_URL, "http://127.0.0.1:4566")
    env.setenv(EnvVar.AWS_REGION, "eu-central-1")
    client = Services(Settings()).model_client("bedrock-runtime")
    assert client.meta.region_name == "eu-central-1"
    assert client.meta.endpoint_url == "https://bedrock-runtime.eu-central-1.amazonaws.com"
