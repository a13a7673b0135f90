"""Every shipped procedure's diagram is legible on the printed draft decision.

Each diagram of the annex gets an A4 page of its own, portrait or landscape, scaled to fit; a diagram that
would print its step names under ``MIN_PRINTED_PT`` is split over several pages (engine.documents
.diagram_pages). Measured on the layout the decision really gets (its blocks: paper, caption, picture width),
then on the Word file and the HTML page of the largest procedure, and every split is checked to lose no
step, route or lane (the whole diagram against its pages, as a reader compares them)."""

from __future__ import annotations

import datetime as dt
import io
import re
import statistics
from pathlib import Path

import docx
import pytest

from engine.definition import load_catalogue
from engine.documents import (
    MIN_PRINTED_PT,
    STEP_TEXT_PT,
    AnnexDiagrams,
    DecisionOptions,
    decision_doc,
    fitted_text_pt,
    png_size,
    printed_diagrams,
    render_decision,
    select_procedures,
)
from tests.test_render import assert_pages_hold_everything

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 1, 12)


@pytest.fixture(scope="module")
def shipped():
    cat = load_catalogue([ROOT / "procedures_yaml"])
    assert not cat.problems
    return cat


@pytest.fixture(scope="module")
def annexes(shipped):
    """Per level: the definitions, their diagrams (drawn once) and the decision's layout."""
    out = {}
    for level in ("district", "commune"):
        defs = select_procedures(shipped, level=level)
        pictures = AnnexDiagrams(defs, shipped.organisation)
        pictures.prefetch("svg")
        out[level] = (defs, pictures, decision_doc(shipped, defs, DecisionOptions(level=level, date=DAY), pictures))
    return out


def test_every_shipped_procedure_prints_its_step_names_at_the_threshold_or_more(shipped, annexes):
    printed = [p for _, _, doc in annexes.values() for p in printed_diagrams(doc)]
    assert {d.key for defs, _, _ in annexes.values() for d in defs} == {d.key for d in shipped.definitions}
    sizes = [p.text_pt for p in printed]
    small = [(p.caption, round(p.text_pt, 2)) for p in printed if p.text_pt < MIN_PRINTED_PT - 1e-9]
    assert not small, f"under {MIN_PRINTED_PT} pt: {small}"
    assert all(p.fits for p in printed), [p.caption for p in printed if not p.fits]
    # Each first page's caption says the total against the legal limit on its line (engine.documents
    # .diagram_badge): every one fits there, none needs a line of its own; the continuation pages do not
    # say it (a same-day limit's badge itself says "… ngày làm việc tiếp theo").
    firsts = [p for p in printed if "(tiếp theo, trang " not in p.caption]
    assert len(firsts) == sum(len(defs) for defs, _, _ in annexes.values())
    assert all(" — Thời gian giải quyết: tổng " in p.caption and " / thời hạn " in p.caption for p in firsts)
    assert not any("Thời gian giải quyết" in p.caption for p in printed if "(tiếp theo, trang " in p.caption)
    assert min(sizes) >= MIN_PRINTED_PT and statistics.median(sizes) > MIN_PRINTED_PT
    # Never enlarged past DIAGRAM_MAX_SCALE (a page holding little is not printed in poster type).
    assert max(sizes) <= STEP_TEXT_PT * 1.5 + 1e-6


def test_only_the_diagrams_too_small_on_one_page_are_split(annexes):
    split = 0
    for defs, pictures, doc in annexes.values():
        for d in defs:
            last = d is defs[-1]
            whole = fitted_text_pt(*pictures.size(d), reserve_mm=10 if last else 0)
            pages = pictures.pages(d)
            assert (pages == [None]) == (whole >= MIN_PRINTED_PT - 1e-9), (d.key, whole, len(pages))
            split += len(pages) > 1
        assert len(printed_diagrams(doc)) == sum(len(pictures.pages(d)) for d in defs)
    assert split  # the catalogue has procedures too large for one page (the land procedures: 3,7 pt whole)


def test_a_split_diagram_loses_no_step_route_lane_or_duration(annexes):
    for defs, pictures, _ in annexes.values():
        for d in defs:
            parts = pictures.pages(d)
            if parts == [None]:
                continue
            assert_pages_hold_everything(d, pictures.get(d, "svg"), [pictures.get(d, "svg", p) for p in parts],
                                         parts)


def test_the_largest_procedure_prints_legibly_in_word_and_in_html(shipped, annexes):
    defs, pictures, _ = annexes["district"]
    largest = max(defs, key=lambda d: (len(d.steps), d.key))
    n = len(pictures.pages(largest))
    assert n > 1
    data = render_decision(shipped, codes=[largest.code], date=DAY)
    d = docx.Document(io.BytesIO(data))
    pngs = {p.partname: p.blob for p in d.part.package.parts if p.partname.startswith("/word/media/")}
    assert len(d.inline_shapes) == n
    for shape in d.inline_shapes:
        blob = d.part.related_parts[shape._inline.graphic.graphicData.pic.blipFill.blip.embed].blob
        assert blob in pngs.values()
        natural_mm = png_size(blob)[0] * 0.75 * 25.4 / 72
        assert STEP_TEXT_PT * shape.width.mm / natural_mm >= MIN_PRINTED_PT - 0.01
    page = render_decision(shipped, codes=[largest.code], date=DAY, fmt="html").decode()
    figures = re.findall(r'<figure class="diagram" style="width:([\d.]+)mm"[^>]*><svg width="([\d.]+)pt"', page)
    assert len(figures) == n
    for width_mm, natural_pt in figures:
        assert STEP_TEXT_PT * float(width_mm) / (float(natural_pt) * 25.4 / 72) >= MIN_PRINTED_PT - 0.05
    assert f"(tiếp theo, trang {n}/{n})" in page


