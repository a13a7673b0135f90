"""Leader and reform-office pages over HTTP: catalogue, procedure page, live check, save, submit,
approve, send back; CSRF and roles."""

from __future__ import annotations

import datetime as dt

import pytest

from engine import approval as ap
from engine import services as sv
from tests.conftest import REPO
from tests.web.conftest import PASSWORD, csrf_of

CODE = "1.001612"
SOURCE = sorted((REPO / "procedures_yaml").rglob(f"{CODE}-*.yaml"))[0].read_text(encoding="utf-8")
SHORTENED = SOURCE.replace("    duration: 1d\n", "    duration: 4h\n", 1)


@pytest.fixture
def reform(web):
    """A reform-office officer (Phòng Nội vụ) who can sign in."""
    return sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(),
                       full_name="Phạm Thu Hà", password=PASSWORD)


def revision_of(html: str) -> str:
    """The draft revision a leader's page carries in its decision forms (the content reviewed)."""
    return html.split('name="revision" value="', 1)[1].split('"', 1)[0]


def submitted(web, reform) -> ap.DefinitionDraft:
    row, _ = ap.save_draft(web.store, SHORTENED, actor=reform, now=web.clock())
    return ap.submit(web.store, CODE, row.number, actor=reform, now=web.clock())


def test_catalogue_lists_procedures_with_status_and_findings(web, reform, client_for):
    submitted(web, reform)
    page = client_for("ld_pct").get("/leader")
    assert page.status_code == 200
    html = page.text
    assert "Chờ phê duyệt (1)" in html and f'href="/leader/procedures/{CODE}?version=2"' in html
    assert "Phiên bản 1" in html  # the three seeded procedures are in force at version 1
    assert "1.001193" in html and "Thủ tục đăng ký khai sinh" in html
    assert html.count('data-code="') > 80  # the whole catalogue, not only the database
    assert "cảnh báo" in html  # the shortened draft leaves part of the limit unallocated


def test_procedure_page_shows_diagram_table_findings_and_history(web, reform, client_for):
    row = submitted(web, reform)
    html = client_for("ld_pct").get(f"/leader/procedures/{CODE}").text
    assert f"Phiên bản {row.number}" in html and "Chờ phê duyệt" in html
    assert "<svg" in html and "Bước thay đổi" in html  # the appraisal step is highlighted
    assert 'id="row-appraise" data-step="appraise" class="m-changed"' in html
    # the table: step, content, responsibility (unit + role title), time, forms
    assert "Chuyên viên — Phòng Tài chính – Kế hoạch" in html and "<td>0,5 ngày làm việc</td>" in html
    assert "BM0" not in html and "Mẫu 01: Giấy tiếp nhận hồ sơ và hẹn trả kết quả" in html  # as the annex names it
    assert "under-limit" in html and "dòng 13" in html
    assert "Trình phê duyệt" in html and "Tạo dự thảo" in html
    assert 'id="approve-form"' in html and 'id="send-back-form"' in html


def test_approve_records_the_decision_and_freezes(web, reform, client_for):
    row = submitted(web, reform)
    c = client_for("ld_pct")
    page = c.get(f"/leader/procedures/{CODE}").text
    token, revision = csrf_of(page), revision_of(page)
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/approve",
               data={"csrf_token": token, "revision": revision, "decision_number": "125/QĐ-UBND",
                     "decision_date": "2026-03-09"},
               follow_redirects=True)
    assert r.status_code == 200
    assert "Đã phê duyệt phiên bản 2 theo Quyết định số 125/QĐ-UBND ngày 09/03/2026" in r.text
    assert 'id="frozen"' in r.text and "Số 125/QĐ-UBND ngày 09/03/2026" in r.text
    assert "· Phạm Thu Hà</div>" in r.text and "· noivu_cv</div>" not in r.text  # the history names people
    version, defn = sv.current_definition(web.store, CODE)
    assert version.version == 2 and defn.approval.decision == "125/QĐ-UBND"
    # approving again is refused with a Vietnamese message, nothing changes
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/approve",
               data={"csrf_token": token, "revision": revision, "decision_number": "126/QĐ-UBND",
                     "decision_date": "2026-03-10"})
    assert "chỉ phiên bản đã trình mới phê duyệt được" in r.text
    assert ap.get_draft(web.store, CODE, row.number).decision_number == "125/QĐ-UBND"


