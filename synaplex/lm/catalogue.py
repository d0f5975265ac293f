"""What known models can do and what they cost: a shipped catalogue plus the user's overrides.

The catalogue ships as ``synaplex/lm/data/catalogue.json``: one entry per
``"<provider>/<model>"`` with the fields of :data:`FIELDS` (prices in USD per million
tokens; ``null`` where a price or a capability is not known). It is read once per process,
on the first lookup (``import synaplex`` does not read it). Maintainers regenerate it with
``scripts/update_catalogue.py`` (litellm's MIT-licensed ``model_prices_and_context_window``
JSON, read from a pinned, hash-checked wheel, plus synaplex's curated entries, which win)
and refresh OpenRouter prices with ``scripts/refresh_catalogue.py``.

Capabilities (``tools``, ``vision``, ``structured_output``, ``streaming``, ``embeddings``,
``reasoning``, ``tool_choice``, ``streaming_tool_calls``, ``system_messages``) are
tri-state: ``True``, ``False``, or ``None`` when unknown. An unknown capability is *tried*
(the Router keeps the model for a tool call, structured output is attempted), never taken
as a no; only ``False`` rules a model out.

Public API:

* :func:`lookup` (``provider``, ``model_name``) → :class:`CatalogueCapabilities` or ``None``;
* :func:`lookup_model` (``"provider/model"`` as users write it, or a bare model name);
* :func:`register_model` (``"provider/model"``, ``**fields``): add or override an entry;
* :func:`update_from_openrouter` (OpenRouter's ``GET /models`` JSON): register every model;
* :func:`price` (capabilities, input, output, cached tokens) → USD or ``None``;
* :func:`reset_overrides`: forget what was registered (tests).

How :func:`lookup` resolves a name, first hit wins:

1. the exact key ``"<provider>/<model>"`` (a registered override before the shipped entry);
2. the name with snapshot suffixes stripped one after the other, each tried as is, with
   ``-latest`` and with ``-0`` appended. Stripped suffixes: ``-YYYY-MM-DD`` (OpenAI,
   ``gpt-4o-2024-08-06`` → ``gpt-4o``), ``-YYYYMMDD`` (Anthropic, ``claude-3-5-haiku-20241022``
   → ``claude-3-5-haiku-latest``, ``claude-opus-4-20250514`` → ``claude-opus-4-0``), a 3 or
   4 digit version (Mistral ``mistral-small-2503``, xAI ``grok-2-1212``, Google
   ``gemini-2.0-flash-001``), ``-latest`` and Vertex's ``@YYYYMMDD``/``@001``. A snapshot
   priced differently from its alias needs its own entry (the catalogue has
   ``gpt-4o-2024-05-13``) or :func:`register_model`.
   ``-preview``/``-exp`` are *not* stripped: previews are often priced differently;
3. OpenRouter only, when the id has no entry of its own: a ``:variant`` suffix (``:free``,
   ``:nitro``, ``:floor``, ``:online``…) is removed before 1–2; ``:free`` makes every price
   0.0, even when the base model is unknown (its capabilities are then unknown, None). A
   first-party model missing from the ``openrouter/`` entries falls back to
   the vendor's own entry (``openrouter`` + ``openai/gpt-4.1`` → ``openai/gpt-4.1``):
   OpenRouter passes the vendor's price through. DeepSeek and open-weight vendors are
   excluded: OpenRouter serves them through other hosts at other prices.

Provider names: synaplex's (``together``, ``fireworks``, ``vertex_ai``, ``bedrock``…);
litellm's spellings are aliases (``together_ai``, ``fireworks_ai``, ``vertex``,
``bedrock_converse``, ``cohere_chat``; see :data:`PROVIDER_ALIASES`).

Local and self-hosted providers (:data:`LOCAL_PROVIDERS`) always cost 0.0: they get an
entry's capabilities when one exists under their name, else unknown (None) capabilities.
Any other unknown model gives ``None``.

Prices: ``cached_tokens`` is the part of ``input_tokens`` read from the provider's prompt
cache (the adapters count cache reads inside ``input_tokens``, OpenAI's convention); they are
billed at the cached price when known, else at the input price. Cache writes (Anthropic's
1.25×) and long-context tiers (Gemini above 128k/200k prompt tokens) are not modelled:
entries hold the base tier.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import json
import re
import threading
from decimal import Decimal, InvalidOperation
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Capabilities
from synaplex.lm.profiles import PROFILES
from synaplex.lm.providers import detect_provider

__all__ = [
    "FIELDS",
    "LOCAL_PROVIDERS",
    "CatalogueCapabilities",
    "dumps_catalogue",
    "lookup",
    "lookup_model",
    "openrouter_entry",
    "price",
    "register_model",
    "reset_overrides",
    "shipped_catalogue",
    "update_from_openrouter",
    "validate_entry",
]

INT_FIELDS = ("context_window", "max_output_tokens")
#: Capabilities: True, False or None (unknown, tried).
BOOL_FIELDS = ("tools", "vision", "structured_output", "streaming", "embeddings", "reasoning", "tool_choice",
               "streaming_tool_calls", "system_messages")
PRICE_FIELDS = ("input_price_per_million", "output_price_per_million", "cached_input_price_per_million")
#: The fields of a catalogue entry, in the order the JSON file writes them.
FIELDS = INT_FIELDS + BOOL_FIELDS + PRICE_FIELDS

#: Providers that run on the user's own hardware: priced 0.0 by rule, not by entries.
LOCAL_PROVIDERS = frozenset({"ollama", "lmstudio", "vllm", "hosted_vllm", "sglang", "llamacpp", "local", "scripted"})

#: OpenRouter vendor prefix → our provider, for vendors whose OpenRouter price is their own.
OPENROUTER_FIRST_PARTY = {"openai": "openai", "anthropic": "anthropic", "google": "gemini",
                          "mistralai": "mistral", "x-ai": "xai"}

#: Other spellings of a provider → the catalogue's (litellm's names, ``hosted_vllm`` as in profiles.py).
PROVIDER_ALIASES = {"hosted_vllm": "vllm", "together_ai": "together", "fireworks_ai": "fireworks",
                    "cohere_chat": "cohere", "bedrock_converse": "bedrock", "vertex": "vertex_ai",
                    "vertexai": "vertex_ai", "vertex_ai_beta": "vertex_ai", "google": "gemini",
                    "azure_openai": "azure", "x-ai": "xai", "mistralai": "mistral"}

_SNAPSHOT_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),   # OpenAI: gpt-4o-2024-08-06
    re.compile(r"-\d{8}$"),               # Anthropic: claude-3-5-haiku-20241022
    re.compile(r"-\d{3,4}$"),             # Mistral -2411, xAI -1212, Google -001
    re.compile(r"-latest$"),
    re.compile(r"@(\d{3,8}|latest)$"),   # Vertex: claude-3-5-sonnet@20240620, gemini-1.0-pro@001
)

_DATA_PACKAGE = "synaplex.lm"
_DATA_PATH = ("data", "catalogue.json")


@dataclasses.dataclass(frozen=True)
class CatalogueCapabilities(Capabilities):
    """:class:`~synaplex.lm.base.Capabilities` plus the price of cached input tokens."""

    cached_input_price_per_token: float | None = None


# --- the shipped file ------------------------------------------------------------------------

_lock = threading.Lock()
_shipped: dict | None = None
_overrides: dict[str, dict] = {}
_lookups: dict[tuple[str, str], CatalogueCapabilities | None] = {}
_providers: frozenset[str] | None = None


def _load() -> dict:
    global _shipped
    if _shipped is None:
        with _lock:
            if _shipped is None:
                resource = importlib.resources.files(_DATA_PACKAGE).joinpath(*_DATA_PATH)
                _shipped = json.loads(resource.read_text(encoding="utf-8"))
    return _shipped


def _known_providers() -> frozenset[str]:
    """The provider names of the shipped entries, the profiles and the local providers."""
    global _providers
    if _providers is None:
        shipped = {key.partition("/")[0] for key in _load()["models"]}
        _providers = frozenset(shipped | set(PROFILES) | LOCAL_PROVIDERS)
    return _providers


def shipped_catalogue() -> dict:
    """A copy of the shipped catalogue file: ``{"updated", "source", "models"}``."""
    return copy.deepcopy(_load())


def dumps_catalogue(catalogue: dict) -> str:
    """The catalogue as the JSON file writes it: models sorted, one model a line."""
    lines = []
    for key in sorted(catalogue["models"]):
        entry = catalogue["models"][key]
        fields = ", ".join(f"{json.dumps(name)}: {json.dumps(entry.get(name))}" for name in FIELDS)
        lines.append(f"    {json.dumps(key)}: {{{fields}}}")
    head = {k: v for k, v in catalogue.items() if k != "models"}
    header = "".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n" for k, v in head.items())
    return "{\n" + header + '  "models": {\n' + ",\n".join(lines) + "\n  }\n}\n"


# --- validation ------------------------------------------------------------------------------

def _check_field(where: str, name: str, value: Any) -> Any:
    if name in INT_FIELDS:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidInputError(f"{where}: field {name!r} must be a non-negative int or None, "
                                    f"got {value!r} ({type(value).__name__}).")
    elif name in BOOL_FIELDS:
        if value is not None and not isinstance(value, bool):
            raise InvalidInputError(f"{where}: field {name!r} must be a bool, or None when unknown; got "
                                    f"{value!r} ({type(value).__name__}).")
    elif name in PRICE_FIELDS:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not value >= 0 or value == float("inf")):
            raise InvalidInputError(f"{where}: field {name!r} must be a non-negative number of USD per "
                                    f"million tokens, or None when unknown; got {value!r} "
                                    f"({type(value).__name__}).")
        return None if value is None else float(value)
    else:
        raise InvalidInputError(f"{where}: unknown field {name!r}; the fields are {', '.join(FIELDS)}.")
    return value


def validate_entry(key: str, entry: dict, *, partial: bool = False) -> dict:
    """Check one entry's field names and types; return it with prices as floats.

    Raises :class:`~synaplex.backend.errors.InvalidInputError` naming the field. With
    ``partial``, missing fields are allowed (an override).
    """
    where = f"catalogue entry {key!r}"
    if not isinstance(entry, dict):
        raise InvalidInputError(f"{where}: expected a dict of fields, got {type(entry).__name__}.")
    checked = {name: _check_field(where, name, value) for name, value in entry.items()}
    missing = [name for name in FIELDS if name not in checked]
    if missing and not partial:
        raise InvalidInputError(f"{where}: missing field(s) {', '.join(map(repr, missing))}.")
    return checked


def _split_key(model: Any) -> tuple[str, str]:
    provider, _, name = model.partition("/") if isinstance(model, str) else ("", "", "")
    if not provider.strip() or not name.strip():
        raise InvalidInputError(f"register_model: model must be 'provider/model_name' "
                                f"(e.g. 'openai/gpt-4o'), got {model!r}.")
    return _canonical_provider(provider), name.strip()


def _canonical_provider(provider: str) -> str:
    provider = provider.strip().lower()
    return PROVIDER_ALIASES.get(provider, provider)


# --- overrides -------------------------------------------------------------------------------

def register_model(model: str, **fields: Any) -> CatalogueCapabilities:
    """Add a model to the catalogue, or override some of a known model's fields.

    Args:
        model: ``"provider/model_name"``, e.g. ``"openai/gpt-4o"`` or ``"ollama/llama3.1:8b"``.
        **fields: any of :data:`FIELDS`: ``context_window``, ``max_output_tokens`` (int or
            None), ``tools``, ``vision``, ``structured_output``, ``streaming``, ``embeddings``,
            ``reasoning``, ``tool_choice``, ``streaming_tool_calls``, ``system_messages`` (bool,
            or None: unknown), ``input_price_per_million``, ``output_price_per_million``,
            ``cached_input_price_per_million`` (USD per million tokens, or None if unknown).

    Registered fields take precedence over the shipped file; fields not given keep the
    shipped (or previously registered) value, else unknown (None).

    Returns:
        the model's capabilities as :func:`lookup` now answers them.

    Raises:
        InvalidInputError: a malformed model name, an unknown field, or a value of the wrong
            type (the message names the field).
    """
    provider, name = _split_key(model)
    key = f"{provider}/{name}"
    checked = validate_entry(key, fields, partial=True)
    with _lock:
        _overrides[key] = {**_overrides.get(key, {}), **checked}
        _lookups.clear()
    return lookup(provider, name)


def reset_overrides() -> None:
    """Forget every registered model (tests)."""
    with _lock:
        _overrides.clear()
        _lookups.clear()


# --- OpenRouter ------------------------------------------------------------------------------

def _per_million(value: Any) -> float | None:
    """OpenRouter's USD-per-token string → USD per million tokens; None if unknown (or -1)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value)) * 1_000_000
    except InvalidOperation:
        return None
    return float(amount) if amount.is_finite() and amount >= 0 else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def openrouter_entry(model: dict) -> dict:
    """One model of OpenRouter's ``GET /models`` answer as a catalogue entry.

    ``tools`` from ``"tools"`` in ``supported_parameters``; ``structured_output`` from
    ``"response_format"`` or ``"structured_outputs"``; ``vision`` from ``"image"`` in the input
    modalities; ``embeddings`` from an embeddings output modality. Prices are OpenRouter's
    per-token strings times a million (a negative price, OpenRouter's "variable", is None).
    A value the answer does not state is None: a flag whose source list is absent, a price,
    ``max_completion_tokens`` (an embedding model's is 0).
    """
    pricing = model.get("pricing") or {}
    top = model.get("top_provider") or {}
    architecture = model.get("architecture") or {}
    parameters = model.get("supported_parameters")
    parameters = None if parameters is None else set(parameters)
    inputs = architecture.get("input_modalities")
    outputs = architecture.get("output_modalities")
    modality = architecture.get("modality")             # older answers: "text+image->text"
    context = _int_or_none(model.get("context_length")) or _int_or_none(top.get("context_length"))
    embeddings = None if outputs is None and modality is None else \
        any("embedding" in str(m) for m in outputs or ()) or "embedding" in str(modality).partition("->")[2]
    return {
        "context_window": context,
        "max_output_tokens": 0 if embeddings else _int_or_none(top.get("max_completion_tokens")),
        "tools": None if parameters is None else "tools" in parameters,
        "vision": None if inputs is None else "image" in inputs,
        "structured_output": None if parameters is None
        else bool(parameters & {"response_format", "structured_outputs"}),
        "streaming": True,
        "embeddings": embeddings,
        "input_price_per_million": _per_million(pricing.get("prompt")),
        "output_price_per_million": _per_million(pricing.get("completion")),
        "cached_input_price_per_million": _per_million(pricing.get("input_cache_read")),
    }


