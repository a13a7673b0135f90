"""A draft apology (form 04) of a unit that is then merged into another is not stranded.

The timers drafted the apology for Phòng TC-KH, the unit answerable for a late dossier; units.yaml then
merges Phòng TC-KH into Phòng QLĐT (``merged_into``). From the moment the merge is stored (any command, or
``quytrinh publish``, reads units.yaml into the database), the draft is Phòng QLĐT's head's to sign, before
``quytrinh unit transfer`` as after; it is listed for Phòng QLĐT (``apologies_to_sign``, ``quytrinh tasks
--apologies``), the form names Phòng QLĐT as the unit that issues it. Phòng TC-KH's former head and the head of
an unrelated unit are refused, in Vietnamese, and the database is unchanged. The transfer moves what is still
a draft, with an event, and leaves a signed apology with the unit that signed it. Real database, real sweep,
the real CLI; no mocks.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest
from sqlmodel import select

from engine import services as sv
from engine.definition import load_units
from engine.documents import render_form
from engine.errors import NotAuthorized
from engine.store import Apology, Dossier, Event, OutboxItem, WorkItem, dump
from quytrinh.messages import cli_error_text
from tests.conftest import catalogue_with, cli_in, console, with_merge

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent
UNITS_YAML = REPO / "procedures_yaml" / "units.yaml"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=HANOI)


def _open(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                             WorkItem.state.in_(("open", "claimed")))).one()


def _merge(db, tmp_path: Path) -> Path:
    """Phòng TC-KH merged into Phòng QLĐT in units.yaml, read into the database as every command reads it."""
    folder = catalogue_with(tmp_path, with_merge(UNITS_YAML.read_text(encoding="utf-8"), "phong_tckh", "phong_qldt"))
    sv.seed_organisation(db, load_units(folder / "units.yaml"))
    return folder


def _late(rt, applicant: str = "Trễ hẹn", hour: int = 8, before_sweep=None):
    """A dossier of 1.001612 whose appraisal is open at Phòng TC-KH, swept two hours before its appointment:
    the timers draft the apology (form 04) for Phòng TC-KH. The dossier and the draft. ``before_sweep`` (if
    given) is called once the appraisal is open, before the sweep."""
    db = rt.db
    r = sv.receive(db, rt.actor("motcua"), "1.001612", applicant=applicant, now=at(10, hour))
    sv.complete(db, rt.actor("tckh_head"), _open(db, r.dossier_id, "assign").id, outcome="done",
                now=at(10, hour, 10))
    if before_sweep is not None:
        before_sweep()
    with db.session() as s:
        due = s.get(Dossier, r.dossier_id).due_at
    assert sv.sweep_timers(db, now=due - dt.timedelta(hours=2), calendar=rt.calendar).apologies == 1
    with db.session() as s:
        ap = s.exec(select(Apology).where(Apology.dossier_id == r.dossier_id)).one()
    assert (ap.state, ap.unit_id) == ("draft", "phong_tckh")
    return r, ap


def _apology(db, apology_id: int) -> Apology:
    with db.session() as s:
        return s.get(Apology, apology_id)


def _text(data: bytes) -> str:
    """The visible text of an HTML form, whitespace collapsed."""
    body = re.sub(r"<style>.*?</style>", "", data.decode("utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture
def drafted_then_merged(runtime, tmp_path):
    """The draft for Phòng TC-KH, then the merge into Phòng QLĐT (no transfer yet), and the head of Phòng Tư
    pháp, a unit that has nothing to do with it."""
    rt = runtime
    r, ap = _late(rt)
    folder = _merge(rt.db, tmp_path)
    rt.actors["tuphap_head"] = sv.add_user(rt.db, "tuphap_head", unit="phong_tu_phap", role="head",
                                           now=at(10, 7), full_name="Lê Văn Pháp")
    return rt, r, ap, folder


def test_the_successors_head_signs_a_merged_units_draft_before_the_transfer(drafted_then_merged):
    rt, r, ap, _ = drafted_then_merged
    db = rt.db
    # Listed for the unit whose head signs it now, not for the merged unit.
    [row] = sv.apologies_to_sign(db, unit="phong_qldt")
    assert (row.apology_id, row.dossier_code, row.unit_id, row.signer_unit) == (ap.id, r.dossier_code, "phong_tckh",
                                                                              "phong_qldt")
    assert sv.apologies_to_sign(db, unit="phong_tckh") == []
    # The form printed before the signature names the unit that issues it: Phòng QLĐT, not the merged one.
    draft = _text(render_form(db, "04", r.dossier_code))
    assert "TRƯỞNG PHÒNG QUẢN LÝ ĐÔ THỊ" in draft and "Tài chính" not in draft, draft
    at_sign = ap.drafted_at + dt.timedelta(minutes=30)

    # The head of an unrelated unit, and the merged unit's former head (still a member of it), are refused;
    # nothing changes.
    before = dump(db)
    with pytest.raises(NotAuthorized) as unrelated:
        sv.sign_apology(db, rt.actor("tuphap_head"), ap.id, reason="Chờ xác minh", now=at_sign)
    assert cli_error_text(unrelated.value) == (
        f"Không có quyền: đơn vị phong_tckh đã hợp nhất vào phong_qldt; phiếu xin lỗi của hồ sơ {r.dossier_code} "
        f"nay do lãnh đạo đơn vị phong_qldt ký.")
    with pytest.raises(NotAuthorized, match="phong_tckh was merged into phong_qldt: the head \\(head\\) of "
                                            "phong_qldt does"):
        sv.sign_apology(db, rt.actor("tckh_head"), ap.id, reason="Chờ xác minh", now=at_sign)
    with pytest.raises(NotAuthorized):  # staff of the successor: not its head
        sv.sign_apology(db, rt.actor("qldt_cv"), ap.id, reason="Chờ xác minh", now=at_sign)
    assert dump(db) == before

    signed = sv.sign_apology(db, rt.actor("qldt_head"), ap.id, reason="Chờ ý kiến của Phòng QLĐT", now=at_sign)
    assert (signed.state, signed.unit_id, signed.signed_at) == ("signed", "phong_qldt", at_sign)
    assert (_apology(db, ap.id).state, _apology(db, ap.id).unit_id) == ("signed", "phong_qldt")
    with db.session() as s:
        ev = s.exec(select(Event).where(Event.dossier_id == r.dossier_id, Event.action == "apology_signed")).one()
        told = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == r.dossier_id,
                                               OutboxItem.kind == "notify_citizen")).all()
    assert (ev.actor, ev.actor_unit, ev.comment) == ("qldt_head", "phong_qldt", "Chờ ý kiến của Phòng QLĐT")
    assert (ev.data["apology"], ev.data["from_unit"], ev.data["to_unit"]) == (ap.id, "phong_tckh", "phong_qldt")
    [citizen] = [o for o in told if o.payload.get("reason") == "apology"]
    assert citizen.payload["unit"] == "phong_qldt"
    assert sv.apologies_to_sign(db, unit="phong_qldt") == []
    # The signed form names the unit whose head signed it.
    form = _text(render_form(db, "04", r.dossier_code))
    assert "TRƯỞNG PHÒNG QUẢN LÝ ĐÔ THỊ" in form and "Chờ ý kiến của Phòng QLĐT" in form
    assert "Phòng Quản lý đô thị dự kiến không trả được kết quả" in form and "Tài chính" not in form

    # The transfer then finds no draft: the signed apology is Phòng QLĐT's already, its history as it was.
    done = sv.transfer_unit_work(db, "phong_tckh", now=at_sign + dt.timedelta(hours=1))
    assert done.apologies == [] and len(done.moved) == 1
    assert (_apology(db, ap.id).unit_id, _apology(db, ap.id).signed_at) == ("phong_qldt", at_sign)


def test_the_transfer_moves_the_draft_and_leaves_an_apology_signed_before_the_merge(runtime, tmp_path):
    """Dossier 1's apology was signed by Phòng TC-KH's head before the merge: it is that unit's letter and stays
    so (its form still names it). Dossier 2's draft moves to Phòng QLĐT with an event; its head signs it then,
    and the merged unit's former head, still there, may not."""
    rt = runtime
    db = rt.db
    r1, signed_before = _late(rt, "Đã ký trước", 8)
    sv.sign_apology(db, rt.actor("tckh_head"), signed_before.id, reason="Thiếu hồ sơ địa chính",
                    now=signed_before.drafted_at + dt.timedelta(minutes=5))
    r2, draft = _late(rt, "Chưa ký", 9)
    _merge(db, tmp_path)
    done = sv.transfer_unit_work(db, "phong_tckh", now=at(13, 8))
    assert done.apologies == [draft.id]
    one, two = _apology(db, signed_before.id), _apology(db, draft.id)
    assert (one.state, one.unit_id, one.reason) == ("signed", "phong_tckh", "Thiếu hồ sơ địa chính")
    assert (two.state, two.unit_id) == ("draft", "phong_qldt")
    with db.session() as s:
        ev = s.exec(select(Event).where(Event.dossier_id == r2.dossier_id, Event.action == "transfer",
                                        Event.work_item_id.is_(None))).one()
        none = s.exec(select(Event).where(Event.dossier_id == r1.dossier_id, Event.action == "transfer",
                                          Event.work_item_id.is_(None))).all()
    assert (ev.actor, ev.data["apology"], ev.data["from_unit"], ev.data["to_unit"]) == (
        "system", draft.id, "phong_tckh", "phong_qldt")
    assert ev.comment == ("Phiếu xin lỗi (mẫu 04, dự thảo) do lãnh đạo Phòng QLĐT ký. Phòng TC-KH đã hợp nhất vào "
                          "Phòng QLĐT")
    assert none == []  # the signed apology did not move
    first = _text(render_form(db, "04", r1.dossier_code))
    assert "TRƯỞNG PHÒNG TÀI CHÍNH – KẾ HOẠCH" in first and "Quản lý đô thị" not in first
    assert [a.apology_id for a in sv.apologies_to_sign(db, unit="phong_qldt")] == [draft.id]

    before = dump(db)
    with pytest.raises(NotAuthorized, match="the head \\(head\\) of phong_qldt does"):
        sv.sign_apology(db, rt.actor("tckh_head"), draft.id, reason="Chờ", now=at(13, 9))
    assert dump(db) == before
    sv.sign_apology(db, rt.actor("qldt_head"), draft.id, reason="Chờ ý kiến thẩm định", now=at(13, 9))
    assert (_apology(db, draft.id).state, _apology(db, draft.id).unit_id) == ("signed", "phong_qldt")
    with db.session() as s:
        ev = s.exec(select(Event).where(Event.dossier_id == r2.dossier_id, Event.action == "apology_signed")).one()
    assert "from_unit" not in ev.data  # drafted for Phòng TC-KH, but moved to Phòng QLĐT before it was signed


