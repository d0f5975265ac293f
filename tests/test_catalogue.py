"""The model catalogue: the shipped file, lookup, overrides, prices, OpenRouter refreshes."""

import copy
import importlib.resources
import importlib.util
import json
import pathlib

import pytest

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import catalogue
from synaplex.lm.base import Capabilities

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "refresh_catalogue.py"


@pytest.fixture(autouse=True)
def _no_overrides():
    catalogue.reset_overrides()
    yield
    catalogue.reset_overrides()


@pytest.fixture(scope="module")
def refresh():
    spec = importlib.util.spec_from_file_location("refresh_catalogue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shipped_json() -> dict:
    resource = importlib.resources.files("synaplex.lm").joinpath("data", "catalogue.json")
    return json.loads(resource.read_text(encoding="utf-8"))


def _openrouter_model(model_id, prompt="0.000001", completion="0.000002", cache_read=None, context=100_000,
                      max_completion=4096, parameters=("tools", "response_format"), inputs=("text",),
                      outputs=("text",)):
    pricing = {"prompt": prompt, "completion": completion}
    if cache_read is not None:
        pricing["input_cache_read"] = cache_read
    return {"id": model_id, "name": model_id, "context_length": context, "pricing": pricing,
            "top_provider": {"context_length": context, "max_completion_tokens": max_completion},
            "architecture": {"input_modalities": list(inputs), "output_modalities": list(outputs)},
            "supported_parameters": list(parameters)}


# --- the shipped file ------------------------------------------------------------------------

def test_shipped_file_loads_with_header():
    data = _shipped_json()
    assert data["updated"] >= "2026-11-22"
    assert "regenerate with scripts/update_catalogue.py" in data["source"]
    assert "refresh OpenRouter prices with scripts/refresh_catalogue.py" in data["source"]
    assert len(data["models"]) >= 2500
    assert catalogue.shipped_catalogue() == data


def test_every_entry_has_every_field_with_the_right_type():
    for key, entry in _shipped_json()["models"].items():
        provider, _, name = key.partition("/")
        assert provider and name, key
        assert provider not in catalogue.LOCAL_PROVIDERS, key
        assert list(entry) == list(catalogue.FIELDS), key
        for field in catalogue.INT_FIELDS:     # None: not known
            assert entry[field] is None or (type(entry[field]) is int and entry[field] >= 0), (key, field)
        for field in catalogue.BOOL_FIELDS:    # tri-state: None is unknown
            assert entry[field] is None or type(entry[field]) is bool, (key, field)
        for field in catalogue.PRICE_FIELDS:
            value = entry[field]
            assert value is None or (type(value) in (int, float) and value >= 0), (key, field)
        if entry["embeddings"]:
            assert entry["max_output_tokens"] == 0 and entry["tools"] is False, key
        elif entry["max_output_tokens"] is not None:
            assert entry["max_output_tokens"] > 0, key
        catalogue.validate_entry(key, entry)


def test_shipped_file_covers_the_main_models():
    models = _shipped_json()["models"]
    for key in ["openai/gpt-4o", "openai/gpt-4.1-nano", "openai/o4-mini", "openai/text-embedding-3-large",
                "anthropic/claude-3-5-haiku-latest", "anthropic/claude-opus-4-0", "gemini/gemini-2.5-pro",
                "gemini/text-embedding-004", "mistral/mistral-embed", "groq/llama-3.3-70b-versatile",
                "deepseek/deepseek-reasoner", "xai/grok-3", "cerebras/llama3.1-8b",
                "openrouter/anthropic/claude-3.5-sonnet", "openrouter/qwen/qwen3-embedding-8b"]:
        assert key in models, key


def test_shipped_file_is_written_in_canonical_form():
    text = importlib.resources.files("synaplex.lm").joinpath("data", "catalogue.json").read_text("utf-8")
    assert catalogue.dumps_catalogue(json.loads(text)) == text


# --- lookup ----------------------------------------------------------------------------------

def test_lookup_exact():
    caps = catalogue.lookup("openai", "gpt-4o")
    assert isinstance(caps, Capabilities)
    assert caps.context_window == 128000 and caps.max_output_tokens == 16384
    assert caps.tools and caps.vision and caps.structured_output and caps.streaming and not caps.embeddings
    assert caps.input_price_per_token == pytest.approx(2.5e-6)
    assert caps.output_price_per_token == pytest.approx(10e-6)
    assert caps.cached_input_price_per_token == pytest.approx(1.25e-6)


def test_lookup_embedding_model():
    caps = catalogue.lookup("openai", "text-embedding-3-small")
    assert caps.embeddings and not caps.tools
    assert caps.input_price_per_token == pytest.approx(0.02e-6)
    assert caps.output_price_per_token == 0.0


@pytest.mark.parametrize("provider, name, expected", [
    ("openai", "gpt-4o-2024-08-06", "openai/gpt-4o"),
    ("openai", "gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"),
    ("openai", "o3-mini-2025-01-31", "openai/o3-mini"),
    ("anthropic", "claude-3-5-haiku-20241022", "anthropic/claude-3-5-haiku-latest"),
    ("anthropic", "claude-3-5-haiku", "anthropic/claude-3-5-haiku-latest"),
    ("anthropic", "claude-opus-4-20250514", "anthropic/claude-opus-4-0"),
    ("anthropic", "claude-sonnet-4-20990101", "anthropic/claude-sonnet-4-0"),
    ("gemini", "gemini-2.0-flash-001", "gemini/gemini-2.0-flash"),
    ("gemini", "models/gemini-1.5-pro", "gemini/gemini-1.5-pro"),
    ("mistral", "mistral-small-2503", "mistral/mistral-small"),   # the plain name before -latest
    ("mistral", "mistral-large-2099", "mistral/mistral-large-latest"),
    ("xai", "grok-2-1212", "xai/grok-2-latest"),
    ("xai", "grok-3-2099", "xai/grok-3"),
    ("xai", "grok-4-latest-2099", "xai/grok-4-latest"),
])
def test_lookup_strips_snapshot_suffixes(provider, name, expected):
    entry = _shipped_json()["models"][expected]
    caps = catalogue.lookup(provider, name)
    assert caps is not None
    assert caps.context_window == entry["context_window"]
    assert caps.max_output_tokens == entry["max_output_tokens"]
    price = entry["input_price_per_million"]
    assert caps.input_price_per_token == (None if price is None else pytest.approx(price / 1e6))


def test_a_snapshot_with_its_own_entry_wins_over_the_alias():
    caps = catalogue.lookup("openai", "gpt-4o-2024-05-13")
    assert caps.input_price_per_token == pytest.approx(5e-6)
    assert caps.structured_output is False


def test_lookup_openrouter_exact_variants_and_free():
    base = catalogue.lookup("openrouter", "anthropic/claude-3.5-sonnet")
    assert base.input_price_per_token == pytest.approx(3e-6)
    assert catalogue.lookup("openrouter", "anthropic/claude-3.5-sonnet:nitro") == base
    assert catalogue.lookup("openrouter", "anthropic/claude-3.5-sonnet:floor") == base
    free = catalogue.lookup("openrouter", "anthropic/claude-3.5-sonnet:free")
    assert free.context_window == base.context_window and free.tools == base.tools
    assert (free.input_price_per_token, free.output_price_per_token, free.cached_input_price_per_token) \
        == (0.0, 0.0, 0.0)
    assert catalogue.lookup("openrouter", "openai/gpt-4o-mini").output_price_per_token == pytest.approx(0.6e-6)


def test_lookup_openrouter_falls_back_to_first_party_vendors_only():
    caps = catalogue.lookup("openrouter", "openai/gpt-4.1")
    assert caps.input_price_per_token == pytest.approx(2e-6)
    assert "openrouter/anthropic/claude-3.5-haiku" not in _shipped_json()["models"]
    assert catalogue.lookup("openrouter", "anthropic/claude-3.5-haiku").max_output_tokens == 8192
    # not from DeepSeek's own entry: OpenRouter serves DeepSeek through other hosts, at other prices
    assert catalogue.lookup("deepseek", "deepseek-reasoner") is not None
    assert catalogue.lookup("openrouter", "deepseek/deepseek-reasoner") is None


def test_lookup_openrouter_free_of_an_unknown_model_is_free_with_defaults():
    caps = catalogue.lookup("openrouter", "some-lab/unknown-model:free")
    assert caps.input_price_per_token == 0.0 and caps.output_price_per_token == 0.0
    assert caps.context_window is None and caps.tools is None     # unknown, tried
    assert catalogue.lookup("openrouter", "some-lab/unknown-model") is None


@pytest.mark.parametrize("provider", ["ollama", "lmstudio", "vllm", "hosted_vllm", "llamacpp", "local",
                                      "scripted"])
def test_local_providers_are_free(provider):
    caps = catalogue.lookup(provider, "llama3.1:8b")
    assert caps is not None
    assert caps.input_price_per_token == 0.0 and caps.output_price_per_token == 0.0
    assert caps.cached_input_price_per_token == 0.0
    defaults = Capabilities()
    assert (caps.context_window, caps.tools, caps.vision, caps.embeddings) == \
        (defaults.context_window, defaults.tools, defaults.vision, defaults.embeddings)
    assert catalogue.price(caps, 1000, 1000) == 0.0


def test_local_provider_takes_a_registered_entry_but_stays_free():
    catalogue.register_model("ollama/qwen3:8b", context_window=40960, tools=True, input_price_per_million=1.0)
    caps = catalogue.lookup("ollama", "qwen3:8b")
    assert caps.context_window == 40960 and caps.tools is True
    assert caps.input_price_per_token == 0.0
    hosted = catalogue.lookup("hosted_vllm", "x")   # alias of vllm
    assert hosted.input_price_per_token == 0.0


def test_lookup_unknown_is_none():
    assert catalogue.lookup("openai", "gpt-99-ultra") is None
    assert catalogue.lookup("nosuchprovider", "gpt-4o") is None
    assert catalogue.lookup("anthropic", "claude-9-20300101") is None


def test_lookup_rejects_non_strings():
    with pytest.raises(InvalidInputError):
        catalogue.lookup("openai", None)


# --- register_model --------------------------------------------------------------------------

def test_register_model_overrides_the_shipped_entry_and_keeps_other_fields():
    caps = catalogue.register_model("openai/gpt-4o", input_price_per_million=1.0, context_window=64000)
    assert caps.input_price_per_token == pytest.approx(1e-6)
    assert caps.context_window == 64000
    assert caps.output_price_per_token == pytest.approx(10e-6)   # kept from the shipped entry
    # The override also answers dated names without an entry of their own, and later calls merge on top.
    assert catalogue.lookup("openai", "gpt-4o-2099-01-01").input_price_per_token == pytest.approx(1e-6)
    catalogue.register_model("openai/gpt-4o", output_price_per_million=None)
    caps = catalogue.lookup("openai", "gpt-4o")
    assert caps.output_price_per_token is None and caps.input_price_per_token == pytest.approx(1e-6)
    catalogue.reset_overrides()
    assert catalogue.lookup("openai", "gpt-4o").input_price_per_token == pytest.approx(2.5e-6)


def test_register_model_adds_a_new_model_with_defaults():
    catalogue.register_model("together/my-model", context_window=32768, input_price_per_million=0.2,
                             output_price_per_million=0.4)
    caps = catalogue.lookup("together", "my-model")
    assert caps.context_window == 32768 and caps.max_output_tokens is None
    assert caps.tools is None and caps.structured_output is None     # unknown, tried
    assert catalogue.price(caps, 1_000_000, 1_000_000) == pytest.approx(0.6)


@pytest.mark.parametrize("fields, named", [
    ({"context_windw": 1000}, "context_windw"),
    ({"tools": "yes"}, "tools"),
    ({"vision": 1}, "vision"),
    ({"context_window": 12.5}, "context_window"),
    ({"context_window": True}, "context_window"),
    ({"max_output_tokens": -1}, "max_output_tokens"),
    ({"input_price_per_million": "2.5"}, "input_price_per_million"),
    ({"output_price_per_million": -0.1}, "output_price_per_million"),
    ({"cached_input_price_per_million": float("nan")}, "cached_input_price_per_million"),
])
def test_register_model_validation_names_the_field(fields, named):
    with pytest.raises(InvalidInputError, match=repr(named)) as info:
        catalogue.register_model("openai/gpt-4o", **fields)
    assert isinstance(info.value, ValueError)
    assert catalogue.lookup("openai", "gpt-4o").input_price_per_token == pytest.approx(2.5e-6)


@pytest.mark.parametrize("model", ["gpt-4o", "/gpt-4o", "openai/", None])
def test_register_model_needs_provider_slash_model(model):
    with pytest.raises(InvalidInputError, match="provider/model_name"):
        catalogue.register_model(model, tools=True)


# --- price -----------------------------------------------------------------------------------

def test_price_math():
    caps = catalogue.lookup("openai", "gpt-4o")
    assert catalogue.price(caps, 1_000_000, 0) == pytest.approx(2.5)
    assert catalogue.price(caps, 1000, 100) == pytest.approx(1000 * 2.5e-6 + 100 * 10e-6)
    assert catalogue.price(caps, 0, 0) == 0.0


def test_price_bills_cached_tokens_at_the_cached_price():
    caps = catalogue.lookup("openai", "gpt-4o")
    # 1000 input tokens, 400 of them from the cache, 100 output tokens.
    expected = 600 * 2.5e-6 + 400 * 1.25e-6 + 100 * 10e-6
    assert catalogue.price(caps, 1000, 100, cached_tokens=400) == pytest.approx(expected)
    assert catalogue.price(caps, 1000, 100, cached_tokens=400) < catalogue.price(caps, 1000, 100)


def test_price_bills_cached_tokens_at_the_input_price_when_no_cached_price():
    caps = catalogue.lookup("groq", "llama-3.3-70b-versatile")
    assert caps.cached_input_price_per_token is None
    assert catalogue.price(caps, 1000, 10, cached_tokens=500) == catalogue.price(caps, 1000, 10)
    plain = Capabilities(input_price_per_token=1e-6, output_price_per_token=2e-6)   # no cached field
    assert catalogue.price(plain, 1000, 1000, cached_tokens=1000) == pytest.approx(3e-3)


def test_price_is_none_when_a_needed_price_is_unknown():
    assert catalogue.price(None, 10, 10) is None
    unknown = catalogue.lookup("openrouter", "meta-llama/llama-3.3-70b-instruct")   # curated without prices
    assert unknown.input_price_per_token is None
    assert catalogue.price(unknown, 10, 10) is None
    half = Capabilities(input_price_per_token=1e-6, output_price_per_token=None)
    assert catalogue.price(half, 10, 10) is None
    assert catalogue.price(half, 10, 0) == pytest.approx(1e-5)   # the output price is not needed
    embedding = catalogue.lookup("gemini", "text-embedding-004")
    assert catalogue.price(embedding, 100, 0) is None


def test_price_rejects_bad_counts():
    caps = catalogue.lookup("openai", "gpt-4o")
    with pytest.raises(InvalidInputError, match="input_tokens"):
        catalogue.price(caps, -1, 0)


# --- OpenRouter ------------------------------------------------------------------------------

PAYLOAD = {"data": [
    _openrouter_model("acme/chat-1", prompt="0.0000005", completion="0.0000015", cache_read="0.00000005",
                      inputs=("text", "image"), parameters=("tools", "structured_outputs", "temperature")),
    _openrouter_model("acme/tiny:free", prompt="0", completion="0", max_completion=None, context=8192,
                      parameters=("temperature",)),
    _openrouter_model("openrouter/auto", prompt="-1", completion="-1", context=2_000_000),
    _openrouter_model("acme/embed", prompt="0.00000002", completion="0", max_completion=None,
                      parameters=(), outputs=("embeddings",)),
    {"name": "no id, skipped"},
]}


def test_update_from_openrouter_registers_every_model():
    assert catalogue.update_from_openrouter(PAYLOAD) == 4
    chat = catalogue.lookup("openrouter", "acme/chat-1")
    assert (chat.context_window, chat.max_output_tokens) == (100_000, 4096)
    assert chat.tools and chat.vision and chat.structured_output and not chat.embeddings
    assert chat.input_price_per_token == pytest.approx(0.5e-6)
    assert chat.output_price_per_token == pytest.approx(1.5e-6)
    assert chat.cached_input_price_per_token == pytest.approx(0.05e-6)
    tiny = catalogue.lookup("openrouter", "acme/tiny:free")
    assert not tiny.tools and not tiny.structured_output and not tiny.vision
    assert tiny.max_output_tokens == 8192 and tiny.input_price_per_token == 0.0
    auto = catalogue.lookup("openrouter", "openrouter/auto")
    assert auto.input_price_per_token is None and catalogue.price(auto, 1, 1) is None
    embed = catalogue.lookup("openrouter", "acme/embed")
    assert embed.embeddings and embed.max_output_tokens == 0
    catalogue.reset_overrides()
    assert catalogue.lookup("openrouter", "acme/chat-1") is None


def test_update_from_openrouter_overrides_shipped_entries():
    payload = {"data": [_openrouter_model("anthropic/claude-3.5-sonnet", prompt="0.000006",
                                          completion="0.00003", context=200_000, max_completion=8192,
                                          inputs=("text", "image"))]}
    assert catalogue.update_from_openrouter(payload) == 1
    assert catalogue.lookup("openrouter", "anthropic/claude-3.5-sonnet").input_price_per_token \
        == pytest.approx(6e-6)


def test_update_from_openrouter_rejects_other_json():
    with pytest.raises(InvalidInputError, match="GET /models"):
        catalogue.update_from_openrouter({"models": []})


def test_openrouter_flags_missing_from_the_answer_are_unknown(refresh):
    bare = {"id": "openai/gpt-4o-mini", "context_length": 128000, "pricing": {"prompt": "0.00000015"}}
    entry = catalogue.openrouter_entry(bare)
    assert entry["tools"] is None and entry["vision"] is None and entry["structured_output"] is None
    assert entry["output_price_per_million"] is None and entry["embeddings"] is None
    assert catalogue.openrouter_entry({"id": "e", "architecture": {"modality": "text->embeddings"}})["embeddings"]
    assert catalogue.update_from_openrouter({"data": [bare]}) == 1
    caps = catalogue.lookup("openrouter", "openai/gpt-4o-mini")
    assert caps.tools is True and caps.vision is True          # kept from the shipped entry
    new, changes = refresh.merge(FIXTURE_CATALOGUE, {"data": [bare]}, FIXTURE_CATALOGUE["updated"])
    assert new == FIXTURE_CATALOGUE and changes == []


def test_openrouter_entry_prices_are_exact():
    entry = catalogue.openrouter_entry(_openrouter_model("x/y", prompt="0.0000025", completion="0.00001"))
    assert entry["input_price_per_million"] == 2.5 and entry["output_price_per_million"] == 10.0


# --- scripts/refresh_catalogue.py ------------------------------------------------------------

FIXTURE_CATALOGUE = {
    "updated": "2026-01-01",
    "source": "test",
    "models": {
        "openai/gpt-4o": {"context_window": 128000, "max_output_tokens": 16384, "tools": True, "vision": True,
                          "structured_output": True, "streaming": True, "embeddings": False,
                          "input_price_per_million": 2.5, "output_price_per_million": 10.0,
                          "cached_input_price_per_million": 1.25},
        "anthropic/claude-sonnet-4-0": {"context_window": 200000, "max_output_tokens": 64000, "tools": True,
                                        "vision": True, "structured_output": True, "streaming": True,
                                        "embeddings": False, "input_price_per_million": None,
                                        "output_price_per_million": None, "cached_input_price_per_million": None},
        "mistral/open-mistral-nemo": {"context_window": 131072, "max_output_tokens": 131072, "tools": True,
                                      "vision": False, "structured_output": True, "streaming": True,
                                      "embeddings": False, "input_price_per_million": 0.15,
                                      "output_price_per_million": 0.15, "cached_input_price_per_million": None},
        "openrouter/openai/gpt-4o-mini": {"context_window": 128000, "max_output_tokens": 16384, "tools": True,
                                          "vision": True, "structured_output": True, "streaming": True,
                                          "embeddings": False, "input_price_per_million": 0.15,
                                          "output_price_per_million": 0.6,
                                          "cached_input_price_per_million": 0.075},
    },
}

for _entry in FIXTURE_CATALOGUE["models"].values():    # the fields added since: unknown
    for _field in catalogue.FIELDS:
        _entry.setdefault(_field, None)

FIXTURE_PAYLOAD = {"data": [
    _openrouter_model("openai/gpt-4o", prompt="0.000002", completion="0.00001", cache_read="0.00000125",
                      context=128000, max_completion=16384, inputs=("text", "image")),
    _openrouter_model("anthropic/claude-sonnet-4", prompt="0.000003", completion="0.000015",
                      cache_read="0.0000003", context=1_000_000, max_completion=64000, inputs=("text", "image")),
    _openrouter_model("mistralai/mistral-nemo", prompt="0.00000002", completion="0.00000004", context=131072,
                      max_completion=None),
    _openrouter_model("openai/gpt-4o-mini", prompt="0.00000015", completion="0.0000006",
                      cache_read="0.000000075", context=128000, max_completion=16384, inputs=("text", "image")),
    _openrouter_model("openai/gpt-4o:extended", prompt="0.000006", completion="0.000018"),
    _openrouter_model("meta-llama/llama-3.1-8b-instruct", prompt="0.00000002", completion="0.00000003"),
    _openrouter_model("openai/gpt-5", prompt="0.00000125", completion="0.00001"),
]}


def test_refresh_merge_updates_known_keys_only(refresh):
    before = copy.deepcopy(FIXTURE_CATALOGUE)
    new, changes = refresh.merge(FIXTURE_CATALOGUE, FIXTURE_PAYLOAD, "2026-12-01")
    assert FIXTURE_CATALOGUE == before                        # pure
    assert new["updated"] == "2026-12-01" and new["source"] == "test"
    assert list(new["models"]) == sorted(FIXTURE_CATALOGUE["models"])   # nothing added, sorted
    gpt4o = new["models"]["openai/gpt-4o"]
    assert gpt4o["input_price_per_million"] == 2.0 and gpt4o["output_price_per_million"] == 10.0
    sonnet = new["models"]["anthropic/claude-sonnet-4-0"]
    assert (sonnet["input_price_per_million"], sonnet["output_price_per_million"],
            sonnet["cached_input_price_per_million"], sonnet["context_window"]) == (3.0, 15.0, 0.3, 1_000_000)
    nemo = new["models"]["mistral/open-mistral-nemo"]
    assert nemo["input_price_per_million"] == 0.02
    assert nemo["max_output_tokens"] == 131072                 # native: no max stated, kept
    assert nemo["tools"] is True                               # native: flags are not touched
    mini = new["models"]["openrouter/openai/gpt-4o-mini"]
    assert mini == FIXTURE_CATALOGUE["models"]["openrouter/openai/gpt-4o-mini"]   # unchanged
    assert "openai/gpt-4o: input_price_per_million 2.5 -> 2.0" in changes
    assert "anthropic/claude-sonnet-4-0: context_window 200000 -> 1000000" in changes
    assert "(catalogue): updated '2026-01-01' -> '2026-12-01'" in changes
    assert not any("gpt-4o-mini" in line or "extended" in line for line in changes)
    for key, entry in new["models"].items():
        catalogue.validate_entry(key, entry)


def test_refresh_merge_updates_every_field_of_openrouter_entries(refresh):
    payload = {"data": [_openrouter_model("openai/gpt-4o-mini", prompt="0.0000002", completion="0.0000008",
                                          context=128000, max_completion=16384, inputs=("text",),
                                          parameters=("tools",))]}
    new, changes = refresh.merge(FIXTURE_CATALOGUE, payload, "2026-01-01")
    mini = new["models"]["openrouter/openai/gpt-4o-mini"]
    assert mini["vision"] is False and mini["structured_output"] is False
    assert mini["input_price_per_million"] == 0.2
    assert mini["cached_input_price_per_million"] == 0.075      # not stated by OpenRouter: kept
    assert all(line.startswith("openrouter/openai/gpt-4o-mini:") for line in changes)   # same date


def test_refresh_native_key_mapping(refresh):
    models = _shipped_json()["models"]
    assert refresh.native_key("anthropic/claude-3.5-haiku", models) == "anthropic/claude-3-5-haiku-latest"
    assert refresh.native_key("anthropic/claude-opus-4", models) == "anthropic/claude-opus-4-0"
    assert refresh.native_key("google/gemini-2.5-pro", models) == "gemini/gemini-2.5-pro"
    assert refresh.native_key("google/gemini-2.0-flash-001", models) == "gemini/gemini-2.0-flash"
    assert refresh.native_key("mistralai/mistral-large", models) == "mistral/mistral-large-latest"
    assert refresh.native_key("x-ai/grok-3", models) == "xai/grok-3"
    assert refresh.native_key("deepseek/deepseek-chat", models) == "deepseek/deepseek-chat"
    assert refresh.native_key("openai/gpt-4.1-mini", models) == "openai/gpt-4.1-mini"
    assert refresh.native_key("openai/gpt-4o:free", models) is None
    assert refresh.native_key("meta-llama/llama-3.1-8b-instruct", models) is None


def test_refresh_main_writes_the_file_offline(refresh, tmp_path, capsys):
    path = tmp_path / "catalogue.json"
    path.write_text(catalogue.dumps_catalogue(FIXTURE_CATALOGUE), encoding="utf-8")
    payload = tmp_path / "models.json"
    payload.write_text(json.dumps(FIXTURE_PAYLOAD), encoding="utf-8")
    assert refresh.main(["--path", str(path), "--payload", str(payload), "--today", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert "openai/gpt-4o" in out and "input_price_per_million" in out and "change(s)" in out
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["updated"] == "2026-12-01"
    assert written["models"]["openai/gpt-4o"]["input_price_per_million"] == 2.0
    assert refresh.main(["--path", str(path), "--payload", str(payload), "--today", "2026-12-01",
                         "--dry-run"]) == 0
    assert "No changes." in capsys.readouterr().out


def test_refresh_merge_rejects_other_json(refresh):
    with pytest.raises(InvalidInputError):
        refresh.merge(FIXTURE_CATALOGUE, {"models": []}, "2026-12-01")
