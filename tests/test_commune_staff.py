"""A commune's officers work for their own commune (users.commune, migration 0015).

units.yaml describes the staff of every commune with one set of units: an officer tied to a commune
registers that commune's dossiers, sees them in the inbox, and acts only on them (and on dossiers of no
commune); another commune's dossier is refused and left exactly as it was. An account not tied to a
commune works as before.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from engine import services as sv
from engine.calendar import LOCAL_TZ
from engine.errors import ActionError, NotAuthorized
from engine.store import Dossier, User, WorkItem, dump
from quytrinh.messages import cli_error_text

BIRTH = "1.001193"  # commune level: xa_mot_cua receives, xa_tu_phap verifies
BAT_TRANG, CO_BI = "Xã Bát Tràng", "Xã Cổ Bi"


def at(hour: int, minute: int = 0, day: int = 10) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=LOCAL_TZ)


@pytest.fixture
def staff(runtime):
    """The runtime with two communes' officers: one-stop and justice, of Bát Tràng and of Cổ Bi."""
    db = runtime.db
    for name, unit, commune in (("mc_bt", "xa_mot_cua", BAT_TRANG), ("tp_bt", "xa_tu_phap", BAT_TRANG),
                                ("mc_cb", "xa_mot_cua", CO_BI), ("tp_cb", "xa_tu_phap", CO_BI)):
        runtime.actors[name] = sv.add_user(db, name, unit=unit, role="staff", now=at(7), commune=commune)
    return runtime


def verify_item(db, dossier_id: int) -> int:
    with db.session() as s:
        return s.exec(select(WorkItem.id).where(WorkItem.dossier_id == dossier_id,
                                                WorkItem.step_id == "verify")).one()


def test_an_officer_registers_the_dossiers_of_their_own_commune(staff):
    db = staff.db
    r = sv.receive(db, staff.actor("mc_bt"), BIRTH, applicant="Bé An", now=at(8))
    with db.session() as s:
        assert s.get(Dossier, r.dossier_id).commune == BAT_TRANG  # none given: theirs
    r2 = sv.receive(db, staff.actor("mc_bt"), BIRTH, applicant="Bé Bình", now=at(8, 5), commune="xã bát  tràng")
    with db.session() as s:
        assert s.get(Dossier, r2.dossier_id).commune == BAT_TRANG  # the same commune, spelt as units.yaml does
    before = dump(db)
    with pytest.raises(NotAuthorized, match="works for Xã Bát Tràng; they may not register a dossier of Xã Cổ Bi"):
        sv.receive(db, staff.actor("mc_bt"), BIRTH, applicant="Bé Cúc", now=at(8, 10), commune=CO_BI)
    assert dump(db) == before
    # An account not tied to a commune registers any commune's dossiers, as before.
    r3 = sv.receive(db, staff.actor("xa_motcua"), BIRTH, applicant="Bé Dung", now=at(8, 15), commune=CO_BI)
    with db.session() as s:
        assert s.get(Dossier, r3.dossier_id).commune == CO_BI


def test_another_communes_officer_cannot_act_on_the_dossier_and_nothing_changes(staff):
    db = staff.db
    r = sv.receive(db, staff.actor("mc_bt"), BIRTH, applicant="Bé An", now=at(8))
    item = verify_item(db, r.dossier_id)
    before = dump(db)
    for attempt in (lambda: sv.claim(db, staff.actor("tp_cb"), item, now=at(9)),
                    lambda: sv.complete(db, staff.actor("tp_cb"), item, outcome="done", now=at(9)),
                    lambda: sv.withdraw(db, staff.actor("mc_cb"), r.dossier_code, now=at(9), comment="Rút")):
        with pytest.raises(NotAuthorized, match="works for Xã Cổ Bi; dossier .* is of Xã Bát Tràng") as exc:
            attempt()
        assert dump(db) == before
    assert cli_error_text(exc.value).endswith(
        f"làm việc cho Xã Cổ Bi; hồ sơ {r.dossier_code} là hồ sơ của Xã Bát Tràng, nên không được rút hồ sơ.")
    sv.complete(db, staff.actor("tp_bt"), item, outcome="done", now=at(9))  # its own commune's officer may
    sv.complete(db, staff.actor("xa_tuphap"), verify_item(db, sv.receive(  # and an untied one, as before
        db, staff.actor("xa_motcua"), BIRTH, applicant="Bé Bình", now=at(9, 30), commune=CO_BI).dossier_id),
        outcome="done", now=at(10))


def test_the_supplement_of_another_communes_dossier_is_not_theirs_to_record(staff):
    db = staff.db
    r = sv.receive(db, staff.actor("mc_bt"), BIRTH, applicant="Bé An", now=at(8), decision="supplement",
                   comment="Thiếu giấy chứng sinh")
    before = dump(db)
    with pytest.raises(NotAuthorized, match="works for Xã Cổ Bi"):
        sv.supplement_received(db, staff.actor("mc_cb"), r.dossier_id, now=at(9))
    assert dump(db) == before
    sv.supplement_received(db, staff.actor("mc_bt"), r.dossier_id, now=at(9))


