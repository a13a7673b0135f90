"""Benchmark: drawing the whole catalogue (goal: seconds, not minutes).

The catalogue will hold ~91 definitions; the shipped ones are repeated up to
that count. Prints one line per way of drawing, e.g.
``render: 91 diagrams in 1.9 s (21 ms/diagram)``, with the peer for
comparison: one ``dot`` run for all graphs at once, which is faster but is
not used because graphviz then carries state from one graph to the next (the
bytes of a diagram would depend on its neighbours in the batch).

Then the draft approval decision of the district level as a Word file (every
procedure of the level without a decision, its annex table and diagram):
``decision docx, district: 81 procedures, cold 4.9 s (diagrams drawn by dot),
warm 0.7 s (diagrams in memory, as in the server); 16.2 MB``. Cold is what the
CLI pays (``quytrinh decision``), warm what a web request pays once the server
has drawn the diagrams.

Run: ``.venv/bin/python bench/render.py [--count 91] [--decision-only]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
# Run as a script, bench/ comes first on the path, where calendar.py would hide the standard library's.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import graphviz  # noqa: E402

from engine.definition import load_catalogue  # noqa: E402
from engine.render import build_digraph, render_many  # noqa: E402


def _line(label: str, count: int, seconds: float) -> str:
    return f"{label}: {count} diagrams in {seconds:.2f} s ({seconds / count * 1000:.0f} ms/diagram)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=91, help="diagrams to draw (default 91)")
    parser.add_argument("--decision-only", action="store_true", help="only the draft decision's Word file")
    args = parser.parse_args()

    catalogue = load_catalogue([ROOT / "procedures_yaml"])
    if not catalogue.definitions:
        sys.exit("bench/render.py: the catalogue has no definitions")
    if not args.decision_only:
        diagrams(catalogue, args.count)
    decision(catalogue)


def decision(catalogue) -> None:
    """The district decision's Word file, cold (no diagram in memory: every one drawn by dot) and warm."""
    import datetime as dt

    from engine.documents import render_decision, select_procedures
    from engine.render import clear_cache

    count = len(select_procedures(catalogue, level="district"))
    day = dt.date(2026, 1, 12)
    clear_cache()
    t = time.perf_counter()
    data = render_decision(catalogue, level="district", fmt="docx", date=day)
    cold = time.perf_counter() - t
    warm = []
    for _ in range(3):
        t = time.perf_counter()
        render_decision(catalogue, level="district", fmt="docx", date=day)
        warm.append(time.perf_counter() - t)
    print(f"decision docx, district: {count} procedures, cold {cold:.2f} s (diagrams drawn by dot), "
          f"warm {min(warm):.2f}-{max(warm):.2f} s (diagrams in memory, as in the server); "
          f"{len(data) / 1e6:.1f} MB")


def diagrams(catalogue, count: int) -> None:
    shipped = catalogue.definitions
    defns = (shipped * (count // len(shipped) + 1))[:count]
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
