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
