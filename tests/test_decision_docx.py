"""The Word writer against its former self: the same document, written without python-docx's slow paths.

The draft decision's Word file (81 annex tables, 607 merged rows, 81 diagrams) took 5 s in the server and
11 s from the CLI. The writer now puts merged cells, paragraphs and pictures into the XML directly; the
oracle here is the former code, kept verbatim (python-docx's ``_Cell.merge`` reached through
``Table.cell()``, its paragraph and run setters, ``Run.add_picture`` and ``Document.save``): a document
written both ways must have the same parts, byte for byte (only the zip's way of storing images differs).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import docx
import pytest
from docx.oxml.ns import qn

from engine import documents as D
from engine.documents import A4, A4_LANDSCAPE, C, Columns, Doc, P, Para, Picture, Run, Section, Table, to_docx
from tests.test_documents import diagram_pages
from tests.conftest import REPO

# --------------------------------------------------------------------------- the oracle: the former writer


def _old_fill_para(para, p: Para, doc: Doc, size=None) -> None:
    from docx.shared import Cm, Pt

    para.alignment = D._docx_align(p.align)
    fmt = para.paragraph_format
    fmt.space_after = Pt(p.space_after)
    fmt.space_before = Pt(0)
    if p.indent:
        fmt.first_line_indent = Cm(1.27)
    for r in p.runs:
        run = para.add_run(r.text)
        run.bold = r.bold or None
        run.italic = r.italic or None
        sz = r.size or p.size
        if sz:
            run.font.size = Pt(sz)


def _old_row_cells(table, row):
    from docx.table import _Cell

    return [_Cell(tc, table) for tc in row._tr.tc_lst]


def _old_fill_grid(table, b: Table, doc: Doc, col_w, table_align) -> None:
    from docx.oxml import OxmlElement
    from docx.shared import Pt

    all_rows = [(True, r) for r in b.header] + [(False, r) for r in b.rows]
    occupied: set[tuple[int, int]] = set()
    rows = list(table.rows)
    grid_rows = {ri + k for ri, (_, cells) in enumerate(all_rows) for c in cells if c.rowspan > 1
                 for k in range(c.rowspan)}
    for ri, (is_head, cells) in enumerate(all_rows):
        plain = None if ri in grid_rows else _old_row_cells(table, rows[ri])
        ci = 0
        for c in cells:
            while (ri, ci) in occupied:
                ci += 1
            if ci >= len(col_w):
                break
            target = plain[ci] if plain is not None else table.cell(ri, ci)
            if c.colspan > 1 or c.rowspan > 1:
                other = plain[ci + c.colspan - 1] if plain is not None else \
                    table.cell(ri + c.rowspan - 1, ci + c.colspan - 1)
                target = target.merge(other)
            for dr in range(c.rowspan):
                for dc in range(c.colspan):
                    occupied.add((ri + dr, ci + dc))
            for k, p in enumerate(c.paras):
                para = target.paragraphs[0] if k == 0 else target.add_paragraph()
                if k == 0:
                    for extra in target.paragraphs[1:]:
                        if not extra.text:
                            extra._p.getparent().remove(extra._p)
                if is_head:
                    p = Para([Run(r.text, True, r.italic, r.size) for r in p.runs], "center", space_after=0)
                _old_fill_para(para, p, doc)
                if b.size:
                    for run in para.runs:
                        if run.font.size is None:
                            run.font.size = Pt(b.size)
            ci += c.colspan
        trpr = rows[ri]._tr.get_or_add_trPr()
        trpr.append(OxmlElement("w:cantSplit"))
        if is_head:
            el = OxmlElement("w:tblHeader")
            el.set(qn("w:val"), "true")
            trpr.append(el)


def _old_add_picture(para, data: bytes, width: int, alt: str = "") -> None:
    from docx.shared import Emu

    shape = para.add_run().add_picture(io.BytesIO(data), width=Emu(width))
    if alt:
        shape._inline.docPr.set("descr", alt)


def _old_cell_widths(table, col_w) -> None:
    from docx.shared import Emu

    for row in table.rows:
        for i, cell in enumerate(_old_row_cells(table, row)):
            cell.width = Emu(col_w[i])


def _old_table_style(table, name: str) -> None:
    table.style = name


def _old_save(d) -> bytes:
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


@pytest.fixture
def old_writer(monkeypatch):
    """``old_writer(build)``: what ``build()`` returns with the former Word writer in place."""

    def run(build):
        with monkeypatch.context() as m:
            for name, fn in (("_fill_para", _old_fill_para), ("_fill_grid", _old_fill_grid),
                             ("_add_picture", _old_add_picture), ("_cell_widths", _old_cell_widths),
                             ("_table_style", _old_table_style), ("_save", _old_save)):
                m.setattr(D, name, fn)
            return build()

    return run


def parts(data: bytes) -> list[tuple[str, bytes]]:
    """The members of a Word file, in order, with their contents."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