def test_send_back_with_a_comment(web, reform, client_for):
    row = submitted(web, reform)
    c = client_for("ld_pct")
    page = c.get(f"/leader/procedures/{CODE}").text
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/send-back",
               data={"csrf_token": csrf_of(page), "revision": revision_of(page), "comment": "Giữ thẩm định 1 ngày"})
    assert "Đã trả lại phiên bản 2" in r.text
    assert ap.get_draft(web.store, CODE, row.number).status == ap.DRAFT
    page = client_for("noivu_cv").get(f"/author/procedures/{CODE}").text
    assert "Ý kiến lãnh đạo khi trả lại: Giữ thẩm định 1 ngày" in page


def test_approve_without_csrf_token_is_refused(web, reform, client_for):
    row = submitted(web, reform)
    c = client_for("ld_pct")
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/approve",
               data={"decision_number": "125/QĐ-UBND", "decision_date": "2026-03-09"})
    assert r.status_code == 403 and "mã chống giả mạo" in r.text
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/approve",
               data={"csrf_token": "forged", "decision_number": "125/QĐ-UBND", "decision_date": "2026-03-09"})
    assert r.status_code == 403
    assert ap.get_draft(web.store, CODE, row.number).status == ap.SUBMITTED


@pytest.mark.parametrize("who", ["motcua", "tckh_head", "noivu_cv"])
def test_only_leaders_may_approve(web, reform, client_for, who):
    row = submitted(web, reform)
    c = client_for(who)
    token = csrf_of(c.get("/inbox").text)
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/approve",
               data={"csrf_token": token, "decision_number": "1/QĐ-UBND", "decision_date": "2026-03-09"})
    assert r.status_code == 403
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/send-back", data={"csrf_token": token, "comment": "x"})
    assert r.status_code == 403
    assert ap.get_draft(web.store, CODE, row.number).status == ap.SUBMITTED


def test_staff_cannot_see_the_leader_or_author_pages(client_for):
    c = client_for("motcua")
    assert c.get("/leader").status_code == 403
    assert c.get("/author").status_code == 403
    assert c.get(f"/leader/procedures/{CODE}").status_code == 403
    assert "Phê duyệt quy trình" not in c.get("/inbox").text
    assert "Phê duyệt quy trình" in client_for("ld_pct").get("/inbox").text


def test_check_endpoint_gives_findings_with_lines_and_a_preview(web, reform, client_for):
    c = client_for("noivu_cv")
    page = c.get(f"/author/procedures/{CODE}")
    assert page.status_code == 200 and 'id="editor-form"' in page.text and "<svg" in page.text
    token = csrf_of(page.text)
    r = c.post("/author/check", data={"text": SHORTENED, "csrf_token": token},
               headers={"accept": "application/json"})
    data = r.json()
    assert data["loads"] and data["errors"] == 0 and data["warnings"] == 1
    assert data["findings"][0]["line"] == 13 and data["findings"][0]["severity_label"] == "Cảnh báo"
    assert data["svg"].startswith("<svg")
    broken = SOURCE.replace("    duration: 2h\n", "    duration: hai giờ\n", 1)
    data = c.post("/author/check", data={"text": broken, "csrf_token": token},
                  headers={"accept": "application/json"}).json()
    line = broken.splitlines().index("    duration: hai giờ") + 1
    assert not data["loads"] and data["svg"] is None and data["findings"][0]["line"] == line
    # without JavaScript: the same form answers with the page
    r = c.post("/author/check", data={"text": broken, "csrf_token": token})
    assert r.status_code == 200 and f"dòng {line}" in r.text and "hai giờ" in r.text
    # without the token: refused
    assert c.post("/author/check", data={"text": SHORTENED}).status_code == 403


