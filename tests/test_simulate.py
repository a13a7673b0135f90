"""The discrete-event simulation of a procedure (engine.simulate, `quytrinh simulate`)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.errors import NotFound
from engine.simulate import (
    SimParams,
    SimulationError,
    parse_arrivals,
    parse_route_override,
    parse_staff,
    route_kind,
    route_probabilities,
    simulate,
)

REPO = Path(__file__).resolve().parent.parent
HB, PERMIT, BIRTH = "1.001612", "1.013225", "1.001193"


def run(catalogue, calendar, code: str, **kw):
    kw.setdefault("days", 15)
    return simulate(catalogue.find(code), SimParams(**kw), calendar, catalogue.organisation.units)


def test_default_route_probabilities_follow_the_definition(catalogue):
    defn = catalogue.find(HB)
    probs = route_probabilities(defn, SimParams(20))
    assert probs["receive"] == [("accept", pytest.approx(0.87)), ("supplement", 0.10), ("refuse", 0.03)]
    assert probs["appraise"] == [("ok", pytest.approx(0.87)), ("supplement", 0.10), ("refuse", 0.03)]
    assert probs["check"] == [("ok", 1.0), ("rework", 0.0)]
    assert probs["refuse_draft"] == [("done", 1.0)] and "deliver" not in probs  # terminal
    assert [route_kind(defn, defn.step("receive"), o) for o in ("accept", "supplement", "refuse")] == \
        ["main", "supplement", "refuse"]
    assert route_kind(defn, defn.step("check"), "rework") == "rework"
    custom = route_probabilities(defn, SimParams(20, rework=0.2, routes={"appraise.supplement": 0.3}))
    assert dict(custom["appraise"]) == {"ok": pytest.approx(0.67), "supplement": 0.3, "refuse": 0.03}
    assert dict(custom["check"]) == {"ok": pytest.approx(0.8), "rework": 0.2}
    with pytest.raises(SimulationError, match="no step 'apraise'"):
        route_probabilities(defn, SimParams(20, routes={"apraise.ok": 0.5}))
    with pytest.raises(SimulationError, match="step 'appraise' has no outcome 'maybe'; its outcomes: ok, supplement, refuse"):
        route_probabilities(defn, SimParams(20, routes={"appraise.maybe": 0.5}))
    with pytest.raises(SimulationError, match="add up to 1.13"):
        route_probabilities(defn, SimParams(20, routes={"appraise.supplement": 0.9, "appraise.refuse": 0.23}))


def test_parsers_give_located_messages():
    assert parse_arrivals("20/day") == 20 and parse_arrivals("20") == 20
    assert parse_arrivals("100/week") == 20 and parse_arrivals("2,5/giờ") == 20
    assert parse_staff(["bp_mot_cua=2", "phong_tckh = 5"]) == {"bp_mot_cua": 2, "phong_tckh": 5}
    assert parse_route_override(["appraise.supplement=20%"]) == {"appraise.supplement": 0.2}
    for fn, arg, message in ((parse_arrivals, "nhiều", "--arrivals 'nhiều' is not a rate"),
                             (parse_staff, ["phong_tckh"], "--staff 'phong_tckh' is not UNIT=N"),
                             (parse_staff, ["phong_tckh=0"], "at least 1"),
                             (parse_staff, ["a=1", "a=2"], "names unit 'a' twice"),
                             (parse_route_override, ["appraise=0.2"], "is not STEP.OUTCOME=P"),
                             (parse_route_override, ["appraise.ok=1.5"], "between 0 and 1")):
        with pytest.raises(SimulationError, match=message):
            fn(arg)


def test_deterministic_with_a_seed(catalogue, calendar):
    staff = {"bp_mot_cua": 3, "phong_tckh": 10}
    a = run(catalogue, calendar, HB, arrivals_per_day=20, staff=staff, seed=5).as_dict()
    b = run(catalogue, calendar, HB, arrivals_per_day=20, staff=staff, seed=5).as_dict()
    c = run(catalogue, calendar, HB, arrivals_per_day=20, staff=staff, seed=6).as_dict()
    assert a == b and a != c
    d = a["dossiers"]
    assert d["arrived"] == d["received"] + d["refused_at_reception"]
    assert d["received"] == d["completed"] + d["unfinished"] and d["completed"] == d["on_time"] + d["late"]
    assert 200 < d["arrived"] < 400  # Poisson, 20/day over 15 working days


def test_on_time_rate_drops_when_staff_are_reduced(catalogue, calendar):
    rates, arrived = {}, set()
    for n in (12, 7, 5):
        res = run(catalogue, calendar, HB, arrivals_per_day=20, staff={"bp_mot_cua": 3, "phong_tckh": n,
                                                                        "van_phong": 2})
        rates[n] = res.on_time_rate
        arrived.add(res.arrived)
        units = {u.id: u for u in res.units}
        assert units["phong_tckh"].staff == n and 0 < units["phong_tckh"].utilisation <= 1
    assert rates[12] > 0.9 and rates[12] > rates[7] > rates[5]
    assert len(arrived) == 1  # common random numbers: the same dossiers arrive whatever the staff
    busy = run(catalogue, calendar, HB, arrivals_per_day=20, staff={"bp_mot_cua": 3, "phong_tckh": 5})
    steps = {s.id: s for s in busy.steps}
    assert steps["appraise"].wait_mean > steps["check"].wait_mean >= 0 or steps["assign"].wait_max > 480
    assert max(s.wait_max for s in busy.steps) >= max(s.wait_mean for s in busy.steps)


def test_zero_arrivals(catalogue, calendar):
    res = run(catalogue, calendar, HB, arrivals_per_day=0)
    data = res.as_dict()
    assert data["dossiers"] == {"arrived": 0, "received": 0, "refused_at_reception": 0, "completed": 0,
                                "on_time": 0, "late": 0, "unfinished": 0, "on_time_rate": None}
    assert data["lead_time_minutes"] == {"mean": None, "p90": None, "max": None}
    assert all(s["visits"] == 0 for s in data["steps"]) and all(u["utilisation"] == 0 for u in data["units"])


def test_parallel_branches_join_once(catalogue, calendar):
    staff = {"bp_mot_cua": 3, "phong_qldt": 8, "ubnd_xa_noi_co_dat": 3}
    res = run(catalogue, calendar, PERMIT, arrivals_per_day=10, staff=staff)
    visits = {s.id: s.visits for s in res.steps}
    assert visits["consult_commune"] == visits["site_check"] == visits["report"] > 0
    assert res.unfinished == 0 and res.completed == res.received


def test_citizen_time_does_not_count(catalogue, calendar):
    """Household business restarts its clock after a supplement: slow citizens lengthen the lead time, not lateness."""
    staff = {"bp_mot_cua": 4, "phong_tckh": 14, "van_phong": 2}
    quick = run(catalogue, calendar, HB, arrivals_per_day=10, staff=staff, supplement=0.4, citizen_delay=60)
    slow = run(catalogue, calendar, HB, arrivals_per_day=10, staff=staff, supplement=0.4, citizen_delay=20 * 480)
    assert slow.lead_time()["mean"] > quick.lead_time()["mean"] + 5 * 480
    assert slow.on_time_rate > 0.9 and abs(slow.on_time_rate - quick.on_time_rate) < 0.08


def test_same_day_procedure_on_the_calendar(catalogue, calendar):
    res = run(catalogue, calendar, BIRTH, arrivals_per_day=20, staff={"xa_mot_cua": 2, "xa_tu_phap": 2})
    assert res.limit_minutes is None and "trong ngày" in res.limit_text
    assert res.on_time_rate > 0.95
    tight = run(catalogue, calendar, BIRTH, arrivals_per_day=20, effort=6.0, service="fixed")
    assert tight.on_time_rate < res.on_time_rate  # 6 × the allotted time cannot fit one day


def test_a_certain_loop_does_not_hang(catalogue, calendar):
    res = run(catalogue, calendar, HB, arrivals_per_day=2, days=3, routes={"appraise.supplement": 1.0, "appraise.refuse": 0.0},
              citizen_delay=0)
    assert res.received > 0 and res.unfinished == res.received and res.on_time_rate == 0


def test_parameter_errors(catalogue, calendar):
    with pytest.raises(SimulationError, match="no staffed step at unit 'phong_qldt'; its units: bp_mot_cua, phong_tckh, van_phong"):
        run(catalogue, calendar, HB, arrivals_per_day=5, staff={"phong_qldt": 2})
    with pytest.raises(SimulationError, match="--service 'gamma' is unknown"):
        run(catalogue, calendar, HB, arrivals_per_day=5, service="gamma")
    with pytest.raises(SimulationError, match="--days must be at least 1"):
        run(catalogue, calendar, HB, arrivals_per_day=5, days=0)
    assert dataclasses.is_dataclass(SimParams(1))


def test_simulate_cli_json_table_and_errors(monkeypatch):
    from quytrinh.cli import app

    monkeypatch.chdir(REPO)
    runner = CliRunner()
    res = runner.invoke(app, ["simulate", HB, "--arrivals", "20/day", "--staff", "bp_mot_cua=3", "--staff",
                              "phong_tckh=10", "--days", "10", "--seed", "3", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) == {"procedure", "parameters", "dossiers", "lead_time_minutes", "steps", "units",
                         "simulated_minutes"}
    assert data["procedure"] == {"code": HB, "name": "Đăng ký thành lập hộ kinh doanh", "limit_minutes": 1440,
                                 "limit": "3 ngày làm việc"}
    assert data["parameters"]["staff"] == {"bp_mot_cua": 3, "phong_tckh": 10, "van_phong": 1}
    assert data["parameters"]["seed"] == 3 and data["parameters"]["arrivals_per_day"] == 20
    assert set(data["steps"][0]) == {"id", "name", "unit", "kind", "allotted_minutes", "visits",
                                     "wait_mean_minutes", "wait_max_minutes", "service_mean_minutes"}
    assert set(data["units"][0]) == {"id", "name", "staff", "busy_minutes", "utilisation"}
    assert 0 <= data["dossiers"]["on_time_rate"] <= 1
    res = runner.invoke(app, ["simulate", HB, "--arrivals", "5/day", "--days", "5"])
    assert res.exit_code == 0 and "Tỷ lệ đúng hạn dự kiến" in res.output and "Phòng Tài chính" in res.output

    for args, message in (
        (["9.999999", "--arrivals", "20/day"], "procedure '9.999999' is not in the catalogue"),
        ([HB, "--arrivals", "nhiều"], "--arrivals 'nhiều' is not a rate"),
        ([HB, "--arrivals", "2", "--route", "appraise.maybe=0.1"], "step 'appraise' has no outcome 'maybe'"),
    ):
        res = runner.invoke(app, ["simulate", *args])
        assert res.exit_code == 1 and isinstance(res.exception, SimulationError | NotFound)
        assert message in str(res.exception)
    # the console script: one line on stderr, exit 1, nothing on stdout
    proc = subprocess.run([str(Path(sys.executable).parent / "quytrinh"), "simulate", HB, "--arrivals", "20/day",
                           "--staff", "phong_tckh:3"], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == ("quytrinh: Không mô phỏng được: --staff 'phong_tckh:3' không có dạng ĐƠN_VỊ=N; "
                           "viết ví dụ --staff bp_mot_cua=2.\n")


def test_the_docs_first_example_prints_the_json_the_docs_show(monkeypatch):
    import re
    import shlex

    from quytrinh.cli import app

    monkeypatch.chdir(REPO)
    doc = (REPO / "docs" / "simulation.md").read_text(encoding="utf-8")
    command = shlex.split(next(line for line in doc.splitlines() if line.strip().startswith("quytrinh simulate")))
    shown = re.search(r"```json\n(.*?)```", doc, re.S)[1].replace(', "..."', "")
    shown = json.loads(shown)
    res = CliRunner().invoke(app, [*command[1:], "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    for key in ("procedure", "parameters", "dossiers", "lead_time_minutes", "simulated_minutes"):
        assert data[key] == shown[key], key
    assert data["units"][0] == shown["units"][0]
    assert {k: v for k, v in data["steps"][0].items() if k != "name"} == \
        {k: v for k, v in shown["steps"][0].items() if k != "name"}


def test_citizen_steps_count_their_visits_and_delay():
    from engine.definition import default_root, load_catalogue
    from engine.simulate import SimParams, simulate

    defn = load_catalogue([default_root()]).find("1.001612")
    res = simulate(defn, SimParams(arrivals_per_day=20, staff={"bp_mot_cua": 3, "phong_tckh": 12, "van_phong": 2},
                                   days=20, seed=1)).as_dict()
    steps = {s["id"]: s for s in res["steps"]}
    assert steps["supplement"]["visits"] > 0 and steps["supplement"]["service_mean_minutes"] > 0
    # every supplemented dossier came back: to appraisal (asked during it), to reception (asked at the counter)
    assert steps["appraise"]["visits"] == steps["assign"]["visits"] + steps["supplement"]["visits"]
    assert steps["receive"]["visits"] == res["dossiers"]["arrived"] + steps["supplement_counter"]["visits"]