def test_a_chain_of_merges_sends_the_draft_to_the_last_unit(runtime, tmp_path):
    """Phòng TC-KH merged into Phòng QLĐT, itself merged into Phòng Nội vụ: Phòng Nội vụ's head signs."""
    rt = runtime
    db = rt.db
    r, ap = _late(rt)
    text = with_merge(with_merge(UNITS_YAML.read_text(encoding="utf-8"), "phong_tckh", "phong_qldt"),
                      "phong_qldt", "phong_noi_vu")
    folder = catalogue_with(tmp_path, text)
    sv.seed_organisation(db, load_units(folder / "units.yaml"))
    noivu = sv.add_user(db, "noivu_head", unit="phong_noi_vu", role="head", now=at(10, 7))
    assert [a.signer_unit for a in sv.apologies_to_sign(db)] == ["phong_noi_vu"]
    before = dump(db)
    with pytest.raises(NotAuthorized, match="phong_tckh was merged into phong_noi_vu"):
        sv.sign_apology(db, rt.actor("qldt_head"), ap.id, reason="Chờ", now=ap.drafted_at + dt.timedelta(minutes=5))
    assert dump(db) == before
    sv.sign_apology(db, noivu, ap.id, reason="Chờ", now=ap.drafted_at + dt.timedelta(minutes=5))
    assert _apology(db, ap.id).unit_id == "phong_noi_vu"


