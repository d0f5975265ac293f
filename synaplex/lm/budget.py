"""Budgets checked before each LM call, and pre-run cost estimates.

``with synaplex.budget(max_cost=1.0, max_tokens=50_000, max_calls=200, max_seconds=600):`` (or
``LanguageModel(..., budget=synaplex.Budget(...))``) makes every call inside the block (in the
tasks it starts too: contextvars follow asyncio tasks) pass a check **before** its request:

* the call's estimate: the prompt's tokens (its text, schema and tools, ~4 characters a token),
  plus its ``max_tokens`` (else this model's average reply so far, else
  :data:`DEFAULT_OUTPUT_TOKENS`), priced at the model's catalogue price;
* is added to what the budget has spent and what calls in flight have reserved; if that passes a
  limit, :class:`~synaplex.lm.errors.BudgetExceededError` is raised and nothing is sent.

After the call the reservation is replaced by what the provider reported. A call can only
spend more than its estimate when it writes more than its estimate of output, so a budget is
overshot by at most one call's difference. ``max_seconds`` counts the wall time since the
budget was opened; a call started before it runs out is let finish. Local and scripted models
are counted (tokens, calls, time) at their price, 0. Retries, repairs and fallbacks are calls
and are checked too; a cache hit costs nothing and is not.

Estimates: ``with estimating() as estimate:`` makes every LM call record its estimate and answer
with a placeholder valid against its schema, without any request (``Program.estimate_cost``).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.errors import BudgetExceededError, UnknownPriceError

_log = logging.getLogger("synaplex.lm")

#: The output tokens assumed for a call without ``max_tokens`` and no reply seen yet.
DEFAULT_OUTPUT_TOKENS = 512
#: Characters per token in estimates (OpenAI's rule of thumb for English).
CHARS_PER_TOKEN = 4

LIMITS = ("max_cost", "max_tokens", "max_calls", "max_seconds")

_ACTIVE: contextvars.ContextVar[tuple[Budget, ...]] = contextvars.ContextVar("synaplex_budgets", default=())
_ESTIMATING: contextvars.ContextVar[CostEstimate | None] = contextvars.ContextVar("synaplex_estimating",
                                                                                   default=None)


@dataclasses.dataclass
class CallEstimate:
    """What one call is expected to take: tokens in and out, and their cost (None: unknown)."""

    model: str
    input_tokens: int
    output_tokens: int
    cost: float | None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict:
        return {"cost": self.cost, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


def _cost(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _limit_value(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
        raise InvalidInputError(f"Budget {name} must be a positive number, got {value!r}.")
    return value


class Budget:
    """Limits on what LM calls may spend, checked before each call.

    Args:
        max_cost: USD. A call to a model whose price is unknown cannot be checked against it:
            :class:`~synaplex.lm.errors.UnknownPriceError` (``unknown_cost="error"``, the
            default), or a warning and the call counted at 0 (``unknown_cost="warn"``).
        max_tokens: input + output tokens. max_calls: LM and embedding requests (retries,
            repairs and fallbacks included). max_seconds: wall time since the budget opened.
        name: shown in errors.

    Attributes: ``cost``, ``tokens``, ``calls`` (spent so far), ``elapsed`` (seconds),
    ``refused`` (the last BudgetExceededError raised, or None).

    Example:
        >>> with synaplex.budget(max_cost=0.50, max_calls=100) as spent:
        ...     await program.predict(x)
        >>> spent.cost, spent.calls
    """

    def __init__(self, max_cost: float | None = None, max_tokens: int | None = None, max_calls: int | None = None,
                 max_seconds: float | None = None, name: str | None = None, unknown_cost: str = "error"):
        limits = {"max_cost": max_cost, "max_tokens": max_tokens, "max_calls": max_calls, "max_seconds": max_seconds}
        if all(value is None for value in limits.values()):
            raise InvalidInputError("A budget needs a limit: give max_cost (USD), max_tokens, max_calls and/or "
                                    "max_seconds, e.g. synaplex.budget(max_cost=1.0).")
        for key, value in limits.items():
            _limit_value(key, value)
        if unknown_cost not in ("error", "warn"):
            raise InvalidInputError(f"Budget unknown_cost must be 'error' or 'warn', got {unknown_cost!r}.")
        self.max_cost, self.max_tokens, self.max_calls, self.max_seconds = max_cost, max_tokens, max_calls, max_seconds
        self.name = name
        self.unknown_cost = unknown_cost
        self.cost = 0.0
        self.tokens = 0
        self.calls = 0
        self.cost_known = True
        self.refused: BudgetExceededError | None = None
        self._reserved = [0.0, 0, 0]  # cost, tokens, calls of the calls in flight
        self._started: float | None = None
        self._lock = threading.Lock()
        self._warned: set = set()

    # --- state ----------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started

    def spent(self) -> dict:
        return {"cost": self.cost if self.cost_known else None, "tokens": self.tokens, "calls": self.calls,
                "seconds": round(self.elapsed, 3)}

    def start(self) -> Budget:
        if self._started is None:
            self._started = time.monotonic()
        return self

    def _describe(self) -> str:
        return f"budget {self.name!r}" if self.name else "the budget"

    def _spent_text(self) -> str:
        return (f"{_cost(self.cost if self.cost_known else None)}, {self.tokens:,} tokens, {self.calls} calls, "
                f"{self.elapsed:.1f} s spent")

    # --- the check --------------------------------------------------------------------------

    def _refuse(self, limit: str, maximum: float, why: str, estimate: CallEstimate) -> BudgetExceededError:
        error = BudgetExceededError(
            f"{estimate.model}: call refused by {self._describe()}: {limit}={maximum:g} {why}. Spent so far: "
            f"{self._spent_text()}. Raise the limit, lower max_tokens, or use a cheaper model.",
            limit=limit, maximum=maximum, spent=self.spent(), estimate=estimate.as_dict(), model=estimate.model)
        self.refused = error
        return error

    def check(self, estimate: CallEstimate) -> None:
        """Raise BudgetExceededError (UnknownPriceError) if ``estimate`` does not fit; else reserve it."""
        self.start()
        with self._lock:
            cost, tokens, calls = self._reserved
            if self.max_seconds is not None and self.elapsed >= self.max_seconds:
                raise self._refuse("max_seconds", self.max_seconds, f"has run out ({self.elapsed:.1f} s elapsed)",
                                   estimate)
            if self.max_calls is not None and self.calls + calls + 1 > self.max_calls:
                raise self._refuse("max_calls", self.max_calls, f"would be passed by one more call ({self.calls} "
                                   f"made, {calls} in flight)", estimate)
            if self.max_tokens is not None and self.tokens + tokens + estimate.tokens > self.max_tokens:
                raise self._refuse("max_tokens", self.max_tokens, f"would be passed: this call is estimated at "
                                   f"{estimate.input_tokens:,} prompt + {estimate.output_tokens:,} output tokens",
                                   estimate)
            if self.max_cost is not None:
                if estimate.cost is None:
                    self._unknown_price(estimate.model)
                elif self.cost + cost + estimate.cost > self.max_cost:
                    raise self._refuse("max_cost", self.max_cost, f"would be passed: this call is estimated at "
                                       f"{_cost(estimate.cost)} ({estimate.input_tokens:,} prompt + "
                                       f"{estimate.output_tokens:,} output tokens)", estimate)
            self._reserved = [cost + (estimate.cost or 0.0), tokens + estimate.tokens, calls + 1]

    def _unknown_price(self, model: str) -> None:
        message = (f"{model}: {self._describe()} has max_cost={self.max_cost:g} but this model's price is unknown, "
                   "so its calls cannot be checked against it. Give the model its prices (LanguageModel(..., "
                   "capabilities={'input_price_per_token': ..., 'output_price_per_token': ...}) or "
                   "synaplex.register_model), or limit max_tokens / max_calls instead.")
        if self.unknown_cost == "error":
            raise UnknownPriceError(message, model=model)
        self.cost_known = False
        if model not in self._warned:
            self._warned.add(model)
            _log.warning("%s Its calls count 0 against max_cost.", message)

    def settle(self, estimate: CallEstimate, usage: Any | None) -> None:
        """Replace the reservation of ``estimate`` by what was used (None: the call failed)."""
        with self._lock:
            cost, tokens, calls = self._reserved
            self._reserved = [max(cost - (estimate.cost or 0.0), 0.0), max(tokens - estimate.tokens, 0),
                              max(calls - 1, 0)]
            if usage is not None:
                self.tokens += usage.input_tokens + usage.output_tokens
                self.calls += usage.calls
                if usage.cost is not None:
                    self.cost += usage.cost
                else:
                    self.cost_known = False

    # --- scope ------------------------------------------------------------------------------

    def __enter__(self) -> Budget:
        self.start()
        self._tokens = getattr(self, "_tokens", [])
        self._tokens.append(_ACTIVE.set(_ACTIVE.get() + (self,)))
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.reset(self._tokens.pop())

    def get_config(self) -> dict:
        config = {key: getattr(self, key) for key in LIMITS if getattr(self, key) is not None}
        if self.name:
            config["name"] = self.name
        if self.unknown_cost != "error":
            config["unknown_cost"] = self.unknown_cost
        return config

    @classmethod
    def from_config(cls, config: dict) -> Budget:
        return cls(**config)

    def __repr__(self) -> str:
        limits = ", ".join(f"{key}={getattr(self, key)!r}" for key in LIMITS if getattr(self, key) is not None)
        return f"Budget({limits}; spent {self._spent_text()})"


def budget(max_cost: float | None = None, max_tokens: int | None = None, max_calls: int | None = None,
           max_seconds: float | None = None, name: str | None = None, unknown_cost: str = "error") -> Budget:
    """A :class:`Budget` for a ``with`` block: every LM and embedding call inside is checked.

    Example:
        >>> with synaplex.budget(max_cost=2.0, max_seconds=300) as spent:
        ...     history = await program.fit(x, y, epochs=3)
        >>> print(spent)
    """
    return Budget(max_cost=max_cost, max_tokens=max_tokens, max_calls=max_calls, max_seconds=max_seconds,
                  name=name, unknown_cost=unknown_cost)


def as_budget(value: Any) -> Budget | None:
    """A model's ``budget=``: a Budget, a dict of its limits, or None."""
    if value is None or isinstance(value, Budget):
        return value
    if isinstance(value, dict):
        unknown = set(value) - {*LIMITS, "name", "unknown_cost"}
        if unknown:
            raise InvalidInputError(f"budget= got unknown keys {sorted(unknown)}; the limits are {', '.join(LIMITS)}.")
        return Budget(**value)
    raise InvalidInputError(f"budget must be a synaplex.Budget, a dict of limits ({', '.join(LIMITS)}) or None, "
                            f"got {type(value).__name__}.")


