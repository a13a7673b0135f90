"""The official forms, the ledger and the draft decision as staff reach them from the web pages."""

from __future__ import annotations

import html
import re

from engine import services as sv
from tests.web.test_interrupt_pages import _processing


def _form_links(page: str) -> dict[str, str]:
    """kind -> URL of the forms listed on a dossier page."""
    return dict(re.findall(r'<li id="form-(\w+)"><a href="([^"]+)"', page))


def test_the_dossier_page_lists_the_forms_the_dossier_has(web, client_for):
    r = _processing(web, "Hộ kinh doanh Minh Châu")
    c = client_for("motcua")
    links = _form_links(c.get(f"/dossiers/{r.dossier_code}").text)
    assert set(links) == {"receipt", "control"}  # received, in progress: nothing else yet
    assert links["receipt"].endswith("/forms/01") and links["control"].endswith("/forms/06")  # the 2025 set
    item = [i for i in sv.dossier_sheet(web.store, r.dossier_id).rows if i.state == "open"][0]
    sv.request_supplement(web.store, web.runtime.actor("tckh_cv"), item.item_id, now=web.clock(),
                          comment="Bổ sung bản sao hợp đồng thuê địa điểm")
    page = c.get(f"/dossiers/{r.dossier_code}").text
    links = _form_links(page)
    assert set(links) == {"receipt", "supplement", "control"}
    assert "Mẫu 02: Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ" in page
    for url in links.values():
        printed = c.get(url)
        assert printed.status_code == 200 and r.dossier_code in printed.text
        assert c.get(url + "?format=docx").content[:2] == b"PK"
    assert "hợp đồng thuê địa điểm" in c.get(links["supplement"]).text


def test_a_form_the_dossier_lacks_is_refused_in_vietnamese(web, client_for):
    r = _processing(web, "Hộ kinh doanh Bảo An")
    c = client_for("motcua")
    refused = c.get(f"/documents/dossiers/{r.dossier_code}/forms/03")
    assert refused.status_code == 409
    assert "chưa có Phiếu từ chối tiếp nhận giải quyết hồ sơ (mẫu 03)" in refused.text
    assert "has no" not in refused.text and "produced" not in refused.text
    ledger = c.get(f"/documents/dossiers/{r.dossier_code}/forms/07")
    assert ledger.status_code == 409 and "Sổ theo dõi hồ sơ" in ledger.text and "quytrinh ledger" not in ledger.text
    unknown = c.get(f"/documents/dossiers/{r.dossier_code}/forms/09")
    assert unknown.status_code == 409 and "Không có mẫu '09'" in html.unescape(unknown.text)
    assert "receipt" not in unknown.text


def test_the_ledger_and_the_decision_offer_their_choices_and_the_word_file(web, client_for):
    r = _processing(web, "Hộ kinh doanh Thành Công")
    c = client_for("motcua")
    day = sv.dossier_sheet(web.store, r.dossier_id).dossier.received_at.astimezone(
        __import__("datetime").timezone(__import__("datetime").timedelta(hours=7))).date()
    page = c.get(f"/documents/ledger?from={day}&to={day}")
    assert page.status_code == 200 and r.dossier_code in page.text
    assert f'name="from" value="{day}"' in page.text and f'name="to" value="{day}"' in page.text
    word = re.search(r'<a href="([^"]+)" id="word-link">', page.text)
    assert word and "format=docx" in word.group(1)
    assert c.get(word.group(1).replace("&amp;", "&")).content[:2] == b"PK"
    leader = client_for("ld_pct")
    decision = leader.get("/documents/decision?level=commune")
    assert decision.status_code == 200 and '<option value="commune" selected>Cấp xã</option>' in decision.text
    assert 'href="/documents/decision?level=commune&amp;format=docx"' in decision.text
    assert 'class="doc-warning">Cảnh báo: ' not in decision.text  # the commune processes have codes and limits
    district = leader.get("/documents/decision?level=district").text  # some district ones have neither yet
    assert re.search(r'class="doc-warning"><summary>Cảnh báo: \d+ quy trình chưa có mã TTHC', district)


def _bar(page: str) -> str:
    m = re.search(r'<nav class="doc-bar" id="doc-bar">(.*?)</nav>', page, re.S)
    assert m, "no bar"
    return html.unescape(m.group(1))


def test_a_wrong_ledger_period_keeps_the_ledger_and_says_what_it_shows(web, client_for):
    c = client_for("motcua")
    reversed_ = c.get("/documents/ledger?from=2026-03-30&to=2026-03-01")
    assert reversed_.status_code == 200
    bar = _bar(reversed_.text)
    assert ("Đến ngày (01/03/2026) trước Từ ngày (30/03/2026); sổ dưới đây lấy kỳ từ 01/03/2026 đến 30/03/2026."
            in bar)
    assert 'name="from" value="2026-03-01" aria-invalid="true"' in bar and 'name="to" value="2026-03-30"' in bar
    assert not re.search(r"\d{4}-\d\d-\d\d", re.search(r'id="doc-error"[^>]*>(.*?)</p>', bar).group(1))
    assert 'class="doc-back">← Hộp việc' in bar and 'id="print-button"' in bar
    assert "Từ ngày 01 tháng 3 năm 2026 đến ngày 30 tháng 3 năm 2026" in html.unescape(reversed_.text)  # the ledger
    word = re.search(r'<a href="([^"]+)" id="word-link">', reversed_.text).group(1).replace("&amp;", "&")
    assert "from=2026-03-01&to=2026-03-30" in word and c.get(word).content[:2] == b"PK"

    malformed = c.get("/documents/ledger?from=xyz&to=2026-03-10")
    assert malformed.status_code == 200
    bar = _bar(malformed.text)
    assert ("Từ ngày 'xyz' không phải ngày hợp lệ: hãy chọn lại ngày; sổ dưới đây lấy kỳ từ 01/03/2026 đến "
            "10/03/2026." in bar)  # the valid date kept, the period starting on its month's first day
    assert 'name="from" value="2026-03-01" aria-invalid="true"' in bar
    assert 'name="to" value="2026-03-10">' in bar  # not marked: it was right
    both = _bar(c.get("/documents/ledger?from=2026-13-01&to=hôm-nay").text)
    assert "Từ ngày '2026-13-01' và Đến ngày 'hôm-nay' không phải ngày hợp lệ" in both
    assert "sổ dưới đây lấy kỳ từ 01/" in both  # dd/mm/yyyy, never ISO
    assert "doc-error" not in _bar(c.get("/documents/ledger?from=2026-03-01&to=2026-03-01").text)
    word = c.get("/documents/ledger?from=2026-03-30&to=2026-03-01&format=docx")
    assert word.status_code == 422 and "Đến ngày (01/03/2026) trước Từ ngày" in html.unescape(word.text)


