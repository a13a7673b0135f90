"""The layout of the Word files (audit 7d): spacing, column widths, rows kept whole, the national name on one
line, the end mark, the rules' gap and the diagrams' alternative text. Real dossiers through the real engine,
the .docx read back with python-docx."""

from __future__ import annotations

import datetime as dt
import io

import docx
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from engine.documents import (
    DIAGRAM_CAPTION_MM,
    END_MARK_MM,
    NATIONAL,
    RULE_GAP_PT,
    diagram_fit,
    fit_widths,
    render_decision,
    render_form,
    render_ledger,
    select_procedures,
    text_width_pt,
)
from tests.test_documents import cat, small_catalogue  # noqa: F401  (fixtures: the small catalogue)
from tests.test_forms import household  # noqa: F401  (fixture: a dossier run to its result)

TWIP = 635  # EMU


def _doc(data: bytes):
    return docx.Document(io.BytesIO(data))


def _all_tables(d):
    def walk(tables):
        for t in tables:
            yield t
            for row in t.rows:
                for c in row.cells:
                    yield from walk(c.tables)
    yield from walk(d.tables)


def _grid(t) -> list[int]:
    """The table's column widths (EMU) from its w:tblGrid."""
    return [int(g.get(qn("w:w"))) * TWIP for g in t._tbl.tblGrid.findall(qn("w:gridCol"))]


def _side_margin(t) -> int:
    """The table's left/right cell margin (EMU); Word's default 108 twips when it sets none."""
    mar = t._tbl.tblPr.find(qn("w:tblCellMar"))
    if mar is None:
        return 108 * TWIP
    left, right = mar.find(qn("w:left")), mar.find(qn("w:right"))
    return max(int(left.get(qn("w:w"))), int(right.get(qn("w:w")))) * TWIP


def _ruled(d):
    return [t for t in _all_tables(d) if t.style is not None and t.style.name == "Table Grid"]


def _longest_word_fits(t, size: float) -> list[str]:
    """Words of single-column cells wider than their column's text area (estimated Times New Roman widths)."""
    grid, margin = _grid(t), _side_margin(t)
    bad = []
    for tr in t._tbl.tr_lst:
        ci = 0
        for tc in tr.tc_lst:
            span = tc.grid_span
            if span == 1 and ci < len(grid):
                room = grid[ci] - 2 * margin
                for p in tc.iter(qn("w:p")):
                    for r in p.iter(qn("w:r")):
                        bold = r.find(f"{qn('w:rPr')}/{qn('w:b')}") is not None
                        text = "".join(x.text or "" for x in r.iter(qn("w:t")))
                        for w in text.split():
                            if Pt(text_width_pt(w, size, bold)) > room:
                                bad.append(w)
            ci += span
    return bad


def test_word_paragraphs_are_single_spaced_so_form_01_fits_its_a5_page(runtime, household):
    d = _doc(render_form(runtime.db, "01", household, fmt="docx"))
    fmt = d.styles["Normal"].paragraph_format
    assert fmt.line_spacing == 1.0  # not python-docx's template default of 1.15 lines
    assert abs(d.sections[0].page_width - Mm(148)) < Mm(0.1)


def test_narrow_columns_of_the_control_sheet_and_the_ledger_hold_their_longest_word(runtime, household):
    control = _doc(render_form(runtime.db, "06", household, fmt="docx"))
    [sheet] = _ruled(control)
    assert _side_margin(sheet) <= Mm(1.1)
    assert _longest_word_fits(sheet, 9) == []  # "TT", "Trước", "Đúng", "10" whole
    assert sum(_grid(sheet)) <= control.sections[0].page_width - control.sections[0].left_margin \
        - control.sections[0].right_margin + Mm(0.1)
    ledger = _doc(render_ledger(runtime.db, date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31),
                                fmt="docx"))
    [book] = _ruled(ledger)
    assert _longest_word_fits(book, 8) == []  # "10/03/2026", "(10)" whole
    assert "10/03/2026" in "".join(c.text for c in book.rows[-1].cells)


def test_fit_widths_widens_a_short_column_from_the_others_spare_width():
    w = fit_widths([10, 100, 100], [30, 50, 90])
    assert w[0] == 30 and w[1] >= 50 and w[2] >= 90 and sum(w) == 210
    assert fit_widths([10, 20], [25, 20]) == [10, 20]  # nothing to give: unchanged


