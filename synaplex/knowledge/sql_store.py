"""The graph queries of the SQL stores (SQLite and PostgreSQL), written once for both.

Both keep the graph as ``nodes`` and ``edges`` tables. A :class:`SqlDialect` says how each
engine spells what differs (parameters, a list bound as one parameter, a join that must keep
its order); :func:`path_sql` and :func:`neighbours_sql` build the statements from fixed
templates, every label, text and id list a bound parameter, so no text of a model's ever
becomes SQL.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from synaplex.knowledge.plans import RRF_K, PathSearch
from synaplex.knowledge.store import Store

MAX_PATH_ROWS = 50_000  # chains read before ranking when the pattern has a search


@dataclasses.dataclass(frozen=True)
class SqlDialect:
    placeholder: str  # a named parameter, with {name}
    member: str  # "column is in the list bound as {name}", with {column} and {name}
    ids_source: str  # a list of ids bound as {name}, as a table with the column c.id
    join: str  # SQLite's CROSS JOIN keeps the order written (start from the few candidates)
    one_recursive_step: bool  # PostgreSQL allows one recursive SELECT per CTE; SQLite several
    json_lists: bool  # lists travel as JSON text (SQLite) or as arrays (PostgreSQL)
    json_columns: bool  # JSON columns come back as text to decode (SQLite) or as values

    def param(self, name: str) -> str:
        return self.placeholder.format(name=name)

    def is_in(self, column: str, name: str) -> str:
        return self.member.format(column=column, name=self.param(name))

    def values(self, values: list) -> Any:
        return json.dumps(list(values)) if self.json_lists else list(values)

    def decoded(self, value: Any) -> Any:
        return json.loads(value) if self.json_columns else value


SQLITE = SqlDialect(placeholder=":{name}", member="{column} IN (SELECT value FROM json_each({name}))",
                    ids_source="(SELECT value AS id FROM json_each({name})) c", join="CROSS JOIN",
                    one_recursive_step=False, json_lists=True, json_columns=True)
POSTGRES = SqlDialect(placeholder="%({name})s", member="{column} = ANY({name})",
                      ids_source="unnest({name}::bigint[]) AS c(id)", join="JOIN",
                      one_recursive_step=True, json_lists=False, json_columns=False)


def path_sql(plan: PathSearch, ranks: dict[int, dict[int, int]], dialect: SqlDialect) -> tuple[str, dict]:
    """The SELECT of a path pattern: joins from the first searched node's candidates (a short
    list), then along edges by index in both directions."""
    hops = len(plan.relations)
    start = min(ranks) if ranks else 0
    bindings: dict[str, Any] = {}
    join = dialect.join
    if ranks:
        parts = [f"{dialect.ids_source.format(name=dialect.param('start'))} {join} nodes n{start} "
                 f"ON n{start}.id = c.id"]
        bindings["start"] = dialect.values(ranks[start])
    else:
        parts = [f"nodes n{start}"]

    def edge(h: int, known: str) -> None:  # edge h joins n{h-1} (subject) to n{h} (object)
        other = "obj" if known == "subj" else "subj"
        label = plan.relations[h - 1]
        condition = f" AND e{h}.label = {dialect.param(f'relation{h}')}" if label is not None else ""
        if label is not None:
            bindings[f"relation{h}"] = label
        node, reached = (h - 1, h) if known == "subj" else (h, h - 1)
        parts.append(f"{join} edges e{h} ON e{h}.{known} = n{node}.id{condition}")
        parts.append(f"{join} nodes n{reached} ON n{reached}.id = e{h}.{other}")

    for h in range(start + 1, hops + 1):
        edge(h, "subj")
    for h in range(start, 0, -1):
        edge(h, "obj")
    where = []
    for i, pattern in enumerate(plan.nodes):
        where.append(f"n{i}.kind = 'entity' AND {dialect.is_in(f'n{i}.label', f'labels{i}')}")
        bindings[f"labels{i}"] = dialect.values([scope.partition(":")[2] for scope in pattern.scopes])
        if i in ranks and i != start:
            where.append(dialect.is_in(f"n{i}.id", f"candidates{i}"))
            bindings[f"candidates{i}"] = dialect.values(ranks[i])
    columns = [f"n{i}.id" for i in range(hops + 1)] + [f"e{h}.label, e{h}.data" for h in range(1, hops + 1)]
    bindings["limit"] = MAX_PATH_ROWS if ranks else plan.k
    return (f"SELECT {', '.join(columns)} FROM {' '.join(parts)} WHERE {' AND '.join(where)} "
            f"LIMIT {dialect.param('limit')}", bindings)


def neighbours_sql(direction: str, relation_labels: list[str] | None, dialect: SqlDialect) -> str:
    """The recursive walk from one node: each reached node with its least depth, nearest first."""
    depth = dialect.param("depth")
    label_filter = "" if relation_labels is None else f" AND {dialect.is_in('e.label', 'labels')}"
    steps = []
    if direction in ("out", "both"):
        steps.append(f"SELECT e.obj, w.depth + 1 FROM walk w JOIN edges e ON e.subj = w.id "
                     f"WHERE w.depth < {depth}{label_filter}")
    if direction in ("in", "both"):
        steps.append(f"SELECT e.subj, w.depth + 1 FROM walk w JOIN edges e ON e.obj = w.id "
                     f"WHERE w.depth < {depth}{label_filter}")
    step = " UNION ".join(steps)
    if len(steps) == 2 and dialect.one_recursive_step:
        step = ("SELECT CASE WHEN e.subj = w.id THEN e.obj ELSE e.subj END, w.depth + 1 FROM walk w JOIN edges e ON "
                f"(e.subj = w.id OR e.obj = w.id) WHERE w.depth < {depth}{label_filter}")
    start = (f"SELECT id FROM nodes WHERE kind = {dialect.param('kind')} AND label = {dialect.param('label')} "
             f"AND key = {dialect.param('key')}")
    return (f"WITH RECURSIVE start(id) AS ({start}), walk(id, depth) AS (SELECT id, 0 FROM start UNION {step}) "
            "SELECT id, MIN(depth) AS d FROM walk WHERE id NOT IN (SELECT id FROM start) GROUP BY id ORDER BY d, id")


class SqlStore(Store):
    """Path search and neighbours for a store whose ``conn.execute(sql, bindings)`` speaks SQL."""

    dialect: SqlDialect

    def path_search(self, plan: PathSearch) -> list[dict]:
        """The best chains matching the pattern (see :class:`PathSearch`), ranked by RRF over the
        nodes' candidate ranks; without any search, the first ``k`` chains found."""
        hops = len(plan.relations)
        with self.lock:
            ranks = self._candidate_ranks(plan)
            sql, bindings = path_sql(plan, ranks, self.dialect)
            rows = self.conn.execute(sql, bindings).fetchall()

            def score(row) -> float:
                return sum(1.0 / (RRF_K + 1 + ranks[i][row[i]]) for i in ranks)

            if ranks:
                rows = sorted(rows, key=lambda row: (-score(row), row[:hops + 1]))[:plan.k]
            nodes = self._nodes(sorted({row[i] for row in rows for i in range(hops + 1)}))
        return [{"nodes": [nodes[row[i]]["data"] for i in range(hops + 1)],
                 "relations": [{"label": row[hops + 1 + 2 * h], **self.dialect.decoded(row[hops + 2 + 2 * h])}
                               for h in range(hops)],
                 "score": score(row)} for row in rows]

    def neighbours(self, kind: str, label: str, key: str, depth: int, relation_labels: list[str] | None,
                   direction: str) -> list[dict]:
        sql = neighbours_sql(direction, relation_labels, self.dialect)
        bindings = {"kind": kind, "label": label, "key": key, "depth": depth,
                    "labels": self.dialect.values(relation_labels or [])}
        with self.lock:
            rows = self.conn.execute(sql, bindings).fetchall()
            nodes = self._nodes([row[0] for row in rows])
        return [{**nodes[node_id], "depth": d} for node_id, d in rows]
