"""Entity, relation and document models shared by the knowledge base tests."""

from typing import Literal

import synaplex


class City(synaplex.Entity):
    label: Literal["City"]
    name: str = synaplex.Field(description="The name of the city")
    description: str = synaplex.Field(default="", description="What the city is known for")


class Country(synaplex.Entity):
    label: Literal["Country"]
    name: str = synaplex.Field(description="The name of the country")


class Person(synaplex.Entity):
    label: Literal["Person"]
    name: str = synaplex.Field(description="The person's full name")


class IsCapitalOf(synaplex.Relation):
    subj: City
    label: Literal["IsCapitalOf"]
    obj: Country


class IsLocatedIn(synaplex.Relation):
    subj: City
    label: Literal["IsLocatedIn"]
    obj: Country


class BornIn(synaplex.Relation):
    subj: Person
    label: Literal["BornIn"]
    obj: City
    year: int | None = synaplex.Field(default=None, description="The year of birth")


ENTITIES = [City, Country, Person]
RELATIONS = [IsCapitalOf, IsLocatedIn, BornIn]

FACTS = [
    City(name="Paris", description="the Eiffel tower and the Louvre museum"),
    City(name="Lyon", description="silk weaving and gastronomy"),
    City(name="Rome", description="the Colosseum and the Vatican"),
    City(name="Milan", description="fashion and the Duomo cathedral"),
    City(name="Berlin", description="the Brandenburg Gate"),
    Country(name="France"), Country(name="Italy"), Country(name="Germany"),
    IsCapitalOf(subj=City(name="Paris"), obj=Country(name="France")),
    IsCapitalOf(subj=City(name="Rome"), obj=Country(name="Italy")),
    IsCapitalOf(subj=City(name="Berlin"), obj=Country(name="Germany")),
    IsLocatedIn(subj=City(name="Lyon"), obj=Country(name="France")),
    IsLocatedIn(subj=City(name="Milan"), obj=Country(name="Italy")),
    BornIn(subj=Person(name="Emile Zola"), obj=City(name="Paris"), year=1840),
    BornIn(subj=Person(name="Albert Einstein"), obj=City(name="Ulm"), year=1879),
]