# --------------------------------------------------------------------------- the head told once


def _deliver(db, tmp_path: Path, now: dt.datetime) -> list[dict]:
    """Deliver every outbox item available at ``now`` as the worker does (claim, perform, complete): the
    records written to the delivery log."""
    from workflows.effects import DeliveryLog, EffectContext, OutboxWork, perform

    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    ctx = EffectContext(db, now, "w", log)
    before = len(log.records())
    for item in sv.claim_outbox(db, worker="w", limit=1000, now=now):
        sv.complete_outbox(db, item.id, worker="w", now=now, result=perform(ctx, OutboxWork.of(item)))
    return log.records()[before:]


def _heads_told(records: list[dict]) -> list[dict]:
    """The delivered notices of a drafted apology to a unit's head."""
    return [x for x in records if x["kind"] == "notify_unit_head" and x.get("reason") == "apology_drafted"]


def _told(db, apology_id: int) -> list[OutboxItem]:
    """The notices to a head about the draft ``apology_id``, in order."""
    with db.session() as s:
        rows = s.exec(select(OutboxItem).where(OutboxItem.kind == "notify_unit_head").order_by(OutboxItem.id)).all()
    return [o for o in rows if o.payload.get("reason") == "apology_drafted" and o.payload.get("apology") == apology_id]


