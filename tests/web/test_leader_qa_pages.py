"""The leader's procedure page as a leader reads it (HTTP and headless chromium): the diagram's header, its
step boxes, the step table and its foot say each amount in one unit."""

from __future__ import annotations

import re

from engine.documents import working_time_text
from engine.graph import critical_path
from engine.render import total_text
from engine import approval as ap
from engine.services import definition_of
from tests.web.conftest import shot, signed_in_page

SAME_DAY = "1.001193"  # a commune's same-day procedure the test runtime publishes


def test_the_leaders_page_says_the_same_figures_as_its_diagram(web, client_for):
    html = client_for("ld_pct").get(f"/leader/procedures/{SAME_DAY}").text
    defn = definition_of(ap.published_versions(web.store, SAME_DAY)[0])
    assert defn.time_limit.unit == "same_day"
    total = total_text(critical_path(defn).minutes, defn.time_limit)
    assert total == "2 giờ"
    assert f"Thời gian giải quyết: tổng {total} /" in html
    foot = html.split('id="allocated">', 1)[1].split("<", 1)[0]
    assert foot.startswith(f"{total} / thời hạn trong ngày")
    cells = re.findall(r'<tr id="row-([\w-]+)" data-step="[\w-]+"[^>]*>\s*<td>[^<]*</td>\s*<td>.*?</td>\s*'
                       r'<td>[^<]*</td>\s*<td>([^<]*)</td>', html, flags=re.S)
    assert cells
    for step_id, time in cells:
        step = defn.step(step_id)
        if not step.paused:
            assert time == working_time_text(step.duration, defn.time_limit)
            assert "ngày" not in time and "0,5 giờ" not in time, (step_id, time)


def test_in_chromium_each_row_of_the_step_table_reads_as_its_box_in_the_diagram(live_server, browser, tmp_path):
    page = signed_in_page(browser, live_server.url, "ld_pct")
    page.goto(f"/leader/procedures/{SAME_DAY}")
    shot(page, tmp_path, "leader-qa-same-day")
    rows = page.eval_on_selector_all(
        "#step-table tbody tr[data-step]",
        "rows => rows.map(r => [r.dataset.step, r.cells[3].innerText.trim()])")
    assert rows
    boxes = dict(page.eval_on_selector_all(
        ".diagram g.node", "gs => gs.map(g => [g.querySelector('title').textContent, g.textContent])"))
    for step_id, time in rows:
        if time == "Không tính thời gian":
            continue
        assert time.removesuffix(" làm việc") in boxes[step_id], (step_id, time, boxes[step_id])
    assert page.inner_text("#allocated").startswith("2 giờ / thời hạn trong ngày")


def test_the_decisions_word_file_is_named_in_vietnamese(client_for):
    leader = client_for("ld_pct")
    for level, name in (("district", "du-thao-quyet-dinh-cap-huyen.docx"), ("commune", "du-thao-quyet-dinh-cap-xa.docx")):
        code = "1.001612" if level == "district" else "1.001193"
        r = leader.get(f"/documents/decision?level={level}&codes={code}&format=docx")
        assert r.status_code == 200, r.text[:300]
        assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
        assert r.content[:2] == b"PK"


def test_the_version_in_force_names_the_decision_that_approved_it(web, client_for):
    import datetime as dt

    from engine import services as sv
    from tests.conftest import REPO

    code = "1.001612"
    leader = client_for("ld_pct")
    before = leader.get(f"/leader/procedures/{code}").text
    assert "chưa có (phiên bản đang áp dụng chưa được phê duyệt)" in before.split('id="decision"', 1)[1][:200]
    office = sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(),
                         full_name="Phạm Thu Hà", password="x" * 12)
    text = sorted((REPO / "procedures_yaml").rglob(f"{code}-*.yaml"))[0].read_text(encoding="utf-8")
    row, _ = ap.save_draft(web.store, text, actor=office, now=web.clock())
    ap.submit(web.store, code, row.number, actor=office, now=web.clock())
    ap.approve(web.store, code, row.number, actor=web.runtime.actor("ld_pct"), decision_number="125/QĐ-UBND",
               decision_date=dt.date(2026, 3, 9), now=web.clock())
    page = leader.get(f"/leader/procedures/{code}").text  # no version asked: the one in force
    decision = page.split('id="decision"', 1)[1].split("</dd>", 1)[0]
    assert "Số 125/QĐ-UBND ngày 09/03/2026" in decision
    assert f"Phiên bản {row.number} đang áp dụng" in page


def test_in_chromium_a_wide_diagram_can_be_seen_whole_in_its_box(live_server, browser, tmp_path):
    page = signed_in_page(browser, live_server.url, "ld_pct", viewport={"width": 1366, "height": 900})
    page.goto("/leader/procedures/1.001612")  # its diagram is about 2,6 times wider than the box

    def widths():
        return page.eval_on_selector("#diagram", "d => [d.clientWidth, d.scrollWidth, "
                                                  "d.querySelector('svg').getBoundingClientRect().width]")

    box, scrolled, svg = widths()
    assert scrolled > 1.5 * box and svg > 1.5 * box  # natural size first: readable, scrolled in its box
    page.click("label[for=fit-diagram]")
    shot(page, tmp_path, "leader-qa-fit")
    box, scrolled, svg = widths()
    assert svg <= box and scrolled <= box + 1
    page.click("label[for=fit-diagram]")
    assert widths()[2] > 1.5 * box