def test_the_pages_of_a_diagram_are_remembered_by_content(shipped, dot_calls):
    from dataclasses import replace

    from engine.documents import clear_plans

    d = shipped.find("1.001612")  # split in two
    clear_plans()
    first = AnnexDiagrams([d], shipped.organisation).pages(d)
    tried = len(dot_calls)
    assert len(first) == 2 and tried >= 3  # drawn whole, then its two pages
    again = AnnexDiagrams([d], shipped.organisation)
    assert again.pages(d) == first and len(dot_calls) == tried  # remembered: nothing drawn to decide
    # Another content (a step renamed, longer), another plan: tried out again.
    step = d.steps[1]
    longer = replace(d, steps=tuple(replace(s, name=s.name + " và lập biên bản kiểm tra") if s is step else s
                                     for s in d.steps))
    AnnexDiagrams([longer], shipped.organisation).pages(longer)
    assert len(dot_calls) > tried
    # The connector of a parallel arm names it as the step table does.
    land = shipped.find("1.013949")
    parts = AnnexDiagrams([land], shipped.organisation).pages(land)
    texts = {text for part in parts for _, text in part.elsewhere}
    assert any(t.startswith("Song song với Bước ") for t in texts) and any(t.startswith("Bước ") for t in texts)


def _eager_pages(defn, size_of, reserve_mm: float):
    """The pages :func:`engine.documents.diagram_pages` documents, every page of every candidate measured
    (as it did before it stopped at a candidate's first page that does not fit): the oracle of the search."""
    from engine.documents import _blocks, _chunks, _halves, annex_plan
    from engine.render import DiagramPart

    def fits(size, last):
        return fitted_text_pt(*size, reserve_mm=reserve_mm if last else 0) >= MIN_PRINTED_PT - 1e-9

    if fits(size_of([None])[0], True) or len(defn.steps) < 2:
        return [None]
    blocks, plan = _blocks(defn), annex_plan(defn)
    numbers = {st.id: f"Bước {i}" for i, st in enumerate(plan.main, 1)}
    numbers.update((o.id, "Song song với Bước " + ", ".join(map(str, a))) for arms in plan.parallel.values()
                   for o, a in arms)

    def parts_of(groups):
        page_of = {sid: j for j, g in enumerate(groups, 1) for sid in g}
        return [DiagramPart(g, tuple((st.id, " · ".join(x for x in (numbers.get(st.id),
                                                                    f"trang {page_of[st.id]}/{len(groups)}") if x))
                                     for st in defn.steps if page_of[st.id] != j)) for j, g in enumerate(groups, 1)]

    def check(groups):
        return [fits(s, j == len(groups)) for j, s in enumerate(size_of(parts_of(groups)), 1)]

    k = 2
    groups = [tuple(g) for g in _chunks(blocks, k)]
    while not all(ok := check(groups)):
        if k < len(blocks):
            k += 1
            groups = [tuple(g) for g in _chunks(blocks, k)]
            continue
        again = [h for g, good in zip(groups, ok) for h in ([g] if good or len(g) < 2 else _halves(g))]
        if len(again) == len(groups):
            return parts_of(groups)
        groups = again
    j = 0
    while j + 1 < len(groups) and len(groups) > 2:
        merged = groups[:j] + [groups[j] + groups[j + 1]] + groups[j + 2:]
        if all(check(merged)):
            groups = merged
        else:
            j += 1
    return parts_of(groups)


def test_the_page_search_finds_what_measuring_every_candidate_finds_with_fewer_drawings(annexes):
    from engine.documents import END_MARK_MM, _svg_size, diagram_pages

    lazy = eager = 0
    for defs, pictures, _ in annexes.values():
        for d in defs:
            if pictures.pages(d) == [None]:
                continue
            reserve = END_MARK_MM if d is defs[-1] else 0
            asked = {"lazy": 0, "eager": 0}

            def size_of(parts, how):
                asked[how] += len(parts)
                return [_svg_size(pictures.get(d, "svg", p)) for p in parts]  # drawn by dot, or kept

            found = diagram_pages(d, lambda parts: size_of(parts, "lazy"), reserve)
            assert found == pictures.pages(d) == _eager_pages(d, lambda parts: size_of(parts, "eager"), reserve)
            assert asked["lazy"] <= asked["eager"], d.key
            lazy, eager = lazy + asked["lazy"], eager + asked["eager"]
    # The split diagrams of the shipped catalogue (both levels, their wholes included): 362 pages measured
    # instead of 477.
    assert lazy < eager * 0.85, (lazy, eager)
