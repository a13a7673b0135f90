"""Staff pages: the inbox's order, colours and wording; reception and form 01; the catalogue; the demo seed."""

from __future__ import annotations

import html
import re

from engine import services as sv
from engine.sla import describe_remaining
from tests.web.conftest import csrf_of


def test_inbox_is_sorted_by_remaining_time_and_coloured_by_timeliness(web, client_for):
    motcua = web.runtime.actor("motcua")
    first = sv.receive(web.store, motcua, "1.001612", applicant="Hộ kinh doanh Sớm", now=web.clock())
    web.clock.advance(hours=1)
    second = sv.receive(web.store, motcua, "1.001612", applicant="Hộ kinh doanh Muộn", now=web.clock())
    # The assignment step has 2 working hours: at 10:30 the first is 30 minutes overdue, the second
    # (received at 09:00) has 30 minutes left, so it is nearly due.
    web.clock.advance(hours=1, minutes=30)
    page = client_for("tckh_head").get("/inbox").text
    mine = page.split("Việc khác của", 1)[0]
    rows = re.findall(r'<tr class="t-(\w+)" data-item="\d+" data-dossier="([^"]+)"', mine)
    assert rows == [("overdue", first.dossier_code), ("nearly_due", second.dossier_code)]
    assert "quá hạn 30 phút" in mine and "còn 30 phút làm việc" in mine
    assert "Quá hạn" in mine and "Sắp đến hạn" in mine
    # nobody holds them yet: said so under "Người xử lý", not "Chờ xử lý" (a state, not a person)
    holders = re.findall(r'<td data-label="Người xử lý">([^<]*)</td>', mine)
    assert holders == ["Chưa có người nhận", "Chưa có người nhận"]
    # The office's staff see the head's items as the unit's, not as theirs.
    staff = client_for("tckh_cv").get("/inbox").text
    own, unit = staff.split("Việc khác của", 1)
    assert first.dossier_code not in own and first.dossier_code in unit


def test_reception_prints_form_01_with_the_appointment(web, client_for):
    c = client_for("motcua")
    page = c.get("/receive").text
    assert '<option value="1.001612">' in page and '<option value="1.001193">' not in page  # commune procedure
    r = c.post("/receive", data={"procedure": "1.001612", "applicant": "Hộ kinh doanh Phúc Lộc",
                                 "contact": "0987 654 321", "channel": "counter", "decision": "accept",
                                 "csrf_token": csrf_of(page)})
    assert r.status_code == 200 and r.url.path.endswith("/receipt")
    code = r.url.path.split("/")[2]
    d = sv.dossier_sheet(web.store, code).dossier
    local = d.due_at.astimezone(__import__("datetime").timezone(__import__("datetime").timedelta(hours=7)))
    assert local.strftime("%H giờ %M phút, ngày %d/%m/%Y") in r.text
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in r.text.upper() and "Hộ kinh doanh Phúc Lộc" in r.text
    assert "3 ngày làm việc" in r.text and "@page" in c.get("/static/style.css").text
    link = re.search(r'href="(/documents/dossiers/[^"]+/forms/01)"', r.text)  # the official form, as printed
    assert link, "the receipt page links the official form 01"
    official = c.get(link.group(1))
    assert official.status_code == 200 and "GIẤY TIẾP NHẬN" in official.text.upper()
    assert 'id="doc-bar"' in official.text and f'href="/dossiers/{code}"' in official.text
    assert "style-src 'self' 'unsafe-inline'" in official.headers["content-security-policy"]
    word = c.get(link.group(1) + "?format=docx")
    assert word.status_code == 200 and word.content[:2] == b"PK"


def test_the_procedure_list_shows_national_codes_only(web, client_for):
    from engine.definition import load_catalogue
    from tests.conftest import REPO

    no_code = next(d for d in load_catalogue([REPO / "procedures_yaml" / "district"]).definitions
                   if not d.code and d.start.unit == "bp_mot_cua")
    sv.publish_definition(web.store, no_code, now=web.clock())  # known by its file stem only
    page = client_for("motcua").get("/receive").text
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', page)
    assert ("1.001612", "1.001612 — Đăng ký thành lập hộ kinh doanh") in options
    assert (no_code.key, no_code.name) in options  # no file stem passed off as a code


