"""Timeliness reports on dossiers run through the real engine (services with injected `now`).

The scenario (procedure 1.001612, 3 working days, supplement clock `restart`;
and 1.001193, same day) has known outcomes for March 2026:

=====  ===========================================  ==============================
name   what happens                                  March figures
=====  ===========================================  ==============================
P      received and returned in February             nothing
A      received 26/2, finished 2/3                   carried over, completed early
B      received 10/3, finished 11/3                  received, completed early
C      received 10/3, apology 12/3, finished 16/3    received, completed late, 1 apology
G      received 11/3, withdrawn 12/3                 received, withdrawn
K      refused at reception 12/3                     nothing (never received)
I      received 26/3, finished 30/3, returned 2/4    received, completed early, not collected
D      received 25/3, still appraised on 1/4         received, open overdue
F      received 27/3 14:00, untouched                received, open nearly due
E      received online 31/3 09:00                    received, open not due
M      received 24/3, supplement asked 25/3,         received, open not due (paused; the
       supplemented 3/4                              later restart is ignored)
J      received 1/4                                  nothing
L      birth registration 10/3, signed at 17:00      received, completed on time
=====  ===========================================  ==============================
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from engine import services as sv
from engine.reports import (
    ReportError,
    chart_data,
    lead_unit,
    report_csv,
    report_xlsx,
    reports_chart_svg,
    timeliness_report,
)
from engine.store import Apology, Dossier, Event, WorkItem

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent
MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=HANOI)


class Driver:
    def __init__(self, rt):
        self.rt, self.db = rt, rt.db

    def item(self, d: int, step: str) -> WorkItem:
        with self.db.session() as s:
            return s.exec(select(WorkItem).where(WorkItem.dossier_id == d, WorkItem.step_id == step,
                                                 WorkItem.state.in_(("open", "claimed")))).one()

    def receive(self, when: dt.datetime, code: str = "1.001612", **kw) -> int:
        who = "xa_motcua" if code == "1.001193" else "motcua"
        return sv.receive(self.db, self.rt.actor(who), code, applicant="Công dân", now=when, **kw).dossier_id

    def do(self, d: int, step: str, user: str, outcome: str, when: dt.datetime) -> None:
        sv.complete(self.db, self.rt.actor(user), self.item(d, step).id, outcome=outcome, now=when)

    def process(self, d: int, times: list[dt.datetime], start: int = 0) -> None:
        """Household business: the five steps after reception, from the ``start``-th, at ``times``."""
        flow = [("assign", "tckh_head", "done"), ("appraise", "tckh_cv", "ok"), ("check", "tckh_head", "ok"),
                ("sign", "tckh_head", "approve"), ("issue", "vanthu", "done")]
        for (step, user, outcome), when in zip(flow[start:], times):
            self.do(d, step, user, outcome, when)

    def deliver(self, d: int, when: dt.datetime, code: str = "1.001612") -> None:
        who = "xa_motcua" if code == "1.001193" else "motcua"
        sv.return_result(self.db, self.rt.actor(who), self.item(d, "deliver").id, now=when)


@pytest.fixture
def scenario(runtime):
    run = Driver(runtime)
    P = run.receive(at(2, 24, 9))
    run.process(P, [at(2, 24, 10), at(2, 24, 14), at(2, 25, 9), at(2, 25, 10), at(2, 25, 11)])
    run.deliver(P, at(2, 26, 8))
    A = run.receive(at(2, 26, 9))
    run.process(A, [at(2, 27, 9), at(2, 27, 14), at(3, 2, 8), at(3, 2, 9), at(3, 2, 10)])
    run.deliver(A, at(3, 2, 14))
    B = run.receive(at(3, 10, 8))
    run.process(B, [at(3, 10, 9), at(3, 11, 9), at(3, 11, 13), at(3, 11, 15), at(3, 11, 16)])
    run.deliver(B, at(3, 12, 8, 30))
    C = run.receive(at(3, 10, 8))
    G = run.receive(at(3, 11, 8))
    sv.withdraw(run.db, runtime.actor("motcua"), G, now=at(3, 12, 8, 30), comment="Công dân rút hồ sơ")
    sweep = sv.sweep_timers(run.db, now=at(3, 12, 9), calendar=runtime.calendar)
    assert sweep.apologies == 1
    with run.db.session() as s:  # the head of the unit answerable signs it: then it counts
        apology = s.exec(select(Apology)).one()
    sv.sign_apology(run.db, runtime.actor("tckh_head"), apology.id, reason="Chờ xác minh thông tin đăng ký",
                    now=at(3, 12, 9, 30))
    run.process(C, [at(3, 12, 10), at(3, 13, 9), at(3, 13, 14), at(3, 16, 9), at(3, 16, 10)])
    run.deliver(C, at(3, 17, 8))
    sv.receive(run.db, runtime.actor("motcua"), "1.001612", applicant="K", now=at(3, 12, 10),
               decision="refuse", comment="Không thuộc thẩm quyền")
    M = run.receive(at(3, 24, 8))
    run.process(M, [at(3, 24, 9)])
    sv.request_supplement(run.db, runtime.actor("tckh_cv"), run.item(M, "appraise").id, now=at(3, 25, 9),
                          comment="Bổ sung bản sao CCCD")
    D = run.receive(at(3, 25, 8))
    run.process(D, [at(3, 25, 9)])
    I = run.receive(at(3, 26, 8))
    run.process(I, [at(3, 26, 9), at(3, 27, 9), at(3, 27, 10), at(3, 30, 9), at(3, 30, 10)])
    F = run.receive(at(3, 27, 14))
    E = run.receive(at(3, 31, 9), channel="online")
    L = run.receive(at(3, 10, 9), code="1.001193")
    due_l = runtime.calendar.same_day_due(at(3, 10, 9))
    assert due_l == at(3, 10, 17)
    run.do(L, "verify", "xa_tuphap", "done", at(3, 10, 10))
    sv.sign(run.db, runtime.actor("xa_ct"), run.item(L, "sign").id, now=due_l)
    run.deliver(L, at(3, 11, 8), code="1.001193")
    # after the period: must not change March
    J = run.receive(at(4, 1, 9))
    run.process(D, [at(4, 1, 9), at(4, 1, 14), at(4, 2, 9), at(4, 2, 10)], start=1)
    run.deliver(I, at(4, 2, 9))
    sv.supplement_received(run.db, runtime.actor("motcua"), M, now=at(4, 3, 9))
    return dict(P=P, A=A, B=B, C=C, G=G, M=M, D=D, I=I, F=F, E=E, L=L, J=J)


def _row(report, key):
    rows = {r.key: r for r in report.rows}
    assert key in rows, f"no row {key}: {list(rows)}"
    return rows[key]


def test_report_by_procedure_counts_each_figure_exactly(runtime, scenario):
    report = timeliness_report(runtime.db, *MARCH, by="procedure", calendar=runtime.calendar)
    assert [r.key for r in report.rows] == ["1.001193", "1.001612"]
    hb = _row(report, "1.001612")
    assert (hb.received, hb.carried_over, hb.to_process) == (8, 1, 9)
    assert (hb.completed_early, hb.completed_on_time, hb.completed_late, hb.completed) == (3, 0, 1, 4)
    assert (hb.open_overdue, hb.open_nearly_due, hb.open_not_due, hb.open) == (1, 1, 2, 4)
    assert (hb.withdrawn, hb.not_collected, hb.apologies) == (1, 1, 1)
    assert hb.completed + hb.open + hb.withdrawn == hb.to_process
    assert hb.late_rate == 2 / 9 and hb.on_time_rate == 1 - 2 / 9
    birth = _row(report, "1.001193")
    assert (birth.received, birth.completed_on_time, birth.completed, birth.open) == (1, 1, 1, 0)
    assert birth.late_rate == 0 and birth.on_time_rate == 1
    assert birth.label == "1.001193 – Thủ tục đăng ký khai sinh"
    t = report.total
    assert (t.label, t.to_process, t.late, t.apologies) == ("Tổng cộng", 10, 2, 1)
    assert t.late_rate == 2 / 10 and t.on_time_rate == 1 - 2 / 10


def test_open_dossiers_are_judged_at_the_period_end(runtime, scenario):
    # April: D (open overdue at 1/4) finishes late; E, F, M carried over; J received
    april = timeliness_report(runtime.db, dt.date(2026, 4, 1), dt.date(2026, 4, 30), by="level",
                              calendar=runtime.calendar)
    district = _row(april, "district")
    assert (district.carried_over, district.received, district.completed_late) == (4, 1, 1)
    assert district.label == "Cấp huyện"
    # judged in the middle of March, before most of it happened
    mid = timeliness_report(runtime.db, dt.date(2026, 3, 1), dt.date(2026, 3, 31), by="procedure",
                            now=at(3, 13, 9), calendar=runtime.calendar)
    hb = _row(mid, "1.001612")
    assert (hb.received, hb.carried_over, hb.completed_early, hb.withdrawn) == (3, 1, 2, 1)
    assert (hb.open_overdue, hb.open_nearly_due, hb.open_not_due) == (1, 0, 0)  # C is past 13/3 08:00
    assert mid.judged_at == at(3, 13, 9)
    with pytest.raises(ReportError, match="ends .* before it starts"):
        timeliness_report(runtime.db, dt.date(2026, 3, 31), dt.date(2026, 3, 1))
    with pytest.raises(ReportError, match="unknown grouping 'desk'"):
        timeliness_report(runtime.db, *MARCH, by="desk")


def test_report_by_unit_level_channel(runtime, scenario, catalogue):
    assert lead_unit(catalogue.find("1.001612")) == "phong_tckh"
    assert lead_unit(catalogue.find("1.001193")) == "xa_tu_phap"
    by_unit = timeliness_report(runtime.db, *MARCH, by="unit", calendar=runtime.calendar)
    assert {r.key: r.to_process for r in by_unit.rows} == {"phong_tckh": 9, "xa_tu_phap": 1}
    assert _row(by_unit, "phong_tckh").label == catalogue.organisation.units["phong_tckh"].name
    by_channel = timeliness_report(runtime.db, *MARCH, by="channel", calendar=runtime.calendar)
    online = _row(by_channel, "online")
    assert (online.label, online.received, online.open_not_due, online.late_rate) == ("Trực tuyến", 1, 1, 0)
    assert _row(by_channel, "counter").late_rate == 2 / 9
    by_field = timeliness_report(runtime.db, *MARCH, by="field", calendar=runtime.calendar)
    assert _row(by_field, "Hộ tịch").received == 1
    by_level = timeliness_report(runtime.db, *MARCH, by="level", calendar=runtime.calendar)
    assert _row(by_level, "commune").label == "Cấp xã"
    assert by_level.total.as_dict() | {"key": "", "label": ""} == by_unit.total.as_dict() | {"key": "", "label": ""}


def test_a_merged_units_dossiers_are_reported_with_the_unit_that_took_over_its_work(runtime, scenario, tmp_path):
    """units.yaml merged_into: the row is the successor's (its open dossiers and apologies are that unit's
    now), its label naming the merged unit; nothing else changes."""
    from engine.definition import load_units

    before = timeliness_report(runtime.db, *MARCH, by="unit", calendar=runtime.calendar)
    from tests.conftest import with_merge

    text = (REPO / "procedures_yaml" / "units.yaml").read_text(encoding="utf-8")
    (tmp_path / "units.yaml").write_text(with_merge(text, "phong_tckh", "phong_qldt"), encoding="utf-8")
    sv.seed_organisation(runtime.db, load_units(tmp_path / "units.yaml"))
    after = timeliness_report(runtime.db, *MARCH, by="unit", calendar=runtime.calendar)
    assert {r.key: r.to_process for r in after.rows} == {"phong_qldt": 9, "xa_tu_phap": 1}
    row = _row(after, "phong_qldt")
    assert row.label == "Phòng Quản lý đô thị (gồm hồ sơ của Phòng TC-KH đã hợp nhất)"
    assert row.as_dict() | {"key": "", "label": ""} == _row(before, "phong_tckh").as_dict() | {"key": "", "label": ""}
    assert after.total.as_dict() == before.total.as_dict()


@pytest.fixture
def communes_scenario(runtime):
    """March 2026, birth registrations (1.001193, commune level, same day) in two communes, one received
    without its commune, and household businesses (1.001612, district level) that belong to no commune.

    =====  ==============================  ====================================================
    YV     Xã Yên Viên, 10/3               completed early
    DT1    Xã Đa Tốn, 11/3                 open overdue at 31/3; its apology signed 11/3
    DT2    "xã  đa tốn" (as typed), 12/3   completed on time (signed at 17:00, the due instant)
    U      no commune, 13/3                open overdue (a commune-level dossier, commune unknown)
    H, H2  district level, 16/3 and 30/3   open (H2 online); H names Xã Đa Tốn (through the API)
    =====  ==============================  ====================================================
    """
    run = Driver(runtime)
    YV = run.receive(at(3, 10, 9), code="1.001193", commune="Xã Yên Viên")
    run.do(YV, "verify", "xa_tuphap", "done", at(3, 10, 10))
    sv.sign(run.db, runtime.actor("xa_ct"), run.item(YV, "sign").id, now=at(3, 10, 11))
    run.deliver(YV, at(3, 11, 8), code="1.001193")
    DT1 = run.receive(at(3, 11, 9), code="1.001193", commune="Xã Đa Tốn")
    assert sv.sweep_timers(run.db, now=at(3, 12, 8), calendar=runtime.calendar).apologies == 1
    with run.db.session() as s:
        apology = s.exec(select(Apology)).one()
    assert apology.dossier_id == DT1
    sv.sign_apology(run.db, runtime.actor("xa_ct"), apology.id, reason="Chờ xác minh", now=at(3, 12, 8, 30))
    DT2 = run.receive(at(3, 12, 9), code="1.001193", commune="xã  đa tốn")
    run.do(DT2, "verify", "xa_tuphap", "done", at(3, 12, 10))
    sv.sign(run.db, runtime.actor("xa_ct"), run.item(DT2, "sign").id, now=at(3, 12, 17))
    U = run.receive(at(3, 13, 9), code="1.001193")
    H = run.receive(at(3, 16, 8), commune="Xã Đa Tốn")  # as the API lets it: still no commune's dossier
    H2 = run.receive(at(3, 30, 9), channel="online")
    return dict(YV=YV, DT1=DT1, DT2=DT2, U=U, H=H, H2=H2)


def test_report_by_commune_gives_one_row_per_commune(runtime, communes_scenario):
    from engine.reports import DIMENSION_LABELS, DIMENSIONS

    report = timeliness_report(runtime.db, *MARCH, by="commune", calendar=runtime.calendar)
    # units.yaml's order (Đa Tốn before Yên Viên, as the reception form lists them; by code point Đ comes
    # after Y), then the commune-level dossier without its commune, then the district-level ones
    assert [(r.key, r.label) for r in report.rows] == [
        ("Xã Đa Tốn", "Xã Đa Tốn"), ("Xã Yên Viên", "Xã Yên Viên"),
        ("(commune)", "Cấp xã (chưa ghi xã, thị trấn)"), ("(district)", "Cấp huyện (không thuộc xã, thị trấn)")]
    da_ton, yen_vien, unrecorded, district = report.rows
    assert (da_ton.received, da_ton.to_process, da_ton.completed_on_time, da_ton.open_overdue) == (2, 2, 1, 1)
    assert (da_ton.apologies, da_ton.completed_early, da_ton.late_rate) == (1, 0, 1 / 2)  # "xã  đa tốn" folded in
    assert (yen_vien.received, yen_vien.completed_early, yen_vien.not_collected, yen_vien.apologies) == (1, 1, 0, 0)
    assert (unrecorded.received, unrecorded.open_overdue) == (1, 1)
    assert (district.received, district.open, district.apologies) == (2, 2, 0)
    assert report.total.to_process == 6 and report.total.apologies == 1
    assert DIMENSION_LABELS["commune"] == "Xã, thị trấn" and "theo xã, thị trấn" in report.title
    for by in DIMENSIONS:  # the same dossiers, however they are grouped
        other = timeliness_report(runtime.db, *MARCH, by=by, calendar=runtime.calendar)
        assert other.total == report.total, by
        assert sum(r.to_process for r in other.rows) == 6, by
    # without units.yaml's list the communes go by name; a list given orders them and spells them
    by_name = timeliness_report(runtime.db, *MARCH, by="commune", calendar=runtime.calendar, communes=())
    assert [r.key for r in by_name.rows][:2] == ["Xã Yên Viên", "Xã Đa Tốn"]
    given = timeliness_report(runtime.db, *MARCH, by="commune", calendar=runtime.calendar,
                              communes=["XÃ YÊN VIÊN", "Xã Đa Tốn"])
    assert [r.label for r in given.rows][:2] == ["XÃ YÊN VIÊN", "Xã Đa Tốn"]
    # a period before any dossier: no commune row at all
    feb = timeliness_report(runtime.db, dt.date(2026, 2, 1), dt.date(2026, 2, 28), by="commune",
                            calendar=runtime.calendar)
    assert feb.rows == [] and feb.total.to_process == 0


def test_report_by_commune_exports_and_cli(runtime, communes_scenario, monkeypatch, tmp_path):
    from openpyxl import load_workbook

    from quytrinh.cli import app

    report = timeliness_report(runtime.db, *MARCH, by="commune", calendar=runtime.calendar)
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    assert rows[0][0] == "Xã, thị trấn"
    assert [r[0] for r in rows[1:]] == ["Xã Đa Tốn", "Xã Yên Viên", "Cấp xã (chưa ghi xã, thị trấn)",
                                        "Cấp huyện (không thuộc xã, thị trấn)", "Tổng cộng"]
    assert chart_data(report)["categories"][:2] == ["Xã Đa Tốn", "Xã Yên Viên"]
    assert "<title>Cấp huyện (không thuộc xã, thị trấn)</title>" in reports_chart_svg(report)
    ws = load_workbook(io.BytesIO(report_xlsx(report))).active
    assert ws["A3"].value == "Xã, thị trấn" and ws["A4"].value == "Xã Đa Tốn"

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--from", "2026-03-01", "--to", "2026-03-31", "--by", "commune",
                              "--format", "json", "--now", "2026-05-01T00:00"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["by"] == "commune"
    assert {r["label"]: r["to_process"] for r in data["rows"]} == {
        "Xã Đa Tốn": 2, "Xã Yên Viên": 1, "Cấp xã (chưa ghi xã, thị trấn)": 1,
        "Cấp huyện (không thuộc xã, thị trấn)": 2}
    res = runner.invoke(app, ["report", "--from", "2026-03-01", "--to", "2026-03-31", "--by", "commune",
                              "--now", "2026-05-01T00:00"])
    assert res.exit_code == 0, res.output
    assert "Xã, thị trấn" in res.output and "Xã Yên Viên" in res.output and "Tổng cộng" in res.output
    help_text = runner.invoke(app, ["report", "--help"]).output
    assert "|channel|commune>" in help_text
    from engine.reports import DIMENSIONS
    from quytrinh.commands.report import Dimension

    assert tuple(d.value for d in Dimension) == DIMENSIONS  # the CLI's copy of the list (kept light to import)


def test_csv_xlsx_and_chart_exports(runtime, scenario, tmp_path):
    from openpyxl import load_workbook

    report = timeliness_report(runtime.db, *MARCH, by="procedure", calendar=runtime.calendar)
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    head = rows[0]
    assert head[0] == "Thủ tục hành chính" and "Tồn kỳ trước" in head and "Tỷ lệ trễ hạn (%)" in head
    body = {r[0]: dict(zip(head, r)) for r in rows[1:]}
    hb = body["1.001612 – Đăng ký thành lập hộ kinh doanh"]
    assert (hb["Tiếp nhận trong kỳ"], hb["Đang giải quyết: quá hạn"], hb["Phiếu xin lỗi (mẫu 04)"]) == ("8", "1", "1")
    assert hb["Tỷ lệ trễ hạn (%)"] == "22.22" and hb["Tỷ lệ đúng và trước hạn (%)"] == "77.78"
    assert hb["Tỷ lệ đã giải quyết đúng và trước hạn (%)"] == "75.00"  # A, B, I early, C late
    assert body["Tổng cộng"]["Tổng số phải giải quyết"] == "10"

    path = tmp_path / "r.xlsx"
    report_xlsx(report, path)
    ws = load_workbook(path).active
    header = [c.value for c in ws[3]]
    assert header[0] == "Thủ tục hành chính" and header[-1] == "Tỷ lệ đã giải quyết đúng và trước hạn (%)"
    assert ws["A3"].font.bold and ws["A3"].fill.fgColor.rgb.endswith("1F4E79")
    values = {ws.cell(row=r, column=1).value: [c.value for c in ws[r]] for r in range(4, ws.max_row + 1)}
    total = values["Tổng cộng"]
    late_col = header.index("Tỷ lệ trễ hạn (%)")
    assert total[late_col] == pytest.approx(0.2) and ws.cell(row=ws.max_row, column=late_col + 1).number_format == "0.00%"
    assert total[header.index("Tồn kỳ trước")] == 1 and total[header.index("Đã giải quyết: trễ hạn")] == 1

    data = chart_data(report)
    assert data["categories"] == [r.label for r in report.rows]
    svg = reports_chart_svg(report)
    assert svg.startswith("<svg") and "<script" not in svg
    assert 'data-series="completed_late" data-value="1"' in svg and 'data-series="open_overdue"' in svg
    assert "77,78%" in svg and "Đăng ký thành lập hộ kinh doanh" in svg
    labels = re.findall(r'text-anchor="end"><title>[^<]*</title>([^<]*)</text>', svg)
    assert labels and max(len(x) for x in labels) <= 32  # 252 px left of the bars: nothing is cut at the edge


def test_empty_period_gives_zero_rows_and_no_rate(runtime):
    report = timeliness_report(runtime.db, *MARCH, by="unit", calendar=runtime.calendar)
    assert report.rows == [] and report.total.to_process == 0 and report.total.late_rate is None
    assert report_csv(report).splitlines()[-1].endswith(",,")
    assert "Không có hồ sơ" in reports_chart_svg(report)


def test_report_cli_formats_and_errors(runtime, scenario, monkeypatch, tmp_path):
    from openpyxl import load_workbook

    from quytrinh.cli import app

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    runner = CliRunner()

    def call(*args):
        return runner.invoke(app, ["report", "--from", "2026-03-01", "--to", "2026-03-31", *args])

    res = call("--by", "procedure", "--format", "json", "--now", "2026-05-01T00:00")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["total"]["late_rate"] == 0.2 and data["total"]["to_process"] == 10
    res = call("--by", "unit")
    assert res.exit_code == 0 and "Tổng cộng" in res.output and "Phòng Tài chính" in res.output
    out = tmp_path / "r.csv"
    res = call("--by", "channel", "--format", "csv", "--out", str(out))
    assert res.exit_code == 0 and out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "Trực tuyến" in out.read_text("utf-8-sig")
    xlsx = tmp_path / "r.xlsx"
    res = call("--format", "xlsx", "--out", str(xlsx))
    assert res.exit_code == 0 and load_workbook(xlsx).active["A3"].value == "Thủ tục hành chính"
    res = call("--format", "xlsx")
    assert res.exit_code == 1 and "--out FILE.xlsx" in str(res.exception)
    res = call("--by", "desk")
    assert res.exit_code == 2 and "desk" in res.output
    # the console script: one located line, exit 1, no traceback
    env = {**os.environ, "QUYTRINH_DATABASE_URL": runtime.url}
    proc = subprocess.run([str(Path(sys.executable).parent / "quytrinh"), "report", "--from", "2026-13-01",
                           "--to", "2026-03-31"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == "quytrinh: --from '2026-13-01' không phải ngày; viết YYYY-MM-DD.\n"


def _table_figures(output: str, label: str) -> list[str]:
    """The figures of the row ``label`` of a printed report table, across its parts, in order."""
    figures: list[str] = []
    for line in output.splitlines():
        if line.strip().startswith(label):
            figures += line.strip()[len(label):].split()
    return figures


@pytest.mark.parametrize("width", [None, 80, 120, 230])
def test_report_table_fits_and_crops_no_figure(runtime, scenario, monkeypatch, capsys, width):
    from engine.reports import COLUMNS, report_table, timeliness_report
    from quytrinh.commands.report import TABLE_COLUMNS, _pct, print_table

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    report = timeliness_report(runtime.db, dt.date(2026, 3, 1), dt.date(2026, 3, 31), "unit",
                               now=at(5, 1, 0))
    kinds = {attr: (i + 1, kind) for i, (attr, _, kind) in enumerate(COLUMNS)}
    total = report_table(report)[-1]
    expected = [(_pct(total[kinds[a][0]]) if kinds[a][1] == "%" else str(total[kinds[a][0]])) for a, _ in TABLE_COLUMNS]
    assert "completed_on_time_rate" in [a for a, _ in TABLE_COLUMNS]  # the third rate, as CSV/JSON have it
    if width is None:  # the console script, piped: not a terminal
        env = {**os.environ, "QUYTRINH_DATABASE_URL": runtime.url, "COLUMNS": "80"}
        proc = subprocess.run([str(Path(sys.executable).parent / "quytrinh"), "report", "--from", "2026-03-01",
                               "--to", "2026-03-31", "--by", "unit", "--now", "2026-05-01T07:00"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
    else:
        capsys.readouterr()
        print_table(report, width)
        out = capsys.readouterr().out
        assert max(len(line) for line in out.splitlines()) <= width
    assert _table_figures(out, "Tổng cộng") == expected, out
    assert re.search(r"\b100,00?%|\d+,\d\d%", out) and "…" not in out
    table, _, note = out.partition("GQ: giải quyết.")
    assert table.count("Tỷ") == 3  # the three rates' headers (folded onto several lines)
    assert "đúng và trước hạn = 100% − tỷ lệ trễ hạn" in " ".join(note.split())  # and what each rate is


def test_no_apology_is_counted_before_one_was_made(runtime, scenario):
    with runtime.db.session() as s:
        drafted = [a.drafted_at for a in s.exec(select(Apology)).all()]
    assert drafted == [at(3, 12, 9)]
    feb = timeliness_report(runtime.db, dt.date(2026, 2, 1), dt.date(2026, 2, 28), calendar=runtime.calendar)
    assert feb.total.apologies == 0 and feb.total.received == 2 and feb.total.completed == 1


# --------------------------------------------------------------------------- web page

from tests.web.conftest import client_for, web  # noqa: E402,F401  (fixtures of the web tests)


def test_reports_web_page_table_chart_and_exports(scenario, client_for, web):
    from openpyxl import load_workbook

    web.clock.t = at(4, 20, 9)
    head = client_for("tckh_head")
    page = head.get("/reports?from=2026-03-01&to=2026-03-31&by=procedure")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert 'data-key="1.001612"' in html and "22,22%" in html and "77,78%" in html
    assert 'class="completed-on-time-rate">75,00%' in html and 'id="rates-note"' in html  # the third rate, explained
    assert "được đánh giá tính đến hết ngày 31/03/2026." in html  # March is over on 20/4: judged at its end
    running = head.get("/reports?from=2026-04-01&to=2026-04-30&by=procedure").text
    assert "được đánh giá tính đến 20/04/2026 09:00." in running  # April still runs: judged now
    half = head.get("/reports?from=abc&to=2026-03-31&by=procedure").text  # the valid date is kept
    assert "Ô “Từ ngày” (&#39;abc&#39;) không hợp lệ" in half and "lấy kỳ từ 01/03/2026 đến 31/03/2026" in half
    future = head.get("/reports?from=2027-01-01&to=2027-01-31&by=procedure").text
    assert "Kỳ báo cáo bắt đầu sau hôm nay; báo cáo dưới đây là của hôm nay (20/04/2026)." in future
    assert "<svg" in html and 'data-series="completed_late"' in html and "<script" not in html.split("<main>")[1]
    csv_res = head.get("/reports/export.csv?from=2026-03-01&to=2026-03-31&by=channel")
    assert csv_res.status_code == 200 and csv_res.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_res.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Hình thức nộp" and rows[-1][0] == "Tổng cộng"
    xlsx = head.get("/reports/export.xlsx?from=2026-03-01&to=2026-03-31")
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    assert ws["A3"].value == "Thủ tục hành chính"
    bad = head.get("/reports?from=2026-03-31&to=2026-03-01")
    assert bad.status_code == 200 and "sớm hơn ô “Từ ngày”" in bad.text
    assert "báo cáo dưới đây lấy kỳ từ 01/03/2026 đến 31/03/2026" in bad.text  # says what it shows instead
    heat = head.get("/reports/heatmap?code=1.001612&since=2026-03-01")
    assert heat.status_code == 200 and 'class="node heat&#45;' in heat.text
    unknown = head.get("/reports/heatmap?code=9.999999")
    assert unknown.status_code == 200 and "Không có thủ tục mã 9.999999" in unknown.text
    counter = client_for("motcua").get("/reports?from=2026-03-01&to=2026-03-31&by=procedure")
    assert counter.status_code == 200 and "22,22%" in counter.text  # one-stop staff see the same figures


def test_the_heatmap_defaults_to_the_last_90_days_and_the_procedure_with_most_dossiers_on_both_pages(
        scenario, client_for, web):
    """/reports' heatmap form and /reports/heatmap give the same default period (the last 90 days, as `quytrinh
    render --heatmap`), whatever the report's period, and the same procedure: the one with the most dossiers in
    it (1.001612 here, not 1.001193, the first of the list, which has one); audit finding 9."""
    web.clock.t = at(4, 20, 9)
    head = client_for("tckh_head")
    home = head.get("/reports?from=2026-04-01&to=2026-04-30&by=unit").text
    form = home.split('action="/reports/heatmap"', 1)[1].split("</form>", 1)[0]
    assert 'name="since" value="2026-01-20"' in form, form
    assert re.findall(r'<option value="([^"]+)" selected>', form) == ["1.001612"], form
    page = head.get("/reports/heatmap")
    assert page.status_code == 200
    form = page.text.split('action="/reports/heatmap"', 1)[1].split("</form>", 1)[0]
    assert 'name="since" value="2026-01-20"' in form, form
    assert re.findall(r'<option value="([^"]+)" selected>', form) == ["1.001612"], form
    assert 'id="heatmap"' in page.text and 'class="node heat&#45;' in page.text  # drawn at once
    assert "Số liệu thực tế từ ngày 20/01/2026" in page.text
    # no dossier in the last 90 days: nothing chosen, and the page says why
    web.clock.t = at(12, 20, 9)
    home = head.get("/reports").text
    form = home.split('action="/reports/heatmap"', 1)[1].split("</form>", 1)[0]
    assert 'name="since" value="2026-09-21"' in form and " selected>" not in form
    empty = head.get("/reports/heatmap").text
    assert 'id="heatmap"' not in empty and " selected>" not in empty.split("</form>", 1)[0]
    assert "Chưa có thủ tục nào có hồ sơ từ ngày 21/09/2026" in empty


def test_reports_web_page_by_commune(communes_scenario, client_for, web):
    web.clock.t = at(4, 20, 9)
    head = client_for("tckh_head")
    page = head.get("/reports?from=2026-03-01&to=2026-03-31&by=commune")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert '<option value="commune" selected>Xã, thị trấn</option>' in html
    assert "theo xã, thị trấn" in html and "<th rowspan=\"2\">Xã, thị trấn</th>" in html
    keys = re.findall(r'<tr(?: class="total")? data-key="([^"]*)"', html)
    assert keys == ["Xã Đa Tốn", "Xã Yên Viên", "(commune)", "(district)", ""]
    assert "Cấp huyện (không thuộc xã, thị trấn)" in html and "Cấp xã (chưa ghi xã, thị trấn)" in html
    assert 'href="/reports/export.csv?from=2026-03-01&amp;to=2026-03-31&amp;by=commune"' in html
    csv_res = head.get("/reports/export.csv?from=2026-03-01&to=2026-03-31&by=commune")
    rows = list(csv.reader(io.StringIO(csv_res.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Xã, thị trấn" and rows[1][0] == "Xã Đa Tốn" and rows[-1][0] == "Tổng cộng"
    assert 'filename="bao-cao-theo-xa-20260301-20260331.csv"' in csv_res.headers["content-disposition"]
    by_commune = head.get("/reports/export.xlsx?from=2026-03-01&to=2026-03-31&by=commune")
    assert by_commune.status_code == 200
    assert 'filename="bao-cao-theo-xa-20260301-20260331.xlsx"' in by_commune.headers["content-disposition"]
    for by, stem in (("unit", "theo-don-vi"), ("procedure", "theo-thu-tuc"), ("field", "theo-linh-vuc"),
                     ("level", "theo-cap"), ("channel", "theo-hinh-thuc-nop")):
        named = head.get(f"/reports/export.csv?from=2026-03-01&to=2026-03-31&by={by}").headers["content-disposition"]
        assert f'filename="bao-cao-{stem}-20260301-20260331.csv"' in named


def test_rates_round_half_up_the_same_everywhere():
    from engine.reports import ReportRow, _percent, percent_text, rate_percent

    row = ReportRow("x", "x", received=32, completed_late=1, completed_early=31)
    assert row.late_rate == 1 / 32 and _percent(row.late_rate) == 3.13  # half up, as Excel shows 0.03125
    assert _percent(2 / 3) == 66.67 and _percent(0.145) == 14.5
    assert (rate_percent(row, "late_rate"), rate_percent(row, "on_time_rate")) == (3.13, 96.87)  # they add up to 100
    assert percent_text(rate_percent(row, "late_rate")) == "3,13%" and percent_text(None) == "–"
    assert row.completed_on_time_rate == 31 / 32
    assert ReportRow("y", "y", received=1, open_overdue=1).completed_on_time_rate is None  # none finished


def test_an_apology_counts_in_the_month_it_was_signed_and_a_past_month_never_changes(runtime):
    """Drafted by the timer on 31/3, signed by the head on 1/4: an April apology. March, reported on 1/4
    before the signature, stays as reported after it."""
    run = Driver(runtime)
    d = run.receive(at(3, 27, 9))  # 3 working days: due Wednesday 1/4 09:00
    assert sv.sweep_timers(run.db, now=at(3, 31, 9), calendar=runtime.calendar).apologies == 1
    with run.db.session() as s:
        apology = s.exec(select(Apology)).one()
    assert (apology.dossier_id, apology.state, apology.signed_at) == (d, "draft", None)

    def march_and_april(now: dt.datetime) -> tuple[int, int]:
        march = timeliness_report(run.db, *MARCH, now=now, calendar=runtime.calendar)
        april = timeliness_report(run.db, dt.date(2026, 4, 1), dt.date(2026, 4, 30), now=now,
                                  calendar=runtime.calendar)
        return march.total.apologies, april.total.apologies

    assert march_and_april(at(4, 1, 8)) == (0, 0)  # March as first reported: the draft is no apology yet
    sv.sign_apology(run.db, runtime.actor("tckh_head"), apology.id, reason="Chờ xác minh thông tin đăng ký",
                    now=at(4, 1, 8, 30))
    with run.db.session() as s:
        assert s.exec(select(Apology)).one().signed_at == at(4, 1, 8, 30)
    assert march_and_april(at(4, 1, 8, 15)) == (0, 0)  # judged before the signature
    assert march_and_april(at(4, 1, 9)) == (0, 1)  # March unchanged; the apology is April's
    assert march_and_april(at(5, 1, 0)) == (0, 1)


def test_migration_0009_takes_the_signing_instant_of_earlier_apologies_from_their_events(runtime, db_url):
    """Apologies signed before ``apologies.signed_at`` existed get the instant of their apology_signed event."""
    import sqlalchemy as sa
    from alembic import command

    from engine.store import HEAD_REVISION, alembic_config, migrate

    run = Driver(runtime)
    run.receive(at(3, 27, 9))
    sv.sweep_timers(run.db, now=at(3, 31, 9), calendar=runtime.calendar)
    with run.db.session() as s:
        apology_id = s.exec(select(Apology)).one().id
    sv.sign_apology(run.db, runtime.actor("tckh_head"), apology_id, reason="Chờ xác minh", now=at(3, 31, 10))
    url = runtime.url
    command.downgrade(alembic_config(url), "0008")
    with run.db.engine.connect() as conn:
        assert "signed_at" not in {c["name"] for c in sa.inspect(conn).get_columns("apologies")}
    migrate(run.db.engine)
    with run.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
    run.db.engine.dispose()
    with run.db.session() as s:
        assert s.exec(select(Apology)).one().signed_at == at(3, 31, 10)
    march = timeliness_report(run.db, *MARCH, now=at(4, 1, 0), calendar=runtime.calendar)
    assert march.total.apologies == 1


def test_a_supplement_asked_for_after_the_deadline_does_not_restart_the_clock(runtime):
    """1.001612 restarts its limit after a supplementation; asked for when the dossier is already overdue,
    it does not: the dossier stays overdue, finishes late and counts late (the reports audit's R4).
    Asked for in time, the limit runs again in full."""
    run = Driver(runtime)
    late = run.receive(at(3, 16, 9))  # 3 working days: due Thursday 19/3 09:00
    in_time = run.receive(at(3, 16, 9, 5))
    for d in (late, in_time):
        run.process(d, [at(3, 16, 10)])  # the head assigns: the appraisal is open
    sv.request_supplement(run.db, runtime.actor("tckh_cv"), run.item(in_time, "appraise").id, now=at(3, 18, 9),
                          comment="Thiếu bản sao giấy tờ")
    assert sv.sweep_timers(run.db, now=at(3, 20, 9), calendar=runtime.calendar).overdue >= 1
    sv.request_supplement(run.db, runtime.actor("tckh_cv"), run.item(late, "appraise").id, now=at(3, 25, 9),
                          comment="Thiếu bản sao giấy tờ")
    for d in (late, in_time):
        sv.supplement_received(run.db, runtime.actor("motcua"), d, now=at(3, 26, 9))
    with run.db.session() as s:
        dossiers = {d.id: d for d in s.exec(select(Dossier)).all()}
        resumed = {e.dossier_id: e.action for e in s.exec(select(Event).where(
            Event.action.in_(("clock_resume", "clock_restart")))).all()}  # type: ignore[attr-defined]
    assert resumed == {late: "clock_resume", in_time: "clock_restart"}
    assert dossiers[late].due_at == at(3, 19, 9) and dossiers[late].clock_restarts == 0
    assert dossiers[in_time].due_at == at(3, 31, 9) and dossiers[in_time].clock_restarts == 1
    for d in (late, in_time):
        run.process(d, [at(3, 27, 9), at(3, 27, 10), at(3, 27, 11), at(3, 27, 14)], start=1)
    with run.db.session() as s:
        assert {d: s.get(Dossier, d).timeliness for d in (late, in_time)} == {late: "late", in_time: "early"}
    march = timeliness_report(run.db, *MARCH, now=at(4, 1, 0), calendar=runtime.calendar)
    assert (march.total.completed_late, march.total.completed_early) == (1, 1)


NO_LIMIT = "1.000145"  # a shipped procedure whose time limit is not known yet


@pytest.fixture
def no_limit_finished(runtime):
    """A 1.000145 dossier (no time limit) received 3/3 and finished (refused after appraisal) on 4/3."""
    from engine.definition import load_catalogue

    db = runtime.db
    files = sorted((Path(__file__).resolve().parent.parent / "procedures_yaml").rglob(f"{NO_LIMIT}-*.yaml"))
    defn = load_catalogue(files).definitions[0]
    assert defn.time_limit.value is None
    sv.publish_definition(db, defn, now=at(3, 1, 8), by="test")
    head = sv.add_user(db, "ldtbxh_head", unit="phong_ldtbxh", role="head", now=at(3, 1, 8))
    officer = sv.add_user(db, "ldtbxh_cv", unit="phong_ldtbxh", role="staff", now=at(3, 1, 8))
    run = Driver(runtime)
    d = sv.receive(db, runtime.actor("motcua"), NO_LIMIT, applicant="Công dân", now=at(3, 3, 9)).dossier_id
    sv.complete(db, head, run.item(d, "assign").id, outcome="done", now=at(3, 3, 10))
    sv.complete(db, officer, run.item(d, "appraise").id, outcome="refuse", now=at(3, 4, 9),
                comment="Không thuộc đối tượng hưởng trợ cấp")
    sv.complete(db, head, run.item(d, "refuse_draft").id, outcome="done", now=at(3, 4, 10))
    return d


def test_a_procedure_without_a_time_limit_shows_in_its_own_column(runtime, scenario, no_limit_finished,
                                                                     client_for, web):
    report = timeliness_report(runtime.db, *MARCH, by="procedure", now=at(5, 1, 0), calendar=runtime.calendar)
    row = next(r for r in report.rows if r.key == NO_LIMIT)
    assert (row.to_process, row.completed, row.completed_unclassified, row.on_time_rate) == (1, 1, 1, 1.0)
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    body = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    exported = next(v for k, v in body.items() if k.startswith(NO_LIMIT))
    assert exported["Đã giải quyết: không có thời hạn"] == "1" and exported["Đã giải quyết"] == "1"
    for r in body.values():  # the sub-columns add up to the completed dossiers on every row
        assert sum(int(r[f"Đã giải quyết: {c}"]) for c in ("trước hạn", "đúng hạn", "trễ hạn", "không có thời hạn")) \
            == int(r["Đã giải quyết"])

    web.clock.t = at(5, 1, 9)
    page = client_for("tckh_head").get("/reports?from=2026-03-01&to=2026-03-31&by=procedure")
    assert page.status_code == 200
    assert "<th>Không có thời hạn</th>" in page.text and 'colspan="4">Đã giải quyết' in page.text
    cells = re.search(rf'<tr data-key="{re.escape(NO_LIMIT)}">(.*?)</tr>', page.text, re.S).group(1)
    figures = re.findall(r"<td[^>]*>([^<]*)</td>", cells)[1:]
    # Tồn, Tiếp nhận, Phải GQ, then early / on time / late / no limit
    assert figures[:7] == ["0", "1", "1", "0", "0", "0", "1"]
    assert "hồ sơ của thủ tục không có thời hạn giải quyết" in page.text
    # The CLI table too: its column, and the total row's figures in order.
    from quytrinh.commands.report import print_table, table_columns

    assert [a for a, _ in table_columns(report)][3:7] == [
        "completed_early", "completed_on_time", "completed_late", "completed_unclassified"]
    buf = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(buf):
        print_table(report, width=400)
    out = buf.getvalue()
    assert "Đã GQ không có thời hạn" in out and "thủ tục không có thời hạn" in " ".join(out.split())
    assert _table_figures(out, "Tổng cộng")[3:7] == [str(report.total.completed_early),
                                                     str(report.total.completed_on_time),
                                                     str(report.total.completed_late), "1"]


def test_the_no_limit_column_is_left_out_when_the_period_has_none(runtime, scenario, client_for, web):
    web.clock.t = at(5, 1, 9)
    page = client_for("tckh_head").get("/reports?from=2026-03-01&to=2026-03-31&by=procedure")
    assert page.status_code == 200 and "Không có thời hạn</th>" not in page.text
    assert 'colspan="3">Đã giải quyết' in page.text and "Tiếp nhận trong kỳ" in page.text
    from quytrinh.commands.report import TABLE_COLUMNS, table_columns

    report = timeliness_report(runtime.db, *MARCH, by="procedure", now=at(5, 1, 0), calendar=runtime.calendar)
    assert table_columns(report) == TABLE_COLUMNS
