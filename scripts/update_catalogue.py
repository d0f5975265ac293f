"""Regenerate synaplex/lm/data/catalogue.json from litellm's model list (maintainers, with network).

    python scripts/update_catalogue.py                  # pip download the pinned wheel, write the file
    python scripts/update_catalogue.py --wheel W.whl    # a wheel already here (checked the same way)
    python scripts/update_catalogue.py --dry-run        # print the counts, write nothing

The source of facts is ``litellm/model_prices_and_context_window_backup.json`` inside the
litellm wheel pinned below (MIT license, Copyright (c) 2023 Berri AI). litellm is never
installed, imported nor made a dependency: ``pip download --no-deps`` fetches the one wheel in
hash-checking mode, this script checks its sha256 again, then reads that JSON file (and the
license) from the zip. Refused: litellm 1.82.7 and 1.82.8 (compromised releases) whatever
their hash, any version other than :data:`LITELLM_VERSION`, and any file whose sha256 is not
:data:`WHEEL_SHA256`. To move the pin, review the release and change the three constants
together.

How an entry maps (:func:`litellm_entry`): ``max_input_tokens`` → ``context_window``,
``max_output_tokens`` (0 for an embedding model); ``supports_function_calling`` → ``tools``, ``supports_vision`` →
``vision``, ``supports_response_schema`` → ``structured_output``, ``supports_native_streaming``
→ ``streaming``, ``mode == "embedding"`` → ``embeddings``, ``supports_reasoning`` →
``reasoning``, ``supports_tool_choice`` → ``tool_choice``, ``supports_system_messages`` →
``system_messages``; ``streaming_tool_calls`` is True for a model with tools that streams on a
provider whose API streams tool-call deltas (:data:`STREAMS_TOOL_CALLS`), False without tools
or streaming. USD per token → USD per million tokens (``input_cost_per_token``,
``output_cost_per_token``, ``cache_read_input_token_cost``). A fact litellm does not state is
``null`` (unknown: synaplex tries it), never false.

Keys: ``<synaplex provider>/<model>``, the provider from :data:`PROVIDERS` (litellm's
``together_ai`` → ``together``, every ``vertex_ai-*`` → ``vertex_ai``...; providers without
a row keep litellm's name; local servers are left out: they cost 0.0 by rule) and litellm's
own provider prefix removed from the model (``openrouter/openrouter/x`` is not written twice).
Several litellm keys for one catalogue key: the one stating most facts wins, the others fill
its unknowns. Then synaplex's curated entries (``scripts/catalogue_curated.json``) override,
field by field, where they state a value. The file is written sorted, one model a line.

Nothing here runs on import: tests call the functions on small fake wheels.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import zipfile
from decimal import Decimal, InvalidOperation
from typing import Any

try:
    import synaplex  # noqa: F401
except ImportError:                                    # run from a checkout without installing
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import catalogue as _catalogue

ROOT = pathlib.Path(__file__).resolve().parents[1]
CATALOGUE_PATH = ROOT / "synaplex" / "lm" / "data" / "catalogue.json"
CURATED_PATH = ROOT / "scripts" / "catalogue_curated.json"

#: The pinned wheel. Newer litellm releases (1.105 on) no longer list OpenRouter's models.
LITELLM_VERSION = "1.100.5"
WHEEL_FILENAME = "litellm-1.100.5-cp310-abi3-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "dd41ce5d99c42ca3bd6cb5748e6a76de37d1673206f461ef2dfabb5d3129c040"
#: pip's options that select that very file on any machine.
PIP_PLATFORM = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.10", "--implementation", "cp",
                "--abi", "abi3")
#: Releases that were compromised on PyPI: never read, whatever the hash.
COMPROMISED_VERSIONS = frozenset({"1.82.7", "1.82.8"})
#: The JSON file in the wheel, first found wins.
MODEL_PRICES_MEMBERS = ("litellm/model_prices_and_context_window_backup.json",
                        "model_prices_and_context_window.json")
MAX_MEMBER_BYTES = 64 * 1024 * 1024

#: litellm_provider → synaplex provider (profiles.py's names where synaplex has a profile).
PROVIDERS = {
    "openai": "openai", "text-completion-openai": "openai",
    "azure": "azure", "azure_text": "azure",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "mistral": "mistral",
    "groq": "groq",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "together_ai": "together",
    "fireworks_ai": "fireworks", "fireworks_ai-embedding-models": "fireworks",
    "perplexity": "perplexity",
    "cerebras": "cerebras",
    "xai": "xai",
    "cohere": "cohere", "cohere_chat": "cohere",
    # no profile in synaplex, named for lookups and costs
    "bedrock": "bedrock", "bedrock_converse": "bedrock",
    "vertex_ai": "vertex_ai",                       # and every "vertex_ai-<family>"
    "text-completion-codestral": "codestral",
    "text-completion-inception": "inception",
}
#: litellm providers that are servers on the user's machine: priced 0.0 by rule, left out.
LOCAL_LITELLM_PROVIDERS = frozenset({"ollama", "ollama_chat", "lemonade", "lm_studio", "llamafile", "vllm",
                                     "hosted_vllm", "llamacpp"})
#: Modes kept: what synaplex's LanguageModel and EmbeddingModel call.
MODES = frozenset({"chat", "completion", "responses", "embedding"})
#: Providers whose API streams tool-call deltas (OpenAI's tool_calls deltas, Anthropic's
#: input_json_delta, Gemini's functionCall parts).
STREAMS_TOOL_CALLS = frozenset({"openai", "azure", "anthropic", "gemini", "mistral", "xai", "deepseek", "groq",
                                "openrouter"})
_PROVIDER_NAME = re.compile(r"[a-z0-9_]+")


class WheelRefusedError(InvalidInputError):
    """A litellm wheel this script will not read (version, hash, content, license)."""


# --- the wheel ---------------------------------------------------------------------------------

def wheel_version(path: pathlib.Path) -> str:
    """The version in a litellm wheel's file name (``litellm-<version>-<tags>.whl``)."""
    match = re.fullmatch(r"litellm-([0-9][^-]*)-.+\.whl", pathlib.Path(path).name)
    if match is None:
        raise WheelRefusedError(f"{pathlib.Path(path).name!r} is not a litellm wheel file name "
                                f"(expected litellm-<version>-<tags>.whl).")
    return match.group(1)


