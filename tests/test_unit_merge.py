"""A merged or dissolved unit's work goes to its successor.

units.yaml says ``merged_into: <unit>`` for a unit that no longer exists (the 2025 reorganisation merged
and dissolved offices); its problems are located. Work that opens at a merged unit (a dossier pinned to
an older version) opens at the successor; ``transfer_unit_work`` / ``quytrinh unit transfer`` moves the
work already open there, one transaction per item, with an event by the system and the new unit told,
keeping a holder who now belongs to the successor with the step's role. Refused input changes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine import services as sv
from engine.definition import load_units
from engine.errors import ActionError, DefinitionError, NotAuthorized, NotFound
from engine.store import Dossier, Event, OutboxItem, UnitRow, User, WorkItem, dump
from tests.conftest import catalogue_with, console, with_merge

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent
UNITS_YAML = REPO / "procedures_yaml" / "units.yaml"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=HANOI)






def _merged_organisation(tmp_path: Path, **merges: str):
    """The repository's units.yaml with ``unit=successor`` merges, loaded (as `quytrinh publish` loads it)."""
    text = UNITS_YAML.read_text(encoding="utf-8")
    for unit, successor in merges.items():
        text = with_merge(text, unit, successor)
    path = tmp_path / "units.yaml"
    path.write_text(text, encoding="utf-8")
    return load_units(path)


def _problems(tmp_path: Path, text: str) -> list:
    path = tmp_path / "units.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_units(path)
    return info.value.problems


def _item(db, item_id: int) -> WorkItem:
    with db.session() as s:
        return s.get(WorkItem, item_id)


def _open(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                             WorkItem.state.in_(("open", "claimed")))).one()


def _appraisal(rt, applicant: str, hour: int) -> WorkItem:
    """A dossier of 1.001612 whose appraisal step is open at Phòng TC-KH."""
    r = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant=applicant, now=at(10, hour))
    sv.complete(rt.db, rt.actor("tckh_head"), _open(rt.db, r.dossier_id, "assign").id, outcome="done",
                now=at(10, hour, 10))
    return _open(rt.db, r.dossier_id, "appraise")


# --------------------------------------------------------------------------- units.yaml


UNITS = """levels: [district, commune]
units:
  - id: phong_ldtbxh
    name: "Phòng Lao động – Thương binh và Xã hội"
    level: district
    kind: office
    roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng"}
    merged_into: {successor}
  - id: phong_noi_vu
    name: "Phòng Nội vụ"
    level: district
    kind: office
    roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng"}
  - id: thue
    name: "Chi cục Thuế khu vực"
    level: any
    kind: external
    roles: {staff: "Công chức thuế"}
  - id: xa_van_hoa
    name: "Công chức Văn hóa – Xã hội"
    level: commune
    kind: office
    roles: {staff: "Công chức", head: "Lãnh đạo"}
"""


def test_a_successor_that_does_not_exist_is_located_with_a_suggestion(tmp_path):
    [p] = _problems(tmp_path, UNITS.replace("{successor}", "phong_noivu"))
    assert (p.location.line, p.location.col, p.rule) == (8, 5, "unknown-successor")
    assert p.location.file == str(tmp_path / "units.yaml")
    assert p.message == ("đơn vị 'phong_ldtbxh' hợp nhất vào 'phong_noivu', nhưng units.yaml không có đơn vị này "
                         "(có phải là 'phong_noi_vu' không?); merged_into phải là mã một đơn vị trong units.yaml")


def test_a_partner_agency_or_another_level_cannot_take_the_work(tmp_path):
    # a partner agency is refused for its kind, once (its level 'any' is beside the point)
    [kind] = _problems(tmp_path, UNITS.replace("{successor}", "thue"))
    assert (kind.location.line, kind.rule) == (8, "bad-successor")
    assert "không thể hợp nhất vào 'thue' (loại external)" in kind.message
    [level] = _problems(tmp_path, UNITS.replace("{successor}", "xa_van_hoa"))
    assert (level.location.line, level.rule) == (8, "bad-successor")
    assert level.message == ("đơn vị 'phong_ldtbxh' (cấp huyện) không thể hợp nhất vào 'xa_van_hoa' thuộc cấp xã; "
                             "đơn vị kế thừa phải cùng cấp")


def test_a_cycle_is_refused_and_a_chain_resolves_to_its_last_unit(tmp_path):
    cycle = UNITS.replace("{successor}", "phong_noi_vu").replace(
        '    roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng"}\n  - id: thue',
        '    roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng"}\n    merged_into: phong_ldtbxh\n  - id: thue')
    problems = _problems(tmp_path, cycle)
    assert [(p.location.line, p.rule) for p in problems] == [(8, "merge-cycle"), (14, "merge-cycle")]
    assert "phong_ldtbxh → phong_noi_vu → phong_ldtbxh" in problems[0].message
    chain = UNITS.replace("{successor}", "phong_noi_vu") + """  - id: phong_noi_vu_moi
    name: "Phòng Nội vụ (mới)"
    level: district
    kind: office
    roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng", deputy: "Phó Trưởng phòng"}
"""
    chain = chain.replace('    roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng"}\n  - id: thue',
                          '    roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng"}\n'
                          '    merged_into: phong_noi_vu_moi\n  - id: thue')
    path = tmp_path / "chain.yaml"
    path.write_text(chain, encoding="utf-8")
    org = load_units(path)
    assert org.successor("phong_ldtbxh") == "phong_noi_vu_moi"
    assert org.successor("phong_noi_vu") == "phong_noi_vu_moi"
    assert org.successor("phong_noi_vu_moi") is None and org.successor("nowhere") is None
    assert org.successors() == {"phong_ldtbxh": "phong_noi_vu_moi", "phong_noi_vu": "phong_noi_vu_moi"}
    assert org.units["phong_ldtbxh"].merged_into == "phong_noi_vu"  # as written: the direct successor


def test_every_role_of_a_merged_unit_must_exist_at_its_successor(tmp_path):
    text = UNITS.replace("{successor}", "phong_noi_vu").replace(
        'roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng"}\n    merged_into',
        'roles: {staff: "Chuyên viên", head: "Lãnh đạo Phòng", ke_toan: "Kế toán"}\n    merged_into')
    [p] = _problems(tmp_path, text)
    assert (p.location.line, p.rule) == (7, "successor-role")
    assert p.message.startswith("đơn vị 'phong_ldtbxh' hợp nhất vào 'phong_noi_vu', nhưng 'phong_noi_vu' không có vai "
                                "trò 'ke_toan': công việc của vai trò này sẽ không ai nhận được; hãy thêm vai trò "
                                "'ke_toan' vào 'phong_noi_vu'")


def test_the_shipped_units_yaml_takes_a_merge(tmp_path):
    org = _merged_organisation(tmp_path, phong_ldtbxh="phong_tckh")
    assert org.successor("phong_ldtbxh") == "phong_tckh" and org.units["phong_ldtbxh"].roles


