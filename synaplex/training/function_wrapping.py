"""FunctionWrapping: what the function wrappers of rewards and metrics share."""

from __future__ import annotations

import inspect
from typing import Any

from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


class FunctionWrapping:
    """What function wrappers share (rewards and metrics): calling ``fn`` (sync or async) with
    its saved keyword arguments, and saving ``fn`` through the registry."""

    fn: Any
    fn_kwargs: dict

    async def call_fn(self, y_true: dict | None, y_pred: dict | None) -> Any:
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
