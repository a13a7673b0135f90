"""`quytrinh due`, run as a real command in a subprocess."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.calendar import WorkCalendar

REPO = Path(__file__).resolve().parent.parent


def _command() -> list[str]:
    script = Path(sys.executable).parent / "quytrinh"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "quytrinh.cli"]


def run(*args: str, stdin: str | None = None, env: dict | None = None,
        cwd: Path = REPO) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("QUYTRINH_CATALOGUE_DIR", None)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run([*_command(), "due", *args], input=stdin, capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=120)


def assert_clean_failure(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_one_deadline():
    proc = run("--start", "2026-02-13T16:00", "--duration", "1.5d")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2026-02-24T11:00\n"


def test_same_day_and_unit():
    proc = run("--start", "2026-02-13T15:30", "--same-day", "--unit", "bp_mot_cua")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2026-02-23T17:00\n"


def test_batch_from_stdin_matches_the_library():
    rng = random.Random(7)
    cal = WorkCalendar.default()
    lines, expected = [], []
    for _ in range(2000):
        start = datetime(2024, 1, 1) + timedelta(minutes=rng.randrange(4 * 365 * 24 * 60))
        minutes = rng.randrange(0, 20 * 480)
        lines.append(f"{start:%Y-%m-%dT%H:%M}\t{minutes}")
        expected.append(f"{cal.add(start, minutes):%Y-%m-%dT%H:%M}")
    lines[0] = "2024-05-03T16:00\t120"          # make-up Saturday 4/5/2024
    expected[0] = "2024-05-04T09:00"
    lines[1] = "2026-02-13 16:00\t1.5d"         # a duration is accepted too
    expected[1] = "2026-02-24T11:00"
    proc = run("--batch", "-", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected


def test_batch_bad_lines_are_located():
    stdin = "2026-02-13T16:00\t720\n2026-02-30T16:00\t60\n2026-03-02T08:00\t4x\n2026-03-02T08:00\n"
    proc = run("--batch", "-", stdin=stdin)
    assert_clean_failure(proc)
    errors = proc.stderr.splitlines()
    assert errors[0] == "<stdin>:2: '2026-02-30T16:00' không phải thời điểm bắt đầu: viết YYYY-MM-DDTHH:MM (giờ Việt Nam)."
    assert errors[1].startswith("<stdin>:3: '4x' không phải thời lượng: viết một số và đơn vị d, h hoặc m")
    assert errors[2].startswith("<stdin>:4: cần dạng BẮT_ĐẦU<TAB>SỐ_PHÚT")
    assert errors[3] == "quytrinh: <stdin> có 3 dòng sai; chưa in thời hạn nào."


def test_batch_from_a_file(tmp_path):
    path = tmp_path / "cases.tsv"
    path.write_text("2024-02-07T16:00\t120\n2024-02-07T16:00\n", encoding="utf-8")
    proc = run("--batch", str(path), "--same-day")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2024-02-15T17:00\n2024-02-15T17:00\n"
    bad = tmp_path / "bad.tsv"
    bad.write_text("2024-02-07T16:00\t-5\n", encoding="utf-8")
    proc = run("--batch", str(bad))
    assert_clean_failure(proc)
    assert proc.stderr.startswith(f"{bad}:1: số phút phải từ 0 trở lên, không phải -5.")


@pytest.mark.parametrize("args,message", [
    (("--start", "2026-02-13T16:00", "--duration", "2"),
     "quytrinh: Không tính được thời hạn: thời lượng '2' thiếu đơn vị: viết 2d, 2h hoặc 2m."),
    (("--start", "13/02/2026", "--duration", "1d"), "quytrinh: '13/02/2026' không phải thời điểm bắt đầu"),
    (("--start", "2026-02-13T16:00"),
     "quytrinh: Hãy cho --duration (ví dụ 1.5d, 4h, 30m), --same-day hoặc --calendar-days."),
    (("--start", "2026-02-13T16:00", "--duration", "1d", "--unit", "nowhere"),
     "quytrinh: Không tính được thời hạn: không có đơn vị 'nowhere' trong units.yaml hay calendar.yaml"),
    (("--start", "2026-02-13T16:00", "--duration", "1d", "--unit", "phong_tkch"),
     "không có đơn vị 'phong_tkch' trong units.yaml hay calendar.yaml (có phải 'phong_tckh'?)"),
    (("--batch", "/nonexistent/cases.tsv"), "quytrinh: Không tính được thời hạn: không có tệp /nonexistent/cases.tsv."),
    (("--start", "2026-02-13T16:00", "--duration", "1d", "--same-day"),
     "quytrinh: --duration và --same-day không dùng cùng nhau: hãy chọn một."),
    (("--start", "2026-02-13T16:00", "--calendar-days", "15", "--same-day"),
     "quytrinh: --same-day và --calendar-days không dùng cùng nhau: hãy chọn một."),
    (("--start", "2026-02-13T16:00", "--calendar-days", "0"),
     "quytrinh: --calendar-days phải là số ngày nguyên dương, không phải 0."),
    (("--batch", "-", "--calendar-days", "15"),
     "quytrinh: --calendar-days chỉ dùng cùng --start, không dùng với --batch."),
    (("--duration", "1d"), "quytrinh: Hãy cho --start"),
    (("--start", "2026-02-13T16:00", "--duration", "1d", "--cutoff", "15:00"), "--cutoff chỉ dùng cùng --same-day"),
    (("--start", "2126-02-13T16:00", "--duration", "1d"), "không tính được cho năm 2126"),
])
def test_errors_are_one_line(args, message):
    proc = run(*args)
    assert_clean_failure(proc)
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_catalogue_dir_from_the_environment(tmp_path):
    (tmp_path / "calendar.yaml").write_text(
        "remove_working_days: [{date: 2026-02-23, reason: test}]\n", encoding="utf-8")
    proc = run("--start", "2026-02-13T16:00", "--duration", "1.5d",
               env={"QUYTRINH_CATALOGUE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2026-02-25T11:00\n"
    (tmp_path / "calendar.yaml").write_text("hours: [[08:00]]\n", encoding="utf-8")
    proc = run("--start", "2026-02-13T16:00", "--duration", "1d",
               env={"QUYTRINH_CATALOGUE_DIR": str(tmp_path)})
    assert_clean_failure(proc)
    assert "calendar.yaml:1:9: hours: each interval is a pair [start, end]" in proc.stderr


def test_a_unit_of_units_yaml_without_its_own_entry_inherits_the_common_calendar():
    common = run("--start", "2026-02-13T16:00", "--duration", "1.5d")
    proc = run("--start", "2026-02-13T16:00", "--duration", "1.5d", "--unit", "phong_tckh")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == common.stdout == "2026-02-24T11:00\n"


@pytest.mark.parametrize("start,days,due", [
    ("2026-03-02T09:00", 15, "2026-03-17T17:00"),  # Monday: counted from Tuesday, ends on Tuesday 17/3
    ("2026-03-06T09:00", 15, "2026-03-23T17:00"),  # the 15th day is Saturday 21/3: the next working day
    ("2026-03-06T16:59", 1, "2026-03-09T17:00"),  # receipt day not counted; Saturday 7/3 rolls to Monday
    ("2026-02-10T09:00", 15, "2026-02-25T17:00"),  # Tết 2026 (16–20/2) is counted: these are calendar days
    ("2026-04-16T10:00", 15, "2026-05-04T17:00"),  # 1/5 (Friday) is a holiday, then a weekend: Monday 4/5
])
def test_calendar_days(start, days, due):
    proc = run("--start", start, "--calendar-days", str(days))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == due
