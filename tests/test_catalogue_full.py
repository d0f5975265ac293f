"""The full catalogue: litellm's model list extracted by scripts/update_catalogue.py, tri-state
capabilities (None = unknown = tried), lookups by the names users write. No network: the
script is exercised on small fake wheels built here."""

import hashlib
import importlib.resources
import importlib.util
import json
import pathlib
import zipfile

import pytest

import synaplex
from synaplex.backend.errors import InvalidInputError
from synaplex.lm import catalogue
from synaplex.lm.base import Capabilities

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "update_catalogue.py"
TOOLS = [{"name": "lookup", "description": "look up", "parameters": {"type": "object", "properties": {}}}]
MESSAGES = [{"role": "user", "content": "hi"}]
MIT = "MIT License\n\nCopyright (c) 2023 Berri AI\n\nPermission is hereby granted, free of charge..."


@pytest.fixture(autouse=True)
def _no_overrides():
    catalogue.reset_overrides()
    yield
    catalogue.reset_overrides()


@pytest.fixture(scope="module")
def update():
    spec = importlib.util.spec_from_file_location("update_catalogue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shipped() -> dict:
    resource = importlib.resources.files("synaplex.lm").joinpath("data", "catalogue.json")
    return json.loads(resource.read_text(encoding="utf-8"))


def _fake_wheel(directory: pathlib.Path, name: str, prices, license_text: str = MIT) -> pathlib.Path:
    path = directory / name
    version = name.split("-")[1]
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("litellm/__init__.py", "raise SystemExit('never imported')\n")
        wheel.writestr("litellm/model_prices_and_context_window_backup.json", json.dumps(prices))
        wheel.writestr(f"litellm-{version}.dist-info/licenses/LICENSE", license_text)
    return path


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the shipped file ------------------------------------------------------------------------

def test_shipped_file_has_thousands_of_valid_entries_and_names_its_source(shipped, update):
    models = shipped["models"]
    assert len(models) >= 2500
    for key, entry in models.items():
        provider, _, name = key.partition("/")
        assert provider and name and provider not in catalogue.LOCAL_PROVIDERS, key
        assert list(entry) == list(catalogue.FIELDS), key
        catalogue.validate_entry(key, entry)
    assert list(models) == sorted(models)
    source = shipped["litellm"]
    assert source == {"version": update.LITELLM_VERSION, "wheel": update.WHEEL_FILENAME,
                      "sha256": update.WHEEL_SHA256, "member": "litellm/model_prices_and_context_window_backup.json",
                      "license": "MIT", "entries_read": source["entries_read"]}
    assert source["version"] not in update.COMPROMISED_VERSIONS and source["entries_read"] > len(models)
    assert shipped["license_notice"].startswith("MIT License") and "Berri AI" in shipped["license_notice"]
    assert catalogue.dumps_catalogue(shipped) == importlib.resources.files("synaplex.lm").joinpath(
        "data", "catalogue.json").read_text("utf-8")                      # canonical, deterministic form


def test_shipped_file_covers_the_providers_users_name(shipped):
    count = {}
    for key in shipped["models"]:
        provider = key.partition("/")[0]
        count[provider] = count.get(provider, 0) + 1
    for provider, least in [("openai", 100), ("azure", 100), ("anthropic", 20), ("gemini", 40), ("mistral", 50),
                            ("groq", 10), ("openrouter", 100), ("deepseek", 5), ("together", 50), ("fireworks", 200),
                            ("xai", 30), ("cohere", 10), ("bedrock", 300), ("vertex_ai", 100)]:
        assert count.get(provider, 0) >= least, (provider, count.get(provider))


def test_known_facts_read_from_the_shipped_file():
    gpt4o = catalogue.lookup_model("gpt-4o")
    assert gpt4o == catalogue.lookup("openai", "gpt-4o")
    assert gpt4o.context_window == 128_000 and gpt4o.max_output_tokens == 16_384
    assert gpt4o.input_price_per_token == pytest.approx(2.5e-6)
    assert gpt4o.output_price_per_token == pytest.approx(10e-6)
    assert gpt4o.tools is True and gpt4o.vision is True and gpt4o.structured_output is True
    assert gpt4o.tool_choice is True and gpt4o.streaming_tool_calls is True and gpt4o.system_messages is True
    llama = catalogue.lookup_model("openrouter/meta-llama/llama-3.3-70b-instruct")
    assert llama.tools is True and llama.context_window == 131_072 and llama.vision is False
    groq = catalogue.lookup_model("groq/llama-3.3-70b-versatile")
    assert groq.tools is True and groq.context_window == 131_072
    assert groq.input_price_per_token == pytest.approx(0.59e-6)
    reasoner = catalogue.lookup_model("deepseek/deepseek-reasoner")
    assert reasoner.tools is False and reasoner.reasoning is True and reasoner.streaming_tool_calls is False
    embedding = catalogue.lookup_model("text-embedding-3-small")
    assert embedding.embeddings is True and embedding.tools is False and embedding.max_output_tokens == 0


@pytest.mark.parametrize("model, context_window, input_price", [
    ("openai/gpt-4o-2024-08-06", 128_000, 2.5),                          # dated, its own entry
    ("gpt-4o-mini", 128_000, 0.15),
    ("anthropic/claude-3-haiku-20240307", 200_000, 0.25),
    ("claude-3-5-haiku-20241022", 200_000, 0.8),                         # → claude-3-5-haiku-latest
    ("azure/gpt-4o", 128_000, 2.5),
    ("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", None, 3.0),
    ("bedrock_converse/anthropic.claude-3-5-sonnet-20240620-v1:0", None, 3.0),
    ("vertex_ai/claude-3-5-sonnet@20240620", 200_000, 3.0),
    ("vertex/claude-3-5-sonnet@20240620", 200_000, 3.0),
    ("vertex_ai/gemini-2.0-flash", 1_048_576, 0.1),
    ("gemini/gemini-2.0-flash-001", 1_048_576, 0.1),
    ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", 131_072, 1.04),
    ("meta-llama/llama-3.3-70b-instruct", 131_072, None),                # bare OpenRouter vendor id
])
def test_lookup_by_the_names_users_write(model, context_window, input_price):
    caps = catalogue.lookup_model(model)
    assert caps is not None, model
    if context_window is not None:
        assert caps.context_window == context_window
    assert caps.input_price_per_token == (None if input_price is None else pytest.approx(input_price / 1e6))


def test_vertex_snapshot_suffix_is_stripped():
    assert catalogue.lookup("vertex_ai", "claude-3-5-sonnet@20990101") == catalogue.lookup("vertex_ai",
                                                                                         "claude-3-5-sonnet")


def test_lookup_model_rejects_empty_and_answers_none_for_unknown():
    with pytest.raises(InvalidInputError, match="non-empty string"):
        catalogue.lookup_model("  ")
    assert catalogue.lookup_model("openai/gpt-99-ultra") is None
    assert catalogue.lookup_model("no-such-model-family") is None
    catalogue.register_model("myhost/my-model", tools=True)
    assert catalogue.lookup_model("myhost/my-model").tools is True


# --- tri-state capabilities ------------------------------------------------------------------

def test_capabilities_default_to_unknown():
    caps = Capabilities()
    for name in ("tools", "vision", "structured_output", "streaming", "embeddings", "reasoning", "tool_choice",
                 "streaming_tool_calls", "system_messages"):
        assert getattr(caps, name) is None, name


def test_unknown_capabilities_are_none_not_false():
    free = catalogue.lookup("openrouter", "some-lab/unknown-model:free")
    assert free.tools is None and free.structured_output is None and free.vision is None
    assert free.input_price_per_token == 0.0
    catalogue.register_model("together/new-model", context_window=8192, tools=None, system_messages=False)
    caps = catalogue.lookup("together", "new-model")
    assert caps.tools is None and caps.system_messages is False and caps.streaming_tool_calls is None
    with pytest.raises(InvalidInputError, match="'streaming_tool_calls'"):
        catalogue.register_model("together/new-model", streaming_tool_calls="yes")


def test_router_keeps_openrouter_llama_for_a_tool_call():
    llama = synaplex.LanguageModel(model="openrouter/meta-llama/llama-3.3-70b-instruct", api_key="sk-test")
    reasoner = synaplex.LanguageModel(model="deepseek/deepseek-reasoner", api_key="sk-test")
    router = synaplex.Router(models=[reasoner, llama], strategy="manual")
    candidates, dropped = router.order(MESSAGES, tools=TOOLS)
    assert candidates == [llama]
    assert dropped == ["deepseek/deepseek-reasoner: no tool calling"]


def test_an_unknown_model_is_tried_for_tools_and_structured_output():
    unknown = synaplex.LanguageModel(model="openai/some-unreleased-model", api_key="sk-test")
    caps = unknown.capabilities
    assert catalogue.lookup("openai", "some-unreleased-model") is None
    assert caps.tools is None and caps.vision is None and caps.streaming_tool_calls is None
    router = synaplex.Router(models=[unknown])
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    assert router.order(MESSAGES, schema=schema, tools=TOOLS) == ([unknown], [])
    no_schema = synaplex.LanguageModel(model="openai/some-unreleased-model", api_key="sk-test",
                                       capabilities={"structured_output": False})
    assert synaplex.Router(models=[no_schema]).order(MESSAGES, schema=schema)[0] == []


def test_images_go_to_a_model_whose_vision_is_unknown_and_not_to_one_without():
    unknown_vision = synaplex.LanguageModel(model="openrouter/meta-llama/llama-3-70b-instruct", api_key="sk-test")
    assert catalogue.lookup("openrouter", "meta-llama/llama-3-70b-instruct").vision is None   # an entry, no fact
    unknown_vision._check_vision()                                     # tried: no error
    blind = synaplex.LanguageModel(model="deepseek/deepseek-reasoner", api_key="sk-test")
    assert blind.capabilities.vision is False
    with pytest.raises(synaplex.errors.UnsupportedInputError, match="does not take images"):
        blind._check_vision()


# --- scripts/update_catalogue.py: the wheel ---------------------------------------------------

PRICES = {
    "sample_spec": {"mode": "one of: chat, embedding", "litellm_provider": "one of https://docs.litellm.ai"},
    "gpt-test": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128000,
                 "max_output_tokens": 16384, "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                 "supports_function_calling": True, "supports_vision": True},
    "openrouter/acme/chat": {"litellm_provider": "openrouter", "mode": "chat", "input_cost_per_token": 5.9e-07},
    "dall-e-test": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_pixel": 1e-08},
    "ollama/llama3": {"litellm_provider": "ollama", "mode": "chat", "supports_function_calling": True},
}


def test_extraction_refuses_a_wheel_whose_sha256_differs(update, tmp_path):
    wheel = _fake_wheel(tmp_path, update.WHEEL_FILENAME, PRICES)
    with pytest.raises(update.WheelRefusedError, match="sha256 .* is not the pinned") as info:
        update.read_wheel(wheel)
    assert isinstance(info.value, InvalidInputError)


@pytest.mark.parametrize("version", ["1.82.7", "1.82.8"])
def test_extraction_refuses_the_compromised_releases_whatever_the_hash(update, tmp_path, version):
    wheel = _fake_wheel(tmp_path, f"litellm-{version}-py3-none-any.whl", PRICES)
    with pytest.raises(update.WheelRefusedError, match=f"litellm {version} was a compromised release"):
        update.read_wheel(wheel, version=version, sha256=_sha256(wheel))
    with pytest.raises(update.WheelRefusedError, match="compromised"):
        update.check_version(version, pinned=version)


def test_extraction_refuses_other_versions_and_odd_files(update, tmp_path):
    wheel = _fake_wheel(tmp_path, "litellm-1.99.0-py3-none-any.whl", PRICES)
    with pytest.raises(update.WheelRefusedError, match="not the pinned version"):
        update.read_wheel(wheel, sha256=_sha256(wheel))
    with pytest.raises(update.WheelRefusedError, match="not a litellm wheel"):
        update.wheel_version(tmp_path / "requests-2.0-py3-none-any.whl")
    gpl = _fake_wheel(tmp_path, "litellm-1.99.1-py3-none-any.whl", PRICES, license_text="GPL")
    with pytest.raises(update.WheelRefusedError, match="no MIT license"):
        update.read_wheel(gpl, version="1.99.1", sha256=_sha256(gpl))
    listed = _fake_wheel(tmp_path, "litellm-1.99.2-py3-none-any.whl", [1, 2])
    with pytest.raises(update.WheelRefusedError, match="not an object"):
        update.read_wheel(listed, version="1.99.2", sha256=_sha256(listed))


def test_extraction_reads_a_checked_wheel_without_running_it(update, tmp_path):
    wheel = _fake_wheel(tmp_path, f"litellm-{update.LITELLM_VERSION}-py3-none-any.whl", PRICES)
    prices, license_text = update.read_wheel(wheel, sha256=_sha256(wheel))
    assert prices == PRICES and license_text.startswith("MIT License")
    curated = {"openai/gpt-test": {"context_window": 64000, "tools": None},
               "groq/curated-only": {"tools": True}}
    built, counts = update.build_catalogue(prices, curated, {"updated": "2026-12-01"})
    assert list(built) == ["updated", "models"]
    assert sorted(built["models"]) == ["groq/curated-only", "openai/gpt-test", "openrouter/acme/chat"]
    gpt = built["models"]["openai/gpt-test"]
    assert gpt["context_window"] == 64000                     # curated value wins
    assert gpt["tools"] is True                               # curated None is "not curated": litellm's
    assert gpt["input_price_per_million"] == 2.5 and gpt["output_price_per_million"] == 10.0
    assert built["models"]["groq/curated-only"]["tools"] is True
    assert built["models"]["groq/curated-only"]["context_window"] is None
    assert counts["by_provider"] == {"groq": 1, "openai": 1, "openrouter": 1} and counts["curated_only"] == 1


def test_extraction_main_writes_the_file_offline(update, tmp_path, monkeypatch, capsys):
    wheel = _fake_wheel(tmp_path, update.WHEEL_FILENAME, PRICES)
    monkeypatch.setattr(update, "WHEEL_SHA256", _sha256(wheel))
    curated = tmp_path / "curated.json"
    curated.write_text(json.dumps({"models": {}}), encoding="utf-8")
    output = tmp_path / "catalogue.json"
    assert update.main(["--wheel", str(wheel), "--curated", str(curated), "--output", str(output),
                        "--today", "2026-12-01"]) == 0
    written = json.loads(output.read_text(encoding="utf-8"))
    assert written["litellm"]["sha256"] == _sha256(wheel) and written["litellm"]["license"] == "MIT"
    assert sorted(written["models"]) == ["openai/gpt-test", "openrouter/acme/chat"]
    assert catalogue.dumps_catalogue(written) == output.read_text(encoding="utf-8")
    assert "2 models" in capsys.readouterr().out


# --- scripts/update_catalogue.py: the mapping -------------------------------------------------

def test_mapping_of_a_full_litellm_entry(update):
    entry = update.litellm_entry({
        "litellm_provider": "anthropic", "mode": "chat", "max_input_tokens": 200000, "max_output_tokens": 64000,
        "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "cache_read_input_token_cost": 3e-07,
        "supports_function_calling": True, "supports_vision": True, "supports_response_schema": True,
        "supports_reasoning": True, "supports_tool_choice": True, "supports_system_messages": True,
        "supports_native_streaming": True}, "anthropic")
    assert entry == {"context_window": 200000, "max_output_tokens": 64000, "tools": True, "vision": True,
                     "structured_output": True, "streaming": True, "embeddings": False, "reasoning": True,
                     "tool_choice": True, "streaming_tool_calls": True, "system_messages": True,
                     "input_price_per_million": 3.0, "output_price_per_million": 15.0,
                     "cached_input_price_per_million": 0.3}
    assert list(entry) == list(catalogue.FIELDS)


def test_mapping_leaves_missing_fields_unknown(update):
    entry = update.litellm_entry({"litellm_provider": "novita", "mode": "chat"}, "novita")
    assert entry["embeddings"] is False
    assert all(value is None for name, value in entry.items() if name != "embeddings"), entry
    bare = update.litellm_entry({})
    assert all(value is None for value in bare.values()), bare


def test_mapping_of_odd_values_embeddings_and_non_streaming_models(update):
    odd = update.litellm_entry({"mode": "chat", "max_input_tokens": "many", "max_output_tokens": 4096.0,
                                "input_cost_per_token": "2e-07", "output_cost_per_token": -1,
                                "supports_function_calling": "yes", "supports_vision": 1})
    assert (odd["context_window"], odd["max_output_tokens"]) == (None, 4096)
    assert odd["input_price_per_million"] == 0.2 and odd["output_price_per_million"] is None
    assert odd["tools"] is None and odd["vision"] is None
    embedding = update.litellm_entry({"mode": "embedding", "max_input_tokens": 8191, "input_cost_per_token": 2e-08,
                                      "output_cost_per_token": 0.0}, "openai")
    assert embedding["embeddings"] is True and embedding["max_output_tokens"] == 0
    assert embedding["tools"] is False and embedding["streaming_tool_calls"] is False
    assert embedding["input_price_per_million"] == 0.02
    batch_only = update.litellm_entry({"mode": "chat", "supports_function_calling": True,
                                       "supports_native_streaming": False}, "openai")
    assert batch_only["streaming"] is False and batch_only["streaming_tool_calls"] is False
    elsewhere = update.litellm_entry({"mode": "chat", "supports_function_calling": True}, "novita")
    assert elsewhere["streaming_tool_calls"] is None


@pytest.mark.parametrize("key, spec, expected", [
    ("gpt-4o", {"litellm_provider": "openai", "mode": "chat"}, "openai/gpt-4o"),
    ("openrouter/meta-llama/llama-3-70b-instruct", {"litellm_provider": "openrouter", "mode": "chat"},
     "openrouter/meta-llama/llama-3-70b-instruct"),
    ("openrouter/openrouter/auto", {"litellm_provider": "openrouter", "mode": "chat"},
     "openrouter/openrouter/auto"),
    ("together_ai/meta-llama/Llama-3.3-70B", {"litellm_provider": "together_ai", "mode": "chat"},
     "together/meta-llama/Llama-3.3-70B"),
    ("vertex_ai/claude-3-5-sonnet@20240620", {"litellm_provider": "vertex_ai-anthropic_models", "mode": "chat"},
     "vertex_ai/claude-3-5-sonnet@20240620"),
    ("gemini-1.5-pro", {"litellm_provider": "vertex_ai-language-models", "mode": "chat"},
     "vertex_ai/gemini-1.5-pro"),
    ("anthropic.claude-3-haiku-20240307-v1:0", {"litellm_provider": "bedrock_converse", "mode": "chat"},
     "bedrock/anthropic.claude-3-haiku-20240307-v1:0"),
    ("azure/eu/gpt-4o", {"litellm_provider": "azure", "mode": "chat"}, "azure/eu/gpt-4o"),
    ("text-embedding-3-small", {"litellm_provider": "openai", "mode": "embedding"}, "openai/text-embedding-3-small"),
    ("dall-e-3", {"litellm_provider": "openai", "mode": "image_generation"}, None),
    ("ollama/llama3", {"litellm_provider": "ollama", "mode": "chat"}, None),
    ("bedrock/*/1-month-commitment/cohere.command", {"litellm_provider": "bedrock", "mode": "chat"}, None),
    ("fireworks_ai/accounts/fireworks/models/", {"litellm_provider": "fireworks_ai", "mode": "chat"}, None),
    ("x", {"litellm_provider": "one of https://docs.litellm.ai/docs/providers", "mode": "chat"}, None),
])
def test_catalogue_keys_from_litellm_keys(update, key, spec, expected):
    assert update.catalogue_key(key, spec) == expected


def test_several_litellm_keys_fold_into_one_entry(update):
    prices = {"claude-x": {"litellm_provider": "anthropic", "mode": "chat", "max_input_tokens": 200000,
                           "supports_function_calling": True},
              "anthropic/claude-x": {"litellm_provider": "anthropic", "mode": "chat", "max_input_tokens": 100000,
                                     "supports_function_calling": True, "supports_vision": True,
                                     "input_cost_per_token": 1e-06}}
    built, counts = update.build_catalogue(prices, {}, {})
    entry = built["models"]["anthropic/claude-x"]
    assert entry["context_window"] == 100000 and entry["vision"] is True    # the one stating most facts
    assert counts["merged"] == 1
    reverse, _ = update.build_catalogue(dict(reversed(list(prices.items()))), {}, {})
    assert reverse == built                                                 # independent of the order
