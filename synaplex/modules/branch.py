"""Branch: a Decision (or MultiDecision) picks among several modules; only the picked ones run."""

from __future__ import annotations

import asyncio
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules.decision import Decision, check_labels
from synaplex.modules.generator import DEFAULT_PROMPT_TEMPLATE
from synaplex.modules.module import Module
from synaplex.modules.multi_decision import MultiDecision
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


class Branch(Module):
    """Run the branch whose label the language model picks; the others output ``None`` and are
    never executed.

    Args:
        question, labels, language_model: the Decision that picks the branch.
        branches: one module per label, in the same order. Each keeps its own trainable
            variables, so training specializes each branch.
        return_decision: the selected branch's output is concatenated with the decision
            (``thinking``, ``choice``).
        inject_decision: the selected branch receives ``inputs + decision``.
        decision_type: ``synaplex.Decision`` (the default: exactly one branch runs) or
            ``synaplex.MultiDecision`` (one or more branches run, concurrently; the decision is
            ``thinking``, ``choices``), as in Synalinks.
        prompt_template, max_tokens, top_p, top_k, reasoning_effort, use_inputs_schema,
            use_outputs_schema: the decision's Generator settings.

    Example:
        >>> easy, hard = await synaplex.Branch(question="Evaluate query difficulty",
        ...     labels=["easy", "difficult"], branches=[gen_easy, gen_hard], language_model=lm)(inputs)
        >>> final = easy | hard
    """

    def __init__(self, question: str | None = None, labels: list[str] | None = None,
                 branches: list | None = None, language_model: Any = None, instructions: str | None = None,
                 examples: list | None = None, temperature: float | None = 0.0, return_decision: bool = False,
                 inject_decision: bool = False, decision_type: Any = None, prompt_template: str | None = None,
                 max_tokens: int | None = None, top_p: float | None = None, top_k: int | None = None,
                 reasoning_effort: str | None = None, use_inputs_schema: bool = False,
                 use_outputs_schema: bool = False, name: str | None = None, description: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, description=description, trainable=trainable)
        if decision_type is None or isinstance(decision_type, str):
            decision_type = _DECISION_TYPES.get(decision_type, decision_type)
        if decision_type not in (Decision, MultiDecision):
            raise InvalidInputError(f"Branch {self.name!r}: decision_type must be synaplex.Decision or "
                                    f"synaplex.MultiDecision, got {decision_type!r:.100}.")
        labels = check_labels(labels, f"Branch {self.name!r}")
        if not isinstance(branches, (list, tuple)) or not all(isinstance(b, Module) for b in branches):
            raise InvalidInputError(f"Branch {self.name!r}: branches must be a list of modules, got {branches!r:.100}.")
        if len(branches) != len(labels):
            raise InvalidInputError(
                f"Branch {self.name!r} has {len(labels)} labels ({', '.join(labels)}) but {len(branches)} "
                "branches: give exactly one branch module per label, in the same order.")
        self.decision = decision_type(question=question, labels=labels, language_model=language_model,
                                      instructions=instructions, examples=examples, temperature=temperature,
                                      prompt_template=prompt_template, max_tokens=max_tokens, top_p=top_p,
                                      top_k=top_k, reasoning_effort=reasoning_effort,
                                      use_inputs_schema=use_inputs_schema, use_outputs_schema=use_outputs_schema,
                                      name=f"{self.name}_decision")
        self.labels = labels
        self.branches = list(branches)
        self.return_decision = return_decision
        self.inject_decision = inject_decision
        self._merge = schema_lib.PlannedConcat()
        self.built = True

    async def compute_output_spec(self, inputs, training=False):
        decision = SymbolicDataModel(schema=self.decision.schema)
        branch_inputs = inputs
        if self.inject_decision:
            branch_inputs = SymbolicDataModel(schema=schema_lib.concat_plan(inputs.get_schema(),
                                                                           decision.get_schema())[0])
        outputs = []
        for branch in self.branches:
            spec = branch.compute_output_spec(branch_inputs)
            if hasattr(spec, "__await__"):
                spec = await spec
            spec = spec.to_symbolic_data_model() if hasattr(spec, "to_symbolic_data_model") else spec
            if self.return_decision:
                spec = SymbolicDataModel(schema=schema_lib.concat_plan(spec.get_schema(), decision.get_schema())[0])
            outputs.append(spec)
        return tuple(outputs)

    async def call(self, inputs, training=False):
        decision = await self.decision(inputs, training=training)
        if isinstance(self.decision, MultiDecision):
            chosen = set(decision.get("choices"))
            selected = [i for i, label in enumerate(self.labels) if label in chosen]
        else:
            selected = [self.labels.index(decision.get("choice"))]
        branch_inputs = self._merge(inputs, decision) if self.inject_decision else inputs

        async def run(index: int):
            output = await self.branches[index](branch_inputs, training=training)
            if self.return_decision and output is not None:
                output = self._merge(output, decision)
            return output

        outputs = [None] * len(self.branches)
        for index, output in zip(selected, await asyncio.gather(*(run(i) for i in selected))):
            outputs[index] = output
        return tuple(outputs)

    def get_config(self) -> dict:
        config = {"name": self.name, "description": self.description, "trainable": self.trainable,
                "question": self.decision.question, "labels": self.labels,
                "branches": [serialize_synaplex_object(b) for b in self.branches],
                "language_model": serialize_synaplex_object(self.decision.language_model),
                "instructions": self.decision.state["instructions"], "temperature": self.decision.temperature,
                "return_decision": self.return_decision, "inject_decision": self.inject_decision}
        if isinstance(self.decision, MultiDecision):
            config["decision_type"] = "MultiDecision"
        for key, default in (("prompt_template", DEFAULT_PROMPT_TEMPLATE), ("max_tokens", None), ("top_p", None),
                             ("top_k", None), ("reasoning_effort", None), ("use_inputs_schema", False),
                             ("use_outputs_schema", False)):
            if getattr(self.decision, key) != default:
                config[key] = getattr(self.decision, key)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["branches"] = [deserialize_synaplex_object(b) for b in config["branches"]]
        config["language_model"] = deserialize_synaplex_object(config["language_model"])
        return cls(**config)


# decision_type as a saved config names it
_DECISION_TYPES = {None: Decision, "Decision": Decision, "MultiDecision": MultiDecision}
