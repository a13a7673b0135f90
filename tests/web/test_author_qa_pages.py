"""The reform office's pages as the office uses them: who saved a draft is named as the other pages name
people (full name, not the sign-in name), and the drafts are listed with their procedures' names."""

from __future__ import annotations

import re

from engine import approval as ap
from engine import services as sv
from tests.conftest import REPO
from tests.web.conftest import PASSWORD, csrf_of, shot, signed_in_page

CODE = "1.001612"
SOURCE = sorted((REPO / "procedures_yaml").rglob(f"{CODE}-*.yaml"))[0].read_text(encoding="utf-8")
SHORTENED = SOURCE.replace("    duration: 1d\n", "    duration: 4h\n", 1)


def _officer(web):
    return sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(),
                       full_name="Phạm Thu Hà", password=PASSWORD)


def test_the_editor_names_who_saved_the_draft_and_the_list_names_the_procedure(web, client_for):
    ap.save_draft(web.store, SHORTENED, actor=_officer(web), now=web.clock())
    office = client_for("noivu_cv")
    editor = office.get(f"/author/procedures/{CODE}").text
    state = editor.split('id="draft-state"', 1)[1].split("</p>", 1)[0]
    assert "bởi Phạm Thu Hà" in state and "noivu_cv" not in state
    home = office.get("/author").text
    drafts = home.split('id="drafts"', 1)[1].split("</table>", 1)[0]
    assert "<th>Tên thủ tục</th>" in drafts and "<td>Đăng ký thành lập hộ kinh doanh</td>" in drafts


def test_in_chromium_the_office_sees_its_own_name_after_saving(web, live_server, browser, tmp_path):
    _officer(web)
    page = signed_in_page(browser, live_server.url, "noivu_cv")
    page.goto(f"/author/procedures/{CODE}")
    page.fill("#text", SHORTENED)
    page.click("#save")
    page.wait_for_selector("#draft-state")
    shot(page, tmp_path, "author-qa-saved")
    assert "bởi Phạm Thu Hà" in page.inner_text("#draft-state")


def test_findings_are_read_in_vietnamese_without_the_rules_english_ids(web, client_for):
    ap.save_draft(web.store, SHORTENED, actor=_officer(web), now=web.clock())
    html = client_for("ld_pct").get(f"/leader/procedures/{CODE}?version=2").text
    findings = html.split('id="findings"', 1)[1].split("</ul>", 1)[0]
    assert 'data-rule="under-limit"' in findings
    text = re.sub(r"<[^>]+>", " ", findings.split(">", 1)[1])
    assert "under-limit" not in text and "Cảnh báo" in text and "dòng 13" in text


def test_in_chromium_the_live_check_names_the_mistake_and_its_line_not_the_rule(web, live_server, browser, tmp_path):
    _officer(web)
    page = signed_in_page(browser, live_server.url, "noivu_cv")
    page.goto(f"/author/procedures/{CODE}")
    issue = "  - id: issue\n    duration: 2h\n"
    assert issue in SOURCE
    page.fill("#text", SOURCE.replace(issue, issue + "    routes:\n      done: delivr\n"))
    page.wait_for_selector("#findings li[data-rule='unknown-target']")
    shot(page, tmp_path, "author-qa-typo")
    items = page.locator("#findings li")
    assert items.count() == 1  # one slip, one finding (no extra-start, no under-limit on the cut path)
    text = items.first.inner_text()
    assert "Lỗi · dòng" in text and "bước issue" in text and "'delivr' không tồn tại" in text
    assert "(Bước" not in text  # the cut path's numbers are not the table's once mended
    assert "unknown-target" not in text
    assert page.inner_text("#counts").strip() == "1 lỗi 0 cảnh báo"


OTHER = "1.001266"  # another district procedure of the catalogue