# --------------------------------------------------------------------------- the database


def test_the_migration_from_0009_adds_an_empty_merged_into(db_url):
    from engine.store import HEAD_REVISION, Store, current_revision, init_db, migrate

    store = Store(db_url)
    try:
        migrate(store.engine, "0009")
        with store.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO units (id, name, short, level, kind, roles) "
                                 "VALUES ('phong_a', 'Phòng A', '', 'district', 'office', '{}')"))
            assert "merged_into" not in {c["name"] for c in sa.inspect(conn).get_columns("units")}
    finally:
        store.dispose()
    store = init_db(db_url)
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        with store.session() as s:
            row = s.get(UnitRow, "phong_a")
            assert (row.name, row.merged_into) == ("Phòng A", None)
    finally:
        store.dispose()


def test_seeding_stores_what_each_unit_was_merged_into(runtime, tmp_path):
    org = _merged_organisation(tmp_path, phong_ldtbxh="phong_tckh")
    sv.seed_organisation(runtime.db, org)
    with runtime.db.session() as s:
        rows = {r.id: r.merged_into for r in s.exec(select(UnitRow)).all()}
    assert rows["phong_ldtbxh"] == "phong_tckh" and rows["phong_tckh"] is None
    assert sv.unit_successors(runtime.db) == {"phong_ldtbxh": "phong_tckh"}


# --------------------------------------------------------------------------- opening work


def test_a_step_of_a_merged_unit_opens_at_its_successor(runtime, tmp_path):
    rt = runtime
    db = rt.db
    r = sv.receive(db, rt.actor("motcua"), "1.001612", applicant="Trần Văn Bình", now=at(10, 8))
    assign = _open(db, r.dossier_id, "assign")
    assert assign.unit_id == "phong_tckh"
    # Phòng TC-KH is merged into Phòng QLĐT; the dossier keeps its version, which names phong_tckh.
    sv.seed_organisation(db, _merged_organisation(tmp_path, phong_tckh="phong_qldt"))
    # The assignment, opened before, is still Phòng TC-KH's until it is transferred: its head completes it.
    done = sv.complete(db, rt.actor("tckh_head"), assign.id, outcome="done", now=at(10, 9))
    appraise = _item(db, done.opened[0])
    assert (appraise.step_id, appraise.unit_id, appraise.role) == ("appraise", "phong_qldt", "staff")
    with db.session() as s:
        told = s.exec(select(OutboxItem).where(OutboxItem.work_item_id == appraise.id,
                                               OutboxItem.kind == "notify_unit")).one()
    assert told.payload["unit"] == "phong_qldt" and told.payload["role"] == "staff"
    with pytest.raises(NotAuthorized, match="it belongs to phong_qldt/staff"):
        sv.claim(db, rt.actor("tckh_cv"), appraise.id, now=at(10, 10))
    sv.claim(db, rt.actor("qldt_cv"), appraise.id, now=at(10, 10))
    assert _item(db, appraise.id).assignee_id == rt.actor("qldt_cv").user_id
    # The due instant is the step's own duration from its opening, as at any unit.
    assert _item(db, appraise.id).allotted_minutes == 480


def test_a_merged_reception_unit_hands_its_dossiers_to_the_successor_one_stop(runtime, tmp_path):
    """The district's one-stop unit merged into a public-service centre: the centre's staff receive on the
    published version (which names bp_mot_cua), record supplements and withdrawals; bp_mot_cua's may not."""
    rt = runtime
    db = rt.db
    text = UNITS_YAML.read_text(encoding="utf-8") + """  - id: trung_tam_hcc
    name: "Trung tâm Phục vụ hành chính công"
    level: district
    kind: one_stop
    roles:
      staff: "Công chức tiếp nhận và trả kết quả"
      head: "Giám đốc Trung tâm"
"""
    path = tmp_path / "units.yaml"
    path.write_text(with_merge(text, "bp_mot_cua", "trung_tam_hcc"), encoding="utf-8")
    sv.seed_organisation(db, load_units(path))
    hcc = sv.add_user(db, "hcc", unit="trung_tam_hcc", role="staff", now=at(10, 7), full_name="Lê Hà")
    with pytest.raises(NotAuthorized, match="trung_tam_hcc/staff does"):
        sv.receive(db, rt.actor("motcua"), "1.001612", applicant="Trần Văn Bình", now=at(10, 8))
    r = sv.receive(db, hcc, "1.001612", applicant="Trần Văn Bình", now=at(10, 8), decision="supplement",
                   comment="Bổ sung bản sao giấy đăng ký")
    with pytest.raises(NotAuthorized, match="the one-stop unit 'trung_tam_hcc' does"):
        sv.supplement_received(db, rt.actor("motcua"), r.dossier_code, now=at(10, 9))
    again = sv.supplement_received(db, hcc, r.dossier_code, now=at(10, 9))
    receive = _item(db, again.opened[0])
    assert (receive.step_id, receive.unit_id) == ("receive", "trung_tam_hcc")
    sv.withdraw(db, hcc, r.dossier_code, now=at(10, 10), comment="Đơn đề nghị rút hồ sơ số 1 ngày 10/03/2026")
    assert sv.waiting_for_applicant(db, "trung_tam_hcc") == []


# --------------------------------------------------------------------------- transfer


@pytest.fixture
def merged(runtime, tmp_path):
    """Phòng TC-KH merged into Phòng QLĐT with work open there: tckh_cv holds one appraisal and moves to
    Phòng QLĐT first; tckh_cv2 (not moved) holds another; a third waits in the queue; a fourth dossier's
    assignment (the head's) is open."""
    rt = runtime
    db = rt.db
    kept, returned, queued = (_appraisal(rt, f"Người nộp {i}", 8 + i).id for i in range(3))
    sv.claim(db, rt.actor("tckh_cv"), kept, now=at(10, 14))
    sv.claim(db, rt.actor("tckh_cv2"), returned, now=at(10, 14))
    r = sv.receive(db, rt.actor("motcua"), "1.001612", applicant="Người nộp 4", now=at(10, 15))
    head_item = _open(db, r.dossier_id, "assign").id
    sv.seed_organisation(db, _merged_organisation(tmp_path, phong_tckh="phong_qldt"))
    # Work of a unit merged into the new one is the new unit's: moving first keeps it with its holder.
    change = sv.move_user(db, "tckh_cv", unit="phong_qldt", role="staff", now=at(11, 8))
    assert change.released == []
    return rt, kept, returned, queued, head_item


