"""Legal time limits in calendar days ("trong thời hạn 15 ngày"): the unit ``calendar_days``.

Civil Code 2015 Art. 147(2): the day of receipt is not counted; Art. 148(1), (5): the limit ends with its
last day, or with the next working day when that day is a weekend day or a holiday. The loader, the
calendar, the SLA clock, the services on a real database, the linter and the documents all say the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from engine import services as sv
from engine import sla
from engine.calendar import LOCAL_TZ
from engine.definition import MINUTES_PER_DAY, TimeLimit, definition_from_data, load_templates, nominal_working_days
from engine.errors import DefinitionError
from engine.machine import Status
from engine.store import Dossier
from engine.yamlsrc import load_text


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=LOCAL_TZ)


PROCEDURE = """\
code: "9.000015"
name: "Thủ tục thử nghiệm có thời hạn tính theo ngày"
field: "Thử"
level: district
authority: "Ủy ban nhân dân cấp huyện"
signer: {{unit: lanh_dao_ubnd, role: vice_chairman}}
time_limit:
  value: {value}
  unit: calendar_days
  basis: "Trong thời hạn 15 ngày kể từ ngày nhận đủ hồ sơ hợp lệ"
  verified: true
supplement_clock: pause
status: draft
version: 1
extends: standard
with: {{office: phong_qldt}}
steps:
  - id: appraise
    duration: {appraise}
