"""Action: the language model fills one tool's arguments, then the tool runs."""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.lm.errors import StructuredOutputError
from synaplex.lm.tools import quote_arguments
from synaplex.modules.generator import DEFAULT_PROMPT_TEMPLATE, Generator
from synaplex.modules.module import Module
from synaplex.modules.tool import as_tool
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


def action_schema(tool) -> tuple[dict, dict]:
    """The arguments schema the LM fills, and the Action's output schema (Synalinks'
    ``{"action": {"inputs", "outputs"}}``)."""
    parameters = dict(tool.parameters)
    defs = parameters.pop("$defs", None)
    arguments = {"title": f"{tool.name}_arguments", **parameters}
    if defs:
        arguments["$defs"] = defs
    output = {
        "title": "GenericAction",
        "type": "object",
        "properties": {
            "action": {
                "title": "GenericIO",
                "type": "object",
                "description": "An action already performed",
                "properties": {
                    "inputs": {"type": "object", "description": "The inputs",
                               "additionalProperties": True},
                    "outputs": {"type": "object", "description": "The outputs", "additionalProperties": True},
                },
                "required": ["inputs", "outputs"],
            },
        },
        "required": ["action"],
    }
    return arguments, output


def tool_outputs(outcome: dict) -> dict:
    """What a tool gave, as an object: its dict result as is, any other result as
    ``{"result": ...}``, a failure as ``{"error": "..."}`` (Synalinks' shapes)."""
    if "error" in outcome:
        return {"error": outcome["error"]}
    result = outcome.get("result")
    return result if isinstance(result, dict) else {"result": result}


class Action(Module):
    """Let the language model fill the arguments of ``tool`` from the inputs, then run it.

    The output is Synalinks' ``{"action": {"inputs": <the arguments>, "outputs": <what the
    tool gave>}}``: a tool returning a dict gives it as ``outputs``, any other value
    ``{"result": value}``, and a tool that raises ``{"error": "<Type>: <message>"}``, so a
    program can branch on it. Arguments the language model does not give as valid JSON of the
    tool's schema (after the model's repair attempts) never run the tool: ``inputs`` is ``{}``
    and ``outputs`` is ``{"error": ...}`` saying what was wrong, quoting the raw reply (cut to
    200 characters). The argument generator is a sub-module with trainable instructions and
    examples; ``return_inputs=True`` puts the inputs before the action.

    Example:
        >>> result = await synaplex.Action(tool=synaplex.Tool(calculate), language_model=lm)(inputs)
    """

    def __init__(self, tool: Any = None, language_model: Any = None, instructions: str | None = None,
                 examples: list | None = None, temperature: float | None = 0.0, return_inputs: bool = False,
                 prompt_template: str | None = None, max_tokens: int | None = None, top_p: float | None = None,
                 top_k: int | None = None, reasoning_effort: str | None = None, use_inputs_schema: bool = False,
                 use_outputs_schema: bool = False, name: str | None = None, description: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        if tool is None:
            raise InvalidInputError("Action needs tool=synaplex.Tool(<function>): the tool it calls.")
        self.tool = as_tool(tool)
        arguments, self._output_schema = action_schema(self.tool)
        self.generator = Generator(
            schema=arguments, language_model=language_model, examples=examples, temperature=temperature,
            instructions=instructions or (f"Fill the arguments of the tool `{self.tool.name}` "
                                          f"({self.tool.description}) from the inputs."),
            prompt_template=prompt_template, max_tokens=max_tokens, top_p=top_p, top_k=top_k,
            reasoning_effort=reasoning_effort, use_inputs_schema=use_inputs_schema,
            use_outputs_schema=use_outputs_schema, name=f"{self.name}_generator")
        self.return_inputs = return_inputs
        self._merge = schema_lib.PlannedConcat()
        self.built = True

    @property
    def language_model(self):
        return self.generator.language_model

    async def call(self, inputs, training=False):
        try:
            arguments = (await self.generator(inputs, training=training)).get_json()
        except StructuredOutputError as error:  # arguments the model did not give right: the tool never runs
            problem = (f"the language model's arguments are not valid ({'; '.join(error.validation_errors[:5])}): "
                       f"{quote_arguments(error.raw_text or '')}")
            failure = self.tool._not_run(problem)
            arguments, outcome = {}, {"error": f"{type(failure).__name__}: {failure}"}
        else:
            outcome = await self.tool.run(arguments)
        output = JsonDataModel(json={"action": {"inputs": arguments, "outputs": tool_outputs(outcome)}},
                               schema=self._output_schema)
        return self._merge(inputs, output) if self.return_inputs else output

    async def compute_output_spec(self, inputs, training=False):
        if self.return_inputs:
            return SymbolicDataModel(schema=self._merge.schema(inputs.get_schema(), self._output_schema)[0])
        return SymbolicDataModel(schema=self._output_schema)

    def get_config(self) -> dict:
        state = self.generator.state
        config = super().get_config()
        generator = self.generator
        config.update(tool=serialize_synaplex_object(self.tool),
                      language_model=serialize_synaplex_object(self.language_model),
                      instructions=state["instructions"], examples=state["examples"],
                      temperature=generator.temperature, return_inputs=self.return_inputs)
        if generator.prompt_template != DEFAULT_PROMPT_TEMPLATE:
            config["prompt_template"] = generator.prompt_template
        for key in ("max_tokens", "top_p", "top_k", "reasoning_effort", "use_inputs_schema", "use_outputs_schema"):
            if getattr(generator, key):
                config[key] = getattr(generator, key)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["tool"] = deserialize_synaplex_object(config["tool"])
        config["language_model"] = deserialize_synaplex_object(config["language_model"])
        return cls(**config)
