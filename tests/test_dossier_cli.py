"""The staff CLI: quytrinh user / dossier / task / tasks, on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.store import Store, dump

REPO = Path(__file__).resolve().parent.parent
QUYTRINH = Path(sys.executable).parent / "quytrinh"


@pytest.fixture
def cli(db_url, monkeypatch):
    """Run ``quytrinh`` in-process against the test database."""
    from quytrinh.cli import app

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", db_url)
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    monkeypatch.chdir(REPO)
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def run_console(db_url: str, *args: str) -> subprocess.CompletedProcess:
    """Run the installed console script, as a user would."""
    env = {**os.environ, "QUYTRINH_DATABASE_URL": db_url}
    env.pop("QUYTRINH_USER", None)
    return subprocess.run([str(QUYTRINH), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def _staff(cli) -> None:
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff", "--name", "Nguyễn Thị Mai")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("user", "add", "chuyenvien", "--unit", "phong_tckh", "--role", "staff")


def test_receive_claim_complete_and_show_the_control_sheet(cli):
    _staff(cli)
    assert "phong_tckh\thead" in cli("user", "list", "--unit", "phong_tckh")
    out = cli("dossier", "receive", "1.001612", "--applicant", "Trần Văn Bình", "--as", "motcua",
              "--now", "2026-03-10T08:00")
    assert "Đã tiếp nhận: hồ sơ 1.001612-20260310-000001 — 2 Được tiếp nhận" in out
    assert "Ngày hẹn trả kết quả:" in out
    tasks = cli("tasks", "--unit", "phong_tckh", "--now", "2026-03-10T08:30")
    assert "1.001612-20260310-000001" in tasks and "[assign]" in tasks
    assert "Không có công việc nào." in cli("tasks", "--unit", "van_phong", "--now", "2026-03-10T08:30")
    out = cli("task", "complete", "2", "--outcome", "done", "--as", "truongphong", "--now", "2026-03-10T09:00")
    assert "4 Đang xử lý" in out and "mở công việc 3" in out
    assert "Đã nhận công việc 3" in cli("task", "claim", "3", "--as", "chuyenvien", "--now", "2026-03-10T09:10")
    cli("task", "complete", "3", "--outcome", "ok", "--comment", "Hồ sơ hợp lệ", "--as", "chuyenvien",
        "--now", "2026-03-10T11:00")
    late = cli("tasks", "--overdue", "--now", "2026-03-13T08:30")
    assert "[check]" in late and "Quá hạn" in late
    sheet = cli("dossier", "show", "1.001612-20260310-000001", "--now", "2026-03-10T11:30")
    for text in ("PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", "Trần Văn Bình", "Trực tiếp", "4 – Đang xử lý",
                 "Quy định", "Thực hiện", "Tiến độ", "Phòng TC-KH", "[appraise]", "Đã xong", "Nhật ký",
                 "Tiếp nhận hồ sơ [receive] (accept) → assign 1→2 Được tiếp nhận", "Hồ sơ hợp lệ",
                 "Trước hạn", "chuyenvien"):
        assert text in sheet, text


def test_withdraw_stop_and_supplement_commands(cli):
    _staff(cli)
    cli("dossier", "receive", "1.001612", "--applicant", "A", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("dossier", "receive", "1.001612", "--applicant", "B", "--as", "motcua", "--now", "2026-03-10T08:05",
        "--decision", "supplement")
    out = cli("dossier", "supplemented", "1.001612-20260310-000002", "--as", "motcua", "--now", "2026-03-11T08:00")
    assert "1 Mới đăng ký" in out
    assert "7 Công dân yêu cầu rút hồ sơ" in cli("dossier", "withdraw", "1.001612-20260310-000001", "--as",
                                                  "motcua", "--now", "2026-03-11T09:00")
    assert "8 Dừng xử lý" in cli("dossier", "stop", "1.001612-20260310-000002", "--reason", "Hồ sơ giả mạo",
                                 "--as", "motcua", "--now", "2026-03-11T09:00")


def test_a_repeated_key_changes_nothing(cli):
    _staff(cli)
    args = ("dossier", "receive", "1.001612", "--applicant", "C", "--as", "motcua", "--key", "k-1",
            "--now", "2026-03-10T08:00")
    cli(*args)
    assert "yêu cầu lặp lại: không thay đổi gì" in cli(*args)


def test_errors_are_one_line_exit_1_and_change_nothing(cli, db_url, capsys, monkeypatch):
    _staff(cli)
    cli("dossier", "receive", "1.001612", "--applicant", "D", "--as", "motcua", "--now", "2026-03-10T08:00")
    store = Store(db_url)
    before = dump(store)
    cases = [
        (("task", "complete", "2", "--outcome", "done", "--as", "chuyenvien"),
         "quytrinh: complete: user 'chuyenvien' (phong_tckh/staff) may not act on work item 2 (step 'assign'); "
         "it belongs to phong_tckh/head"),
        (("task", "complete", "2", "--outcome", "approve", "--as", "truongphong"),
         "quytrinh: complete: step 'assign' (work item 2) has no outcome 'approve'; its outcomes are done"),
        (("task", "claim", "2", "--as", "ghost"), "quytrinh: user 'ghost' does not exist"),
        (("task", "claim", "2"), "quytrinh: say who acts: --as USER (or set QUYTRINH_USER)"),
        (("task", "claim", "2", "--as", "truongphong", "--version", "7"),
         "quytrinh: claim: dossier 1.001612-20260310-000001 is at version 1, not 7"),
        (("dossier", "receive", "9.999999", "--applicant", "E", "--as", "motcua"),
         "quytrinh: procedure '9.999999' is neither in the catalogue"),
        (("user", "add", "x", "--unit", "phong_khong_co", "--role", "staff"),
         "quytrinh: unit 'phong_khong_co' does not exist"),
    ]
    for args, expected in cases:  # through the console script's entry point, in-process
        code, out, err = run_main(capsys, monkeypatch, *args)
        assert code == 1, (args, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), (args, err)
        assert "Traceback" not in err and out == ""
    # and once as a separate process, as a user runs it
    proc = run_console(db_url, *cases[0][0])
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [cases[0][1]]
    assert dump(store) == before
    store.dispose()


def run_main(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """Call the console script's ``main()`` with ``args``; return (exit code, stdout, stderr)."""
    from quytrinh.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["quytrinh", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