def update_from_openrouter(payload: dict) -> int:
    """Register every model of OpenRouter's ``GET /models`` JSON as ``openrouter/<id>``.

    Args:
        payload: ``{"data": [{"id", "context_length", "pricing": {"prompt", "completion",
            "input_cache_read"}, "top_provider": {"max_completion_tokens"},
            "architecture": {"input_modalities"}, "supported_parameters"}, ...]}``.

    A model without ``max_completion_tokens`` may fill its context window; a flag the answer
    does not state keeps the shipped entry's value, else it is unknown (None).

    Returns:
        how many models were registered (entries without a string ``id`` are skipped).
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise InvalidInputError("update_from_openrouter: expected the JSON of OpenRouter's GET /models, "
                                f"{{'data': [...]}}; got {type(payload).__name__} without a 'data' list.")
    entries = {}
    for model in data:
        if isinstance(model, dict) and isinstance(model.get("id"), str) and model["id"].strip():
            key = f"openrouter/{model['id'].strip()}"
            entry = openrouter_entry(model)
            if entry["max_output_tokens"] is None:          # no stated limit: the context window
                entry["max_output_tokens"] = entry["context_window"]
            entry = {name: value for name, value in entry.items()
                     if value is not None or name not in BOOL_FIELDS}   # unknown flag: kept
            entries[key] = validate_entry(key, entry, partial=True)
    with _lock:
        for key, entry in entries.items():
            _overrides[key] = {**_overrides.get(key, {}), **entry}
        _lookups.clear()
    return len(entries)


# --- lookup ----------------------------------------------------------------------------------

def _entry(key: str) -> dict | None:
    shipped = _load()["models"].get(key)
    override = _overrides.get(key)
    if override is None:
        return shipped
    return {**(shipped or {}), **override}


def _names(name: str) -> list[str]:
    """``name``, then ``name`` with one more snapshot suffix stripped each time."""
    names = [name]
    changed = True
    while changed:
        changed = False
        for pattern in _SNAPSHOT_SUFFIXES:
            stripped = pattern.sub("", names[-1])
            if stripped != names[-1] and stripped:
                names.append(stripped)
                changed = True
                break
    return names


def _find(provider: str, name: str) -> dict | None:
    entry = _entry(f"{provider}/{name}")
    if entry is not None:
        return entry
    for base in _names(name):
        for candidate in (base, f"{base}-latest", f"{base}-0"):
            entry = _entry(f"{provider}/{candidate}")
            if entry is not None:
                return entry
    return None


def _capabilities(entry: dict | None, *, free: bool = False) -> CatalogueCapabilities:
    entry = entry or {}

    def per_token(field: str) -> float | None:
        if free:
            return 0.0
        value = entry.get(field)
        # Through Decimal, so 0.8 per million is 8e-07 per token, not 8.000000000000001e-07.
        return None if value is None else float(Decimal(repr(value)) / 1_000_000)

    defaults = {f.name: f.default for f in dataclasses.fields(Capabilities)}
    values = {name: entry[name] if entry.get(name) is not None else defaults[name]
              for name in INT_FIELDS + BOOL_FIELDS}
    return CatalogueCapabilities(**values,
                                 input_price_per_token=per_token("input_price_per_million"),
                                 output_price_per_token=per_token("output_price_per_million"),
                                 cached_input_price_per_token=per_token("cached_input_price_per_million"))


def _resolve(provider: str, model_name: str) -> CatalogueCapabilities | None:
    name = model_name.strip().removeprefix("models/")    # Gemini's resource names
    if provider in LOCAL_PROVIDERS:
        return _capabilities(_find(provider, name), free=True)
    entry = _entry(f"{provider}/{name}")    # an entry of its own (a variant included) wins
    if entry is not None:
        return _capabilities(entry)
    free = False
    if provider == "openrouter" and ":" in name:
        name, _, variant = name.partition(":")
        free = variant.strip().lower() == "free"
    entry = _find(provider, name)
    if entry is None and provider == "openrouter":
        vendor, _, vendor_name = name.partition("/")
        native = OPENROUTER_FIRST_PARTY.get(vendor)
        if native and vendor_name:
            entry = _find(native, vendor_name)
            if entry is None and native == "anthropic":   # OpenRouter: claude-3.5-sonnet
                entry = _find(native, vendor_name.replace(".", "-"))
    if entry is None:
        return _capabilities(None, free=True) if free else None
    return _capabilities(entry, free=free)


def lookup(provider: str, model_name: str) -> CatalogueCapabilities | None:
    """What ``provider``'s ``model_name`` can do and costs, or ``None`` if it is not known.

    Resolution (exact key, snapshot suffixes, OpenRouter variants, local providers at 0.0) is
    described in this module's docstring. Per-token prices are the per-million ones / 1e6.
    """
    if not isinstance(provider, str) or not isinstance(model_name, str):
        raise InvalidInputError(f"lookup: provider and model_name must be strings, got "
                                f"{provider!r} and {model_name!r}.")
    cache_key = (provider, model_name)
    try:
        return _lookups[cache_key]
    except KeyError:
        pass
    found = _resolve(_canonical_provider(provider), model_name)
    _lookups[cache_key] = found
    return found


def lookup_model(model: str) -> CatalogueCapabilities | None:
    """:func:`lookup` of a model as users write it: ``"provider/model"`` or a bare name.

    ``"openrouter/meta-llama/llama-3.3-70b-instruct"``, ``"groq/llama-3.3-70b-versatile"``,
    ``"vertex/claude-3-5-sonnet@20240620"``, ``"bedrock/anthropic.claude-3-haiku-20240307-v1:0"``:
    the first segment is the provider when it names one (a profile, a provider of the
    catalogue or one of :data:`PROVIDER_ALIASES`). Otherwise the provider is detected the way
    ``LanguageModel`` does it: ``"gpt-4o"`` → openai, ``"claude-..."`` → anthropic,
    ``"meta-llama/llama-3.3-70b-instruct"`` → openrouter. ``None`` when unknown.
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(f"lookup_model: model must be a non-empty string like 'provider/model', "
                                f"got {model!r}.")
    model = model.strip()
    provider, _, name = model.partition("/")
    canonical = _canonical_provider(provider)
    known = canonical in _known_providers() or canonical != provider.strip().lower() \
        or any(key.startswith(f"{canonical}/") for key in _overrides)
    if name.strip() and known:
        return lookup(canonical, name.strip())
    detected = detect_provider(model)
    return None if detected is None else lookup(detected, model)


# --- pricing ---------------------------------------------------------------------------------

def price(capabilities: Capabilities | None, input_tokens: int, output_tokens: int,
          cached_tokens: int = 0) -> float | None:
    """The USD cost of one call, or ``None`` when a price it needs is unknown.

    ``cached_tokens`` are the part of ``input_tokens`` read from the prompt cache: billed at
    ``cached_input_price_per_token`` when the capabilities know it, else at the input price.
    A price is needed only for a non-zero token count.
    """
    if capabilities is None:
        return None
    for label, count in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                         ("cached_tokens", cached_tokens)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidInputError(f"price: {label} must be a non-negative int, got {count!r}.")
    input_price = capabilities.input_price_per_token
    output_price = capabilities.output_price_per_token
    cached_price = getattr(capabilities, "cached_input_price_per_token", None)
    if cached_price is None:
        cached_price = input_price
    cached = min(cached_tokens, input_tokens)
    total = 0.0
    for count, unit in ((input_tokens - cached, input_price), (cached, cached_price),
                        (output_tokens, output_price)):
        if count:
            if unit is None:
                return None
            total += count * unit
    return total
