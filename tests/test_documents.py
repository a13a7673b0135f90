"""The draft approval decision (Word and HTML), on a small copy of the real catalogue."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import docx
import pytest
from docx.shared import Mm
from typer.testing import CliRunner

from engine.definition import load_catalogue
from engine.documents import (
    ANNEX_COLUMNS,
    DocumentError,
    agency_lines,
    limit_text,
    place_from_organisation,
    render_decision,
    select_procedures,
    total_line,
    vn_date,
    working_time_text,
)
from tests.conftest import REPO

SRC = REPO / "procedures_yaml"
QUYTRINH = Path(sys.executable).parent / "quytrinh"
#: Files copied into the small catalogue: two district procedures without approval, one approved, one commune.
FILES = {"1.001612": "district", "1.001266": "district", "1.013225": "district", "1.001193": "commune"}
APPROVED = "1.013225"
TITLE = "Phê duyệt quy trình nội bộ giải quyết thủ tục hành chính thuộc thẩm quyền giải quyết của " \
        "Ủy ban nhân dân huyện Gia Lâm"


@pytest.fixture(scope="module")
def small_catalogue(tmp_path_factory) -> Path:
    """units.yaml, the templates and four definitions; one of them given an approving decision."""
    root = tmp_path_factory.mktemp("catalogue") / "procedures_yaml"
    root.mkdir()
    shutil.copy(SRC / "units.yaml", root / "units.yaml")
    shutil.copytree(SRC / "templates", root / "templates")
    for code, folder in FILES.items():
        src = sorted((SRC / folder).glob(f"{code}-*.yaml"))[0]
        (root / folder).mkdir(exist_ok=True)
        text = src.read_text(encoding="utf-8")
        if code == APPROVED:
            text += '\napproval: {decision: "1234/QĐ-UBND", date: 2024-05-20, signer: "Chủ tịch UBND huyện"}\n'
        (root / folder / src.name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def cat(small_catalogue):
    c = load_catalogue([small_catalogue])
    assert not c.problems, c.problems
    assert c.find(APPROVED).approval is not None
    return c


@pytest.fixture(scope="module")
def default_docx(cat) -> docx.document.Document:
    return docx.Document(io.BytesIO(render_decision(cat, level="district")))


@pytest.fixture(scope="module")
def default_html(cat) -> str:
    return render_decision(cat, level="district", fmt="html").decode("utf-8")


def all_paragraphs(d) -> list:
    out = list(d.paragraphs)

    def walk(tables):
        for t in tables:
            for row in t.rows:
                for c in row.cells:
                    out.extend(c.paragraphs)
                    walk(c.tables)

    walk(d.tables)
    return out


def annex_tables(d) -> list:
    return [t for t in d.tables if t.style is not None and t.style.name == "Table Grid"]


# A first page's caption ends with the total against the legal limit (engine.documents.diagram_badge).
_CAPTION = re.compile(r"Sơ đồ Quy trình số (\d+)(?: \((?:tiếp theo, )?trang (\d+)/(\d+)\))?"
                      r"(?: — Thời gian giải quyết: .+)?$")


def diagram_pages(texts: list[str]) -> list[int]:
    """How many pages each procedure's diagram takes, read from the captions ("Sơ đồ Quy trình số 01", or
    split "… (trang 1/3)", "… (tiếp theo, trang 2/3)" …), checking that they number procedures 1, 2, … and
    each one's pages 1 … n in order, "tiếp theo" on all but the first."""
    pages: list[int] = []
    seen = 0  # pages of the current procedure so far
    for text in texts:
        m = _CAPTION.match(text)
        if not m:
            continue
        number, page, total = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
        if page == 1:
            assert pages == [] or seen == pages[-1], text  # the one before is complete
            assert number == len(pages) + 1 and "(tiếp theo, " not in text, text  # a same-day badge says "tiếp theo"
            assert (total == 1) == (m.group(2) is None), text  # a whole diagram's caption names no page
            pages.append(total)
            seen = 1
        else:
            assert number == len(pages) and pages[-1] == total and page == seen + 1 and "(tiếp theo, " in text, text
            seen += 1
    assert pages == [] or seen == pages[-1]
    return pages


# --------------------------------------------------------------------------- selection


def test_default_set_is_the_level_without_approval_and_codes_pick(cat):
    assert [d.code for d in select_procedures(cat, level="district")] == ["1.001266", "1.001612"]
    assert [d.code for d in select_procedures(cat, level="commune")] == ["1.001193"]
    assert [d.code for d in select_procedures(cat, codes=[APPROVED, "1.001612"])] == [APPROVED, "1.001612"]
    with pytest.raises(DocumentError, match="'9.999999' is not in the catalogue"):
        select_procedures(cat, codes=["9.999999"])
    with pytest.raises(DocumentError, match="commune-level; use --level commune"):
        select_procedures(cat, codes=["1.001193"])
    with pytest.raises(DocumentError, match="unknown level"):
        select_procedures(cat, level="city")