def test_the_commune_one_stop_names_the_commune_of_a_commune_level_dossier(web, client_for):
    from engine.store import dump

    c = client_for("xa_motcua")
    page = c.get("/receive").text
    assert '<select name="commune" id="commune" required>' in page and '<option value="Xã Bát Tràng">' in page
    assert 'name="commune"' not in client_for("motcua").get("/receive").text  # district procedures only
    before = dump(web.store)
    data = {"procedure": "1.001193", "applicant": "Bà Đào Thị Én", "channel": "counter", "decision": "accept"}
    r = c.post("/receive", data={**data, "csrf_token": csrf_of(page)})
    assert r.status_code == 422 and "hãy chọn xã, thị trấn" in r.text and dump(web.store) == before
    r = c.post("/receive", data={**data, "commune": "Xã Bát Tràng", "csrf_token": csrf_of(page)})
    assert r.status_code == 200 and r.url.path.endswith("/receipt") and "ỦY BAN NHÂN DÂN XÃ BÁT TRÀNG" in r.text
    code = r.url.path.split("/")[2]
    assert "<dt>Xã, thị trấn</dt><dd>Xã Bát Tràng</dd>" in c.get(f"/dossiers/{code}").text
    form01 = c.get(f"/documents/dossiers/{code}/forms/01").text  # on A5: cut after the body's name
    assert re.search(r">ỦY BAN NHÂN DÂN</p><p [^>]*>XÃ BÁT TRÀNG</p>", form01)


def test_a_refusal_without_reason_is_sent_back_with_the_form_filled(web, client_for):
    from engine.store import dump

    c = client_for("motcua")
    before = dump(web.store)
    r = c.post("/receive", data={"procedure": "1.001612", "applicant": "Ông Lê Văn Tám", "channel": "counter",
                                 "decision": "refuse", "csrf_token": csrf_of(c.get("/receive").text)})
    assert r.status_code == 422 and "cần ghi rõ lý do" in r.text and 'value="Ông Lê Văn Tám"' in r.text
    assert dump(web.store) == before


def test_work_item_page_offers_the_steps_outcomes(web, client_for):
    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="A", now=web.clock())
    head = web.runtime.actor("tckh_head")
    done = sv.complete(web.store, head, res.opened[-1], outcome="done", now=web.clock())
    page = client_for("tckh_cv").get(f"/items/{done.opened[-1]}").text
    buttons = re.findall(r'<button type="submit" name="outcome" value="(\w+)"[^>]*>([^<]+)</button>', page)
    assert buttons == [("ok", "Đạt"), ("supplement", "Yêu cầu bổ sung"), ("refuse", "Từ chối")]
    assert describe_remaining(480) in page  # one working day for the appraisal


def test_sending_back_for_rework_needs_why_and_the_page_says_what_each_outcome_asks(web, client_for):
    from engine.store import dump

    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="C", now=web.clock())
    head, cv = web.runtime.actor("tckh_head"), web.runtime.actor("tckh_cv")
    appraise = sv.complete(web.store, head, res.opened[-1], outcome="done", now=web.clock()).opened[-1]
    sv.claim(web.store, cv, appraise, now=web.clock())
    page = client_for("tckh_cv").get(f"/items/{appraise}").text
    hint = re.search(r'<p class="muted small" id="comment-needed">([^<]*)</p>', page)
    assert hint and html.unescape(hint[1]) == (
        "Khi chọn “Yêu cầu bổ sung”: ghi rõ giấy tờ, nội dung cần bổ sung (in trên phiếu gửi tổ chức, cá nhân). "
        "Khi chọn “Từ chối”: ghi rõ lý do từ chối (nêu trong phiếu, văn bản gửi tổ chức, cá nhân).")
    check = sv.complete(web.store, cv, appraise, outcome="ok", now=web.clock()).opened[-1]
    c = client_for("tckh_head")
    page = c.get(f"/items/{check}").text
    hint = re.search(r'<p class="muted small" id="comment-needed">([^<]*)</p>', page)
    assert hint and "Khi chọn “Làm lại”: ghi rõ lý do trả lại và việc cần làm lại" in html.unescape(hint[1])
    version = re.search(r'name="version" value="(\d+)"', page)[1]
    before = dump(web.store)
    r = c.post(f"/items/{check}/complete", data={"version": version, "outcome": "rework", "comment": "",
                                                 "csrf_token": csrf_of(page)})
    error = re.search(r'<p class="field-error" id="comment-error">([^<]*)</p>', r.text)
    assert r.status_code == 422 and error and "lý do trả lại và việc cần làm lại" in error[1]
    assert dump(web.store) == before
    r = c.post(f"/items/{check}/complete", data={"version": version, "outcome": "rework", "csrf_token": csrf_of(page),
                                                 "comment": "Kiểm tra lại ngành nghề kinh doanh"})
    assert r.status_code == 200 and r.url.path == "/inbox"
    assert "hồ sơ được trả lại cho tckh_cv, người đã xử lý bước này lần trước." in html.unescape(r.text)
    again = [w for w in sv.list_tasks(web.store, user="tckh_cv", now=web.clock()) if w.step_id == "appraise"]
    assert [(w.state, w.assignee) for w in again] == [("claimed", "tckh_cv")]  # back with who appraised it


