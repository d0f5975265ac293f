"""Knowledge data: entities, relations, documents, and the graphs a Generator extracts.

An entity model declares its label as a one-value ``Literal`` and its fields; the first field
after ``label`` is its key (``__primary_key__ = "field"`` names another). A relation model
names the entity models of its subject and object::

    class City(synaplex.Entity):
        label: Literal["City"]
        name: str = synaplex.Field(description="The name of the city")

    class IsCapitalOf(synaplex.Relation):
        subj: City
        label: Literal["IsCapitalOf"]
        obj: Country

``label`` may be left out when building a value: ``City(name="Paris")`` has label ``"City"``.
``KnowledgeGraph.of([City, Country], [IsCapitalOf])`` is the DataModel a Generator fills
to extract a typed graph from text.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, ClassVar, Literal, Union

import pydantic

from synaplex.backend.errors import InvalidInputError
from synaplex.data.data_model import DataModel, Field


class KnowledgeSchemaError(InvalidInputError):
    """An entity, relation or document model cannot be stored (no label, unknown subject...)."""


def _literal_value(annotation: Any) -> str | None:
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        if len(values) == 1 and isinstance(values[0], str):
            return values[0]
    return None


class _Labelled(DataModel):
    """Fills ``label`` from the model's ``Literal`` when a value leaves it out."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _fill_label(cls, data: Any) -> Any:
        if isinstance(data, dict) and "label" not in data:
            field = cls.model_fields.get("label")
            label = _literal_value(field.annotation) if field is not None else None
            if label is not None:
                return {**data, "label": label}
        return data


class Entity(_Labelled):
    """The base of entity models: a ``label: Literal["Name"]`` and the entity's fields."""

    label: str = Field(description="The entity's type")


class Relation(_Labelled):
    """The base of relation models: ``subj`` and ``obj`` are entity models, ``label`` a ``Literal``."""

    subj: Entity = Field(description="The subject entity")
    label: str = Field(description="The relation's type")
    obj: Entity = Field(description="The object entity")


class Document(DataModel):
    """A plain document for text retrieval: stored, cut into chunks, each chunk embedded."""

    __text_field__: ClassVar[str] = "text"

    id: str = Field(description="The document's identifier")
    text: str = Field(description="The document's text")


class Chunk(DataModel):
    """A piece of a document, as stored and retrieved."""

    document: str = Field(description="The key of the document it comes from")
    index: int = Field(description="Its position in the document, from 0")
    text: str = Field(description="The chunk's text")


class Entities(DataModel):
    """A list of entities. ``Entities.of(City, Country)`` narrows it to those models."""

    entities: list[Entity] = Field(default_factory=list, description="The entities")

    @classmethod
    def of(cls, *entity_models: type) -> type[Entities]:
        member = _union(entity_models, "Entities.of", Entity)
        return pydantic.create_model(
            "Entities", __base__=Entities,
            entities=(list[member], Field(default_factory=list, description="The entities")))


class Relations(DataModel):
    """A list of relations. ``Relations.of(IsCapitalOf)`` narrows it to those models."""

    relations: list[Relation] = Field(default_factory=list, description="The relations")

    @classmethod
    def of(cls, *relation_models: type) -> type[Relations]:
        member = _union(relation_models, "Relations.of", Relation)
        return pydantic.create_model(
            "Relations", __base__=Relations,
            relations=(list[member], Field(default_factory=list, description="The relations")))


class KnowledgeGraph(DataModel):
    """Entities and the relations between them: what a Generator extracts from a text.

    Example:
        >>> Graph = synaplex.KnowledgeGraph.of([City, Country], [IsCapitalOf])
        >>> graph = await synaplex.Generator(data_model=Graph, language_model=lm)(text)
    """

    entities: list[Entity] = Field(default_factory=list, description="The entities named in the text")
    relations: list[Relation] = Field(default_factory=list, description="The relations between them")

    @classmethod
    def of(cls, entity_models: list | tuple, relation_models: list | tuple = ()) -> type[KnowledgeGraph]:
        fields: dict[str, Any] = {
            "entities": (list[_union(entity_models, "KnowledgeGraph.of", Entity)],
                         Field(default_factory=list, description="The entities named in the text"))}
        if relation_models:
            fields["relations"] = (list[_union(relation_models, "KnowledgeGraph.of", Relation)],
                                   Field(default_factory=list, description="The relations between them"))
        return pydantic.create_model("KnowledgeGraph", __base__=KnowledgeGraph, **fields)


def _union(models, where: str, base: type):
    models = tuple(models)
    if not models:
        raise KnowledgeSchemaError(f"{where} needs at least one {base.__name__} model.")
    for model in models:
        if not (isinstance(model, type) and issubclass(model, base)):
            raise KnowledgeSchemaError(f"{where}: {model!r:.80} is not a synaplex.{base.__name__} subclass.")
        entity_label(model) if base is Entity else relation_label(model)
    return models[0] if len(models) == 1 else Union[models]  # noqa: UP007 - a runtime union of classes


def entity_label(model: type) -> str:
    """The label of an entity (or relation) model: its ``label: Literal["..."]``."""
    name = getattr(model, "__name__", repr(model))
    fields = getattr(model, "model_fields", None)
    if fields is None:
        raise KnowledgeSchemaError(f"{name!r:.80} is not a DataModel class; entity models subclass synaplex.Entity.")
    field = fields.get("label")
    label = _literal_value(field.annotation) if field is not None else None
    if label is None:
        kind = "Relation" if isinstance(model, type) and issubclass(model, Relation) else "Entity"
        raise KnowledgeSchemaError(
            f"{name} has no label: declare it as a one-value Literal, e.g. `label: Literal[{name!r}]` in "
            f"`class {name}(synaplex.{kind})`"
            + (f" (it has `label: {getattr(field.annotation, '__name__', field.annotation)}`)." if field else ".")
        )
    return label


relation_label = entity_label


def primary_key(model: type) -> str:
    """The key field of an entity or document model: ``__primary_key__`` if declared, else the
    first field after ``label``."""
    declared = getattr(model, "__primary_key__", None)
    fields = [name for name in model.model_fields if name != "label"]
    if declared is not None:
        if declared not in model.model_fields:
            raise KnowledgeSchemaError(
                f"{model.__name__}.__primary_key__ names {declared!r}, which is not one of its fields {fields}.")
        return declared
    if not fields:
        raise KnowledgeSchemaError(
            f"{model.__name__} has no field besides label: give it a key field, e.g. `name: str`.")
    return fields[0]


def endpoint_models(relation: type, end: str) -> tuple[type, ...]:
    """The entity models a relation's ``subj`` or ``obj`` may be (one, or the members of a union)."""
    annotation = relation.model_fields[end].annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def entity_text(data: dict) -> str:
    """What represents an entity in the vector and full-text indexes: its field values (not its
    label), strings as they are, other values as ``name: JSON``."""
    parts = []
    for name, value in data.items():
        if name in ("label", "embedding") or value is None or value == "":
            continue
        parts.append(value if isinstance(value, str) else f"{name}: {json.dumps(value, ensure_ascii=False)}")
    return ". ".join(parts)
