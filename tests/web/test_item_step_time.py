"""A work item's page gives the step's allotted time as the step table, the diagram and the annex say it."""

from __future__ import annotations

import html
import re

from engine import services as sv


def _step_time(page: str) -> str:
    m = re.search(r"<dt>Thời gian cho bước</dt><dd>(.*?)</dd>", page, re.S)
    assert m, "no step time on the page"
    return html.unescape(m[1]).strip()


def test_the_item_page_says_the_steps_time_as_the_step_table_does(web, client_for):
    """Half a working day, in a procedure whose limit is in working days, is "0,5 ngày làm việc" (was "4 giờ
    làm việc": the remaining-time wording), as in the step table."""
    from engine.documents import working_time_text

    rt = web.runtime
    res = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Ngô Văn Bình", now=web.clock())
    sheet = sv.dossier_sheet(web.store, res.dossier_code)
    half_day = [s.id for s in sheet.definition.steps if s.duration == 240]
    assert half_day, "1.001612 has half-day steps"
    item = res.opened[-1]
    while (row := next(r for r in sv.dossier_sheet(web.store, res.dossier_code).rows if r.item_id == item)).step_id \
            not in half_day:  # on through the process until a half-day step opens
        who = next(a for a in rt.actors.values() if a.unit == row.unit_id and a.role == row.role)
        item = sv.complete(web.store, who, item, outcome=sheet.definition.step(row.step_id).routes[0].outcome,
                           now=web.clock()).opened[-1]
    row = next(r for r in sv.dossier_sheet(web.store, res.dossier_code).rows if r.item_id == item)
    who = next(a for a in rt.actors.values() if a.unit == row.unit_id and a.role == row.role)
    page = client_for(who.username).get(f"/items/{item}").text
    assert _step_time(page) == "0,5 ngày làm việc" == working_time_text(240, sheet.definition.time_limit)


def test_a_same_day_procedures_step_reads_in_hours_and_minutes(web, client_for):
    res = sv.receive(web.store, web.runtime.actor("xa_motcua"), "1.001193", applicant="Ngô Thị Na", now=web.clock(),
                     commune="Xã Bát Tràng")
    sheet = sv.dossier_sheet(web.store, res.dossier_code)
    item = res.opened[-1]
    row = next(r for r in sheet.rows if r.item_id == item)
    minutes = row.allotted_minutes
    page = client_for("xa_tuphap").get(f"/items/{item}").text
    expected = {45: "45 phút", 105: "1 giờ 45 phút làm việc", 120: "2 giờ làm việc"}[minutes]
    assert _step_time(page) == expected


def test_a_whole_days_step_has_no_documents_zero_on_the_page(web, client_for):
    """The decision's annex writes "01 ngày làm việc"; the item page, beside "còn 1 ngày làm việc", writes the
    number as people say it."""
    rt = web.runtime
    res = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Lê Thị Hoa", now=web.clock())
    appraise = sv.complete(web.store, rt.actor("tckh_head"), res.opened[-1], outcome="done",
                           now=web.clock()).opened[-1]
    page = client_for("tckh_cv").get(f"/items/{appraise}").text
    assert _step_time(page) == "1 ngày làm việc"
