"""Usability and accessibility of the pages, checked in headless Chromium (layout, focus, keyboard) and
on the HTML the app serves: a diagram scrolls in its own box, errors sit under the field to fix, the
editor's findings work from the keyboard, the inbox fits a phone, an empty catalogue is explained."""

from __future__ import annotations

import re

from engine import services as sv
from tests.web.conftest import PASSWORD, csrf_of, shot, signed_in_page

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 768}


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _publish_file(web, stem: str):
    """Publish a catalogue file of a procedure that has no national code yet (its key is the file's stem)."""
    from engine.definition import load_catalogue
    from tests.conftest import REPO

    path = next((REPO / "procedures_yaml").rglob(f"{stem}.yaml"))
    defn = load_catalogue([path]).definitions[0]
    sv.publish_definition(web.store, defn, now=web.clock(), by="test")
    return defn


# --------------------------------------------------------------------------- F2, F9: the heatmap


def test_the_heatmap_diagram_scrolls_inside_its_box_not_the_whole_page(live_server, browser, tmp_path):
    for name, viewport in (("desk", DESK), ("phone", PHONE)):
        page = signed_in_page(browser, live_server.url, "tckh_head", viewport=viewport)
        page.goto("/reports/heatmap?code=1.001612")
        box = page.locator("#heatmap")
        box.wait_for()
        shot(page, tmp_path, f"heatmap-{name}")
        assert _page_width(page) <= viewport["width"], name  # the page itself does not scroll sideways
        assert box.evaluate("b => b.scrollWidth > b.clientWidth"), name  # the diagram scrolls in its box
        assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"
        page.context.close()


def test_the_heatmap_names_a_procedure_without_national_code_by_its_name(web, client_for):
    defn = _publish_file(web, "cap-giay-phep-ban-le-san-pham-thuoc-la")
    c = client_for("tckh_head")
    page = c.get("/reports/heatmap?code=" + defn.key).text
    h1 = re.search(r"<h1>(.*?)</h1>", page, re.S)[1]
    assert h1 == "Bản đồ nhiệt quy trình: Cấp Giấy phép bán lẻ sản phẩm thuốc lá"
    options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', page))
    assert options[defn.key] == "Cấp Giấy phép bán lẻ sản phẩm thuốc lá"  # no ASCII file name
    assert options["1.001612"].startswith("1.001612 – ")  # a national code is still shown
    assert defn.key not in h1 and 'id="heatmap"' in page


# --------------------------------------------------------------------------- F5: the duplicate warning's box


def test_the_other_dossier_check_box_stands_before_its_text(live_server, browser, tmp_path):
    page = signed_in_page(browser, live_server.url, "motcua", viewport=DESK)
    for _ in range(2):  # the same applicant twice within ten minutes: the warning and its check box
        page.goto("/receive")
        page.select_option("select[name=procedure]", "1.001612")
        page.fill("input[name=applicant]", "Hộ kinh doanh Đỗ Văn Nam")
        page.click("#receive-form button[type=submit]")
        page.wait_for_load_state()
    page.wait_for_selector("#repeat-warning")
    shot(page, tmp_path, "receive-repeat")
    box = page.locator("#confirm-new").bounding_box()
    label = page.locator("label.confirm").bounding_box()
    assert box["width"] < 30  # a check box, not a full-width field
    assert label["height"] < 2 * box["height"] + 12  # the box and its text on one line
    text_left = page.evaluate("""() => { const r = document.createRange();
        const t = [...document.querySelector('label.confirm').childNodes]
            .find(n => n.nodeType === 3 && n.textContent.trim());
        r.selectNodeContents(t); return r.getBoundingClientRect().left; }""")
    assert box["x"] + box["width"] <= text_left < box["x"] + box["width"] + 20  # the text right after the box
    page.context.close()


# --------------------------------------------------------------------------- F4: the editor from the keyboard


