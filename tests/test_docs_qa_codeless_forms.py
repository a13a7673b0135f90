"""Documents QA: the one-stop forms of a dossier of a procedure without a national code (no empty
"(Mã TTHC: )"), and the control sheet's allotted time said as the step table says it; dossiers run
through the real engine, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest

from engine import services as sv
from engine.documents import render_form
from tests.test_forms import at, item, text

#: The key a codeless procedure is published under (the stem of its file).
KEY = "khai-sinh-thu-nghiem"


@pytest.fixture
def codeless(runtime, catalogue):
    """A dossier of a copy of 1.001193 without its national code, in 3 working days, its verification step
    given 1,5 days and its signature 105 minutes, received and run through verification: (runtime, dossier
    code)."""
    rt = runtime
    base = catalogue.find("1.001193")
    minutes = {"verify": 720, "sign": 105}
    defn = replace(base, code="", code_verified=False, slug=KEY,
                   time_limit=replace(base.time_limit, value=3, unit="working_days"),
                   steps=tuple(replace(s, duration=minutes.get(s.id, s.duration)) for s in base.steps))
    with rt.db.write() as s:
        sv.publish_definition(s, defn, now=at(9, 8), by="test")
    r = sv.receive(rt.db, rt.actor("xa_motcua"), KEY, applicant="Trần Thị Bình", now=at(10, 8))
    sv.complete(rt.db, rt.actor("xa_tuphap"), item(rt.db, r.dossier_id, "verify").id, outcome="done",
                now=at(10, 9))
    return rt, r.dossier_code


def test_the_forms_of_a_codeless_procedure_print_no_empty_code(codeless):
    rt, code = codeless
    name = sv.current_definition(rt.db, KEY)[1].name
    for form in ("01", "control"):
        body = text(render_form(rt.db, form, code))
        assert name in body, form
        assert "Mã TTHC:" not in body and "Mã TTHC: )" not in body, (form, body[:2000])
        assert KEY not in body.replace(code, ""), form  # nor the file's name (the dossier code starts with it)


def test_the_control_sheet_gives_a_steps_time_as_the_step_table(codeless):
    rt, code = codeless
    defn = sv.current_definition(rt.db, KEY)[1]
    page = render_form(rt.db, "control", code).decode()
    rows = re.findall(r"<tr>(.*?)</tr>", page.split('class="grid control"')[1].split("</table>")[0], flags=re.S)
    row_of = {s.id: next(text(r.encode()) for r in rows if s.name in text(r.encode()))
              for s in defn.steps if s.id in ("verify", "sign")}
    assert "1,5 ngày" in row_of["verify"] and "1 ngày 4 giờ" not in row_of["verify"], row_of  # the table's
    # "1,5 ngày làm việc"
    assert "1 giờ 45 phút" in row_of["sign"] and "105 phút" not in row_of["sign"], row_of