def test_nothing_to_approve_is_an_error(tmp_path, small_catalogue):
    root = tmp_path / "procedures_yaml"
    shutil.copytree(small_catalogue, root)
    for f in (root / "district").glob("*.yaml"):
        if APPROVED not in f.name:
            f.unlink()
    with pytest.raises(DocumentError, match="already has an approving decision"):
        select_procedures(load_catalogue([root]), level="district")


# --------------------------------------------------------------------------- Word


def test_docx_page_font_and_margins_follow_decree_30(default_docx):
    sec = default_docx.sections[0]
    assert abs(sec.page_width.mm - 210) < 0.5 and abs(sec.page_height.mm - 297) < 0.5
    assert 20 <= sec.top_margin.mm <= 25 and 20 <= sec.bottom_margin.mm <= 25
    assert 30 <= sec.left_margin.mm <= 35 and 15 <= sec.right_margin.mm <= 20
    normal = default_docx.styles["Normal"]
    assert normal.font.name == "Times New Roman" and 13 <= normal.font.size.pt <= 14
    # Page numbers: centred in the top margin, none on the first page.
    assert sec.different_first_page_header_footer
    assert "PAGE" in sec.header._element.xml and "PAGE" not in sec.first_page_header._element.xml


def test_docx_header_title_preamble_articles_and_signature(default_docx):
    paras = all_paragraphs(default_docx)
    texts = [p.text for p in paras]
    header = default_docx.tables[0]
    left, right = header.rows[0].cells
    assert [p.text for p in left.paragraphs if p.text][:3] == ["ỦY BAN NHÂN DÂN", "HUYỆN GIA LÂM", "Số:        /QĐ-UBND"]
    right_text = [p.text for p in right.paragraphs if p.text]
    assert right_text[:2] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]
    date_line = next(p for p in right.paragraphs if p.text.startswith("Gia Lâm, ngày"))
    assert all(r.italic for r in date_line.runs)
    assert "DỰ THẢO" in texts and "QUYẾT ĐỊNH" in texts and "QUYẾT ĐỊNH:" in texts
    assert TITLE in texts and "CHỦ TỊCH ỦY BAN NHÂN DÂN HUYỆN GIA LÂM" in texts
    bases = [p for p in paras if p.text.startswith("Căn cứ")]
    assert len(bases) >= 4 and all(all(r.italic for r in p.runs) for p in bases)
    assert all(p.text.endswith(";") for p in bases[:-1]) and bases[-1].text.endswith(".")
    assert any(t.startswith("Theo đề nghị của") for t in texts)
    articles = [t for t in texts if re.match(r"Điều \d\. ", t)]
    assert [a[:7] for a in articles] == ["Điều 1.", "Điều 2.", "Điều 3."]
    assert "02 quy trình nội bộ" in articles[0]
    assert "quy trình điện tử" in articles[1] and "hiệu lực kể từ ngày ký" in articles[2]
    assert "Nơi nhận:" in texts and "CHỦ TỊCH" in texts and "KT. CHỦ TỊCH" not in texts
    assert "Phụ lục" in texts
    assert any(t.startswith("(Kèm theo Quyết định số") for t in texts)


def _days(cell: str) -> float:
    """Working days of a time cell ("0,5 ngày làm việc", "1 giờ làm việc", "Không tính thời gian")."""
    m = re.match(r"([\d,]+) (ngày|giờ)", cell)
    if not m:
        return 0.0
    value = float(m.group(1).replace(",", "."))
    return value if m.group(2) == "ngày" else value / 8


