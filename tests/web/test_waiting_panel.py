"""The one-stop officer's "waiting for the applicant" panel of /inbox (``engine.services.waiting_for_applicant``).

Several dossiers wait at once, each for a reason the panel tells apart: a supplement asked at the counter,
a supplement asked during appraisal, a dossier asked twice (what was asked is the latest request), a dossier
asked at the counter and later during appraisal (the request that opened *its* waiting step), the financial
obligations (no comment), a commune's dossier (another one-stop unit); a dossier no longer waiting is not
listed. The panel's content is compared with the plain (quadratic) reading it replaced, kept here as the
reference, so a faster implementation is proven to say the same.
"""

from __future__ import annotations

import re
from typing import Any

from engine import services as sv
from tests.test_financial import land_runtime, open_item, to_payment


def _reference(store: Any, unit: str | None) -> list[dict[str, Any]]:
    """The panel as first written: every commented event of the waiting dossiers scanned for each of them."""
    from sqlmodel import select

    from engine.store import OPEN_ITEM_STATES, DefinitionVersion, Dossier, Event, WorkItem

    with store.session() as s:
        rows = s.exec(select(WorkItem, Dossier, DefinitionVersion)
                      .join(Dossier, Dossier.id == WorkItem.dossier_id)  # type: ignore[arg-type]
                      .join(DefinitionVersion, DefinitionVersion.id == Dossier.definition_id)  # type: ignore[arg-type]
                      .where(WorkItem.kind == "citizen", WorkItem.state.in_(OPEN_ITEM_STATES))  # type: ignore[attr-defined]
                      .order_by(WorkItem.opened_at)).all()
        out = []
        for w, d, v in rows:
            defn = sv.definition_of(v)
            if unit is None or defn.start.unit == unit:
                step = defn.steps_by_id().get(w.step_id)
                out.append({"item": w, "dossier": d, "procedure": v.name,
                            "financial": step is not None and step.financial, "asked": ""})
        if out:
            ids = [r["dossier"].id for r in out]
            events = s.exec(select(Event).where(Event.dossier_id.in_(ids), Event.comment != "")  # type: ignore[attr-defined]
                            .order_by(Event.id)).all()
            for r in out:
                w = r["item"]
                opened = [e for e in events if e.dossier_id == w.dossier_id and w.step_id in (e.to_steps or [])]
                if opened:
                    r["asked"] = opened[-1].comment
    return out


def _plain(rows: list[dict[str, Any]]) -> list[tuple]:
    return [(r["dossier"].code, r["item"].id, r["item"].step_id, r["item"].opened_at, r["procedure"], r["financial"],
             r["asked"], r["dossier"].applicant) for r in rows]


def _several_waiting(web) -> dict[str, str]:
    """Seven dossiers, six of them waiting, one minute apart; their codes by what happened to them."""
    store, clock, rt = web.store, web.clock, web.runtime
    actors = land_runtime(rt)
    motcua, head, cv = rt.actor("motcua"), rt.actor("tckh_head"), rt.actor("tckh_cv")

    def tick():
        return clock.advance(minutes=1)

    def to_appraisal(applicant: str) -> sv.ActionResult:
        res = sv.receive(store, motcua, "1.001612", applicant=applicant, now=tick())
        return sv.complete(store, head, open_item(store, res.dossier_id, "assign").id, outcome="done", now=tick())

    def ask(res: sv.ActionResult, what: str) -> sv.ActionResult:
        return sv.complete(store, cv, open_item(store, res.dossier_id, "appraise").id, outcome="supplement",
                           comment=what, now=tick())

    codes = {}
    # asked at the counter
    codes["counter"] = sv.receive(store, motcua, "1.001612", applicant="Bà Ngô Thị Huệ", decision="supplement",
                                  comment="Thiếu tờ khai đăng ký hộ kinh doanh", now=tick()).dossier_code
    # asked during appraisal
    appraisal = to_appraisal("Ông Trần Văn Bình")
    ask(appraisal, "Thiếu bản sao giấy tờ pháp lý")
    codes["appraisal"] = appraisal.dossier_code
    # asked twice during appraisal: the latest request is what is asked now
    twice = to_appraisal("Bà Lê Thị Cúc")
    ask(twice, "Thiếu hợp đồng thuê nhà")
    sv.supplement_received(store, motcua, twice.dossier_code, comment="Đã nộp hợp đồng", now=tick())
    ask(twice, "Hợp đồng thuê nhà chưa được công chứng")
    codes["twice"] = twice.dossier_code
    # asked at the counter, accepted once supplemented, then asked again during appraisal
    both = sv.receive(store, motcua, "1.001612", applicant="Ông Phạm Văn Dũng", decision="supplement",
                      comment="Thiếu ảnh chụp căn cước", now=tick())
    sv.supplement_received(store, motcua, both.dossier_code, now=tick())
    sv.complete(store, motcua, open_item(store, both.dossier_id, "receive").id, outcome="accept", now=tick())
    sv.complete(store, head, open_item(store, both.dossier_id, "assign").id, outcome="done", now=tick())
    ask(both, "Thiếu giấy xác nhận địa điểm kinh doanh")
    codes["both"] = both.dossier_code
    # asked, then supplemented: no longer waiting
    done = to_appraisal("Bà Vũ Thị Én")
    ask(done, "Thiếu bản sao sổ hộ khẩu")
    sv.supplement_received(store, motcua, done.dossier_code, now=tick())
    codes["no longer"] = done.dossier_code
    # the financial obligations (the tax office's notice has no comment)
    tick()
    codes["financial"] = to_payment(store, actors, tick).dossier_code
    # a commune's one-stop unit
    codes["commune"] = sv.receive(store, rt.actor("xa_motcua"), "1.001193", applicant="Lê Văn Tý",
                                  commune="Xã Bát Tràng", decision="supplement",
                                  comment="Thiếu giấy chứng sinh", now=tick()).dossier_code
    return codes