def test_save_keeps_a_broken_text_and_submit_sends_it_to_the_leaders(web, reform, client_for):
    c = client_for("noivu_cv")
    token = csrf_of(c.get(f"/author/procedures/{CODE}").text)
    broken = SOURCE.replace("    duration: 2h\n", "    duration: hai giờ\n", 1)
    r = c.post("/author/save", data={"text": broken, "csrf_token": token, "code": CODE})
    assert r.status_code == 422 and "Chưa lưu" in r.text and "duration: hai giờ" in r.text
    assert ap.drafts(web.store, CODE) == []
    r = c.post("/author/save", data={"text": SHORTENED, "csrf_token": token, "code": CODE})
    assert r.status_code == 200 and "Đã lưu dự thảo phiên bản 2" in r.text and 'id="submit"' in r.text
    edited = SHORTENED.replace("duration: 4h", "duration: 3h", 1)  # on screen, not saved: nothing is submitted
    r = c.post(f"/author/procedures/{CODE}/2/submit", data={"csrf_token": token, "text": edited})
    assert r.status_code == 409 and "khác bản đã lưu" in r.text and "duration: 3h" in r.text
    assert ap.get_draft(web.store, CODE, 2).status == ap.DRAFT
    r = c.post(f"/author/procedures/{CODE}/2/submit", data={"csrf_token": token, "text": SHORTENED})
    assert r.status_code == 200 and "Đã trình lãnh đạo UBND phê duyệt phiên bản 2" in r.text
    assert ap.get_draft(web.store, CODE, 2).status == ap.SUBMITTED
    # a leader cannot write drafts
    lc = client_for("ld_pct")
    assert lc.post("/author/save", data={"text": SHORTENED, "csrf_token": csrf_of(lc.get("/inbox").text)}
                   ).status_code == 403


def test_a_procedure_without_national_code_is_drafted_and_approved_under_its_key(web, reform, client_for):
    key = "cap-giay-phep-ban-le-san-pham-thuoc-la"  # code: "" in the catalogue: never invent one
    c = client_for("noivu_cv")
    html = c.get(f"/author/procedures/{key}").text
    text = (REPO / "procedures_yaml" / "district" / f"{key}.yaml").read_text(encoding="utf-8")
    assert 'code: ""' in text
    r = c.post("/author/save", data={"text": text.replace("duration: 4h", "duration: 3h", 1),
                                     "csrf_token": csrf_of(html), "code": key})
    assert r.status_code == 200, r.text
    row = ap.open_draft(web.store, key)
    assert row is not None and f"Đã lưu dự thảo phiên bản {row.number} của thủ tục {key}" in r.text
    assert f"Phiên bản {row.number} · Trạng thái: Dự thảo" in r.text  # the preview tells the draft's own number
    ap.submit(web.store, key, row.number, actor=reform, now=web.clock())
    lc = client_for("ld_pct")
    page = lc.get(f"/leader/procedures/{key}").text
    r = lc.post(f"/leader/procedures/{key}/{row.number}/approve",
                data={"csrf_token": csrf_of(page), "revision": revision_of(page),
                      "decision_number": "130/QĐ-UBND", "decision_date": "2026-03-09"}, follow_redirects=True)
    assert "Đã phê duyệt phiên bản" in r.text
    version, defn = sv.current_definition(web.store, key)
    assert version.version == row.number and defn.approval.decision == "130/QĐ-UBND" and defn.code == ""
    # a text that names no procedure at all (an upload without code) is refused, in Vietnamese, nothing saved
    r = c.post("/author/save", data={"text": text, "csrf_token": csrf_of(html), "code": ""})
    assert r.status_code == 422 and "chưa có mã TTHC (code)" in r.text and "không tự đặt mã" in r.text


def test_upload_opens_the_file_in_the_editor(web, reform, client_for):
    c = client_for("noivu_cv")
    token = csrf_of(c.get("/author").text)
    r = c.post("/author/upload", data={"csrf_token": token},
               files={"file": ("ho-kinh-doanh.yaml", SHORTENED.encode("utf-8"), "application/x-yaml")})
    assert r.status_code == 200 and "duration: 4h" in r.text and "under-limit" in r.text
    assert ap.drafts(web.store, CODE) == []  # uploading does not save
    r = c.post("/author/upload", data={"csrf_token": token},
               files={"file": ("x.yaml", b"\xff\xfe\x00bad", "application/x-yaml")})
    assert "UTF-8" in r.text


