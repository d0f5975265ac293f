"""Process-wide defaults: the default LanguageModel and EmbeddingModel, logging switches."""

from __future__ import annotations

import logging
from typing import Any

_state: dict[str, Any] = {"language_model": None, "embedding_model": None}


def set_default_language_model(model: Any) -> None:
    """Set the LanguageModel (or model string) used when a module is given none.

    Example:
        >>> import synaplex
        >>> synaplex.config.set_default_language_model("scripted")
    """
    _state["language_model"] = model


def get_default_language_model() -> Any:
    return _state["language_model"]


def set_default_embedding_model(model: Any) -> None:
    _state["embedding_model"] = model


def get_default_embedding_model() -> Any:
    return _state["embedding_model"]


def enable_logging(level: int = logging.DEBUG) -> None:
    """Send synaplex's log records (LM calls, retries, program runs) to stderr."""
    logger = logging.getLogger("synaplex")
    logger.setLevel(level)
    if not any(getattr(h, "_synaplex", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler._synaplex = True
        logger.addHandler(handler)
