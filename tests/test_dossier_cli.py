"""The staff CLI: quytrinh user / dossier / task / tasks, on a real database."""

from __future__ import annotations

import os
import re
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
    assert "Đã tiếp nhận: hồ sơ 1.001612-20260310-000001 (quy trình phiên bản 1) — 2 Được tiếp nhận" in out
    assert "Ngày hẹn trả kết quả:" in out
    tasks = cli("tasks", "--unit", "phong_tckh", "--now", "2026-03-10T08:30")
    assert "1.001612-20260310-000001" in tasks and "[assign]" in tasks
    header = next(line for line in tasks.splitlines() if "Hồ sơ" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "Số", "Hồ sơ", "Bước", "Đơn vị", "Người xử lý", "Hạn", "Còn lại", "Tiến độ"]
    assert "còn 1,5 giờ làm việc" in tasks and "Chưa đến hạn" in tasks
    assert "Không có công việc nào." in cli("tasks", "--unit", "van_phong", "--now", "2026-03-10T08:30")
    out = cli("task", "complete", "2", "--outcome", "done", "--as", "truongphong", "--now", "2026-03-10T09:00")
    assert "4 Đang xử lý" in out and "mở công việc 3" in out
    assert "Đã nhận công việc 3" in cli("task", "claim", "3", "--as", "chuyenvien", "--now", "2026-03-10T09:10")
    cli("task", "complete", "3", "--outcome", "ok", "--comment", "Hồ sơ hợp lệ", "--as", "chuyenvien",
        "--now", "2026-03-10T11:00")
    late = cli("tasks", "--overdue", "--now", "2026-03-13T08:30")
    assert "[check]" in late and "Quá hạn" in late
    sheet = cli("dossier", "show", "1.001612-20260310-000001", "--now", "2026-03-10T11:30")
    header = next(line for line in sheet.splitlines() if "STT" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "STT", "Bước", "Đơn vị", "Người xử lý", "Trạng thái", "Nhận", "Hoàn thành", "Hạn", "Quy định",
        "Thực hiện", "Tiến độ"]
    for text in ("PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", "Trần Văn Bình", "Trực tiếp", "4 – Đang xử lý",
                 "Quy định", "Thực hiện", "Tiến độ", "Phòng TC-KH", "[appraise]", "Đã xong", "Nhật ký",
                 "Tiếp nhận hồ sơ [receive] (accept) → assign 1→2 Được tiếp nhận", "Hồ sơ hợp lệ",
                 "Trước hạn", "chuyenvien"):
        assert text in sheet, text


def test_phien_ban_is_the_process_version_and_the_lock_counter_is_lan_cap_nhat(cli, db_url, capsys, monkeypatch):
    """"phiên bản" is the procedure's process version, as on the web pages and in dossier show: a reception
    names the version the dossier is pinned to (a newly published one); the dossier's optimistic-locking
    counter, which --version takes, is "lần cập nhật" in every line (audit finding 2)."""
    import dataclasses
    import datetime as dt

    from engine import services as sv

    _staff(cli)
    first = cli("dossier", "receive", "1.001612", "--applicant", "A", "--as", "motcua", "--now", "2026-03-10T08:00")
    assert "(quy trình phiên bản 1)" in first and first.rstrip().splitlines()[0].endswith("; lần cập nhật 1")
    store = Store(db_url)
    try:
        _, defn = sv.current_definition(store, "1.001612")
        row = sv.publish_definition(store, dataclasses.replace(defn, name=defn.name + " (sửa đổi)"),
                                    now=dt.datetime(2026, 3, 10, 2, 30, tzinfo=dt.timezone.utc))
        assert row.version == 2
    finally:
        store.dispose()
    out = cli("dossier", "receive", "1.001612", "--applicant", "Trần Thị Bình", "--as", "motcua",
              "--now", "2026-03-10T10:00")
    line = out.splitlines()[0]
    assert line == ("Đã tiếp nhận: hồ sơ 1.001612-20260310-000002 (quy trình phiên bản 2) — 2 Được tiếp nhận; "
                    "mở công việc 3, 4; lần cập nhật 1"), line
    code = "1.001612-20260310-000002"
    # a script takes the counter of each line for the next action's --version
    claimed = cli("task", "claim", "4", "--as", "truongphong", "--version", "1", "--now", "2026-03-10T10:05")
    assert claimed.strip() == f"Đã nhận công việc 4: hồ sơ {code} — 4 Đang xử lý; lần cập nhật 2", claimed
    done = cli("task", "complete", "4", "--outcome", "done", "--as", "truongphong", "--version", "2",
               "--now", "2026-03-10T10:10")
    assert done.strip().endswith("; mở công việc 5; lần cập nhật 3") and "phiên bản" not in done, done
    sheet = cli("dossier", "show", code, "--now", "2026-03-10T10:15")
    assert "quy trình phiên bản 2" in sheet and "Lần cập nhật: 3" in sheet
    code_, _, err = run_main(capsys, monkeypatch, "task", "claim", "5", "--as", "chuyenvien", "--version", "2")
    assert code_ == 1 and "đang ở lần cập nhật 3, không phải lần cập nhật 2 bạn đã xem (--version)" in err, err
    assert "phiên bản" not in err