# --------------------------------------------------------------------------- a representative document


def png(width: int, height: int, shade: int) -> bytes:
    """A small grey PNG (96 dpi, as graphviz writes them)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"pHYs", struct.pack(">IIB", 3780, 3780, 1)) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def sample_doc(rows: int = 12, pictures: int = 3) -> Doc:
    """Paragraphs of every kind, a ledger-like table (two header rows of vertical and horizontal spans), an
    annex-like one (rows spanning all columns, multi-line cells, a size), a header of two columns, and
    pictures on pages of their own, one image twice."""
    header = [[C("STT", rowspan=2), C("Mã hồ sơ", rowspan=2), C("Tiếp nhận", colspan=2), C("Ghi chú", rowspan=2)],
              [C("Ngày"), C("Người nhận")]]
    body = [[C(str(i)), C(f"HS-{i:04d}"), C("02/11/2026"), C("Nguyễn Thị Hoa\nPhòng TN&MT"), C("")]
            for i in range(1, rows + 1)]
    for k in range(rows // 10, 0, -1):  # a row across the table every ten
        body.insert(10 * k, [C(f"Tổng: {10 * k} hồ sơ", italic=True, colspan=5)])
    body.insert(3, [C("Tổng: 3 hồ sơ", bold=True, colspan=5)])
    body.insert(5, [C("Hai ô", rowspan=2), C("gộp ngang và dọc", colspan=2, rowspan=2), C("x"), C("y")])
    body.insert(6, [C("z"), C("w")])
    annex = [[C("Song song", align="center"), C("Thẩm định\thồ sơ"), C(" Phòng Tư pháp "), C("01 ngày", align="center"),
              C("Mẫu 02\nMẫu 03")],
             [C("Đối với trường hợp phải làm lại", bold=True, italic=True, colspan=5)],
             [C("Tại Bước 6, nếu “Làm lại”: trở lại Bước 3", colspan=5)]]
    blocks = [
        Columns([[P("ỦY BAN NHÂN DÂN", bold=True, align="center", size=13, space_after=0), P("Số: 01/QĐ-UBND")],
                 [P("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, align="center", nowrap=True)]]),
        P("QUYẾT ĐỊNH", bold=True, align="center", space_after=0),
        Para([Run("Điều 1. ", bold=True), Run("Phê duyệt kèm theo "), Run("(in nghiêng)", italic=True, size=11)],
             indent=True),
        P("Căn cứ  hai dấu cách,\nmột dòng mới\tvà một tab ", italic=True, indent=True, align="right"),
        P(""),
        Table(header, body, (1, 3, 2, 3, 2)),
        Table([[C(h, bold=True, align="center") for h in ("Bước", "Nội dung", "Trách nhiệm", "Thời gian", "Kết quả")]],
              annex, (1.3, 5, 3.6, 2.2, 2.6), size=12),
    ]
    images = [png(40 + 10 * (i % 3), 30, 40 * (i % 3)) for i in range(pictures)]
    for i, data in enumerate(images + images[:1]):
        blocks += [Section(A4_LANDSCAPE if i % 2 else A4), P(f"Sơ đồ {i}", italic=True, align="center"),
                   Picture(svg=lambda: b"", png=lambda d=data: d, alt=f"Sơ đồ quy trình {i}", width=60 + i)]
    return Doc("Dự thảo", A4, blocks, draft=True, page_numbers=True)


def test_a_document_of_every_kind_of_block_is_written_as_the_former_writer_wrote_it(old_writer):
    new = to_docx(sample_doc())
    old = old_writer(lambda: to_docx(sample_doc()))
    assert [name for name, _ in parts(new)] == [name for name, _ in parts(old)]
    for (name, a), (_, b) in zip(parts(new), parts(old)):
        assert a == b, name
    # What that means, read back: the spans as Word keeps them, the texts, the shared image.
    d = docx.Document(io.BytesIO(new))
    ledger = d.tables[1]._tbl

    def spans(tr):
        return [(tc.grid_span, tc.vMerge, "".join(t.text for t in tc.iter(qn("w:t")))) for tc in tr.tc_lst]

    assert spans(ledger.tr_lst[0]) == [(1, "restart", "STT"), (1, "restart", "Mã hồ sơ"), (2, None, "Tiếp nhận"),
                                      (1, "restart", "Ghi chú")]
    assert spans(ledger.tr_lst[1]) == [(1, "continue", ""), (1, "continue", ""), (1, None, "Ngày"),
                                      (1, None, "Người nhận"), (1, "continue", "")]
    assert spans(ledger.tr_lst[5]) == [(5, None, "Tổng: 3 hồ sơ")]
    assert spans(ledger.tr_lst[7]) == [(1, "restart", "Hai ô"), (2, "restart", "gộp ngang và dọc"), (1, None, "x"),
                                      (1, None, "y")]
    assert spans(ledger.tr_lst[8]) == [(1, "continue", ""), (2, "continue", ""), (1, None, "z"), (1, None, "w")]
    pics = d.inline_shapes
    assert len(pics) == 4 and len({p._inline.graphic.graphicData.pic.blipFill.blip.embed for p in pics}) == 3
    assert [p._inline.docPr.get("descr") for p in pics] == [f"Sơ đồ quy trình {i}" for i in range(4)]
    assert len({p._inline.docPr.id for p in pics}) == 4


def test_images_are_stored_in_the_zip_as_they_are_and_the_xml_deflated():
    with zipfile.ZipFile(io.BytesIO(to_docx(sample_doc()))) as z:
        kinds = {i.filename: i.compress_type for i in z.infolist()}
    assert {n for n, k in kinds.items() if k == zipfile.ZIP_STORED} == \
        {n for n in kinds if n.endswith((".png", ".jpeg"))} and len(kinds) > 3
    assert kinds["word/document.xml"] == zipfile.ZIP_DEFLATED


def test_the_draft_decision_is_written_as_the_former_writer_wrote_it(old_writer):
    """Six district procedures, those with the most rows spanning the annex table (cases, loops, totals),
    each with its diagram."""
    import datetime as dt

    from engine.definition import load_catalogue
    from engine.documents import annex_table, render_decision, select_procedures

    cat = load_catalogue([REPO / "procedures_yaml"])
    defs = select_procedures(cat, level="district")
    units = dict(cat.organisation.units)
    spanning = sorted(defs, key=lambda d: -sum(r[0].colspan > 1 for r in annex_table(d, units).rows))
    codes = [d.code for d in spanning[:6]]

    def build():
        return render_decision(cat, level="district", codes=codes, date=dt.date(2026, 1, 12))

    new = build()
    old = old_writer(build)
    assert [name for name, _ in parts(new)] == [name for name, _ in parts(old)]
    for (name, a), (_, b) in zip(parts(new), parts(old)):
        assert a == b, name
    d = docx.Document(io.BytesIO(new))
    pages = diagram_pages([p.text for p in d.paragraphs])  # some are split over several pages
    assert len(d.tables) == 2 + 6 and len(pages) == 6  # the header, the signatures, the annex
    assert len(d.inline_shapes) == sum(pages) > 6
    assert sum(len(t._tbl.xpath(".//w:gridSpan")) for t in d.tables) >= 6 * 3


def test_the_work_per_merged_cell_and_per_picture_does_not_grow_with_the_document(monkeypatch):
    """python-docx's merge and Table.cell() walk the whole grid, and Run.add_picture hashes every image of
    the package and searches the whole document for ids, at every call: none of them is used per cell or
    per picture any more, so a document twice as large costs twice as much, not four times."""
    import docx.parts.image
    import docx.parts.story
    import docx.table

    calls: list[str] = []
    cell, merge = docx.table.Table.cell, docx.table._Cell.merge
    sha1, next_id = docx.parts.image.ImagePart.sha1, docx.parts.story.StoryPart.next_id
    monkeypatch.setattr(docx.table.Table, "cell", lambda self, r, c: calls.append("cell") or cell(self, r, c))
    monkeypatch.setattr(docx.table._Cell, "merge", lambda self, o: calls.append("merge") or merge(self, o))
    monkeypatch.setattr(docx.parts.image.ImagePart, "sha1",
                        property(lambda self: calls.append("sha1") or sha1.fget(self)))
    monkeypatch.setattr(docx.parts.story.StoryPart, "next_id",
                        property(lambda self: calls.append("next_id") or next_id.fget(self)))

    def written(rows: int, pictures: int) -> dict[str, int]:
        calls.clear()
        to_docx(sample_doc(rows, pictures))
        return {k: calls.count(k) for k in sorted(set(calls))}

    small, large = written(5, 2), written(300, 40)
    assert small == large == {"cell": 2, "next_id": 1}  # the header's two columns, one search for ids
