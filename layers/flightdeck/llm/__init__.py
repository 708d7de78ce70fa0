"""Model providers behind one interface: structured completions from a prompt.

`OfflineProvider` is the default: deterministic, no network, no weights; its answers come from
per-task rules that each workflow ships beside its prompts. `OpenAICompatibleProvider` talks to
any endpoint speaking the OpenAI chat-completions protocol. Nodes only see `ModelProvider`.
"""

from flightdeck.llm.base import ModelProvider, ModelRequest, ModelResult

__all__ = ["ModelProvider", "ModelRequest", "ModelResult"]