def check_version(version: str, pinned: str = LITELLM_VERSION) -> None:
    """Refuse a compromised release, then any version but the pinned one."""
    if version in COMPROMISED_VERSIONS:
        raise WheelRefusedError(f"litellm {version} was a compromised release "
                                f"({', '.join(sorted(COMPROMISED_VERSIONS))}); refusing to read it.")
    if version != pinned:
        raise WheelRefusedError(f"litellm {version} is not the pinned version {pinned}; move the pin "
                                f"(LITELLM_VERSION, WHEEL_FILENAME, WHEEL_SHA256) after reviewing the release.")


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_wheel(path: pathlib.Path, *, version: str = LITELLM_VERSION,
               sha256: str = WHEEL_SHA256) -> tuple[dict, str]:
    """The model list and the MIT license text of a checked litellm wheel; nothing is executed.

    Raises:
        WheelRefusedError: a compromised or unpinned version, a sha256 other than ``sha256``,
            no model list, a model list that is not a JSON object, a license that is not MIT.
    """
    path = pathlib.Path(path)
    check_version(wheel_version(path), version)
    actual = sha256_of(path)
    if actual != sha256:
        raise WheelRefusedError(f"{path.name}: sha256 {actual} is not the pinned {sha256}; refusing to read it.")
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        member = next((name for name in MODEL_PRICES_MEMBERS if name in names), None)
        if member is None:
            raise WheelRefusedError(f"{path.name} holds none of {', '.join(MODEL_PRICES_MEMBERS)}.")
        if wheel.getinfo(member).file_size > MAX_MEMBER_BYTES:
            raise WheelRefusedError(f"{path.name}: {member} is larger than {MAX_MEMBER_BYTES} bytes.")
        try:
            prices = json.loads(wheel.read(member).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WheelRefusedError(f"{path.name}: {member} is not JSON: {error}") from None
        licenses = sorted(name for name in names if re.fullmatch(r"litellm-[^/]+\.dist-info/(licenses/)?LICENSE",
                                                                 name))
        text = wheel.read(licenses[0]).decode("utf-8", "replace") if licenses else ""
    if not isinstance(prices, dict):
        raise WheelRefusedError(f"{path.name}: {member} is a JSON {type(prices).__name__}, not an object.")
    mit = text.find("MIT License")
    if mit < 0:
        raise WheelRefusedError(f"{path.name}: no MIT license found in its dist-info; refusing to copy its data.")
    return prices, text[mit:].strip()


def download_wheel(directory: pathlib.Path) -> pathlib.Path:
    """``pip download --no-deps`` the pinned wheel, in pip's hash-checking mode (network)."""
    requirements = pathlib.Path(directory) / "litellm-pin.txt"
    requirements.write_text(f"litellm=={LITELLM_VERSION} --hash=sha256:{WHEEL_SHA256}\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *PIP_PLATFORM,
                    "--require-hashes", "-r", str(requirements), "-d", str(directory)], check=True)
    path = pathlib.Path(directory) / WHEEL_FILENAME
    if not path.is_file():
        raise WheelRefusedError(f"pip did not download {WHEEL_FILENAME} into {directory}.")
    return path


