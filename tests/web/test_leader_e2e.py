"""End to end in headless Chromium against a real uvicorn server: the reform office shortens a step
with live validation, submits; a leader sees the change on the diagram and approves it; the
version is frozen and a running dossier keeps its version."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from engine import approval as ap
from engine import services as sv
from engine.store import Dossier
from tests.conftest import REPO
from tests.web.conftest import PASSWORD, shot, signed_in_page

CODE = "1.001612"
SOURCE = sorted((REPO / "procedures_yaml").rglob(f"{CODE}-*.yaml"))[0].read_text(encoding="utf-8")


def _sign_in(browser, base: str, username: str, javascript: bool = True):
    return signed_in_page(browser, base, username, viewport={"width": 1400, "height": 1000},
                          java_script_enabled=javascript)


def test_reform_office_edits_and_a_leader_approves(live_server, browser, tmp_path):
    web = live_server.web
    store = web.store
    sv.add_user(store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(), full_name="Phạm Thu Hà",
                password=PASSWORD)
    # A dossier received under version 1 is running while the process changes.
    running = sv.receive(store, web.runtime.actor("motcua"), CODE, applicant="Nguyễn Văn Bình", now=web.clock())

    # --- the reform office edits the appraisal step: 1 day -> 4 hours
    author = _sign_in(browser, live_server.url, "noivu_cv")
    author.click("text=Soạn quy trình")
    author.click(f"#entries a[href='/author/procedures/{CODE}']")
    author.wait_for_selector("#preview svg")
    assert author.locator("#text").input_value() == SOURCE

    # a typo first: the live check reports it with its line, and the preview stays
    broken = SOURCE.replace("    duration: 1d\n", "    duration: mot ngay\n", 1)
    line = broken.splitlines().index("    duration: mot ngay") + 1
    author.fill("#text", broken)
    author.wait_for_selector(f"#findings li.f-error[data-line='{line}']")
    assert f"dòng {line}" in author.locator("#findings").inner_text()
    assert author.locator("#counts").inner_text().startswith("1 lỗi")
    assert "chưa đọc được" in author.locator("#live-status").inner_text()
    shot(author, tmp_path, "author-1-live-error")

    shortened = SOURCE.replace("    duration: 1d\n", "    duration: 4h\n", 1)
    author.fill("#text", shortened)
    author.wait_for_selector("#findings li[data-rule='under-limit']")
    finding = author.locator("#findings li[data-rule='under-limit']")
    assert finding.get_attribute("data-line") == "13" and "dòng 13" in finding.inner_text()
    assert author.locator("#findings li.f-error").count() == 0
    assert "0 lỗi" in author.locator("#live-status").inner_text()
    assert author.locator("#preview svg").count() == 1
    shot(author, tmp_path, "author-2-live-ok")

    author.click("#save")
    author.wait_for_selector("#submit")
    assert "Đã lưu dự thảo phiên bản 2" in author.locator(".flash-success").inner_text()
    author.locator("#text").press("End")
    author.locator("#text").type("# chưa lưu")
    assert author.locator("#submit").is_disabled()  # edited, not saved: what would be submitted is not on screen
    assert "chưa lưu" in author.locator("#submit-note").inner_text()
    author.fill("#text", shortened)  # back to the saved text
    assert author.locator("#submit").is_enabled()
    author.click("#submit")
    author.wait_for_url(re.compile(rf".*/leader/procedures/{re.escape(CODE)}\?version=2$"))
    assert "Đã trình lãnh đạo UBND phê duyệt phiên bản 2" in author.content()
    assert author.locator("#approve-form").count() == 0  # the reform office cannot decide

    # --- a leader reviews: the changed step is highlighted on the diagram and in the table
    leader = _sign_in(browser, live_server.url, "ld_pct")
    leader.click("text=Phê duyệt quy trình")
    leader.wait_for_url(re.compile(r".*/leader$"))  # loaded: count() below does not wait
    assert leader.locator("#pending tbody tr").count() == 1
    assert leader.locator("#catalogue tbody tr").count() > 80
    shot(leader, tmp_path, "leader-0-catalogue", full_page=False)
    leader.click(f"#pending a[href='/leader/procedures/{CODE}?version=2']")
    leader.wait_for_selector("#diagram svg")
    svg = leader.locator("#diagram svg")
    assert "Bước thay đổi" in svg.inner_html()
    node = svg.locator("#step-appraise")
    assert node.count() == 1 and "#fdebd0" in node.inner_html()  # the 'changed' fill
    row = leader.locator("#row-appraise")
    assert row.get_attribute("data-mark") == "changed" and "0,5 ngày" in row.inner_text()
    assert leader.locator("#step-table tbody tr[data-step]").count() == len(ap.check_text(SOURCE).definition.steps)
    assert "Chuyên viên — Phòng Tài chính – Kế hoạch" in row.inner_text()
    assert "dòng 13" in leader.locator("#findings").inner_text()
    shot(leader, tmp_path, "leader-1-review")

    leader.fill("#decision_number", "125/QĐ-UBND")
    leader.fill("#decision_date", "2026-03-09")
    leader.click("#approve")
    leader.wait_for_selector("#frozen")
    assert "Số 125/QĐ-UBND ngày 09/03/2026" in leader.locator("#decision").inner_text()
    assert "Phê duyệt" in leader.locator("#history").inner_text()
    shot(leader, tmp_path, "leader-2-approved")

    # --- frozen, in force for new dossiers; the running dossier keeps version 1
    version, defn = sv.current_definition(store, CODE)
    assert version.version == 2 and defn.step("appraise").duration == 240
    assert (defn.approval.decision, defn.approval.date.isoformat()) == ("125/QĐ-UBND", "2026-03-09")
    with pytest.raises(ap.ApprovalError):
        ap.send_back(store, CODE, 2, actor=web.runtime.actor("ld_pct"), comment="x", now=web.clock())
    later = sv.receive(store, web.runtime.actor("motcua"), CODE, applicant="Lê Thị Cúc", now=web.clock())
    with store.session() as s:
        assert s.exec(select(Dossier).where(Dossier.code == running.dossier_code)).one().definition_version == 1
        assert s.exec(select(Dossier).where(Dossier.code == later.dossier_code)).one().definition_version == 2
    assert sv.dossier_sheet(store, running.dossier_code).definition.step("appraise").duration == 480

    # the next edit starts from the approved text and becomes version 3; version 2 is untouched
    author.goto(f"/author/procedures/{CODE}")
    assert author.locator("#text").input_value() == shortened
    author.fill("#text", SOURCE)
    author.click("#save")
    author.wait_for_selector("#submit")
    assert ap.get_draft(store, CODE, 3).status == ap.DRAFT
    assert ap.get_draft(store, CODE, 2).text == shortened


def test_the_editor_works_without_javascript(live_server, browser, tmp_path):
    web = live_server.web
    sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(), password=PASSWORD)
    page = _sign_in(browser, live_server.url, "noivu_cv", javascript=False)
    page.goto(f"/author/procedures/{CODE}")
    broken = SOURCE.replace("    duration: 1d\n", "    duration: mot ngay\n", 1)
    line = broken.splitlines().index("    duration: mot ngay") + 1
    page.fill("#text", broken)
    page.click("#check")  # a plain form post: the page comes back checked, the text kept
    page.wait_for_selector(f"#findings li.f-error[data-line='{line}']")
    assert page.locator("#text").input_value() == broken
    assert f"dòng {line}" in page.locator("#findings").inner_text()
    page.fill("#text", SOURCE.replace("    duration: 1d\n", "    duration: 4h\n", 1))
    page.click("#save")
    page.wait_for_selector("#submit")
    assert ap.get_draft(web.store, CODE, 2).status == ap.DRAFT
    edited = SOURCE.replace("    duration: 1d\n", "    duration: 3h\n", 1)
    page.fill("#text", edited)
    page.click("#submit")  # without the script the button is live: the server sees the text is not the saved one
    page.wait_for_selector(".flash-error")
    assert "khác bản đã lưu" in page.locator(".flash-error").inner_text()
    assert page.locator("#text").input_value() == edited and ap.get_draft(web.store, CODE, 2).status == ap.DRAFT
    shot(page, tmp_path, "author-3-no-javascript", full_page=False)