def test_asking_for_a_supplement_or_refusing_needs_the_text_printed_for_the_applicant(web, client_for):
    from engine.store import dump

    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="B", now=web.clock())
    item = sv.complete(web.store, web.runtime.actor("tckh_head"), res.opened[-1], outcome="done",
                       now=web.clock()).opened[-1]
    c = client_for("tckh_cv")
    page = c.get(f"/items/{item}").text
    assert "Bắt buộc khi chọn: Yêu cầu bổ sung, Từ chối" in page and 'id="comment-needed"' in page
    before = dump(web.store)
    for outcome in ("supplement", "refuse"):
        r = c.post(f"/items/{item}/complete", data={"version": "2", "outcome": outcome, "comment": " ",
                                                    "csrf_token": csrf_of(page)})
        # the page again (422), the message under the comment, what was typed kept
        error = re.search(r'<p class="field-error" id="comment-error">([^<]*)</p>', r.text)
        assert r.status_code == 422 and error and "Hãy ghi rõ" in error[1] and "hồ sơ chưa thay đổi" in error[1]
        assert 'aria-invalid="true" aria-describedby="comment-error comment-needed" autofocus> </textarea>' in r.text
        assert dump(web.store) == before
    r = c.post(f"/items/{item}/complete", data={"version": "2", "outcome": "supplement", "csrf_token": csrf_of(page),
                                                "comment": "Bổ sung bản sao căn cước của chủ hộ"})
    assert r.url.path == "/inbox" and "Yêu cầu bổ sung giấy tờ" in r.text


def test_catalogue_page_lists_the_published_procedures(client_for, web):
    from engine.definition import default_root, load_catalogue

    codeless = load_catalogue([default_root()]).find("cap-giay-phep-ban-le-san-pham-thuoc-la")
    sv.publish_definition(web.store, codeless, now=web.clock(), by="test")
    page = client_for("tckh_cv").get("/procedures").text
    assert "Đăng ký thành lập hộ kinh doanh" in page and "3 ngày làm việc" in page
    row = page.split("Đăng ký thành lập hộ kinh doanh", 1)[1].split("</tr>", 1)[0]
    assert "<td>7</td>" in row  # the main path's steps, numbered as the annex numbers them (not all 12)
    assert 'chưa có mã</span>' in page and ">cap-giay-phep-ban-le-san-pham-thuoc-la<" not in page
    leader = client_for("ld_pct").get("/leader").text  # the leaders' catalogue: the same, linked by its key
    assert ('href="/leader/procedures/cap-giay-phep-ban-le-san-pham-thuoc-la" '
            'title="cap-giay-phep-ban-le-san-pham-thuoc-la">chưa có mã</a>') in leader