def active(own: Budget | None) -> tuple[Budget, ...]:
    """The budgets a call must pass: the open ``with`` blocks' and the model's own."""
    budgets = _ACTIVE.get()
    if own is not None and own not in budgets:
        budgets = budgets + (own,)
    return budgets


def admit(budgets: tuple[Budget, ...], estimate: CallEstimate) -> None:
    """Check ``estimate`` against every budget and reserve it in each (all or none)."""
    admitted: list[Budget] = []
    try:
        for item in budgets:
            item.check(estimate)
            admitted.append(item)
    except BaseException:
        for item in admitted:
            item.settle(estimate, None)
        raise


def settle(budgets: tuple[Budget, ...], estimate: CallEstimate, usage: Any | None) -> None:
    for item in budgets:
        item.settle(estimate, usage)


# --- estimates ---------------------------------------------------------------------------------

def text_tokens(value: Any) -> int:
    """~4 characters a token: the estimate of a text (or of any JSON value, by its JSON)."""
    if value is None:
        return 0
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return len(value) // CHARS_PER_TOKEN + 1


def prompt_tokens(messages: list[dict], schema: dict | None = None, tools: list | None = None) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):  # parts: the text, and a flat guess per image
            total += sum(text_tokens(p.get("text")) if p.get("type") == "text" else 85
                         for p in content if isinstance(p, dict))
        else:
            total += text_tokens(content) + 4
        if message.get("tool_calls"):
            total += text_tokens(message["tool_calls"])
    if schema is not None:
        total += text_tokens(schema)
    if tools:
        total += text_tokens(tools)
    return total


