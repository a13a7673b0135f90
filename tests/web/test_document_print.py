"""The printable documents as real Chromium prints them (PDF read back with poppler) and as a phone shows them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.web.test_interrupt_pages import _processing

#: A draft decision of one procedure: quick to draw and print, the same layout as the whole catalogue's.
DECISION = "/documents/decision?level=district&codes=1.001612"
DPI = 300
PHONE = {"width": 390, "height": 844}


def _print(page, url: str, tmp_path: Path, name: str, media: str = "print") -> Path:
    """``url`` printed to PDF by Chromium on its own paper (@page), as the bar's «In» does; ``media="screen"``
    lays it out with the screen styles (the sheet as the user sees it), the bar removed."""
    page.emulate_media(media=media)
    page.goto(url)
    page.wait_for_selector("#doc-bar", state="attached")
    if media == "screen":
        page.evaluate("() => document.getElementById('doc-bar').remove()")
    path = tmp_path / f"{name}.pdf"
    if media == "screen":  # paper wider than the sheet, so that Chromium does not shrink it to fit
        page.pdf(path=str(path), width="330mm", height="400mm", print_background=True)
    else:
        page.pdf(path=str(path), prefer_css_page_size=True, print_background=True)
    page.emulate_media(media="screen")
    return path


def _pdf_text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", *pages, str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def _pdf_pages(pdf: Path) -> list[tuple[int, int]]:
    """Each page's size in whole millimetres, (width, height)."""
    out = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(pdf)], check=True, capture_output=True,
                         text=True).stdout
    return [(round(float(w) * 25.4 / 72), round(float(h) * 25.4 / 72))
            for w, h in re.findall(r"Page +\d+ size: +([\d.]+) x ([\d.]+)", out)]


def _gray(pdf: Path, tmp_path: Path) -> tuple[int, int, bytes]:
    """Page 1 rendered in grey levels at :data:`DPI`: (width, height, one byte per pixel)."""
    prefix = tmp_path / pdf.stem
    subprocess.run(["pdftoppm", "-gray", "-r", str(DPI), "-f", "1", "-l", "1", str(pdf), str(prefix)], check=True)
    data = next(tmp_path.glob(f"{pdf.stem}-*1.pgm")).read_bytes()
    m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", data)
    assert m, "not a PGM file"
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, data[m.end():m.end() + w * h]


def rule_gaps(w: int, h: int, px: bytes, min_run_mm: float = 12) -> list[tuple[int, int]]:
    """The short rules of a page (horizontal ink runs at least ``min_run_mm`` long, at most 1 mm thick), each
    as (its top row, the clear pixel rows between it and the nearest ink above it over its length)."""
    min_run = int(min_run_mm / 25.4 * DPI)
    runs_by_row: list[list[tuple[int, int]]] = []
    for y in range(h):
        row = px[y * w:(y + 1) * w]
        runs, x = [], 0
        while x < w:
            if row[x] < 128:
                x0 = x
                while x < w and row[x] < 128:
                    x += 1
                if x - x0 >= min_run:
                    runs.append((x0, x))
            x += 1
        runs_by_row.append(runs)
    one_mm = DPI / 25.4
    out = []
    for y, runs in enumerate(runs_by_row):
        for x0, x1 in runs:
            def on(row: int) -> bool:
                return 0 <= row < h and any(a < x1 and x0 < b for a, b in runs_by_row[row])

            if on(y - 1) or px[(y - 1) * w + x0] < 128 or px[(y - 1) * w + x1 - 1] < 128:
                continue  # not the rule's top edge, or the bottom of a box (the draft mark)
            thick = 1
            while on(y + thick):
                thick += 1
            if thick > one_mm:
                continue  # a filled box, not a rule
            gap = 0
            for above in range(y - 1, max(y - 6 * int(one_mm), -1), -1):  # the text line above, within 6 mm
                if any(b < 128 for b in px[above * w + x0:above * w + x1]):
                    out.append((y, gap))
                    break
                gap += 1
    return out


def test_a_printed_draft_decision_keeps_its_draft_mark(live_server, browser, tmp_path):
    from tests.web.conftest import signed_in_page

    page = signed_in_page(browser, live_server.url, "ld_pct")
    pdf = _print(page, DECISION, tmp_path, "decision")
    first = _pdf_text(pdf, 1)
    assert "DỰ THẢO" in first  # an unsigned draft must never print looking like the decision
    assert first.index("DỰ THẢO") < first.index("QUYẾT ĐỊNH")  # at the top of page 1
    assert "DỰ THẢO" not in _pdf_text(pdf, 2)
    assert _pdf_pages(pdf)[0] == (210, 297)  # still A4