def test_rows_are_never_split_across_pages_and_headers_repeat(runtime, household, cat):  # noqa: F811
    control = _doc(render_form(runtime.db, "06", household, fmt="docx"))
    decision = _doc(render_decision(cat, level="district"))
    tables = _ruled(control) + _ruled(decision)
    assert len(tables) >= 3
    for t in tables:
        for i, tr in enumerate(t._tbl.tr_lst):
            trpr = tr.trPr
            assert trpr is not None and trpr.find(qn("w:cantSplit")) is not None
        assert t._tbl.tr_lst[0].trPr.find(qn("w:tblHeader")) is not None


def test_the_national_name_has_room_for_one_line_in_every_header(runtime, household, cat):  # noqa: F811
    need = {}
    docs = [(_doc(render_form(runtime.db, code, household, fmt="docx")), 10) for code in ("01", "06")]
    docs.append((_doc(render_ledger(runtime.db, date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31),
                                    fmt="docx")), 11))
    docs.append((_doc(render_decision(cat, level="district")), 12))
    for d, size in docs:
        [header] = [t for t in d.tables if any(p.text == NATIONAL for c in t.rows[0].cells for p in c.paragraphs)]
        col = [i for i, c in enumerate(header.rows[0].cells) if any(p.text == NATIONAL for p in c.paragraphs)][0]
        room = _grid(header)[col] - 2 * _side_margin(header)
        need[size] = text_width_pt(NATIONAL, size, bold=True)
        assert Pt(need[size]) <= room, (size, room / 36000)
    # The estimate is not below what a browser measures for the line at 10 pt bold (73,1 mm).
    assert need[10] * 25.4 / 72 >= 73.1


def test_the_end_mark_keeps_to_the_last_diagrams_page(cat):  # noqa: F811
    paper, scale = diagram_fit(500, 900, reserve_mm=END_MARK_MM)
    assert 900 * 25.4 / 72 * scale <= paper.text_height - DIAGRAM_CAPTION_MM - END_MARK_MM + 0.01
    d = _doc(render_decision(cat, level="district"))
    last = d.sections[-1]
    shape = d.inline_shapes[-1]
    text_h = last.page_height - last.top_margin - last.bottom_margin
    assert shape.height <= text_h - Mm(DIAGRAM_CAPTION_MM + END_MARK_MM) + Mm(0.5)
    assert d.paragraphs[-1].text == "./."


def test_the_short_rules_sit_clear_of_the_line_above(cat, runtime, household):  # noqa: F811
    for data in (render_decision(cat, level="district"), render_form(runtime.db, "01", household, fmt="docx")):
        d = _doc(data)
        rules = [p for p in d.element.body.iter(qn("w:p")) if p.find(f"{qn('w:pPr')}/{qn('w:pBdr')}") is not None
                 and not "".join(t.text or "" for t in p.iter(qn("w:t")))]
        assert len(rules) >= 2
        for p in rules:
            before = p.find(f"{qn('w:pPr')}/{qn('w:spacing')}").get(qn("w:before"))
            assert int(before) == int(RULE_GAP_PT * 20) == 70


def test_the_annex_diagrams_carry_their_alternative_text(cat):  # noqa: F811
    d = _doc(render_decision(cat, level="district"))
    defs = select_procedures(cat, level="district")
    descr = [s._inline.docPr.get("descr") for s in d.inline_shapes]
    # 1.001612 is split over two pages (whole, its step names would print at 6,3 pt).
    assert descr == [f"Sơ đồ quy trình {defs[0].code} {defs[0].name}",
                     f"Sơ đồ quy trình {defs[1].code} {defs[1].name} (trang 1/2)",
                     f"Sơ đồ quy trình {defs[1].code} {defs[1].name} (tiếp theo, trang 2/2)"]



