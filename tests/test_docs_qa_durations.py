"""Documents and diagrams QA: how working durations, the annex's totals, a procedure without a national
code and the annex diagram of 1.001699 read (engine only, real graphviz, no database)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from engine.definition import format_minutes, load_catalogue
from engine.documents import (
    MIN_PRINTED_PT,
    AnnexDiagrams,
    annex_table,
    diagram_badge,
    fitted_text_pt,
    limit_text,
    render_decision,
    total_line,
    working_time_text,
)
from engine.render import header_lines, render, render_svg

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def shipped():
    cat = load_catalogue([ROOT / "procedures_yaml"])
    assert not cat.problems, "\n".join(map(str, cat.problems))
    return cat


def _box_lines(svg: bytes, step_id: str) -> list[str]:
    """The text lines of a step's box, top to bottom."""
    root = ET.fromstring(svg)
    for g in root.iter(f"{SVG}g"):
        if g.get("id") == f"step-{step_id}":
            return ["".join(t.itertext()) for t in g.iter(f"{SVG}text")]
    raise AssertionError(f"no box for step {step_id}")


def _with_duration(defn, step_id: str, minutes: int):
    return replace(defn, steps=tuple(replace(s, duration=minutes) if s.id == step_id else s for s in defn.steps))


# --------------------------------------------------------------------------- durations in minutes


@pytest.mark.parametrize("minutes, said", [
    (15, "15 phút"), (45, "45 phút"), (60, "1 giờ"), (90, "1,5 giờ"), (105, "1 giờ 45 phút"),
    (125, "2 giờ 5 phút"), (240, "0,5 ngày"), (480, "1 ngày"), (590, "9 giờ 50 phút"), (600, "10 giờ"),
])
def test_a_duration_reads_in_hours_and_minutes_never_in_a_heap_of_minutes(minutes, said):
    assert format_minutes(minutes) == said


def test_the_step_table_says_hours_and_minutes_of_working_time():
    assert working_time_text(105) == "1 giờ 45 phút làm việc"  # was "105 phút"
    assert working_time_text(45) == "45 phút"
    assert working_time_text(60) == "1 giờ làm việc"


def test_a_105_minute_step_reads_the_same_in_its_box_and_in_the_annex_table(shipped):
    defn = _with_duration(shipped.find("1.001193"), "verify", 105)
    lines = _box_lines(render_svg(defn, shipped.organisation), "verify")
    assert any(line.endswith("· 1 giờ 45 phút") for line in lines), lines
    assert not any("105 phút" in line for line in lines), lines
    table = annex_table(defn, shipped.organisation.units)
    cells = ["\n".join("".join(r.text for r in p.runs) for p in c.paras) for row in table.rows for c in row]
    assert any("1 giờ 45 phút làm việc" in c for c in cells), cells


# --------------------------------------------------------------------------- the annex says one total one way


def test_the_annex_caption_writes_the_total_as_its_table_does(shipped):
    three = [d for d in shipped.definitions if d.time_limit.unit == "working_days" and d.time_limit.value == 3
             and d.level == "district"]
    assert three, "no 3-day district procedure in the catalogue"
    defn = three[0]
    badge = diagram_badge(defn)
    assert "thời hạn 03 ngày làm việc" in badge and "thời hạn 3 ngày" not in badge, badge
    said = total_line(defn).split(": ", 1)[1].split(" / ")[0]  # the table's total row
    assert f"tổng {said} /" in badge, (badge, said)
    assert limit_text(defn.time_limit) == "03 ngày làm việc"
    page = re.sub(r"<[^>]+>", " ", render_decision(shipped, codes=[defn.code], fmt="html").decode())
    page = re.sub(r"\s+", " ", page)
    caption = re.search(r"Sơ đồ Quy trình số 01[^.]*?thời hạn [^)]*?làm việc", page)
    assert caption and "thời hạn 03 ngày làm việc" in caption.group(0), caption and caption.group(0)
    assert " 3 ngày làm việc" not in page


# --------------------------------------------------------------------------- a procedure without a code


def test_a_procedure_without_a_code_is_headed_by_its_name_not_its_file(shipped):
    [defn] = [d for d in shipped.definitions if d.source.endswith("cap-gcn-co-so-du-dieu-kien-an-toan-thuc-pham.yaml")]
    assert not defn.code
    stem = Path(defn.source).stem
    title, meta, _ = header_lines(defn)
    assert title == defn.name and stem not in title
    assert "Chưa có mã thủ tục" in meta
    for svg in (render_svg(defn, shipped.organisation),
                render(defn, shipped.organisation, "svg", direction="TB", header=False)):
        assert stem.encode() not in svg  # nor the graph's <title>, a browser's tooltip


def test_a_procedure_with_a_code_keeps_its_code_in_the_header(shipped):
    defn = shipped.find("1.001193")
    title, meta, _ = header_lines(defn)
    assert title == f"1.001193 – {defn.name}" and "Chưa có mã" not in meta


# --------------------------------------------------------------------------- 1.001699's annex diagram


def test_a_long_role_wraps_in_its_box(shipped):
    defn = shipped.find("1.001699")
    lines = _box_lines(render_svg(defn, shipped.organisation), "council")
    assert max(len(line) for line in lines) <= 56, lines
    assert any(line.endswith("17,5 ngày") for line in lines), lines


def test_the_disability_procedure_prints_on_three_pages_at_a_legible_size(shipped):
    defn = shipped.find("1.001699")
    pictures = AnnexDiagrams([defn], shipped.organisation)
    pages = pictures.pages(defn)
    assert len(pages) <= 3, len(pages)  # 5 when a role's line was never wrapped
    for j, part in enumerate(pages):
        reserve = 10 if j == len(pages) - 1 else 0
        assert fitted_text_pt(*pictures.size(defn, part), reserve_mm=reserve) >= MIN_PRINTED_PT - 1e-9


def test_a_codeless_procedures_annex_diagram_is_described_by_its_name(shipped):
    import io

    import docx

    [defn] = [d for d in shipped.definitions if d.source.endswith("cap-gcn-co-so-du-dieu-kien-an-toan-thuc-pham.yaml")]
    document = docx.Document(io.BytesIO(render_decision(shipped, codes=[defn.key])))
    descr = [s._inline.docPr.get("descr") for s in document.inline_shapes]
    assert descr and all(d.startswith(f"Sơ đồ quy trình {defn.name}") for d in descr), descr  # not "quy trình  Cấp…"
    coded = shipped.find("1.001266")
    document = docx.Document(io.BytesIO(render_decision(shipped, codes=["1.001266"])))
    assert [s._inline.docPr.get("descr") for s in document.inline_shapes][0].startswith(
        f"Sơ đồ quy trình 1.001266 {coded.name}")
