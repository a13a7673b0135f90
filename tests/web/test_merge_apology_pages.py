"""The web pages of a draft apology (form 04) whose unit was merged into another before it was signed.

The timers drafted it for Phòng TC-KH; units.yaml then merges Phòng TC-KH into Phòng QLĐT. Before any
``quytrinh unit transfer``, Phòng QLĐT's head finds it in the inbox, opens the dossier and signs it, in a real
chromium; Phòng TC-KH's former head sees it without the form and is refused (the page says why), the head of an
unrelated unit may not open the dossier; a refusal changes nothing. The printed form 04 names Phòng QLĐT.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlmodel import select

from engine import services as sv
from engine.store import Apology, Dossier, WorkItem, dump
from tests.conftest import merged_units
from tests.web.conftest import csrf_of

REPO = Path(__file__).resolve().parent.parent.parent


def _drafted_then_merged(web, tmp_path: Path):
    """A 1.001612 dossier whose appraisal is open at Phòng TC-KH, swept seven working hours before its
    appointment (the draft is Phòng TC-KH's), then Phòng TC-KH merged into Phòng QLĐT; and the head of Phòng
    Tư pháp, which has nothing to do with the dossier. The dossier and the draft."""
    store, rt = web.store, web.runtime
    r = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Đỗ Thị Muộn", now=web.clock())
    with store.session() as s:
        assign = s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id,
                                               WorkItem.step_id == "assign")).one()
    sv.complete(store, rt.actor("tckh_head"), assign.id, outcome="done", now=web.clock() + dt.timedelta(minutes=5))
    with store.session() as s:
        due = s.get(Dossier, r.dossier_id).due_at
    sv.sweep_timers(store, now=rt.calendar.sub(due, 420))
    with store.session() as s:
        ap = s.exec(select(Apology).where(Apology.dossier_id == r.dossier_id)).one()
    assert ap.unit_id == "phong_tckh"
    merged_units(store, tmp_path, "phong_tckh", "phong_qldt")
    sv.add_user(store, "tuphap_head", unit="phong_tu_phap", role="head", now=web.clock(), full_name="Lê Văn Pháp")
    from tests.web.conftest import set_all_passwords

    set_all_passwords(store)
    return r, ap


def test_the_former_and_an_unrelated_head_are_refused_and_nothing_changes(web, client_for, tmp_path):
    r, ap = _drafted_then_merged(web, tmp_path)
    page_url = f"/dossiers/{r.dossier_code}"
    sign = f"{page_url}/apologies/{ap.id}/sign"
    before = dump(web.store)
    # The unrelated head may not even open the dossier, nor post the form: both are answered as for a dossier
    # that does not exist.
    other = client_for("tuphap_head")
    assert other.get(page_url).status_code == 404
    assert 'id="apologies-to-sign"' not in other.get("/inbox").text
    refused = other.post(sign, data={"csrf_token": csrf_of(other.get("/inbox").text), "reason": "Chờ"})
    assert refused.status_code == 404
    # The merged unit's former head sees the dossier (its appraisal is still there) and the draft, named for the
    # unit that signs it now, without the form; a signature posted anyway is refused, saying why.
    former = client_for("tckh_head")
    page = former.get(page_url).text
    assert f'id="apology-{ap.id}"' in page and f'id="apology-form-{ap.id}"' not in page
    assert "Phòng QLĐT (lập cho Phòng TC-KH, đã hợp nhất)" in page
    assert 'id="apologies-to-sign"' not in former.get("/inbox").text
    r1 = former.post(sign, data={"csrf_token": csrf_of(page), "reason": "Chờ xác minh"}, follow_redirects=True)
    assert r1.status_code == 422
    assert (f"đơn vị phong_tckh đã hợp nhất vào phong_qldt; phiếu xin lỗi của hồ sơ {r.dossier_code} nay do lãnh "
            f"đạo đơn vị phong_qldt ký. Phiếu chưa được ký.") in r1.text
    assert dump(web.store) == before


def test_the_successors_head_signs_it_from_the_inbox_in_a_real_browser(live_server, browser, tmp_path):
    from tests.web.conftest import shot, signed_in_page

    web = live_server.web
    r, ap = _drafted_then_merged(web, tmp_path)
    page = signed_in_page(browser, live_server.url, "qldt_head")
    row = page.locator(f'#apologies-to-sign tr[data-apology="{ap.id}"]')
    assert row.count() == 1
    assert "Lập cho Phòng TC-KH (đã hợp nhất)" in row.inner_text() and "Đỗ Thị Muộn" in row.inner_text()
    shot(page, tmp_path, "merged-apology-inbox")
    row.locator("a").click()
    page.wait_for_url(re.compile(rf".*/dossiers/{re.escape(r.dossier_code)}#apology-{ap.id}$"))
    form = page.locator(f"#apology-form-{ap.id}")
    form.locator("textarea[name=reason]").fill("Chờ ý kiến thẩm định của Phòng QLĐT")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/dossiers/{re.escape(r.dossier_code)}#apologies$"))
    assert "Đã ký phiếu xin lỗi và hẹn lại" in page.content()
    shot(page, tmp_path, "merged-apology-signed")
    with web.store.session() as s:
        signed = s.get(Apology, ap.id)
    assert (signed.state, signed.unit_id, signed.reason) == ("signed", "phong_qldt",
                                                              "Chờ ý kiến thẩm định của Phòng QLĐT")
    # The inbox no longer lists it; the printed form 04 is issued by Phòng QLĐT's head.
    page.goto("/inbox")
    assert page.locator("#apologies-to-sign").count() == 0
    page.goto(f"/documents/dossiers/{r.dossier_code}/forms/04")
    body = page.inner_text("body")
    assert "TRƯỞNG PHÒNG QUẢN LÝ ĐÔ THỊ" in body and "Chờ ý kiến thẩm định của Phòng QLĐT" in body
    assert "TÀI CHÍNH" not in body.upper().replace("KẾ HOẠCH", "")


def test_the_api_gives_the_unit_a_draft_is_for_and_the_unit_whose_head_signs_it(web, client_for, tmp_path):
    """GET /api/dossiers/{code}: a draft of Phòng TC-KH, merged into Phòng QLĐT, keeps ``unit`` (the unit it was
    drafted for, until the transfer moves it) and gives ``signer_unit`` (Phòng QLĐT, whose head signs it); the
    signature's answer and the dossier then give Phòng QLĐT for both."""
    from tests.web.test_api import bearer

    r, ap = _drafted_then_merged(web, tmp_path)
    c, head = bearer(client_for, "qldt_head")
    got = c.get(f"/api/dossiers/{r.dossier_code}", headers=head)
    assert got.status_code == 200, got.text
    [draft] = got.json()["apologies"]
    assert (draft["id"], draft["state"], draft["unit"], draft["signer_unit"]) == (ap.id, "draft", "phong_tckh",
                                                                                  "phong_qldt")
    spec = c.get("/openapi.json").json()["components"]["schemas"]["ApologyOut"]["properties"]
    assert "merged_into" in spec["signer_unit"]["description"]
    signed = c.post(f"/api/apologies/{ap.id}/sign", json={"reason": "Chờ ý kiến thẩm định"}, headers=head)
    assert signed.status_code == 200, signed.text
    assert (signed.json()["state"], signed.json()["unit"], signed.json()["signer_unit"]) == (
        "signed", "phong_qldt", "phong_qldt")
    [after] = c.get(f"/api/dossiers/{r.dossier_code}", headers=head).json()["apologies"]
    assert (after["unit"], after["signer_unit"]) == ("phong_qldt", "phong_qldt")