def test_transfer_moves_every_open_item_and_keeps_only_holders_who_belong_to_the_successor(merged):
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    before = {i: _item(db, i) for i in (kept, returned, queued, head_item)}
    with db.session() as s:
        versions = {d.id: d.version for d in s.exec(select(Dossier)).all()}
    done = sv.transfer_unit_work(db, "phong_tckh", now=at(11, 9))
    assert (done.unit, done.successor, done.merged) == ("phong_tckh", "phong_qldt", True)
    assert (done.unit_name, done.successor_name) == ("Phòng TC-KH", "Phòng QLĐT")
    assert [m.item_id for m in done.moved] == sorted((kept, returned, queued, head_item))
    by_id = {m.item_id: m for m in done.moved}
    assert (by_id[kept].holder, by_id[kept].returned) == ("tckh_cv", None)
    assert (by_id[returned].holder, by_id[returned].returned) == (None, "tckh_cv2")
    assert (by_id[queued].holder, by_id[queued].returned) == (None, None)
    cv, cv2 = rt.actor("tckh_cv").user_id, rt.actor("tckh_cv2").user_id
    expect = {kept: ("claimed", cv), returned: ("open", None), queued: ("open", None), head_item: ("open", None)}
    for item_id, (state, assignee) in expect.items():
        w, was = _item(db, item_id), before[item_id]
        assert (w.unit_id, w.role, w.state, w.assignee_id) == ("phong_qldt", was.role, state, assignee)
        # the SLA clock runs on: nothing of the item's time is reset
        assert (w.opened_at, w.due_at, w.clock, w.allotted_minutes) == (was.opened_at, was.due_at, was.clock,
                                                                         was.allotted_minutes)
        with db.session() as s:
            d = s.get(Dossier, w.dossier_id)
            [ev] = s.exec(select(Event).where(Event.work_item_id == item_id, Event.action == "transfer")).all()
            outbox = s.exec(select(OutboxItem).where(OutboxItem.work_item_id == item_id,
                                                     OutboxItem.payload["action"].as_string() == "transfer")
                            .order_by(OutboxItem.id)).all()
        assert d.version == versions[d.id] + 1
        assert (ev.actor, ev.step_id, ev.from_status, ev.to_status) == ("system", w.step_id, d.status, d.status)
        assert ev.data["from_unit"] == "phong_tckh" and ev.data["to_unit"] == "phong_qldt"
        # the history shows "Chuyển việc sang đơn vị khác → Phòng QLĐT": the comment says why, without saying
        # it again
        assert ev.comment.startswith("Phòng TC-KH đã hợp nhất vào Phòng QLĐT") and "Chuyển sang" not in ev.comment
        assert outbox[0].kind == "notify_unit"
        assert (outbox[0].payload["unit"], outbox[0].payload["role"], outbox[0].payload["reason"]) == (
            "phong_qldt", w.role, "transferred")
        assert outbox[0].payload["holder"] == ("tckh_cv" if item_id == kept else None)
        assert outbox[0].idempotency_key == f"{d.code}:v{d.version}:0:notify_unit"
        assert len(outbox) == 1
    assert _event(db, kept).comment.endswith("; tckh_cv tiếp tục xử lý")
    assert _event(db, returned).comment.endswith("; việc tckh_cv2 đang giữ trả về hàng chờ của Phòng QLĐT")
    # The successor does the work now: its staff and its head, not the merged unit's.
    with pytest.raises(NotAuthorized):
        sv.claim(db, rt.actor("tckh_cv2"), returned, now=at(11, 10))
    sv.claim(db, rt.actor("qldt_cv"), returned, now=at(11, 10))
    sv.complete(db, sv.get_actor(db, "tckh_cv"), kept, outcome="ok", now=at(11, 11))
    opened = sv.complete(db, rt.actor("qldt_head"), head_item, outcome="done", now=at(11, 11)).opened
    assert [(_item(db, i).step_id, _item(db, i).unit_id) for i in opened] == [("appraise", "phong_qldt")]
    # A second run finds nothing left, and changes nothing.
    snapshot = dump(db)
    assert sv.transfer_unit_work(db, "phong_tckh", now=at(11, 12)).moved == []
    assert dump(db) == snapshot


def _event(db, item_id: int) -> Event:
    with db.session() as s:
        return s.exec(select(Event).where(Event.work_item_id == item_id, Event.action == "transfer")).one()


def test_refused_transfers_leave_the_database_as_it_was(merged, tmp_path):
    rt = merged[0]
    db = rt.db
    before = dump(db)
    with pytest.raises(NotFound, match="unit 'phong_xyz' does not exist; merged units: phong_tckh$"):
        sv.transfer_unit_work(db, "phong_xyz", now=at(11, 9))
    with pytest.raises(NotFound, match="unit 'phong_tckhh' does not exist; did you mean 'phong_tckh'\\?$"):
        sv.transfer_unit_work(db, "phong_tckhh", now=at(11, 9))
    with pytest.raises(NotFound, match="unit 'phong_qldtt' does not exist; did you mean 'phong_qldt'\\?$"):
        sv.transfer_unit_work(db, "phong_tckh", to="phong_qldtt", now=at(11, 9))
    with pytest.raises(ActionError, match="unit 'phong_tckh' was merged into 'phong_qldt' \\(units.yaml\\), not "
                                          "'phong_noi_vu'"):
        sv.transfer_unit_work(db, "phong_tckh", to="phong_noi_vu", now=at(11, 9))
    with pytest.raises(ActionError, match="unit 'chi_cuc_thue' is a partner agency or the applicant "
                                          "\\(kind external\\)"):
        sv.transfer_unit_work(db, "chi_cuc_thue", to="phong_qldt", now=at(11, 9))
    with pytest.raises(ActionError, match="unit 'phong_qldt' was not merged into another unit"):
        sv.transfer_unit_work(db, "phong_qldt", now=at(11, 9))
    with pytest.raises(NotFound, match="unit 'phong_xyz' does not exist; units that can take the work of 'phong_tckh': "
                                       "bp_mot_cua, lanh_dao_ubnd, phong_"):
        sv.transfer_unit_work(db, "phong_tckh", to="phong_xyz", now=at(11, 9))
    with pytest.raises(ActionError, match="cannot take over its own work"):
        sv.transfer_unit_work(db, "phong_tckh", to="phong_tckh", now=at(11, 9))
    with pytest.raises(ActionError, match="is of kind external"):
        sv.transfer_unit_work(db, "phong_noi_vu", to="chi_cuc_thue", now=at(11, 9))
    with pytest.raises(ActionError, match="is of level 'commune', not 'district'"):
        sv.transfer_unit_work(db, "phong_noi_vu", to="xa_tu_phap", now=at(11, 9))
    with pytest.raises(ActionError, match="was itself merged into 'phong_qldt'; transfer to 'phong_qldt'"):
        sv.transfer_unit_work(db, "phong_tu_phap", to="phong_tckh", now=at(11, 9))
    assert dump(db) == before


