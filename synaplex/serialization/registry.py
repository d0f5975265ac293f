"""The serialization registry: objects to JSON configs and back. JSON only, never pickle.

A serializable object has ``get_config()`` and a ``from_config(config)`` classmethod. Its
serialized form names its class; synaplex's own classes are found by module, user
classes and functions must be registered with :func:`register_synaplex_serializable`
(or passed as ``custom_objects``).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import sys
from typing import Any

import synaplex.serialization.safe_mode as safe_loading
from synaplex.backend.errors import SavingError, UnknownClassError

_REGISTRY: dict[str, Any] = {}
_REGISTERED_NAMES: dict[int, str] = {}


def register_synaplex_serializable(package: str = "Custom", name: str | None = None):
    """Register a class or function so that saved programs can name it.

    Example:
        >>> @synaplex.saving.register_synaplex_serializable()
        ... async def my_reward(y_true, y_pred):
        ...     return 1.0 if y_true.get("answer") == y_pred.get("answer") else 0.0
    """
    if not isinstance(package, str) or ">" in package:
        raise SavingError(f"package must be a string without '>', got {package!r}.")

    def decorator(obj):
        registered = f"{package}>{name or obj.__name__}"
        if inspect.isclass(obj) and not (hasattr(obj, "get_config") or hasattr(obj, "from_config")):
            raise SavingError(f"Cannot register {obj.__name__}: a class needs get_config() and from_config().")
        _REGISTRY[registered] = obj
        _REGISTERED_NAMES[id(obj)] = registered
        return obj

    return decorator


def get_registered_name(obj: Any) -> str | None:
    return _REGISTERED_NAMES.get(id(obj))


def get_registered_object(name: str, custom_objects: dict | None = None) -> Any:
    if custom_objects:
        if name in custom_objects:
            return custom_objects[name]
        short = name.split(">")[-1]
        if short in custom_objects:
            return custom_objects[short]
    return _REGISTRY.get(name)


def find_callable(path: str, custom_objects: dict | None = None) -> Any:
    """The function saved as ``"module:qualname"``, if ``custom_objects`` holds it (under that
    path, its qualname or its name) or it is registered; never imported."""
    qualname = path.partition(":")[2]
    if custom_objects:
        for key in (path, qualname, qualname.rpartition(".")[2]):
            if key in custom_objects and callable(custom_objects[key]):
                return custom_objects[key]
    for obj in _REGISTRY.values():
        if callable(obj) and f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}" == path:
            return obj
    return None


def _is_json_primitive(obj: Any) -> bool:
    return obj is None or isinstance(obj, (bool, int, float, str))


def serialize_synaplex_object(obj: Any) -> Any:
    """Turn ``obj`` into JSON-compatible data that names how to rebuild it."""
    if _is_json_primitive(obj):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_synaplex_object(x) for x in obj]
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise SavingError(f"Cannot serialize a dict with a non-string key {key!r}.")
            out[key] = serialize_synaplex_object(value)
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        if get_registered_name(obj) is None:
            raise SavingError(
                f"Cannot serialize function {obj.__qualname__}: decorate it with "
                "@synaplex.saving.register_synaplex_serializable()."
            )
        return {"class_name": "function", "registered_name": get_registered_name(obj)}
    if not hasattr(obj, "get_config"):
        raise SavingError(
            f"Cannot serialize {type(obj).__name__} {obj!r:.80}: it has no get_config(). Give it "
            "get_config()/from_config() and register it with @synaplex.saving.register_synaplex_serializable()."
        )
    cls = obj._serialized_class() if hasattr(obj, "_serialized_class") else type(obj)
    return {
        "module": cls.__module__,
        "class_name": cls.__name__,
        "registered_name": get_registered_name(cls),
        "config": serialize_synaplex_object(obj.get_config()),
    }


def _find_class(config: dict, custom_objects: dict | None, path: str):
    registered = config.get("registered_name")
    class_name, module_name = config.get("class_name"), config.get("module") or ""
    where = f"{path}: " if path else ""
    if (registered is not None and not isinstance(registered, str)) or not isinstance(class_name, str) \
            or not isinstance(module_name, str):
        raise SavingError(f"{where}'class_name', 'module' and 'registered_name' must be strings, got "
                          f"{class_name!r:.60}, {module_name!r:.60} and {registered!r:.60}.")
    if registered:
        obj = get_registered_object(registered, custom_objects)
        if obj is not None:
            return obj
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    if module_name == "synaplex" or module_name.startswith("synaplex."):
        # synaplex's own classes only (never another package's module), and only classes
        # that rebuild themselves from a config.
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError, TypeError):
            found = None
        if inspect.isclass(found) and hasattr(found, "from_config") \
                and (found.__module__ or "").split(".")[0] == "synaplex":
            return found
    name = registered or f"{module_name}.{class_name}"
    raise UnknownClassError(
        f"{where}Cannot rebuild {name!r}: the class is not registered. Decorate it with "
        "@synaplex.saving.register_synaplex_serializable() (and import the code that defines it "
        f"before loading), or pass custom_objects={{{class_name!r}: {class_name}}}."
    )


def deserialize_synaplex_object(config: Any, custom_objects: dict | None = None, *, safe_mode: bool = True,
                                allow: tuple = ()) -> Any:
    """Rebuild an object from :func:`serialize_synaplex_object`'s output.

    Safe by default, like ``Program.load``: a config that would start a process, import
    code, read environment variables, send the environment's credentials to an endpoint it
    names, or create files raises :class:`~synaplex.errors.UnsafeLoadError` unless
    ``allow`` names that capability or ``safe_mode=False`` (see
    ``synaplex.serialization.safe_mode``). Called while a load is under way (from a
    ``from_config``), it follows that load's policy and ``custom_objects``.
    """
    scope = safe_loading.current_scope()
    if scope is None:
        with safe_loading.loading_scope(safe_mode=safe_mode, allow=allow, custom_objects=custom_objects,
                                        root=config):
            return _deserialize(config, custom_objects, "")
    if custom_objects is None:
        custom_objects = scope.custom_objects
    path = safe_loading.locate(config) if isinstance(config, (dict, list)) else ""
    return _deserialize(config, custom_objects, path)


def _deserialize(config: Any, custom_objects: dict | None, path: str) -> Any:
    if _is_json_primitive(config):
        return config
    if isinstance(config, list):
        return [_deserialize(x, custom_objects, safe_loading.join(path, i)) for i, x in enumerate(config)]
    if not isinstance(config, dict):
        raise SavingError(f"Cannot deserialize {type(config).__name__}: {config!r:.80}")
    if "class_name" not in config:
        return {k: _deserialize(v, custom_objects, safe_loading.join(path, k)) for k, v in config.items()}
    where = f"{path}: " if path else ""
    if config["class_name"] == "function":
        registered = config.get("registered_name")
        fn = get_registered_object(registered, custom_objects) if isinstance(registered, str) else None
        if fn is None:
            raise UnknownClassError(
                f"{where}Cannot rebuild function {registered!r:.100}: it is not registered. "
                "Import the code that defines it (decorated with "
                "@synaplex.saving.register_synaplex_serializable()) before loading, or pass it in custom_objects."
            )
        return fn
    cls = _find_class(config, custom_objects, path)
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise SavingError(f"{where}The config of {config['class_name']} must be an object, got {inner!r:.80}.")
    try:
        with safe_loading.rebuilding(path, config):
            # A copy: from_config often pops keys, and the file's data must stay as it was
            # (nested objects are found in it, to name their path).
            from_config = cls.from_config
            if "custom_objects" in inspect.signature(from_config).parameters:
                return from_config(dict(inner), custom_objects=custom_objects)
            return from_config(dict(inner))
    except SavingError:
        raise
    except Exception as error:
        raise SavingError(
            f"{where}Could not rebuild {config['class_name']} from its config: {type(error).__name__}: {error}. "
            "If it is a subclass, give it get_config() and from_config() that match its __init__."
        ) from error


def serialize_data_model(data_model, schema: dict | None) -> dict:
    """How modules save their DataModel: the schema always, the class's import path as a hint."""
    path = None
    if data_model is not None:
        path = f"{data_model.__module__}:{data_model.__qualname__}"
    return {"schema": schema, "data_model": path}


def deserialize_data_model(config: dict) -> tuple[Any, dict | None]:
    """Pop ``schema`` and ``data_model`` from ``config``; return the class if already imported.

    Only modules already imported are looked in (loading a file never imports code), and the
    class is used only if its schema still equals the saved one (a schema saved before DataModels
    were strict, without ``"additionalProperties": false``, still names its class); otherwise the
    schema alone is used.
    """
    schema = config.pop("schema", None)
    path = config.pop("data_model", None)
    if path:
        module_name, _, qualname = path.partition(":")
        obj = sys.modules.get(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part, None) if obj is not None else None
        if obj is not None and hasattr(obj, "get_schema"):
            try:
                current = obj.get_schema()
                if current == schema or _open(current) == schema:
                    return obj, schema
            except Exception:
                pass
    return None, schema


def _open(schema: Any) -> Any:
    """``schema`` without its ``"additionalProperties": false`` (as saved before DataModels were strict)."""
    if isinstance(schema, dict):
        return {key: _open(value) for key, value in schema.items()
                if not (key == "additionalProperties" and value is False)}
    if isinstance(schema, list):
        return [_open(value) for value in schema]
    return schema