def test_docx_annex_one_table_per_procedure_with_steps_total_and_picture(default_docx, cat):
    defs = select_procedures(cat, level="district")
    tables = annex_tables(default_docx)
    assert len(tables) == len(defs) == 2
    for table, defn in zip(tables, defs):
        assert tuple(c.text for c in table.rows[0].cells) == ANNEX_COLUMNS
        labels = [r.cells[0].text for r in table.rows[1:]]
        total_at = next(i for i, r in enumerate(table.rows) if r.cells[0].text.startswith("Tổng thời gian"))
        total = table.rows[total_at].cells[0].text
        assert total == total_line(defn)
        assert total.startswith("Tổng thời gian giải quyết TTHC: ") and "thời hạn theo quy định" in total
        # Above the total: the main path, Bước 1..n, whose times add up to the total.
        main = [r for r in table.rows[1:total_at] if r.cells[0].text.startswith("Bước")]
        assert [r.cells[0].text for r in main] == [f"Bước {i}" for i in range(1, len(main) + 1)]
        assert main[0].cells[1].text == defn.start.name and main[-1].cells[1].text == defn.step("deliver").name
        days = sum(_days(r.cells[3].text) for r in main)
        assert f"{days:g}".replace(".", ",") in total.split("/")[0]
        # Below it: every other step, under a case "a) Đối với trường hợp …", numbered after the step it follows.
        cases = [lab for lab in labels if re.match(r"[a-z]\) Đối với trường hợp", lab)]
        assert cases[:2] == ["a) Đối với trường hợp hồ sơ chưa đầy đủ, hợp lệ, cần bổ sung, hoàn thiện",
                             "b) Đối với trường hợp hồ sơ không đủ điều kiện tiếp nhận"]
        assert "c) Đối với trường hợp hồ sơ không đủ điều kiện giải quyết" in cases
        names = [r.cells[1].text for r in table.rows[1:] if not r.cells[0].text.startswith(("Tổng", "Các bước",
                                                                                           "Tại Bước"))
                 and not re.match(r"[a-z]\) ", r.cells[0].text)]
        assert sorted(names) == sorted(s.name for s in defn.steps)  # each step once
        supplement = next(r for r in table.rows if r.cells[1].text == defn.step("supplement_counter").name)
        assert supplement.cells[0].text == "Sau Bước 1" and supplement.cells[3].text == "Không tính thời gian"
        assert not any(r.cells[1].text == defn.step("refuse_draft").name for r in main)
    texts = [p.text for p in default_docx.paragraphs]
    assert "I. LĨNH VỰC THÀNH LẬP VÀ HOẠT ĐỘNG DOANH NGHIỆP (HỘ KINH DOANH) (02 TTHC)" in texts
    assert not any(cat.find(APPROVED).name in t for t in texts)
    pages = diagram_pages(texts)
    assert len(pages) == len(defs) and len(default_docx.inline_shapes) == sum(pages)
    assert pages == [1, 2]  # 1.001612 (12 steps) would print its step names at 6,3 pt on one page
    household = cat.find("1.001612")  # 3 working days: "03" under the title as in the total row
    assert any(t.startswith("Thời hạn giải quyết theo quy định: 03 ngày làm việc") for t in texts)
    assert "thời hạn theo quy định: 03 ngày làm việc" in total_line(household)


def test_a_parallel_arm_is_shown_beside_the_step_it_runs_with_and_not_added(cat):
    from engine.documents import annex_plan

    defn = cat.find(APPROVED)  # the commune's opinion (7 days) and the site check (3 days) run in parallel
    plan = annex_plan(defn)
    assert [s.id for s in plan.main][:5] == ["receive", "assign", "appraise", "consult_commune", "report"]
    assert [(s.id, n) for s, n in plan.parallel["consult_commune"]] == [("site_check", [4])]
    d = docx.Document(io.BytesIO(render_decision(cat, codes=[APPROVED])))
    rows = [[c.text for c in r.cells] for r in annex_tables(d)[0].rows]
    i = next(k for k, r in enumerate(rows) if r[0] == "Bước 4")
    assert rows[i + 1][0] == "Song song" and rows[i + 1][1] == defn.step("site_check").name
    assert rows[i + 1][3] == "03 ngày làm việc (đồng thời với Bước 4)"
    assert rows[i + 2][0] == "Bước 5"
    total = next(r for r in rows if r[0].startswith("Tổng"))[0]
    main_days = sum(_days(r[3]) for r in rows if r[0].startswith("Bước"))
    assert main_days == 15 and total.startswith("Tổng thời gian giải quyết TTHC: 15 ngày làm việc")
    refusal = next(r for r in rows if r[1] == defn.step("refuse_draft").name)
    assert refusal[0] == "Sau Bước 3, 5"
    assert next(r for r in rows if r[1] == defn.step("return_refusal").name)[0] == "Tiếp theo"


def test_docx_with_codes_deputy_and_place(cat):
    d = docx.Document(io.BytesIO(render_decision(cat, codes=[APPROVED], deputy=True, place="Hà Nội")))
    tables = annex_tables(d)
    assert len(tables) == 1
    texts = [p.text for p in all_paragraphs(d)]
    assert any(cat.find(APPROVED).name in t for t in texts)
    assert "KT. CHỦ TỊCH" in texts and "PHÓ CHỦ TỊCH" in texts
    assert any(t.startswith("Hà Nội, ngày") for t in texts)
    assert len(diagram_pages(texts)) == 1 and len(d.inline_shapes) == sum(diagram_pages(texts))


# --------------------------------------------------------------------------- HTML


