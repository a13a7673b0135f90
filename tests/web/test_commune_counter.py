"""The reception form at a commune's counter: the commune is always to be chosen, and it starts on the commune
the officer received for last (a user is not tied to a commune in units.yaml)."""

from __future__ import annotations

import html
import re

from engine import services as sv
from tests.web.conftest import PASSWORD, csrf_of


def _commune_select(page: str) -> str:
    m = re.search(r'<select name="commune"[^>]*>.*?</select>', page, re.S)
    assert m, "no commune choice on the form"
    return html.unescape(m[0])


def _selected(select: str) -> list[str]:
    return re.findall(r'<option value="([^"]*)" selected>', select)


def test_the_commune_counter_always_chooses_a_commune_and_starts_on_its_last_one(web, client_for):
    c = client_for("xa_motcua")
    page = c.get("/receive").text
    select = _commune_select(page)
    assert '<select name="commune" id="commune" required' in select  # every procedure it receives is a commune's
    assert "— Chọn xã, thị trấn —" in select and "Thủ tục cấp huyện" not in select
    assert _selected(select) == []  # nothing received yet: nothing chosen for the officer
    r = c.post("/receive", data={"csrf_token": csrf_of(page), "procedure": "1.001193", "applicant": "Ngô Thị Na",
                                 "channel": "counter", "decision": "accept", "commune": "Xã Bát Tràng"})
    assert r.status_code == 200 and "/receipt" in str(r.url)
    assert _selected(_commune_select(c.get("/receive").text)) == ["Xã Bát Tràng"]
    # a colleague at the same counter (another commune's officer) starts on nothing: the choice is each one's own
    sv.add_user(web.store, "xa_motcua2", unit="xa_mot_cua", role="staff", now=web.clock(), full_name="Hà Văn Tú",
                password=PASSWORD)
    assert _selected(_commune_select(client_for("xa_motcua2").get("/receive").text)) == []


def test_the_district_counter_is_not_asked_for_a_commune(client_for):
    page = client_for("motcua").get("/receive").text
    assert 'name="procedure"' in page and '<select name="commune"' not in page
