"""FunctionWrapping: what the function wrappers of rewards and metrics share."""

from __future__ import annotations

import inspect
from typing import Any

from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.values import as_json_dict


class FunctionWrapping:
    """What function wrappers share (rewards and metrics): calling ``fn`` (sync or async) with
    its saved keyword arguments, and saving ``fn`` through the registry."""

    fn: Any
    fn_kwargs: dict

    async def call_fn(self, y_true: dict | None, y_pred: dict | None) -> Any:
        """``fn(y_true, y_pred, **kwargs)``, awaited when async; both values as JsonDicts."""
        # JsonDicts: dicts that also answer get_json(), as Synalinks' JsonDataModels do
        return await self.call_fn_raw(as_json_dict(y_true), as_json_dict(y_pred))

    async def call_fn_raw(self, y_true: Any, y_pred: Any) -> Any:
        """``fn(y_true, y_pred, **kwargs)`` with the values as given, awaited when async."""
        result = self.fn(y_true, y_pred, **self.fn_kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    def get_config(self) -> dict:
        config = super().get_config()
        config["fn"] = serialize_synaplex_object(self.fn)
        config["fn_kwargs"] = serialize_synaplex_object(self.fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        fn = deserialize_synaplex_object(config.pop("fn", None), custom_objects)
        fn_kwargs = deserialize_synaplex_object(config.pop("fn_kwargs", None) or {}, custom_objects)
        return cls(fn, **config, **fn_kwargs)