def test_a_transfer_killed_part_way_is_finished_by_running_it_again(merged, tmp_path):
    """Each item moves in its own transaction: a run killed while moving the second item leaves the first moved
    and the second untouched; the next run moves the rest."""
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    marker = tmp_path / "paused"
    script = ("import datetime as dt\nfrom engine import services as sv\nfrom engine.store import Store\n"
              f"sv.transfer_unit_work(Store({rt.url!r}), 'phong_tckh', "
              "now=dt.datetime(2026, 3, 11, 2, tzinfo=dt.timezone.utc))\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "QUYTRINH_TEST_PAUSE_IN": "transfer",
                                  "QUYTRINH_TEST_PAUSE_SECONDS": "2", "QUYTRINH_TEST_PAUSE_MARKER": str(marker)})
    try:
        for _ in range(2):  # paused in the first item's transaction, then in the second's
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert child.poll() is None, child.communicate()
                assert time.monotonic() < deadline, "the child never reached the hook"
                time.sleep(0.02)
            marker.unlink()
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)
    first, *rest = sorted((kept, returned, queued, head_item))
    assert _item(db, first).unit_id == "phong_qldt"
    assert [_item(db, i).unit_id for i in rest] == ["phong_tckh"] * 3
    done = sv.transfer_unit_work(db, "phong_tckh", now=at(11, 10))
    assert [m.item_id for m in done.moved] == rest
    with db.session() as s:
        events = s.exec(select(Event).where(Event.action == "transfer")).all()
    assert sorted(e.work_item_id for e in events) == [first, *rest]  # one event each: none lost, none twice


def test_transfer_to_a_named_unit_and_the_draft_apologies_go_along(runtime):
    """A unit dissolved without merged_into: --to names the unit that takes its work (new work of its old
    dossiers would still open at it, and the command says so). A draft apology its head was to sign goes too."""
    rt = runtime
    db = rt.db
    from engine.store import Apology

    item = _appraisal(rt, "Người nộp", 8)
    with db.write() as s:  # a draft of form 04 for the dossier, as the sweep writes it, held by Phòng TC-KH
        s.add(Apology(dossier_id=item.dossier_id, due_at=at(20, 17), proposed_due_at=at(23, 17), needed_minutes=960,
                      remaining_minutes=0, state="draft", drafted_at=at(11, 16), unit_id="phong_tckh"))
    before = dump(db)
    # The appraisal is staff work: the leaders (chairman, vice chairman) lack the role; nothing moves.
    with pytest.raises(ActionError, match=rf"unit 'lanh_dao_ubnd' lacks roles that open work of 'phong_tckh' needs: "
                                          rf"'staff' \(work items {item.id}\); "):
        sv.transfer_unit_work(db, "phong_tckh", to="lanh_dao_ubnd", now=at(12, 8))
    assert dump(db) == before
    done = sv.transfer_unit_work(db, "phong_tckh", to="phong_qldt", now=at(12, 8))
    assert not done.merged and [m.item_id for m in done.moved] == [item.id] and len(done.apologies) == 1
    with db.session() as s:
        ap = s.exec(select(Apology)).one()
        ev = s.exec(select(Event).where(Event.action == "transfer", Event.work_item_id.is_(None))).one()
    assert ap.unit_id == "phong_qldt"
    assert ev.comment == ("Phiếu xin lỗi (mẫu 04, dự thảo) do lãnh đạo Phòng QLĐT ký. Công việc đang mở của Phòng "
                          "TC-KH được giao cho Phòng QLĐT")
    assert _event(db, item.id).comment == "Công việc đang mở của Phòng TC-KH được giao cho Phòng QLĐT"


def test_a_merged_units_work_goes_only_to_its_successor(merged):
    """units.yaml merges Phòng TC-KH into Phòng QLĐT, where its dossiers' later steps open: --to another unit would
    split them between two units, and is refused; --to the successor itself is the same as no --to."""
    rt = merged[0]
    db = rt.db
    before = dump(db)
    with pytest.raises(ActionError, match="unit 'phong_tckh' was merged into 'phong_qldt' \\(units.yaml\\), not "
                                          "'phong_noi_vu'; its work goes to 'phong_qldt'"):
        sv.transfer_unit_work(db, "phong_tckh", to="phong_noi_vu", now=at(11, 9))
    assert dump(db) == before
    done = sv.transfer_unit_work(db, "phong_tckh", to="phong_qldt", now=at(11, 9))
    assert (done.successor, done.merged, len(done.moved)) == ("phong_qldt", True, 4)


def test_a_moved_draft_apology_is_sent_to_the_successors_head_to_sign(runtime, tmp_path):
    """The sweep tells a unit's head when it drafts an apology (form 04); a draft moved to the successor is told
    to the successor's head the same way, in the transaction that moves it."""
    rt = runtime
    db = rt.db
    from engine.store import Apology

    item = _appraisal(rt, "Người nộp", 8)
    with db.write() as s:
        s.add(Apology(dossier_id=item.dossier_id, due_at=at(20, 17), proposed_due_at=at(23, 17), needed_minutes=960,
                      remaining_minutes=0, state="draft", drafted_at=at(11, 16), unit_id="phong_tckh"))
    sv.seed_organisation(db, _merged_organisation(tmp_path, phong_tckh="phong_qldt"))
    done = sv.transfer_unit_work(db, "phong_tckh", now=at(12, 8))
    [ap_id] = done.apologies
    with db.session() as s:
        [told] = s.exec(select(OutboxItem).where(OutboxItem.kind == "notify_unit_head")).all()
        code = s.get(Dossier, item.dossier_id).code
    assert told.state == "pending" and told.dossier_id == item.dossier_id and told.work_item_id is None
    p = told.payload
    assert (p["reason"], p["apology"], p["unit"], p["role"], p["from_unit"], p["dossier_code"]) == (
        "apology_drafted", ap_id, "phong_qldt", "head", "phong_tckh", code)
    assert dt.datetime.fromisoformat(p["proposed_due_at"]) == at(23, 17)
    assert dt.datetime.fromisoformat(p["due_at"]) == at(20, 17)
    # what the worker delivers: the same text as for a draft the timer made, to the successor's head
    from workflows.effects import _HEAD_MESSAGES
    assert "apology_drafted" in _HEAD_MESSAGES
    # a second run moves nothing and tells nobody again
    assert sv.transfer_unit_work(db, "phong_tckh", now=at(12, 9)).apologies == []
    with db.session() as s:
        assert len(s.exec(select(OutboxItem).where(OutboxItem.kind == "notify_unit_head")).all()) == 1


# --------------------------------------------------------------------------- staff of a merged unit


def test_a_merged_unit_takes_no_new_staff(runtime, tmp_path):
    db = runtime.db
    sv.seed_organisation(db, _merged_organisation(tmp_path, phong_tckh="phong_qldt"))
    before = dump(db)
    with pytest.raises(ActionError, match="unit 'phong_tckh' was merged into 'phong_qldt'"):
        sv.add_user(db, "moi", unit="phong_tckh", role="staff", now=at(11, 8))
    with pytest.raises(ActionError, match="unit 'phong_tckh' was merged into 'phong_qldt'"):
        sv.move_user(db, "qldt_cv", unit="phong_tckh", role="staff", now=at(11, 8))
    assert dump(db) == before