def test_the_editor_field_is_named_and_its_findings_work_from_the_keyboard(live_server, browser, tmp_path):
    sv.add_user(live_server.web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=live_server.web.clock(),
                full_name="Phạm Thu Hà", password=PASSWORD)
    page = signed_in_page(browser, live_server.url, "noivu_cv", viewport=DESK)
    page.goto("/author/procedures/1.001612")
    field = page.get_by_role("textbox", name="Định nghĩa (YAML)")
    assert field.count() == 1 and field.get_attribute("id") == "text"
    text = field.input_value()
    lines = text.split("\n")
    wrong = next(i for i, line in enumerate(lines) if line.startswith("steps:")) + 1
    field.fill(text.replace("\nsteps:", "\nstepz:", 1))
    goto = page.locator(f"#findings li[data-line='{wrong}'] button.goto-line").first
    goto.wait_for()
    shot(page, tmp_path, "editor-findings")
    assert goto.inner_text() == f"Đến dòng {wrong}"
    page.focus("#save")
    for _ in range(30):  # Tab from the buttons reaches the finding's button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('goto-line')"):
            break
    else:
        raise AssertionError("Tab never reached a finding")
    line = int(page.evaluate("document.activeElement.closest('li').dataset.line"))
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "text"
    selected = page.evaluate("(() => { const t = document.getElementById('text');"
                             " return t.value.substring(t.selectionStart, t.selectionEnd); })()")
    assert selected == page.evaluate("document.getElementById('text').value").split("\n")[line - 1]
    page.context.close()


# --------------------------------------------------------------------------- F3: errors under the field