@pytest.mark.parametrize("delivered", [True, False], ids=["notice-delivered", "notice-not-delivered-yet"])
def test_the_transfer_does_not_tell_the_successors_head_again_about_a_draft_made_after_the_merge(runtime, tmp_path,
                                                                                                  delivered):
    """Merged first, then the timer drafts the apology for Phòng TC-KH (its appraisal not moved yet): the draft's
    notice goes to Phòng QLĐT's head (delivered, or on its way). The transfer moves the draft, with its event,
    and does not tell that head a second time."""
    rt = runtime
    db = rt.db
    r, ap = _late(rt, before_sweep=lambda: _merge(db, tmp_path))
    [notice] = _told(db, ap.id)
    assert notice.payload["unit"] == "phong_tckh"
    if delivered:
        records = _heads_told(_deliver(db, tmp_path, ap.drafted_at + dt.timedelta(minutes=1)))
        assert [(x["to"], x["addressed_to"]) for x in records] == [("phong_qldt/head", "phong_tckh")]
    done = sv.transfer_unit_work(db, "phong_tckh", now=ap.drafted_at + dt.timedelta(hours=1))
    assert done.apologies == [ap.id]
    assert (_apology(db, ap.id).state, _apology(db, ap.id).unit_id) == ("draft", "phong_qldt")
    with db.session() as s:
        ev = s.exec(select(Event).where(Event.dossier_id == r.dossier_id, Event.action == "transfer",
                                        Event.work_item_id.is_(None))).one()
    assert ev.data["apology"] == ap.id
    assert [o.id for o in _told(db, ap.id)] == [notice.id]  # no second notice of the same draft
    # what the worker delivers from now on: the head's notice only if it was not delivered yet, to that head
    later = _heads_told(_deliver(db, tmp_path, ap.drafted_at + dt.timedelta(hours=2)))
    assert [x["to"] for x in later] == ([] if delivered else ["phong_qldt/head"])


def test_the_transfer_tells_the_successors_head_about_a_draft_told_to_the_merged_units_head(runtime, tmp_path):
    """Drafted and told to Phòng TC-KH's head before the merge was stored: Phòng QLĐT's head was not told, and
    the transfer tells them (once: a second run tells nobody)."""
    rt = runtime
    db = rt.db
    r, ap = _late(rt)
    first = _heads_told(_deliver(db, tmp_path, ap.drafted_at + dt.timedelta(minutes=1)))
    assert [x["to"] for x in first] == ["phong_tckh/head"] and "addressed_to" not in first[0]
    _merge(db, tmp_path)
    assert sv.transfer_unit_work(db, "phong_tckh", now=ap.drafted_at + dt.timedelta(hours=1)).apologies == [ap.id]
    timer, transfer = _told(db, ap.id)
    assert (transfer.payload["unit"], transfer.payload["from_unit"], transfer.state) == (
        "phong_qldt", "phong_tckh", "pending")
    assert transfer.idempotency_key == f"transfer:apology:{ap.id}:phong_qldt:head"
    later = _heads_told(_deliver(db, tmp_path, ap.drafted_at + dt.timedelta(hours=2)))
    assert [x["to"] for x in later] == ["phong_qldt/head"]
    assert sv.transfer_unit_work(db, "phong_tckh", now=ap.drafted_at + dt.timedelta(hours=3)).apologies == []
    assert len(_told(db, ap.id)) == 2