def test_moving_a_merged_units_member_to_the_successor_says_what_they_keep(merged):
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    change = sv.move_user(db, "tckh_cv2", unit="phong_qldt", role="staff", now=at(11, 9))
    assert change.released == []
    with db.session() as s:
        code = s.get(Dossier, _item(db, returned).dossier_id).code
    assert change.kept == [sv.ReleasedItem(returned, code, _item(db, returned).step_name, "phong_tckh")]
    assert _item(db, returned).assignee_id == rt.actor("tckh_cv2").user_id


def test_a_member_moved_to_the_successor_finishes_the_work_they_hold_before_the_transfer(merged):
    """tckh_cv, moved to Phòng QLĐT as staff, still holds an appraisal at Phòng TC-KH (no transfer yet): it is
    theirs to finish, as the move said. Nobody else gains anything: the successor's staff and head, a member
    still at the merged unit, the holder in another role; each refusal changes nothing."""
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    assert (_item(db, kept).unit_id, _item(db, kept).state) == ("phong_tckh", "claimed")
    cv = sv.get_actor(db, "tckh_cv")
    assert (cv.unit, cv.role) == ("phong_qldt", "staff")
    before = dump(db)
    for who, item_id in (("qldt_cv", kept), ("qldt_head", kept), ("tckh_cv2", kept), ("qldt_cv", queued),
                         ("qldt_cv", returned)):
        with pytest.raises(NotAuthorized):
            sv.complete(db, sv.get_actor(db, who), item_id, outcome="ok", now=at(11, 9))
    with pytest.raises(NotAuthorized):  # the successor's staff may not take the merged unit's queue before it
        sv.claim(db, sv.get_actor(db, "qldt_cv"), queued, now=at(11, 9))
    with pytest.raises(NotAuthorized):  # tckh_cv holds another item only
        sv.complete(db, cv, returned, outcome="ok", now=at(11, 9))
    assert dump(db) == before
    # Claiming it again is refused as for any item of one's own that one holds (the machine says so).
    from engine.errors import IllegalAction

    with pytest.raises(IllegalAction, match="already claimed by you"):
        sv.claim(db, cv, kept, now=at(11, 9))
    assert dump(db) == before
    # the rule: the holder, a member of the successor with the step's role (not in another role)
    assert sv.holds_merged_work(cv, _item(db, kept), sv.unit_successors(db))
    as_head = sv.Actor(cv.username, "phong_qldt", "head", cv.user_id, cv.full_name)
    assert not sv.holds_merged_work(as_head, _item(db, kept), sv.unit_successors(db))

    done = sv.complete(db, cv, kept, outcome="ok", now=at(11, 10))
    w = _item(db, kept)
    assert (w.state, w.assignee_id, w.unit_id) == ("done", cv.user_id, "phong_tckh")
    with db.session() as s:
        ev = s.exec(select(Event).where(Event.work_item_id == kept, Event.action == "complete")).one()
    assert (ev.actor, ev.actor_unit) == ("tckh_cv", "phong_qldt")
    # what the step opened opens at the successor
    assert done.opened and {_item(db, i).unit_id for i in done.opened} == {"phong_qldt"}
    # the transfer moves the rest; the completed item is not among them
    assert kept not in {m.item_id for m in sv.transfer_unit_work(db, "phong_tckh", now=at(11, 12)).moved}


def _released(db, item_id: int) -> tuple[list[Event], list[OutboxItem]]:
    """The events and the outbox items of the latest action on ``item_id`` (its dossier's last version)."""
    with db.session() as s:
        d = s.get(Dossier, _item(db, item_id).dossier_id)
        events = s.exec(select(Event).where(Event.dossier_id == d.id).order_by(Event.id)).all()
        outbox = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == d.id).order_by(OutboxItem.id)).all()
    last = events[-1].at
    return ([e for e in events if e.at == last],
            [o for o in outbox if o.idempotency_key.startswith(f"{d.code}:v{d.version}:")])


def test_a_moved_member_gives_back_what_they_hold_at_the_merged_unit(merged):
    """The holder, moved to the successor, gives it back: it goes to the successor's queue (nobody works in the
    merged unit's any more), in the release's one transaction, as the system's give-back and the transfer move
    it; the successor's staff take it from there. A refused release changes nothing."""
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    cv = sv.get_actor(db, "tckh_cv")
    before = dump(db)
    for who in ("qldt_head", "qldt_cv", "tckh_cv2"):  # nobody else of the successor, nor a former colleague
        with pytest.raises(NotAuthorized):
            sv.release(db, sv.get_actor(db, who), kept, now=at(11, 9))
    assert dump(db) == before
    with db.session() as s:
        version = s.get(Dossier, _item(db, kept).dossier_id).version
    res = sv.release(db, cv, kept, now=at(11, 9))
    assert res.version == version + 1  # one action
    w = _item(db, kept)
    assert (w.unit_id, w.state, w.assignee_id) == ("phong_qldt", "open", None)
    events, outbox = _released(db, kept)
    assert [(e.action, e.actor, e.actor_unit) for e in events] == [("release", "tckh_cv", "phong_qldt"),
                                                                  ("transfer", "system", None)]
    assert events[0].data == {"from": cv.user_id, "to": None}
    assert events[1].data == {"from_unit": "phong_tckh", "to_unit": "phong_qldt", "from": cv.user_id,
                              "holder": None}
    assert events[1].comment == ("Phòng TC-KH đã hợp nhất vào Phòng QLĐT; việc được trả lại về hàng chờ của "
                                 "Phòng QLĐT")
    assert [(o.kind, o.payload["unit"], o.payload["reason"], o.payload["from_unit"], o.payload["holder"])
            for o in outbox] == [("notify_unit", "phong_qldt", "transferred", "phong_tckh", None)]
    assert res.events == [e.id for e in events]
    # the control sheet says where it came from, as for an item the transfer moved
    from engine.documents import item_handovers

    sheet = sv.dossier_sheet(db, w.dossier_id, now=at(11, 9))
    assert item_handovers(sheet, lambda u: u)[kept].startswith("từ phong_tckh, chuyển ngày")
    with pytest.raises(NotAuthorized):  # the merged unit's member no longer sees it
        sv.claim(db, sv.get_actor(db, "tckh_cv2"), kept, now=at(11, 10))
    sv.claim(db, sv.get_actor(db, "qldt_cv"), kept, now=at(11, 10))
    assert kept not in {m.item_id for m in sv.transfer_unit_work(db, "phong_tckh", now=at(11, 12)).moved}