def test_the_left_header_of_form_04_keeps_each_line_whole(runtime):
    """Form 04 on A5: beside the national name no room is left for "ỦY BAN NHÂN DÂN HUYỆN GIA LÂM" whole at
    10 pt (LibreOffice wrapped it after "HUYỆN"): the parent body's name is cut after "ỦY BAN NHÂN DÂN", as
    official headers print it, and the issuing unit's name at a phrase break, each line with room for itself
    by the national name's measure."""
    from engine import services as sv
    from tests.test_forms import HOUSEHOLD, at, step

    rt = runtime
    r = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Hoàng Văn Em", now=at(10, 8))
    step(rt, r.dossier_id, "assign", "tckh_head", "done", at(10, 9))
    assert sv.sweep_timers(rt.db, now=at(12, 9)).apologies == 1
    d = _doc(render_form(rt.db, "04", r.dossier_code, fmt="docx"))
    header = d.tables[0]
    left, right = header.rows[0].cells
    for i, cell in ((0, left), (1, right)):
        room = _grid(header)[i] - 2 * _side_margin(header)
        for p in cell.paragraphs:
            for run in p.runs:
                need = text_width_pt(run.text, run.font.size.pt, bold=bool(run.bold))
                assert Pt(need) <= room, (run.text, need * 25.4 / 72, room / 36000)
    lines = [p.text for p in left.paragraphs if p.text]
    assert lines == ["ỦY BAN NHÂN DÂN", "HUYỆN GIA LÂM", "PHÒNG TÀI CHÍNH –", "KẾ HOẠCH", "Số: ……/PXL"]
    assert any(p.text == NATIONAL for p in right.paragraphs)


def test_every_a5_forms_left_header_keeps_each_line_whole(runtime, household):  # noqa: F811
    """Forms 01, 02 and the control sheet (A5) are headed as form 04 is: the parent body's name cut after
    "ỦY BAN NHÂN DÂN", the one-stop unit's name at a phrase break, each line with room for itself."""
    for number in ("01", "02", "06"):  # the 2025 set: 06 is the control sheet
        d = _doc(render_form(runtime.db, number, household, fmt="docx"))
        header = d.tables[0]
        left = header.rows[0].cells[0]
        room = _grid(header)[0] - 2 * _side_margin(header)
        for p in left.paragraphs:
            for run in p.runs:
                need = text_width_pt(run.text, run.font.size.pt, bold=bool(run.bold))
                assert Pt(need) <= room, (number, run.text, need * 25.4 / 72, room / 36000)
        lines = [p.text for p in left.paragraphs if p.text and not p.text.startswith("Số")]
        assert lines[:2] == ["ỦY BAN NHÂN DÂN", "HUYỆN GIA LÂM"], number
        assert " ".join(lines[2:]) == "BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ CẤP HUYỆN", number


def test_a_long_ruled_table_with_a_merged_header_is_written_in_linear_time(monkeypatch):
    """python-docx's Table.cell() walks the whole grid at every call: the ledger (a header of merged cells, then
    a row per dossier) called it for every body cell, so a day of 183 dossiers took 86 s and a month never
    finished. Only the rows a vertical merge spans are addressed through the grid now: the number of calls
    does not grow with the rows, and every row is written, in order, under the repeated header."""
    import docx.table

    from engine.documents import A4_LANDSCAPE, C, Doc, Table, to_docx

    calls = []
    cell = docx.table.Table.cell
    monkeypatch.setattr(docx.table.Table, "cell", lambda self, r, c: calls.append((r, c)) or cell(self, r, c))

    def written(n: int):
        calls.clear()
        header = [[C("STT", rowspan=2), C("Mã hồ sơ", rowspan=2), C("Tiếp nhận", colspan=2), C("Ghi chú", rowspan=2)],
                  [C("Ngày"), C("Người nhận")]]
        rows = [[C(str(i)), C(f"HS-{i:04d}"), C("02/11/2026"), C("Nguyễn Thị Hoa"), C("")] for i in range(1, n + 1)]
        d = _doc(to_docx(Doc("Sổ", A4_LANDSCAPE, [Table(header, rows, (1, 3, 2, 3, 2))])))
        return d.tables[0], len(calls)

    small, few = written(5)
    table, many = written(300)
    assert few == many <= 10  # the two header rows only
    body = table.rows[2:]
    assert len(body) == 300 and [r.cells[1].text for r in body] == [f"HS-{i:04d}" for i in range(1, 301)]
    assert table.rows[0].cells[2].text == "Tiếp nhận" and table.rows[1].cells[3].text == "Người nhận"
    assert table.rows[0].cells[0].text == "STT" and table.rows[1].cells[0].text == "STT"  # merged down
    head = [r._tr.trPr.find(qn("w:tblHeader")) is not None for r in table.rows[:3]]
    assert head == [True, True, False]
