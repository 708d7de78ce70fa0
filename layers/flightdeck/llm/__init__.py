"""Model providers behind one interface: structured completions and embeddings.

Chat: `OfflineProvider` is the default: deterministic, no network, no weights; its answers come
from per-task rules that each workflow ships beside its prompts. `OpenAICompatibleProvider`
talks to any endpoint speaking the OpenAI chat-completions protocol, `BedrockProvider` to
Amazon Bedrock's Converse API. Nodes only see `ModelProvider`.

Embeddings: `OfflineHashingEmbedder` (feature hashing, no weights) is the default;
`BedrockTitanEmbedder` and `OpenAICompatibleEmbedder` are chosen by settings alone through
`flightdeck.llm.factory.embedding_provider`. Callers only see `EmbeddingProvider`.
"""

from flightdeck.llm.base import (
    EmbeddingProvider,
    EmbeddingPurpose,
    EmbeddingResult,
    ModelProvider,
    ModelRequest,
    ModelResult,
    ProviderError,
)

__all__ = [
    "EmbeddingProvider",
    "EmbeddingPurpose",
    "EmbeddingResult",
    "ModelProvider",
    "ModelRequest",
    "ModelResult",
    "ProviderError",
]