def test_a_release_at_a_merged_unit_by_its_remaining_member_or_its_head_goes_to_the_successor(merged):
    """A member still of the merged unit giving back what they hold, or its head giving back what a member holds:
    the merged unit's queue is dead either way (new work opens at the successor, the transfer empties it), so
    the item goes to the successor's queue too."""
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    sv.release(db, sv.get_actor(db, "tckh_cv2"), returned, now=at(11, 9))
    w = _item(db, returned)
    assert (w.unit_id, w.state, w.assignee_id) == ("phong_qldt", "open", None)
    events, _ = _released(db, returned)
    assert [(e.action, e.actor) for e in events] == [("release", "tckh_cv2"), ("transfer", "system")]
    sv.claim(db, sv.get_actor(db, "qldt_cv"), returned, now=at(11, 10))
    sv.release(db, sv.get_actor(db, "qldt_cv"), returned, now=at(11, 11))  # the successor's own: no transfer
    events, outbox = _released(db, returned)
    assert [(e.action, e.actor) for e in events] == [("release", "qldt_cv")]
    assert [(o.payload["unit"], o.payload["reason"]) for o in outbox] == [("phong_qldt", "released")]
    # the head of Phòng TC-KH (not moved) gives back an item a member of theirs holds
    sv.claim(db, sv.get_actor(db, "tckh_cv2"), queued, now=at(11, 12))
    sv.release(db, sv.get_actor(db, "tckh_head"), queued, now=at(11, 13))
    w = _item(db, queued)
    assert (w.unit_id, w.state, w.assignee_id) == ("phong_qldt", "open", None)
    events, outbox = _released(db, queued)
    assert [(e.action, e.actor, e.data.get("from")) for e in events] == [
        ("release", "tckh_head", rt.actor("tckh_cv2").user_id), ("transfer", "system", rt.actor("tckh_cv2").user_id)]
    assert [(o.payload["unit"], o.payload["reason"]) for o in outbox] == [("phong_qldt", "transferred")]


def test_work_the_system_gives_back_at_a_merged_unit_goes_to_the_successors_queue(merged):
    """Disabling (or moving elsewhere) a member who still holds work of a merged unit gives it back to the unit
    that does that work now, where someone sees it; the event says so."""
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    change = sv.deactivate_user(db, "tckh_cv2", now=at(11, 9))
    with db.session() as s:
        code = s.get(Dossier, _item(db, returned).dossier_id).code
    assert change.released == [sv.ReleasedItem(returned, code, _item(db, returned).step_name, "phong_qldt",
                                               "phong_tckh")]
    w = _item(db, returned)
    assert (w.unit_id, w.state, w.assignee_id) == ("phong_qldt", "open", None)
    ev = _event(db, returned)
    assert (ev.actor, ev.data["from_unit"], ev.data["to_unit"], ev.data["from"]) == (
        "system", "phong_tckh", "phong_qldt", rt.actor("tckh_cv2").user_id)
    assert ev.comment == ("Tài khoản của tckh_cv2 đã ngừng hoạt động; Phòng TC-KH đã hợp nhất vào Phòng QLĐT; việc "
                          "tckh_cv2 đang giữ trả về hàng chờ của Phòng QLĐT")
    with db.session() as s:
        [told] = s.exec(select(OutboxItem).where(OutboxItem.work_item_id == returned,
                                                 OutboxItem.kind == "notify_unit")
                        .order_by(OutboxItem.id.desc())).all()[:1]
    assert (told.payload["unit"], told.payload["reason"], told.payload["from_unit"]) == (
        "phong_qldt", "transferred", "phong_tckh")
    sv.claim(db, rt.actor("qldt_cv"), returned, now=at(11, 10))  # the successor's staff see it and take it
    # tckh_cv, moved to Phòng QLĐT as staff, becomes its head: the staff work he held goes to its queue
    change = sv.move_user(db, "tckh_cv", unit="phong_qldt", role="head", now=at(11, 11))
    assert [(r.item_id, r.unit, r.merged_from) for r in change.released] == [(kept, "phong_qldt", "phong_tckh")]
    assert (_item(db, kept).unit_id, _item(db, kept).state) == ("phong_qldt", "open")
    # the transfer finds the rest only
    assert [m.item_id for m in sv.transfer_unit_work(db, "phong_tckh", now=at(11, 12)).moved] == sorted(
        (queued, head_item))


def test_the_cli_says_what_a_moved_or_disabled_member_keeps_or_gives_back(merged, tmp_path):
    rt, kept, returned, queued, head_item = merged
    catalogue = _cli_catalogue(tmp_path)
    r = console(rt.url, catalogue, "user", "move", "tckh_cv2", "--unit", "phong_qldt", "--role", "staff")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Đã chuyển tckh_cv2 sang phong_qldt/staff."
    assert "không giữ công việc nào" not in r.stdout
    assert lines[1] == ("tckh_cv2 vẫn giữ 1 công việc của phong_tckh (đã hợp nhất vào phong_qldt) và tiếp tục xử lý; "
                        "chuyển công việc của đơn vị bằng: quytrinh unit transfer phong_tckh")
    assert lines[2].split("\t")[0].strip() == f"#{returned}"
    r = console(rt.url, catalogue, "user", "disable", "tckh_cv2")
    assert r.returncode == 0, r.stderr
    row = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith(f"#{returned}"))
    assert row.split("\t")[-1] == "trả về hàng chờ của phong_qldt (phong_tckh đã hợp nhất vào phong_qldt)"
    # --help: on a wide terminal each help text is one line (no line break kept from the source)
    env = {**os.environ, "COLUMNS": "1000", "QUYTRINH_CATALOGUE_DIR": str(catalogue)}
    for args, begins in ((("unit", "transfer"), "Chuyển mọi công việc đang mở"),
                         (("user", "move"), "Chuyển một cán bộ sang đơn vị"),
                         (("user", "disable"), "Ngừng hoạt động một tài khoản")):
        shown = subprocess.run([str(QUYTRINH), *args, "--help"], env=env, capture_output=True, text=True,
                               timeout=120).stdout
        [line] = [ln for ln in shown.splitlines() if begins in ln]
        assert line.strip().endswith(("phần còn lại).", "người đó xử lý.", "về đơn vị kế thừa).")), shown


# --------------------------------------------------------------------------- authoring and publishing


def test_the_linter_names_the_unit_that_replaced_a_merged_one(catalogue, tmp_path):
    from engine.lint import WARNING, lint

    org = _merged_organisation(tmp_path, phong_tckh="phong_qldt")
    defn = catalogue.find("1.001612")
    found = [f for f in lint(defn, org) if f.rule_id == "merged-unit"]
    assert all(f.severity == WARNING for f in found)
    # The template's steps take their unit from its parameter (unit: ${office}, with: {office: phong_tckh}): one
    # finding, at the parameter, says to change it there (editing the template would change every process using it).
    from_param = [s.id for s in defn.steps if s.unit == "phong_tckh" and s.params.get("unit") == ("office",)]
    assert from_param == ["assign", "appraise", "refuse_draft", "check"]
    [param] = [f for f in found if f.step is None and f.message.startswith("tham số")]
    assert (param.file, param.line, param.col) == (defn.source, defn.param_locs["office"].line,
                                                   defn.param_locs["office"].col)
    assert param.message == (
        "tham số 'office' của mẫu quy trình 'standard' là đơn vị 'phong_tckh', đã hợp nhất vào 'phong_qldt' theo "
        "units.yaml; công việc của 4 bước lấy đơn vị từ tham số này (assign, appraise, refuse_draft, check) được mở "
        "tại 'phong_qldt'; hãy sửa thành with: {office: phong_qldt} (không sửa mẫu: các quy trình khác cũng dùng "
        "mẫu này)")
    # A step whose unit the definition writes itself is named at its own unit key.
    [own] = [f for f in found if f.step is not None]
    sign = defn.step("sign")
    assert (own.step, own.file, own.line) == ("sign", defn.source, sign.where("unit").line)
    assert own.message == ("đơn vị 'phong_tckh' đã hợp nhất vào 'phong_qldt' theo units.yaml; công việc của bước này "
                           "được mở tại 'phong_qldt'; hãy sửa thành unit: phong_qldt")
    [signer] = [f for f in found if f.step is None and not f.message.startswith("tham số")]
    assert "signer: {unit: phong_qldt, role: head}" in signer.message
    assert not [f for f in lint(defn, org) if f.rule_id in ("unknown-unit", "unknown-role")]


