"""Lambda: a Python function as a module."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

from synaplex.backend import naming
from synaplex.backend.errors import DataModelTypeError, InvalidInputError, ProgramBuildError
from synaplex.data.data_model import DataModel, is_data_model_class
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.lm.validation import validation_errors
from synaplex.modules.module import Module
from synaplex.serialization import (
    deserialize_data_model,
    deserialize_synaplex_object,
    serialize_data_model,
    serialize_synaplex_object,
)


def _annotated_data_model(function: Callable):
    try:
        hint = typing.get_type_hints(function).get("return")
    except Exception:
        return None
    for candidate in (hint, *typing.get_args(hint)):
        if is_data_model_class(candidate):
            return candidate
    return None


class Lambda(Module):
    """Run ``function(inputs)`` (sync or async) as a step of a program.

    The function receives the input value (a ``JsonDataModel``; a list of them when the
    module is called on a list) and returns a dict, a DataModel, a ``JsonDataModel`` or
    ``None`` (which skips what depends on it, like a guard). The output type comes from
    ``data_model=``/``schema=``, else from the function's return annotation; a returned dict
    is validated against it. A saved program names the function, so register it with
    ``@synaplex.saving.register_synaplex_serializable()``.

    Example:
        >>> def shout(inputs) -> Answer:
        ...     return Answer(answer=inputs.get("answer").upper())
        >>> loud = await synaplex.Lambda(shout)(answer)
    """

    def __init__(self, function: Callable | None = None, data_model=None, schema: dict | None = None,
                 name: str | None = None, description: str | None = None, trainable: bool = False):
        if not callable(function):
            raise InvalidInputError(f"Lambda wraps a function, got {function!r:.100}.")
        label = getattr(function, "__name__", "")
        if name is None and label.isidentifier():  # a lambda's name is "<lambda>"
            name = naming.auto_name(naming.to_snake_case(label))
        super().__init__(name=name, description=description, trainable=trainable)
        if data_model is not None and not is_data_model_class(data_model):
            raise DataModelTypeError(f"Lambda(data_model=...) expects a DataModel subclass, got {data_model!r:.100}.")
        self.function = function
        self.data_model = data_model or (_annotated_data_model(function) if schema is None else None)
        self.schema = self.data_model.get_schema() if self.data_model is not None else schema
        self._async = inspect.iscoroutinefunction(function)
        self.built = True

    async def compute_output_spec(self, inputs, training=False):
        if self.schema is None:
            raise ProgramBuildError(
                f"Lambda {self.name!r} cannot tell what {getattr(self.function, '__name__', 'its function')} "
                "returns: pass data_model= (or schema=), or annotate the function's return type with a DataModel.")
        return SymbolicDataModel(schema=self.schema, data_model=self.data_model)

    async def call(self, inputs, training=False):
        value = self.function(inputs)
        if self._async or inspect.isawaitable(value):
            value = await value
        if value is None or isinstance(value, JsonDataModel):
            return value
        if isinstance(value, DataModel):
            return value.to_json_data_model()
        if not isinstance(value, dict):
            raise DataModelTypeError(
                f"Lambda {self.name!r}: the function must return a dict, a DataModel or None, got "
                f"{type(value).__name__}: {value!r:.100}.")
        if self.schema is None:
            raise ProgramBuildError(f"Lambda {self.name!r} returned a dict but has no data_model= or schema=.")
        errors = validation_errors(value, self.schema)
        if errors:
            raise DataModelTypeError(f"Lambda {self.name!r} returned {value!r:.100}, which does not match its "
                                     f"output schema: {'; '.join(errors)}.")
        return JsonDataModel(json=value, schema=self.schema)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(serialize_data_model(self.data_model, self.schema))
        config["function"] = serialize_synaplex_object(self.function)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        data_model, schema = deserialize_data_model(config)
        config["function"] = deserialize_synaplex_object(config["function"])
        return cls(data_model=data_model, schema=None if data_model else schema, **config)