def test_the_inbox_of_a_communes_officer_holds_their_communes_work_only(staff):
    db = staff.db
    bt = sv.receive(db, staff.actor("mc_bt"), BIRTH, applicant="Bé An", now=at(8))
    cb = sv.receive(db, staff.actor("mc_cb"), BIRTH, applicant="Bé Bình", now=at(8, 5))
    untied = sv.receive(db, staff.actor("xa_motcua"), BIRTH, applicant="Bé Cúc", now=at(8, 10))  # no commune

    def codes(**kw):
        return sorted(t.dossier_code for t in sv.list_tasks(db, now=at(9), **kw))

    assert codes(user="tp_bt") == sorted([bt.dossier_code, untied.dossier_code])
    assert codes(user="TP_CB") == sorted([cb.dossier_code, untied.dossier_code])
    assert codes(unit="xa_tu_phap", commune=BAT_TRANG) == sorted([bt.dossier_code, untied.dossier_code])
    assert codes(user="xa_tuphap") == sorted([bt.dossier_code, cb.dossier_code, untied.dossier_code])


def test_only_staff_of_a_commune_level_unit_work_for_a_commune(staff):
    with pytest.raises(ActionError, match="unit 'phong_tckh' is of the district level"):
        sv.add_user(staff.db, "cv_x", unit="phong_tckh", role="staff", now=at(7), commune=BAT_TRANG)
    with pytest.raises(ActionError, match="is of the district level"):
        sv.set_user_commune(staff.db, "tckh_cv", BAT_TRANG, now=at(7))


def test_tying_an_officer_to_a_commune_gives_back_the_other_communes_work_they_held(staff):
    db = staff.db
    bt = sv.receive(db, staff.actor("mc_bt"), BIRTH, applicant="Bé An", now=at(8))
    cb = sv.receive(db, staff.actor("mc_cb"), BIRTH, applicant="Bé Bình", now=at(8, 5))
    held_bt, held_cb = verify_item(db, bt.dossier_id), verify_item(db, cb.dossier_id)
    for item in (held_bt, held_cb):
        sv.claim(db, staff.actor("xa_tuphap"), item, now=at(9))  # untied: may take both
    change = sv.set_user_commune(db, "xa_tuphap", BAT_TRANG, now=at(10))
    assert [r.item_id for r in change.released] == [held_cb]
    with db.session() as s:
        assert s.exec(select(User.commune).where(User.username == "xa_tuphap")).one() == BAT_TRANG
        assert s.get(WorkItem, held_bt).assignee_id is not None and s.get(WorkItem, held_cb).assignee_id is None
    with pytest.raises(ActionError, match="already works for Xã Bát Tràng"):
        sv.set_user_commune(db, "xa_tuphap", BAT_TRANG, now=at(10, 5))
    # The actor read before the change (a web session) acts under the new tie: refused on Cổ Bi's dossier.
    with pytest.raises(NotAuthorized, match="works for Xã Bát Tràng"):
        sv.claim(db, staff.actor("xa_tuphap"), held_cb, now=at(10, 10))
    sv.set_user_commune(db, "xa_tuphap", "", now=at(11))  # untied again
    sv.claim(db, staff.actor("xa_tuphap"), held_cb, now=at(11, 5))


def test_an_officer_moved_to_the_district_works_for_no_commune(staff):
    sv.move_user(staff.db, "tp_bt", unit="phong_tckh", role="staff", now=at(9))
    assert sv.get_actor(staff.db, "tp_bt").commune == ""
    sv.move_user(staff.db, "mc_cb", unit="xa_tu_phap", role="staff", now=at(9))  # within the commune
    assert sv.get_actor(staff.db, "mc_cb").commune == CO_BI


def test_a_communes_chairman_signs_and_lists_only_their_communes_apologies(staff):
    db = staff.db
    staff.actors["ct_cb"] = sv.add_user(db, "ct_cb", unit="xa_lanh_dao", role="chairman", now=at(7), commune=CO_BI)
    r = sv.receive(db, staff.actor("mc_bt"), BIRTH, applicant="Bé An", now=at(8))
    sv.sweep_timers(db, now=at(16, 30))  # the same-day result cannot be ready by 17:00: a draft apology
    [draft] = sv.apologies_to_sign(db, unit="xa_lanh_dao")
    assert draft.dossier_code == r.dossier_code
    assert sv.apologies_to_sign(db, unit="xa_lanh_dao", commune=CO_BI) == []
    assert [a.apology_id for a in sv.apologies_to_sign(db, unit="xa_lanh_dao", commune=BAT_TRANG)] == [draft.apology_id]
    before = dump(db)
    with pytest.raises(NotAuthorized, match="works for Xã Cổ Bi; dossier .* is of Xã Bát Tràng"):
        sv.sign_apology(db, staff.actor("ct_cb"), draft.apology_id, reason="Chờ xác minh", now=at(16, 40))
    assert dump(db) == before
    sv.sign_apology(db, staff.actor("xa_ct"), draft.apology_id, reason="Chờ xác minh", now=at(16, 40))  # untied: as before
