"""Module: the unit of computation of synaplex (the counterpart of a Keras Layer)."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from synaplex.backend import naming, tree
from synaplex.backend.errors import InvalidInputError, ModuleLookupError, ProgramBuildError
from synaplex.data.data_model import DataModel, is_data_model_class
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.data.variable import Variable
from synaplex.modules.node import Node
from synaplex.observability import tracing
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


def _is_symbolic(args: tuple, kwargs: dict) -> bool:
    if len(args) == 1 and not kwargs:
        x = args[0]
        if isinstance(x, SymbolicDataModel):
            return True
        if not isinstance(x, (list, tuple, dict)):
            return is_data_model_class(x)
    return any(isinstance(x, SymbolicDataModel) or is_data_model_class(x)
               for x in tree.flatten((args, kwargs)))


def _to_runtime(x: Any) -> Any:
    if isinstance(x, DataModel):
        return x.to_json_data_model()
    return x


def _to_symbolic(x: Any) -> Any:
    if is_data_model_class(x):
        return x.to_symbolic_data_model()
    if isinstance(x, (DataModel, JsonDataModel)):
        return x.to_symbolic_data_model()
    return x


def _has_none(args: tuple) -> bool:
    if len(args) == 1:
        x = args[0]
        if x is None:
            return True
        if isinstance(x, (list, tuple)):
            return any(v is None for v in x)
        return False
    return any(v is None for v in tree.flatten(args))


class Module:
    """Base class of every module: a trainable state (Variables) and a ``call``.

    Subclasses implement ``async def call(self, inputs, training=False)``. When called on
    SymbolicDataModels (while a functional program is built) a module records a node and
    returns the symbolic output given by :meth:`compute_output_spec`; when called on values
    it runs ``call``. A module whose input is ``None`` is skipped and returns ``None``,
    unless it sets ``handles_none = True`` (the logical operators do).

    Example:
        >>> class Shout(synaplex.Module):
        ...     async def call(self, inputs, training=False):
        ...         return Answer(answer=inputs.get("query").upper()).to_json_data_model()
        ...     async def compute_output_spec(self, inputs, training=False):
        ...         return Answer.to_symbolic_data_model()
    """

    handles_none = False
    _call_takes_training: bool | None = None

    def __init__(self, name: str | None = None, description: str | None = None, trainable: bool = True):
        self._init_module_state(name=name, description=description, trainable=trainable)

    def _init_module_state(self, name=None, description=None, trainable=True):
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"A module's name must be a string, got {name!r}.")
        self.name = name or naming.auto_name(naming.to_snake_case(type(self).__name__))
        self.description = description
        self._trainable = trainable
        self._variables: list[Variable] = []
        self.built = False

    # --- state -------------------------------------------------------------------------

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

    def add_variable(self, initializer: Any = None, data_model=None, trainable: bool = True,
                     name: str | None = None) -> Variable:
        """Create a Variable owned by this module (a JSON value with a schema)."""
        variable = Variable(initializer=initializer, data_model=data_model, trainable=trainable,
                            name=name or f"variable_{len(self._variables)}")
        if any(v.name == variable.name for v in self._variables):
            raise InvalidInputError(f"Module {self.name!r} already has a variable named {variable.name!r}.")
        variable.path = f"{self.name}/{variable.name}"
        self._variables.append(variable)
        return variable

    def get_variable(self, name: str | None = None, index: int | None = None) -> Variable:
        """A variable of this module or of its sub-modules, by ``name`` or by ``index`` (the
        order of :attr:`variables`).

        ``name`` is a variable's name (``"state"``) when only one variable has it, or its path:
        the path under this module (``"generator/state"``, as in :meth:`get_state_tree`) or
        :attr:`Variable.path`.
        """
        if name is not None and index is not None:
            raise InvalidInputError(
                f"get_variable takes name= or index=, not both; got name={name!r}, index={index!r}.")
        items = list(self._variable_items())
        if index is not None:
            if not isinstance(index, int) or isinstance(index, bool):
                raise InvalidInputError(f"get_variable(index=...) takes an integer, got {index!r}.")
            if not -len(items) <= index < len(items):
                raise ModuleLookupError(
                    f"get_variable(index={index}) is out of range: {type(self).__name__} {self.name!r} has "
                    f"{len(items)} variables" + (f" (indices 0 to {len(items) - 1})." if items else "."))
            return items[index][1]
        if name is None:
            raise InvalidInputError("get_variable takes a variable's name or path (name=...) or its index (index=...).")
        if not isinstance(name, str):
            raise InvalidInputError(f"get_variable(name=...) takes a string, got {name!r}.")
        for matches in ([v for path, v in items if path == name], [v for _, v in items if v.path == name],
                        [v for _, v in items if v.name == name]):
            unique = list({id(v): v for v in matches}.values())
            if len(unique) == 1:
                return unique[0]
            if len(unique) > 1:
                paths = [path for path, v in items if any(v is u for u in unique)]
                raise ModuleLookupError(
                    f"{type(self).__name__} {self.name!r} has {len(unique)} variables named {name!r}, at "
                    f"{', '.join(paths)}: pass one of these paths as name=.")
        raise ModuleLookupError(
            f"{type(self).__name__} {self.name!r} has no variable named {name!r}. Its variables: "
            f"{', '.join(path for path, _ in items) or 'none'}.")

    def _tracked_modules(self) -> list[tuple[str, Module]]:
        """Sub-modules held as attributes (directly, or in lists, tuples and dicts)."""
        found = []
        for attr, value in self.__dict__.items():
            if isinstance(value, Module):
                found.append((attr, value))
            elif isinstance(value, (list, tuple)):
                found.extend((f"{attr}/{i}", v) for i, v in enumerate(value) if isinstance(v, Module))
            elif isinstance(value, dict) and not attr.startswith("__"):
                found.extend((f"{attr}/{k}", v) for k, v in value.items() if isinstance(v, Module))
        return found

    def _variable_items(self, prefix: str = "", seen: set | None = None):
        """Yield ``(path, variable)`` for this module's variables and its sub-modules'."""
        seen = set() if seen is None else seen
        if id(self) in seen:
            return
        seen.add(id(self))
        for variable in self._variables:
            yield prefix + variable.name, variable
        for key, module in self._tracked_modules():
            yield from module._variable_items(f"{prefix}{key}/", seen)

    @property
    def variables(self) -> list[Variable]:
        return [v for _, v in self._variable_items()]

    @property
    def trainable_variables(self) -> list[Variable]:
        return [v for v in self._trainable_items()]

    def trainable_variable_items(self) -> list[tuple[str, Variable]]:
        """``(path, variable)`` for each trainable variable: what optimizers rewrite. The path
        (``"generator/state"``, ``"branch/branches/1/state"``) names the variable in saved files."""
        trainable = {id(v) for v in self._trainable_items()}
        return [(path, v) for path, v in self._variable_items() if id(v) in trainable]

    @property
    def non_trainable_variables(self) -> list[Variable]:
        trainable = {id(v) for v in self._trainable_items()}
        return [v for v in self.variables if id(v) not in trainable]

    def _trainable_items(self, seen: set | None = None):
        seen = set() if seen is None else seen
        if id(self) in seen or not self.trainable:
            return
        seen.add(id(self))
        for variable in self._variables:
            if variable.trainable:
                yield variable
        for _, module in self._tracked_modules():
            yield from module._trainable_items(seen)

    # --- calling ------------------------------------------------------------------------

    async def __call__(self, *args, training: bool = False, **kwargs):
        if _is_symbolic(args, kwargs):
            return await self._symbolic_call(args, kwargs)
        if len(args) == 1 and not kwargs:
            args = (_to_runtime(args[0]) if not isinstance(args[0], (list, tuple, dict))
                    else tree.map_structure(_to_runtime, args[0]),)
        else:
            args = tree.map_structure(_to_runtime, args)
            kwargs = tree.map_structure(_to_runtime, kwargs)
        return await self._runtime_call(args, kwargs, training)

    async def _runtime_call(self, args: tuple, kwargs: dict, training: bool):
        if not self.handles_none and _has_none(args):
            return None
        if not self.built:
            await self._maybe_build(args, kwargs)
        if tracing.TRACER is not None:
            with tracing.module_span(self):
                return await self._call(args, kwargs, training)
        return await self._call(args, kwargs, training)

    async def _call(self, args: tuple, kwargs: dict, training: bool):
        if self._takes_training():
            outputs = await self.call(*args, training=training, **kwargs)
        else:
            outputs = await self.call(*args, **kwargs)
        # A call() may return DataModel instances (the seed's guards do): values flowing between
        # modules are always JsonDataModels.
        if isinstance(outputs, DataModel):
            return outputs.to_json_data_model()
        if isinstance(outputs, (list, tuple)) and any(isinstance(o, DataModel) for o in outputs):
            return type(outputs)(o.to_json_data_model() if isinstance(o, DataModel) else o for o in outputs)
        return outputs

    @classmethod
    def _takes_training(cls) -> bool:
        takes = cls.__dict__.get("_call_takes_training_cached")
        if takes is None:
            params = inspect.signature(cls.call).parameters
            takes = "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
            cls._call_takes_training_cached = takes
        return takes

    async def call(self, inputs, training: bool = False):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `async def call(self, inputs, training=False)`."
        )

    async def build(self, *args, **kwargs) -> None:
        """Create state that depends on the inputs. Called once, before the first call."""
        self.built = True

    async def _maybe_build(self, args, kwargs) -> None:
        result = self.build(*args, **kwargs)
        if inspect.isawaitable(result):
            await result
        self.built = True

    async def _symbolic_call(self, args: tuple, kwargs: dict):
        args = tree.map_structure(_to_symbolic, args)
        kwargs = tree.map_structure(_to_symbolic, kwargs)
        if not self.built:
            await self._maybe_build(args, kwargs)
        outputs = self.compute_output_spec(*args, **kwargs)
        if inspect.isawaitable(outputs):
            outputs = await outputs
        return self._record_node(args, kwargs, outputs)

    def _symbolic_call_sync(self, args: tuple, kwargs: dict):
        """For modules whose output spec is computed synchronously (the operators)."""
        self.built = True
        outputs = self.compute_output_spec(*args, **kwargs)
        return self._record_node(args, kwargs, outputs)

    def _record_node(self, args, kwargs, outputs):
        outputs = tree.map_structure(_to_symbolic, outputs)
        flat = tree.flatten(outputs)
        if not flat or any(not isinstance(x, SymbolicDataModel) for x in flat):
            raise ProgramBuildError(
                f"Module {self.name!r} ({type(self).__name__}) did not give an output spec while "
                f"the program was built (got {outputs!r}). Return a DataModel class or a "
                "SymbolicDataModel from compute_output_spec(), or annotate call()'s return type."
            )
        outputs = tree.map_structure(lambda x: x.clone() if x._history is not None else x, outputs)
        Node(self, args, kwargs, outputs)
        return outputs

    def compute_output_spec(self, *args, **kwargs):
        """The symbolic output for symbolic inputs.

        By default: the DataModel named by ``call``'s return annotation if it has one,
        otherwise ``call`` is run on the symbolic inputs. Override it when neither works.
        """
        annotated = self._annotated_output()
        if annotated is not None:
            return annotated.to_symbolic_data_model()
        return self._trace_call(args, kwargs)

    async def _trace_call(self, args, kwargs):
        try:
            if self._takes_training():
                outputs = await self.call(*args, training=False, **kwargs)
            else:
                outputs = await self.call(*args, **kwargs)
        except ProgramBuildError:
            raise
        except Exception as error:
            raise ProgramBuildError(
                f"Module {self.name!r} ({type(self).__name__}) raised {type(error).__name__}: {error} "
                "while the program was built (its call() ran on SymbolicDataModels, which have a "
                "schema but no value). Define compute_output_spec(self, inputs) returning the "
                "output DataModel, or annotate call()'s return type (-> MyDataModel | None)."
            ) from error
        if outputs is None:
            raise ProgramBuildError(
                f"Module {self.name!r} ({type(self).__name__}) returned None while the program was "
                "built, so its output schema is unknown. Define compute_output_spec(self, inputs) "
                "returning the output DataModel, or annotate call()'s return type "
                "(-> MyDataModel | None)."
            )
        return outputs

    @classmethod
    def _annotated_output(cls):
        cached = cls.__dict__.get("_annotated_output_cached", False)
        if cached is not False:
            return cached
        result = None
        try:
            hints = typing.get_type_hints(cls.call)
        except Exception:
            hints = {}
        ret = hints.get("return")
        if ret is not None:
            candidates = [a for a in typing.get_args(ret) if a is not type(None)] or [ret]
            if len(candidates) == 1 and is_data_model_class(candidates[0]):
                result = candidates[0]
        cls._annotated_output_cached = result
        return result

    # --- serialization ------------------------------------------------------------------

    def get_config(self) -> dict:
        return {"name": self.name, "description": self.description, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def serialize(module: Module) -> dict:
    """A module's config as JSON-compatible data (``synaplex.modules.serialize``, as in Synalinks):
    what ``Program.save`` writes for it."""
    if not isinstance(module, Module):
        raise InvalidInputError(
            f"synaplex.modules.serialize takes a synaplex.Module, got {type(module).__name__}: {module!r:.80}. "
            "Use synaplex.saving.serialize_synaplex_object for other objects.")
    return serialize_synaplex_object(module)


def deserialize(config: dict, custom_objects: dict | None = None, *, safe_mode: bool = True,
                allow: tuple = ()) -> Module:
    """The module that :func:`serialize` described (``synaplex.modules.deserialize``).

    Safe by default, like ``Program.load``: a config that would start a process, import code,
    read environment variables, send credentials to an endpoint it names, or create files
    raises ``UnsafeLoadError`` unless ``allow`` names that capability or ``safe_mode=False``.
    """
    if not isinstance(config, dict):
        raise InvalidInputError(
            f"synaplex.modules.deserialize takes a module's config (a dict from synaplex.modules.serialize), "
            f"got {type(config).__name__}: {config!r:.80}.")
    module = deserialize_synaplex_object(config, custom_objects, safe_mode=safe_mode, allow=allow)
    if not isinstance(module, Module):
        raise InvalidInputError(
            f"synaplex.modules.deserialize was given the config of a {type(module).__name__}, not of a "
            "synaplex.Module; use synaplex.saving.deserialize_synaplex_object for other objects.")
    return module