def test_a_removed_step_is_drawn_back_and_errors_block_approval(web, reform, client_for):
    # removing the supplement step leaves appraise's route to it dangling: a lint error
    text = SOURCE.replace("steps:\n", "remove_steps: [supplement]\nsteps:\n", 1)
    row, findings = ap.save_draft(web.store, text, actor=reform, now=web.clock())
    assert row.errors == 1
    c = client_for("noivu_cv")  # the server refuses what the page greys out
    r = c.post(f"/author/procedures/{CODE}/{row.number}/submit", data={"csrf_token": csrf_of(c.get("/author").text)})
    assert "còn 1 lỗi kiểm tra: hãy sửa trước khi trình lãnh đạo" in r.text
    assert ap.get_draft(web.store, CODE, row.number).status == ap.DRAFT
    with web.store.session() as s:  # submitted before submit() checked (older data): the leader's page still guards
        draft = s.get(ap.DefinitionDraft, row.id)
        draft.status = ap.SUBMITTED
        s.add(draft)
        s.commit()
    c = client_for("ld_pct")
    html = c.get(f"/leader/procedures/{CODE}").text
    assert 'id="row-supplement" data-step="supplement" class="m-removed"' in html
    assert "Bước bị bỏ" in html.split('id="diagram"', 1)[1].split("</svg>", 1)[0]
    assert "− 1 bước bị bỏ" in html
    assert 'id="approve" disabled' in html and "unknown-target" in html
    r = c.post(f"/leader/procedures/{CODE}/{row.number}/approve",
               data={"csrf_token": csrf_of(html), "revision": revision_of(html), "decision_number": "1/QĐ-UBND",
                     "decision_date": "2026-03-09"})
    assert "còn 1 lỗi kiểm tra" in r.text
    assert ap.get_draft(web.store, CODE, row.number).status == ap.SUBMITTED
    assert sv.current_definition(web.store, CODE)[0].version == 1


def test_the_draft_decision_page_leaves_out_a_procedure_approved_in_the_app(web, reform, client_for):
    row = submitted(web, reform)
    c = client_for("ld_pct")
    assert f"(Mã TTHC: {CODE})" in c.get("/documents/decision?level=district").text
    ap.approve(web.store, CODE, row.number, actor=web.runtime.actor("ld_pct"), decision_number="125/QĐ-UBND",
               decision_date=dt.date(2026, 3, 9), now=web.clock())
    page = c.get("/documents/decision?level=district").text
    assert f"(Mã TTHC: {CODE})" not in page and "(Mã TTHC: 1.013225)" in page
    ap.save_draft(web.store, SOURCE, actor=reform, now=web.clock())
    page = c.get(f"/documents/decision?level=district&codes={CODE}").text
    assert f"(Mã TTHC: {CODE})" in page and "đang soạn, chưa trình lãnh đạo" in page


def _table_rows(html: str) -> list[tuple[str, str]]:
    """(first cell, step id or case heading) of each row of the page's step table."""
    import re

    table = html.split('id="step-table"', 1)[1].split("</tbody>", 1)[0]
    out = []
    for m in re.finditer(r'<tr id="row-([^"]+)"[^>]*>\s*<td>([^<]*)</td>|<tr class="case"><th[^>]*><i>([^<]*)</i>', table):
        out.append((m.group(2), m.group(1)) if m.group(1) else ("", m.group(3)))
    return out


