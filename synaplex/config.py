"""``synaplex.config``: process-wide defaults (see :mod:`synaplex.backend.config`)."""

from synaplex.backend.config import (  # noqa: F401
    enable_logging,
    get_default_embedding_model,
    get_default_language_model,
    set_default_embedding_model,
    set_default_language_model,
)