def test_the_short_rules_under_the_headers_keep_clear_of_the_letters_below_dots(live_server, browser, tmp_path):
    """"HUYỆN GIA LÂM", "Độc lập - Tự do - Hạnh phúc": the dots under Ệ, ạ, ộ must not sit on the rule."""
    from tests.web.conftest import signed_in_page

    r = _processing(live_server.web, "Hộ kinh doanh Thước Kẻ")
    page = signed_in_page(browser, live_server.url, "ld_pct")
    one_pt = DPI / 72
    for media in ("print", "screen"):
        pdf = _print(page, DECISION, tmp_path, f"decision-{media}", media)
        gaps = rule_gaps(*_gray(pdf, tmp_path))
        assert len(gaps) >= 3, gaps  # the agency's and the motto's rules, the title's
        assert all(gap >= 3 * one_pt for _, gap in gaps), (media, gaps)
    motcua = signed_in_page(browser, live_server.url, "motcua")
    pdf = _print(motcua, f"/documents/dossiers/{r.dossier_code}/forms/01", tmp_path, "form-01")
    gaps = rule_gaps(*_gray(pdf, tmp_path), min_run_mm=10)
    assert len(gaps) >= 2 and all(gap >= 3 * one_pt for _, gap in gaps), gaps


def test_a_phone_can_use_the_bar_and_scrolls_the_sheet_not_the_page(live_server, browser, tmp_path):
    from tests.web.conftest import shot, signed_in_page

    r = _processing(live_server.web, "Hộ kinh doanh Điện Thoại")
    motcua = signed_in_page(browser, live_server.url, "motcua", viewport=PHONE, is_mobile=True, has_touch=True)
    leader = signed_in_page(browser, live_server.url, "ld_pct", viewport=PHONE, is_mobile=True, has_touch=True)
    for page, url in ((motcua, f"/documents/dossiers/{r.dossier_code}/forms/01"), (motcua, "/documents/ledger"),
                      (leader, DECISION)):
        page.goto(url)
        page.wait_for_selector("#doc-bar")
        shot(page, tmp_path, "phone" + re.sub(r"\W+", "-", url), full_page=False)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], url
        for sel in ("#doc-bar .doc-back", "#print-button", "#word-link", "#doc-bar button[type=submit]"):
            if page.query_selector(sel) is None:
                continue  # the forms choose nothing
            box = page.locator(sel).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (url, sel, box)
            assert box["height"] >= 40, (url, sel, box)  # a finger's tap target
        # the sheet keeps its paper width and scrolls sideways inside its own box
        sheet_px = page.evaluate("() => document.querySelector('.sheet').getBoundingClientRect().width")
        assert sheet_px > PHONE["width"], url  # even A5 is wider than a phone
        assert page.evaluate("() => { const p = document.querySelector('.pages');"
                             " return p.scrollWidth > p.clientWidth; }"), url
    # the phone's page prints as a desktop's does: form 01 on one A5 page, the ledger on A4 landscape
    pdf = _print(motcua, f"/documents/dossiers/{r.dossier_code}/forms/01", tmp_path, "phone-form-01")
    assert _pdf_pages(pdf) == [(148, 210)] and r.dossier_code in _pdf_text(pdf)
    pdf = _print(motcua, "/documents/ledger", tmp_path, "phone-ledger")
    assert set(_pdf_pages(pdf)) == {(297, 210)} and "Tổng số hồ sơ: 1." in _pdf_text(pdf)


def _draft_box(w: int, h: int, px: bytes) -> tuple[int, int, int, int]:
    """The draft mark's box on page 1 (left, top, right, bottom pixels): the first horizontal ink run at
    least 10 mm long, in the top 60 mm, with ink going down from its left end (a box's top-left corner)."""
    min_run, two_mm = int(10 / 25.4 * DPI), int(2 / 25.4 * DPI)
    for y in range(min(h, int(60 / 25.4 * DPI))):
        row, x = px[y * w:(y + 1) * w], 0
        while x < w:
            if row[x] < 128:
                x0 = x
                while x < w and row[x] < 128:
                    x += 1
                if x - x0 >= min_run and all(px[(y + d) * w + x0] < 128 for d in range(two_mm)):
                    bottom = y + two_mm
                    while bottom < h and px[bottom * w + x0] < 128:
                        bottom += 1
                    return x0, y, x - 1, bottom
            x += 1
    raise AssertionError("no box at the top of page 1")


def test_the_printed_draft_mark_is_a_closed_box(live_server, browser, tmp_path):
    from tests.web.conftest import signed_in_page

    page = signed_in_page(browser, live_server.url, "ld_pct")
    w, h, px = _gray(_print(page, DECISION, tmp_path, "decision-box"), tmp_path)
    left, top, right, bottom = _draft_box(w, h, px)
    height = bottom - top
    assert height > int(3 / 25.4 * DPI)  # a box around a line of text
    # Its right border is drawn down the whole height, like the left one (not cut off at the page's edge).
    dark = [y for y in range(top, bottom) if any(px[y * w + x] < 128 for x in range(right - 3, right + 1))]
    assert len(dark) >= 0.9 * height, (len(dark), height)
    assert right < w - int(15 / 25.4 * DPI)  # inside the right margin