def schema_output_bound(schema: Any, depth: int = 0) -> int | None:
    """The most characters a JSON value valid against ``schema`` can take, when the schema
    bounds every string (``maxLength``, ``enum``) and array (``maxItems``); else None."""
    if not isinstance(schema, dict) or depth > 32:
        return None
    if "enum" in schema:
        return max((len(json.dumps(v)) for v in schema["enum"]), default=2)
    if "const" in schema:
        return len(json.dumps(schema["const"]))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            bounds = [schema_output_bound(s, depth + 1) for s in schema[key]]
            return None if any(b is None for b in bounds) else max(bounds, default=0)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        total = 2
        for name, sub in (schema.get("properties") or {}).items():
            bound = schema_output_bound(sub, depth + 1)
            if bound is None:
                return None
            total += len(name) + 4 + bound
        return total
    if kind == "array":
        items, most = schema_output_bound(schema.get("items"), depth + 1), schema.get("maxItems")
        return None if items is None or not isinstance(most, int) else 2 + most * (items + 2)
    if kind == "string":
        most = schema.get("maxLength")
        return most + 2 if isinstance(most, int) else None
    if kind in ("integer", "number"):
        return 24
    if kind in ("boolean", "null"):
        return 5
    return None


def placeholder(schema: Any, depth: int = 0) -> Any:
    """A small value valid against ``schema`` (first enum value, minimal strings and arrays):
    what an estimated call answers so the program runs on."""
    if not isinstance(schema, dict) or depth > 32:
        return None
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return placeholder(schema[key][0], depth + 1)
    if "allOf" in schema and schema["allOf"]:
        return placeholder({k: v for part in schema["allOf"] if isinstance(part, dict) for k, v in part.items()},
                           depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        required = schema.get("required") or list(properties)
        return {name: placeholder(properties.get(name, {}), depth + 1) for name in required}
    if kind == "array":
        return [placeholder(schema.get("items", {}), depth + 1) for _ in range(schema.get("minItems", 0) or 0)]
    if kind == "string":
        return "x" * (schema.get("minLength") or 0)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return low + (1 if "exclusiveMinimum" in schema else 0) if isinstance(low, (int, float)) else 0
    if kind == "boolean":
        return False
    return None


@dataclasses.dataclass
class CostEstimate:
    """A pre-run estimate: calls, tokens and cost (None when a model's price is unknown), per model."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0
    by_model: dict = dataclasses.field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, estimate: CallEstimate) -> None:
        for target in (self, self.by_model.setdefault(estimate.model, CostEstimate())):
            target.calls += 1
            target.input_tokens += estimate.input_tokens
            target.output_tokens += estimate.output_tokens
            target.cost = None if target.cost is None or estimate.cost is None else target.cost + estimate.cost

    def __repr__(self) -> str:
        return (f"CostEstimate(calls={self.calls}, input_tokens={self.input_tokens}, "
                f"output_tokens={self.output_tokens}, cost={self.cost!r})")


def current_estimate() -> CostEstimate | None:
    return _ESTIMATING.get()


@contextlib.contextmanager
def estimating() -> Iterator[CostEstimate]:
    """Inside the block, LM calls record their estimate and answer a placeholder; nothing is sent."""
    estimate = CostEstimate()
    token = _ESTIMATING.set(estimate)
    try:
        yield estimate
    finally:
        _ESTIMATING.reset(token)
