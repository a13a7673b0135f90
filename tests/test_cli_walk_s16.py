"""The command line walked as its users walk it: what they were shown that was wrong, and is not any more."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

from engine.store import Store, dump
from tests.conftest import REPO
from tests.test_dossier_cli import QUYTRINH, cli, run_main  # noqa: F401  (the `cli` fixture)

CODE = "1.001612-20260310-000001"


def test_a_refused_reception_of_a_procedure_never_published_publishes_nothing(cli, db_url, capsys, monkeypatch):
    """The first reception of a procedure publishes it from the catalogue; when that reception is refused (not
    the counter's officer, no reason, a commune given to a district-level procedure...), nothing is left
    behind: no published version."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "chuyenvien", "--unit", "phong_tckh", "--role", "staff")
    store = Store(db_url)
    try:
        before = dump(store)
        for args in (("--as", "chuyenvien"),
                     ("--as", "motcua", "--decision", "refuse"),
                     ("--as", "motcua", "--commune", "Cổ Bi")):
            code, out, err = run_main(capsys, monkeypatch, "dossier", "receive", "1.001266", "--applicant", "X",
                                      *args, "--now", "2026-03-10T08:00")
            assert (code, out) == (1, ""), (args, err)
            assert dump(store) == before, args
        # accepted, it is published then, as version 1
        assert "hồ sơ 1.001266-20260310-000001 (quy trình phiên bản 1)" in cli(
            "dossier", "receive", "1.001266", "--applicant", "X", "--as", "motcua", "--now", "2026-03-10T08:00")
    finally:
        store.dispose()


def _password(db_url: str, typed: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QUYTRINH_DATABASE_URL": db_url}
    env.pop("QUYTRINH_USER", None)
    return subprocess.run([str(QUYTRINH), "user", *args], cwd=REPO, env=env, input=typed, capture_output=True,
                          text=True, timeout=60)


def test_a_password_given_through_a_pipe_is_asked_in_vietnamese_without_python_s_warning(cli, db_url):
    """A script that pipes the password (no terminal to hide it on) reads Vietnamese prompts, not Python's
    GetPassWarning and its English "Password input may be echoed"."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    proc = _password(db_url, "ngan\nmat-khau-moi-1\nmat-khau-moi-1\n", "password", "motcua")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Đã đặt mật khẩu cho motcua.\n"
    assert proc.stderr.splitlines() == ["Mật khẩu: ", "Mật khẩu cần ít nhất 8 ký tự; hãy nhập lại.",
                                        "Mật khẩu: ", "Nhập lại mật khẩu: "]
    # the input ends before the password is confirmed: cancelled, in Vietnamese, nothing changed
    proc = _password(db_url, "mat-khau-khac-1\n", "add", "an", "--unit", "bp_mot_cua", "--role", "staff",
                     "--password")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["Mật khẩu: ", "Nhập lại mật khẩu: ", "Đã hủy."]
    assert "an\t" not in cli("user", "list")


def test_completing_and_assigning_names_the_officer_as_task_assign_does(cli):
    """``task complete --assign-to`` names the officer as ``task assign`` does: full name and the account as it
    is spelled, not what was typed."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("user", "add", "an", "--unit", "phong_tckh", "--role", "staff", "--name", "Nguyễn Văn An")
    cli("dossier", "receive", "1.001612", "--applicant", "B", "--as", "motcua", "--now", "2026-03-10T08:00")
    out = cli("task", "complete", "2", "--outcome", "done", "--assign-to", "AN", "--as", "truongphong",
              "--now", "2026-03-10T09:00")
    assert out.startswith(f"Đã hoàn thành công việc 2 và giao công việc 3 cho Nguyễn Văn An (an): hồ sơ {CODE}"), out


def test_accepting_at_the_reception_step_gives_the_appointment_as_dossier_receive_does(cli):
    """A dossier supplemented at the counter goes back to its reception step; accepting it there with ``task
    complete`` starts the clock, and the officer is given the appointment to write on the receipt."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("dossier", "receive", "1.001612", "--applicant", "E", "--decision", "supplement", "--comment", "Thiếu CCCD",
        "--as", "motcua", "--now", "2026-03-10T08:00")
    assert "mở công việc 3" in cli("dossier", "supplemented", CODE, "--as", "motcua", "--now", "2026-03-11T08:00")
    out = cli("task", "complete", "3", "--outcome", "accept", "--as", "motcua", "--now", "2026-03-11T08:30")
    assert out.splitlines()[1] == "Ngày hẹn trả kết quả: 16/03/2026 08:30", out


def test_an_apology_signed_for_a_dossier_given_by_its_number_names_the_dossier_s_code(cli, db_url, capsys,
                                                                                      monkeypatch):
    """A dossier may be given by its number ("1"); the signature's line (and the form to print) names it by its
    code, as every other command's line does."""
    from engine import services as sv

    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("dossier", "receive", "1.001612", "--applicant", "G", "--as", "motcua", "--now", "2026-03-10T08:00")
    sv.sweep_timers(db_url, now=dt.datetime(2026, 3, 13, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=7))))
    out = cli("dossier", "apology", "1", "--reason", "Hồ sơ phức tạp", "--as", "truongphong",
              "--now", "2026-03-13T09:30")
    assert out.startswith(f"Đã ký Phiếu xin lỗi và hẹn lại: hồ sơ {CODE}, hẹn trả kết quả lúc "), out
    assert out.rstrip().endswith(f"(in: quytrinh form 04 {CODE}).")
    code, _, err = run_main(capsys, monkeypatch, "dossier", "apology", "1", "--reason", "x", "--as", "truongphong")
    assert (code, err) == (1, f"quytrinh: Không thực hiện được: hồ sơ {CODE} không có phiếu xin lỗi nào đang chờ ký.\n")