# --------------------------------------------------------------------------- the CLI


def test_the_cli_lists_the_draft_for_the_successor_and_its_head_signs_it(drafted_then_merged, monkeypatch):
    rt, r, ap, folder = drafted_then_merged
    db = rt.db
    cli = cli_in(monkeypatch, rt.url, folder)
    now = (ap.drafted_at + dt.timedelta(minutes=30)).astimezone(HANOI).strftime("%Y-%m-%dT%H:%M")
    out = cli("tasks", "--apologies", "--unit", "phong_qldt", "--now", now)
    [line] = [ln for ln in out.splitlines() if r.dossier_code in ln]
    assert "Phòng QLĐT (lập cho Phòng TC-KH, đã hợp nhất)" in line and "Trễ hẹn" in line, out
    out = cli("tasks", "--apologies", "--unit", "phong_tckh", "--now", now)
    assert out.splitlines() == ["Không có phiếu xin lỗi nào chờ ký.",
                                "Phòng TC-KH đã hợp nhất vào Phòng QLĐT: xem quytrinh tasks --apologies --unit "
                                "phong_qldt."]
    show = cli("dossier", "show", r.dossier_code, "--now", now)
    assert ("lãnh đạo Phòng QLĐT ký (phiếu lập cho Phòng TC-KH, đơn vị đã hợp nhất)" in show), show

    before = dump(db)
    for who in ("tckh_head", "tuphap_head"):  # the merged unit's former head; an unrelated unit's head
        refused = console(rt.url, folder, "dossier", "apology", r.dossier_code, "--reason", "Chờ xác minh",
                           "--as", who, "--now", now)
        assert refused.returncode == 1, refused
        assert refused.stderr.strip() == (
            f"quytrinh: Không có quyền: đơn vị phong_tckh đã hợp nhất vào phong_qldt; phiếu xin lỗi của hồ sơ "
            f"{r.dossier_code} nay do lãnh đạo đơn vị phong_qldt ký."), refused.stderr
    assert dump(db) == before
    done = cli("dossier", "apology", r.dossier_code, "--reason", "Chờ xác minh", "--as", "qldt_head", "--now", now)
    assert done.startswith(f"Đã ký Phiếu xin lỗi và hẹn lại: hồ sơ {r.dossier_code}"), done
    assert _apology(db, ap.id).unit_id == "phong_qldt"
    show = cli("dossier", "show", r.dossier_code, "--now", now)
    assert "(mẫu 04, đã ký)" in show and "lãnh đạo Phòng QLĐT đã ký" in show, show
    assert cli("tasks", "--apologies", "--unit", "phong_qldt", "--now", now).splitlines() == [
        "Không có phiếu xin lỗi nào chờ ký."]


def test_the_worker_sends_a_pending_notice_to_the_successors_head_as_soon_as_another_process_stores_the_merge(
        runtime, tmp_path):
    """The worker had read the merged units (none) a moment before; another process (``quytrinh publish``)
    then stores the merge of Phòng TC-KH into Phòng QLĐT, which this process is not told of. The draft's notice,
    still pending, goes to Phòng QLĐT's head at the next drain, not to the merged unit's former head."""
    rt = runtime
    db = rt.db
    r, ap = _late(rt)
    assert sv.unit_successors(db) == {}  # what this process has read, and keeps for the actions
    with db.engine.begin() as conn:  # the merge, stored by another process: nothing here is forgotten
        conn.exec_driver_sql("UPDATE units SET merged_into = 'phong_qldt' WHERE id = 'phong_tckh'")
    assert sv.unit_successors(db) == {}  # the actions' cached reading has not caught up yet
    records = _heads_told(_deliver(db, tmp_path, ap.drafted_at + dt.timedelta(minutes=1)))
    assert [(x["to"], x["addressed_to"]) for x in records] == [("phong_qldt/head", "phong_tckh")]
    assert sv.unit_successors(db) == {"phong_tckh": "phong_qldt"}  # what the worker read is kept
