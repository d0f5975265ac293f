"""OMEGA: OptiMizEr as Genetic Algorithm, with Dominated Novelty Search.

A population of candidate values per variable; new candidates are written by a language
model (mutation of one parent, crossover of two) from the calls the parents made and the
rewards those calls earned; an embedding model keeps the population diverse (Dominated
Novelty Search) instead of keeping only the best scores.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any

from synaplex.backend import config as config_lib
from synaplex.backend.errors import InvalidInputError
from synaplex.lm.embedding_model import EmbeddingModel
from synaplex.lm.language_model import LanguageModel
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.training.optimizers.optimizer import canonical, check_int, check_number, copy_json, trace_record
from synaplex.training.optimizers.random_few_shot import RandomFewShot

_log = logging.getLogger("synaplex.optimizers")

ALGORITHMS = ("dns", "ga")
SELECTIONS = ("random", "best", "softmax")
TRACES_SHOWN = 3  # best and worst calls shown per candidate
TEXT_LIMIT = 2000  # characters of one call's inputs or outputs shown to the optimizer's model

MUTATION_SYSTEM = (
    "You optimize one module of a program built from language-model calls. The module follows "
    "instructions; you rewrite them so that the module earns higher rewards (from 0 to 1, higher is "
    "better). Study the module's calls below: keep what made the well-rewarded outputs right and fix "
    "what made the poorly-rewarded ones wrong. Write general instructions for the whole task, not "
    "answers to the calls shown. Answer with a JSON object that follows the schema given: reason step "
    "by step in `thinking`, then give the complete new instructions in `instructions`."
)

CROSSOVER_SYSTEM = (
    "You optimize one module of a program built from language-model calls. You are given two "
    "candidate instructions for the module, each with its mean reward (from 0 to 1, higher is better) "
    "and some of the calls it made. Combine them into one set of instructions that keeps the strengths "
    "of both and avoids their mistakes. Write general instructions for the whole task, not answers to "
    "the calls shown. Answer with a JSON object that follows the schema given: reason step by step in "
    "`thinking`, then give the complete new instructions in `instructions`."
)


def cosine_distance(a: list[float], b: list[float]) -> float:
    """``1 - cos(a, b)``, from 0 (same direction) to 2; 1 when a vector is zero."""
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0.0:
        return 1.0
    return 1.0 - dot / norm


def dominated_novelty_scores(scores: list[float], embeddings: list[list[float]], k: int) -> list[float]:
    """Each candidate's dominated novelty: the mean cosine distance to its ``k`` nearest
    *fitter* candidates (strictly higher score); ``inf`` for a candidate that none beats."""
    if len(scores) != len(embeddings):
        raise InvalidInputError(f"{len(scores)} scores but {len(embeddings)} embeddings: give one per candidate.")
    novelty = []
    for i, score in enumerate(scores):
        distances = sorted(cosine_distance(embeddings[i], embeddings[j])
                           for j in range(len(scores)) if scores[j] > score)
        novelty.append(sum(distances[:k]) / len(distances[:k]) if distances else math.inf)
    return novelty


def dominated_novelty_selection(scores: list[float], embeddings: list[list[float]], k: int, size: int) -> list[int]:
    """Dominated Novelty Search's survivor selection: the indices (ascending) of the ``size``
    candidates with the largest dominated novelty (see :func:`dominated_novelty_scores`).

    A candidate survives by being the best, or by being far from the candidates that beat it:
    a near copy of a better candidate goes first, a different idea with a lower score stays.
    Ties go to the higher score, then to the older candidate (lower index).

    Example:
        >>> dominated_novelty_selection([0.9, 0.85, 0.8, 0.5], [[1, 0], [1, 0.01], [0.99, 0], [0, 1]], k=2, size=3)
        [0, 1, 3]
    """
    check_int("k", k, 1)
    check_int("size", size, 0)
    if size >= len(scores):
        if len(scores) != len(embeddings):
            raise InvalidInputError(f"{len(scores)} scores but {len(embeddings)} embeddings: give one per candidate.")
        return list(range(len(scores)))
    novelty = dominated_novelty_scores(scores, embeddings, k)
    order = sorted(range(len(scores)), key=lambda i: (-novelty[i], -scores[i], i))
    return sorted(order[:size])


def _clip(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


def pick_traces(records: list[dict]) -> list[dict]:
    """The best and the worst rewarded calls (``TRACES_SHOWN`` each), best first."""
    ordered = sorted((r for r in records if r.get("reward") is not None), key=lambda r: -r["reward"])
    if len(ordered) <= 2 * TRACES_SHOWN:
        return ordered
    return ordered[:TRACES_SHOWN] + ordered[-TRACES_SHOWN:]


class MissingModelError(InvalidInputError):
    """An optimizer needs a language or embedding model, and none was given or configured."""


def _resolve_model(model: Any, argument: str, embedding: bool):
    why = ("it writes the new instructions (mutations and crossovers)" if not embedding else
           "Dominated Novelty Search embeds the candidates to keep the population diverse")
    example = "synaplex.EmbeddingModel(...)" if embedding else "synaplex.LanguageModel(...)"
    if model is None:  # as in Synalinks: the configured default model
        model = config_lib.get_default_embedding_model() if embedding else config_lib.get_default_language_model()
    if model is None:
        setter = "set_default_embedding_model" if embedding else "set_default_language_model"
        raise MissingModelError(
            f"OMEGA needs {argument}= ({why}): pass {argument}={example}, or set a default with "
            f"synaplex.config.{setter}(...). OMEGA must have both a language model and an embedding model.")
    if isinstance(model, str):
        return EmbeddingModel(model=model) if embedding else LanguageModel(model=model)
    if embedding and isinstance(model, LanguageModel):
        raise InvalidInputError(
            f"OMEGA's embedding_model got a LanguageModel ({model.model!r}); pass an EmbeddingModel, "
            "e.g. embedding_model=synaplex.EmbeddingModel(model=...).")
    if not embedding and isinstance(model, EmbeddingModel):
        raise InvalidInputError(
            f"OMEGA's language_model got an EmbeddingModel ({model.model!r}); pass a LanguageModel, "
            "e.g. language_model=synaplex.LanguageModel(model=...).")
    if not callable(model) or not hasattr(model, "get_config"):
        raise InvalidInputError(f"OMEGA's {argument} must be a {example.split('(')[0]} or a model string, "
                                f"got {model!r:.100}.")
    return model


class OMEGA(RandomFewShot):
    UNSUPPORTED_ARGUMENTS = {
        "distance_function": "Dominated Novelty Search here measures the cosine distance of the candidates' "
                             "embeddings (see synaplex.optimizers.dominated_novelty_scores).",
        "sampling_temperature": "OMEGA picks parents with selection= and selection_temperature=; its few-shot "
                                "examples (few_shot_learning=True) are drawn uniformly from the pool.",
    }

    """The evolutionary optimizer: LM-written mutations and crossovers, diverse populations.

    Per trainable variable with ``instructions`` (and, with ``few_shot_learning``, with
    ``examples``), OMEGA keeps a population of up to ``population_size`` candidate values
    with their scores (the mean reward of the batches that tried them). For each batch it
    picks a parent (``selection``) and asks ``language_model`` for new instructions: a
    crossover of two parents with probability ``merging_rate * (epoch + 1)`` (capped at 1),
    else a mutation of one. The prompt shows the parents' instructions, scores and their best
    and worst rewarded calls; the reply follows a JSON schema (``thinking``, then
    ``instructions``). The first batch tries the variable's current value, as the baseline.

    In ``fit`` every candidate tried on a batch is also scored on the selection set (the
    same examples for all); that score replaces its batch reward in the population, so
    parents and survivors are chosen on comparable scores, and each epoch ends with the best
    candidate measured there, the starting point included.

    When the population outgrows ``population_size``, ``algorithm="dns"`` (Dominated Novelty
    Search) keeps the candidates farthest (cosine distance of the ``embedding_model``
    vectors of their instructions) from their ``k_nearest_fitter`` nearest better-scoring
    candidates: the best, and the different ideas; ``"ga"`` keeps the best scores. At each
    epoch end every variable gets its best candidate so far.

    Args:
        language_model: the model that writes mutations and crossovers (required).
        embedding_model: the model that embeds candidates for DNS (required).
        k_nearest_fitter: how many fitter neighbours DNS averages over (>= 1).
        population_size: the most candidates kept per variable (>= 2; keep it <= 20).
        mutation_temperature, crossover_temperature: the optimizer model's sampling
            temperature for each operation (> 0).
        selection_temperature: the softmax temperature of ``selection="softmax"`` (> 0;
            lower picks the best more often).
        merging_rate: the base crossover probability, multiplied by the epoch number: with
            0.02, 2% in the first epoch, 20% in the tenth (0 to 1).
        algorithm: ``"dns"`` or ``"ga"`` (survivors by score only).
        selection: how parents are picked: ``"random"``, ``"best"`` or ``"softmax"``.
        few_shot_learning, nb_min_examples, nb_max_examples, min_reward, max_pool_size: also
            sample few-shot examples, as :class:`RandomFewShot` does (off by default).
        nb_candidates: with ``few_shot_learning``, how many example sets (with the batch's
            new instructions) are compared on the selection set after each batch, as
            :class:`RandomFewShot` does; without it, only the candidate tried on the batch.
        instructions: task-specific guidance added to the optimizer model's prompt.
        reasoning_effort: passed to the optimizer model's calls (``"low"``, ``"medium"``,
            ``"high"``…; ``None``: the model's default).
        use_chain_of_thought: the optimizer model writes its reasoning (``thinking``) before
            the new instructions (default); ``False`` asks for the instructions alone (fewer
            tokens, for small models that ramble).
        name, seed: the optimizer's name and the seed of its random generator.
        description: a description (Synalinks' argument).

    With ``language_model`` or ``embedding_model`` left out, the default set with
    ``synaplex.config.set_default_language_model`` / ``set_default_embedding_model`` is used,
    as in Synalinks; with none set, :class:`MissingModelError` says what to pass.

    Example:
        >>> optimizer = synaplex.optimizers.OMEGA(language_model=lm, embedding_model=em, seed=0)
    """

    def __init__(self, language_model: Any = None, embedding_model: Any = None, k_nearest_fitter: int = 5,
                 population_size: int = 10, mutation_temperature: float = 0.3, crossover_temperature: float = 0.3,
                 selection_temperature: float = 0.3, merging_rate: float = 0.02, algorithm: str = "dns",
                 selection: str = "softmax", few_shot_learning: bool = False, nb_min_examples: int = 1,
                 nb_max_examples: int = 3, min_reward: float = 0.5, max_pool_size: int = 100,
                 instructions: str | None = None, name: str | None = None, seed: int | None = None,
                 description: str | None = None, reasoning_effort: str | None = None,
                 use_chain_of_thought: bool = True, nb_candidates: int = 3, **kwargs: Any):
        super().__init__(few_shot_learning=few_shot_learning, nb_min_examples=nb_min_examples,
                         nb_max_examples=nb_max_examples, min_reward=min_reward, max_pool_size=max_pool_size,
                         name=name, seed=seed, description=description, nb_candidates=nb_candidates, **kwargs)
        if reasoning_effort is not None and not isinstance(reasoning_effort, str):
            raise InvalidInputError(
                f"OMEGA(reasoning_effort=...) must be a string such as 'low', 'medium' or 'high' (or None), got "
                f"{reasoning_effort!r:.100}.")
        if not isinstance(use_chain_of_thought, bool):
            raise InvalidInputError(f"OMEGA(use_chain_of_thought=...) must be True or False, got "
                                    f"{use_chain_of_thought!r:.100}.")
        self.reasoning_effort = reasoning_effort
        self.use_chain_of_thought = use_chain_of_thought
        self.language_model = _resolve_model(language_model, "language_model", embedding=False)
        self.embedding_model = _resolve_model(embedding_model, "embedding_model", embedding=True)
        self.k_nearest_fitter = check_int("k_nearest_fitter", k_nearest_fitter, 1)
        self.population_size = check_int("population_size", population_size, 2)
        if population_size > 20:
            _log.warning("OMEGA(population_size=%d): DNS compares every pair of candidates; keep it <= 20.",
                         population_size)
        for argument, value in (("mutation_temperature", mutation_temperature),
                                ("crossover_temperature", crossover_temperature),
                                ("selection_temperature", selection_temperature)):
            check_number(argument, value, 0.0, low_inclusive=False,
                         why="OMEGA's temperatures must be non-zero: a zero temperature breaks the softmax "
                             "selection (division by zero) and stops mutations from exploring; the default is 0.3.")
        self.mutation_temperature = float(mutation_temperature)
        self.crossover_temperature = float(crossover_temperature)
        self.selection_temperature = float(selection_temperature)
        self.merging_rate = check_number("merging_rate", merging_rate, 0.0, 1.0)
        if algorithm not in ALGORITHMS:
            raise InvalidInputError(
                f"OMEGA(algorithm=...) must be one of {', '.join(map(repr, ALGORITHMS))} ('dns': Dominated "
                f"Novelty Search, 'ga': plain genetic algorithm), got {algorithm!r:.100}.")
        if selection not in SELECTIONS:
            raise InvalidInputError(
                f"OMEGA(selection=...) must be one of {', '.join(map(repr, SELECTIONS))}, got {selection!r:.100}.")
        if instructions is not None and not isinstance(instructions, str):
            raise InvalidInputError(f"OMEGA(instructions=...) must be a string (guidance for the optimizer's "
                                    f"model) or None, got {instructions!r:.100}.")
        self.algorithm = algorithm
        self.selection = selection
        self.instructions = instructions
        self._schemas: dict[str, dict] = {}

    # --- which variables ----------------------------------------------------------------------

    def handles(self, variable: Any) -> bool:
        return isinstance(variable.get_json().get("instructions"), str) or self.handles_examples(variable)

    def init_slot(self, path: str, variable: Any) -> dict:
        return {"pool": [], "population": [], "module": None}

    def crossover_probability(self, epoch: int) -> float:
        """The probability of a crossover at ``epoch`` (0-based): ``merging_rate * (epoch + 1)``,
        at most 1."""
        return min(1.0, self.merging_rate * (epoch + 1))

    def candidate_schema(self, path: str, variable: Any) -> dict:
        """The JSON schema the optimizer's model answers with for this variable."""
        schema = self._schemas.get(path)
        if schema is None:
            field = variable.get_schema().get("properties", {}).get("instructions", {})
            described = field.get("description") if isinstance(field, dict) else None
            schema = {
                "title": "OptimizedInstructions",
                "type": "object",
                "properties": {
                    "thinking": {"type": "string",
                                 "description": "Step by step: what the calls show, and what to change"},
                    "instructions": {"type": "string",
                                     "description": "The complete new instructions"
                                                    + (f" ({described})" if described else "")},
                },
                "required": ["thinking", "instructions"],
                "additionalProperties": False,
            }
            if not self.use_chain_of_thought:
                del schema["properties"]["thinking"]
                schema["required"] = ["instructions"]
            self._schemas[path] = schema
        return schema

    # --- selection ----------------------------------------------------------------------------

    def select(self, population: list[dict], exclude: tuple[int, ...] = ()) -> int:
        """The index of a parent, by ``selection``, among the candidates not excluded."""
        indices = [i for i in range(len(population)) if i not in exclude]
        if self.selection == "random":
            return self.rng.choice(indices)
        if self.selection == "best":
            return max(indices, key=lambda i: (population[i]["score"], -i))
        top = max(population[i]["score"] for i in indices)
        weights = [math.exp((population[i]["score"] - top) / self.selection_temperature) for i in indices]
        threshold = self.rng.random() * sum(weights)
        for index, weight in zip(indices, weights):
            threshold -= weight
            if threshold < 0:
                return index
        return indices[-1]

    # --- prompts ------------------------------------------------------------------------------

    def _system(self, crossover: bool) -> str:
        system = CROSSOVER_SYSTEM if crossover else MUTATION_SYSTEM
        if not self.use_chain_of_thought:
            system = system.replace("reason step by step in `thinking`, then give", "give")
        if self.instructions:
            system += "\n\nGuidance for this task:\n" + self.instructions
        return system

    @staticmethod
    def _describe(entry: dict, label: str) -> str:
        measured = ("reward {:.3f} on the selection set" if entry.get("selection")
                    else "mean reward {:.3f} over " + f"{entry['count']} batch(es)").format(entry["score"])
        lines = [f"{label} ({measured}):",
                 "<<<", entry["value"].get("instructions", ""), ">>>"]
        if entry["traces"]:
            lines.append("Its calls, best rewarded first:")
            for number, record in enumerate(entry["traces"], 1):
                lines.append(f"Call {number} (reward {record['reward']:.3f})")
                lines.append(f"inputs: {_clip(record['inputs'])}")
                lines.append(f"outputs: {_clip(record['outputs'])}")
        else:
            lines.append("(No call of the module was recorded with these instructions.)")
        return "\n".join(lines)

    def mutation_messages(self, module: str, parent: dict, schema: dict) -> list[dict]:
        user = "\n".join([f"Module: {module}", "", self._describe(parent, "Current instructions"), "",
                          "Answer with JSON that follows this schema:", json.dumps(schema)])
        return [{"role": "system", "content": self._system(False)}, {"role": "user", "content": user}]

    def crossover_messages(self, module: str, parents: list[dict], schema: dict) -> list[dict]:
        user = "\n".join([f"Module: {module}", "", self._describe(parents[0], "Candidate A"), "",
                          self._describe(parents[1], "Candidate B"), "",
                          "Answer with JSON that follows this schema:", json.dumps(schema)])
        return [{"role": "system", "content": self._system(True)}, {"role": "user", "content": user}]

    async def _write(self, messages: list[dict], schema: dict, temperature: float) -> str | None:
        extra = {} if self.reasoning_effort is None else {"reasoning_effort": self.reasoning_effort}
        reply = await self.language_model(messages, schema=schema, temperature=temperature, **extra)
        instructions = reply.get("instructions") if isinstance(reply, dict) else None
        if not isinstance(instructions, str) or not instructions.strip():
            _log.warning("%s: the optimizer's model gave no instructions; the parent's are kept.", self.name)
            return None
        return instructions.strip()

    # --- propose ------------------------------------------------------------------------------

    async def propose_candidates(self, epoch: int, step: int) -> dict[str, dict | None]:
        # Every random draw happens first, in variable order, so that the proposals only
        # depend on the seed (and the state); the model calls then run concurrently.
        candidates: dict[str, dict | None] = {}
        jobs = []
        for path, variable in self._variables.items():
            slot = self._slots[path]
            population = slot["population"]
            examples = self.sample_examples(path) if self.handles_examples(variable) else None
            if not population:
                if examples is None:
                    candidates[path] = None
                else:
                    candidate = copy_json(variable.get_json())
                    candidate["examples"] = examples
                    candidates[path] = candidate
                continue
            crossover = len(population) >= 2 and self.rng.random() < self.crossover_probability(epoch)
            first = self.select(population)
            parents = [first, self.select(population, exclude=(first,))] if crossover else [first]
            candidate = copy_json(population[first]["value"])
            if examples is not None:
                candidate["examples"] = examples
            candidates[path] = candidate
            if isinstance(candidate.get("instructions"), str):
                module = slot.get("module") or path
                schema = self.candidate_schema(path, variable)
                if crossover:
                    messages = self.crossover_messages(module, [population[i] for i in parents], schema)
                    temperature = self.crossover_temperature
                else:
                    messages = self.mutation_messages(module, population[first], schema)
                    temperature = self.mutation_temperature
                jobs.append((candidate, self._write(messages, schema, temperature)))
        if jobs:
            written = await asyncio.gather(*(job for _, job in jobs))
            for (candidate, _), instructions in zip(jobs, written):
                if instructions is not None:
                    candidate["instructions"] = instructions
        return candidates

    # --- update -------------------------------------------------------------------------------

    def embedding_text(self, value: dict) -> str:
        """What DNS embeds of a candidate: its instructions (its JSON when it has none)."""
        instructions = value.get("instructions")
        return instructions if isinstance(instructions, str) else canonical(value)

    async def _embed(self, population: list[dict]) -> None:
        missing = [entry for entry in population if entry.get("embedding") is None]
        if not missing:
            return
        result = await self.embedding_model([self.embedding_text(entry["value"]) for entry in missing])
        vectors = result.get("embeddings") if isinstance(result, dict) else result
        if not isinstance(vectors, list) or len(vectors) != len(missing):
            raise InvalidInputError(
                f"OMEGA's embedding_model must return one vector per text ({len(missing)}), got {result!r:.200}")
        for entry, vector in zip(missing, vectors):
            entry["embedding"] = [float(x) for x in vector]

    async def survivors(self, population: list[dict]) -> list[int]:
        """The indices of the candidates kept when the population outgrows its size."""
        scores = [entry["score"] for entry in population]
        if len(population) <= self.population_size:
            return list(range(len(population)))
        if self.algorithm == "ga":
            order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
            return sorted(order[:self.population_size])
        await self._embed(population)
        return dominated_novelty_selection(scores, [entry["embedding"] for entry in population],
                                           self.k_nearest_fitter, self.population_size)

    async def learn(self, path: str, variable: Any, candidate: dict, score: float, traces: list) -> None:
        if self.handles_examples(variable):
            self.add_to_pool(path, traces)
        slot = self._slots[path]
        if traces and not slot.get("module"):
            slot["module"] = traces[0].module
        records = [trace_record(t) for t in traces]
        population = slot["population"]
        key = canonical(candidate)
        for entry in population:
            if canonical(entry["value"]) == key:  # tried again: its score is the mean of its trials
                entry["count"] += 1
                if not entry.get("selection"):  # a selection-set score is not averaged with batch rewards
                    entry["score"] += (score - entry["score"]) / entry["count"]
                entry["traces"] = pick_traces(records + entry["traces"])
                break
        else:
            population.append({"value": copy_json(candidate), "score": score, "count": 1, "embedding": None,
                               "traces": pick_traces(records)})
        if len(population) > self.population_size:
            keep = await self.survivors(population)
            slot["population"] = [population[i] for i in keep]

    def observe_selection(self, candidate: dict[str, dict], score: float) -> None:
        """A population member measured on the selection set takes that score: unlike batch
        rewards, it compares with the other members'."""
        for path, value in candidate.items():
            slot = self._slots.get(path)
            if slot is None:
                continue
            key = canonical(value)
            for entry in slot.get("population", []):
                if canonical(entry["value"]) == key:
                    entry["score"], entry["selection"] = score, True

    def populations(self) -> dict[str, list[dict]]:
        """Each variable's population: ``[{"value", "score", "count", ...}]``, by path."""
        return {path: copy_json(slot["population"]) for path, slot in self._slots.items()}

    # --- config -------------------------------------------------------------------------------

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            language_model=serialize_synaplex_object(self.language_model),
            embedding_model=serialize_synaplex_object(self.embedding_model),
            k_nearest_fitter=self.k_nearest_fitter,
            population_size=self.population_size,
            mutation_temperature=self.mutation_temperature,
            crossover_temperature=self.crossover_temperature,
            selection_temperature=self.selection_temperature,
            merging_rate=self.merging_rate,
            algorithm=self.algorithm,
            selection=self.selection,
            instructions=self.instructions,
        )
        if self.reasoning_effort is not None:
            config["reasoning_effort"] = self.reasoning_effort
        if not self.use_chain_of_thought:
            config["use_chain_of_thought"] = False
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        for key in ("language_model", "embedding_model"):
            config[key] = deserialize_synaplex_object(config.get(key), custom_objects)
        return cls(**config)