def test_a_form_written_to_a_file_is_named_by_its_title_and_the_dossier_s_code(cli, tmp_path, capsys, monkeypatch):
    """``form stop 1 --out F`` says which form of which dossier it wrote ("Thông báo dừng giải quyết hồ sơ –
    CODE"), not what was typed ("mẫu stop của hồ sơ 1")."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("dossier", "receive", "1.001612", "--applicant", "G", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("dossier", "stop", CODE, "--reason", "Hồ sơ có giấy tờ giả mạo", "--as", "motcua", "--now", "2026-03-10T10:00")
    for form, fmt, title in (("stop", "html", "Thông báo dừng giải quyết hồ sơ"),
                             ("01", "docx", "Giấy tiếp nhận hồ sơ và hẹn trả kết quả")):
        out_file = tmp_path / f"mau.{fmt}"
        code, out, err = run_main(capsys, monkeypatch, "form", form, "1", "--format", fmt, "--out", str(out_file))
        assert (code, out) == (0, "")
        assert err == f"{out_file}: {title} – {CODE}\n"
        assert out_file.stat().st_size > 0


def test_a_finding_names_its_step_and_severity_in_vietnamese(capsys, monkeypatch):
    """The reform office reads ``bước 'verify':`` and ``[lỗi]`` / ``[cảnh báo]``, not the engine's English
    ``step 'verify':`` and ``[error]`` / ``[warning]`` (``--format json`` keeps the ids), whichever command
    prints the finding."""
    from engine.lint import RULES

    monkeypatch.chdir(REPO)
    fixture = "tests/fixtures/lint/missing-duration.fail.yaml"
    code, out, err = run_main(capsys, monkeypatch, "validate", fixture)
    assert code == 1
    assert f"{fixture}:45:5: missing-duration: bước 'verify': mọi bước" in out
    assert out.splitlines()[1].endswith(" [lỗi]") and out.splitlines()[0].endswith(" [cảnh báo]")
    code, out, err = run_main(capsys, monkeypatch, "validate", fixture, "--format", "json")
    assert '"severity": "error"' in out and '"step": "verify"' in out
    code, out, err = run_main(capsys, monkeypatch, "validate", "--rules")
    assert out.splitlines()[0].split()[:3] == [RULES[0].id, "cảnh", "báo"]
    broken = "tests/fixtures/broken/bad-duration-text.yaml"
    for args in (("validate", broken), ("render", broken, "--check"),
                 ("simulate", broken, "--arrivals", "1/day"), ("catalogue", broken)):
        code, out, err = run_main(capsys, monkeypatch, *args)
        assert code == 1 and f"{broken}:13:5: bad-duration: bước 'receive': '1 ngày'" in out + err, (args, out, err)
        assert not any(english in out + err for english in ("step '", "[error]", "[warning]")), (args, out, err)


def _commands(command, path=()):
    """Every command path under the click ``command`` (``("dossier", "receive")``...), groups included."""
    out = [path]
    for name, sub in getattr(command, "commands", {}).items():
        out.extend(_commands(sub, (*path, name)))
    return out


def test_every_help_screen_says_its_usage_and_kinds_of_values_in_vietnamese(monkeypatch):
    """``Cách dùng: quytrinh [TÙY_CHỌN] LỆNH [ĐỐI_SỐ]...`` and ``<văn bản>``, ``<số nguyên>``, ``<đường dẫn …>``:
    not typer's ``[OPTIONS]``, ``COMMAND [ARGS]...``, ``<str>``, ``<int range>``, ``<list[Path]>``."""
    import typer.main
    from typer.testing import CliRunner

    from quytrinh.cli import app

    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    paths = _commands(typer.main.get_command(app))
    assert ("dossier", "receive") in paths and ("simulate",) in paths
    seen = ""
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        seen += result.output
        for english in ("[OPTIONS]", "COMMAND", "[ARGS]", "<str>", "<int", "<float", "<path>", "<file>", "<list",
                        "range>"):
            assert english not in result.output, (path, english, result.output)
    assert "Cách dùng: quytrinh [TÙY_CHỌN] LỆNH [ĐỐI_SỐ]..." in seen
    for kind in ("<văn bản>", "<số nguyên>", "<số>", "<đường dẫn …>", "<tệp>", "<text|json>"):
        assert kind in seen, kind


