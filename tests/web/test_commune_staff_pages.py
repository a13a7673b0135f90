"""Commune staff tied to their commune (``users.commune``, ``quytrinh user commune``) on the web app.

units.yaml describes every commune's staff with one set of units, so a tied officer's unit works on every
commune's dossiers; the officer sees only their commune's (and those of no commune): the inbox, the API's task
list, the waiting panel and the ledger list none of another commune's, and another commune's dossier, its work
items and its forms are answered exactly as missing ones (404); the footer names their commune's People's
Committee. The reception form shows the officer's commune,
fixed, and the dossier gets it. Leaders, and officers not tied to a commune, see as before.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from engine import services as sv
from engine.store import dump
from tests.web.conftest import PASSWORD, csrf_of
from tests.web.test_api_qa_errors import bearer, body_of
from tests.web.test_web_qa_hidden_dossiers import MISSING, _main, _same

BIRTH = "1.001193"  # commune level: xa_mot_cua receives, xa_tu_phap verifies
BAT_TRANG, CO_BI = "Xã Bát Tràng", "Xã Cổ Bi"
NO_SUCH = "1.001193-20260310-999999"


@pytest.fixture
def communes(web):
    """Bát Tràng's one-stop and justice officers (tied), and one dossier of Bát Tràng and one of Cổ Bi (received
    by the untied ``xa_motcua``), each at its verification step at the commune's justice unit."""
    for name, unit, full in (("mc_bt", "xa_mot_cua", "Lê Thị Bát"), ("tp_bt", "xa_tu_phap", "Phạm Văn Tràng")):
        sv.add_user(web.store, name, unit=unit, role="staff", now=web.clock(), full_name=full, password=PASSWORD,
                    commune=BAT_TRANG)
    rt = web.runtime
    bt = sv.receive(web.store, sv.get_actor(web.store, "mc_bt"), BIRTH, applicant="Bé Bát Tràng", now=web.clock())
    cb = sv.receive(web.store, rt.actor("xa_motcua"), BIRTH, applicant="Bé Cổ Bi", now=web.clock(), commune=CO_BI)

    def verify(code: str) -> int:
        return next(r.item_id for r in sv.dossier_sheet(web.store, code).rows if r.step_id == "verify")

    return {"bt": bt.dossier_code, "cb": cb.dossier_code, "bt_item": verify(bt.dossier_code),
            "cb_item": verify(cb.dossier_code), "cb_id": cb.dossier_id}


def test_a_tied_officers_inbox_and_task_list_lack_another_communes_work(client_for, communes):
    inbox = client_for("tp_bt").get("/inbox").text
    assert communes["bt"] in inbox and communes["cb"] not in inbox
    # the footer names the officer's own People's Committee
    assert '<span class="authority">Ủy ban nhân dân xã Bát Tràng, huyện Gia Lâm</span>' in inbox
    c, auth = bearer(client_for, "tp_bt")
    assert c.get("/api/me", headers=auth).json()["commune"] == BAT_TRANG
    for scope in ("mine", "unit"):
        codes = {t["dossier_code"] for t in c.get(f"/api/tasks?scope={scope}", headers=auth).json()}
        assert codes == {communes["bt"]}, (scope, codes)
    # an officer of the same unit not tied to a commune sees both, as before; so does a leader's API list
    u, uauth = bearer(client_for, "xa_tuphap")
    assert u.get("/api/me", headers=uauth).json()["commune"] == ""
    both = client_for("xa_tuphap").get("/inbox").text
    assert communes["bt"] in both and communes["cb"] in both
    assert '<span class="authority">Ủy ban nhân dân cấp xã, huyện Gia Lâm</span>' in both


