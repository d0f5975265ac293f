"""From a model string to a provider profile and the adapter class that speaks its protocol."""

from __future__ import annotations

import importlib
import re

from synaplex.lm.errors import UnknownProviderError
from synaplex.lm.profiles import AUTODETECT, OPENROUTER_VENDORS, PROFILES, ProviderProfile

# adapter kind -> ("module:ChatAdapter", "module:EmbeddingAdapter" or None); imported on first use
ADAPTERS: dict[str, tuple[str, str | None]] = {
    "scripted": ("synaplex.lm.scripted:ScriptedAdapter", "synaplex.lm.scripted:ScriptedEmbeddingAdapter"),
    "openai": ("synaplex.lm.openai_compatible:OpenAICompatibleAdapter",
               "synaplex.lm.openai_compatible:OpenAICompatibleEmbeddingAdapter"),
    "anthropic": ("synaplex.lm.anthropic:AnthropicAdapter", None),
    "local": ("synaplex.lm.local:LocalAdapter", "synaplex.lm.onnx_embedding:LocalEmbeddings"),
    "gemini": ("synaplex.lm.gemini:GeminiAdapter", "synaplex.lm.gemini:GeminiEmbeddingAdapter"),
    "bedrock": ("synaplex.lm.bedrock:BedrockAdapter", None),
}


def load_adapter(profile: ProviderProfile, embedding: bool = False):
    chat, embed = ADAPTERS[profile.adapter]
    path = embed if embedding else chat
    if path is None or (embedding and profile.adapter not in ("scripted", "local") and not profile.embeddings_path):
        raise UnknownProviderError(
            f"Provider {profile.name!r} has no embedding models. Providers with embeddings: "
            + ", ".join(sorted({p.name for p in PROFILES.values() if p.embeddings_path or p.adapter == "scripted"}))
        )
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def supported_providers() -> list[str]:
    return sorted(PROFILES)


def parse_model(model: str) -> tuple[ProviderProfile, str]:
    """Split ``"provider/model-name"`` into the provider's profile and the model name."""
    if not isinstance(model, str) or not model.strip():
        raise UnknownProviderError(
            f"model must be a non-empty string like 'provider/model-name', got {model!r}."
        )
    provider, _, name = model.partition("/")
    profile = PROFILES.get(provider)
    if profile is None:
        detected = detect_provider(model)
        if detected is not None:
            return PROFILES[detected].for_model(model), model
    if profile is None:
        raise UnknownProviderError(
            f"Unknown provider {provider!r} in model {model!r}. Supported providers: "
            f"{', '.join(supported_providers())}. For any OpenAI-compatible server, use "
            "model='openai/<model-name>' with api_base='http://host:port/v1'."
        )
    return profile.for_model(name), name


def detect_provider(model: str) -> str | None:
    """The provider of a model name given without prefix (see the README's table), or None."""
    if "/" in model:
        return "openrouter" if model.split("/", 1)[0] in OPENROUTER_VENDORS else None
    for pattern, provider in AUTODETECT:
        if re.search(pattern, model):
            return provider
    return None
