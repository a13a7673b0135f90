"""Benchmark: drawing the whole catalogue (goal: seconds, not minutes).

The catalogue will hold ~91 definitions; the shipped ones are repeated up to
that count. Prints one line per way of drawing, e.g.
``render: 91 diagrams in 1.9 s (21 ms/diagram)``, with the peer for
comparison: one ``dot`` run for all graphs at once, which is faster but is
not used because graphviz then carries state from one graph to the next (the
bytes of a diagram would depend on its neighbours in the batch).

Then the draft approval decision of the district level as a Word file and as
the HTML page (every procedure of the level without a decision, its annex table
and diagrams): cold with an empty on-disk cache of graphviz's output (every
diagram drawn by dot: the first run, or a catalogue changed everywhere), cold
with that cache filled (what a new ``quytrinh decision`` run or the web app after
a restart pays), warm (the diagrams in memory, what a web request pays once the
server has drawn them); each with its dot runs and the load average
(``decision docx, district: 81 procedures, cold 39.21 s (490 dot runs, load
2.4; on-disk cache empty), cold 2.77 s (0 dot runs, load 3.7; ...), warm
1.90-2.13 s (in memory, as in the server); 19.3 MB``).

Last, how large the annex prints the diagrams' step names (11 pt in the
drawing) on paper, for every procedure of the catalogue (both levels): drawn
whole on one A4 page, and as the decision lays them out (split over pages
when whole they would print under ``MIN_PRINTED_PT``); min / median / max and
the procedures under the threshold (``engine.documents.printed_diagrams``).

Run: ``.venv/bin/python bench/render.py [--count 91] [--decision-only] [--print-only]``
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
    parser.add_argument("--decision-only", action="store_true", help="only the draft decision (Word and HTML)")
    parser.add_argument("--print-only", action="store_true", help="only the printed size of the annex diagrams")
    args = parser.parse_args()

    catalogue = load_catalogue([ROOT / "procedures_yaml"])
    if not catalogue.definitions:
        sys.exit("bench/render.py: the catalogue has no definitions")
    if not args.decision_only and not args.print_only:
        diagrams(catalogue, args.count)
    if not args.print_only:
        decision(catalogue)
    printed(catalogue)


def printed(catalogue) -> None:
    """The size the annex prints each procedure's step names at (pt), whole on one page and as laid out."""
    import datetime as dt
    import statistics

    from engine.documents import (
        END_MARK_MM,
        MIN_PRINTED_PT,
        AnnexDiagrams,
        DecisionOptions,
        decision_doc,
        fitted_text_pt,
        printed_diagrams,
        select_procedures,
    )

    whole: list[tuple[float, str]] = []
    laid: list[tuple[float, str]] = []
    pages = split = 0
    for level in ("district", "commune"):
        defs = select_procedures(catalogue, level=level)
        pictures = AnnexDiagrams(defs, catalogue.organisation)
        pictures.prefetch("svg")
        for d in defs:
            reserve = END_MARK_MM if d is defs[-1] else 0
            whole.append((fitted_text_pt(*pictures.size(d), reserve_mm=reserve), d.key))
            split += len(pictures.pages(d)) > 1
        doc = decision_doc(catalogue, defs, DecisionOptions(level=level, date=dt.date(2026, 1, 12)), pictures)
        shown = printed_diagrams(doc)
        pages += len(shown)
        laid += [(p.text_pt, f"{level} {p.caption}") for p in shown]

    def line(label: str, sizes: list[tuple[float, str]]) -> str:
        pts = [pt for pt, _ in sizes]
        under = sorted((pt, name) for pt, name in sizes if pt < MIN_PRINTED_PT - 1e-9)
        names = ", ".join(f"{name} {pt:.1f}" for pt, name in under)
        return (f"{label}: min {min(pts):.1f} / median {statistics.median(pts):.1f} / max {max(pts):.1f} pt; "
                f"{len(under)} under {MIN_PRINTED_PT:g} pt" + (f" ({names})" if names else ""))

    print(line(f"annex step names, {len(whole)} procedures drawn whole on one A4 page", whole))
    print(line(f"annex step names as laid out: {pages} diagram pages ({split} procedures split)", laid))


def decision(catalogue) -> None:
    """The district decision's Word file and HTML page: cold with an empty on-disk cache (every diagram drawn
    by dot: the first run ever, or after the catalogue changed), cold with that cache filled (nothing in this
    process's memory: a new CLI run, the web app after a restart), then warm (in memory, as in the server).
    The on-disk cache is a temporary folder (the user's is left alone); dot runs are counted."""
    import datetime as dt
    import tempfile

    import engine.render as er
    from engine.documents import clear_plans, render_decision, select_procedures

    count = len(select_procedures(catalogue, level="district"))
    day = dt.date(2026, 1, 12)
    runs = [0]
    run_dot = er._run_dot

    def counted(source: str, fmt: str) -> bytes:
        runs[0] += 1
        return run_dot(source, fmt)

    er._run_dot = counted

    def same(a: bytes, b: bytes) -> bool:
        """The same document (a Word file's parts: its zip stamps each with the time it was written)."""
        import io
        import zipfile

        if a[:2] != b"PK":
            return a == b
        za, zb = zipfile.ZipFile(io.BytesIO(a)), zipfile.ZipFile(io.BytesIO(b))
        return za.namelist() == zb.namelist() and all(za.read(n) == zb.read(n) for n in za.namelist())

    def timed(fmt: str) -> tuple[bytes, float, int, str]:
        runs[0] = 0
        load = os.getloadavg()[0]
        t = time.perf_counter()
        data = render_decision(catalogue, level="district", fmt=fmt, date=day)
        return data, time.perf_counter() - t, runs[0], f"load {load:.1f}"

    def cold_and_warm(fmt: str) -> tuple[bytes, tuple, tuple, list[float]]:
        with tempfile.TemporaryDirectory(prefix="quytrinh-bench-diagrams-") as folder:
            before = os.environ.get(er.DISK_CACHE_ENV)
            os.environ[er.DISK_CACHE_ENV] = folder
            try:
                er.clear_cache()
                clear_plans()
                data, *empty = timed(fmt)
                er.clear_cache()
                clear_plans()
                again, *filled = timed(fmt)
                assert same(again, data), "the decision drawn from the on-disk cache differs"
                warm = [timed(fmt)[1] for _ in range(3)]
            finally:
                if before is None:
                    os.environ.pop(er.DISK_CACHE_ENV, None)
                else:
                    os.environ[er.DISK_CACHE_ENV] = before
        return data, tuple(empty), tuple(filled), warm

    data, empty, filled, warm = cold_and_warm("docx")
    print(f"decision docx, district: {count} procedures, cold {empty[0]:.2f} s ({empty[1]} dot runs, {empty[2]}; "
          f"on-disk cache empty), cold {filled[0]:.2f} s ({filled[1]} dot runs, {filled[2]}; on-disk cache filled: "
          f"a new CLI run, the web app restarted), warm {min(warm):.2f}-{max(warm):.2f} s (in memory, as in the "
          f"server); {len(data) / 1e6:.1f} MB")
    page, empty, filled, warm = cold_and_warm("html")
    print(f"decision html, district: cold {empty[0]:.2f} s ({empty[1]} dot runs, {empty[2]}), "
          f"cold {filled[0]:.2f} s with the on-disk cache ({filled[1]} dot runs, {filled[2]}), "
          f"warm {min(warm) * 1000:.0f}-{max(warm) * 1000:.0f} ms; {len(page) / 1e6:.1f} MB")
    er._run_dot = run_dot


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