def test_the_catalogue_written_to_a_file_says_what_it_wrote(tmp_path, capsys, monkeypatch):
    """``catalogue --out F`` said nothing at all (form, decision and report name what they wrote)."""
    monkeypatch.chdir(REPO)
    out_file = tmp_path / "danh-muc.csv"
    code, out, err = run_main(capsys, monkeypatch, "catalogue", "procedures_yaml/commune", "--format", "csv",
                              "--out", str(out_file))
    assert (code, out) == (0, "")
    assert err.startswith(f"{out_file}: danh mục quy trình nội bộ, 10 thủ tục (10 cấp xã); 0 lỗi, "), err


def test_user_add_and_move_name_the_unit_a_typo_most_likely_means(cli, db_url, capsys, monkeypatch):
    """``user add|move --unit phong_tckhh`` says which unit was probably meant, as ``tasks --unit`` and ``user
    list --unit`` do, and changes nothing; ``user list`` writes a missing full name as its other empty column
    does ("–")."""
    cli("user", "add", "cv", "--unit", "phong_tckh", "--role", "staff")
    store = Store(db_url)
    try:
        before = dump(store)
        for args in (("add", "an", "--unit", "phong_tckhh", "--role", "staff"),
                     ("move", "cv", "--unit", "phong_tckhh", "--role", "staff")):
            code, out, err = run_main(capsys, monkeypatch, "user", *args)
            assert (code, out) == (1, "")
            assert err.startswith("quytrinh: Không tìm thấy: đơn vị 'phong_tckhh' (--unit); có phải là 'phong_tckh' "
                                  "không? Các đơn vị: bp_mot_cua,"), err
        assert dump(store) == before
    finally:
        store.dispose()
    assert cli("user", "list", "--unit", "phong_tckh").splitlines() == ["cv\t–\tphong_tckh\tstaff (Chuyên viên)\t–"]


def test_the_control_sheet_gives_the_new_appointment_of_a_signed_apology(cli, db_url):
    """Once the head signed the apology, the applicant's appointment is its new date: ``dossier show`` says it
    after the appointment, as the dossier page does, and no longer calls it a proposal."""
    import re

    from engine import services as sv

    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("dossier", "receive", "1.001612", "--applicant", "G", "--as", "motcua", "--now", "2026-03-10T08:00")
    sv.sweep_timers(db_url, now=dt.datetime(2026, 3, 13, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=7))))
    draft = cli("dossier", "show", CODE, "--now", "2026-03-13T09:10")
    assert "theo phiếu xin lỗi đã ký" not in draft
    assert re.search(r"Phiếu xin lỗi và hẹn lại \(mẫu 04, dự thảo\): hẹn cũ 12/03/2026 17:00, đề xuất hẹn mới ", draft)
    out = cli("dossier", "apology", CODE, "--reason", "Hồ sơ phức tạp", "--new-date", "2026-03-20T17:00",
              "--as", "truongphong", "--now", "2026-03-13T09:30")
    assert "hẹn trả kết quả lúc 17:00 ngày 20/03/2026" in out
    sheet = cli("dossier", "show", CODE, "--now", "2026-03-13T09:40")
    assert "Hẹn trả: 12/03/2026 17:00 (hẹn lại 20/03/2026 17:00 theo phiếu xin lỗi đã ký)" in sheet, sheet
    assert ("Phiếu xin lỗi và hẹn lại (mẫu 04, đã ký): hẹn cũ 12/03/2026 17:00, hẹn mới 20/03/2026 17:00; "
            "lãnh đạo Phòng TC-KH đã ký") in sheet


