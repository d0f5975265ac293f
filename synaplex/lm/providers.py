"""Which adapter serves which provider prefix. Differences between providers are data."""

from __future__ import annotations

import dataclasses
import importlib

from synaplex.lm.errors import UnknownProviderError


@dataclasses.dataclass(frozen=True)
class ProviderSpec:
    name: str
    adapter: str                      # "module:Class" of the chat adapter, imported on first use
    embedding_adapter: str | None = None
    description: str = ""

    def load(self, embedding: bool = False):
        path = self.embedding_adapter if embedding else self.adapter
        if path is None:
            raise UnknownProviderError(f"Provider {self.name!r} has no embedding models.")
        module_name, _, attr = path.partition(":")
        return getattr(importlib.import_module(module_name), attr)


PROVIDERS: dict[str, ProviderSpec] = {
    "scripted": ProviderSpec(
        name="scripted",
        adapter="synaplex.lm.scripted:ScriptedAdapter",
        embedding_adapter="synaplex.lm.scripted:ScriptedEmbeddingAdapter",
        description="deterministic scripted replies, for unit tests",
    ),
}


def parse_model(model: str) -> tuple[ProviderSpec, str]:
    """Split ``"provider/model-name"`` into the provider's spec and the model name."""
    if not isinstance(model, str) or not model.strip():
        raise UnknownProviderError(
            f"model must be a non-empty string like 'provider/model-name', got {model!r}."
        )
    provider, _, name = model.partition("/")
    spec = PROVIDERS.get(provider)
    if spec is None:
        supported = ", ".join(sorted(PROVIDERS))
        raise UnknownProviderError(
            f"Unknown provider {provider!r} in model {model!r}. Supported providers: {supported}. "
            "For any OpenAI-compatible server, use model='openai/<model-name>' with "
            "api_base='http://host:port/v1'."
        )
    return spec, name