def test_the_largest_procedures_diagram_prints_legibly_over_its_pages(live_server, browser, tmp_path):
    """1.013949 (18 steps, 7 lanes) printed its step names at 3,7 pt on one page: printed by Chromium, its
    diagram takes three pages, each with its caption, on the paper the layout chose, holding the name of
    every step its part draws, and the step names measured on the PDF at 7 pt or more."""
    import collections

    from engine.definition import load_catalogue
    from engine.documents import AnnexDiagrams, MIN_PRINTED_PT, diagram_badge, diagram_fit
    from tests.web.conftest import signed_in_page

    cat = load_catalogue([Path(__file__).resolve().parents[2] / "procedures_yaml"])
    defn = cat.find("1.013949")
    pictures = AnnexDiagrams([defn], cat.organisation)
    parts = pictures.pages(defn)
    assert len(parts) == 3
    page = signed_in_page(browser, live_server.url, "ld_pct")
    pdf = _print(page, "/documents/decision?level=district&codes=1.013949", tmp_path, "largest")
    sizes = _pdf_pages(pdf)
    texts = [_pdf_text(pdf, k) for k in range(1, len(sizes) + 1)]

    def words(text: str) -> collections.Counter:
        return collections.Counter(re.findall(r"\w+", text.lower()))

    at = []
    for j, part in enumerate(parts, 1):
        caption = f"Sơ đồ Quy trình số 01 ({'tiếp theo, ' if j > 1 else ''}trang {j}/3)"
        [k] = [k for k, t in enumerate(texts) if caption in t]
        at.append(k)
        # The first page's caption says the total against the legal limit on its one line; the others do not.
        badge = diagram_badge(defn)
        assert (f"{caption} — {badge}\n" in texts[k]) == (j == 1) and ("Thời gian giải quyết" in texts[k]) == (j == 1)
        paper, _ = diagram_fit(*pictures.size(defn, part), reserve_mm=10 if j == 3 else 0)
        assert sizes[k] == (round(paper.width), round(paper.height)), (j, sizes[k])
        for step in defn.steps:
            if step.id in part.steps:
                assert not words(step.name) - words(texts[k]), (j, step.name)
        # The step names' size on paper, from the word boxes of the words of a name found once on the page
        # (so in that step's box): pdftotext's box is DejaVu's line, 1,164 em.
        boxes = subprocess.run(["pdftotext", "-f", str(k + 1), "-l", str(k + 1), "-bbox", str(pdf), "-"],
                               check=True, capture_output=True, text=True).stdout
        found = collections.defaultdict(list)
        for a, b, word in re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]+)<', boxes):
            found[word].append(float(b) - float(a))
        heights = [found[w][0] for step in defn.steps if step.id in part.steps
                   for w in step.name.split() if len(found.get(w, ())) == 1]
        assert len(heights) >= 3 and min(heights) / 1.164 >= MIN_PRINTED_PT - 0.1, (j, heights)
    assert texts[-1].rstrip().endswith("./.")  # the end mark keeps to the last diagram's page
    assert at == list(range(len(texts) - 3, len(texts)))  # three pages in a row, the PDF's last: none overflows


def test_diagrams_filling_their_page_keep_to_it_under_the_caption_with_its_badge(live_server, browser, tmp_path):
    """1.004047's diagram fills the height of its landscape page under the caption (its step names at 7,04 pt,
    a whole page's least): printed by Chromium with the badge on its caption's line, it keeps to that page;
    so does the next procedure's, split over two pages, the last before the end mark."""
    from engine.definition import load_catalogue
    from engine.documents import DIAGRAM_CAPTION_MM, AnnexDiagrams, diagram_badge, diagram_fit
    from tests.web.conftest import signed_in_page

    cat = load_catalogue([Path(__file__).resolve().parents[2] / "procedures_yaml"])
    first, second = cat.find("1.004047"), cat.find("1.001612")
    pictures = AnnexDiagrams([first, second], cat.organisation)
    assert len(pictures.pages(first)) == 1 and len(pictures.pages(second)) == 2
    w, h = pictures.size(first)
    paper, scale = diagram_fit(w, h)
    assert h * 25.4 / 72 * scale > paper.text_height - DIAGRAM_CAPTION_MM - 0.5  # it fills the page's height
    page = signed_in_page(browser, live_server.url, "ld_pct")
    pdf = _print(page, "/documents/decision?level=district&codes=1.004047,1.001612", tmp_path, "badges")
    sizes = _pdf_pages(pdf)
    texts = [_pdf_text(pdf, k) for k in range(1, len(sizes) + 1)]
    captions = [f"Sơ đồ Quy trình số 01 — {diagram_badge(first)}\n",
                f"Sơ đồ Quy trình số 02 (trang 1/2) — {diagram_badge(second)}\n",
                "Sơ đồ Quy trình số 02 (tiếp theo, trang 2/2)"]
    at = [[k for k, t in enumerate(texts) if c in t] for c in captions]
    assert all(len(ks) == 1 for ks in at), at  # each on one line of one page
    [one], [two], [three] = at
    assert sizes[one] == (297, 210)
    # The page after the first diagram's is the second procedure's heading and table, none in between.
    assert "Quy trình số 02" in texts[one + 1] and "Sơ đồ" not in texts[one + 1]
    assert three == two + 1 == len(texts) - 1 and texts[-1].rstrip().endswith("./.")