def test_a_text_naming_another_procedure_is_not_saved_over_that_procedures_draft(web, client_for):
    from html import unescape

    office_actor = _officer(web)
    ap.save_draft(web.store, SHORTENED, actor=office_actor, now=web.clock())  # 1.001612's open draft
    office = client_for("noivu_cv")
    token = csrf_of(office.get(f"/author/procedures/{OTHER}").text)
    # the office edits 1.001266 but the text is 1.001612's (pasted from it, or a slip in code:)
    r = office.post("/author/save", data={"csrf_token": token, "code": OTHER, "text": SOURCE, "draft_number": ""})
    assert r.status_code == 422
    assert unescape(r.text.split('id="text"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]) == SOURCE
    finding = r.text.split('data-rule="other-procedure"', 1)[1].split("</li>", 1)[0]
    line = SOURCE.splitlines().index('code: "1.001612"') + 1
    assert f"dòng {line}, cột" in finding and f"khác thủ tục đang soạn ({OTHER})" in unescape(finding)
    assert "Chưa lưu" in r.text
    assert ap.open_draft(web.store, CODE).text == SHORTENED  # the other procedure's draft is untouched
    assert ap.open_draft(web.store, OTHER) is None
    live = office.post("/author/check", data={"csrf_token": token, "code": OTHER, "text": SOURCE},
                       headers={"Accept": "application/json", "X-CSRF-Token": token}).json()
    assert live["errors"] >= 1 and live["findings"][0]["rule_id"] == "other-procedure"
    # the same text in its own procedure's editor saves
    r = office.post("/author/save", data={"csrf_token": token, "code": CODE, "text": SOURCE, "draft_number": ""},
                    follow_redirects=False)
    assert r.status_code == 303 and ap.open_draft(web.store, CODE).text == SOURCE


def test_a_procedure_known_by_its_file_may_get_its_national_code(web, client_for):
    _officer(web)
    key = "thanh-lap-truong-thcs"
    office = client_for("noivu_cv")
    page = office.get(f"/author/procedures/{key}").text
    token = csrf_of(page)
    from html import unescape

    text = unescape(page.split('id="text"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])
    assert 'code: ""' in text
    taken = office.post("/author/save", data={"csrf_token": token, "code": key, "draft_number": "",
                                              "text": text.replace('code: ""', 'code: "1.001612"', 1)})
    assert taken.status_code == 422 and 'data-rule="other-procedure"' in taken.text  # another procedure's code
    found = office.post("/author/save", data={"csrf_token": token, "code": key, "draft_number": "",
                                              "text": text.replace('code: ""', 'code: "1.999991"', 1)},
                        follow_redirects=False)
    assert found.status_code == 303 and ap.open_draft(web.store, "1.999991") is not None


def test_in_chromium_the_editor_says_at_once_that_the_text_names_another_procedure(web, live_server, browser,
                                                                                     tmp_path):
    _officer(web)
    page = signed_in_page(browser, live_server.url, "noivu_cv")
    page.goto(f"/author/procedures/{OTHER}")
    page.fill("#text", SOURCE)
    page.wait_for_selector("#findings li[data-rule='other-procedure']")
    assert "Lỗi · dòng 3" in page.locator("#findings li").first.inner_text()
    page.click("#save")
    page.wait_for_selector(".flash")
    shot(page, tmp_path, "author-qa-other-procedure")
    assert "Chưa lưu" in page.inner_text(".flash") and page.input_value("#text") == SOURCE
    assert ap.open_draft(web.store, CODE) is None and ap.open_draft(web.store, OTHER) is None


def test_a_draft_waiting_for_the_leader_says_so_before_anything_is_typed(web, client_for):
    office_actor = _officer(web)
    row, _ = ap.save_draft(web.store, SHORTENED, actor=office_actor, now=web.clock())
    office = client_for("noivu_cv")
    assert 'id="save-note"' not in office.get(f"/author/procedures/{CODE}").text
    ap.submit(web.store, CODE, row.number, actor=office_actor, now=web.clock())
    page = office.get(f"/author/procedures/{CODE}").text
    save = page.split('id="save"', 1)[1].split(">", 1)[0]
    assert " disabled" in save
    note = page.split('id="save-note">', 1)[1].split("</p>", 1)[0]
    assert f"Phiên bản {row.number} đang chờ lãnh đạo phê duyệt nên chưa lưu được" in note
    assert 'id="check"' in page  # the text can still be checked


def _leaving_asks(page) -> bool:
    """Whether leaving the page (closing it, as a menu link would) makes the browser ask first."""
    from playwright.sync_api import Error

    try:
        with page.expect_event("dialog", timeout=3000) as info:
            page.close(run_before_unload=True)
    except Error:  # closed without asking (or the wait ran out)
        return False
    dialog = info.value
    kind = dialog.type
    dialog.accept()
    return kind == "beforeunload"


def test_in_chromium_leaving_the_editor_with_unsaved_text_asks_first(web, live_server, browser, tmp_path):
    _officer(web)
    edited = signed_in_page(browser, live_server.url, "noivu_cv")
    edited.goto(f"/author/procedures/{CODE}")
    edited.click("#text")
    edited.keyboard.type("# ghi chú\n")
    assert _leaving_asks(edited)

    untouched = signed_in_page(browser, live_server.url, "noivu_cv")
    untouched.goto(f"/author/procedures/{CODE}")
    untouched.click("#text")
    assert not _leaving_asks(untouched)

    refused = signed_in_page(browser, live_server.url, "noivu_cv")  # a refused save: the text is not saved
    refused.goto(f"/author/procedures/{CODE}")
    refused.fill("#text", SOURCE.replace("  - id: check\n    duration: 4h", "  - id: check\n   duration: 4h"))
    refused.click("#save")
    refused.wait_for_selector(".flash")
    assert "Chưa lưu" in refused.inner_text(".flash")
    refused.click("#text")
    assert _leaving_asks(refused)

    saved = signed_in_page(browser, live_server.url, "noivu_cv")  # saving itself does not ask
    saved.goto(f"/author/procedures/{CODE}")
    saved.fill("#text", SHORTENED)
    asked = []
    saved.on("dialog", lambda d: (asked.append(d.type), d.accept()))
    saved.click("#save")
    saved.wait_for_selector("#draft-state")
    assert asked == [] and ap.open_draft(web.store, CODE).text == SHORTENED
    saved.click("#text")
    assert not _leaving_asks(saved)


def test_a_steps_finding_gives_its_number_in_the_step_table(web, client_for):
    text = SOURCE.replace("  - id: check\n    duration: 4h\n", "  - id: check\n    duration: 0h\n")
    assert text != SOURCE
    ap.save_draft(web.store, text, actor=_officer(web), now=web.clock())
    page = client_for("ld_pct").get(f"/leader/procedures/{CODE}?version=2").text
    finding = page.split('data-rule="zero-duration"', 1)[1].split("</li>", 1)[0]
    number = page.split('<tr id="row-check" data-step="check"', 1)[1].split("<td>", 1)[1].split("</td>", 1)[0]
    assert number.startswith("Bước ")
    assert f"bước <code>check</code> ({number})" in finding
    office = client_for("noivu_cv")
    token = csrf_of(office.get(f"/author/procedures/{CODE}").text)
    live = office.post("/author/check", data={"csrf_token": token, "code": CODE, "text": text},
                       headers={"Accept": "application/json", "X-CSRF-Token": token}).json()
    (f,) = [f for f in live["findings"] if f["rule_id"] == "zero-duration"]
    assert f"Bước {f['step_number']}" == number


def test_in_chromium_the_keys_a_message_names_are_set_as_code_not_between_backticks(web, live_server, browser):
    """The checker writes the YAML keys to type between backticks (`code`, `name`, `steps`): the live check shows
    them as code, as the leader's page does (the "ticks" filter), and no backtick reaches the reader."""
    from quytrinh.web.app import code_ticks

    assert str(code_ticks("điền vào `code` <b>")) == "điền vào <code>code</code> &lt;b&gt;"
    assert str(code_ticks("một dấu ` lẻ")) == "một dấu ` lẻ"  # unpaired: as it is
    _officer(web)
    page = signed_in_page(browser, live_server.url, "noivu_cv")
    page.goto(f"/author/procedures/{CODE}")
    page.fill("#text", "# chưa có gì\n")
    page.wait_for_selector("#findings li[data-rule='yaml-empty']")
    finding = page.locator("#findings li[data-rule='yaml-empty']")
    assert finding.locator("code").all_inner_texts() == ["code", "name", "steps"]
    assert "`" not in finding.inner_text()


def test_the_leaders_page_sets_the_keys_of_a_finding_as_code(client_for):
    page = client_for("ld_pct").get("/leader/procedures/cap-giay-phep-moi-truong-cap-huyen")
    assert page.status_code == 200, page.text[:300]
    finding = re.search(r'<li class="f-warning"[^>]*data-rule="code-missing">(.*?)</li>', page.text, re.S)
    assert finding and "điền vào <code>code</code> — không được tự đặt mã" in finding[1] and "`" not in finding[1]
