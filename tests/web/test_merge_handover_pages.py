"""The web's control sheet after a merge: an item moved from a merged unit (``quytrinh unit transfer``)
shows the unit it came from and the day, on the dossier page's sheet and on the item's page."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

from sqlmodel import select

from engine import services as sv
from engine.definition import load_units
from engine.store import WorkItem

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent.parent




def _open(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                             WorkItem.state.in_(("open", "claimed")))).one()


def test_the_dossier_and_item_pages_show_where_a_transferred_item_came_from(web, client_for, tmp_path):
    store, rt = web.store, web.runtime
    t = dt.datetime(2026, 3, 10, 8, 0, tzinfo=HANOI)
    r = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Trần Văn Bình", now=t)
    sv.complete(store, rt.actor("tckh_head"), _open(store, r.dossier_id, "assign").id, outcome="done",
                now=t + dt.timedelta(minutes=10))
    appraise = _open(store, r.dossier_id, "appraise")
    text = (REPO / "procedures_yaml" / "units.yaml").read_text(encoding="utf-8")
    start = text.index("  - id: phong_tckh\n")
    end = text.index("\n", text.index("    kind:", start)) + 1
    (tmp_path / "units.yaml").write_text(text[:end] + "    merged_into: phong_qldt\n" + text[end:], encoding="utf-8")
    sv.seed_organisation(store, load_units(tmp_path / "units.yaml"))
    sv.transfer_unit_work(store, "phong_tckh", now=dt.datetime(2026, 3, 11, 9, 0, tzinfo=HANOI))

    c = client_for("qldt_cv")
    page = c.get(f"/dossiers/{r.dossier_code}")
    assert page.status_code == 200, page.status_code
    body = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))
    assert "Phòng QLĐT (từ Phòng TC-KH, chuyển ngày 11/03/2026)" in body
    assert body.count("chuyển ngày") == 1  # the steps not moved name their unit alone
    item = c.get(f"/items/{appraise.id}")
    assert item.status_code == 200, item.status_code
    body = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", item.text)))
    assert "Đơn vị Phòng QLĐT (từ Phòng TC-KH, chuyển ngày 11/03/2026)" in body


def test_a_member_moved_to_the_successor_finishes_on_the_web_what_they_hold_at_the_merged_unit(web, client_for,
                                                                                                  tmp_path):
    """tckh_cv holds an appraisal at Phòng TC-KH, which is merged into Phòng QLĐT; moved there (quytrinh user
    move) before the transfer, they find it in their inbox, open it and complete it. A colleague of Phòng QLĐT
    may not open it, and a refused form changes nothing."""
    from engine.store import Dossier, dump
    from tests.conftest import with_merge
    from tests.web.conftest import csrf_of

    store, rt = web.store, web.runtime
    t = dt.datetime(2026, 3, 10, 8, 0, tzinfo=HANOI)
    r = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Đỗ Thị Hoa", now=t)
    sv.complete(store, rt.actor("tckh_head"), _open(store, r.dossier_id, "assign").id, outcome="done",
                now=t + dt.timedelta(minutes=10))
    appraise = _open(store, r.dossier_id, "appraise")
    sv.claim(store, rt.actor("tckh_cv"), appraise.id, now=t + dt.timedelta(minutes=20))
    units = with_merge((REPO / "procedures_yaml" / "units.yaml").read_text(encoding="utf-8"), "phong_tckh",
                       "phong_qldt")
    (tmp_path / "units.yaml").write_text(units, encoding="utf-8")
    sv.seed_organisation(store, load_units(tmp_path / "units.yaml"))
    sv.move_user(store, "tckh_cv", unit="phong_qldt", role="staff", now=t + dt.timedelta(hours=1))
    web.clock.advance(hours=2)

    other = client_for("qldt_cv")
    assert other.get(f"/items/{appraise.id}").status_code == 403
    assert r.dossier_code not in other.get("/inbox").text
    before = dump(store)
    page = other.get("/inbox").text
    refused = other.post(f"/items/{appraise.id}/complete",
                         data={"csrf_token": csrf_of(page), "version": "0", "outcome": "ok", "comment": ""})
    assert refused.status_code == 403
    assert dump(store) == before

    c = client_for("tckh_cv")
    inbox = c.get("/inbox").text
    assert r.dossier_code in inbox
    item = c.get(f"/items/{appraise.id}")
    assert item.status_code == 200, item.status_code
    assert f'action="/items/{appraise.id}/complete"' in item.text
    with store.session() as s:
        v = s.get(Dossier, r.dossier_id).version
    done = c.post(f"/items/{appraise.id}/complete", data={"csrf_token": csrf_of(item.text), "version": str(v),
                                                          "outcome": "ok", "comment": ""}, follow_redirects=False)
    assert done.status_code == 303, done.text[:500]
    after = c.get(done.headers["location"])
    with store.session() as s:
        w = s.get(WorkItem, appraise.id)
    assert (w.state, w.assignee_id) == ("done", rt.actor("tckh_cv").user_id), after.text
    assert after.status_code == 200, after.status_code
