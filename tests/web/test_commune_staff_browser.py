"""The reception form of an officer tied to a commune, in headless Chromium against a real uvicorn server: the
commune is shown, fixed (no choice of another), and the dossier received gets it."""

from __future__ import annotations

import re

from engine import services as sv
from tests.web.conftest import PASSWORD, shot, signed_in_page

BIRTH = "1.001193"  # commune level: xa_mot_cua receives
BAT_TRANG = "Xã Bát Tràng"


def test_a_tied_officer_receives_for_their_commune_without_choosing_it(live_server, browser, tmp_path):
    web = live_server.web
    sv.add_user(web.store, "mc_bt", unit="xa_mot_cua", role="staff", now=web.clock(), full_name="Lê Thị Bát",
                password=PASSWORD, commune=BAT_TRANG)
    page = signed_in_page(browser, live_server.url, "mc_bt")
    page.goto("/receive")
    form = page.locator("#receive-form")
    assert form.locator("select[name=commune]").count() == 0  # nothing to choose
    own = page.locator("#own-commune")
    assert own.is_visible()
    assert " ".join(own.inner_text().split()) == f"Xã, thị trấn nơi giải quyết hồ sơ: {BAT_TRANG} (xã bạn làm việc)."
    assert "Xã Cổ Bi" not in form.inner_text()
    page.select_option("#procedure", BIRTH)
    page.fill("#applicant", "Bé Gốm")
    shot(page, tmp_path, "tied-officer-reception")
    page.click("#receive-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/dossiers/.+/receipt$"))
    code = page.url.split("/dossiers/")[1].split("/")[0]
    assert sv.dossier_sheet(web.store, code).dossier.commune == BAT_TRANG
    assert "ỦY BAN NHÂN DÂN XÃ BÁT TRÀNG" in page.locator("#form01").inner_text()  # form 01 names the commune