def test_the_holder_of_a_work_item_is_named_as_staff_know_them_not_by_the_account_s_id(cli, db_url, capsys,
                                                                                     monkeypatch):
    """Another officer's claim, completion, or the head's second assignment of a held item said "người dùng số 3"
    (the account's database id, which nobody knows); it names the holder, and says how the item is freed."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("user", "add", "cv", "--unit", "phong_tckh", "--role", "staff", "--name", "Lê Văn Cường")
    cli("user", "add", "cv2", "--unit", "phong_tckh", "--role", "staff")
    cli("dossier", "receive", "1.001612", "--applicant", "B", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("task", "complete", "2", "--outcome", "done", "--assign-to", "cv", "--as", "truongphong",
        "--now", "2026-03-10T08:10")
    store = Store(db_url)
    try:
        before = dump(store)
        for args, said in (
                (("task", "claim", "3", "--as", "cv2"),
                 "quytrinh: Không có quyền: công việc 3 (bước 'appraise') đã do Lê Văn Cường (cv) nhận xử lý; người "
                 "đó trả lại (quytrinh task release 3) hoặc lãnh đạo đơn vị giao lại (quytrinh task assign 3 --to "
                 "TÊN_ĐĂNG_NHẬP) thì mới làm được.\n"),
                (("task", "complete", "3", "--outcome", "ok", "--as", "cv2"),
                 "quytrinh: Không có quyền: công việc 3 (bước 'appraise') đã do Lê Văn Cường (cv) nhận xử lý;"),
                (("task", "assign", "3", "--to", "CV", "--as", "truongphong"),
                 "quytrinh: Thao tác không hợp lệ ở trạng thái hiện tại: công việc 3 (bước 'appraise') đang do chính "
                 "Lê Văn Cường (cv) xử lý (hồ sơ đang ở trạng thái 4 – Đang xử lý)")):
            code, out, err = run_main(capsys, monkeypatch, *args, "--now", "2026-03-10T08:20")
            assert (code, out) == (1, "") and err.startswith(said), (args, err)
            assert "người dùng số" not in err
        assert dump(store) == before
    finally:
        store.dispose()


def test_the_control_sheet_of_a_commune_level_dossier_names_its_commune(cli):
    """The dossier page names a commune-level dossier's commune; ``dossier show`` did not."""
    cli("user", "add", "xmc", "--unit", "xa_mot_cua", "--role", "staff")
    out = cli("dossier", "receive", "1.001193", "--applicant", "Lê Văn Tý", "--commune", "cổ bi", "--as", "xmc",
              "--now", "2026-03-10T08:00")
    code = out.split("hồ sơ ", 1)[1].split(" ", 1)[0]
    sheet = cli("dossier", "show", code, "--now", "2026-03-10T08:10")
    assert "Người nộp: Lê Văn Tý    Hình thức: Trực tiếp    Xã, thị trấn: Xã Cổ Bi" in sheet, sheet


