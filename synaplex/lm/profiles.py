"""What differs between providers, as data: one profile per provider.

The OpenAI-compatible adapter serves most providers; their differences (base URL, key
variables, auth header, structured-output strategy, rejected parameters, whether usage comes
in the stream, model-specific quirks) live here, never in ``if provider == ...`` code.

Structured-output strategies:

* ``json_schema_strict``: ``response_format={"type": "json_schema", "json_schema": {"name",
  "schema", "strict": true}}`` with the schema made strict (all fields required, nullable
  optionals, no additional properties);
* ``json_schema``: the same, best effort (``strict`` false, schema as written);
* ``json_object_schema``: ``{"type": "json_object", "schema": ...}`` (llama.cpp servers);
* ``json_object_prompt``: JSON mode plus the schema in the system prompt;
* ``tool``: a forced tool call whose arguments are the output (Anthropic);
* ``prompt``: the schema in the system prompt only (no ``response_format``): for backends that
  take no structured-output parameter at all;
* ``native``: the adapter's own (Gemini's ``responseSchema``, the local grammar).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any


@dataclasses.dataclass(frozen=True)
class ProviderProfile:
    name: str
    adapter: str                                  # a key of synaplex.lm.providers.ADAPTERS ("openai"...)
    description: str = ""
    base_url: str | None = None
    base_url_env: tuple[str, ...] = ()
    api_key_env: tuple[str, ...] = ()
    key_required: bool = True
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    extra_headers: tuple[tuple[str, str], ...] = ()
    extra_body: tuple[tuple[str, Any], ...] = ()  # added to every chat request body
    # merged into the body when a schema or tools are sent (OpenRouter: only route to
    # backends that support them)
    structured_extra_body: tuple[tuple[str, Any], ...] = ()
    structured: str = "json_schema_strict"
    schema_transform: str | None = "openai_strict"
    stream_usage: bool = True                     # send stream_options={"include_usage": true}
    rejected_params: frozenset = frozenset()
    renamed_params: tuple[tuple[str, str], ...] = ()
    chat_path: str = "/chat/completions"
    embeddings_path: str | None = None            # None: no embeddings
    embedding_pooling: str | None = None          # "mean": pool per-token vectors (llama.cpp servers)
    embedding_batch_size: int | None = None       # texts per request (None: all at once)
    models_path: str | None = "/models"
    query_params: tuple[tuple[str, str], ...] = ()
    repair_attempts: int = 1
    tools: bool = True
    aliases: tuple[str, ...] = ()
    # headers and request defaults read from the environment: ((header, VARIABLE), ...),
    # ((param, VARIABLE), ...); model_env names the variable holding a default model name.
    env_headers: tuple[tuple[str, str], ...] = ()
    env_params: tuple[tuple[str, str], ...] = ()
    model_env: str | None = None
    # how a neutral reasoning_effort is sent: a key of REASONING_STYLES, or None when the
    # provider (or this model, through model_overrides) has no reasoning setting
    reasoning: str | None = None
    # the provider's own request fields a model accepts as keywords (besides the neutral
    # ones of synaplex.lm.options); anything else goes through extra_body={...}
    body_fields: frozenset = frozenset()
    # the model used when the model string names only the provider ("openrouter"), after
    # model_env; None: a model name is required (a blank one is an error) unless
    # model_required is False (the embedded and scripted models have a default of their own)
    default_model: str | None = None
    default_embedding_model: str | None = None
    model_required: bool = True
    # when no backend can take the structured-output request (an error whose message matches
    # structured_fallback_when), retry once with this strategy (e.g. "prompt": the schema in
    # the prompt, no response_format), then validate and repair as always
    structured_fallback: str | None = None
    structured_fallback_when: str | None = None
    # (model-name regex, {field: value}) applied in order: per-model quirks as data.
    model_overrides: tuple[tuple[str, dict], ...] = ()

    def for_model(self, model_name: str) -> ProviderProfile:
        changes: dict = {}
        for pattern, fields in self.model_overrides:
            if re.search(pattern, model_name):
                changes.update(fields)
        return dataclasses.replace(self, **changes) if changes else self


@dataclasses.dataclass(frozen=True)
class ReasoningStyle:
    """How a provider takes a neutral ``reasoning_effort`` (see :mod:`synaplex.lm.reasoning`).

    ``efforts`` maps an effort to the request parameters that say it on this provider's wire
    (merged into the request, where the adapter puts them: the body, Gemini's
    ``generationConfig``). An effort it does not list cannot be set on this provider: it is
    ignored with a warning. ``{}`` means nothing needs sending (``"disable"`` where the
    models only reason when asked).
    """

    efforts: dict
    # parameters the provider refuses while it reasons: not sent when an effort is
    conflicting_params: frozenset = frozenset()
    # False: the provider cannot force a tool while it reasons ("required" becomes "auto")
    forced_tool_choice: bool = True


def _efforts(make, mapping: dict | None = None, **extra) -> dict:
    """``{effort: make(value)}`` for the four levels (``mapping`` renames them), plus ``extra``."""
    mapping = mapping or {}
    levels = {level: make(mapping.get(level, level)) for level in ("minimal", "low", "medium", "high")}
    return {**levels, **extra}


# Budgets in tokens for the providers that take one (litellm's, so that Synalinks programs
# think as long as they did there; Anthropic's minimum is 1024).
_ANTHROPIC_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}
_GEMINI_BUDGETS = {"minimal": 128, "low": 1024, "medium": 2048, "high": 4096}

REASONING_STYLES: dict[str, ReasoningStyle] = {
    # Chat Completions' reasoning_effort (gpt-5: minimal..high; o-series: low..high); such
    # models always reason, so "disable" cannot be honoured.
    "openai": ReasoningStyle(_efforts(lambda e: {"reasoning_effort": e})),
    "openai_low_to_high": ReasoningStyle(_efforts(lambda e: {"reasoning_effort": e}, {"minimal": "low"})),
    "openrouter": ReasoningStyle(_efforts(lambda e: {"reasoning": {"effort": e}})),
    # extended thinking: off unless asked, so "disable" sends nothing
    "anthropic": ReasoningStyle(
        _efforts(lambda e: {"thinking": {"type": "enabled", "budget_tokens": e}}, _ANTHROPIC_BUDGETS, disable={}),
        conflicting_params=frozenset({"temperature", "top_k"}), forced_tool_choice=False),
    # Claude on Bedrock's Converse API: Anthropic's extended thinking in additionalModelRequestFields
    "bedrock_anthropic": ReasoningStyle(
        _efforts(lambda e: {"additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": e}}},
                 _ANTHROPIC_BUDGETS, disable={}),
        conflicting_params=frozenset({"temperature", "top_p"}), forced_tool_choice=False),
    # Gemini 2.5 Flash thinks by default and can be turned off with a zero budget
    "gemini": ReasoningStyle(_efforts(lambda e: {"thinkingConfig": {"thinkingBudget": e}}, _GEMINI_BUDGETS,
                                      disable={"thinkingConfig": {"thinkingBudget": 0}})),
    # Gemini 2.5 Pro and 3: always think (a zero budget is refused)
    "gemini_always": ReasoningStyle(_efforts(lambda e: {"thinkingConfig": {"thinkingBudget": e}}, _GEMINI_BUDGETS)),
}

_OPENAI_REASONING_MODELS = (
    (r"^(o\d|gpt-5)", {"renamed_params": (("max_tokens", "max_completion_tokens"),),
                        "rejected_params": frozenset({"temperature", "top_p"}), "reasoning": "openai"}),
    (r"^o\d", {"reasoning": "openai_low_to_high"}),
)


def _openai_compatible(name: str, base_url: str | None, key_env: tuple[str, ...], **fields) -> ProviderProfile:
    fields.setdefault("body_fields", _OPENAI_FIELDS)
    return ProviderProfile(name=name, adapter="openai", base_url=base_url, api_key_env=key_env, **fields)


# Request fields of Chat Completions beyond the neutral ones (synaplex.lm.options.REQUEST_PARAMS).
_OPENAI_FIELDS = frozenset({"service_tier", "store", "metadata", "prediction", "modalities", "audio",
                            "max_completion_tokens", "verbosity", "web_search_options", "n"})
_OPENROUTER_FIELDS = _OPENAI_FIELDS | {"provider", "models", "route", "transforms", "reasoning", "usage", "plugins",
                                       "min_p", "top_a", "repetition_penalty"}
# llama.cpp, vLLM, Ollama and LM Studio servers' sampling extensions
_SERVER_FIELDS = _OPENAI_FIELDS | {"repeat_penalty", "repetition_penalty", "min_p", "typical_p", "grammar",
                                   "mirostat_mode", "mirostat_tau", "mirostat_eta", "json_schema", "keep_alive"}
_ANTHROPIC_FIELDS = frozenset({"thinking", "metadata", "service_tier", "stop_sequences"})
# Gemini's GenerationConfig and body fields, in its camelCase and in snake_case
_GEMINI_FIELDS = frozenset({
    "candidateCount", "candidate_count", "responseLogprobs", "response_logprobs", "thinkingConfig",
    "thinking_config", "speechConfig", "speech_config", "mediaResolution", "media_resolution",
    "responseModalities", "response_modalities", "generationConfig", "generation_config", "safetySettings",
    "safety_settings", "cachedContent", "cached_content", "labels", "toolConfig", "tool_config",
    "enableEnhancedCivicAnswers", "imageConfig", "image_config", "audioTimestamp", "audio_timestamp",
    "stopSequences", "maxOutputTokens", "topP", "topK"})

_LOCAL_SERVER = dict(key_required=False, embeddings_path="/embeddings", body_fields=_SERVER_FIELDS)

PROFILES: dict[str, ProviderProfile] = {p.name: p for p in [
    ProviderProfile(name="local", adapter="local", description="the embedded model (llama.cpp, in-process)",
                    key_required=False, structured="native", schema_transform=None, models_path=None,
                    embeddings_path="(in-process)", model_required=False,
                    body_fields=frozenset({"repeat_penalty", "min_p"})),
    ProviderProfile(name="scripted", adapter="scripted", description="deterministic scripted replies, for tests",
                    key_required=False, structured="native", repair_attempts=0, models_path=None,
                    model_required=False),
    _openai_compatible("openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",),
                       base_url_env=("OPENAI_BASE_URL", "OPENAI_API_BASE"), embeddings_path="/embeddings",
                       description="OpenAI, or any OpenAI-compatible server with api_base",
                       model_overrides=_OPENAI_REASONING_MODELS, body_fields=_SERVER_FIELDS,
                       embedding_batch_size=2048),
    _openai_compatible("azure", None, ("AZURE_OPENAI_API_KEY", "AZURE_API_KEY"),
                       base_url_env=("AZURE_OPENAI_ENDPOINT", "AZURE_API_BASE"), auth_header="api-key",
                       auth_prefix="", chat_path="/openai/deployments/{model}/chat/completions",
                       embeddings_path="/openai/deployments/{model}/embeddings", models_path=None,
                       query_params=(("api-version", "2024-10-21"),), body_fields=_OPENAI_FIELDS,
                       embedding_batch_size=2048,
                       # deployments are usually named after their model
                       model_overrides=tuple((pattern, {"reasoning": fields["reasoning"]})
                                             for pattern, fields in _OPENAI_REASONING_MODELS),
                       description="Azure OpenAI (model = deployment name; api_base = your endpoint)"),
    ProviderProfile(name="anthropic", adapter="anthropic", base_url="https://api.anthropic.com/v1",
                    api_key_env=("ANTHROPIC_API_KEY",), auth_header="x-api-key", auth_prefix="",
                    extra_headers=(("anthropic-version", "2023-06-01"),), structured="tool",
                    schema_transform="anthropic", description="Anthropic Messages API", reasoning="anthropic",
                    body_fields=_ANTHROPIC_FIELDS,
                    # extended thinking came with Claude 3.7 Sonnet
                    model_overrides=((r"^claude-(instant|2|3-(?!7))", {"reasoning": None}),)),
    ProviderProfile(name="gemini", adapter="gemini", base_url="https://generativelanguage.googleapis.com/v1beta",
                    api_key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"), auth_header="x-goog-api-key",
                    auth_prefix="", structured="native", schema_transform="gemini",
                    embeddings_path=":batchEmbedContents", description="Google Gemini generateContent",
                    body_fields=_GEMINI_FIELDS, embedding_batch_size=100,
                    reasoning="gemini",  # thinkingConfig came with Gemini 2.5
                    model_overrides=((r"^gemini-(1\.|2\.0|pro|ultra)", {"reasoning": None}),
                                     (r"^gemini-(2\.5-pro|3)", {"reasoning": "gemini_always"}))),
    # AWS credentials and region (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
    # AWS_REGION) are read by the adapter, which signs each request (SigV4, the bedrock extra)
    ProviderProfile(name="bedrock", adapter="bedrock", base_url="https://bedrock-runtime.{region}.amazonaws.com",
                    key_required=False, structured="tool", schema_transform="anthropic", models_path=None,
                    description="AWS Bedrock Converse API (SigV4; pip install \"synaplex[bedrock]\")",
                    body_fields=frozenset({"additionalModelRequestFields", "additionalModelResponseFieldPaths",
                                           "guardrailConfig", "performanceConfig", "promptVariables",
                                           "requestMetadata", "inferenceConfig"}),
                    # extended thinking: Claude 3.7 Sonnet and the Claude 4 family (ids may carry an
                    # inference profile's region prefix, "us.anthropic...")
                    model_overrides=((r"anthropic\.claude-(3-7|sonnet-4|opus-4|haiku-4)",
                                      {"reasoning": "bedrock_anthropic"}),)),
    _openai_compatible("mistral", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",), stream_usage=False,
                       embeddings_path="/embeddings", description="Mistral AI"),
    _openai_compatible("groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",), structured="json_schema",
                       schema_transform=None, rejected_params=frozenset({"logprobs", "logit_bias", "top_logprobs"}),
                       description="Groq",
                       model_overrides=((r"compound", {"structured": "json_object_prompt", "tools": False}),
                                        (r"gpt-oss", {"reasoning": "openai_low_to_high"}))),
    _openai_compatible("openrouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",),
                       base_url_env=("OPENROUTER_BASE_URL",), embeddings_path="/embeddings",
                       extra_body=(("usage", {"include": True}),),
                       structured_extra_body=(("provider", {"require_parameters": True}),),
                       env_headers=(("HTTP-Referer", "OPENROUTER_HTTP_REFERER"),
                                    ("X-OpenRouter-Title", "OPENROUTER_SITE_NAME")),
                       env_params=(("max_tokens", "OPENROUTER_MAX_TOKENS"),), model_env="OPENROUTER_MODEL",
                       reasoning="openrouter", body_fields=_OPENROUTER_FIELDS,
                       # Parlant's default model; its embedding default is OpenAI's small model
                       default_model="openai/gpt-4o", default_embedding_model="openai/text-embedding-3-small",
                       # "404 No endpoints found that can handle the requested parameters": no
                       # backend of the model takes response_format; the schema goes in the prompt
                       structured_fallback="prompt",
                       structured_fallback_when=r"No endpoints found that can handle the requested parameters",
                       description="OpenRouter (provider routing, model fallbacks, reasoning, cost)"),
    _openai_compatible("deepseek", "https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",),
                       structured="json_object_prompt", schema_transform=None, description="DeepSeek"),
    _openai_compatible("together", "https://api.together.xyz/v1", ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
                       structured="json_schema", schema_transform=None, embeddings_path="/embeddings",
                       description="Together AI"),
    _openai_compatible("fireworks", "https://api.fireworks.ai/inference/v1", ("FIREWORKS_API_KEY",),
                       structured="json_schema", schema_transform=None, embeddings_path="/embeddings",
                       description="Fireworks AI"),
    _openai_compatible("perplexity", "https://api.perplexity.ai", ("PERPLEXITY_API_KEY", "PPLX_API_KEY"),
                       structured="json_schema", schema_transform=None, models_path=None, tools=False,
                       description="Perplexity (search-augmented models)"),
    _openai_compatible("cerebras", "https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",), description="Cerebras"),
    _openai_compatible("xai", "https://api.x.ai/v1", ("XAI_API_KEY",), structured="json_schema",
                       schema_transform=None, description="xAI Grok"),
    _openai_compatible("cohere", "https://api.cohere.ai/compatibility/v1", ("COHERE_API_KEY", "CO_API_KEY"),
                       structured="json_schema", schema_transform=None, embeddings_path="/embeddings",
                       stream_usage=False, embedding_batch_size=96, description="Cohere (OpenAI compatibility API)"),
    _openai_compatible("ollama", "http://localhost:11434/v1", ("OLLAMA_API_KEY",),
                       base_url_env=("OLLAMA_API_BASE", "OLLAMA_BASE_URL"), structured="json_schema",
                       schema_transform=None, description="Ollama (local server)", **_LOCAL_SERVER),
    _openai_compatible("lmstudio", "http://localhost:1234/v1", ("LMSTUDIO_API_KEY", "LM_STUDIO_API_KEY"),
                       base_url_env=("LMSTUDIO_API_BASE", "LM_STUDIO_API_BASE"), structured="json_schema",
                       schema_transform=None, description="LM Studio (local server)", **_LOCAL_SERVER),
    # vLLM >= 0.12: structured output through response_format, or its own structured_outputs
    # ({"json"|"regex"|"choice"|"grammar": ...}); the guided_* fields it removed are not listed
    _openai_compatible("vllm", "http://localhost:8000/v1", ("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"),
                       base_url_env=("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"), structured="json_schema",
                       schema_transform=None, aliases=("hosted_vllm",), description="vLLM server",
                       **{**_LOCAL_SERVER, "body_fields": _SERVER_FIELDS | {
                           "structured_outputs", "min_tokens", "stop_token_ids", "ignore_eos", "skip_special_tokens",
                           "chat_template_kwargs", "priority", "cache_salt"}}),
    # SGLang (python -m sglang.launch_server, port 30000): response_format json_schema, or its own
    # regex / ebnf constraints
    _openai_compatible("sglang", "http://localhost:30000/v1", ("SGLANG_API_KEY",),
                       base_url_env=("SGLANG_API_BASE",), structured="json_schema", schema_transform=None,
                       description="SGLang server",
                       **{**_LOCAL_SERVER, "body_fields": _SERVER_FIELDS | {
                           "regex", "ebnf", "min_tokens", "stop_token_ids", "ignore_eos", "skip_special_tokens",
                           "no_stop_trim", "chat_template_kwargs", "separate_reasoning", "lora_path", "rid"}}),
    _openai_compatible("llamacpp", "http://localhost:8080/v1", ("LLAMACPP_API_KEY",),
                       base_url_env=("LLAMACPP_API_BASE",), structured="json_object_schema",
                       schema_transform=None, stream_usage=False, embedding_pooling="mean",
                       # llama_cpp.server misaligns per-token vectors of several inputs in one request
                       embedding_batch_size=1,
                       description="llama.cpp servers (llama-server, python -m llama_cpp.server)",
                       **_LOCAL_SERVER),
]}

for _profile in list(PROFILES.values()):
    for _alias in _profile.aliases:
        PROFILES[_alias] = _profile


# Model names given without a provider prefix (SynapseKit-style auto-detection).
AUTODETECT: tuple[tuple[str, str], ...] = (
    (r"^claude-", "anthropic"),
    (r"^gemini-|^text-embedding-00\d", "gemini"),
    (r"^command-|^embed-", "cohere"),
    (r"^(mistral|open-mistral|codestral|ministral|pixtral)-", "mistral"),
    (r"^deepseek-", "deepseek"),
    (r"^(llama|mixtral|gemma)-", "groq"),
    (r"^grok-", "xai"),
    (r"^(gpt-|o\d(-|$)|chatgpt-|text-embedding-3|davinci|babbage)", "openai"),
)

# "vendor/model" names with these vendors (not themselves providers) go to OpenRouter.
OPENROUTER_VENDORS = frozenset({
    "meta-llama", "mistralai", "google", "qwen", "x-ai", "microsoft", "nvidia", "amazon", "nousresearch",
    "moonshotai", "z-ai", "thudm", "01-ai", "ai21", "inflection", "liquid", "minimax", "baidu", "tencent",
    "allenai", "sao10k", "gryphe", "cognitivecomputations", "neversleep", "openrouter", "arcee-ai",
})