def test_a_merged_unit_the_template_writes_itself_is_fixed_on_the_step(tmp_path):
    """A unit written in the template (not a parameter) keeps the per-step finding, located in the definition and
    naming the template's line."""
    from engine.definition import load_definition, load_templates
    from engine.lint import lint

    root = tmp_path / "cat"
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "fixed.yaml").write_text(
        "template: fixed\nparams: [office]\nsteps:\n"
        "  - {id: receive, name: Tiếp nhận, unit: bp_mot_cua, role: staff, duration: 4h, routes: {accept: check}}\n"
        "  - {id: check, name: Thẩm định, unit: phong_tckh, role: staff, duration: 1d, routes: {ok: sign}}\n"
        "  - {id: sign, name: Ký, kind: sign, unit: \"${office}\", role: head, duration: 1d,"
        " routes: {approve: deliver}}\n"
        "  - {id: deliver, name: Trả kết quả, kind: return, unit: bp_mot_cua, role: staff, ends: result}\n",
        encoding="utf-8")
    (root / "p.yaml").write_text(
        "code: \"9.000001\"\nname: Thủ tục thử\nfield: Thử\nlevel: district\nauthority: UBND huyện\n"
        "time_limit: {value: 3, unit: working_days, source: thử, verified: true}\n"
        "extends: fixed\nwith: {office: phong_noi_vu}\n", encoding="utf-8")
    defn = load_definition(root / "p.yaml", load_templates(root / "templates"))
    org = _merged_organisation(tmp_path, phong_tckh="phong_qldt", phong_noi_vu="phong_qldt")
    found = sorted((f for f in lint(defn, org) if f.rule_id == "merged-unit"), key=lambda f: f.message)
    assert [(f.step, f.line) for f in found] == [(None, 8), ("check", 7)]
    assert found[0].message.startswith("tham số 'office' của mẫu quy trình 'fixed' là đơn vị 'phong_noi_vu'")
    assert "công việc của 1 bước lấy đơn vị từ tham số này (sign)" in found[0].message
    assert found[1].message.endswith("hãy sửa thành unit: phong_qldt (kế thừa từ mẫu quy trình templates/fixed.yaml, "
                                     "dòng 5)")


def test_publish_names_the_open_work_and_staff_left_at_a_merged_unit(runtime, catalogue, tmp_path):
    import dataclasses

    from quytrinh.commands.publish import Published, _organisation_left_behind, publish_catalogue

    rt = runtime
    _appraisal(rt, "Người nộp", 8)
    org = _merged_organisation(tmp_path, phong_tckh="phong_qldt")
    done = publish_catalogue(rt.db, dataclasses.replace(catalogue, organisation=org), now=at(11, 7), by="test")
    assert sv.unit_successors(rt.db) == {"phong_tckh": "phong_qldt"}
    assert [(code, version, units) for code, version, units in done.naming_merged] == [
        ("1.001612", None, {"phong_tckh": "phong_qldt"})]
    said = " ".join(" ".join(done.lines()).split())
    assert ("Lưu ý: 1 quy trình còn giao việc cho đơn vị đã hợp nhất (việc được mở tại đơn vị kế thừa; hãy sửa unit "
            "trong quy trình, xem quytrinh validate): 1.001612: phong_tckh → phong_qldt") in said
    # the staff left there are named, as the open work is (username and full name)
    assert ("Đơn vị phong_tckh (Phòng TC-KH) đã hợp nhất vào phong_qldt (Phòng QLĐT); việc mới được mở tại "
            "phong_qldt. Còn 1 công việc đang mở — chuyển sang phong_qldt bằng: quytrinh unit transfer phong_tckh; "
            "3 cán bộ đang hoạt động: tckh_cv (tckh_cv), tckh_cv2 (tckh_cv2), tckh_head (tckh_head) — chuyển bằng: "
            "quytrinh user move TÊN --unit phong_qldt --role VAI_TRÒ (trước khi chuyển công việc, để việc họ đang giữ "
            "vẫn do họ xử lý; ví dụ: quytrinh user move tckh_cv --unit phong_qldt --role staff).") in said
    sv.transfer_unit_work(rt.db, "phong_tckh", now=at(11, 8))
    for username in ("tckh_head", "tckh_cv", "tckh_cv2"):
        role = "head" if username == "tckh_head" else "staff"
        sv.move_user(rt.db, username, unit="phong_qldt", role=role, now=at(11, 8))
    done = Published(units=len(org.units))
    _organisation_left_behind(rt.db, org, done)
    assert not any("phong_tckh" in line for line in done.lines())


# --------------------------------------------------------------------------- the CLI


QUYTRINH = Path(sys.executable).parent / "quytrinh"


def _cli_catalogue(tmp_path: Path) -> Path:
    """A catalogue folder with the merged units.yaml the fixture wrote (and the calendar), for the CLI."""
    return catalogue_with(tmp_path, (tmp_path / "units.yaml").read_text(encoding="utf-8"))


def test_the_cli_lets_a_moved_member_finish_what_they_hold_before_the_transfer(merged, tmp_path):
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    catalogue = _cli_catalogue(tmp_path)
    before = dump(db)
    refused = console(rt.url, catalogue, "task", "complete", str(kept), "--outcome", "ok", "--as", "qldt_cv",
                      "--now", "2026-03-11T09:00")
    assert refused.returncode == 1 and refused.stderr.strip() == (
        f"quytrinh: Không có quyền: người dùng 'qldt_cv' (phong_qldt/staff) không được hoàn thành công việc {kept} "
        f"(bước 'appraise'); công việc thuộc phong_tckh/staff."), refused.stderr
    assert dump(db) == before
    done = console(rt.url, catalogue, "task", "complete", str(kept), "--outcome", "ok", "--as", "tckh_cv",
                   "--now", "2026-03-11T09:00")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Đã hoàn thành công việc {kept}"), done.stdout
    assert _item(db, kept).state == "done"


