"""Usernames are case-insensitive: ``An`` is the account ``an`` wherever a name is looked up (sign-in on the
web form and the API, ``--as``, ``quytrinh user ...``, assignment), no second account may differ from one only
by case (the web sign-in: tests/web/test_web_qa_usernames.py), and the spelling an account was created with is the one shown. Migration 0014 refuses, loudly and
changing nothing, a database that holds two names equal but for case."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine import services as sv
from engine.errors import ActionError, NotFound
from engine.store import User, dump, username_key
from tests.conftest import T0


def _names(db) -> list[str]:
    with db.session() as s:
        return sorted(s.exec(select(User.username)).all())


# --------------------------------------------------------------------------- the engine


def test_an_actor_is_found_whatever_the_case_and_keeps_the_accounts_spelling(runtime):
    rt = runtime
    sv.add_user(rt.db, "Nguyen.An", unit="phong_tckh", role="staff", now=T0, full_name="Nguyễn An")
    for typed in ("nguyen.an", "NGUYEN.AN", "Nguyen.An"):
        actor = sv.get_actor(rt.db, typed)
        assert actor.username == "Nguyen.An" and actor.unit == "phong_tckh"
    assert sv.get_actor(rt.db, "MOTCUA").username == "motcua"
    assert sv.get_actor(rt.db, "System") is sv.SYSTEM
    with pytest.raises(NotFound, match="user 'nobody' does not exist"):
        sv.get_actor(rt.db, "nobody")


def test_a_name_that_differs_only_by_case_is_refused_and_nothing_is_written(runtime):
    rt = runtime
    before = dump(rt.db)
    with pytest.raises(ActionError, match=r"^user 'MotCua' already exists as 'motcua' \(usernames are "
                                          r"case-insensitive\)$"):
        sv.add_user(rt.db, "MotCua", unit="bp_mot_cua", role="staff", now=T0)
    with pytest.raises(ActionError, match=r"^user 'motcua' already exists$"):
        sv.add_user(rt.db, "motcua", unit="bp_mot_cua", role="staff", now=T0)
    with pytest.raises(ActionError, match="is not a valid username"):
        sv.add_user(rt.db, "SYSTEM", unit="bp_mot_cua", role="staff", now=T0)
    assert dump(rt.db) == before


def test_non_ascii_names_fold_too(runtime):
    rt = runtime
    sv.add_user(rt.db, "Đức", unit="phong_tckh", role="staff", now=T0)
    assert sv.get_actor(rt.db, "đức").username == "Đức"
    with pytest.raises(ActionError, match="already exists as 'Đức'"):
        sv.add_user(rt.db, "ĐỨC", unit="phong_tckh", role="staff", now=T0)


def test_the_database_refuses_a_second_spelling_written_around_the_services(runtime):
    """The unique index on username_key: two processes adding ``an`` and ``An`` at once cannot both win."""
    rt = runtime
    with pytest.raises(sa.exc.IntegrityError):
        with rt.db.write() as s:
            s.add(User(username="TCKH_CV", unit_id="phong_tckh", role="staff", created_at=T0))
    assert "TCKH_CV" not in _names(rt.db)


def test_user_changes_and_assignment_find_the_account_whatever_the_case(runtime):
    rt = runtime
    change = sv.move_user(rt.db, "TCKH_CV2", unit="phong_qldt", role="staff", now=T0)
    assert change.username == "tckh_cv2"
    change = sv.deactivate_user(rt.db, "Tckh_Cv2", now=T0)
    assert change.username == "tckh_cv2" and not change.active
    assert sv.reactivate_user(rt.db, "TCKH_cv2").username == "tckh_cv2"
    from engine.store import WorkItem

    r = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant="Lê Văn C", now=T0)
    with rt.db.session() as s:
        step = s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id, WorkItem.step_id == "assign")).one()
    done = sv.complete(rt.db, rt.actor("tckh_head"), step.id, outcome="done", now=T0 + dt.timedelta(minutes=2))
    item = done.opened[0]
    res = sv.assign(rt.db, rt.actor("tckh_head"), item, to="TCKH_CV", now=T0 + dt.timedelta(minutes=5))
    assert res.item_id == item
    rows = sv.list_tasks(rt.db, now=T0 + dt.timedelta(minutes=6), user="Tckh_Cv")
    assert [(t.item_id, t.assignee) for t in rows if t.item_id == item] == [(item, "tckh_cv")]


def test_migration_0014_keys_every_name_and_matches_the_store():
    import importlib.util

    from engine.store import MIGRATIONS

    spec = importlib.util.spec_from_file_location("m0014", MIGRATIONS / "versions" / "0014_username_key.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    for name in ("an", "An", "Nguyen.An", "Đức", "ĐỨC", "straße", "D\u0301ức"):
        assert m._key(name) == username_key(name)
    assert m.clashes([(1, "an", "", True), (2, "bo", "", True), (3, "AN", "An B", False)]) == [
        [(1, "an", "", True), (3, "AN", "An B", False)]]


def _at_0013_with(db_url: str, names: list[str]):
    from engine.store import Store, migrate

    store = Store(db_url)
    migrate(store.engine, "0013")
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO units (id, name, short, level, kind, roles) "
                             "VALUES ('u', 'Đơn vị', '', 'district', 'office', '{\"staff\": \"Chuyên viên\"}')"))
        for i, name in enumerate(names, 1):
            conn.execute(sa.text("INSERT INTO users (id, username, full_name, unit_id, role, active, "
                                 "credential_epoch, created_at) VALUES (:i, :n, :f, 'u', 'staff', :a, 0, :t)"),
                         {"i": i, "n": name, "f": f"Người {i}", "a": i != 3, "t": T0})
    return store


def test_migration_0014_stops_on_names_equal_but_for_case_and_changes_nothing(db_url):
    from engine.errors import QuytrinhError
    from engine.store import HEAD_REVISION, current_revision, init_db
    from quytrinh.messages import cli_error_text

    store = _at_0013_with(db_url, ["an", "bo", "An"])

    def users_table() -> tuple[list[str], list[tuple]]:
        with store.engine.connect() as conn:
            columns = [c["name"] for c in sa.inspect(conn).get_columns("users")]
            return columns, [tuple(r) for r in conn.execute(sa.text("SELECT * FROM users ORDER BY id"))]

    before = users_table()
    assert "username_key" not in before[0]
    with pytest.raises(QuytrinhError) as caught:
        init_db(db_url)
    exc = caught.value
    assert "these accounts differ only by case: 'an' (id 1, Người 1), 'An' (id 3, Người 3, deactivated)" in str(exc)
    assert "Nothing was changed" in str(exc)
    text = cli_error_text(exc)
    assert "chỉ khác nhau ở chữ hoa, chữ thường: 'an' (id 1, Người 1), 'An' (id 3, Người 3, ngừng hoạt động)" \
        in text and "Chưa có gì thay đổi" in text and "UPDATE users SET username = 'An2' WHERE id = 3" in text
    assert current_revision(store.engine) == "0013" and users_table() == before
    with store.engine.begin() as conn:  # the remedy the message gives
        conn.execute(sa.text("UPDATE users SET username = 'An2' WHERE id = 3"))
    fixed = init_db(db_url)
    assert current_revision(fixed.engine) == HEAD_REVISION  # 0014 and every migration after it
    assert sv.get_actor(fixed, "AN").username == "an"
    with pytest.raises(NotFound, match="deactivated"):
        sv.get_actor(fixed, "an2")
    with fixed.session() as s:
        assert sorted(s.exec(select(User.username_key)).all()) == ["an", "an2", "bo"]
    store.dispose()
    fixed.dispose()


# --------------------------------------------------------------------------- the CLI


def test_the_cli_finds_users_whatever_the_case(runtime, monkeypatch):
    from typer.testing import CliRunner

    from quytrinh.cli import app as cli_app
    from quytrinh.messages import cli_error_text

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    run = CliRunner().invoke
    r = run(cli_app, ["user", "add", "MOTCUA", "--unit", "bp_mot_cua", "--role", "staff"])
    assert cli_error_text(r.exception) == (  # what quytrinh prints after "quytrinh: "
        "Không thực hiện được: đã có người dùng 'motcua'; tên đăng nhập không phân biệt chữ hoa, chữ thường nên "
        "'MOTCUA' trùng với 'motcua'. Hãy chọn tên khác.")
    r = run(cli_app, ["user", "add", "MOTCUA", "--unit", "bp_mot_cua", "--role", "staff", "--password"])
    assert cli_error_text(r.exception) == (
        "Không thực hiện được: đã có người dùng 'motcua' (tên đăng nhập không phân biệt chữ hoa, chữ thường); "
        "đặt mật khẩu cho người đó bằng: quytrinh user password motcua")
    r = run(cli_app, ["user", "password", "MotCua"], input="mat-khau-moi-1\nmat-khau-moi-1\n")
    assert r.exit_code == 0 and "Đã đặt mật khẩu cho motcua." in r.output, r.output
    r = run(cli_app, ["dossier", "receive", "1.001612", "--applicant", "Phạm Thị D", "--as", "MOTCUA"])
    assert r.exit_code == 0, r.output
    with runtime.db.session() as s:
        from engine.store import Event

        assert s.exec(select(Event.actor).order_by(Event.id.desc())).first() == "motcua"
    r = run(cli_app, ["tasks", "--user", "TCKH_HEAD"])
    assert r.exit_code == 0 and "phong_tckh/head" in r.output, r.output
    r = run(cli_app, ["user", "disable", "TCKH_CV2"])
    assert r.exit_code == 0 and "Đã ngừng hoạt động tài khoản tckh_cv2 (" in r.output, r.output
    assert _names(runtime.db).count("motcua") == 1 and "MOTCUA" not in _names(runtime.db)
