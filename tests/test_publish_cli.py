"""`quytrinh publish` (the catalogue into a production database, no accounts) and the operator's `quytrinh user`
commands, on a real database (SQLite, and PostgreSQL on its leg)."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from engine.store import DefinitionVersion, Store, UnitRow, User

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli(db_url, monkeypatch):
    """Run ``quytrinh`` in-process against the test database: (exit code, stdout, stderr)."""
    from quytrinh.cli import app

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", db_url)
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    monkeypatch.chdir(REPO)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            from engine.errors import QuytrinhError
            from quytrinh.messages import cli_error_text

            assert isinstance(result.exception, QuytrinhError), result.exception
            return 1, result.stdout, f"{result.stderr}quytrinh: {cli_error_text(result.exception)}"
        return result.exit_code, result.stdout, result.stderr

    return invoke


def _store(db_url: str) -> Store:
    return Store(db_url)


def _approve_1001612(db_url: str, *, also: Any = None) -> Any:
    """Publish the catalogue's 1.001612 again as a leader-approved version (what the web app's approval
    stores); ``also(store)`` runs on the same store. The version row."""
    from engine import services as sv
    from engine.definition import Approval, load_catalogue, with_status

    defn = load_catalogue([REPO / "procedures_yaml"]).find("1.001612")
    approved = with_status(defn, "approved", Approval(decision="125/QĐ-UBND", date=dt.date(2026, 3, 2),
                                                      signer="Chủ tịch"))
    store = _store(db_url)
    try:
        row = sv.publish_definition(store, approved, now=dt.datetime.now(dt.timezone.utc), by="approval")
        if also is not None:
            also(store)
        return row
    finally:
        store.dispose()


def test_publish_puts_units_and_every_procedure_in_and_no_account_and_says_so_again(cli, db_url):
    code, out, err = cli("publish")
    assert code == 0, out + err
    assert "Kiểm tra danh mục" in out and ": 0 lỗi, " in out
    assert "Đơn vị: 25 đơn vị theo units.yaml" in out
    assert "Quy trình: 91 đưa vào lần đầu, 0 có phiên bản mới, 0 không đổi" in out
    assert "Không tạo tài khoản nào" in out and "quytrinh user add" in out
    store = _store(db_url)
    try:
        with store.session() as s:
            assert s.exec(select(User)).all() == []  # no demo account, no account at all
            assert len(s.exec(select(UnitRow)).all()) == 25
            assert len({r.procedure_code for r in s.exec(select(DefinitionVersion)).all()}) == 91
    finally:
        store.dispose()
    code, out, err = cli("publish")  # again: nothing changes, and it says so
    assert code == 0, out + err
    assert "Quy trình: 0 đưa vào lần đầu, 0 có phiên bản mới, 91 không đổi" in out
    store = _store(db_url)
    try:
        with store.session() as s:
            assert len(s.exec(select(DefinitionVersion)).all()) == 91
    finally:
        store.dispose()


def test_publish_keeps_a_version_a_leader_approved_and_names_it(cli, db_url, tmp_path):
    from engine import services as sv

    assert cli("publish")[0] == 0
    row = _approve_1001612(db_url)
    assert (row.version, row.status) == (2, "approved")
    code, out, err = cli("publish")
    assert code == 0, out + err
    assert "Quy trình: 0 đưa vào lần đầu, 0 có phiên bản mới, 90 không đổi" in out
    assert "Giữ nguyên 1 quy trình đã được lãnh đạo phê duyệt" in out and "1.001612 (phiên bản 2)" in out
    store = _store(db_url)
    try:
        _, newest = sv.current_definition(store, "1.001612")
        assert newest.status == "approved"  # the catalogue's draft did not replace it
    finally:
        store.dispose()


def test_publish_from_another_folder_says_how_the_other_commands_read_it_too(cli, db_url, tmp_path, monkeypatch):
    """Every command reads units.yaml into the database from $QUYTRINH_CATALOGUE_DIR, else ./procedures_yaml:
    publishing another folder's catalogue says to set the variable, or the next command puts the old units
    back (which it does, as the second part shows)."""
    monkeypatch.delenv("QUYTRINH_CATALOGUE_DIR", raising=False)
    code, out, _ = cli("publish", "--catalogue", str(REPO / "procedures_yaml"))
    assert code == 0 and "QUYTRINH_CATALOGUE_DIR" not in out  # the default folder: nothing to say
    root = tmp_path / "catalogue"
    shutil.copytree(REPO / "procedures_yaml", root)
    units = root / "units.yaml"
    units.write_text(units.read_text(encoding="utf-8").replace('name: "Phòng Tài chính – Kế hoạch"',
                                                               'name: "Phòng Tài chính – Kế hoạch (mới)"'),
                     encoding="utf-8")
    code, out, err = cli("publish", "--catalogue", str(root))
    assert code == 0, out + err
    assert f"QUYTRINH_CATALOGUE_DIR={root.resolve()}" in out and "procedures_yaml/" in out
    note = next(line for line in out.splitlines() if line.startswith("Lưu ý: các lệnh khác"))
    # the worker reads no units.yaml (workflows/ work on the database's units), only the calendar
    assert "worker không đọc units.yaml" in note and "calendar.yaml" in note, note
    assert "ứng dụng web và worker đọc" not in note

    def name() -> str:
        store = _store(db_url)
        try:
            with store.session() as s:
                return s.get(UnitRow, "phong_tckh").name
        finally:
            store.dispose()

    assert name() == "Phòng Tài chính – Kế hoạch (mới)"
    monkeypatch.setenv("QUYTRINH_CATALOGUE_DIR", str(root))  # as the note says: the next command keeps it
    assert cli("user", "list")[0] == 0 and name() == "Phòng Tài chính – Kế hoạch (mới)"
    monkeypatch.delenv("QUYTRINH_CATALOGUE_DIR")  # without it, the default folder's units come back
    assert cli("user", "list")[0] == 0 and name() == "Phòng Tài chính – Kế hoạch"


def test_publish_refuses_a_catalogue_with_errors_and_changes_nothing(cli, db_url, tmp_path):
    root = tmp_path / "catalogue"
    shutil.copytree(REPO / "procedures_yaml", root)
    shutil.copy(REPO / "tests" / "fixtures" / "broken" / "dangling-route.yaml", root / "district" / "zz-bad.yaml")
    code, out, err = cli("publish", "--catalogue", str(root))
    assert code == 1
    assert "zz-bad.yaml" in err and "Danh mục còn lỗi" in err and "quytrinh validate" in err, err
    assert "Cơ sở dữ liệu" not in out  # refused before opening the database
    code, out, err = cli("publish", "--catalogue", str(tmp_path / "nowhere"))
    assert code == 1 and "Không có thư mục danh mục" in err and "--catalogue" in err, err


def test_user_password_sets_the_password_of_an_account_made_without_one(cli, db_url):
    from quytrinh.web.auth import verify_password

    assert cli("publish")[0] == 0
    code, out, err = cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff", "--name", "Nguyễn Thị Mai")
    assert code == 0, out + err
    code, out, err = cli("user", "password", "motcua",
                         input="\na\nbi-mat-1\nkhac-hoan-toan\nbi-mat-1\nbi-mat-1\n")
    assert code == 0, out + err
    assert "Mật khẩu cần ít nhất 8 ký tự; hãy nhập lại." in out + err  # "a": too short, asked again
    assert "Hai lần nhập không khớp; hãy nhập lại." in out + err
    assert "Đã đặt mật khẩu cho motcua." in out
    store = _store(db_url)
    try:
        with store.session() as s:
            stored = s.exec(select(User).where(User.username == "motcua")).one().password_hash
        assert verify_password("bi-mat-1", stored)
    finally:
        store.dispose()
    code, out, err = cli("user", "password", "motcua", input="moi-mat-khau-2\nmoi-mat-khau-2\n")
    assert code == 0 and "Đã đổi mật khẩu cho motcua." in out, out + err


def test_user_password_of_nobody_and_user_add_of_a_taken_name_refuse_before_asking(cli, db_url):
    assert cli("publish")[0] == 0
    code, out, err = cli("user", "password", "khongco")
    assert code == 1 and "Mật khẩu" not in out, out
    assert "chưa có người dùng 'khongco'" in err and "quytrinh user add khongco" in err, err
    assert cli("user", "add", "an", "--unit", "bp_mot_cua", "--role", "staff")[0] == 0
    code, out, err = cli("user", "add", "an", "--unit", "bp_mot_cua", "--role", "staff", "--password")
    assert code == 1 and "Mật khẩu" not in out, out  # said before asking for a password it would throw away
    assert "đã có người dùng 'an'" in err and "quytrinh user password an" in err, err


def test_a_search_path_schema_that_does_not_exist_says_to_create_it():
    import psycopg
    import sqlalchemy.exc

    from quytrinh.commands.dossier import _database_cause, check_database_url

    parsed = check_database_url("postgresql+psycopg://postgres@db.local:5433/qt?options=-csearch_path%3Dquytrinh")
    # what psycopg raises through SQLAlchemy when the search_path schema is missing (seen on PostgreSQL 15)
    exc = sqlalchemy.exc.ProgrammingError(
        "CREATE TABLE alembic_version (...)", {}, psycopg.errors.InvalidSchemaName(
            "no schema has been selected to create in"))
    assert _database_cause(parsed, exc) == (
        "lược đồ (schema) 'quytrinh' mà địa chỉ chọn bằng search_path chưa có; tạo bằng: psql -h db.local -p 5433 "
        "-U postgres -d qt -c 'create schema quytrinh'. ")


def test_dossier_receive_uses_the_approved_version_and_never_publishes_the_catalogues_other_text(cli, db_url):
    """The catalogue's file of 1.001612 is not the approved version the database holds: a reception by the
    CLI uses the approved one and publishes nothing (before, it published the file as a new draft version,
    which every later dossier used: an approval bypass)."""
    from engine import services as sv

    assert cli("publish")[0] == 0
    _approve_1001612(db_url, also=lambda store: sv.add_user(store, "motcua", unit="bp_mot_cua", role="staff",
                                                             now=dt.datetime.now(dt.timezone.utc)))
    code, out, err = cli("dossier", "receive", "1.001612", "--applicant", "Trần Văn Bình", "--as", "motcua")
    assert code == 0 and "Đã tiếp nhận" in out, out + err
    store = _store(db_url)
    try:
        with store.session() as s:
            versions = [(v.version, v.status) for v in s.exec(select(DefinitionVersion).where(
                DefinitionVersion.procedure_code == "1.001612").order_by(DefinitionVersion.version))]
            from engine.store import Dossier

            pinned = s.exec(select(Dossier)).one().definition_version
        assert versions == [(1, "draft"), (2, "approved")] and pinned == 2
    finally:
        store.dispose()


def test_dossier_receive_of_a_procedure_never_published_checks_it_first(cli, db_url, tmp_path, monkeypatch):
    """Not in the database yet: published from the catalogue if it passes the checks `publish` makes;
    with lint errors (a step at a unit units.yaml does not have) refused, and nothing published."""
    root = tmp_path / "catalogue"
    shutil.copytree(REPO / "procedures_yaml", root)
    monkeypatch.setenv("QUYTRINH_CATALOGUE_DIR", str(root))
    path = next((root / "district").glob("1.001612-*.yaml"))
    text = path.read_text(encoding="utf-8")
    assert "phong_tckh" in text
    from engine.store import init_db

    store = init_db(db_url)
    try:
        from engine import services as sv
        from engine.definition import load_units

        sv.seed_organisation(store, load_units(str(root / "units.yaml")))
        sv.add_user(store, "motcua", unit="bp_mot_cua", role="staff", now=dt.datetime.now(dt.timezone.utc))
    finally:
        store.dispose()
    path.write_text(text.replace("phong_tckh", "phong_giai_the"), encoding="utf-8")
    code, out, err = cli("dossier", "receive", "1.001612", "--applicant", "Trần Văn Bình", "--as", "motcua")
    assert code == 1, out + err
    assert "unknown-unit" in err and "phong_giai_the" in err
    assert "chưa được đưa vào hệ thống và quy trình trong danh mục còn" in err and "quytrinh publish" in err
    store = _store(db_url)
    try:
        with store.session() as s:
            assert s.exec(select(DefinitionVersion)).all() == []
    finally:
        store.dispose()
    path.write_text(text, encoding="utf-8")
    code, out, err = cli("dossier", "receive", "1.001612", "--applicant", "Trần Văn Bình", "--as", "motcua")
    assert code == 0 and "Đã tiếp nhận" in out, out + err


def test_publish_names_the_units_and_roles_units_yaml_no_longer_has_with_their_people_and_work(
        cli, db_url, tmp_path, monkeypatch):
    """A district dissolves Phòng LĐ-TB&XH and drops a role: the database keeps both (dossiers name them),
    and publish says so, with the active members and open work left there."""
    import re as _re

    from engine import services as sv

    root = tmp_path / "catalogue"
    shutil.copytree(REPO / "procedures_yaml", root)
    units = root / "units.yaml"
    text = units.read_text(encoding="utf-8")
    with_deputy = text.replace('''  - id: phong_tckh
    name: "Phòng Tài chính – Kế hoạch"
    short: "Phòng TC-KH"
    level: district
    kind: office
    roles:
''', '''  - id: phong_tckh
    name: "Phòng Tài chính – Kế hoạch"
    short: "Phòng TC-KH"
    level: district
    kind: office
    roles:
      deputy: "Phó Trưởng phòng"
''')
    assert with_deputy != text
    units.write_text(with_deputy, encoding="utf-8")
    assert cli("publish", "--catalogue", str(root))[0] == 0
    now = dt.datetime.now(dt.timezone.utc)
    store = _store(db_url)
    try:
        sv.add_user(store, "motcua", unit="bp_mot_cua", role="staff", now=now)
        sv.add_user(store, "ldtb_cv", unit="phong_ldtbxh", role="staff", now=now)
        sv.add_user(store, "tckh_pp", unit="phong_tckh", role="deputy", now=now)
        sv.receive(store, sv.get_actor(store, "motcua"), "1.000145", applicant="Trần Văn Bình", now=now)
    finally:
        store.dispose()
    # Dissolved: out of units.yaml, and its procedures out of the catalogue (their new office is another matter).
    gone = _re.search(r"  - id: phong_ldtbxh\n(?:    .*\n|      .*\n)+", with_deputy)
    units.write_text(with_deputy.replace(gone.group(0), "").replace('      deputy: "Phó Trưởng phòng"\n', ""),
                     encoding="utf-8")
    for path in (root / "district").glob("*.yaml"):
        if "phong_ldtbxh" in path.read_text(encoding="utf-8"):
            path.unlink()
    code, out, err = cli("publish", "--catalogue", str(root))
    assert code == 0, out + err
    said = " ".join(out.split())
    assert ("Cảnh báo: đơn vị phong_ldtbxh (Phòng LĐ-TB&XH) không còn trong units.yaml nhưng còn 1 cán bộ đang "
            "hoạt động và 1 công việc đang mở") in said
    assert "merged_into" in said and "quytrinh unit transfer phong_ldtbxh" in said
    assert ("Cảnh báo: tckh_pp có vai trò 'deputy' mà đơn vị phong_tckh không còn trong units.yaml; chuyển vai trò "
            "bằng: quytrinh user move tckh_pp --unit phong_tckh --role VAI_TRÒ.") in said


def test_publish_warns_when_a_kept_approved_version_sends_work_to_a_unit_units_yaml_no_longer_has(
        cli, db_url, tmp_path):
    assert cli("publish")[0] == 0
    _approve_1001612(db_url)
    root = tmp_path / "catalogue"  # the finance office renamed everywhere: phong_tckh -> phong_tc
    shutil.copytree(REPO / "procedures_yaml", root)
    for path in root.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if "phong_tckh" in text:
            path.write_text(text.replace("phong_tckh", "phong_tc"), encoding="utf-8")
    code, out, err = cli("publish", "--catalogue", str(root))
    assert code == 0, out + err
    said = " ".join(out.split())
    assert "1.001612 (phiên bản 2)" in said
    assert ("Cảnh báo: 1.001612 (phiên bản 2, đã duyệt) giao việc cho đơn vị không còn trong units.yaml: "
            "phong_tckh; hồ sơ mới vẫn đến các đơn vị này") in said
    assert "Đơn vị phong_tckh (Phòng TC-KH) không còn trong units.yaml; không còn cán bộ hay công việc ở đó" in said


def test_user_add_and_move_refuse_a_unit_or_role_units_yaml_no_longer_has(cli, db_url, tmp_path, monkeypatch):
    assert cli("publish")[0] == 0
    assert cli("user", "add", "cv", "--unit", "phong_tckh", "--role", "staff")[0] == 0
    root = tmp_path / "catalogue"
    shutil.copytree(REPO / "procedures_yaml", root)
    units = root / "units.yaml"
    units.write_text(units.read_text(encoding="utf-8").replace("  - id: phong_ldtbxh", "  - id: phong_xa_hoi"),
                     encoding="utf-8")
    monkeypatch.setenv("QUYTRINH_CATALOGUE_DIR", str(root))
    store = _store(db_url)
    try:
        with store.session() as s:
            before = [u.id for u in s.exec(select(UnitRow)).all()]
    finally:
        store.dispose()
    assert "phong_ldtbxh" in before
    for args in (("user", "add", "cv2", "--unit", "phong_ldtbxh", "--role", "staff"),
                 ("user", "move", "cv", "--unit", "phong_ldtbxh", "--role", "staff")):
        code, out, err = cli(*args)
        assert code == 1 and "đơn vị 'phong_ldtbxh' không còn trong" in err and "units.yaml" in err, out + err
    code, out, err = cli("user", "move", "cv", "--unit", "phong_tckh", "--role", "deputy")
    assert code == 1 and "đơn vị 'phong_tckh' không có vai trò 'deputy'" in err, out + err
    code, out, err = cli("user", "move", "cv", "--unit", "phong_xa_hoi", "--role", "staff")
    assert code == 0 and "Đã chuyển cv" in out, out + err
