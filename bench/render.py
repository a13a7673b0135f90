"""Benchmark: drawing the whole catalogue (goal: seconds, not minutes).

The catalogue will hold ~91 definitions; the shipped ones are repeated up to
that count. Prints one line per way of drawing, e.g.
``render: 91 diagrams in 1.9 s (21 ms/diagram)``, with the peer for
comparison: one ``dot`` run for all graphs at once, which is faster but is
not used because graphviz then carries state from one graph to the next (the
bytes of a diagram would depend on its neighbours in the batch).

Run: ``.venv/bin/python bench/render.py [--count 91]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphviz  # noqa: E402

from engine.definition import load_catalogue  # noqa: E402
from engine.render import build_digraph, render_many  # noqa: E402


def _line(label: str, count: int, seconds: float) -> str:
    return f"{label}: {count} diagrams in {seconds:.2f} s ({seconds / count * 1000:.0f} ms/diagram)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=91, help="diagrams to draw (default 91)")
    args = parser.parse_args()

    catalogue = load_catalogue([ROOT / "procedures_yaml"])
    if not catalogue.definitions:
        sys.exit("bench/render.py: the catalogue has no definitions")
    shipped = catalogue.definitions
    defns = (shipped * (args.count // len(shipped) + 1))[: args.count]
    units = catalogue.organisation
    cpus = os.cpu_count() or 1
    print(f"{len(shipped)} shipped definitions repeated to {len(defns)}; {cpus} CPUs; "
          f"graphviz {'.'.join(map(str, graphviz.version()))}")

    t = time.perf_counter()
    sources = [build_digraph(d, units).source for d in defns]
    print(_line("build DOT source only", len(defns), time.perf_counter() - t))

    for jobs in sorted({1, cpus}):
        t = time.perf_counter()
        first = render_many(defns, units, "svg", jobs=jobs)
        print(_line(f"render svg, one dot per diagram, {jobs} at a time", len(defns), time.perf_counter() - t))
    t = time.perf_counter()
    again = render_many(defns, units, "svg")
    elapsed = time.perf_counter() - t
    print(_line("render", len(defns), elapsed))
    print(f"deterministic: {'yes' if again == first else 'NO'} (two runs byte-identical)")

    t = time.perf_counter()
    graphviz.pipe("dot", "svg", "".join(sources).encode("utf-8"), quiet=True)
    print(_line("peer (not used): one dot run for all graphs", len(defns), time.perf_counter() - t))

    sample = defns[: min(len(defns), 10)]
    for fmt in ("png", "pdf"):
        t = time.perf_counter()
        render_many(sample, units, fmt)
        print(_line(f"render {fmt}", len(sample), time.perf_counter() - t))


if __name__ == "__main__":
    main()