# --- mapping -----------------------------------------------------------------------------------

def synaplex_provider(litellm_provider: Any) -> str | None:
    """Our provider for litellm's ``litellm_provider``; None for local servers and odd names."""
    if not isinstance(litellm_provider, str):
        return None
    name = litellm_provider.strip().lower()
    if name in LOCAL_LITELLM_PROVIDERS:
        return None
    if name in PROVIDERS:
        provider = PROVIDERS[name]
    elif name.startswith("vertex_ai-"):
        provider = "vertex_ai"
    else:
        provider = _catalogue.PROVIDER_ALIASES.get(name, name)
    if provider in _catalogue.LOCAL_PROVIDERS or not _PROVIDER_NAME.fullmatch(provider):
        return None
    return provider


def catalogue_key(litellm_key: str, spec: dict) -> str | None:
    """``<provider>/<model>`` for one litellm entry, or None when it is not kept."""
    if not isinstance(spec, dict) or spec.get("mode") not in MODES:
        return None
    litellm_provider = spec.get("litellm_provider")
    provider = synaplex_provider(litellm_provider)
    name = litellm_key.strip() if isinstance(litellm_key, str) else ""
    if provider is None or not name or any(char.isspace() or char == "*" for char in name):
        return None                       # "*": Bedrock's provisioned-throughput price rows
    prefixes = {provider, litellm_provider} | {key for key, value in PROVIDERS.items() if value == provider}
    first, slash, rest = name.partition("/")
    if slash and rest and (first in prefixes or (provider == "vertex_ai" and first == "vertex_ai")):
        name = rest
    return None if name.endswith("/") else f"{provider}/{name}"


def _flag(spec: dict, name: str) -> bool | None:
    value = spec.get(name)
    return value if isinstance(value, bool) else None


