"""Identity: returns its inputs (a placeholder, or a named point in a graph)."""

from __future__ import annotations

from synaplex.modules.module import Module


class Identity(Module):
    """Returns its inputs unchanged."""

    def __init__(self, name: str | None = None, description: str | None = None, trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        self.built = True

    def compute_output_spec(self, inputs, training=False):
        return inputs.clone() if hasattr(inputs, "clone") else inputs

    async def call(self, inputs, training=False):
        return inputs
