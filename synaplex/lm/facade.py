"""What LanguageModel and EmbeddingModel share: model resolution, the adapter, config."""

from __future__ import annotations

from typing import Any

from synaplex.backend import config
from synaplex.backend.errors import InvalidInputError
from synaplex.lm.base import Usage
from synaplex.lm.providers import parse_model


class ModelFacade:
    """Resolves ``model`` (or the configured default) to a provider adapter."""

    _kind = "language model"
    _embedding = False

    def __init__(self, model: str | None = None, api_key: str | None = None, api_base: str | None = None,
                 **kwargs: Any):
        if model is None:
            default = (config.get_default_embedding_model() if self._embedding
                       else config.get_default_language_model())
            if default is None:
                setter = "set_default_embedding_model" if self._embedding else "set_default_language_model"
                raise InvalidInputError(
                    f"No {self._kind} given and none configured. Pass model='provider/model-name' "
                    f"(e.g. 'scripted' in tests) or call synaplex.config.{setter}(...)."
                )
            model = default if isinstance(default, str) else default.model
        spec, model_name = parse_model(model)
        self.model = model
        self.provider = spec.name
        self.api_base = api_base
        self._adapter = spec.load(embedding=self._embedding)(
            model_name=model_name, api_key=api_key, api_base=api_base, **kwargs)
        self.defaults = {k: v for k, v in kwargs.items() if k != "responses"}
        self.usage = Usage()

    @property
    def requests(self) -> list:
        """Every request this model received (scripted models only)."""
        return getattr(self._adapter, "requests", [])

    def set_responses(self, responses: Any) -> None:
        """Replace the replies of a scripted model."""
        if not hasattr(self._adapter, "set_responses"):
            raise InvalidInputError(f"set_responses is for scripted models; this one is {self.model!r}.")
        self._adapter.set_responses(responses)

    def get_config(self) -> dict:
        """The model's configuration; never its API key."""
        config_ = {"model": self.model, "api_base": self.api_base}
        config_.update(self.defaults)
        config_.update(self._adapter.get_config())
        return config_

    @classmethod
    def from_config(cls, config_: dict):
        config_ = dict(config_)
        callable_path = config_.pop("responses_callable", None)
        model = cls(**config_)
        if callable_path is not None and hasattr(model._adapter, "restore_from_config"):
            model._adapter.restore_from_config({"responses_callable": callable_path})
        return model

    def __repr__(self):
        return f"<{type(self).__name__} model={self.model!r}>"