def test_the_decision_bar_names_the_procedures_to_complete_not_their_files(web, client_for):
    from engine.definition import load_catalogue
    from engine.documents import select_procedures

    cat = load_catalogue([web.app.state.catalogue_root])
    no_code = [d for d in select_procedures(cat, level="district") if not d.code]
    assert no_code  # the catalogue has some
    bar = _bar(client_for("ld_pct").get("/documents/decision?level=district").text)
    warning = re.search(rf"<summary>Cảnh báo: {len(no_code)} quy trình chưa có mã TTHC .*?</details>", bar, re.S)
    assert warning, bar
    for d in no_code:
        assert f"<li>{d.name}</li>" in warning.group(0)
        assert d.key not in bar  # "giai-the-truong-mam-non-theo-yeu-cau" says nothing to a leader


def test_an_official_form_prints_with_its_own_layout_in_a_real_browser(live_server, browser, tmp_path):
    from tests.web.conftest import shot
    from tests.web.test_leader_e2e import _sign_in

    r = _processing(live_server.web, "Hộ kinh doanh Hưng Thịnh")
    page = _sign_in(browser, live_server.url, "motcua")
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"/dossiers/{r.dossier_code}")
    page.click("#form-receipt a")
    page.wait_for_selector("#doc-bar")
    shot(page, tmp_path, "form-01")
    assert blocked == []  # the form's own CSS applies (the pages' CSP allows it here)
    sheet = page.evaluate("() => { const s = getComputedStyle(document.querySelector('.sheet'));"
                          " return [s.width, s.fontFamily]; }")
    width_px = float(sheet[0].removesuffix("px"))
    assert 400 < width_px < 600 and "Times New Roman" in sheet[1]  # A5's text width (128 mm), not the window's
    assert page.is_visible("#doc-bar")
    page.emulate_media(media="print")
    assert not page.is_visible("#doc-bar")  # the bar never reaches the paper
    page.emulate_media(media="screen")
    page.click("#doc-bar .doc-back")
    page.wait_for_url(re.compile(rf".*/dossiers/{re.escape(r.dossier_code)}$"))


def test_a_phone_scrolls_the_tables_not_the_page(live_server, browser, tmp_path):
    from tests.web.conftest import shot, signed_in_page

    r = _processing(live_server.web, "Hộ kinh doanh Nhỏ Gọn")
    page = signed_in_page(browser, live_server.url, "motcua", viewport={"width": 390, "height": 844})
    for path in (f"/dossiers/{r.dossier_code}", "/reports", "/procedures"):
        page.goto(path)
        shot(page, tmp_path, "phone" + path.replace("/", "-"))
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 400, path


def test_the_icon_is_served(client_for):
    c = client_for("motcua")
    assert 'rel="icon" href="/static/favicon.svg"' in c.get("/inbox").text
    icon = c.get("/favicon.ico")  # asked for by pages without the link (the printable documents)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_the_control_sheet_and_the_history_name_people_by_their_full_names(web, client_for):
    from sqlmodel import select

    from engine.store import User

    with web.store.session() as s:  # as `quytrinh user add tckh_head --name ...` records it
        u = s.exec(select(User).where(User.username == "tckh_head")).one()
        u.full_name = "Nguyễn Văn Cường"
        s.add(u)
        s.commit()
    r = _processing(web, "Hộ kinh doanh Tên Người")
    page = client_for("motcua").get(f"/dossiers/{r.dossier_code}").text
    assert "<td>Nguyễn Văn Cường</td>" in page and "· Nguyễn Văn Cường (" in page  # the sheet's row, the history
    assert "· tckh_head (" not in page


def test_a_form_page_reads_the_dossier_once_and_prints_what_the_engine_prints(web, client_for, monkeypatch):
    from engine.documents import render_form

    r = _processing(web, "Hộ kinh doanh Một Lần")
    c = client_for("motcua")
    reads: list[object] = []
    real = sv.dossier_sheet

    def counted(*args, **kw):
        reads.append(args[1])
        return real(*args, **kw)

    monkeypatch.setattr(sv, "dossier_sheet", counted)
    for form in ("01", "06"):  # the receipt, the control sheet (its open step's time at the app's now)
        reads.clear()
        page = c.get(f"/documents/dossiers/{r.dossier_code}/forms/{form}")
        assert page.status_code == 200 and len(reads) == 1
        body = render_form(web.store, form, r.dossier_code, now=web.clock()).decode().split("<body>", 1)[1]
        assert body in page.text