def test_a_recorded_supplement_says_who_has_the_dossier_now(cli):
    """As the dossier page's message does: the officer the appraisal went back to (the one who asked for the
    supplement), or, asked at the reception, that the dossier is back at the counter's own step, to decide on."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("user", "add", "cv", "--unit", "phong_tckh", "--role", "staff", "--name", "Lê Văn Cường")
    cli("dossier", "receive", "1.001612", "--applicant", "B", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("task", "complete", "2", "--outcome", "done", "--assign-to", "cv", "--as", "truongphong",
        "--now", "2026-03-10T08:10")
    cli("task", "complete", "3", "--outcome", "supplement", "--comment", "Thiếu bản sao CCCD", "--as", "cv",
        "--now", "2026-03-10T08:20")
    out = cli("dossier", "supplemented", CODE, "--as", "motcua", "--now", "2026-03-10T09:00")
    assert out.rstrip().endswith("; lần cập nhật 5; chuyển tiếp cho Lê Văn Cường (cv), Phòng TC-KH (công việc 5)"), out
    out = cli("dossier", "receive", "1.001612", "--applicant", "C", "--decision", "supplement", "--comment", "x",
              "--as", "motcua", "--now", "2026-03-10T09:00")
    second = out.split("hồ sơ ", 1)[1].split(" ", 1)[0]
    out = cli("dossier", "supplemented", second, "--as", "motcua", "--now", "2026-03-10T09:10")
    assert out.rstrip().endswith("; lần cập nhật 2; hồ sơ trở lại bước 'receive' (công việc 8): hãy kiểm tra rồi "
                                 "quyết định bằng quytrinh task complete 8 --outcome KẾT_QUẢ"), out


def test_the_log_does_not_say_the_holder_gave_back_what_the_head_took_back(cli):
    """The head releasing an officer's item was logged "truongphong: Trả lại việc cho đơn vị [appraise] (cv trả
    lại)", as if the officer had given it back; it names whose item it was, as for the system's releases."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("user", "add", "cv", "--unit", "phong_tckh", "--role", "staff")
    cli("dossier", "receive", "1.001612", "--applicant", "B", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("task", "complete", "2", "--outcome", "done", "--assign-to", "cv", "--as", "truongphong",
        "--now", "2026-03-10T08:10")
    cli("task", "release", "3", "--as", "truongphong", "--now", "2026-03-10T08:20")
    cli("task", "claim", "3", "--as", "cv", "--now", "2026-03-10T08:30")
    cli("task", "release", "3", "--as", "cv", "--now", "2026-03-10T08:40")
    sheet = cli("dossier", "show", CODE, "--now", "2026-03-10T08:50")
    assert "10/03/2026 08:20  truongphong: Trả lại việc cho đơn vị [appraise] (việc cv đang giữ)" in sheet, sheet
    assert "10/03/2026 08:40  cv: Trả lại việc cho đơn vị [appraise] (cv trả lại)" in sheet, sheet


def test_a_refused_assignment_names_the_officer_as_the_account_spells_it(cli, db_url, capsys, monkeypatch):
    """``--to QLDT`` is the account ``qldt`` (usernames are case-insensitive): a refusal names it so, as the
    success line does, not as it was typed."""
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("user", "add", "qldt", "--unit", "phong_qldt", "--role", "staff")
    cli("dossier", "receive", "1.001612", "--applicant", "B", "--as", "motcua", "--now", "2026-03-10T08:00")
    cli("task", "complete", "2", "--outcome", "done", "--as", "truongphong", "--now", "2026-03-10T08:10")
    store = Store(db_url)
    try:
        before = dump(store)
        code, out, err = run_main(capsys, monkeypatch, "task", "assign", "3", "--to", "QLDT", "--as", "truongphong",
                                  "--now", "2026-03-10T08:20")
        assert (code, out) == (1, "")
        assert err.startswith("quytrinh: Không thực hiện được: người dùng 'qldt' (phong_qldt/staff) không làm được "
                              "công việc 3 (bước 'appraise')"), err
        assert dump(store) == before
    finally:
        store.dispose()


def test_an_account_without_a_full_name_is_not_named_twice(cli):
    """``user disable|enable|move`` of an account added without --name said "cv (cv, phong_tckh/staff)"."""
    cli("user", "add", "cv", "--unit", "phong_tckh", "--role", "staff")
    cli("user", "add", "an", "--unit", "phong_tckh", "--role", "staff", "--name", "Nguyễn Văn An")
    assert cli("user", "disable", "cv").splitlines()[0] == "Đã ngừng hoạt động tài khoản cv (phong_tckh/staff)."
    assert cli("user", "enable", "cv").splitlines()[0] == (
        "Tài khoản cv (phong_tckh/staff) đã hoạt động trở lại; người đó cần đăng nhập lại.")
    assert cli("user", "move", "cv", "--unit", "phong_tckh", "--role", "head").splitlines()[0] == (
        "Đã chuyển cv sang phong_tckh/head.")
    assert cli("user", "disable", "an").splitlines()[0] == (
        "Đã ngừng hoạt động tài khoản an (Nguyễn Văn An, phong_tckh/staff).")
    assert cli("user", "move", "an", "--unit", "phong_tckh", "--role", "head").splitlines()[0] == (
        "Đã chuyển an (Nguyễn Văn An) sang phong_tckh/head.")
