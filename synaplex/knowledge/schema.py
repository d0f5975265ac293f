"""What a knowledge base stores: its entity, relation and document models, and records as rows.

A model is known by its class (when the user's code defines it) or, in a loaded file whose
code is not imported, by its saved schema; both give a :class:`ModelSpec`. Records (a
DataModel, a JsonDataModel or a dict, or containers of them such as a KnowledgeGraph) become
:class:`NodeRow` and :class:`EdgeRow` values that every store writes the same way.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from synaplex.backend.errors import InvalidInputError
from synaplex.data.data_model import DataModel, is_data_model_class
from synaplex.data.knowledge import (
    Entity,
    KnowledgeSchemaError,
    Relation,
    endpoint_models,
    entity_label,
    entity_text,
    primary_key,
)


@dataclasses.dataclass
class ModelSpec:
    kind: str  # "entity" | "relation" | "document"
    label: str
    schema: dict
    model: type | None = None
    key: str | None = None  # entities and documents
    text_field: str | None = None  # documents
    subj: tuple[str, ...] = ()  # relations: the labels its subject may have
    obj: tuple[str, ...] = ()

    def validate(self, value: dict, where: str) -> dict:
        """The record as validated JSON (labels filled in)."""
        if self.model is not None:
            return self.model.validate_json(value, where).get_json()
        from synaplex.lm.validation import validation_errors  # noqa: PLC0415 - jsonschema, only for schema-only models

        if self.kind in ("entity", "relation") and "label" not in value:
            value = {**value, "label": self.label}
        errors = validation_errors(value, self.schema)
        if errors:
            raise InvalidInputError(f"{where}: {'; '.join(errors)}.")
        return value

    def get_config(self) -> dict:
        config = {"kind": self.kind, "label": self.label, "schema": self.schema,
                  "data_model": f"{self.model.__module__}:{self.model.__qualname__}" if self.model else None}
        if self.key is not None:
            config["primary_key"] = self.key
        if self.text_field is not None:
            config["text_field"] = self.text_field
        if self.kind == "relation":
            config.update(subj=list(self.subj), obj=list(self.obj))
        return config

    @classmethod
    def from_config(cls, config: dict) -> ModelSpec:
        import sys  # noqa: PLC0415 - only to find an already imported class

        model = None
        path = config.get("data_model")
        if isinstance(path, str) and ":" in path:
            module_name, _, qualname = path.partition(":")
            obj = sys.modules.get(module_name)  # never imported: a loaded file names no code to run
            for part in qualname.split("."):
                obj = getattr(obj, part, None) if obj is not None else None
            if is_data_model_class(obj) and obj.get_schema() == config.get("schema"):
                model = obj
        return cls(kind=config["kind"], label=config["label"], schema=config["schema"], model=model,
                   key=config.get("primary_key"), text_field=config.get("text_field"),
                   subj=tuple(config.get("subj", ())), obj=tuple(config.get("obj", ())))


@dataclasses.dataclass
class NodeRow:
    kind: str
    label: str
    key: str
    data: dict
    text: str | None
    vector: list[float] | None = None
    endpoint: bool = False  # named inside a relation: inserted if absent, never overwritten
    parent: tuple[str, str] | None = None  # a chunk: (document label, document key)

    @property
    def scope(self) -> str:
        return f"{self.kind}:{self.label}"


@dataclasses.dataclass
class EdgeRow:
    subj: tuple[str, str]  # (label, key)
    label: str
    obj: tuple[str, str]
    data: dict


def key_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _model_spec(model: Any, kind: str, where: str) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if not is_data_model_class(model):
        raise KnowledgeSchemaError(f"{where}: {model!r:.80} is not a DataModel class.")
    if kind == "entity":
        if issubclass(model, Relation):
            raise KnowledgeSchemaError(f"{where}: {model.__name__} is a Relation; pass it in relation_models=.")
        return ModelSpec("entity", entity_label(model), model.get_schema(), model, key=primary_key(model))
    if kind == "relation":
        if not issubclass(model, Relation):
            raise KnowledgeSchemaError(
                f"{where}: {model.__name__} is not a synaplex.Relation (a relation has subj, label and obj).")
        return ModelSpec("relation", entity_label(model), model.get_schema(), model)
    if issubclass(model, (Entity, Relation)):
        raise KnowledgeSchemaError(f"{where}: {model.__name__} is an entity or relation model; pass it in "
                                   "entity_models= or relation_models=, not data_models=.")
    text_field = getattr(model, "__text_field__", None) or "text"
    if text_field not in model.model_fields:
        raise KnowledgeSchemaError(
            f"{where}: document model {model.__name__} has no {text_field!r} field: give it `text: str` or name "
            "its text field with __text_field__ = 'field'.")
    return ModelSpec("document", model.__name__, model.get_schema(), model, key=primary_key(model),
                     text_field=text_field)


class Registry:
    """The models of one knowledge base, by label."""

    def __init__(self, entity_models=(), relation_models=(), data_models=()):
        self.entities: dict[str, ModelSpec] = {}
        self.relations: dict[str, ModelSpec] = {}
        self.documents: dict[str, ModelSpec] = {}
        for kind, models, table in (("entity", entity_models, self.entities),
                                    ("relation", relation_models, self.relations),
                                    ("document", data_models, self.documents)):
            if models is None:
                continue
            if not isinstance(models, (list, tuple)):
                raise KnowledgeSchemaError(f"{kind}_models must be a list of models, got {models!r:.80}.")
            for index, model in enumerate(models):
                spec = _model_spec(model, kind, f"{'data' if kind == 'document' else kind}_models[{index}]")
                if spec.label in table:
                    raise KnowledgeSchemaError(f"Two {kind} models have the label {spec.label!r}.")
                table[spec.label] = spec
        for spec in self.relations.values():
            if spec.model is not None and not spec.subj:
                spec.subj = self._endpoint_labels(spec, "subj")
                spec.obj = self._endpoint_labels(spec, "obj")

    def _endpoint_labels(self, spec: ModelSpec, end: str) -> tuple[str, ...]:
        labels = []
        registered = {s.model: label for label, s in self.entities.items()}
        for model in endpoint_models(spec.model, end):
            if model not in registered:
                name = getattr(model, "__name__", repr(model))
                raise KnowledgeSchemaError(
                    f"Relation {spec.label}: its {end} is {name}, which is not one of the entity_models "
                    f"({', '.join(s.model.__name__ for s in self.entities.values()) or 'none'}). Add {name} to "
                    "entity_models=.")
            labels.append(registered[model])
        return tuple(labels)

    def spec(self, label: str) -> ModelSpec:
        for table in (self.entities, self.relations, self.documents):
            if label in table:
                return table[label]
        raise InvalidInputError(f"Unknown label {label!r}; this knowledge base knows {', '.join(self.labels())}.")

    def labels(self) -> list[str]:
        return [*self.entities, *self.relations, *self.documents]

    def get_config(self) -> dict:
        return {name: [s.get_config() for s in table.values()] for name, table in
                (("entity_models", self.entities), ("relation_models", self.relations),
                 ("data_models", self.documents))}

    # --- records to rows -------------------------------------------------------------

    def rows(self, records: Any, label: str | None = None) -> tuple[list[NodeRow], list[EdgeRow]]:
        """The rows to write for ``records``; ``label`` names the model of records that have none."""
        forced = self.spec(label) if label is not None else None
        nodes: dict[tuple, NodeRow] = {}
        edges: dict[tuple, EdgeRow] = {}
        for index, record in enumerate(_flatten(records)):
            self._add(record, f"update: record {index}", nodes, edges, forced)
        return list(nodes.values()), list(edges.values())

    def _classify(self, record: Any, where: str, forced: ModelSpec | None = None) -> tuple[ModelSpec, dict]:
        if forced is not None and isinstance(record, dict) and record.get("label", forced.label) == forced.label:
            return forced, record
        if isinstance(record, DataModel):
            value = record.get_json()
            for table in (self.entities, self.relations, self.documents):
                for spec in table.values():
                    if spec.model is type(record):
                        return spec, value
        elif hasattr(record, "get_json"):
            value = record.get_json()
        elif isinstance(record, dict):
            value = record
        else:
            raise InvalidInputError(f"{where}: expected an entity, relation or document (a DataModel or a dict), "
                                    f"got {type(record).__name__}: {record!r:.80}.")
        label = value.get("label")
        if isinstance(label, str):
            if "subj" in value or "obj" in value:
                if label in self.relations:
                    return self.relations[label], value
            elif label in self.entities:
                return self.entities[label], value
            raise InvalidInputError(f"{where}: unknown label {label!r}; this knowledge base knows "
                                    f"{', '.join(self.labels()) or 'no models'}.")
        if len(self.documents) == 1:
            return next(iter(self.documents.values())), value
        raise InvalidInputError(f"{where}: {value!r:.80} has no label, so its model is unknown. Pass a DataModel "
                                "instance, or give the record a 'label'.")

    def _add(self, record: Any, where: str, nodes: dict, edges: dict, forced: ModelSpec | None) -> None:
        spec, value = self._classify(record, where, forced)
        value = dict(value)
        vector = value.pop("embedding", None) if spec.kind != "document" else None
        value = spec.validate(value, where)
        if spec.kind == "entity":
            self._node(spec, value, vector, nodes, endpoint=False)
            return
        if spec.kind == "document":
            key = key_text(value[spec.key])
            nodes[("document", spec.label, key)] = NodeRow("document", spec.label, key, value, None)
            return
        ends = []
        for end, allowed in (("subj", spec.subj), ("obj", spec.obj)):
            entity = dict(value[end])
            entity_vector = entity.pop("embedding", None)
            label = entity.get("label")
            if label not in allowed:
                raise InvalidInputError(f"{where}: relation {spec.label} takes a {end} labelled "
                                        f"{' or '.join(allowed)}, got {label!r}.")
            entity = self.entities[label].validate(entity, f"{where}.{end}")
            ends.append(self._node(self.entities[label], entity, entity_vector, nodes, endpoint=True))
        data = {k: v for k, v in value.items() if k not in ("subj", "label", "obj")}
        edges[(ends[0], spec.label, ends[1])] = EdgeRow(ends[0], spec.label, ends[1], data)

    def _node(self, spec: ModelSpec, value: dict, vector, nodes: dict, endpoint: bool) -> tuple[str, str]:
        key = key_text(value[spec.key])
        slot = ("entity", spec.label, key)
        existing = nodes.get(slot)
        if existing is None or not endpoint:  # within one update too, the last value wins
            nodes[slot] = NodeRow("entity", spec.label, key, value, entity_text(value),
                                  vector=vector, endpoint=endpoint)
        elif vector is not None and existing.vector is None:
            existing.vector = vector
        return spec.label, key


def _flatten(records: Any):
    """Entities, relations and documents out of a record, a list, or a container such as a
    KnowledgeGraph (its ``entities`` first, then its ``relations``)."""
    if records is None:
        return
    if isinstance(records, (list, tuple)):
        for record in records:
            yield from _flatten(record)
        return
    value = records.get_json() if hasattr(records, "get_json") else records
    if isinstance(value, dict) and "label" not in value and ("entities" in value or "relations" in value):
        for name in ("entities", "relations", "documents"):
            yield from _flatten(value.get(name) or [])
        return
    yield records