def test_demo_seed_is_idempotent_and_its_accounts_sign_in(db, catalogue):
    import datetime as dt

    from fastapi.testclient import TestClient

    from quytrinh.web.app import create_app
    from quytrinh.web.demo import DEMO_PASSWORD, seed_demo
    from tests.web.conftest import sign_in

    now = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone.utc)
    accounts = seed_demo(db, catalogue, now)
    assert seed_demo(db, catalogue, now) == accounts
    names = {a[0] for a in accounts}
    assert {"motcua", "tckh_ld", "tckh_cv", "vanthu", "ubnd_pct", "caicach", "admin"} <= names
    assert all(p == DEMO_PASSWORD for _, p, _ in accounts)
    app = create_app(db.url, now=now, secret="s")
    with TestClient(app) as c:
        assert sign_in(c, "caicach", DEMO_PASSWORD).status_code == 303
        assert c.get("/api/me").json()["roles"] == ["reform", "staff"]
    with TestClient(app) as c:
        assert sign_in(c, "admin", DEMO_PASSWORD).status_code == 303
        assert "admin" in c.get("/api/me").json()["roles"]
    app.state.store.dispose()


def test_every_demo_user_has_a_name_of_their_own(db):
    import datetime as dt

    from sqlmodel import select

    from engine.definition import default_root, load_catalogue
    from engine.store import User
    from quytrinh.web.demo import seed_demo

    catalogue = load_catalogue([default_root()])  # the whole catalogue: more staff than the 24 first names
    accounts = seed_demo(db, catalogue, dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone.utc))
    with db.session() as s:  # the control sheet tells people apart by name: no two share one
        people = {u.username: u.full_name for u in s.exec(select(User)).all()}
    assert len(people) == len(accounts) > 24
    assert len(set(people.values())) == len(people), sorted(people.values())
    assert people["ubnd_pct"] != people["vanthu"] and all(len(n.split()) == 3 for n in people.values())
    assert "motcua_ld" in people  # the one-stop unit's head: its timers and apologies reach someone


def test_one_stop_records_the_supplement_of_a_waiting_dossier(web, client_for):
    res = sv.receive(web.store, web.runtime.actor("motcua"), "1.001612", applicant="Bà Ngô Thị Huệ", now=web.clock())
    assign = sv.complete(web.store, web.runtime.actor("tckh_head"), res.opened[-1], outcome="done", now=web.clock())
    asked = sv.complete(web.store, web.runtime.actor("tckh_cv"), assign.opened[-1], outcome="supplement",
                        comment="Thiếu bản sao giấy tờ pháp lý", now=web.clock())
    assert asked.status == 5
    c = client_for("motcua")
    inbox = c.get("/inbox").text
    assert "<title>Hộp việc — quytrinh</title>" in inbox
    assert inbox.count('id="waiting"') == 1
    waiting = inbox.split('id="waiting"', 1)[1]
    assert f'data-dossier="{res.dossier_code}"' in waiting
    assert "Thiếu bản sao giấy tờ pháp lý" in waiting  # what was asked (form 02)
    page = c.get(f"/dossiers/{res.dossier_code}").text
    assert "Đã nhận hồ sơ bổ sung" in page
    assert "Đã nhận hồ sơ bổ sung" not in client_for("tckh_cv").get(f"/dossiers/{res.dossier_code}").text
    r = c.post(f"/dossiers/{res.dossier_code}/supplemented",
               data={"csrf_token": csrf_of(page), "version": asked.version, "comment": "Đã nộp bản sao"})
    assert r.status_code == 200 and "Đã ghi nhận hồ sơ bổ sung" in r.text
    assert sv.dossier_sheet(web.store, res.dossier_code).dossier.status == 4
    staff = client_for("tckh_cv").get("/inbox").text.split("Việc khác của", 1)[0]
    assert f'data-dossier="{res.dossier_code}"' in staff
    # The same form again is stale: a flash, nothing changes.
    again = c.post(f"/dossiers/{res.dossier_code}/supplemented",
                   data={"csrf_token": csrf_of(page), "version": asked.version})
    assert again.status_code == 200 and "flash-error" in again.text


def _receive_form(c, **data):
    page = c.get("/receive")
    return page, {"procedure": "1.001612", "applicant": "Hộ kinh doanh Phúc Lộc", "contact": "0987 654 321",
                  "channel": "counter", "decision": "accept", "csrf_token": csrf_of(page.text),
                  "idem": re.search(r'name="idem" value="([^"]+)"', page.text).group(1), **data}


