"""One amount, one unit: a step's time and a procedure's total are said the same way by the diagram (the
web header, a step's box, the annex caption's badge), the leader's step table and the decision's annex.

A procedure done within the day (a same-day limit) is said in hours and minutes everywhere ("2 giờ", not
"0,25 ngày làm việc" in the annex); a step the diagram says "2 giờ" is "2 giờ làm việc" in the tables,
not "0,25 ngày làm việc", and one it says "30 phút" is "30 phút", not "0,5 giờ làm việc"."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import docx
import pytest

from engine.definition import load_catalogue
from engine.documents import annex_rows, diagram_badge, render_decision, total_line, working_time_text
from engine.render import header_lines, render_svg, step_time_text, total_text
from tests.conftest import REPO

SAME_DAY = "1.001766"  # district, "trong ngày": 15 + 45 + 30 + 15 + 15 minutes on its main path
IN_DAYS = "1.001612"  # district, 3 working days: steps of 2 h, 4 h and 1 d


@pytest.fixture(scope="module")
def shipped():
    cat = load_catalogue([REPO / "procedures_yaml"])
    assert not cat.problems
    return cat


def _box_texts(svg: str, step_id: str) -> str:
    """The text of a step's box in a drawn diagram."""
    group = svg.split(f"<title>{step_id}</title>", 1)[1].split("</g>", 1)[0]
    return " ".join(re.findall(r">([^<>]+)</text>", group))


def _without_words(text: str) -> str:
    """``2 giờ làm việc`` -> ``2 giờ``; ``03 ngày làm việc`` -> ``3 ngày`` (the box's short form)."""
    text = text.removesuffix(" làm việc")
    number, _, unit = text.partition(" ")
    return f"{number.lstrip('0') or '0' if number.isdigit() else number} {unit}"


def test_a_same_day_procedure_is_said_in_hours_in_the_header_the_tables_and_the_annex(shipped):
    defn = shipped.find(SAME_DAY)
    assert defn.time_limit.unit == "same_day"
    assert header_lines(defn)[-1].startswith("Thời gian giải quyết: tổng 2 giờ / thời hạn trong ngày")
    # the annex's caption says the total as the step table's total row under it
    assert diagram_badge(defn).startswith("Thời gian giải quyết: tổng 2 giờ làm việc / thời hạn trong ngày")
    assert total_line(defn).startswith("Tổng thời gian giải quyết TTHC: 2 giờ làm việc / thời hạn theo quy định: "
                                       "trong ngày")
    times = [r.time for r in annex_rows(defn) if r.kind == "step"]
    assert times and not any("ngày" in t for t in times), times
    assert "30 phút" in times and not any("0,5 giờ" in t for t in times), times

    document = docx.Document(io.BytesIO(render_decision(shipped, level="district", codes=[SAME_DAY])))
    table = next(t for t in document.tables if t.rows[0].cells[0].text == "Bước")
    total = next(r.cells[0].text for r in table.rows if r.cells[0].text.startswith("Tổng thời gian"))
    assert total == total_line(defn)
    assert not any("ngày" in r.cells[3].text for r in table.rows[1:] if r.cells[0].text.startswith("Bước"))
    captions = [p.text for p in document.paragraphs if p.text.startswith("Sơ đồ Quy trình số 01")]
    assert captions and "tổng 2 giờ làm việc /" in captions[0]

    page = render_decision(shipped, level="district", codes=[SAME_DAY], fmt="html").decode("utf-8")
    assert "2 giờ làm việc / thời hạn theo quy định" in page and "0,25 ngày" not in page


def test_a_long_step_of_a_same_day_procedure_is_said_in_hours_not_in_days(shipped):
    defn = shipped.find(SAME_DAY)
    longer = replace(defn, steps=tuple(replace(s, duration=240) if s.id == defn.start.id else s
                                       for s in defn.steps))
    assert step_time_text(240, longer.time_limit) == "4 giờ"
    assert working_time_text(240, longer.time_limit) == "4 giờ làm việc"
    assert annex_rows(longer)[0].time == "4 giờ làm việc"
    assert "4 giờ" in _box_texts(render_svg(longer, shipped.organisation).decode(), defn.start.id)
    assert total_text(300, longer.time_limit) == "5 giờ"  # never "0,625 ngày"
    # against a limit in days, half a day is still said in days
    assert working_time_text(240, shipped.find(IN_DAYS).time_limit) == "0,5 ngày làm việc"


@pytest.mark.parametrize("code", [SAME_DAY, IN_DAYS])
def test_each_step_of_the_annex_says_the_time_its_box_in_the_diagram_says(shipped, code):
    defn = shipped.find(code)
    svg = render_svg(defn, shipped.organisation).decode("utf-8")
    rows = [r for r in annex_rows(defn) if r.kind == "step" and r.step is not None and not r.step.paused]
    assert rows
    for r in rows:
        said = r.time.split(" (", 1)[0]  # "… (đồng thời với Bước 4)"
        assert _without_words(said) in _box_texts(svg, r.step.id), (r.step.id, said)
    if code == IN_DAYS:  # its 2-hour steps: "2 giờ" in the box, and so in the table
        assert "2 giờ làm việc" in [r.time for r in rows] and not any("0,25" in r.time for r in rows)


def test_every_shipped_step_is_said_in_the_same_unit_by_the_table_and_the_diagram(shipped):
    for defn in shipped.definitions:
        for step in defn.steps:
            if step.paused:
                continue
            box = step_time_text(step.duration, defn.time_limit)
            assert _without_words(working_time_text(step.duration, defn.time_limit)) == box, (defn.key, step.id)