def _focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement;
        const d = (e.getAttribute('aria-describedby') || '').split(' ').filter(Boolean)
                  .map(i => document.getElementById(i)).filter(Boolean).map(x => x.textContent.trim());
        return {name: e.name, invalid: e.getAttribute('aria-invalid'), described: d, value: e.value}; }""")


def test_a_refused_reception_points_at_the_field_and_keeps_the_form(live_server, browser, tmp_path):
    page = signed_in_page(browser, live_server.url, "motcua", viewport=DESK)
    page.goto("/receive")
    page.select_option("select[name=procedure]", "1.001612")
    page.fill("input[name=applicant]", "Hộ kinh doanh Vũ Thị Lan")
    page.fill("input[name=contact]", "0901 222 333")
    page.check("input[name=decision][value=supplement]")
    page.click("#receive-form button[type=submit]")
    page.wait_for_selector("#comment-error")
    shot(page, tmp_path, "receive-supplement-no-text")
    now = _focused(page)
    assert now["name"] == "comment" and now["invalid"] == "true"
    assert now["described"] == [page.locator("#comment-error").inner_text()]
    assert "Yêu cầu bổ sung cần ghi rõ giấy tờ" in now["described"][0]
    # the message is right under the field, not at the top of the page
    field, error = page.locator("#comment").bounding_box(), page.locator("#comment-error").bounding_box()
    assert 0 <= error["y"] - (field["y"] + field["height"]) < 40
    assert page.input_value("input[name=applicant]") == "Hộ kinh doanh Vũ Thị Lan"
    assert page.input_value("input[name=contact]") == "0901 222 333"
    assert page.is_checked("input[name=decision][value=supplement]")
    page.context.close()


def test_a_supplement_without_its_text_points_at_the_comment_and_keeps_the_choice(live_server, browser, tmp_path):
    web = live_server.web
    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Hộ Lê Văn Hải", now=web.clock())
    item = sv.complete(web.store, web.runtime.actor("tckh_head"), res.opened[-1], outcome="done",
                       now=web.clock()).opened[-1]
    from engine.store import dump

    page = signed_in_page(browser, live_server.url, "tckh_cv", viewport=DESK)
    page.goto(f"/items/{item}")
    before = dump(web.store)
    page.fill("#comment", "   ")
    page.click("button[name=outcome][value=supplement]")
    page.wait_for_selector("#comment-error")
    shot(page, tmp_path, "item-supplement-no-text")
    now = _focused(page)
    assert now["name"] == "comment" and now["invalid"] == "true" and now["value"] == "   "
    assert "Hãy ghi rõ giấy tờ" in now["described"][0] and "hồ sơ chưa thay đổi" in now["described"][0]
    assert not page.locator("main > .flash-error").count()  # no banner at the top
    assert dump(web.store) == before  # nothing changed
    page.context.close()


def test_a_withdrawal_or_stop_without_its_text_is_shown_under_that_field(web, client_for):
    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Hộ Phan Văn Ân", now=web.clock())
    c = client_for("motcua")
    page = c.get(f"/dossiers/{res.dossier_code}").text
    version = re.search(r'name="version" value="(\d+)"', page)[1]
    for form, field in (("withdraw", "comment"), ("stop", "reason")):
        r = c.post(f"/dossiers/{res.dossier_code}/{form}", data={"csrf_token": csrf_of(page), "version": version,
                                                                 field: "  "})
        key = f"{form}-{field}"
        assert r.status_code == 422
        assert re.search(rf'<details id="interrupt" open>', r.text)  # the folded card opens on the error
        assert (f'aria-invalid="true" aria-describedby="{key}-error" autofocus>  </textarea></label>\n'
                f'    <p class="field-error" id="{key}-error">Hãy ghi') in r.text
        assert r.text.count('class="field-error"') == 1 and 'class="flash flash-error"' not in r.text


# --------------------------------------------------------------------------- F6: the inbox on a phone


def test_the_inbox_shows_each_items_deadline_and_status_on_a_phone(live_server, browser, tmp_path):
    web = live_server.web
    for name in ("Hộ kinh doanh Nguyễn Văn Bình", "Hộ kinh doanh Trần Thị Cúc"):
        sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant=name, now=web.clock())
    page = signed_in_page(browser, live_server.url, "tckh_head", viewport=PHONE, is_mobile=True, has_touch=True)
    rows = page.locator("#mine tbody tr")
    assert rows.count() == 2
    shot(page, tmp_path, "phone-inbox")
    assert _page_width(page) <= PHONE["width"]
    for i in range(rows.count()):
        row = rows.nth(i)
        for cell in (".remaining", ".badge", "td:nth-child(3)"):
            b = row.locator(cell).bounding_box()
            assert b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"], cell  # on screen, no sideways scroll
        step = row.locator("td:nth-child(3)")
        lines = step.evaluate("td => td.getClientRects()[0].height / parseFloat(getComputedStyle(td).lineHeight)")
        assert lines < 2.5  # the step's name is not one word per line
    assert page.locator("#mine").evaluate("t => t.scrollWidth <= t.clientWidth")
    assert page.locator("header.topbar").bounding_box()["height"] < 120  # it was 170 px of the 844
    page.context.close()


# --------------------------------------------------------------------------- nothing published yet


def test_reception_on_a_database_with_nothing_published_says_who_publishes(tmp_path):
    from fastapi.testclient import TestClient

    from engine.definition import load_units
    from engine.store import init_db
    from quytrinh.web.app import create_app
    from tests.conftest import REPO, T0
    from tests.web.conftest import SECRET, sign_in

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    store = init_db(url)
    sv.seed_organisation(store, load_units(str(REPO / "procedures_yaml" / "units.yaml")))
    sv.add_user(store, "motcua", unit="bp_mot_cua", role="staff", now=T0, full_name="Nguyễn Thu Trang",
                password=PASSWORD)
    app = create_app(url, secret=SECRET)
    try:
        with TestClient(app) as c:
            assert sign_in(c, "motcua").status_code == 303
            page = c.get("/receive").text
    finally:
        app.state.store.dispose()
        store.dispose()
    note = re.search(r'<div class="card" id="nothing-to-receive" role="status">(.*?)</div>', page, re.S)
    assert note and "Chưa có thủ tục nào được công bố" in note[1]
    assert "Phòng Nội vụ" in note[1] and "phê duyệt" in note[1]
    assert "<code>quytrinh publish</code>" in note[1]  # what the administrator runs to load the shipped catalogue
    assert 'id="receive-form"' not in page  # no form with an empty list of procedures


def test_reception_by_someone_whose_unit_receives_nothing_says_so(web, client_for):
    sv.add_user(web.store, "motcua_tp", unit="bp_mot_cua", role="head", now=web.clock(), full_name="Đinh Văn Khoa",
                password=PASSWORD)
    page = client_for("motcua_tp").get("/receive").text
    note = re.search(r'id="nothing-to-receive" role="status">(.*?)</div>', page, re.S)[1]
    assert "Chưa có thủ tục nào do" in note and "Bộ phận" in note and "Chưa có thủ tục nào được công bố" not in note