def test_the_form_sent_again_after_going_back_receives_no_second_dossier(web, client_for):
    from engine.store import dump

    c = client_for("motcua")
    page, data = _receive_form(c)
    assert page.headers["cache-control"] == "no-store"  # Back shows a fresh form, not the one sent
    first = c.post("/receive", data=data)
    assert first.url.path.endswith("/receipt")
    code = first.url.path.split("/")[2]
    # The same key again (a double click) replays the first reception: same receipt, nothing new.
    before = dump(web.store)
    assert c.post("/receive", data=data).url.path == first.url.path and dump(web.store) == before
    # Back, then Tiếp nhận again (a fresh form: a new key), five minutes later, the name typed a bit differently.
    web.clock.advance(minutes=5)
    _, again = _receive_form(c, applicant=" hộ kinh doanh  Phúc Lộc")
    r = c.post("/receive", data=again)
    assert r.status_code == 409 and dump(web.store) == before
    assert r.headers["cache-control"] == "no-store"
    warning = re.search(r'<div class="flash flash-error" role="alert" id="repeat-warning">(.*?)</div>', r.text, re.S)
    assert warning and code in warning[1] and f'href="/dossiers/{code}/receipt"' in warning[1]
    assert "08:00" in warning[1]  # when the earlier one was received (local time)
    assert 'name="confirm_new"' in r.text and "Đây là hồ sơ khác, vẫn tiếp nhận" in r.text
    assert 'value=" hộ kinh doanh  Phúc Lộc"' in r.text and 'value="0987 654 321"' in r.text  # the form kept
    assert "Bạn đã nhận hồ sơ của hộ kinh doanh  Phúc Lộc" in warning[1] and "Đồng nghiệp" not in warning[1]
    # Another applicant, or ten minutes later: no question (a colleague of the counter: see the next test).
    assert "repeat-warning" not in c.post("/receive", data=_receive_form(c, applicant="Bà Trần Thị Xuân")[1]).text
    # Confirmed: a genuinely new dossier of the same applicant.
    r = c.post("/receive", data={**again, "confirm_new": "1"})
    assert r.status_code == 200 and r.url.path.endswith("/receipt") and code not in r.url.path
    web.clock.advance(minutes=11)
    assert c.post("/receive", data=_receive_form(c)[1]).url.path.endswith("/receipt")


def _set_full_name(web, username: str, full_name: str) -> None:
    from sqlalchemy import update

    from engine.store import User

    with web.store.write() as s:
        s.execute(update(User).where(User.username == username).values(full_name=full_name))


def _warning(html: str) -> str | None:
    m = re.search(r'<div class="flash flash-error" role="alert" id="repeat-warning">(.*?)</div>', html, re.S)
    return m[1] if m else None


