"""The heatmap: step performance measured from work items of dossiers run through the engine,
and the diagram coloured by it (`quytrinh render CODE --heatmap --since DATE`)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from engine import services as sv
from engine.render import heat_class, render, render_heatmap, render_svg
from engine.reports import HeatCell, step_performance
from engine.store import WorkItem

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=HANOI)


def _item(db, d: int, step: str) -> int:
    with db.session() as s:
        return s.exec(select(WorkItem.id).where(WorkItem.dossier_id == d, WorkItem.step_id == step,
                                                WorkItem.state.in_(("open", "claimed")))).one()


@pytest.fixture
def measured(runtime):
    """Household-business dossiers with known step times (working minutes, office hours 8-12, 13-17).

    assign: 60, 120, 300 (+ 540 in February, before --since); appraise: 120 (+ one
    cancelled by a withdrawal); check: 480.
    """
    db, a = runtime.db, runtime.actor

    def receive(when):
        return sv.receive(db, a("motcua"), "1.001612", applicant="Công dân", now=when).dossier_id

    def do(d, step, user, outcome, when):
        sv.complete(db, a(user), _item(db, d, step), outcome=outcome, now=when)

    old = receive(at(2, 24, 8))
    do(old, "assign", "tckh_head", "done", at(2, 25, 9))  # 480 + 60 = 540, before --since
    d1, d2, d3 = receive(at(3, 10, 8)), receive(at(3, 10, 8)), receive(at(3, 10, 8))
    do(d1, "assign", "tckh_head", "done", at(3, 10, 9))
    do(d2, "assign", "tckh_head", "done", at(3, 10, 10))
    do(d3, "assign", "tckh_head", "done", at(3, 10, 14))
    do(d1, "appraise", "tckh_cv", "ok", at(3, 10, 11))
    do(d1, "check", "tckh_head", "ok", at(3, 11, 11))
    sv.withdraw(db, a("motcua"), d3, now=at(3, 11, 9), comment="Rút hồ sơ")
    return runtime


def test_step_performance_from_work_items(measured, catalogue):
    defn = catalogue.find("1.001612")
    heat = step_performance(measured.db, "1.001612", dt.date(2026, 3, 1))
    assert set(heat) == {"receive", "assign", "appraise", "check"}
    allotted = defn.step("assign").duration
    assert heat["assign"] == HeatCell(120.0, allotted, 1 / 3, 3)  # spent 60, 120, 300
    assert heat["appraise"] == HeatCell(120.0, defn.step("appraise").duration, 0.0, 1)  # the cancelled one left out
    assert heat["check"] == HeatCell(480.0, defn.step("check").duration, 1.0, 1)
    assert heat["receive"].n == 3 and heat["receive"].median_spent == 0
    everything = step_performance(measured.db, "1.001612")
    assert everything["assign"].n == 4 and everything["assign"].median_spent == 210.0  # 60 120 300 540
    until_feb = step_performance(measured.db, "1.001612", until=dt.date(2026, 2, 28))
    assert until_feb["assign"] == HeatCell(540.0, allotted, 1.0, 1)
    assert step_performance(measured.db, "9.999999") == {}


def test_heatmap_svg_colours_and_labels_each_step(measured, catalogue):
    defn = catalogue.find("1.001612")
    heat = step_performance(measured.db, "1.001612", dt.date(2026, 3, 1))
    assert [heat_class(heat[s]) for s in ("assign", "appraise", "check")] == ["tight", "fast", "slow"]
    svg = render_heatmap(defn, catalogue.organisation, heat, title="Số liệu từ 01/03/2026").decode()
    assert 'id="step&#45;assign" class="node heat&#45;tight"' in svg
    assert 'id="step&#45;appraise" class="node heat&#45;fast"' in svg
    assert 'id="step&#45;check" class="node heat&#45;slow"' in svg
    assert 'id="step&#45;sign" class="node heat&#45;nodata"' in svg
    assert 'id="step&#45;supplement" class="node heat&#45;nodata"' in svg
    assert "Thực tế: trung vị 2 giờ / 2 giờ (100%)" in svg
    assert "Trễ hạn 33,3% · 3 lượt" in svg and "Trễ hạn 100% · 1 lượt" in svg
    assert 'fill="#f5b7b1"' in svg and 'fill="#abebc6"' in svg  # red and green boxes
    assert "Số liệu từ 01/03/2026" in svg and 'id="heat&#45;legend"' in svg
    # the plain diagram is unchanged by the heatmap code
    plain = render_svg(defn, catalogue.organisation)
    assert plain == render(defn, catalogue.organisation, "svg", heat=None) and b"heat" not in plain
    with pytest.raises(Exception, match="step 'gone'"):
        render_heatmap(defn, catalogue.organisation, {"gone": HeatCell(1.0, 1, 0.0, 1)})
    untimed = render_heatmap(defn, catalogue.organisation, {"supplement": HeatCell(960.0, None, 0.0, 2)}).decode()
    assert 'class="node heat&#45;untimed"' in untimed and "Thực tế: trung vị 2 ngày" in untimed


def test_render_heatmap_cli(measured, monkeypatch, tmp_path):
    from quytrinh.cli import app

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", measured.url)
    monkeypatch.chdir(REPO)
    out = tmp_path / "h.svg"
    res = CliRunner().invoke(app, ["render", "1.001612", "--heatmap", "--since", "2026-03-01", "--out", str(out)])
    assert res.exit_code == 0, res.output
    svg = out.read_text()
    assert 'class="node heat&#45;slow"' in svg and "4 lượt xử lý đã hoàn thành" not in svg
    assert "Số liệu thực tế từ ngày 01/03/2026: 8 lượt xử lý đã hoàn thành" in svg
    for args, message in (
        (["render", "9.999999", "--heatmap"], "thủ tục '9.999999' không có trong danh mục"),
        (["render", "--since", "2026-03-01"], "--since chỉ dùng cùng --heatmap."),
    ):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 1 and message in str(res.exception)
    env = {**os.environ, "QUYTRINH_DATABASE_URL": measured.url}
    proc = subprocess.run([str(Path(sys.executable).parent / "quytrinh"), "render", "1.001612", "--heatmap",
                           "--since", "hôm qua"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == "quytrinh: --since 'hôm qua' không phải ngày; viết YYYY-MM-DD.\n"
