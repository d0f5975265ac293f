"""The root of synaplex's typed errors.

Every error synaplex raises on purpose derives from :class:`SynaplexError`, and most also
derive from the builtin a Python user would reach for (``ValueError``, ``TypeError``,
``LookupError``), so ``except ValueError`` keeps working. Messages say what happened,
quote the offending value, and say what to do.
"""

from __future__ import annotations


class SynaplexError(Exception):
    """Base class of every error raised by synaplex."""


class InvalidInputError(SynaplexError, ValueError):
    """A value given to synaplex (an argument, a program input, a file's content) is invalid."""


class ToolArgumentsError(InvalidInputError):
    """The arguments given to a tool do not match its schema."""


class DataModelTypeError(SynaplexError, TypeError):
    """An object of the wrong type was used where a DataModel was expected."""


class MissingDependencyError(SynaplexError, ImportError):
    """An optional feature's package is not installed; the message gives the install command."""


class ProgramBuildError(SynaplexError, ValueError):
    """A program's graph cannot be built (cycle, disconnected output, missing spec)."""


class ModuleLookupError(SynaplexError, LookupError, ValueError):
    """``get_module`` or ``get_variable`` found nothing with that name, path or index (nothing left
    to ``Sequential.pop``). Also a ``ValueError``, which Synalinks raises there."""


class SavingError(SynaplexError):
    """A program or its variables could not be saved or loaded.

    Attributes:
        path: the file involved, when there is one.
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class UnknownClassError(SavingError):
    """A saved object names a class that is not registered for deserialization."""


class UnsafeLoadError(SavingError):
    """Safe loading refused something a file asks for (see ``synaplex.serialization.safe_mode``).

    A program file is data: loading it may not start a process, import code, read environment
    variables, send the environment's credentials to an endpoint the file names, or create
    files, unless the caller opts in with ``allow=(capability, ...)`` or ``safe_mode=False``.

    Attributes:
        path: the file, when there is one.
        field: where in the file, as a JSON path (``program.config.modules[1].config.caching``).
        capability: the name that ``allow=`` takes to permit it (``"processes"``, ``"imports"``,
            ``"environment"``, ``"credentials"``, ``"files"``).
    """

    def __init__(self, message: str, path: str | None = None, field: str | None = None,
                 capability: str | None = None):
        super().__init__(message, path=path)
        self.field = field
        self.capability = capability


class PredictionError(SynaplexError):
    """Some examples of a batch prediction failed.

    Attributes:
        outputs: one entry per input, in input order; a failed example holds its exception.
        errors: ``{index: exception}`` for every failed example.
    """

    def __init__(self, message: str, outputs: list, errors: dict[int, BaseException]):
        super().__init__(message)
        self.outputs = outputs
        self.errors = errors


def describe_validation_error(error) -> str:
    """A pydantic ValidationError on one line: ``missing required field 'x'; field 'y': …``."""
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item.get("loc", ())) or "(root)"
        if item.get("type") == "missing":
            parts.append(f"missing required field {location!r}")
        elif item.get("type") == "extra_forbidden":
            parts.append(f"unknown field {location!r} (got {item.get('input')!r:.60}): remove it, or declare "
                         "it in the DataModel (DataModels are strict)")
        else:
            parts.append(f"field {location!r}: {item.get('msg')} (got {item.get('input')!r:.60})")
    return "; ".join(parts)