def test_another_communes_dossier_is_answered_as_a_missing_one(client_for, communes):
    code, item = communes["cb"], communes["cb_item"]
    c = client_for("tp_bt")
    for page in ("/dossiers/{}", "/dossiers/{}/receipt"):
        a, b = c.get(page.format(code)), c.get(page.format(NO_SUCH))
        assert a.status_code == b.status_code == 404 and _main(a.text) == _main(b.text)
        assert code not in _main(a.text)
    a, b = c.get(f"/documents/dossiers/{code}/forms/01"), c.get(f"/documents/dossiers/{NO_SUCH}/forms/01")
    assert a.status_code == b.status_code == 404 and a.text == b.text
    # its work item, though at the officer's own unit: as a missing one, not the 403 of another unit's
    a, b = c.get(f"/items/{item}"), c.get(f"/items/{MISSING}")
    assert a.status_code == b.status_code == 404 and _main(a.text) == _main(b.text)
    r = c.get("/dossiers", params={"code": code}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/inbox?code=")
    assert c.get("/dossiers", params={"code": communes["bt"]}, follow_redirects=False).headers["location"] == \
        f"/dossiers/{communes['bt']}"
    assert c.get(f"/dossiers/{communes['bt']}").status_code == 200


def test_a_communes_tied_leader_sees_their_commune_only_and_the_districts_leaders_every_commune(web, client_for,
                                                                                                communes):
    sv.set_user_commune(web.store, "xa_ct", BAT_TRANG, now=web.clock())  # Chủ tịch UBND xã Bát Tràng
    chairman = client_for("xa_ct")
    a, b = chairman.get(f"/dossiers/{communes['cb']}"), chairman.get(f"/dossiers/{NO_SUCH}")
    assert a.status_code == b.status_code == 404 and _main(a.text) == _main(b.text)
    assert chairman.get(f"/dossiers/{communes['bt']}").status_code == 200
    district = client_for("ld_pct")  # Phó Chủ tịch UBND huyện
    assert all(district.get(f"/dossiers/{communes[k]}").status_code == 200 for k in ("bt", "cb"))


def test_the_api_answers_another_communes_dossier_and_its_work_as_missing(web, client_for, communes):
    code, item, dossier_id = communes["cb"], communes["cb_item"], communes["cb_id"]
    c, auth = bearer(client_for, "tp_bt")
    got = body_of(c.get(f"/api/dossiers/{code}", headers=auth), 404, "not_found")
    assert got["message"] == f"dossier '{code}' does not exist"
    _same(c.get(f"/api/dossiers/{code}", headers=auth), c.get(f"/api/dossiers/{NO_SUCH}", headers=auth),
          code, NO_SUCH)
    _same(c.get(f"/api/dossiers/{dossier_id}", headers=auth), c.get(f"/api/dossiers/{MISSING}", headers=auth),
          dossier_id, MISSING)
    before = dump(web.store)
    for action, body in (("claim", {}), ("complete", {"outcome": "done"})):
        _same(c.post(f"/api/tasks/{item}/{action}", json=body, headers=auth),
              c.post(f"/api/tasks/{MISSING}/{action}", json=body, headers=auth), item, MISSING)
    m, mauth = bearer(client_for, "mc_bt")
    _same(m.post(f"/api/dossiers/{code}/withdraw", json={"comment": "Đơn rút"}, headers=mauth),
          m.post(f"/api/dossiers/{MISSING}/withdraw", json={"comment": "Đơn rút"}, headers=mauth), code, MISSING)
    assert dump(web.store) == before
    # the officer's own commune's work: theirs to do
    assert c.post(f"/api/tasks/{communes['bt_item']}/claim", headers=auth).status_code == 200
    # the API's reception: the officer's commune when none is given; another commune refused, nothing received
    r = m.post("/api/dossiers", json={"procedure_code": BIRTH, "applicant": "Bé Ba"}, headers=mauth)
    assert r.status_code == 201, r.text
    assert m.get(f"/api/dossiers/{r.json()['dossier_code']}", headers=mauth).json()["commune"] == BAT_TRANG
    before = dump(web.store)
    body_of(m.post("/api/dossiers", json={"procedure_code": BIRTH, "applicant": "Bé Tư", "commune": "Cổ Bi"},
                   headers=mauth), 403, "not_authorized")
    assert dump(web.store) == before


def _commune_part(page: str) -> str:
    form = re.search(r'<form method="post" action="/receive".*?</form>', page, re.S)
    assert form
    return form[0]


def test_the_reception_form_of_a_tied_officer_shows_their_commune_fixed_and_the_dossier_gets_it(web, client_for,
                                                                                              communes):
    c = client_for("mc_bt")
    page = c.get("/receive").text
    form = _commune_part(page)
    assert '<select name="commune"' not in form and CO_BI not in page and "— Chọn xã, thị trấn —" not in page
    own = re.search(r'<p class="own-commune" id="own-commune">(.*?)</p>', form, re.S)
    assert own and re.sub(r"<[^>]+>", "", own[1]) == f"Xã, thị trấn nơi giải quyết hồ sơ: {BAT_TRANG} (xã bạn làm việc)."
    assert f'<input type="hidden" name="commune" value="{BAT_TRANG}">' in form
    r = c.post("/receive", data={"csrf_token": csrf_of(page), "procedure": BIRTH, "applicant": "Bé Năm",
                                 "channel": "counter", "decision": "accept", "commune": BAT_TRANG})
    assert r.status_code == 200 and "/receipt" in str(r.url)
    code = str(r.url).split("/dossiers/")[1].split("/")[0]
    assert sv.dossier_sheet(web.store, code).dossier.commune == BAT_TRANG
    # a page sent with another commune (an old page, a forged form) receives nothing and says why
    before = dump(web.store)
    page = c.get("/receive").text
    r = c.post("/receive", data={"csrf_token": csrf_of(page), "procedure": BIRTH, "applicant": "Bé Sáu",
                                 "channel": "counter", "decision": "accept", "commune": CO_BI})
    assert r.status_code == 422
    assert f"Bạn làm việc cho {BAT_TRANG}: chỉ tiếp nhận hồ sơ của {BAT_TRANG}, không tiếp nhận hồ sơ của {CO_BI}." \
        in r.text
    assert dump(web.store) == before
    # a colleague of the same counter working for another commune received the same applicant a minute ago:
    # another commune's dossier, not a repeat of this reception (and not theirs to open)
    sv.add_user(web.store, "mc_cb", unit="xa_mot_cua", role="staff", now=web.clock(), commune=CO_BI)
    sv.receive(web.store, sv.get_actor(web.store, "mc_cb"), BIRTH, applicant="Bé Bảy", now=web.clock())
    page = c.get("/receive").text
    r = c.post("/receive", data={"csrf_token": csrf_of(page), "procedure": BIRTH, "applicant": "Bé Bảy",
                                 "channel": "counter", "decision": "accept"})
    assert r.status_code == 200 and "/receipt" in str(r.url) and 'id="repeat-warning"' not in r.text
    # an officer not tied to a commune keeps the choice of every commune
    assert '<select name="commune"' in client_for("xa_motcua").get("/receive").text


def test_the_waiting_panel_and_the_ledger_of_a_tied_officer_hold_their_commune_only(web, client_for, communes):
    rt = web.runtime
    cb = sv.receive(web.store, rt.actor("xa_motcua"), BIRTH, applicant="Bé Chờ Cổ Bi", now=web.clock(),
                    commune=CO_BI, decision="supplement", comment="Thiếu giấy chứng sinh")
    bt = sv.receive(web.store, sv.get_actor(web.store, "mc_bt"), BIRTH, applicant="Bé Chờ Bát Tràng",
                    now=web.clock(), decision="supplement", comment="Thiếu giấy chứng sinh")
    c = client_for("mc_bt")
    inbox = c.get("/inbox").text
    assert bt.dossier_code in inbox and cb.dossier_code not in inbox
    ledger = c.get("/documents/ledger?from=2026-03-01&to=2026-03-31&page=all").text
    assert "Bé Bát Tràng" in ledger and "Bé Chờ Bát Tràng" in ledger
    assert "Bé Cổ Bi" not in ledger and "Bé Chờ Cổ Bi" not in ledger
    asked = c.get("/documents/ledger?from=2026-03-01&to=2026-03-31&book=Cổ Bi").text  # not theirs: their own
    assert "Bé Cổ Bi" not in asked and "Bé Bát Tràng" in asked
    assert f"Không có quyển sổ «Cổ Bi» có hồ sơ trong kỳ này: dưới đây là sổ của {BAT_TRANG}." in asked
    word = c.get("/documents/ledger?from=2026-03-01&to=2026-03-31&format=docx")
    assert word.status_code == 200
    with zipfile.ZipFile(io.BytesIO(word.content)) as z:
        text = z.read("word/document.xml").decode()
    assert "Bé Bát Tràng" in text and "Bé Cổ Bi" not in text
    # the untied officer of the same counter keeps every commune's book
    both = client_for("xa_motcua").get("/documents/ledger?from=2026-03-01&to=2026-03-31&page=all").text
    assert "Bé Cổ Bi" in both and "Bé Bát Tràng" in both
