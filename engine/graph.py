"""A definition as a networkx graph, and the working-time arithmetic over it.

Shared by the linter (structure and time rules), the renderer (the
"tổng X / thời hạn Y" header) and the documents (the annex table total).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.definition import Definition, Step

if TYPE_CHECKING:  # networkx (~0.1 s) is imported by the functions that build a graph, not with this module
    import networkx as nx


def step_graph(defn: Definition) -> nx.DiGraph:
    """Steps as nodes, routes as edges (one edge per route target).

    Edge attributes: ``outcome``, ``max`` (rework bound or None), ``parallel``.
    Routes to unknown steps are left out (the linter reports them).
    """
    import networkx as nx

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

    Every loop that remains runs with the clock on and without bound, so it
    must be acyclic for a definition to be valid (rule ``unbounded-cycle``).
    For durations use :func:`forward_graph`, which keeps the steps after a
    citizen step.
    """
    g = (g or step_graph(defn)).copy()
    g.remove_edges_from([(u, v) for u, v, d in g.edges(data=True) if d.get("max") is not None])
    g.remove_nodes_from([n for n, d in g.nodes(data=True) if d["step"].paused])
    return g


def forward_graph(defn: Definition, g: nx.DiGraph | None = None) -> nx.DiGraph:
    """The step graph without its loops back.

    Removed: bounded rework routes (those with ``max``), and the routes of
    citizen steps back into the loop that reached them (the supplementation
    loop). A citizen step that does not loop back (paying a fee mid-process)
    keeps its onward route, so the steps after it still count. Acyclic for a
    valid definition.
    """
    import networkx as nx

    g = (g or step_graph(defn)).copy()
    g.remove_edges_from([(u, v) for u, v, d in g.edges(data=True) if d.get("max") is not None])
    back = [(u, v) for u, v in g.edges if g.nodes[u]["step"].paused and nx.has_path(g, v, u)]
    g.remove_edges_from(back)
    return g


def step_minutes(step: Step) -> int:
    """Working minutes a step takes on the clock (citizen steps: 0, the clock is paused)."""
    return 0 if step.paused else (step.duration or 0)


@dataclass(frozen=True)
class CriticalPath:
    """The longest working-time path of a definition."""

    minutes: int
    steps: tuple[str, ...]


def critical_path(defn: Definition, g: nx.DiGraph | None = None) -> CriticalPath | None:
    """The longest working-time path from the start, read on :func:`forward_graph`.

    Citizen steps count 0 (the clock is paused); alternatives (ok / refuse)
    and parallel branches both count by their longest; a step without a
    duration counts 0. Returns None when the forward graph still has a cycle
    (the definition is invalid) or there are no steps. Ties go to the step
    that comes first in the table, so the result is deterministic.
    """
    if not defn.steps:
        return None
    import networkx as nx

    fwd = forward_graph(defn, g)
    if not nx.is_directed_acyclic_graph(fwd):
        return None
    index = {s.id: i for i, s in enumerate(defn.steps)}
    start = defn.start.id
    reach = nx.descendants(fwd, start) | {start}
    best: dict[str, tuple[int, str | None]] = {}
    for n in nx.topological_sort(fwd.subgraph(reach)):
        own = step_minutes(fwd.nodes[n]["step"])
        preds = [(best[p][0], -index[p], p) for p in fwd.predecessors(n) if p in best]
        if n == start or not preds:
            best[n] = (own, None)
        else:
            total, _, prev = max(preds)
            best[n] = (total + own, prev)
    end = max(best, key=lambda n: (best[n][0], -index[n]))
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
