"""The inbox's look-up box finds the dossier of a procedure known by its slug (no national code yet), whose code
is in lower case, however it is typed (it upper-cased what was typed, and found none)."""

from __future__ import annotations

from engine import services as sv
from tests.conftest import REPO, T0


def test_a_slug_coded_dossier_is_found_whatever_the_case_typed(web, client_for):
    from engine.definition import load_catalogue

    cat = load_catalogue([REPO / "procedures_yaml" / "district" / "thanh-lap-truong-thcs.yaml"])
    assert not cat.problems and cat.definitions[0].code == ""
    sv.publish_definition(web.store, cat.definitions[0], now=T0, by="test")
    res = sv.receive(web.store, web.runtime.actor("motcua"), "thanh-lap-truong-thcs", applicant="Trường THCS Cổ Bi",
                     now=web.clock())
    assert res.dossier_code.startswith("thanh-lap-truong-thcs-")
    c = client_for("motcua")
    for typed in (res.dossier_code, res.dossier_code.upper(), f"  {res.dossier_code[:10]} {res.dossier_code[10:]} "):
        r = c.get("/dossiers", params={"code": typed}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{res.dossier_code}"), typed
    r = c.get("/dossiers", params={"code": "1.001612-20260310-000001".lower()}, follow_redirects=False)
    assert r.headers["location"].startswith("/inbox?code=")  # none of that code: told so, as before