def test_withdraw_stop_and_supplement_commands(cli):
    _staff(cli)
    cli("dossier", "receive", "1.001612", "--applicant", "A", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("dossier", "receive", "1.001612", "--applicant", "B", "--as", "motcua", "--now", "2026-03-10T08:05",
        "--decision", "supplement", "--comment", "Bổ sung bản sao căn cước")
    out = cli("dossier", "supplemented", "1.001612-20260310-000002", "--as", "motcua", "--now", "2026-03-11T08:00")
    assert "1 Mới đăng ký" in out
    assert "7 Công dân yêu cầu rút hồ sơ" in cli("dossier", "withdraw", "1.001612-20260310-000001", "--comment",
                                                  "Đơn số 5 ngày 11/3/2026", "--as", "motcua",
                                                  "--now", "2026-03-11T09:00")
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
    cli("dossier", "receive", "1.001612", "--applicant", "D", "--as", "motcua", "--now", "2026-03-10T08:00",
        "--key", "k-1")
    store = Store(db_url)
    before = dump(store)
    cases = [
        (("task", "complete", "2", "--outcome", "done", "--as", "chuyenvien"),
         "quytrinh: Không có quyền: người dùng 'chuyenvien' (phong_tckh/staff) không được hoàn thành công việc 2 "
         "(bước 'assign'); công việc thuộc phong_tckh/head."),
        (("task", "complete", "2", "--outcome", "approve", "--as", "truongphong"),
         "quytrinh: Thao tác không hợp lệ ở trạng thái hiện tại: bước 'assign' (công việc 2) không có kết quả "
         "'approve'; các kết quả của bước: done (hồ sơ đang ở trạng thái 2 – Được tiếp nhận); được phép: "
         "nhận xử lý công việc 2 (assign); hoàn thành công việc 2 (assign) với kết quả done; rút hồ sơ; dừng xử lý."),
        (("task", "claim", "2", "--as", "ghost"),
         "quytrinh: Không tìm thấy: người dùng 'ghost'. Thêm bằng: quytrinh user add ghost --unit"),
        (("task", "claim", "2"), "quytrinh: Hãy cho biết ai thực hiện: --as TÊN_ĐĂNG_NHẬP (hoặc đặt biến QUYTRINH_USER)."),
        (("task", "claim", "2", "--as", "truongphong", "--version", "7"),
         "quytrinh: Hồ sơ đã được cập nhật sau khi bạn xem: hồ sơ 1.001612-20260310-000001 đang ở lần cập nhật 1, "
         "không phải lần cập nhật 7 bạn đã xem (--version)."),
        (("task", "claim", "99", "--as", "truongphong"), "quytrinh: Không tìm thấy: công việc 99;"),
        (("task", "complete", "2", "--outcome", "done", "--as", "truongphong", "--now", "2026-03-10T07:30"),
         "quytrinh: Không tính được thời hạn: thời điểm thực hiện (10/03/2026 07:30) sớm hơn lúc bắt đầu tính thời "
         "gian của bước hoặc lúc hết tạm dừng gần nhất (10/03/2026 08:00); thao tác phải ghi ở thời điểm sau đó."),
        (("dossier", "show", "1.001612-20990101-000009"), "quytrinh: Không tìm thấy: hồ sơ '1.001612-20990101-000009'"),
        (("dossier", "receive", "1.001612", "--applicant", "Khác", "--as", "motcua", "--key", "k-1"),
         "quytrinh: Yêu cầu trùng khóa chống lặp: khóa chống lặp 'k-1' đã được motcua dùng cho một yêu cầu khác "
         "(tiếp nhận hồ sơ, lúc 10/03/2026 08:00); hãy dùng khóa khác."),
        (("dossier", "receive", "1.001612", "--applicant", "E", "--as", "truongphong"),
         "quytrinh: Không có quyền: người dùng 'truongphong' (phong_tckh/head) không được tiếp nhận hồ sơ thủ tục "
         "1.001612; việc này do bp_mot_cua/staff làm."),
        (("dossier", "receive", "1.001612", "--applicant", "E", "--as", "motcua", "--decision", "refuse"),
         "quytrinh: Không thực hiện được: từ chối tiếp nhận cần ghi rõ lý do (--comment)"),
        (("dossier", "receive", "1.001612", "--applicant", "E", "--as", "motcua", "--decision", "supplement"),
         "quytrinh: Không thực hiện được: yêu cầu bổ sung hồ sơ cần ghi rõ giấy tờ, nội dung cần bổ sung (--comment)"),
        (("dossier", "receive", "9.999999", "--applicant", "E", "--as", "motcua"),
         "quytrinh: Không tìm thấy: thủ tục '9.999999' không có trong danh mục"),
        (("dossier", "receive", "1.001612", "--applicant", "E", "--as", "motcua", "--now", "hôm nay"),
         "quytrinh: --now 'hôm nay' không phải thời điểm; viết YYYY-MM-DDTHH:MM"),
        (("user", "add", "x", "--unit", "phong_khong_co", "--role", "staff"),
         "quytrinh: Không tìm thấy: đơn vị 'phong_khong_co' (--unit); các đơn vị: bp_mot_cua,"),
        (("user", "add", "x", "--unit", "phong_tckh", "--role", "boss"),
         "quytrinh: Không thực hiện được: đơn vị 'phong_tckh' không có vai trò 'boss'; các vai trò của đơn vị: head, staff."),
    ]
    for args, expected in cases:  # through the console script's entry point, in-process
        code, out, err = run_main(capsys, monkeypatch, *args)
        assert code == 1, (args, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), (args, err)
        assert "Traceback" not in err and out == ""
        assert not re.search(r"\b(may not|does not|is at version|already|user '|work item)\b", err), err
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


def test_a_refused_action_on_a_closed_dossier_says_what_is_left(cli, capsys, monkeypatch):
    _staff(cli)
    cli("dossier", "receive", "1.001612", "--applicant", "F", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("dossier", "withdraw", "1.001612-20260310-000001", "--comment", "Đơn đề nghị rút hồ sơ", "--as", "motcua",
        "--now", "2026-03-10T09:00")
    code, out, err = run_main(capsys, monkeypatch, "dossier", "stop", "1.001612-20260310-000001", "--reason", "x",
                              "--as", "motcua", "--now", "2026-03-10T10:00")
    assert (code, out) == (1, "")
    assert err == ("quytrinh: Thao tác không hợp lệ ở trạng thái hiện tại: hồ sơ không còn dừng xử lý được "
                   "(hồ sơ đang ở trạng thái 7 – Công dân yêu cầu rút hồ sơ); hồ sơ không còn thao tác nào.\n")


def test_engine_messages_the_table_does_not_know_keep_their_ids_in_vietnamese():
    from engine.errors import CalendarError, IllegalAction, NotAuthorized
    from quytrinh.messages import cli_error_text, error_message_vi, localized
    from quytrinh.web import app as web_app

    # an unknown refusal: the sentence of its kind, and the ids it names
    text = cli_error_text(NotAuthorized("sign: work item 12 (step 'sign') needs a certificate"))
    assert text == ("Không ký duyệt được (công việc 12, bước 'sign'). Bạn không có quyền thực hiện thao tác này "
                    "(công việc thuộc đơn vị, vai trò hoặc người khác).")
    # a machine refusal: the allowed actions are named in Vietnamese
    text = cli_error_text(IllegalAction(
        "complete: route 'back' of step 'check' may be taken at most 2 time(s) and was taken 2 "
        "(dossier status 4 'Đang xử lý'); allowed: complete item 7 with ok"))
    assert text == ("Thao tác không hợp lệ ở trạng thái hiện tại: kết quả 'back' của bước 'check' chỉ được chọn "
                    "tối đa 2 lần và đã được chọn 2 lần (hồ sơ đang ở trạng thái 4 – Đang xử lý); được phép: "
                    "hoàn thành công việc 7 với kết quả ok.")
    assert cli_error_text(CalendarError("duration '2' has no unit: write 2d, 2h or 2m")) == \
        "Không tính được thời hạn: thời lượng '2' thiếu đơn vị: viết 2d, 2h hoặc 2m."
    assert cli_error_text(localized(CalendarError("Đã dịch sẵn."))) == "Đã dịch sẵn."
    # the web pages and the CLI share the sentences
    assert web_app.error_message_vi is error_message_vi


def test_usage_errors_of_the_console_script_are_vietnamese(db_url):
    from quytrinh.messages import usage_error_vi

    proc = run_console(db_url, "dossier", "receive", "1.001612", "--as", "motcua")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("quytrinh dossier receive: thiếu tùy chọn '--applicant' "
                           "(xem: quytrinh dossier receive --help)\n")
    proc = run_console(db_url, "task", "claim", "mười")
    assert proc.returncode == 2 and proc.stderr == ("quytrinh task claim: giá trị không hợp lệ cho 'item': phải là "
                                                    "số nguyên (xem: quytrinh task claim --help)\n")
    assert usage_error_vi("Invalid value for '--level': Value error, 'town' is not one of 'district', "
                          "'commune'.") == ("Giá trị không hợp lệ cho '--level': 'town' không thuộc các giá trị "
                                            "'district', 'commune'.")
    assert usage_error_vi("No such command 'dosier'. Did you mean 'dossier'?") == \
        "Không có lệnh 'dosier' (có phải 'dossier'?)."
    assert usage_error_vi("Got unexpected extra argument(s) (x y)") == "Thừa đối số (x y)."
    assert usage_error_vi("Something new from typer") == "Something new from typer"  # unknown: as it is


def test_a_usage_error_is_one_line_naming_the_command_and_its_help(db_url):
    """Missing argument, unknown option, bad choice, option without its value: one Vietnamese line on stderr,
    exit 2 as click's, no usage synopsis nor box; the help screens are as they were."""
    cases = {
        ("task", "complete"): "quytrinh task complete: thiếu đối số 'item' (xem: quytrinh task complete --help)",
        ("task", "complete", "7", "--outcom", "ok"):
            "quytrinh task complete: không có tùy chọn --outcom (các tùy chọn gần giống: --outcome) "
            "(xem: quytrinh task complete --help)",
        ("task", "complete", "7", "--outcome"):
            "quytrinh task complete: tùy chọn '--outcome' cần một giá trị (xem: quytrinh task complete --help)",
        ("dossier", "receive", "1.001612", "--applicant", "A", "--as", "motcua", "--channel", "fax"):
            "quytrinh dossier receive: giá trị không hợp lệ cho '--channel': 'fax' không thuộc các giá trị "
            "'counter', 'online', 'post' (xem: quytrinh dossier receive --help)",
    }
    for args, line in cases.items():
        proc = run_console(db_url, *args)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", line + "\n"), args
    proc = run_console(db_url, "dosier")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("quytrinh: không có lệnh 'dosier' (có phải 'dossier'")
    assert proc.stderr.endswith(" (xem: quytrinh --help)\n")
    help_text = run_console(db_url, "task", "complete", "--help")
    assert help_text.returncode == 0 and help_text.stderr == ""
    assert "Cách dùng: quytrinh task complete [TÙY_CHỌN] {item}" in help_text.stdout
    assert "╭─ Tùy chọn" in help_text.stdout and "--outcome" in help_text.stdout


def test_the_head_assigns_and_the_officer_releases_from_the_command_line(cli, db_url, capsys, monkeypatch):
    _staff(cli)
    cli("user", "add", "chuyenvien2", "--unit", "phong_tckh", "--role", "staff")
    cli("user", "add", "qldt", "--unit", "phong_qldt", "--role", "staff")
    cli("dossier", "receive", "1.001612", "--applicant", "G", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("task", "complete", "2", "--outcome", "done", "--as", "truongphong", "--now", "2026-03-10T09:00")
    out = cli("task", "assign", "3", "--to", "chuyenvien2", "--as", "truongphong", "--now", "2026-03-10T09:05")
    assert "Đã phân công công việc 3 cho chuyenvien2" in out  # no full name recorded: the username
    assert "chuyenvien2" in cli("tasks", "--user", "chuyenvien2", "--now", "2026-03-10T09:10")
    store = Store(db_url)
    before = dump(store)
    cases = [
        (("task", "assign", "3", "--to", "chuyenvien", "--as", "chuyenvien2"),
         "quytrinh: Không có quyền: người dùng 'chuyenvien2' (phong_tckh/staff) không được phân công công việc 3 "
         "(bước 'appraise'); việc này do lãnh đạo đơn vị phong_tckh (head) làm."),
        (("task", "assign", "3", "--to", "qldt", "--as", "truongphong"),
         "quytrinh: Không thực hiện được: người dùng 'qldt' (phong_qldt/staff) không làm được công việc 3 "
         "(bước 'appraise'); đây là việc của phong_tckh/staff."),
        (("task", "assign", "3", "--to", "chuyenvien2", "--as", "truongphong"),
         "quytrinh: Thao tác không hợp lệ ở trạng thái hiện tại: công việc 3 (bước 'appraise') đang do chính "
         "chuyenvien2 xử lý"),
        (("task", "release", "3", "--as", "chuyenvien"),
         "quytrinh: Không có quyền: người dùng 'chuyenvien' (phong_tckh/staff) không được trả lại công việc 3"),
    ]
    for args, expected in cases:
        code, out, err = run_main(capsys, monkeypatch, *args, "--now", "2026-03-10T09:20")
        assert code == 1 and out == "" and err.startswith(expected), (args, err)
        assert not re.search(r"\b(may not|does not|already|work item|is work of)\b", err), err
    assert dump(store) == before
    out = cli("task", "release", "3", "--as", "chuyenvien2", "--now", "2026-03-10T09:30")
    assert "Đã trả lại công việc 3 cho đơn vị" in out
    code, out, err = run_main(capsys, monkeypatch, "task", "release", "3", "--as", "chuyenvien2")
    assert code == 1 and "chưa có ai nhận xử lý" in err
    sheet = cli("dossier", "show", "1.001612-20260310-000001", "--now", "2026-03-10T09:40")
    assert "Phân công xử lý [appraise] → chuyenvien2" in sheet and "Trả lại việc cho đơn vị [appraise] (chuyenvien2 trả lại)" in sheet
    # the head names the officer while completing the assignment step of a second dossier
    cli("dossier", "receive", "1.001612", "--applicant", "H", "--as", "motcua", "--now", "2026-03-10T10:00")
    before = dump(store)
    code, out, err = run_main(capsys, monkeypatch, "task", "complete", "5", "--outcome", "done", "--assign-to", "qldt",
                              "--as", "truongphong", "--now", "2026-03-10T10:10")
    assert code == 1 and "đây là việc của phong_tckh/staff" in err and dump(store) == before
    out = cli("task", "complete", "5", "--outcome", "done", "--assign-to", "chuyenvien", "--as", "truongphong",
              "--now", "2026-03-10T10:10")
    # (on PostgreSQL the refused attempt used up an id of the sequence: the item's number is read, not assumed)
    assert re.search(r"Đã hoàn thành công việc 5 và giao công việc \d+ cho chuyenvien:", out), out
    assert "chuyenvien" in cli("tasks", "--user", "chuyenvien", "--now", "2026-03-10T10:20")
    store.dispose()


def test_the_payment_of_the_financial_obligations_is_recorded_from_the_command_line(cli, db_url, capsys, monkeypatch):
    from engine import services as sv
    from tests.test_financial import LAND, LAND_STAFF, Ticks, open_item, to_payment

    _staff(cli)
    for name, (unit, role) in {**LAND_STAFF, "ld_pct": ("lanh_dao_ubnd", "vice_chairman"),
                               "vanthu": ("van_phong", "clerk")}.items():
        cli("user", "add", name, "--unit", unit, "--role", role)
    cli("dossier", "receive", LAND, "--applicant", "Bùi Văn Nam", "--as", "motcua", "--now", "2026-03-10T08:00")
    store = Store(db_url)
    actors = {name: sv.get_actor(store, name) for name in (*LAND_STAFF, "motcua", "ld_pct", "vanthu")}
    res = to_payment(store, actors, Ticks())  # a second dossier, taken to the tax office's notice
    assert "6 Yêu cầu thực hiện nghĩa vụ tài chính" in cli("dossier", "show", res.dossier_code,
                                                        "--now", "2026-03-20T08:00")
    before = dump(store)
    code, out, err = run_main(capsys, monkeypatch, "dossier", "supplemented", res.dossier_code, "--as", "motcua",
                              "--now", "2026-03-20T08:00")
    assert code == 1 and out == "" and err.startswith(
        f"quytrinh: Thao tác không hợp lệ ở trạng thái hiện tại: hồ sơ {res.dossier_code} đang chờ thực hiện nghĩa "
        f"vụ tài chính (bước 'pay'), không phải chờ bổ sung; hãy ghi nhận đã thực hiện nghĩa vụ tài chính "
        f"(hồ sơ đang ở trạng thái 6 – Yêu cầu thực hiện nghĩa vụ tài chính); được phép: ghi nhận đã thực hiện "
        f"nghĩa vụ tài chính; rút hồ sơ; dừng xử lý."), err
    assert dump(store) == before
    out = cli("dossier", "financial-done", res.dossier_code, "--comment", "Giấy nộp tiền số 3", "--as", "motcua",
              "--now", "2026-03-24T09:00")
    assert "Đã ghi nhận thực hiện nghĩa vụ tài chính" in out and "4 Đang xử lý" in out
    assert open_item(store, res.dossier_id, "certificate").state == "open"
    store.dispose()


def test_levels_are_named_in_vietnamese_in_the_decisions_refusals():
    from engine.documents import DocumentError
    from quytrinh.messages import cli_error_text

    text = cli_error_text(DocumentError("procedure '1.000656' (commune/x.yaml) is commune-level; "
                                        "use --level commune or leave it out"))
    assert text == ("Không lập được văn bản: thủ tục '1.000656' (commune/x.yaml) thuộc cấp xã; dùng --level commune "
                    "hoặc bỏ thủ tục này ra.")


def test_a_commune_level_dossier_names_its_commune(cli, db_url):
    from engine.store import Dossier, make_engine
    from sqlmodel import Session, select

    cli("user", "add", "xamc", "--unit", "xa_mot_cua", "--role", "staff")
    out = cli("dossier", "receive", "1.001193", "--applicant", "Lê Văn Tý", "--as", "xamc", "--commune",
              "Xã Bát Tràng", "--now", "2026-03-10T08:00")
    assert "1.001193-20260310-" in out
    # Without its prefix and in any case: the name as units.yaml writes it is kept.
    cli("dossier", "receive", "1.001193", "--applicant", "Lê Thị Na", "--as", "xamc", "--commune", "trâu quỳ",
        "--now", "2026-03-10T08:10")
    engine = make_engine(db_url)
    with Session(engine) as s:
        assert s.exec(select(Dossier.commune).order_by(Dossier.id)).all() == ["Xã Bát Tràng", "Thị trấn Trâu Quỳ"]
    engine.dispose()


def test_the_commune_is_one_of_units_yaml_and_only_for_a_commune_level_procedure(cli, db_url, capsys, monkeypatch):
    cli("user", "add", "xamc", "--unit", "xa_mot_cua", "--role", "staff")
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cases = [
        (("dossier", "receive", "1.001193", "--applicant", "A", "--as", "xamc"),
         "quytrinh: Không thực hiện được: thủ tục 1.001193 thuộc cấp xã; hãy cho --commune \"TÊN XÃ\"", "Xã Bát Tràng"),
        (("dossier", "receive", "1.001193", "--applicant", "A", "--as", "xamc", "--commune", "Xã Bát Trang"),
         "quytrinh: Không thực hiện được: không có xã, thị trấn \"Xã Bát Trang\" trong mục communes: của units.yaml "
         "(có phải \"Xã Bát Tràng\"?)", "Thị trấn Trâu Quỳ"),
        (("dossier", "receive", "1.001193", "--applicant", "A", "--as", "xamc", "--commune", "Phường Hoàn Kiếm"),
         "quytrinh: Không thực hiện được: không có xã, thị trấn \"Phường Hoàn Kiếm\"", ""),
        (("dossier", "receive", "1.001612", "--applicant", "A", "--as", "motcua", "--commune", "Xã Bát Tràng"),
         "quytrinh: Không thực hiện được: thủ tục 1.001612 thuộc cấp huyện; hồ sơ không thuộc xã nào, bỏ --commune.",
         ""),
    ]
    for args, expected, listed in cases:
        code, out, err = run_main(capsys, monkeypatch, *args)
        lines = err.strip().splitlines()
        assert code == 1 and out == "" and len(lines) == 1, (args, out, err)
        assert lines[0].startswith(expected) and listed in lines[0], (args, err)
    store = Store(db_url)
    assert not [line for line in dump(store) if line.startswith('INSERT INTO "dossiers"')]
    store.dispose()


def test_complete_without_an_outcome_lists_the_steps_outcomes(cli, db_url, capsys, monkeypatch):
    _staff(cli)
    cli("dossier", "receive", "1.001612", "--applicant", "H", "--as", "motcua", "--now", "2026-03-10T08:00")
    before = dump(Store(db_url))
    code, out, err = run_main(capsys, monkeypatch, "task", "complete", "2", "--as", "truongphong",
                              "--now", "2026-03-10T09:00")
    assert code == 1 and out == ""
    assert err.strip() == "quytrinh: Hãy chọn kết quả --outcome: done (công việc 2, bước 'assign')."
    assert "None" not in err
    assert dump(Store(db_url)) == before
    cli("task", "complete", "2", "--outcome", "done", "--as", "truongphong", "--now", "2026-03-10T09:00")
    code, out, err = run_main(capsys, monkeypatch, "task", "complete", "3", "--as", "chuyenvien",
                              "--now", "2026-03-10T10:00")
    assert code == 1 and err.startswith("quytrinh: Hãy chọn kết quả --outcome: ok, ") and "None" not in err, err


def test_a_terminal_step_completes_without_an_outcome(cli):
    _staff(cli)
    cli("user", "add", "vanthu", "--unit", "van_phong", "--role", "clerk")
    cli("dossier", "receive", "1.001612", "--applicant", "K", "--as", "motcua", "--now", "2026-03-10T08:00")
    for item, outcome, who in (("2", "done", "truongphong"), ("3", "ok", "chuyenvien"), ("4", "ok", "truongphong"),
                               ("5", "approve", "truongphong"), ("6", "done", "vanthu")):
        cli("task", "claim", item, "--as", who, "--now", "2026-03-10T09:00")
        cli("task", "complete", item, "--outcome", outcome, "--as", who, "--now", "2026-03-10T09:05")
    out = cli("task", "complete", "7", "--as", "motcua", "--now", "2026-03-10T10:00")
    assert "Đã hoàn thành công việc 7" in out and "10 Đã trả kết quả" in out, out


def test_channel_and_decision_are_choices_and_flags_show_no_metavar(db_url):
    proc = run_console(db_url, "dossier", "receive", "1.001612", "--applicant", "A", "--as", "motcua",
                       "--channel", "fax")
    assert proc.returncode == 2 and "Thao tác không hợp lệ" not in proc.stderr
    said = " ".join(proc.stderr.replace("│", " ").split())
    assert "'fax' không thuộc các giá trị 'counter', 'online', 'post'" in said, proc.stderr
    help_text = run_console(db_url, "dossier", "receive", "--help").stdout
    assert "counter|online|post" in help_text and "accept|supplement|refuse" in help_text
    assert "<bool>" not in run_console(db_url, "user", "add", "--help").stdout
    summary = " ".join(run_console(db_url, "dossier", "--help").stdout.split("Lệnh")[0].split())
    assert "ký phiếu xin lỗi" in summary and "nghĩa vụ tài chính" in summary, summary
    assert "mẫu 06 theo bộ mẫu 2025" in " ".join(run_console(db_url, "dossier", "show", "--help").stdout.split())


@pytest.mark.parametrize("url, expected", [
    ("mysql://u@localhost/qt", "quytrinh: Không hỗ trợ cơ sở dữ liệu mysql (mysql://u@localhost/qt): chỉ dùng được "
                               "sqlite:// và postgresql://"),
    ("nonsense", "quytrinh: 'nonsense' (QUYTRINH_DATABASE_URL) không phải địa chỉ cơ sở dữ liệu; viết ví dụ "
                 "sqlite:///"),
])
def test_a_database_url_quytrinh_cannot_use_is_said_in_vietnamese(url, expected, capsys, monkeypatch):
    monkeypatch.setenv("QUYTRINH_DATABASE_URL", url)
    code, out, err = run_main(capsys, monkeypatch, "tasks")
    assert code == 1 and out == "" and err.strip().splitlines()[0].startswith(expected), err
    assert len(err.strip().splitlines()) == 1 and "MySQLdb" not in err and "SQLAlchemy" not in err


def test_a_missing_postgresql_database_says_how_to_create_it():
    from quytrinh.commands.dossier import _database_cause, check_database_url

    parsed = check_database_url("postgresql+psycopg://postgres@db.local:5433/quytrinh")
    exc = Exception('connection failed: connection to server at "db.local", port 5433 failed: FATAL:  database '
                    '"quytrinh" does not exist')
    assert _database_cause(parsed, exc) == ("cơ sở dữ liệu 'quytrinh' chưa có; tạo bằng: createdb -h db.local "
                                            "-p 5433 -U postgres quytrinh. ")


def test_an_unknown_form_lists_the_forms_in_vietnamese(cli, capsys, monkeypatch):
    _staff(cli)
    cli("dossier", "receive", "1.001612", "--applicant", "F", "--as", "motcua", "--now", "2026-03-10T08:00")
    code, out, err = run_main(capsys, monkeypatch, "form", "99", "1.001612-20260310-000001")
    assert code == 1 and "01 (giấy tiếp nhận)" in err and "(receipt)" not in err, err


# --------------------------------------------------------------------------- speed: big tables, start-up


def _rich_table(columns, rows, width: int) -> str:
    import io

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=io.StringIO(), width=width, highlight=False, soft_wrap=False)
    table = Table()
    for col in columns:
        table.add_column(col)
    for r in rows:
        table.add_row(*(escape(c) for c in r))
    console.print(table)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [220, 160, 120, 90])
def test_a_big_table_is_drawn_as_rich_draws_it(width):
    from quytrinh.commands.dossier import _draw_table

    columns = ("Số", "Hồ sơ", "Bước", "Đơn vị", "Người xử lý", "Hạn", "Còn lại", "Tiến độ")
    rows = [(str(7 + 131 * i), f"<cap-giay-phep-moi-truong-cap-huyen v1>-20261102-{i:06d}" if i % 3 else
             f"1.001612-20260310-{i:06d}",
             "Thẩm định hồ sơ, dự thảo kết quả giải quyết; lập biên bản kiểm tra thực tế [appraise]"[: 20 + 7 * (i % 9)],
             "phong_tnmt/staff" if i % 2 else "Tổ chức, cá nhân/–", "–" if i % 4 else "nguyen_van_a_chuyen_vien",
             f"{10 + i % 18:02d}/03/2026 16:30", "quá hạn 7,5 ngày làm việc" if i % 5 else "còn 2 giờ làm việc",
             "Quá hạn" if i % 5 else "Sắp đến hạn") for i in range(40)]
    assert _draw_table(columns, rows, width) + "\n" == _rich_table(columns, rows, width)


def test_tasks_above_the_threshold_print_the_same_table(cli, monkeypatch):
    import quytrinh.commands.dossier as dossier

    _staff(cli)
    for n in range(3):
        cli("dossier", "receive", "1.001612", "--applicant", f"Nguyễn Văn {'ABC'[n]}", "--as", "motcua",
            "--now", f"2026-03-10T08:0{n}")
    by_rich = cli("tasks", "--now", "2026-03-10T08:30")
    monkeypatch.setattr(dossier, "FAST_TABLE_ROWS", 0)
    assert cli("tasks", "--now", "2026-03-10T08:30") == by_rich
    assert "1.001612-20260310-000003" in by_rich


def test_listing_the_commands_imports_no_engine_module_it_does_not_need():
    # Start-up (every command pays it): the graph library, the calendar, the definition loader, the database
    # layer and the diagram renderer are imported by the commands that use them.
    code = ("import sys, quytrinh.cli; print(' '.join(m for m in ('networkx', 'engine.definition', 'engine.calendar', "
            "'engine.graph', 'engine.lint', 'engine.render', 'engine.services', 'sqlmodel', 'sqlalchemy', 'graphviz', "
            "'holidays', 'yaml') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "", loaded.stdout + loaded.stderr
    from engine.render import FORMATS
    from quytrinh.commands.render import FORMATS as CLI_FORMATS

    assert CLI_FORMATS == FORMATS


def test_an_instant_before_a_pause_began_or_ended_is_said_in_vietnamese():
    """A supplement recorded (--now) before it was asked, or a pause before the step's start: the clock's
    refusal in Vietnamese, with the instants as staff write them."""
    from engine.sla import ClockError
    from quytrinh.messages import cli_error_text

    assert cli_error_text(ClockError("a pause cannot end (2026-03-10 11:00) before it starts (2026-03-10 12:00)")) == (
        "Không tính được thời hạn: thời điểm tính tiếp thời gian (10/03/2026 11:00) sớm hơn lúc bắt đầu tạm dừng "
        "(10/03/2026 12:00); thao tác phải ghi ở thời điểm sau đó.")
    assert cli_error_text(ClockError(
        "pause 2 starts at 2026-03-10 09:00, before the clock start or the end of the previous pause "
        "(2026-03-10 10:00)")) == (
        "Không tính được thời hạn: thời điểm tạm dừng (10/03/2026 09:00) sớm hơn lúc bắt đầu tính thời gian hoặc "
        "lúc hết lần tạm dừng trước (10/03/2026 10:00); thao tác phải ghi ở thời điểm sau đó.")


def test_task_assign_repeated_with_the_officer_in_another_case_replays_the_first_result(cli, db_url):
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("user", "add", "an", "--unit", "phong_tckh", "--role", "staff", "--name", "Nguyễn Văn An")
    cli("dossier", "receive", "1.001612", "--applicant", "Trần Văn Bình", "--as", "motcua",
        "--now", "2026-03-10T08:00")
    assert "mở công việc 3" in cli("task", "complete", "2", "--outcome", "done", "--as", "truongphong",
                                   "--now", "2026-03-10T09:00")
    first = cli("task", "assign", "3", "--to", "An", "--as", "truongphong", "--key", "giao-3",
                "--now", "2026-03-10T09:10")
    assert "Đã phân công công việc 3 cho Nguyễn Văn An (an)" in first  # the account as it is spelled
    store = Store(db_url)
    try:
        before = dump(store)
        again = cli("task", "assign", "3", "--to", "an", "--as", "truongphong", "--key", "giao-3",
                    "--now", "2026-03-10T09:20")
        assert dump(store) == before  # nothing changed: no second event, no second notice
    finally:
        store.dispose()
    # the same result, the same line
    assert again.split(": ", 1)[1].strip() == first.split(": ", 1)[1].strip() + " (yêu cầu lặp lại: không thay đổi gì)"


def test_task_complete_says_the_appraisal_sent_back_went_to_the_officer_who_did_it(cli, capsys, monkeypatch):
    _staff(cli)
    cli("user", "add", "cv_an", "--unit", "phong_tckh", "--role", "staff", "--name", "Nguyễn Văn An")
    cli("dossier", "receive", "1.001612", "--applicant", "Hộ kinh doanh Bình An", "--as", "motcua",
        "--now", "2026-03-10T08:00")
    first = cli("task", "complete", "2", "--outcome", "done", "--as", "truongphong", "--now", "2026-03-10T09:00")
    assert "mở công việc 3" in first and "giao lại" not in first  # opened for the first time: the unit's
    cli("task", "claim", "3", "--as", "cv_an", "--now", "2026-03-10T09:10")
    cli("task", "complete", "3", "--outcome", "ok", "--as", "cv_an", "--now", "2026-03-10T10:00")
    code, out, err = run_main(capsys, monkeypatch, "task", "complete", "4", "--outcome", "rework",
                              "--as", "truongphong", "--now", "2026-03-10T11:00")
    assert (code, out, err.strip()) == (1, "", "quytrinh: Không thực hiện được: trả lại để xử lý lại cần ghi rõ lý do "
                                               "và việc cần làm lại (--comment), để người xử lý lại biết.")
    back = cli("task", "complete", "4", "--outcome", "rework", "--comment", "Xem lại địa điểm kinh doanh",
               "--as", "truongphong", "--now", "2026-03-10T11:00")
    assert back.rstrip().endswith("; công việc 5 giao lại cho Nguyễn Văn An (cv_an), người đã xử lý bước "
                                  "'appraise' lần trước"), back
    # theirs at once: no claim needed
    assert "Đã hoàn thành công việc 5" in cli("task", "complete", "5", "--outcome", "ok", "--as", "cv_an",
                                              "--now", "2026-03-10T14:00")
