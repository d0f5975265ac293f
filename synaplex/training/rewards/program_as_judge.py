"""ProgramAsJudge: a synaplex Program scores the prediction."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data.json_data_model import JsonDataModel
from synaplex.modules.input import convert_input
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.rewards.reward import Reward, RewardError
from synaplex.training.trainable import Trainable
from synaplex.training.values import to_json_value, value_schema


class ProgramAsJudge(Reward):
    """A synaplex ``Program`` scores the prediction; its output's ``reward`` field is the score.

    How the program is called:

    * a program with **two inputs** (ground truth, prediction) receives ``[y_true, y_pred]``
      (as in Synalinks; ``y_true`` may be ``None``, which the program's ``|``/``&`` handle);
    * a program with **one input** receives the prediction alone (a judge of the prediction
      on its own).

    Both are the masked plain dicts, validated against the program's input schemas. The
    output (a DataModel, a JsonDataModel or a dict; with several outputs, the first that has
    a ``reward`` field) must have a ``reward`` field in [0, 1]; a missing field or a ``None``
    output raises :class:`RewardError`.

    Example:
        >>> gold = synaplex.Input(data_model=Answer)
        >>> pred = synaplex.Input(data_model=Answer)
        >>> score = await synaplex.Generator(data_model=Score, language_model=lm)(gold + pred)
        >>> judge = synaplex.Program(inputs=[gold, pred], outputs=score)
        >>> synaplex.rewards.ProgramAsJudge(program=judge)
    """

    def __init__(self, program: Any = None, in_mask: list[str] | None = None, out_mask: list[str] | None = None,
                 name: str | None = None):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)
        if not isinstance(program, Trainable):  # every Program is Trainable (programs sit above training)
            raise InvalidInputError(f"ProgramAsJudge: program must be a synaplex.Program, got {program!r:.80}.")
        self.program = program

    def _inputs(self, y_true: dict | None, y_pred: dict) -> Any:
        graph = getattr(self.program, "_graph", None)
        if graph is None:  # a subclassed program: its call() gets the values, typed by themselves
            return [None if v is None else JsonDataModel(json=v, schema=value_schema(v)) for v in (y_true, y_pred)]
        if len(graph.inputs) == 1:
            return convert_input(y_pred, graph.inputs[0], self.program.name)
        if len(graph.inputs) != 2:
            raise InvalidInputError(
                f"ProgramAsJudge: the judge program {self.program.name!r} has {len(graph.inputs)} inputs; it "
                "must have two (ground truth, prediction) or one (prediction)."
            )
        # Validated against the program's own input schemas (a bad field fails here, by name).
        return [convert_input(v, spec, self.program.name) for v, spec in zip((y_true, y_pred), graph.inputs)]

    async def call(self, y_true: dict | None, y_pred: dict) -> Any:
        outputs = await self.program(self._inputs(y_true, y_pred))
        candidates = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        fields: list[str] = []
        for output in candidates:
            value = to_json_value(output, f"ProgramAsJudge {self.name!r}: the program's output")
            if value is not None and "reward" in value:
                return value["reward"]
            fields.extend(value or [])
        if all(output is None for output in candidates):
            raise RewardError(
                f"Reward {self.name!r}: the judge program {self.program.name!r} returned None (no branch "
                "produced an output), so there is no reward. Make its output always present."
            )
        raise RewardError(
            f"Reward {self.name!r}: the judge program {self.program.name!r} returned no 'reward' field "
            f"(its fields: {', '.join(map(repr, fields)) or 'none'}). Give its output DataModel a field "
            "`reward: float` in [0, 1]."
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config["program"] = serialize_synaplex_object(self.program)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        config["program"] = deserialize_synaplex_object(config.get("program"), custom_objects)
        return cls(**config)