def test_the_cli_says_a_release_at_a_merged_unit_sent_the_item_to_the_successors_queue(merged, tmp_path):
    """quytrinh task release names the queue the item went to, as the web does: the successor's, by its short
    name; a release at a unit that was not merged says it went back to the unit, as before. The same request
    replayed says the same."""
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    catalogue = _cli_catalogue(tmp_path)
    tail = "; việc đã chuyển về hàng chờ của Phòng QLĐT, đơn vị tiếp nhận công việc của đơn vị đã hợp nhất."
    for item, who in ((kept, "tckh_cv"), (returned, "tckh_cv2")):  # the moved holder; a remaining member
        args = ("task", "release", str(item), "--as", who, "--now", "2026-03-11T09:00", "--key", f"rel-{item}")
        r = console(rt.url, catalogue, *args)
        assert r.returncode == 0, r.stderr
        [line] = r.stdout.splitlines()
        assert line.startswith(f"Đã trả lại công việc {item}: hồ sơ ") and line.endswith(tail), line
        assert "cho đơn vị" not in line
        assert _item(db, item).unit_id == "phong_qldt"
        again = console(rt.url, catalogue, *args)
        assert again.returncode == 0 and "(yêu cầu lặp lại: không thay đổi gì)" in again.stdout
        assert again.stdout.strip().endswith(tail), again.stdout
    # the successor's own item given back stays in its own queue: the message is the usual one
    sv.claim(db, sv.get_actor(db, "qldt_cv"), kept, now=at(11, 10))
    r = console(rt.url, catalogue, "task", "release", str(kept), "--as", "qldt_cv", "--now", "2026-03-11T10:30")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Đã trả lại công việc {kept} cho đơn vị: hồ sơ ") and "hàng chờ" not in r.stdout


def test_the_cli_transfers_and_says_what_it_did_in_vietnamese(merged, tmp_path):
    rt, kept, returned, queued, head_item = merged
    db = rt.db
    catalogue = _cli_catalogue(tmp_path)
    before = dump(db)
    for args, said in ((("unit", "transfer", "phong_xyz"),
                        "quytrinh: Không tìm thấy: đơn vị 'phong_xyz'; các đơn vị đã hợp nhất: phong_tckh."),
                       (("unit", "transfer", "phong_tckhh"),
                        "quytrinh: Không tìm thấy: đơn vị 'phong_tckhh' (có phải là 'phong_tckh' không?)."),
                       (("unit", "transfer", "phong_qldt"),
                        "quytrinh: Không thực hiện được: đơn vị 'phong_qldt' chưa được ghi là đã hợp nhất vào đơn vị "
                        "nào (units.yaml không có merged_into cho đơn vị này)"),
                       (("unit", "transfer", "phong_tckh", "--to", "phong_qldtt"),
                        "quytrinh: Không tìm thấy: đơn vị 'phong_qldtt' (có phải là 'phong_qldt' không?)."),
                       (("unit", "transfer", "phong_tckh", "--to", "phong_noi_vu"),
                        "quytrinh: Không thực hiện được: đơn vị 'phong_tckh' đã hợp nhất vào 'phong_qldt' theo "
                        "units.yaml, không phải 'phong_noi_vu': công việc của đơn vị chuyển sang 'phong_qldt', nơi các "
                        "bước tiếp theo của hồ sơ cũng được mở; hãy bỏ --to, hoặc sửa merged_into trong units.yaml rồi "
                        "chạy quytrinh publish."),
                       (("unit", "transfer", "ubnd_xa_noi_co_dat", "--to", "phong_qldt"),
                        "quytrinh: Không thực hiện được: đơn vị 'ubnd_xa_noi_co_dat' là cơ quan phối hợp bên ngoài "
                        "(loại external), không thuộc bộ máy của cơ quan; chỉ chuyển công việc của đơn vị loại "
                        "one_stop, office, leadership hoặc clerk."),
                       (("unit", "transfer", "phong_noi_vu", "--to", "xa_tu_phap"),
                        "quytrinh: Không thực hiện được: đơn vị 'xa_tu_phap' thuộc cấp xã, còn 'phong_noi_vu' thuộc "
                        "cấp huyện; công việc chỉ chuyển sang đơn vị cùng cấp.")):
        refused = console(rt.url, catalogue, *args)
        assert refused.returncode == 1 and refused.stderr.startswith(said), refused.stderr
        assert refused.stderr.strip().endswith("Chưa chuyển công việc nào."), refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert dump(db) == before
    r = console(rt.url, catalogue, "unit", "transfer", "phong_tckh")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("Đã chuyển 4 công việc đang mở của Phòng TC-KH (phong_tckh) sang Phòng QLĐT (phong_qldt); "
                        "thời hạn của từng việc vẫn tính tiếp:")
    rows = [ln.split("\t") for ln in lines[1:5]]
    assert [row[0].strip() for row in rows] == [f"#{i}" for i in sorted((kept, returned, queued, head_item))]
    said = {int(row[0].strip()[1:]): row[3] for row in rows}
    assert said[kept] == "tckh_cv tiếp tục xử lý"
    assert said[returned] == "trả về hàng chờ (việc tckh_cv2 đang giữ)"
    assert said[queued] == said[head_item] == "chờ nhận xử lý"
    assert lines[5].startswith("1 việc trả về hàng chờ: lãnh đạo Phòng QLĐT phân công lại")
    again = console(rt.url, catalogue, "unit", "transfer", "phong_tckh")
    assert again.returncode == 0 and again.stdout.strip() == (
        "Không còn công việc nào đang mở tại Phòng TC-KH (phong_tckh); không chuyển gì."), again.stdout
    # The control sheet (form 05): the step is at the successor, and the log says what happened and why.
    code = rows[[int(row[0].strip()[1:]) for row in rows].index(returned)][1].strip()
    sheet = " ".join(console(rt.url, catalogue, "dossier", "show", code).stdout.split())
    assert "Phòng QLĐT" in sheet
    assert ("Hệ thống: Chuyển việc sang đơn vị khác [appraise] → Phòng QLĐT — Phòng TC-KH đã hợp nhất vào Phòng "
            "QLĐT; việc tckh_cv2 đang giữ trả về hàng chờ của Phòng QLĐT") in sheet
    refused = console(rt.url, catalogue, "user", "add", "moi", "--unit", "phong_tckh", "--role", "staff")
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "quytrinh: Không thực hiện được: đơn vị 'phong_tckh' đã hợp nhất vào 'phong_qldt'; cán bộ của đơn vị nay "
        "thuộc 'phong_qldt' (quytrinh user move TÊN --unit phong_qldt --role VAI_TRÒ)."), refused.stderr
    with db.session() as s:
        assert s.exec(select(User).where(User.username == "moi")).first() is None
    # user list marks who is still at the merged unit (tckh_cv2 and the head were not moved; tckh_cv was)
    listed = {ln.split("\t")[0]: ln for ln in console(rt.url, catalogue, "user", "list").stdout.splitlines()}
    assert listed["tckh_cv2"].endswith("\t(đơn vị đã hợp nhất vào phong_qldt: quytrinh user move tckh_cv2 "
                                       "--unit phong_qldt --role ROLE)"), listed["tckh_cv2"]
    assert "hợp nhất" not in listed["tckh_cv"]
