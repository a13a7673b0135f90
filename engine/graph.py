"""A definition as a networkx graph, and the working-time arithmetic over it.

Shared by the linter (structure and time rules), the renderer (the
"tổng X / thời hạn Y" header) and the documents (the annex table total).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from engine.definition import Definition, Step


def step_graph(defn: Definition) -> nx.DiGraph:
    """Steps as nodes, routes as edges (one edge per route target).

    Edge attributes: ``outcome``, ``max`` (rework bound or None), ``parallel``.
    Routes to unknown steps are left out (the linter reports them).
    """
    g = nx.DiGraph()
    ids = {s.id for s in defn.steps}
    for s in defn.steps:
        g.add_node(s.id, step=s)
    for s in defn.steps:
        for r in s.routes:
            for t in r.targets:
                if t in ids and not g.has_edge(s.id, t):
                    g.add_edge(s.id, t, outcome=r.outcome, max=r.max, parallel=r.parallel)
    return g


def timed_dag(defn: Definition, g: nx.DiGraph | None = None) -> nx.DiGraph:
    """The graph the clock runs on: citizen (paused) steps and bounded rework edges removed.

    What remains must be acyclic for a definition to be valid (rule
    ``unbounded-cycle``); it may not be when the definition is broken.
    """
    g = (g or step_graph(defn)).copy()
    g.remove_edges_from([(u, v) for u, v, d in g.edges(data=True) if d.get("max") is not None])
    g.remove_nodes_from([n for n, d in g.nodes(data=True) if d["step"].paused])
    return g


@dataclass(frozen=True)
class CriticalPath:
    """The longest working-time path of a definition."""

    minutes: int
    steps: tuple[str, ...]


def critical_path(defn: Definition) -> CriticalPath | None:
    """The longest working-time path from the start, citizen steps excluded.

    Alternatives (ok / refuse) and parallel branches both count by their
    longest; a step without a duration counts 0. Returns None when the timed
    graph has a cycle (the definition is invalid) or there are no steps.
    """
    if not defn.steps:
        return None
    dag = timed_dag(defn)
    if not nx.is_directed_acyclic_graph(dag):
        return None
    start = defn.start.id
    if start not in dag:
        return CriticalPath(0, ())
    reach = nx.descendants(dag, start) | {start}
    best: dict[str, tuple[int, str | None]] = {}
    for n in nx.topological_sort(dag.subgraph(reach)):
        own = dag.nodes[n]["step"].duration or 0
        preds = [(best[p][0], p) for p in dag.predecessors(n) if p in best]
        if n == start or not preds:
            best[n] = (own, None)
        else:
            total, prev = max(preds)
            best[n] = (total + own, prev)
    end = max(best, key=lambda n: (best[n][0], n))
    path = [end]
    while best[path[-1]][1] is not None:
        path.append(best[path[-1]][1])  # type: ignore[arg-type]
    return CriticalPath(best[end][0], tuple(reversed(path)))


def allocated_minutes(defn: Definition) -> int | None:
    """Working minutes the steps allocate along the critical path (None if cyclic)."""
    cp = critical_path(defn)
    return cp.minutes if cp else None


def result_terminals(defn: Definition) -> list[Step]:
    """Terminal steps that return a result (not a refusal)."""
    return [s for s in defn.steps if s.terminal and s.ends != "refusal"]