def test_the_panel_tells_each_wait_apart_and_says_what_was_asked(web):
    from engine.services import waiting_for_applicant

    codes = _several_waiting(web)
    district = waiting_for_applicant(web.store, "bp_mot_cua")
    assert [(r["dossier"].code, r["item"].step_id, r["financial"], r["asked"]) for r in district] == [
        (codes["counter"], "supplement_counter", False, "Thiếu tờ khai đăng ký hộ kinh doanh"),
        (codes["appraisal"], "supplement", False, "Thiếu bản sao giấy tờ pháp lý"),
        (codes["twice"], "supplement", False, "Hợp đồng thuê nhà chưa được công chứng"),
        (codes["both"], "supplement", False, "Thiếu giấy xác nhận địa điểm kinh doanh"),
        (codes["financial"], "pay", True, ""),
    ]
    commune = waiting_for_applicant(web.store, "xa_mot_cua")
    assert [(r["dossier"].code, r["asked"]) for r in commune] == [(codes["commune"], "Thiếu giấy chứng sinh")]
    assert [r["dossier"].code for r in waiting_for_applicant(web.store, None)] == [
        codes[k] for k in ("counter", "appraisal", "twice", "both", "financial", "commune")]
    assert waiting_for_applicant(web.store, "phong_tckh") == []
    # The same as the reading it replaced, field by field, for every unit.
    for unit in ("bp_mot_cua", "xa_mot_cua", None, "phong_tckh"):
        assert _plain(waiting_for_applicant(web.store, unit)) == _plain(_reference(web.store, unit)), unit


def test_the_inbox_panel_lists_the_waiting_dossiers_in_order(web, client_for):
    codes = _several_waiting(web)
    inbox = client_for("motcua").get("/inbox").text
    assert "Hồ sơ chờ tổ chức, cá nhân bổ sung hoặc thực hiện nghĩa vụ tài chính (5)" in inbox
    panel = inbox.split('<table id="waiting">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="t-paused" data-dossier="([^"]+)">(.*?)</tr>', panel, re.S)
    assert [code for code, _ in rows] == [codes[k] for k in ("counter", "appraisal", "twice", "both", "financial")]
    cells = dict(rows)
    assert "<td>Bổ sung hồ sơ</td>" in cells[codes["counter"]]
    assert "Thiếu tờ khai đăng ký hộ kinh doanh" in cells[codes["counter"]]
    assert "Thiếu hợp đồng thuê nhà" not in cells[codes["twice"]]
    assert "Hợp đồng thuê nhà chưa được công chứng" in cells[codes["twice"]]
    assert "Thiếu ảnh chụp căn cước" not in cells[codes["both"]]
    assert "Thiếu giấy xác nhận địa điểm kinh doanh" in cells[codes["both"]]
    assert "<td>Nghĩa vụ tài chính</td>" in cells[codes["financial"]]
    assert '<div class="muted small">' not in cells[codes["financial"]]  # nothing was asked in writing
    assert codes["no longer"] not in panel and codes["commune"] not in panel
    commune = client_for("xa_motcua").get("/inbox").text
    assert "Hồ sơ chờ tổ chức, cá nhân bổ sung hoặc thực hiện nghĩa vụ tài chính (1)" in commune
    assert f'data-dossier="{codes["commune"]}"' in commune and "Thiếu giấy chứng sinh" in commune
