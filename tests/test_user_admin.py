"""Staff who leave or move: deactivate_user, reactivate_user, move_user, and `quytrinh user disable|enable|move`.

Work a leaver held goes back to their unit's queue (one "release" event each, by
the system, saying why, and the unit told); nothing of anyone else's changes.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from engine import services as sv
from engine.errors import ActionError, NotFound
from engine.store import Event, OutboxItem, User, WorkItem, dump

HANOI = dt.timezone(dt.timedelta(hours=7))


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=HANOI)


def _item(db, item_id: int) -> WorkItem:
    with db.session() as s:
        return s.get(WorkItem, item_id)


def _user(db, username: str) -> User:
    with db.session() as s:
        return s.exec(select(User).where(User.username == username)).one()


def _appraisal(rt, applicant: str, hour: int) -> WorkItem:
    """A dossier whose appraisal step is open at Phòng TC-KH."""
    r = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant=applicant, now=at(10, hour))
    with rt.db.session() as s:
        assign = s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id,
                                               WorkItem.step_id == "assign")).one()
    sv.complete(rt.db, rt.actor("tckh_head"), assign.id, outcome="done", now=at(10, hour, 10))
    with rt.db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == r.dossier_id,
                                             WorkItem.step_id == "appraise")).one()


@pytest.fixture
def held(runtime):
    """tckh_cv holds two appraisals; tckh_cv2 holds a third; a fourth is open to the unit."""
    rt = runtime
    mine = [_appraisal(rt, f"Người nộp {i}", 8 + i) for i in range(2)]
    theirs, free = _appraisal(rt, "Người nộp 2", 11), _appraisal(rt, "Người nộp 3", 12)
    for w in mine:
        sv.claim(rt.db, rt.actor("tckh_cv"), w.id, now=at(10, 14))
    sv.claim(rt.db, rt.actor("tckh_cv2"), theirs.id, now=at(10, 14))
    return rt, [w.id for w in mine], theirs.id, free.id


def test_deactivating_gives_the_leavers_work_back_to_the_unit_and_nothing_else(held):
    rt, mine, theirs, free = held
    db = rt.db
    epoch = _user(db, "tckh_cv").credential_epoch
    change = sv.deactivate_user(db, "tckh_cv", now=at(11, 8))
    assert (change.username, change.active, change.unit, change.role) == ("tckh_cv", False, "phong_tckh", "staff")
    assert [r.item_id for r in change.released] == mine
    assert all(r.step_name == _item(db, mine[0]).step_name and r.dossier_code for r in change.released)
    user = _user(db, "tckh_cv")
    assert not user.active and user.credential_epoch == epoch + 1
    for item_id in mine:
        w = _item(db, item_id)
        assert (w.state, w.assignee_id, w.claimed_at) == ("open", None, None)
        with db.session() as s:
            ev = s.exec(select(Event).where(Event.work_item_id == item_id).order_by(Event.id.desc())).first()
            told = s.exec(select(OutboxItem).where(OutboxItem.work_item_id == item_id,
                                                   OutboxItem.kind == "notify_unit")
                          .order_by(OutboxItem.id.desc())).first()
        assert (ev.action, ev.actor, ev.data["from"], ev.data["to"]) == ("release", "system", user.id, None)
        assert ev.comment == f"Trả về đơn vị: tài khoản của {user.full_name or 'tckh_cv'} đã ngừng hoạt động"
        assert told.payload["reason"] == "released" and told.payload["unit"] == "phong_tckh"
    assert _item(db, theirs).assignee_id == rt.actor("tckh_cv2").user_id
    assert _item(db, free).state == "open"
    # The released work is the unit's again: a colleague takes it.
    sv.claim(db, rt.actor("tckh_cv2"), mine[0], now=at(11, 9))
    assert _item(db, mine[0]).assignee_id == rt.actor("tckh_cv2").user_id
    # The leaver can no longer act, nor be given work.
    with pytest.raises(NotFound, match="is deactivated .*quytrinh user enable tckh_cv"):
        sv.get_actor(db, "tckh_cv")
    assert "tckh_cv" not in [u for u, _ in sv.assignable_users(db, "phong_tckh", "staff")]


def test_enabling_again_keeps_the_raised_epoch_and_lets_the_user_act(held):
    rt, mine, _, _ = held
    sv.deactivate_user(rt.db, "tckh_cv", now=at(11, 8))
    epoch = _user(rt.db, "tckh_cv").credential_epoch
    change = sv.reactivate_user(rt.db, "tckh_cv")
    assert change.active and change.released == []
    user = _user(rt.db, "tckh_cv")
    assert user.active and user.credential_epoch == epoch
    sv.claim(rt.db, sv.get_actor(rt.db, "tckh_cv"), mine[1], now=at(11, 9))
    assert _item(rt.db, mine[1]).assignee_id == user.id


def test_moving_gives_back_only_the_work_that_is_not_of_the_new_unit_and_role(held):
    rt, mine, theirs, _ = held
    db = rt.db
    change = sv.move_user(db, "tckh_cv2", unit="phong_qldt", role="staff", now=at(11, 8))
    assert (change.unit, change.role, change.active) == ("phong_qldt", "staff", True)
    assert [r.item_id for r in change.released] == [theirs]
    with db.session() as s:
        ev = s.exec(select(Event).where(Event.work_item_id == theirs).order_by(Event.id.desc())).first()
    name = _user(db, "tckh_cv2").full_name or "tckh_cv2"
    assert ev.comment == f"Trả về đơn vị: {name} đã chuyển sang Phòng QLĐT (Chuyên viên)"
    assert _item(db, theirs).state == "open"
    assert sv.get_actor(db, "tckh_cv2").unit == "phong_qldt"
    assert _user(db, "tckh_cv2").credential_epoch == 0  # a move keeps the user signed in
    # Within the unit, to the head's role: the appraisals (staff work) go back, nothing else moves.
    change = sv.move_user(db, "tckh_cv", unit="phong_tckh", role="head", now=at(11, 9))
    assert [r.item_id for r in change.released] == mine


def test_refused_changes_leave_the_database_as_it_was(held):
    rt = held[0]
    db = rt.db
    before = dump(db)
    with pytest.raises(NotFound, match="user 'nobody' does not exist"):
        sv.deactivate_user(db, "nobody", now=at(11, 8))
    with pytest.raises(ActionError, match="is active"):
        sv.reactivate_user(db, "tckh_cv")
    with pytest.raises(ActionError, match="already phong_tckh/staff"):
        sv.move_user(db, "tckh_cv", unit="phong_tckh", role="staff", now=at(11, 8))
    with pytest.raises(NotFound, match="unit 'phong_xyz' does not exist"):
        sv.move_user(db, "tckh_cv", unit="phong_xyz", role="staff", now=at(11, 8))
    with pytest.raises(ActionError, match="has no role 'boss'"):
        sv.move_user(db, "tckh_cv", unit="phong_qldt", role="boss", now=at(11, 8))
    assert dump(db) == before
    sv.deactivate_user(db, "tckh_cv", now=at(11, 8))
    after = dump(db)
    with pytest.raises(ActionError, match="already deactivated"):
        sv.deactivate_user(db, "tckh_cv", now=at(11, 9))
    assert dump(db) == after


def test_disabling_again_finishes_a_run_that_stopped_before_giving_the_work_back(held):
    """The deactivation commits first, then each item is released in its own transaction: a run killed
    in between leaves a deactivated user holding work, which the next `disable` gives back."""
    rt, mine, _, _ = held
    db = rt.db
    with db.write() as s:  # as a run stopped right after its first transaction leaves it
        user = s.exec(select(User).where(User.username == "tckh_cv")).one()
        user.active, user.credential_epoch = False, user.credential_epoch + 1
    epoch = _user(db, "tckh_cv").credential_epoch
    change = sv.deactivate_user(db, "tckh_cv", now=at(11, 8))
    assert [r.item_id for r in change.released] == mine and not change.active
    assert all(_item(db, i).state == "open" for i in mine)
    assert _user(db, "tckh_cv").credential_epoch == epoch  # not raised twice


def test_moving_again_finishes_a_move_that_stopped_before_giving_the_work_back(held):
    rt, mine, _, _ = held
    db = rt.db
    with db.write() as s:  # the move's first transaction only
        user = s.exec(select(User).where(User.username == "tckh_cv")).one()
        user.unit_id = "phong_qldt"
    change = sv.move_user(db, "tckh_cv", unit="phong_qldt", role="staff", now=at(11, 8))
    assert [r.item_id for r in change.released] == mine
    with pytest.raises(ActionError, match="already phong_qldt/staff"):
        sv.move_user(db, "tckh_cv", unit="phong_qldt", role="staff", now=at(11, 9))


QUYTRINH = Path(sys.executable).parent / "quytrinh"


def console(url: str, *args: str) -> subprocess.CompletedProcess:
    """The installed console script, as an administrator runs it."""
    env = {**os.environ, "QUYTRINH_DATABASE_URL": url}
    env.pop("QUYTRINH_USER", None)
    return subprocess.run([str(QUYTRINH), *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_cli_says_what_it_did_in_vietnamese(held, monkeypatch):
    from typer.testing import CliRunner

    from quytrinh.cli import app as cli_app

    rt, mine, _, _ = held
    monkeypatch.setenv("QUYTRINH_DATABASE_URL", rt.url)
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    run = CliRunner().invoke
    r = run(cli_app, ["user", "disable", "tckh_cv"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Đã ngừng hoạt động tài khoản tckh_cv (") and "phong_tckh/staff" in lines[0]
    assert lines[1].startswith("2 công việc ") and "đã được trả về đơn vị" in lines[1]
    assert [ln.split("\t")[0].strip() for ln in lines[2:]] == [f"#{i}" for i in mine]
    refused = console(rt.url, "task", "claim", str(mine[0]), "--as", "tckh_cv")
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "quytrinh: Không tìm thấy: tài khoản 'tckh_cv' đã ngừng hoạt động; cho hoạt động lại bằng: "
        "quytrinh user enable tckh_cv."), refused.stderr
    refused = console(rt.url, "user", "disable", "tckh_cv")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "quytrinh: Không thực hiện được: tài khoản 'tckh_cv' đã ngừng hoạt động từ trước."
    sheet = console(rt.url, "dossier", "show", lines[2].split("\t")[1].strip()).stdout
    assert "Hệ thống: Trả lại việc cho đơn vị [appraise] (việc tckh_cv đang giữ) — Trả về đơn vị: tài khoản của" \
        in " ".join(sheet.split())
    r = run(cli_app, ["user", "list", "--unit", "phong_tckh"])
    assert any(ln.startswith("tckh_cv\t") and ln.endswith("(ngừng hoạt động)") for ln in r.stdout.splitlines())
    r = run(cli_app, ["user", "enable", "tckh_cv"])
    assert r.exit_code == 0 and "đã hoạt động trở lại; người đó cần đăng nhập lại." in r.stdout, r.output
    r = run(cli_app, ["user", "move", "tckh_cv", "--unit", "phong_qldt", "--role", "staff"])
    assert r.exit_code == 0 and "Đã chuyển tckh_cv" in r.stdout and "không giữ công việc nào" in r.stdout, r.output
    refused = console(rt.url, "user", "move", "tckh_cv", "--unit", "phong_qldt", "--role", "boss")
    assert refused.returncode == 1 and "đơn vị 'phong_qldt' không có vai trò 'boss'" in refused.stderr
    refused = console(rt.url, "task", "claim", str(mine[0]), "--as", "tckh_cv")  # phong_tckh's work
    assert refused.returncode == 1 and refused.stderr.startswith("quytrinh: Không có quyền"), refused.stderr