def test_the_step_table_numbers_steps_as_the_annex_the_leader_signs(web, reform, client_for):
    from engine.documents import FORMS_2025, annex_rows, produces_text

    submitted(web, reform)
    html = client_for("ld_pct").get(f"/leader/procedures/{CODE}").text
    units, templates = ap.catalogue_context(REPO / "procedures_yaml")
    defn = ap.check_text(SHORTENED, file=f"{CODE}.yaml", templates=templates, units=units).definition
    expected = [(r.label, r.step.id) if r.step else ("", r.label) for r in annex_rows(defn) if r.kind != "total"]
    assert _table_rows(html) == expected
    # the main path first (file order put the refusal and supplementation steps between them)
    assert expected[:3] == [("Bước 1", "receive"), ("Bước 2", "assign"), ("Bước 3", "appraise")]
    assert ("", "a) Đối với trường hợp hồ sơ chưa đầy đủ, hợp lệ, cần bổ sung, hoàn thiện") in expected
    ledger = next(s for s in defn.steps if any(p.upper() == "BM06" for p in s.produces))
    assert "Mẫu 07: Sổ theo dõi hồ sơ" in produces_text(ledger, FORMS_2025)
    row = html.split(f'id="row-{ledger.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Mẫu 07: Sổ theo dõi hồ sơ" in row and "BM06" not in row


def test_a_diff_header_and_foot_give_the_new_version_total_in_days(web, reform, client_for):
    # the new version drops the head's check, while the drawing puts it back
    text = SOURCE.replace("steps:\n", "remove_steps: [check]\nsteps:\n", 1)
    text = text.replace("  - id: check\n    duration: 4h\n", "")
    row, _ = ap.save_draft(web.store, text, actor=reform, now=web.clock())
    html = client_for("ld_pct").get(f"/leader/procedures/{CODE}?version={row.number}").text
    svg = html.split('id="diagram"', 1)[1].split("</svg>", 1)[0]
    assert 'class="m-removed"' in html
    from engine.graph import critical_path
    from engine.render import total_text

    units, templates = ap.catalogue_context(REPO / "procedures_yaml")
    new = ap.check_text(text, file=f"{CODE}.yaml", templates=templates, units=units).definition
    total = total_text(critical_path(new).minutes, new.time_limit)
    assert total != "3 ngày làm việc"  # the merged drawing's total (the check put back)
    foot = html.split('id="allocated">', 1)[1].split("<", 1)[0]
    assert foot == f"{total} / thời hạn 3 ngày làm việc"
    assert f"tổng {total} / thời hạn 3 ngày làm việc" in svg
    assert "giờ / thời hạn" not in svg and "tổng 3 ngày" not in svg


def _name_user(web, username: str, full_name: str) -> None:
    from sqlmodel import select

    from engine.store import User

    with web.store.session() as s:
        u = s.exec(select(User).where(User.username == username)).one()
        u.full_name = full_name
        s.add(u)
        s.commit()


def test_people_are_named_and_only_the_version_in_force_is_in_use(web, reform, client_for):
    _name_user(web, "ld_pct", "Nguyễn Văn Bình")
    row = submitted(web, reform)
    c = client_for("ld_pct")
    pending = c.get("/leader").text.split('id="pending"', 1)[1].split("</table>", 1)[0]
    assert "<td>Phạm Thu Hà</td>" in pending and "noivu_cv" not in pending
    page = c.get(f"/leader/procedures/{CODE}").text
    assert 'min="' not in page.split('id="decision_date"', 1)[1].split(">", 1)[0]  # no approved version yet
    ap.approve(web.store, CODE, row.number, actor=web.runtime.actor("ld_pct"), decision_number="125/QĐ-UBND",
               decision_date=dt.date(2026, 3, 9), now=web.clock())
    versions = c.get(f"/leader/procedures/{CODE}").text.split('id="versions"', 1)[1].split("</table>", 1)[0]
    rows = versions.split("<tr>")[2:]
    assert "<td>2</td><td>Đã phê duyệt</td>" in rows[0] and "Nguyễn Văn Bình" in rows[0] and "ld_pct" not in rows[0]
    assert "<td>1</td>" in rows[1] and "đang dùng" not in rows[1] and "đã được thay thế" in rows[1]
    # a later decision cannot be dated before the one in force: the date picker starts there
    again = ap.submit(web.store, CODE, ap.save_draft(web.store, SOURCE, actor=reform, now=web.clock())[0].number,
                      actor=reform, now=web.clock())
    page = c.get(f"/leader/procedures/{CODE}?version={again.number}").text
    picker = page.split('id="decision_date"', 1)[1].split(">", 1)[0]
    assert 'min="2026-03-09"' in picker and 'max="2026-03-10"' in picker


def test_a_procedure_without_national_code_does_not_show_its_file_key_as_the_code(web, client_for):
    key = "cap-giay-phep-ban-le-san-pham-thuoc-la"
    page = client_for("ld_pct").get(f"/leader/procedures/{key}").text
    code = page.split('id="national-code">', 1)[1].split("</dd>", 1)[0]
    assert f"chưa có (tệp: {key})" in code
    assert client_for("ld_pct").get(f"/leader/procedures/{CODE}").text.split(
        'id="national-code">', 1)[1].startswith(f"{CODE}</dd>")


def test_a_version_resubmitted_after_the_page_was_opened_is_not_approved_from_that_page(web, reform, client_for):
    """Audit 7e #1: ld_pct opens version 2 (text A); meanwhile another leader sends it back, the reform office
    edits it (text B) and submits it again under the same number 2; ld_pct's approval from the old page is
    refused with a banner, nothing is approved, and the page shows text B to review again."""
    row = submitted(web, reform)
    lc = client_for("ld_pct")
    old_page = lc.get(f"/leader/procedures/{CODE}?version={row.number}").text
    token = csrf_of(old_page)
    revision = old_page.split('name="revision" value="', 1)[1].split('"', 1)[0]
    assert revision == str(row.row_version)
    chairman = sv.add_user(web.store, "ld_ct", unit="lanh_dao_ubnd", role="chairman", now=web.clock())
    ap.send_back(web.store, CODE, row.number, actor=chairman, comment="Sửa tên bước thẩm định", now=web.clock())
    text_b = SHORTENED.replace("  - id: appraise\n", '  - id: appraise\n    name: "Thẩm định hồ sơ (BẢN B)"\n', 1)
    assert text_b != SHORTENED
    again, _ = ap.save_draft(web.store, text_b, actor=reform, now=web.clock())
    ap.submit(web.store, CODE, again.number, actor=reform, now=web.clock())
    assert again.number == row.number

    quoted = ("Quyết định bạn đã nhập (số 125/QĐ-UBND, ngày 09/03/2026) chưa được ghi.",
              "Ý kiến bạn đã ghi chưa được gửi: “Giữ nguyên”.", None)  # what was typed, not lost
    for (action, data), said in zip((("approve", {"decision_number": "125/QĐ-UBND", "decision_date": "2026-03-09"}),
                                     ("send-back", {"comment": "Giữ nguyên"}),
                                     ("approve", {"decision_number": "", "decision_date": ""})), quoted):
        r = lc.post(f"/leader/procedures/{CODE}/{row.number}/{action}",
                    data={"csrf_token": token, "revision": revision, **data}, follow_redirects=True)
        assert r.status_code == 200
        assert "đã thay đổi sau khi bạn mở trang" in r.text  # stale first, not the fields
        assert said is None and "bạn đã nhập" not in r.text or said in r.text
        assert "(BẢN B)" in r.text  # the page now shows what is waiting
        assert 'aria-invalid="true"' not in r.text  # a banner, not a field error
        draft = ap.get_draft(web.store, CODE, row.number)
        assert draft.status == ap.SUBMITTED and draft.decision_number is None
        assert sv.current_definition(web.store, CODE)[0].version == 1
    assert "chưa được phê duyệt" in lc.post(f"/leader/procedures/{CODE}/{row.number}/approve",
                                            data={"csrf_token": token, "revision": revision,
                                                  "decision_number": "125/QĐ-UBND",
                                                  "decision_date": "2026-03-09"}, follow_redirects=True).text

    # reviewed again, the new page's form carries the new revision and approves text B
    fresh = lc.get(f"/leader/procedures/{CODE}?version={row.number}").text
    r = lc.post(f"/leader/procedures/{CODE}/{row.number}/approve",
                data={"csrf_token": csrf_of(fresh), "revision": fresh.split('name="revision" value="', 1)[1]
                      .split('"', 1)[0], "decision_number": "125/QĐ-UBND", "decision_date": "2026-03-09"},
                follow_redirects=True)
    assert "Đã phê duyệt phiên bản 2" in r.text
    assert "(BẢN B)" in sv.current_definition(web.store, CODE)[1].step("appraise").name


def test_a_stale_editor_tab_is_told_its_draft_was_approved_meanwhile(web, reform, client_for):
    """Audit 7e #8: tab B shows draft 2 (Dự thảo); tab A submits it and a leader approves it; tab B saves: the
    text becomes draft 3, and the message says draft 2 was approved meanwhile."""
    row, _ = ap.save_draft(web.store, SHORTENED, actor=reform, now=web.clock())
    c = client_for("noivu_cv")
    tab_b = c.get(f"/author/procedures/{CODE}").text
    assert f'name="draft_number" value="{row.number}"' in tab_b
    ap.submit(web.store, CODE, row.number, actor=reform, now=web.clock())
    ap.approve(web.store, CODE, row.number, actor=web.runtime.actor("ld_pct"), decision_number="125/QĐ-UBND",
               decision_date=dt.date(2026, 3, 9), now=web.clock())
    r = c.post("/author/save", data={"text": SHORTENED.replace("duration: 4h", "duration: 3h", 1),
                                     "csrf_token": csrf_of(tab_b), "code": CODE, "draft_number": str(row.number)},
               follow_redirects=True)
    assert r.status_code == 200
    assert (f"Đã lưu dự thảo phiên bản 3 của thủ tục {CODE}. Phiên bản 2 đã được phê duyệt trong lúc bạn soạn"
            in r.text)
    assert ap.get_draft(web.store, CODE, 2).status == ap.APPROVED and ap.get_draft(web.store, CODE, 3).status == ap.DRAFT
    # a save of the open draft itself says nothing of the kind
    page = c.get(f"/author/procedures/{CODE}").text
    assert 'name="draft_number" value="3"' in page
    r = c.post("/author/save", data={"text": SHORTENED, "csrf_token": csrf_of(page), "code": CODE,
                                     "draft_number": "3"}, follow_redirects=True)
    assert "Đã lưu dự thảo phiên bản 3" in r.text and "trong lúc bạn soạn" not in r.text