def test_a_second_officer_who_receives_the_same_applicant_is_asked_first_naming_the_colleague(web, client_for):
    """The applicant queued twice, or two officers entering the same dossier: the second one is asked,
    told which colleague received it, when, and where its receipt is."""
    from engine.store import dump

    _set_full_name(web, "motcua", "Nguyễn Thị Hoa")
    _set_full_name(web, "motcua2", "Trần Văn Bình")
    first_officer, second_officer = client_for("motcua"), client_for("motcua2")
    first = first_officer.post("/receive", data=_receive_form(first_officer)[1])
    code = first.url.path.split("/")[2]
    web.clock.advance(minutes=3)
    before = dump(web.store)
    _, again = _receive_form(second_officer, applicant="HỘ KINH DOANH PHÚC LỘC")
    r = second_officer.post("/receive", data=again)
    assert r.status_code == 409 and dump(web.store) == before
    warning = _warning(r.text)
    assert warning and "Đồng nghiệp <strong>Nguyễn Thị Hoa</strong> (cùng bộ phận) đã nhận" in warning
    assert "Bạn đã nhận" not in warning and "motcua" not in warning
    assert "08:00" in warning  # Hanoi time, as the page shows times
    assert code in warning and f'href="/dossiers/{code}/receipt"' in warning
    assert "Giấy tiếp nhận và hẹn trả kết quả" in warning
    assert 'name="confirm_new"' in r.text and "Đây là hồ sơ khác, vẫn tiếp nhận" in r.text
    assert second_officer.get(f"/dossiers/{code}/receipt").status_code == 200  # the link opens for the colleague
    # Confirmed: a new dossier, received by the second officer.
    r = second_officer.post("/receive", data={**again, "confirm_new": "1"})
    assert r.status_code == 200 and r.url.path.endswith("/receipt") and code not in r.url.path
    second = r.url.path.split("/")[2]
    # The first officer, two minutes later: the latest of the two is named, with its receiver.
    web.clock.advance(minutes=2)
    r = first_officer.post("/receive", data=_receive_form(first_officer)[1])
    assert r.status_code == 409
    warning = _warning(r.text)
    assert "Đồng nghiệp <strong>Trần Văn Bình</strong> (cùng bộ phận) đã nhận" in warning
    assert second in warning and "08:03" in warning
    # The second officer's own reception keeps the user's own wording.
    r = second_officer.post("/receive", data=_receive_form(second_officer)[1])
    assert r.status_code == 409 and _warning(r.text).startswith("Bạn đã nhận hồ sơ của Hộ kinh doanh Phúc Lộc")
    # More than ten minutes after the latest reception: no question.
    web.clock.advance(minutes=9)
    assert first_officer.post("/receive", data=_receive_form(first_officer)[1]).url.path.endswith("/receipt")


def test_the_counter_receives_without_question_after_another_units_reception(web, client_for, catalogue):
    """Only the officer's own unit counts. A procedure is received by one unit at a time (its reception
    step's), so another unit's reception of the same procedure is one made under another version: here
    the commune's counter received it while a version put the reception there."""
    import dataclasses

    rt = web.runtime
    defn = catalogue.find("1.001612")
    moved = dataclasses.replace(defn, steps=[dataclasses.replace(defn.start, unit="xa_mot_cua"), *defn.steps[1:]])
    assert sv.publish_definition(web.store, moved, now=web.clock(), by="test").version == 2
    elsewhere = sv.receive(web.store, rt.actor("xa_motcua"), "1.001612", applicant="Hộ kinh doanh Phúc Lộc",
                           now=web.clock())
    assert sv.publish_definition(web.store, defn, now=web.clock(), by="test").version == 3  # back at the district
    web.clock.advance(minutes=2)
    c = client_for("motcua")
    r = c.post("/receive", data=_receive_form(c)[1])
    assert r.status_code == 200 and r.url.path.endswith("/receipt") and elsewhere.dossier_code not in r.url.path
    assert "repeat-warning" not in r.text


def test_accepting_a_supplemented_dossier_at_the_counter_leads_to_its_receipt(web, client_for):
    rt = web.runtime
    res = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Ông Vũ Đình Khang", now=web.clock(),
                     decision="supplement", comment="Bổ sung bản sao căn cước")
    web.clock.advance(days=1)
    back = sv.supplement_received(web.store, rt.actor("motcua"), res.dossier_code, now=web.clock())
    assert back.status == 1 and back.opened  # the reception step again: the counter checks the dossier
    c = client_for("motcua")
    page = c.get(f"/items/{back.opened[-1]}").text
    r = c.post(f"/items/{back.opened[-1]}/complete", data={"csrf_token": csrf_of(page), "version": back.version,
                                                          "outcome": "accept"})
    assert r.status_code == 200 and r.url.path == f"/dossiers/{res.dossier_code}/receipt"
    assert "Đã tiếp nhận hồ sơ" in r.text and "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in r.text.upper()
    # Any other step completes to the inbox, as before.
    assign = sv.dossier_sheet(web.store, res.dossier_code).rows[-1]
    head = client_for("tckh_head")
    page = head.get(f"/items/{assign.item_id}").text
    r = head.post(f"/items/{assign.item_id}/complete", data={"csrf_token": csrf_of(page), "outcome": "done",
                                                            "version": sv.dossier_sheet(web.store, res.dossier_code)
                                                            .dossier.version})
    assert r.url.path == "/inbox"
