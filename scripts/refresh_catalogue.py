"""Refresh synaplex/lm/data/catalogue.json from OpenRouter's model list (maintainers, with network).

    python scripts/refresh_catalogue.py                  # fetch, print the changes, write the file
    python scripts/refresh_catalogue.py --dry-run        # fetch and print only
    python scripts/refresh_catalogue.py --payload models.json   # use a saved GET /models answer

``OPENROUTER_API_KEY`` is sent when set; the endpoint also answers without it.

What changes (only entries already in the catalogue; nothing is added):

* ``<provider>/<model>`` entries that an OpenRouter id maps onto (``openai/``, ``anthropic/``,
  ``google/`` → gemini, ``mistralai/`` → mistral, ``x-ai/`` → xai, ``deepseek/``; see
  :func:`native_key`): input, output and cached-input prices, context window and max output
  tokens, where OpenRouter states them;
* ``openrouter/<id>`` entries: every field, from the OpenRouter entry of that id.

Review the printed table before committing: OpenRouter serves ``deepseek/`` models through
several hosts, whose prices can differ from DeepSeek's own API.

Nothing here runs on import: tests call :func:`merge` on a fixture payload.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import pathlib
import sys

try:
    import synaplex  # noqa: F401
except ImportError:                                    # run from a checkout without installing
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from synaplex.backend.errors import InvalidInputError
from synaplex.lm import catalogue as _catalogue

OPENROUTER_MODELS_URL = "https://openrouter.ai/api/v1/models"
CATALOGUE_PATH = pathlib.Path(__file__).resolve().parents[1] / "synaplex" / "lm" / "data" / "catalogue.json"

#: OpenRouter vendor prefix → our provider name.
VENDOR_PROVIDERS = {"openai/": "openai", "anthropic/": "anthropic", "google/": "gemini",
                    "mistralai/": "mistral", "x-ai/": "xai", "deepseek/": "deepseek"}

#: OpenRouter ids whose name is not ours plus an optional "-latest"/"-0".
ID_ALIASES = {
    "google/gemini-flash-1.5": "gemini/gemini-1.5-flash",
    "google/gemini-pro-1.5": "gemini/gemini-1.5-pro",
    "google/gemini-2.0-flash-001": "gemini/gemini-2.0-flash",
    "mistralai/mistral-nemo": "mistral/open-mistral-nemo",
    "x-ai/grok-2-1212": "xai/grok-2-latest",
}

#: Fields that an OpenRouter entry updates on a native ``<provider>/<model>`` entry.
NATIVE_FIELDS = ("input_price_per_million", "output_price_per_million", "cached_input_price_per_million",
                 "context_window", "max_output_tokens")


def native_key(openrouter_id: str, models: dict) -> str | None:
    """Our ``<provider>/<model>`` key for an OpenRouter id, if the catalogue has one.

    Tried in order: :data:`ID_ALIASES`; then the name as is and with dots as dashes
    (OpenRouter's ``claude-3.5-sonnet``), each plain, with ``-latest`` and with ``-0``
    (``anthropic/claude-sonnet-4`` → ``anthropic/claude-sonnet-4-0``). Variants (``:free``…)
    never map.
    """
    if ":" in openrouter_id:
        return None
    alias = ID_ALIASES.get(openrouter_id)
    if alias is not None:
        return alias if alias in models else None
    for prefix, provider in VENDOR_PROVIDERS.items():
        if openrouter_id.startswith(prefix):
            name = openrouter_id[len(prefix):]
            for base in dict.fromkeys((name, name.replace(".", "-"))):
                for suffix in ("", "-latest", "-0"):
                    key = f"{provider}/{base}{suffix}"
                    if key in models:
                        return key
    return None


def _diff(catalogue: dict, payload: dict, today: str) -> tuple[dict, list[tuple[str, str, object, object]]]:
    new = copy.deepcopy(catalogue)
    models = new.setdefault("models", {})
    changes: list[tuple[str, str, object, object]] = []
    done: set[str] = set()
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise InvalidInputError("payload: expected OpenRouter's GET /models JSON, {'data': [...]}")

    def update(key: str, fresh: dict, fields) -> None:
        entry = models[key]
        for field in fields:
            value = fresh.get(field)
            if value is not None and entry.get(field) != value:
                changes.append((key, field, entry.get(field), value))
                entry[field] = value
        _catalogue.validate_entry(key, entry)

    for model in data:
        model_id = model.get("id") if isinstance(model, dict) else None
        if not isinstance(model_id, str) or not model_id:
            continue
        fresh = _catalogue.openrouter_entry(model)
        own = f"openrouter/{model_id}"
        if own in models and own not in done:
            update(own, fresh, _catalogue.FIELDS)
            done.add(own)
        key = native_key(model_id, models)
        if key is not None and key not in done:      # the first OpenRouter id for a key wins
            update(key, fresh, NATIVE_FIELDS)
            done.add(key)

    new["models"] = dict(sorted(models.items()))
    if new.get("updated") != today:
        changes.append(("(catalogue)", "updated", new.get("updated"), today))
        new["updated"] = today
    return new, changes


def merge(catalogue: dict, payload: dict, today: str) -> tuple[dict, list[str]]:
    """Apply OpenRouter's ``GET /models`` JSON to a catalogue; pure (the input is not changed).

    Args:
        catalogue: the catalogue file's content, ``{"updated", "source", "models"}``.
        payload: OpenRouter's answer, ``{"data": [...]}``.
        today: the new ``updated`` date, ``YYYY-MM-DD``.

    Returns:
        the new catalogue (models sorted by key) and one line per change,
        ``"<key>: <field> <old> -> <new>"``.
    """
    new, changes = _diff(catalogue, payload, today)
    return new, [f"{key}: {field} {old!r} -> {value!r}" for key, field, old, value in changes]


def fetch(url: str = OPENROUTER_MODELS_URL, api_key: str | None = None, timeout: float = 30.0) -> dict:
    """GET OpenRouter's model list (network)."""
    import httpx2

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    response = httpx2.get(url, headers=headers, timeout=timeout)
    response.raise_for_status()
    return response.json()


def print_table(changes: list[tuple[str, str, object, object]]) -> None:
    if not changes:
        print("No changes.")
        return
    rows = [("model", "field", "old", "new")] + [(k, f, repr(o), repr(n)) for k, f, o, n in changes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print(f"\n{len(changes)} change(s).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=pathlib.Path, default=CATALOGUE_PATH, help="the catalogue JSON file")
    parser.add_argument("--payload", type=pathlib.Path, help="a saved GET /models answer instead of fetching")
    parser.add_argument("--today", default=datetime.date.today().isoformat(), help="the new 'updated' date")
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    args = parser.parse_args(argv)

    catalogue = json.loads(args.path.read_text(encoding="utf-8"))
    if args.payload is not None:
        payload = json.loads(args.payload.read_text(encoding="utf-8"))
    else:
        payload = fetch(api_key=os.environ.get("OPENROUTER_API_KEY") or None)
    new, changes = _diff(catalogue, payload, args.today)
    print_table(changes)
    if not args.dry_run:
        args.path.write_text(_catalogue.dumps_catalogue(new), encoding="utf-8")
        print(f"Wrote {args.path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
