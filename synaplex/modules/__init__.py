"""Modules: Module, Input, the JSON operators' modules, Generator and the others.

``synaplex.modules.serialize`` and ``synaplex.modules.deserialize`` (as in Synalinks) turn a module
into its config and back, through the same registry as saving; they load on first use, so that
importing one module of the package does not load the others.
"""

import importlib

_LAZY = {
    "serialize": "synaplex.modules.module",
    "deserialize": "synaplex.modules.module",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'synaplex.modules' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
