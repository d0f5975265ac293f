"""The typed errors of knowledge bases (all reachable as ``synaplex.errors.<Name>``)."""

from __future__ import annotations

from synaplex.backend.errors import InvalidInputError, SynaplexError
from synaplex.data.knowledge import KnowledgeSchemaError

__all__ = [
    "EmbeddingDimensionError",
    "KnowledgeBaseConnectionError",
    "KnowledgeBaseError",
    "KnowledgeSchemaError",
    "ReadOnlyQueryError",
    "UnsupportedURIError",
]


class KnowledgeBaseError(SynaplexError):
    """A knowledge base operation failed (the store is left as it was before the operation)."""


class UnsupportedURIError(InvalidInputError):
    """A knowledge base URI whose scheme no store speaks."""


class EmbeddingDimensionError(InvalidInputError):
    """The embedding model's vectors and the store's differ in dimension."""


class KnowledgeBaseConnectionError(KnowledgeBaseError, ConnectionError):
    """The database cannot be reached or opened. The message names the host and port (or the
    file), never the password."""


class ReadOnlyQueryError(KnowledgeBaseError, PermissionError):
    """``query()`` runs on a read-only connection: a statement tried to change the store."""
