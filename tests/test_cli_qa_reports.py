"""The CLI as staff scripts use it: dates out of the calendar's years, --out files, unknown units.

Every command here is the installed ``quytrinh`` (``tests.conftest.console``) on a real, seeded database:
a refused command prints one Vietnamese line on stderr naming the option or the file and why, exits 1
(2 for a usage error) and changes nothing; none prints a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.store import dump
from tests.conftest import REPO, console

CATALOGUE = REPO / "procedures_yaml"


def _run(runtime, *args: str):
    return console(runtime.url, CATALOGUE, *args)


def _refused(res, *parts: str, code: int = 1) -> str:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1, line
    for part in parts:
        assert part in line, line
    return line


def _receive(runtime, applicant: str, at: str) -> str:
    res = _run(runtime, "dossier", "receive", "1.001612", "--applicant", applicant, "--as", "motcua", "--now", at)
    assert res.returncode == 0, res.stderr
    return res.stdout.split("hồ sơ ", 1)[1].split(" ", 1)[0]


def test_report_and_ledger_dates_outside_the_calendars_years_are_refused_by_option(runtime):
    # was: OverflowError traceback (date value out of range) from period_bounds / the ledger's day bounds
    _refused(_run(runtime, "report", "--from", "2026-10-01", "--to", "9999-12-31"),
             "quytrinh: --to '9999-12-31': lịch làm việc chỉ có các năm 1995–2099")
    _refused(_run(runtime, "report", "--from", "0001-01-01", "--to", "2026-10-31", "--format", "csv"),
             "--from '0001-01-01': lịch làm việc chỉ có các năm 1995–2099")
    _refused(_run(runtime, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--now", "0001-01-01T00:00"),
             "--now '0001-01-01T00:00': lịch làm việc chỉ có các năm 1995–2099")
    _refused(_run(runtime, "ledger", "--from", "2026-10-01", "--to", "9999-12-31"),
             "--to '9999-12-31': lịch làm việc chỉ có các năm 1995–2099")
    _refused(_run(runtime, "render", "1.001612", "--heatmap", "--since", "0001-01-01"),
             "--since '0001-01-01': lịch làm việc chỉ có các năm 1995–2099")
    # the first and last day of those years are fine
    ok = _run(runtime, "report", "--from", "1995-01-01", "--to", "2026-10-31", "--now", "2026-11-02T08:00",
              "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["total"]["to_process"] == 0


def test_report_table_with_out_is_written_to_the_file(runtime, tmp_path: Path):
    _receive(runtime, "Trần Thị Bình", "2026-10-05T08:00")
    target = tmp_path / "thang10.txt"
    res = _run(runtime, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "unit",
               "--out", str(target))
    assert res.returncode == 0, res.stderr
    # was: the table went to standard output and --out was ignored (no file)
    assert res.stdout.strip() == f"Đã ghi báo cáo vào {target}."
    text = target.read_text(encoding="utf-8")
    assert "Báo cáo tình hình giải quyết hồ sơ từ ngày 01/10/2026 đến ngày 31/10/2026" in text
    assert "Phòng Tài chính – Kế hoạch" in text and "Tổng cộng" in text
    assert "\x1b[" not in text  # no terminal colours in a file
    assert all(line == line.rstrip() for line in text.splitlines())
    # a folder is not a file: a usage error, as for catalogue --out
    _refused(_run(runtime, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--out", str(tmp_path)),
             "quytrinh report:", "là một thư mục, cần một tệp", code=2)


def test_files_that_cannot_be_written_say_why_in_vietnamese(runtime, tmp_path: Path):
    missing = tmp_path / "khong-co" / "bao-cao.csv"
    for fmt in ("csv", "xlsx", "json"):
        _refused(_run(runtime, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--format", fmt,
                      "--out", str(missing)),
                 f"quytrinh: Không ghi được {missing}: không có thư mục {missing.parent}.")
    afile = tmp_path / "a-file"
    afile.write_text("x", encoding="utf-8")
    # the forms and the ledger make the folders: a file in the way is named
    _refused(_run(runtime, "ledger", "--from", "2026-10-01", "--to", "2026-10-31", "--out", str(afile / "so.html")),
             f"Không ghi được {afile / 'so.html'}: {afile} là một tệp, không phải thư mục.")
    # was: a FileNotFoundError traceback
    _refused(_run(runtime, "catalogue", "--format", "csv", "--out", str(missing)),
             f"quytrinh: Không ghi được {missing}: không có thư mục {missing.parent}.")
    _refused(_run(runtime, "catalogue", "--out", str(missing.with_suffix(".txt"))), "không có thư mục")
    assert not missing.parent.exists()


def test_an_unknown_unit_is_refused_instead_of_an_empty_list(runtime):
    before = dump(runtime.db)
    # was: "Không có công việc nào." / "Chưa có cán bộ nào.", exit 0, as if the unit had nothing
    line = _refused(_run(runtime, "tasks", "--unit", "phong_tckhh"),
                    "quytrinh: Không tìm thấy: đơn vị 'phong_tckhh' (--unit); có phải là 'phong_tckh' không? "
                    "Các đơn vị: bp_mot_cua,")
    assert "phong_tckh," in line
    _refused(_run(runtime, "tasks", "--unit", "khong_co", "--waiting"), "đơn vị 'khong_co' (--unit); các đơn vị:")
    _refused(_run(runtime, "tasks", "--unit", "khong_co", "--apologies"), "đơn vị 'khong_co'")
    _refused(_run(runtime, "user", "list", "--unit", "phong_tck"), "đơn vị 'phong_tck' (--unit); có phải là "
                                                                    "'phong_tckh' không?")
    # two lists at once, or a filter a list does not take, were silently dropped
    _refused(_run(runtime, "tasks", "--waiting", "--apologies"), "--waiting và --apologies")
    _refused(_run(runtime, "tasks", "--apologies", "--overdue"), "--apologies không dùng cùng --overdue")
    assert dump(runtime.db) == before
    ok = _run(runtime, "user", "list", "--unit", "phong_tckh")
    assert ok.returncode == 0 and "tckh_head" in ok.stdout


def test_the_shared_year_bounds_are_the_calendars():
    from engine import calendar
    from quytrinh.commands import _common

    assert (_common.MIN_YEAR, _common.MAX_YEAR) == (calendar.MIN_YEAR, calendar.MAX_YEAR)


@pytest.mark.parametrize("errno_name, expected", [
    ("EACCES", "không có quyền ghi vào đó"),
    ("ENOSPC", "ổ đĩa đã đầy"),
    ("EISDIR", "/tmp/x là một thư mục; hãy cho tên tệp"),
])
def test_os_reasons_are_vietnamese(errno_name, expected):
    import errno
    import os

    from quytrinh.commands._common import os_reason

    code = getattr(errno, errno_name)
    assert os_reason(OSError(code, os.strerror(code)), "/tmp/x") == expected


def test_a_command_that_prints_no_help_and_no_error_does_not_import_typers_help_screens(runtime):
    # typer.rich_utils (rich's markdown, markdown_it, tracebacks: ~0.1 s of every run) was imported by quytrinh.cli
    # to put its titles in Vietnamese; it is now set when typer imports it, for a help screen or an error
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom quytrinh.cli import main\nsys.argv = ['quytrinh', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    print('EXIT', exc.code)\n"
            "print('RICH_UTILS', 'typer.rich_utils' in sys.modules)\n")
    env = {**os.environ, "QUYTRINH_DATABASE_URL": runtime.url, "QUYTRINH_CATALOGUE_DIR": str(CATALOGUE)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=120)

    done = run("user", "list", "--unit", "phong_tckh")
    assert "tckh_head" in done.stdout and done.stdout.rstrip().endswith("RICH_UTILS False"), done.stdout + done.stderr
    # help screens and usage errors are still Vietnamese once it is imported
    done = run("report", "--help")
    assert "╭─ Tùy chọn" in done.stdout and "[bắt buộc]" in done.stdout and "Cách dùng: quytrinh report" in done.stdout
    assert done.stdout.rstrip().endswith("RICH_UTILS True")
    done = run("report", "--to", "2026-10-31")
    assert done.stderr == "quytrinh report: thiếu tùy chọn '--from' (xem: quytrinh report --help)\n", done.stderr
    assert "EXIT 2" in done.stdout


def test_a_period_ending_before_it_starts_names_both_options_and_the_fix(runtime):
    # was: "Không lập được báo cáo: kỳ báo cáo kết thúc (01/10/2026) trước khi bắt đầu (31/10/2026)." (no option
    # named), and for the ledger the dates in ISO form
    for command in ("report", "ledger"):
        _refused(_run(runtime, command, "--from", "2026-10-31", "--to", "2026-10-01"),
                 "quytrinh: --to 01/10/2026 trước --from 31/10/2026: ngày cuối kỳ phải từ ngày đầu kỳ trở đi "
                 "(--from 2026-10-01 --to 2026-10-31?).")
