"""Bounded constrained JSON for the embedded model: a token budget and a repetition guard.

A grammar (or llguidance's mask) makes every *finished* reply valid, but it does not make the
reply finish: a small model can repeat a list item until the array bound, or write
``1000000000…`` digit after digit, until ``max_tokens`` cuts the JSON. Two rules, applied as a
llama-cpp-python logits processor after the constraint's mask, bound every structured call:

* **Budget.** A call has a hard limit of ``max_tokens`` = min(the budget, the free context).
  From ``max_tokens - reserve`` on, where ``reserve`` bounds the tokens the shortest way to
  close the JSON can take (from the schema: required fields with their smallest values, the
  open containers), the processor switches to *closing*: among the tokens the constraint allows
  it prefers those that end the current string, number, array or object. The JSON then closes
  in at most ``reserve`` tokens, so the reply is valid and ends inside the context.
* **Repetition.** When the last tokens repeat a unit (the same token 6 times, a 2-3 token
  unit 3 and 2 times, a longer unit twice, or a unit of 6+ tokens three times with only its
  numbers changing, as in a list of counted copies), the processor closes the innermost value
  that holds the whole repetition (the array of repeated items, the string that repeats a
  word, the number that repeats a digit) and then lets the model go on with the next field.

Closing only raises the logits of closing tokens that the mask still allows; it never allows
a token the schema forbids, so the guarantee of validity is the constraint's, unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

CLOSING_BONUS = 1000.0  # far above any logit: a closing token the mask allows always wins
MAX_PERIOD = 96         # longest repeated unit looked for, in tokens (an object item of a list)
COUNTER_PERIOD = 6      # units at least this long also repeat when only their numbers differ
MIN_BUDGET = 16         # a call needs room for at least this many tokens beyond its reserve


def repeat_span(period: int) -> int:
    """How many trailing tokens must repeat with this period to count as degenerate."""
    return max(2 * period, 6)


def counter_span(period: int) -> int:
    """The same for units that differ only in their numbers (``{"id": 1, …}, {"id": 2, …}``)."""
    return 3 * period


class JsonScanner:
    """Where a prefix of JSON text stands: open containers, inside a string or a number."""

    __slots__ = ("stack", "in_string", "escape", "in_number")

    def __init__(self):
        self.stack: list[str] = []
        self.in_string = False
        self.escape = False
        self.in_number = False

    @property
    def depth(self) -> int:
        return len(self.stack) + self.in_string + self.in_number

    def feed(self, text: str) -> None:
        for ch in text:
            if self.in_string:
                if self.escape:
                    self.escape = False
                elif ch == "\\":
                    self.escape = True
                elif ch == '"':
                    self.in_string = False
                continue
            if self.in_number:
                if ch in "0123456789+-.eE":
                    continue
                self.in_number = False
            if ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.stack.append(ch)
            elif ch in "}]":
                if self.stack:
                    self.stack.pop()
            elif ch in "-0123456789":
                self.in_number = True


class ClosingTokens:
    """A model's vocabulary sorted into the tokens that end JSON values, with their priority.

    Inside a string: tokens that close it (``"``, then ``"}``, ``"]}``…, more closing first).
    Elsewhere: ``]`` and ``}`` (2 each), ``,`` (1, to reach the next required field instead of
    another digit), an empty string ``""`` (1.5) or a lone ``"`` (1) where a value must start.
    """

    def __init__(self, texts: list[str]):
        self.texts = texts
        # A token's shape for the counter rule: digit-only tokens are all alike.
        self.shapes = [-1 if text.strip() and text.strip().isdigit() else token for token, text in enumerate(texts)]
        in_string, outside = {}, {}
        for token, text in enumerate(texts):
            body = text.strip(" ")
            if not body:
                continue
            if text[0] == '"' and set(body[1:]) <= set("]}"):  # a leading space would be content
                in_string[token] = 1.0 + 2.0 * len(body[1:])
            if set(body) <= set("]},"):
                outside[token] = 2.0 * sum(c in "]}" for c in body) + 1.0 * body.count(",") / len(body)
            elif body in ('""', '"'):
                outside[token] = 1.5 if body == '""' else 1.0
        self.in_string = (np.fromiter(in_string, dtype=np.intp), np.fromiter(in_string.values(), dtype=np.float32))
        self.outside = (np.fromiter(outside, dtype=np.intp), np.fromiter(outside.values(), dtype=np.float32))


class JsonBudgetGuard:
    """The logits processor: closes the JSON when the budget runs low or the output repeats."""

    def __init__(self, closing: ClosingTokens, max_tokens: int, reserve: int):
        self.closing = closing
        self.soft_limit = max(0, max_tokens - reserve)
        self.prompt_length: int | None = None
        self.scanner = JsonScanner()
        self.generated: list[int] = []
        self.shapes: list[int] = []
        self.depths: list[int] = []
        self.close_below: int | None = None  # closing until the depth falls below this
        self.repetitions = 0           # how many times the guard closed a repetition
        self.budget_closed = False     # whether the budget forced the JSON to close

    def _catch_up(self, input_ids) -> None:
        if self.prompt_length is None:
            self.prompt_length = len(input_ids)  # the first call sees the prompt only
            return
        for token in input_ids[self.prompt_length + len(self.generated):]:
            token = int(token)
            self.generated.append(token)
            self.shapes.append(self.closing.shapes[token] if 0 <= token < len(self.closing.shapes) else token)
            self.scanner.feed(self.closing.texts[token] if 0 <= token < len(self.closing.texts) else "")
            self.depths.append(self.scanner.depth)
        if self.close_below is not None and self.scanner.depth < self.close_below:
            self.close_below = None  # the repeating value is closed: the model goes on

    def _repetition_depth(self) -> int | None:
        """The depth of the value that holds a degenerate repetition at the end, if any."""
        tokens, shapes, depths = self.generated, self.shapes, self.depths
        available = len(tokens)
        for period in range(1, MAX_PERIOD + 1):
            span = repeat_span(period)
            if span > available:
                break
            if shapes[-1] != shapes[-1 - period]:
                continue
            # A legitimate run of brackets repeats too, but its depth only rises or falls;
            # degenerate content comes back to the same depth every period.
            if tokens[-1] == tokens[-1 - period] and _periodic(tokens, period, span) \
                    and depths[-1] == depths[-1 - period]:
                return min(depths[-span:])
            span = counter_span(period)
            if period >= COUNTER_PERIOD and span <= available and _periodic(shapes, period, span) \
                    and -1 in shapes[-period:] and depths[-1] == depths[-1 - period]:
                return min(depths[-span:])
        return None

    def __call__(self, input_ids, scores):
        self._catch_up(input_ids)
        if len(self.generated) >= self.soft_limit:
            self.budget_closed = True
            self.close_below = 1  # close everything
        elif self.close_below is None:
            depth = self._repetition_depth()
            if depth is not None and depth > 0:
                self.repetitions += 1
                self.close_below = depth
        if self.close_below is None:
            return scores
        ids, bonus = self.closing.in_string if self.scanner.in_string else self.closing.outside
        scores = np.array(scores, dtype=np.float32, copy=True)
        scores[ids] += CLOSING_BONUS * bonus
        return scores


def _periodic(sequence: list[int], period: int, span: int) -> bool:
    """Whether the last ``span`` items of ``sequence`` repeat with this period."""
    return all(sequence[-i] == sequence[-i - period] for i in range(1, span - period + 1))


# --- the reserve: how many tokens closing can take, from the schema ----------------------

_NUMBER_CHARS = 24  # a number the model starts while closing: digits until a closer wins
_ANY_CHARS = 24     # a value of no declared type: a number, true, false, null or ""


def closing_reserve(schema: dict) -> int:
    """An upper bound, in tokens, on closing a reply of this schema from any point.

    Every token is at least one character, so characters bound tokens. From inside a value
    nested at any depth, closing writes at most, for each open level on the way down, the
    smallest instance of that level (required fields only, each at its smallest: ``""``,
    ``[]`` or ``minItems`` smallest items, the longest enum value, a number of up to 24
    characters). The reserve is the largest such sum over the schema's paths, plus a margin.
    """
    defs = schema.get("$defs") or schema.get("definitions") or {}
    return _closing_chars(schema, defs, frozenset()) + 16


def _resolve(node: Any, defs: dict, path: frozenset) -> tuple[dict | None, frozenset]:
    """The node a ``$ref`` points to; None for a reference already on the path (recursion)."""
    if not isinstance(node, dict):
        return None, path
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in path:
            return None, path
        target = defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith(("#/$defs/", "#/definitions/")) else None
        return (target if isinstance(target, dict) else {}), path | {ref}
    return node, path


def _children(node: dict) -> list:
    children = list((node.get("properties") or {}).values())
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            children.append(node[key])
    for key in ("anyOf", "oneOf", "allOf"):
        children.extend(node.get(key) or [])
    return children


def _closing_chars(node: Any, defs: dict, path: frozenset) -> int:
    node, path = _resolve(node, defs, path)
    if node is None:
        return _ANY_CHARS
    deepest = max((_closing_chars(child, defs, path) for child in _children(node)), default=0)
    return _minimal_chars(node, defs, path) + deepest


def _minimal_chars(node: Any, defs: dict, path: frozenset) -> int:
    node, path = _resolve(node, defs, path)
    if node is None:  # a required recursive link: the schema has no finite instance there
        return _ANY_CHARS
    if "const" in node:
        return len(json.dumps(node["const"]))
    if "enum" in node:
        return max((len(json.dumps(v)) for v in node["enum"]), default=4)
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        return max(_minimal_chars(option, defs, path) for option in options)
    if "allOf" in node:
        return sum(_minimal_chars(part, defs, path) for part in node["allOf"])
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    sizes = []
    for kind in types:
        if kind == "object" or (kind is None and "properties" in node):
            props = node.get("properties") or {}
            sizes.append(2 + sum(len(json.dumps(name)) + 3 + _minimal_chars(props.get(name, {}), defs, path)
                                 for name in node.get("required", [])))
        elif kind == "array":
            items = node.get("items") or {}
            sizes.append(2 + int(node.get("minItems", 0)) * (_minimal_chars(items, defs, path) + 2))
        elif kind == "string":
            sizes.append(2 + int(node.get("minLength", 0)))
        elif kind in ("boolean", "null"):
            sizes.append(5)
        else:  # integer, number, or a value of any type
            sizes.append(_NUMBER_CHARS)
    return max(sizes)