def test_html_has_the_same_content(default_html, cat):
    from engine.documents import annex_plan

    defs = select_procedures(cat, level="district")
    page = default_html
    assert page.startswith("<!DOCTYPE html>") and "@page { size: 210mm 297mm;" in page
    assert "font-family: \"Times New Roman\"" in page
    assert TITLE in page and "DỰ THẢO" in page and "QUYẾT ĐỊNH:" in page
    assert page.count('class="grid annex"') == len(defs)
    captions = re.findall(r">(Sơ đồ Quy trình số [^<]*)<", page)
    assert diagram_pages(captions) == [1, 2]
    assert page.count("<svg") == 3 and "<?xml" not in page
    for defn in defs:
        assert _h(total_line(defn)) in page or total_line(defn) in page
        assert f"Bước {len(annex_plan(defn).main)}" in page and "a) Đối với trường hợp" in page
    for h in ANNEX_COLUMNS:
        assert f">{h}<" in page
    assert cat.find(APPROVED).name not in page


def _h(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_commune_level_title(cat):
    page = render_decision(cat, level="commune", fmt="html").decode()
    assert "thuộc thẩm quyền giải quyết của Ủy ban nhân dân cấp xã trên địa bàn huyện Gia Lâm" in page
    assert page.count('class="grid annex"') == 1


# --------------------------------------------------------------------------- formatting


def test_vietnamese_formatting():
    import datetime as dt

    assert vn_date(dt.date(2020, 1, 5)) == "ngày 05 tháng 01 năm 2020"
    assert vn_date(dt.date(2020, 8, 15)) == "ngày 15 tháng 8 năm 2020"
    assert vn_date(None) == "ngày …… tháng …… năm ……"
    assert working_time_text(1440) == "03 ngày làm việc"
    assert working_time_text(240) == "0,5 ngày làm việc"
    assert working_time_text(4800) == "10 ngày làm việc"
    assert working_time_text(90) == "1,5 giờ làm việc"
    assert working_time_text(15) == "15 phút"  # not "phút làm việc"
    from engine.definition import TimeLimit

    assert limit_text(TimeLimit(6)) == "06 ngày làm việc"  # padded as the step times and the total row
    assert limit_text(TimeLimit(15)) == "15 ngày làm việc" and limit_text(TimeLimit(0.5)) == "0,5 ngày làm việc"
    assert limit_text(TimeLimit(4, "working_hours")) == "4 giờ làm việc"
    assert limit_text(TimeLimit(None)) == "chưa xác định"
    assert agency_lines("Ủy ban nhân dân huyện Gia Lâm") == ["ỦY BAN NHÂN DÂN", "HUYỆN GIA LÂM"]
    assert place_from_organisation("Ủy ban nhân dân huyện Gia Lâm") == "Gia Lâm"
    assert place_from_organisation("Ủy ban nhân dân thị trấn Trâu Quỳ") == "Trâu Quỳ"
    assert place_from_organisation("Công ty X") == ""


# --------------------------------------------------------------------------- CLI


def test_cli_writes_the_decision(small_catalogue, tmp_path, monkeypatch):
    from quytrinh.cli import app

    monkeypatch.chdir(small_catalogue.parent)  # a project folder with no database: drafted from the files
    out = tmp_path / "qd.html"
    res = CliRunner().invoke(app, ["decision", "--catalogue", str(small_catalogue), "--codes", "1.001612",
                                   "--format", "html", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "1 quy trình" in res.output
    page = out.read_text(encoding="utf-8")
    assert page.count('class="grid annex"') == 1 and "Đăng ký thành lập hộ kinh doanh" in page


def test_cli_names_the_decision_file_by_its_level_in_vietnamese(small_catalogue, monkeypatch):
    """Without --out the file is named as the web app names it: du-thao-quyet-dinh-cap-huyen (not -district)."""
    from quytrinh.cli import app

    monkeypatch.chdir(small_catalogue.parent)
    res = CliRunner().invoke(app, ["decision", "--catalogue", str(small_catalogue), "--codes", "1.001612",
                                   "--format", "html"])
    assert res.exit_code == 0, res.output
    assert (small_catalogue.parent / "du-thao-quyet-dinh-cap-huyen.html").is_file()
    assert not list(small_catalogue.parent.glob("*district*"))


def test_cli_unknown_code_is_one_line_and_exit_1(small_catalogue, tmp_path):
    proc = subprocess.run([str(QUYTRINH), "decision", "--catalogue", str(small_catalogue), "--codes", "9.999999",
                           "--out", str(tmp_path / "x.docx")], cwd=small_catalogue.parent, capture_output=True, text=True,
                          timeout=120, env={**os.environ})
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("quytrinh: Không lập được văn bản: thủ tục '9.999999' không có trong danh mục")
    assert not (tmp_path / "x.docx").exists()


def test_a_unit_that_is_one_post_is_named_once_in_the_annex(cat):
    page = render_decision(cat, level="commune", fmt="html").decode("utf-8")
    assert "Công chức Tư pháp – Hộ tịch" in page
    assert "Công chức Tư pháp – Hộ tịch, Công chức Tư pháp – Hộ tịch" not in page


def test_the_blanks_a_decision_would_print_are_named(cat):
    from dataclasses import replace

    from engine.documents import decision_gaps

    defn = cat.find("1.001612")
    assert decision_gaps([defn]) == []
    gaps = decision_gaps([replace(defn, code="", source="/x/district/ho-kinh-doanh.yaml")])
    assert gaps == ["1 quy trình chưa có mã TTHC (in “Mã TTHC: ……”): ho-kinh-doanh"]
    from engine.documents import decision_gap_groups

    nameless = replace(defn, code="", source="/x/district/ho-kinh-doanh.yaml")
    assert decision_gap_groups([defn, nameless]) == [("1 quy trình chưa có mã TTHC (in “Mã TTHC: ……”)", [nameless])]


# --------------------------------------------------------------------------- legal regime


def _visible(page: str) -> str:
    import html

    body = re.sub(r"<style>.*?</style>|<svg.*?</svg>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_the_preamble_and_the_annex_forms_follow_the_regime_of_the_decision_date(cat):
    import datetime as dt

    from engine.documents import FORMS_2025, legal_bases

    old = _visible(render_decision(cat, codes=["1.001612"], fmt="html", date=dt.date(2025, 6, 30)).decode())
    assert "Căn cứ Nghị định số 61/2018/NĐ-CP ngày 23 tháng 4 năm 2018" in old
    assert "Nghị định số 107/2021/NĐ-CP" in old and "Căn cứ Thông tư số 01/2018/TT-VPCP" in old
    assert "118/2025" not in old and "03/2025" not in old
    assert "Mẫu 01: Giấy tiếp nhận hồ sơ và hẹn trả kết quả" in old and "Mẫu 06: Sổ theo dõi hồ sơ" in old
    assert "Gia Lâm, ngày 30 tháng 6 năm 2025" in old

    new = _visible(render_decision(cat, codes=["1.001612"], fmt="html", date=dt.date(2026, 1, 12)).decode())
    assert ("Căn cứ Nghị định số 118/2025/NĐ-CP ngày 09 tháng 6 năm 2025 của Chính phủ về thực hiện thủ tục hành "
            "chính theo cơ chế một cửa, một cửa liên thông tại Bộ phận Một cửa và Cổng Dịch vụ công quốc gia;") in new
    assert (f"Căn cứ {FORMS_2025.circular_full} hướng dẫn thi hành một số quy định của Nghị định số "
            "118/2025/NĐ-CP;") in new  # the subject is unverified (a comment in legal_bases says so)
    assert "61/2018" not in new and "107/2021" not in new and "01/2018" not in new
    assert "Mẫu 01: Giấy tiếp nhận hồ sơ và hẹn trả kết quả" in new
    assert "Mẫu 07: Sổ theo dõi hồ sơ" in new and "Mẫu 06: Sổ theo dõi hồ sơ" not in new  # the ledger is 07 in 2025
    for text in (old, new):  # the other bases stay
        assert "Căn cứ Nghị định số 63/2010/NĐ-CP" in text and "Quyết định số 18/2020/QĐ-UBND" in text
        assert ("Nghị định số 48/2013/NĐ-CP ngày 14 tháng 5 năm 2013 của Chính phủ sửa đổi, bổ sung một số điều "
                "của các nghị định liên quan đến kiểm soát thủ tục hành chính; Nghị định số 92/2017/NĐ-CP") in text
    # Between 1/7 and 15/9/2025 the new decree applies but its circular was not issued yet.
    summer = legal_bases(dt.date(2025, 8, 1))
    assert any("118/2025/NĐ-CP" in b for b in summer) and not any("03/2025" in b or "61/2018" in b for b in summer)


def test_an_undated_draft_cites_the_regime_of_today(cat, monkeypatch):
    import datetime as dt

    import engine.documents as documents

    monkeypatch.setattr(documents, "today_hanoi", lambda: dt.date(2025, 3, 3))
    assert "61/2018/NĐ-CP" in render_decision(cat, codes=["1.001612"], fmt="html").decode()
    monkeypatch.setattr(documents, "today_hanoi", lambda: dt.date(2026, 3, 3))
    page = render_decision(cat, codes=["1.001612"], fmt="html").decode()
    assert "118/2025/NĐ-CP" in page and "61/2018/NĐ-CP" not in page
    assert "Gia Lâm, ngày …… tháng …… năm ……" in _visible(page)  # still blank on the draft


# --------------------------------------------------------------------------- annex pages


def test_docx_annex_is_a_section_numbered_from_1_and_each_diagram_has_a_page_of_its_own(default_docx, cat):
    from engine.documents import DIAGRAM_CAPTION_MM, END_MARK_MM, diagram_fit

    defs = select_procedures(cat, level="district")
    secs = default_docx.sections
    pages = diagram_pages([p.text for p in default_docx.paragraphs])
    # decision | annex (from 1) | diagram 1 | table 2 | diagram 2, page 1 | diagram 2, page 2
    assert pages == [1, 2] and len(secs) == 1 + len(defs) + sum(pages)
    assert "pgNumType" not in secs[0]._sectPr.xml
    annex = secs[1]
    assert 'w:start="1"' in annex._sectPr.xml and annex.different_first_page_header_footer  # no "1" on its page 1
    assert annex.header.is_linked_to_previous and "PAGE" in secs[0].header._element.xml
    for sec in secs[2:]:
        assert "pgNumType" not in sec._sectPr.xml and not sec.different_first_page_header_footer
    shapes = default_docx.inline_shapes
    assert len(shapes) == sum(pages)
    for k, (sec, shape) in enumerate(zip((secs[2], secs[4], secs[5]), shapes)):
        text_w = sec.page_width - sec.left_margin - sec.right_margin
        text_h = sec.page_height - sec.top_margin - sec.bottom_margin
        # The last one leaves room for the end mark "./." under it.
        free = DIAGRAM_CAPTION_MM + (END_MARK_MM if k == len(shapes) - 1 else 0)
        assert shape.width <= text_w + Mm(0.5) and shape.height <= text_h - Mm(free) + Mm(0.5)
        # It fills its page one way or the other: the best of portrait and landscape.
        assert shape.width >= text_w - Mm(1) or shape.height >= text_h - Mm(free + 1)
    texts = [p.text for p in default_docx.paragraphs]
    # A short caption (the name heads the table): the diagram gets the rest of the page.
    assert any(t.startswith("Sơ đồ Quy trình số 01 — ") for t in texts) and DIAGRAM_CAPTION_MM <= 10
    # A wide left-to-right strip at text width was drawn at ~0.2; top to bottom, at least 0.3.
    for w_pt, h_pt in ((1538, 1488), (781, 565)):
        paper, scale = diagram_fit(w_pt, h_pt)
        assert scale >= 0.3
    assert diagram_fit(3756, 694)[0].name == "A4 landscape" and diagram_fit(500, 900)[0].name == "A4"
    # A small diagram is enlarged up to its text area (A4 landscape: 262 × 175 mm less the caption).
    paper, scale = diagram_fit(500, 400)
    assert paper.name == "A4 landscape" and scale > 1
    assert abs(400 * 25.4 / 72 * scale - (paper.text_height - DIAGRAM_CAPTION_MM)) < 0.01


def test_each_diagram_says_its_total_against_the_legal_limit_on_its_first_page(cat, default_docx, default_html):
    """The web diagram's header badge, on the caption's line of the diagram's first page, in the Word file and
    the HTML page alike: the critical path's total (the step table's total row) against the legal limit;
    not repeated on a continuation page."""
    from engine.graph import allocated_minutes

    defs = select_procedures(cat, level="district")
    assert [d.code for d in defs] == ["1.001266", "1.001612"]
    assert [allocated_minutes(d) for d in defs] == [5 * 480, 3 * 480]  # the step tables' totals
    assert "Tổng thời gian giải quyết TTHC: 03 ngày làm việc / thời hạn theo quy định: 03 ngày làm việc" \
        == total_line(defs[1])
    expected = [
        "Sơ đồ Quy trình số 01 — Thời gian giải quyết: tổng 05 ngày làm việc / thời hạn 05 ngày làm việc",
        "Sơ đồ Quy trình số 02 (trang 1/2) — Thời gian giải quyết: tổng 03 ngày làm việc / thời hạn 03 ngày làm việc",
        "Sơ đồ Quy trình số 02 (tiếp theo, trang 2/2)",
    ]
    assert [t for t in (p.text for p in default_docx.paragraphs) if t.startswith("Sơ đồ Quy trình")] == expected
    assert re.findall(r">(Sơ đồ Quy trình số [^<]*)<", default_html) == expected
    assert "vượt thời hạn" not in default_html


def test_a_diagram_over_its_legal_limit_says_so_in_its_caption(small_catalogue, tmp_path):
    """1.001612's steps take 3 working days; its legal limit lowered to 2 days, the caption says the total
    exceeds it, in the Word file and the HTML page, as the step table's total row gives the figures."""
    import datetime as dt

    root = tmp_path / "procedures_yaml"
    shutil.copytree(small_catalogue, root)
    [path] = (root / "district").glob("1.001612-*.yaml")
    text = path.read_text(encoding="utf-8")
    assert "time_limit:\n  value: 3\n  unit: working_days\n" in text
    path.write_text(text.replace("time_limit:\n  value: 3\n", "time_limit:\n  value: 2\n"), encoding="utf-8")
    over = load_catalogue([root])
    assert not over.problems, over.problems
    caption = ("Sơ đồ Quy trình số 01 (trang 1/2) — Thời gian giải quyết: tổng 03 ngày làm việc / thời hạn 02 ngày "
               "làm việc (vượt thời hạn)")  # split over two pages when it is the last one (the end mark)
    day = dt.date(2026, 1, 12)
    d = docx.Document(io.BytesIO(render_decision(over, codes=["1.001612"], date=day)))
    texts = [p.text for p in d.paragraphs]
    second = "Sơ đồ Quy trình số 01 (tiếp theo, trang 2/2)"
    assert [t for t in texts if t.startswith("Sơ đồ Quy trình")] == [caption, second]
    assert len(d.inline_shapes) == 2
    table = "\n".join(c.text for t in annex_tables(d) for row in t.rows for c in row.cells)
    assert "Tổng thời gian giải quyết TTHC: 03 ngày làm việc / thời hạn theo quy định: 02 ngày làm việc" in table
    page = render_decision(over, codes=["1.001612"], fmt="html", date=day).decode("utf-8")
    assert re.findall(r">(Sơ đồ Quy trình số [^<]*)<", page) == [caption, second]


def test_a_badge_too_long_for_the_caption_line_gets_a_line_of_its_own_and_its_room(cat):
    """On a page too narrow for caption and badge on one line, the badge is a paragraph under the caption;
    :func:`printed_diagrams` keeps a line's room (BADGE_LINE_MM) for it, so a diagram filling the page's
    height would not fit, and one made smaller by that much does."""
    from engine.documents import (A4, BADGE_LINE_MM, DIAGRAM_CAPTION_MM, END_MARK_MM, Doc, P, Picture, Section,
                                  badge_mm, diagram_badge, printed_diagrams, text_width_pt)

    defn = cat.find("1.001193")  # same-day limit: the longest badge
    badge = diagram_badge(defn)
    assert badge == ("Thời gian giải quyết: tổng 2 giờ làm việc / thời hạn trong ngày (nhận sau 15:00 trả trong "
                     "ngày làm việc tiếp theo)")  # the total as the step table's total row says it
    assert text_width_pt(f"Sơ đồ Quy trình số 01 — {badge}", 12) > A4.text_width * 72 / 25.4  # not on portrait
    lines = badge_mm(badge) / BADGE_LINE_MM
    assert lines in (1, 2)
    svg = b'<svg width="400pt" height="800pt" viewBox="0 0 400 800"></svg>'
    room = A4.text_height - DIAGRAM_CAPTION_MM - END_MARK_MM  # the last picture: the end mark under it

    def printed(width_mm: float):
        doc = Doc("t", A4, [Section(A4), P("Sơ đồ Quy trình số 01"), P(badge),
                            Picture(svg=lambda: svg, png=lambda: b"", alt="", width=width_mm)])
        [p] = printed_diagrams(doc)
        return p

    full = printed(room / 2)  # its height: the room under the caption alone
    assert full.caption == "Sơ đồ Quy trình số 01" and abs(full.height_mm - room) < 1e-6 and not full.fits
    assert full.room_mm[1] == pytest.approx(room - lines * BADGE_LINE_MM)
    assert printed((room - lines * BADGE_LINE_MM) / 2).fits


def test_html_annex_pages_numbered_from_1_with_landscape_pages_for_diagrams(default_html, cat):
    page = default_html
    assert "@page :first { @top-center { content: none; } }" in page  # Decree 30: none on page 1
    assert "@top-center { content: counter(page);" in page
    s1 = re.search(r"@page s1 \{[^\n]*", page).group(0)
    assert "size: 210mm 297mm" in s1 and "counter-increment: pages1;" in s1 and "counter(pages1)" in s1
    assert 'class="sheet s1"' in page and ".s1 { page: s1; }" in page
    landscape = re.findall(r"@page (s\d+) \{ size: 297mm 210mm;[^\n]*counter\(pages1\)", page)
    assert landscape  # diagram pages, still counted in the annex's numbering
    figures = re.findall(r'<figure class="diagram" style="width:([\d.]+)mm"', page)
    assert len(figures) == 3  # 1.001266 on one page, 1.001612 on two
    assert all(100 < float(w) <= 262 for w in figures)


def test_the_annex_names_the_bounded_rework_loops_the_diagram_draws(cat):
    from engine.documents import annex_rows

    rows = annex_rows(cat.find("1.013225"))
    loops = [r.label for r in rows if r.kind == "loop"]
    assert loops == ["Tại Bước 6, nếu “Làm lại”: trở lại Bước 3 (tối đa 2 lần); thời gian làm lại nằm trong thời "
                     "hạn giải quyết",
                     "Tại Bước 7, nếu “Không phê duyệt”: trở lại Bước 3 (tối đa 1 lần); thời gian làm lại nằm trong "
                     "thời hạn giải quyết"]
    cases = [r.label for r in rows if r.kind == "case"]
    assert cases[-1] == "d) Đối với trường hợp phải làm lại hoặc không được phê duyệt"
    page = render_decision(cat, level="district", codes=["1.013225"], fmt="html").decode("utf-8")
    assert "trở lại Bước 3 (tối đa 2 lần)" in page


def test_the_counter_supplement_cites_form_02_in_every_template(cat):
    """Case a)'s first row, the supplement asked at the counter, names the form the counter issues (Mẫu 02)."""
    for code in ("1.001612", "1.013225"):
        step = cat.find(code).step("supplement_counter")
        assert step.produces == ("BM02",), code


# --------------------------------------------------------------------------- caches


def test_a_decision_drawn_again_is_the_same_file_without_running_dot(cat, dot_calls):
    import datetime as dt

    import engine.render as er
    from engine.documents import clear_plans

    day = dt.date(2026, 3, 2)
    clear_plans()
    cold = render_decision(cat, level="district", fmt="html", date=day)
    # The two district procedures without a decision, whole, then 1.001612's two pages (too small whole).
    assert len(dot_calls) == 4
    warm = render_decision(cat, level="district", fmt="html", date=day)
    assert warm == cold and len(dot_calls) == 4
    er.clear_cache()
    # Drawn again: the same bytes; the pages are remembered (1.001612 is not drawn whole to find them).
    assert render_decision(cat, level="district", fmt="html", date=day) == cold and len(dot_calls) == 4 + 3
    cold_docx = render_decision(cat, level="district", date=day)
    n = len(dot_calls)
    warm_docx = render_decision(cat, level="district", date=day)
    assert len(dot_calls) == n
    pictures = [sorted(p.blob for p in docx.Document(io.BytesIO(b)).part.package.parts
                       if p.partname.startswith("/word/media/")) for b in (cold_docx, warm_docx)]
    assert pictures[0] == pictures[1] and len(pictures[0]) == 3
    assert ([p.text for p in all_paragraphs(docx.Document(io.BytesIO(cold_docx)))]
            == [p.text for p in all_paragraphs(docx.Document(io.BytesIO(warm_docx)))])


def test_the_catalogue_is_read_again_only_when_a_file_changed(small_catalogue, tmp_path):
    from engine.documents import cached_catalogue

    root = tmp_path / "procedures_yaml"
    shutil.copytree(small_catalogue, root)
    first = cached_catalogue(root)
    again = cached_catalogue(root)
    assert again.definitions == first.definitions and again.definitions is not first.definitions
    assert all(a is b for a, b in zip(again.definitions, first.definitions))  # not parsed again
    assert again.organisation is first.organisation
    src = next((root / "district").glob("1.001612-*.yaml"))
    src.write_text(src.read_text(encoding="utf-8").replace('name: "Đăng ký thành lập hộ kinh doanh"',
                                                          'name: "Đăng ký thành lập hộ kinh doanh (sửa)"', 1),
                   encoding="utf-8")
    edited = cached_catalogue(root).find("1.001612")
    assert "(sửa)" in edited.name
    units = root / "units.yaml"
    units.write_text(units.read_text(encoding="utf-8").replace("Gia Lâm", "Đông Anh"), encoding="utf-8")
    assert "Đông Anh" in cached_catalogue(root).organisation.name
    (root / "commune" / next((root / "commune").glob("*.yaml")).name).unlink()
    assert cached_catalogue(root).find("1.001193") is None  # a file taken away
    assert len(cached_catalogue(root).definitions) == len(FILES) - 1


def test_units_yaml_is_parsed_again_only_when_it_changed(small_catalogue, tmp_path):
    from engine.documents import cached_units

    units = tmp_path / "units.yaml"
    shutil.copy(small_catalogue / "units.yaml", units)
    org = cached_units(units)
    assert org is not None and cached_units(units) is org
    text = units.read_text(encoding="utf-8")
    units.write_text(text.replace("Gia Lâm", "Sóc Sơn"), encoding="utf-8")
    assert "Sóc Sơn" in cached_units(units).name
    good = cached_units(units)
    units.write_text("units: [1, 2", encoding="utf-8")
    # broken (the reform office's slip): the forms keep the last organisation read without problems
    assert cached_units(units) is good and "Sóc Sơn" in good.name
    units.unlink()
    assert cached_units(units) is None
    units.write_text(text, encoding="utf-8")
    assert cached_units(units).name == org.name