"""


TEMPLATES = load_templates(Path(__file__).resolve().parent.parent / "procedures_yaml" / "templates")


def definition(value="15", appraise="5d"):
    return definition_from_data(load_text(PROCEDURE.format(value=value, appraise=appraise), "thu.yaml"), "thu.yaml",
                                TEMPLATES)


# --------------------------------------------------------------------------- the format


def test_the_limit_reads_as_the_law_writes_it():
    tl = definition().time_limit
    assert (tl.value, tl.unit, tl.describe()) == (15.0, "calendar_days", "15 ngày")
    assert tl.minutes == 11 * MINUTES_PER_DAY  # the working days 15 days always hold


def test_a_fraction_of_a_calendar_day_is_a_located_error():
    with pytest.raises(DefinitionError) as exc:
        definition(value="7.5")
    text = str(exc.value)
    assert "thu.yaml:8:3" in text and "số ngày nguyên" in text


@pytest.mark.parametrize("days,working", [(1, 1), (2, 1), (3, 1), (5, 3), (7, 5), (10, 6), (15, 11), (20, 14),
                                           (30, 21), (45, 31)])
def test_nominal_working_days(days, working):
    assert nominal_working_days(days) == working


def test_nominal_working_days_is_the_least_the_calendar_gives_in_weeks_without_holidays(calendar):
    """Against the calendar itself, every receipt day of three holiday-free weeks (October 2026), received at
    closing time: the working time left before the due instant is never less, and once exactly that."""
    for days in range(1, 32):
        least = None
        for d in range(5, 26):
            received = dt.datetime(2026, 10, d, 17, 0, tzinfo=LOCAL_TZ)
            due = calendar.calendar_days_due(received, days)
            assert due.date() <= dt.date(2026, 12, 31)
            minutes = calendar.elapsed(received, due)
            least = minutes if least is None else min(least, minutes)
        assert least == nominal_working_days(days) * MINUTES_PER_DAY, days


# --------------------------------------------------------------------------- the calendar and the clock


@pytest.mark.parametrize("received,days,due", [
    (at(3, 2), 15, at(3, 17, 17)),            # Monday: counted from Tuesday, ends on Tuesday 17/3
    (at(3, 6), 15, at(3, 23, 17)),            # the 15th day is Saturday 21/3: Monday
    (at(3, 6, 16, 59), 1, at(3, 9, 17)),      # the receipt day is not counted; Saturday rolls to Monday
    (at(2, 10), 15, at(2, 25, 17)),           # Tết 2026 counts: these are calendar days
    (at(4, 16, 10), 15, at(5, 4, 17)),        # 1/5 is a holiday (Friday), then the weekend
])
def test_calendar_days_due(calendar, received, days, due):
    assert calendar.calendar_days_due(received, days) == due


@pytest.mark.parametrize("days", [0, -1, 1.5, True])
def test_calendar_days_due_refuses_what_is_not_a_number_of_days(calendar, days):
    from engine.errors import CalendarError

    with pytest.raises(CalendarError, match="integer >= 1"):
        calendar.calendar_days_due(at(3, 2), days)


def test_the_clock_in_calendar_days(calendar):
    c = sla.Clock.for_dossier(at(3, 2), calendar_days=15)
    assert c.due(calendar) == at(3, 17, 17)
    assert c.limit(calendar) == calendar.elapsed(at(3, 2), at(3, 17, 17))
    assert c.remaining(calendar, at(3, 17, 16)) == 60
    assert sla.Clock.from_dict(c.as_dict()) == c and c.as_dict()["calendar_days"] == 15
    # A pause moves the due instant by the working time it covers (two working days here).
    p = c.pause(at(3, 4)).resume(at(3, 6))
    assert p.due(calendar) == at(3, 19, 17)
    stored = p.close(at(3, 18)).as_dict()
    back = sla.Clock.from_dict(stored)
    assert back.calendar_days == 15 and back.due(calendar) == at(3, 19, 17)
    # The validated path (a subclass skips the fast one) reads it the same.
    assert type("Sub", (sla.Clock,), {}).from_dict(stored).due(calendar) == at(3, 19, 17)


def test_under_restart_the_days_run_again_from_the_supplemented_dossier(calendar):
    c = sla.Clock.for_dossier(at(3, 2), calendar_days=15, policy="restart")
    c = c.pause(at(3, 4)).resume(at(3, 9, 10))
    assert c.due(calendar) == calendar.calendar_days_due(at(3, 9, 10), 15) == at(3, 24, 17)


@pytest.mark.parametrize("kwargs,message", [
    ({"calendar_days": 0}, "calendar_days must be an integer >= 1"),
    ({"calendar_days": 15, "limit_minutes": 480}, "neither limit_minutes nor same_day"),
    ({"calendar_days": 15, "same_day": True}, "neither limit_minutes nor same_day"),
])
def test_a_bad_clock_in_calendar_days_is_refused(kwargs, message):
    with pytest.raises(sla.ClockError, match=message):
        sla.Clock(at(3, 2), **kwargs)


# --------------------------------------------------------------------------- a dossier on a real database


def test_a_dossier_is_due_by_the_civil_code_and_its_supplementation_pauses_it(runtime):
    db, cal = runtime.db, runtime.calendar
    sv.publish_definition(db, definition(), now=at(3, 5, 8))
    r = sv.receive(db, runtime.actor("motcua"), "9.000015", applicant="Trần Thị Bình", now=at(3, 6, 9))
    with db.session() as s:
        d = s.get(Dossier, r.dossier_id)
    assert d.due_at == at(3, 23, 17)  # 6/3 + 15 days = Saturday 21/3: Monday 23/3, 17:00

    def item(step):
        return next(t for t in sv.list_tasks(db, now=at(3, 6, 10)) if t.dossier_id == r.dossier_id
                    and t.step_id == step)

    sv.complete(db, runtime.actor("qldt_head"), item("assign").item_id, outcome="done", now=at(3, 6, 10))
    sv.request_supplement(db, runtime.actor("qldt_cv"), item("appraise").item_id, now=at(3, 9, 9),
                          comment="Thiếu bản vẽ")
    sv.supplement_received(db, runtime.actor("motcua"), r.dossier_id, now=at(3, 11, 9))
    with db.session() as s:
        d = s.get(Dossier, r.dossier_id)
    assert d.paused_minutes == cal.elapsed(at(3, 9, 9), at(3, 11, 9)) == 2 * MINUTES_PER_DAY
    assert d.due_at == at(3, 25, 17) and d.status == Status.PROCESSING
    assert sla.Clock.from_dict(d.clock).calendar_days == 15


# --------------------------------------------------------------------------- the linter and the documents


def test_the_linter_fits_the_steps_into_the_working_days_the_limit_holds():
    from engine.lint import lint

    over = [h for h in lint(definition(appraise="10d")) if h.rule_id == "over-limit"]
    assert len(over) == 1
    assert "vượt thời hạn 15 ngày (tính cả ngày nghỉ; tuần không có ngày lễ có ít nhất 11 ngày làm việc)" \
        in over[0].message
    assert "12,5 ngày làm việc" in over[0].message and "tổng cộng 1,5 ngày làm việc" in over[0].message
    assert not [h for h in lint(definition(appraise="5d")) if h.rule_id == "over-limit"]


def test_the_documents_say_days_not_working_days_for_the_limit_and_working_days_for_the_steps():
    from engine.documents import annex_rows, limit_text
    from engine.render import header_lines, step_time_text

    defn = definition()
    assert limit_text(defn.time_limit) == "15 ngày"
    assert limit_text(replace(defn.time_limit, value=7.0)) == "07 ngày"
    assert header_lines(defn)[2] == "Thời gian giải quyết: tổng 7,5 ngày làm việc / thời hạn 15 ngày"
    assert step_time_text(4 * 60, defn.time_limit) == "0,5 ngày"  # in days, as against working days
    assert step_time_text(4 * 60, TimeLimit(4.0, "working_hours")) == "4 giờ"
    rows = {r.step.id: r.time for r in annex_rows(defn) if r.step is not None}
    assert rows["appraise"] == "05 ngày làm việc"


def test_the_simulation_judges_a_dossier_by_its_calendar_days(catalogue, calendar):
    """Against 15 calendar days (at least 11 working days), a process of 7,5 working days is on time; at
    3 × its effort (22,5 working days) it never is."""
    from engine.simulate import SimParams, simulate

    def rate(effort):
        res = simulate(definition(), SimParams(arrivals_per_day=4, days=20, effort=effort, service="fixed",
                                                supplement=0.0, refuse=0.0, default_staff=50),
                       calendar, catalogue.organisation.units)
        assert res.limit_text == "15 ngày" and res.completed > 0
        return res.on_time_rate

    assert rate(1.0) == 1.0
    assert rate(3.0) == 0.0