def _tokens(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def _per_million(value: Any) -> float | None:
    """USD per token (number or numeric string) → USD per million tokens, exactly; else None."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value)) * 1_000_000
    except InvalidOperation:
        return None
    return float(amount) if amount.is_finite() and amount >= 0 else None


def litellm_entry(spec: dict, provider: str | None = None) -> dict:
    """One litellm model entry as a catalogue entry (every field of ``catalogue.FIELDS``).

    A capability litellm does not state is None (unknown), never False. ``provider`` (ours)
    decides ``streaming_tool_calls`` through :data:`STREAMS_TOOL_CALLS`.
    """
    mode = spec.get("mode")
    embeddings = None if mode is None else mode == "embedding"
    tools = False if embeddings else _flag(spec, "supports_function_calling")
    streaming = False if embeddings else _flag(spec, "supports_native_streaming")
    if tools is False or streaming is False:
        streaming_tool_calls = False
    elif tools and provider in STREAMS_TOOL_CALLS:
        streaming_tool_calls = True
    else:
        streaming_tool_calls = None
    entry = {
        "context_window": _tokens(spec.get("max_input_tokens")),
        "max_output_tokens": 0 if embeddings else _tokens(spec.get("max_output_tokens")),  # vectors, not tokens
        "tools": tools,
        "vision": _flag(spec, "supports_vision"),
        "structured_output": False if embeddings else _flag(spec, "supports_response_schema"),
        "streaming": streaming,
        "embeddings": embeddings,
        "reasoning": False if embeddings else _flag(spec, "supports_reasoning"),
        "tool_choice": False if embeddings else _flag(spec, "supports_tool_choice"),
        "streaming_tool_calls": streaming_tool_calls,
        "system_messages": _flag(spec, "supports_system_messages"),
        "input_price_per_million": _per_million(spec.get("input_cost_per_token")),
        "output_price_per_million": _per_million(spec.get("output_cost_per_token")),
        "cached_input_price_per_million": _per_million(spec.get("cache_read_input_token_cost")),
    }
    return {name: entry[name] for name in _catalogue.FIELDS}


def _known(entry: dict) -> int:
    return sum(value is not None for value in entry.values())


def build_catalogue(prices: dict, curated: dict, header: dict) -> tuple[dict, dict]:
    """The catalogue (``header`` + sorted ``models``) and counts: ``by_provider``, ``read``,
    ``kept``, ``merged`` (litellm keys folded into another), ``curated``, ``curated_only``."""
    candidates: dict[str, list[tuple[str, dict]]] = collections.defaultdict(list)
    for litellm_key, spec in prices.items():
        key = catalogue_key(litellm_key, spec) if litellm_key != "sample_spec" else None
        if key is not None:
            candidates[key].append((litellm_key, litellm_entry(spec, key.partition("/")[0])))
    models: dict[str, dict] = {}
    merged = 0
    for key, found in candidates.items():
        found.sort(key=lambda item: (-_known(item[1]), item[0]))
        entry = dict(found[0][1])
        for _, other in found[1:]:
            merged += 1
            for name, value in other.items():
                if entry[name] is None:
                    entry[name] = value
        models[key] = entry
    curated_only = 0
    for key, fields in curated.items():
        provider, _, name = key.partition("/")
        key = f"{_catalogue.PROVIDER_ALIASES.get(provider, provider)}/{name}"
        checked = _catalogue.validate_entry(key, fields, partial=True)
        if key not in models:
            curated_only += 1
            models[key] = dict.fromkeys(_catalogue.FIELDS)
        models[key].update({name: value for name, value in checked.items() if value is not None})
    for key, entry in models.items():
        _catalogue.validate_entry(key, entry)
    ordered = {key: models[key] for key in sorted(models)}
    counts = {"read": len(prices), "kept": len(candidates), "merged": merged, "curated": len(curated),
              "curated_only": curated_only,
              "by_provider": dict(sorted(collections.Counter(k.partition("/")[0] for k in ordered).items()))}
    return {**header, "models": ordered}, counts


def header(today: str, wheel_sha256: str, license_text: str, entries_read: int) -> dict:
    return {
        "updated": today,
        "source": (f"litellm {LITELLM_VERSION}'s model_prices_and_context_window JSON (MIT license, "
                   "Copyright (c) 2023 Berri AI), plus synaplex's curated entries (scripts/catalogue_curated.json), "
                   "which win; regenerate with scripts/update_catalogue.py, refresh OpenRouter prices with "
                   "scripts/refresh_catalogue.py"),
        "litellm": {"version": LITELLM_VERSION, "wheel": WHEEL_FILENAME, "sha256": wheel_sha256,
                    "member": MODEL_PRICES_MEMBERS[0], "license": "MIT", "entries_read": entries_read},
        "license_notice": license_text,
    }


def load_curated(path: pathlib.Path) -> dict:
    data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise InvalidInputError(f"{path}: expected {{'models': {{'provider/model': {{fields}}}}}}.")
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=pathlib.Path, help=f"a downloaded {WHEEL_FILENAME} (else pip downloads it)")
    parser.add_argument("--curated", type=pathlib.Path, default=CURATED_PATH, help="the curated entries")
    parser.add_argument("--output", type=pathlib.Path, default=CATALOGUE_PATH, help="the catalogue JSON to write")
    parser.add_argument("--today", default=datetime.date.today().isoformat(), help="the 'updated' date")
    parser.add_argument("--dry-run", action="store_true", help="print the counts, write nothing")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as directory:
        wheel = args.wheel if args.wheel is not None else download_wheel(pathlib.Path(directory))
        prices, license_text = read_wheel(wheel, version=LITELLM_VERSION, sha256=WHEEL_SHA256)
    new, counts = build_catalogue(prices, load_curated(args.curated),
                                  header(args.today, WHEEL_SHA256, license_text, len(prices)))
    print(f"litellm {LITELLM_VERSION}: {counts['read']} entries read, {counts['kept']} kept "
          f"({counts['merged']} more folded into them); {counts['curated']} curated "
          f"({counts['curated_only']} not in litellm); {len(new['models'])} models.")
    for provider, count in counts["by_provider"].items():
        print(f"  {provider:24} {count}")
    if not args.dry_run:
        text = _catalogue.dumps_catalogue(new)
        args.output.write_text(text, encoding="utf-8")
        print(f"Wrote {args.output} ({len(text.encode('utf-8'))} bytes).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
