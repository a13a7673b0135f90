"""What the notices, the official forms, the control sheet and ``quytrinh tasks`` say after a merge.

units.yaml ``merged_into``: Phòng TC-KH merged into Phòng QLĐT (its open work moved by
``transfer_unit_work``), the district's one-stop unit merged into a public-service centre. The worker
tells the successor that an item came over (from where, who has it, whether it is late) and delivers a
notice still addressed to the merged unit to its successor; the forms of a dossier are headed by the
one-stop unit that received it; the control sheet shows the handover on the step's row; ``tasks
--unit <merged unit>`` says where its work is now. Real database, real delivery log, no mocks.
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
from engine.store import OutboxItem, WorkItem
from workflows.effects import DeliveryLog, EffectContext, OutboxWork, perform
from tests.conftest import catalogue_with, cli_in, with_merge

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent
UNITS_YAML = REPO / "procedures_yaml" / "units.yaml"
CENTRE = "Trung tâm Phục vụ hành chính công huyện"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=HANOI)


def _with_centre() -> str:
    """units.yaml with a public-service centre (trung_tam_hcc), a one-stop unit the counter can be merged into."""
    return UNITS_YAML.read_text(encoding="utf-8") + (
        "  - id: trung_tam_hcc\n"
        f'    name: "{CENTRE}"\n'
        "    level: district\n"
        "    kind: one_stop\n"
        '    roles: {staff: "Công chức tiếp nhận và trả kết quả", head: "Giám đốc Trung tâm"}\n')


def _merge(db, tmp_path: Path, text: str) -> Path:
    folder = catalogue_with(tmp_path, text)
    sv.seed_organisation(db, load_units(folder / "units.yaml"))
    return folder


def _open(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        return s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                             WorkItem.state.in_(("open", "claimed")))).one()


def _item(db, item_id: int) -> WorkItem:
    with db.session() as s:
        return s.get(WorkItem, item_id)


def _appraisal(rt, applicant: str, hour: int):
    """A dossier of 1.001612 whose appraisal step (one working day) opened at Phòng TC-KH at ``hour``:10."""
    r = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant=applicant, now=at(10, hour))
    sv.complete(rt.db, rt.actor("tckh_head"), _open(rt.db, r.dossier_id, "assign").id, outcome="done",
                now=at(10, hour, 10))
    return r, _open(rt.db, r.dossier_id, "appraise")


def _local(t: dt.datetime) -> str:
    return t.astimezone(HANOI).strftime("%H:%M ngày %d/%m/%Y")


def text(data: bytes) -> str:
    """The visible text of an HTML form, whitespace collapsed."""
    body = re.sub(r"<style>.*?</style>", "", data.decode("utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture
def transferred(runtime, tmp_path):
    """Phòng TC-KH merged into Phòng QLĐT on 11/03, its work moved at 09:00 that day: dossier A's appraisal
    (due 08:10 on 11/03, so already late) held by tckh_cv, who moved to Phòng QLĐT first; dossier B's
    (due 14:10 on 11/03) in the queue. B's opening notice, queued for Phòng TC-KH, was never delivered."""
    rt = runtime
    db = rt.db
    a, late = _appraisal(rt, "Người nộp A", 8)
    b, queued = _appraisal(rt, "Người nộp B", 14)
    sv.claim(db, rt.actor("tckh_cv"), late.id, now=at(10, 15))
    catalogue = _merge(db, tmp_path, with_merge(UNITS_YAML.read_text(encoding="utf-8"), "phong_tckh", "phong_qldt"))
    sv.move_user(db, "tckh_cv", unit="phong_qldt", role="staff", now=at(11, 8))
    done = sv.transfer_unit_work(db, "phong_tckh", now=at(11, 9))
    assert {m.item_id for m in done.moved} == {late.id, queued.id}
    return rt, a, b, _item(db, late.id), _item(db, queued.id), catalogue


def _outbox(db, item_id: int, kind: str, reason: str | None) -> OutboxItem:
    with db.session() as s:
        rows = s.exec(select(OutboxItem).where(OutboxItem.work_item_id == item_id, OutboxItem.kind == kind)
                      .order_by(OutboxItem.id)).all()
    return [r for r in rows if (r.payload or {}).get("reason") == reason][-1]


# --------------------------------------------------------------------------- #1: the notice of a transfer


def test_the_successor_is_told_where_a_transferred_item_came_from_who_has_it_and_that_it_is_late(transferred,
                                                                                                 tmp_path):
    rt, a, b, late, queued, _ = transferred
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    ctx = EffectContext(rt.db, at(11, 9, 5), "w", log)
    for item in (late, queued):
        done = perform(ctx, OutboxWork.of(_outbox(rt.db, item.id, "notify_unit", "transferred")))
        assert (done["channel"], done["to"], done["delivered"]) == ("unit", "phong_qldt", True)
    kept, waiting = (r["message"] for r in log.records())
    assert kept == (f"Phòng QLĐT: hồ sơ {a.dossier_code}, bước '{late.step_name}' được chuyển từ Phòng TC-KH "
                    f"(đã hợp nhất vào Phòng QLĐT) sang đơn vị; tckh_cv tiếp tục xử lý; "
                    f"hạn xử lý {_local(late.due_at)} (đã quá hạn).")
    assert _local(late.due_at) == "08:10 ngày 11/03/2026"
    assert waiting == (f"Phòng QLĐT: hồ sơ {b.dossier_code}, bước '{queued.step_name}' được chuyển từ Phòng TC-KH "
                       f"(đã hợp nhất vào Phòng QLĐT) sang đơn vị; chờ cán bộ nhận xử lý; "
                       f"hạn xử lý 14:10 ngày 11/03/2026.")
    assert "chuyển đến bước" not in kept + waiting  # not the wording of a step that has just opened


def test_a_transfer_to_a_unit_named_by_hand_names_the_unit_it_came_from(runtime, tmp_path):
    """``unit transfer U --to V`` of a unit that was not merged: the notice names U, without "hợp nhất"."""
    rt = runtime
    r, item = _appraisal(rt, "Người nộp C", 8)
    sv.transfer_unit_work(rt.db, "phong_tckh", to="phong_qldt", now=at(10, 9))
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    perform(EffectContext(rt.db, at(10, 9, 5), "w", log),
            OutboxWork.of(_outbox(rt.db, item.id, "notify_unit", "transferred")))
    [record] = log.records()
    assert record["message"] == (f"Phòng QLĐT: hồ sơ {r.dossier_code}, bước '{item.step_name}' được chuyển từ "
                                 f"Phòng TC-KH sang đơn vị; chờ cán bộ nhận xử lý; hạn xử lý 08:10 ngày 11/03/2026.")


# --------------------------------------------------------------------------- #16: notices queued for a merged unit


def test_a_notice_queued_for_a_unit_before_its_merge_goes_to_its_successor(transferred, tmp_path):
    rt, a, b, late, queued, _ = transferred
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    ctx = EffectContext(rt.db, at(11, 9, 5), "w", log)
    opened = _outbox(rt.db, queued.id, "notify_unit", None)  # B's appraisal opened on 10/03, for Phòng TC-KH
    assert opened.payload["unit"] == "phong_tckh"
    done = perform(ctx, OutboxWork.of(opened))
    assert (done["to"], done["delivered"]) == ("phong_qldt", True)
    [record] = log.records()
    assert record["to"] == "phong_qldt" and record["addressed_to"] == "phong_tckh"
    assert record["message"] == (f"Phòng QLĐT (thay Phòng TC-KH, đã hợp nhất vào Phòng QLĐT): hồ sơ "
                                 f"{b.dossier_code} chuyển đến bước '{queued.step_name}', hạn xử lý "
                                 f"14:10 ngày 11/03/2026.")
    # the head's notices too: the timers' overdue notice for an item still addressed to Phòng TC-KH
    head = OutboxWork(10_000, "notify_unit_head", "head-overdue", {
        "reason": "overdue", "unit": "phong_tckh", "role": "head", "dossier_code": a.dossier_code,
        "due_at": late.due_at.isoformat()}, dossier_id=late.dossier_id, work_item_id=late.id)
    done = perform(ctx, head)
    assert (done["channel"], done["to"]) == ("unit_head", "phong_qldt/head")
    assert log.records()[-1]["message"] == (
        f"Phòng QLĐT (thay Phòng TC-KH, đã hợp nhất vào Phòng QLĐT) — hồ sơ {a.dossier_code}: bước "
        f"'{late.step_name}' đã quá hạn (hạn 08:10 ngày 11/03/2026).")


def test_a_notice_to_a_unit_that_was_not_merged_is_delivered_as_before(runtime, tmp_path):
    rt = runtime
    r, item = _appraisal(rt, "Người nộp D", 8)
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    perform(EffectContext(rt.db, at(10, 8, 20), "w", log), OutboxWork.of(_outbox(rt.db, item.id, "notify_unit", None)))
    [record] = log.records()
    assert record["to"] == "phong_tckh" and "addressed_to" not in record
    assert record["message"].startswith(f"Phòng TC-KH: hồ sơ {r.dossier_code} chuyển đến bước")


# --------------------------------------------------------------------------- #2: the one-stop unit of the forms


@pytest.fixture
def centre(runtime, tmp_path):
    """The district's one-stop unit merged into a public-service centre, after it received one dossier."""
    rt = runtime
    before = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant="Trước hợp nhất", now=at(10, 8))
    text = _with_centre()
    _merge(rt.db, tmp_path, with_merge(text, "bp_mot_cua", "trung_tam_hcc"))
    hcc = sv.add_user(rt.db, "hcc", unit="trung_tam_hcc", role="staff", now=at(10, 7), full_name="Lê Thị Hà")
    return rt, before, hcc


OLD_ONE_STOP = "Bộ phận Tiếp nhận và Trả kết quả cấp huyện"


def test_the_forms_of_a_dossier_received_by_the_successor_one_stop_unit_are_headed_by_it(centre):
    rt, before, hcc = centre
    db = rt.db
    after = sv.receive(db, hcc, "1.001612", applicant="Sau hợp nhất", now=at(10, 9))
    receipt = text(render_form(db, "01", after.dossier_code))
    assert CENTRE.upper() in receipt and f"Bộ phận tiếp nhận và trả kết quả: {CENTRE}" in receipt
    assert OLD_ONE_STOP.upper() not in receipt and OLD_ONE_STOP not in receipt
    # a supplement asked for at the counter (never accepted): form 02 is the centre's too
    asked = sv.receive(db, hcc, "1.001612", applicant="Thiếu giấy tờ", now=at(10, 10), decision="supplement",
                       comment="Bổ sung bản sao giấy đăng ký")
    supplement = text(render_form(db, "02", asked.dossier_code))
    assert CENTRE.upper() in supplement and OLD_ONE_STOP.upper() not in supplement
    # the stop notice and the control sheet of the centre's dossier
    sv.stop(db, hcc, after.dossier_code, reason="Theo yêu cầu của cơ quan có thẩm quyền", now=at(10, 11))
    stop = text(render_form(db, "stop", after.dossier_code))
    assert f"{CENTRE} thông báo dừng giải quyết hồ sơ" in stop and OLD_ONE_STOP not in stop
    control = text(render_form(db, "control", after.dossier_code, now=at(10, 11)))
    assert CENTRE.upper() in control and OLD_ONE_STOP.upper() not in control
    # a dossier received before the merge keeps the unit that received it
    old = text(render_form(db, "01", before.dossier_code))
    assert OLD_ONE_STOP.upper() in old and f"Bộ phận tiếp nhận và trả kết quả: {OLD_ONE_STOP}" in old
    assert CENTRE.upper() not in old
    # the refusal at the counter is the centre's
    refused = sv.receive(db, hcc, "1.001612", applicant="Không đủ điều kiện", now=at(10, 12), decision="refuse",
                         comment="Không thuộc thẩm quyền giải quyết")
    refusal = text(render_form(db, "03", refused.dossier_code))
    assert f"Qua xem xét, {CENTRE} thông báo không tiếp nhận" in refusal and OLD_ONE_STOP not in refusal


# --------------------------------------------------------------------------- #3: the control sheet


def test_the_control_sheet_shows_the_handover_on_the_transferred_step(transferred):
    rt, a, b, late, queued, _ = transferred
    control = text(render_form(rt.db, "control", a.dossier_code, now=at(11, 10)))
    row = control[control.index(late.step_name):]
    assert row.startswith(f"{late.step_name} Giao: Phòng Tài chính – Kế hoạch Nhận: Phòng Quản lý đô thị (từ Phòng "
                          f"Tài chính – Kế hoạch, chuyển ngày 11/03/2026) Giao: 08:10 10/03/2026"), row[:300]
    # the steps that were not moved name one unit, as before
    first = control[control.index("Giao: Tổ chức, cá nhân"):]
    assert "chuyển ngày" not in first[:first.index(late.step_name)]
    # the Word version says the same
    import io

    import docx

    doc = docx.Document(io.BytesIO(render_form(rt.db, "control", a.dossier_code, fmt="docx", now=at(11, 10))))
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    assert any("Nhận: Phòng Quản lý đô thị (từ Phòng Tài chính – Kế hoạch, chuyển ngày 11/03/2026)" in c
               for c in cells)


def test_dossier_show_shows_the_handover_on_the_transferred_step(transferred, monkeypatch):
    rt, a, b, late, queued, catalogue = transferred
    cli = cli_in(monkeypatch, rt.url, catalogue)
    out = cli("dossier", "show", a.dossier_code, "--now", "2026-03-11T10:00")
    rows: list[list[str]] = []  # the table's rows, each cell's wrapped lines joined
    for ln in out.splitlines():
        if "│" not in ln:
            continue
        cells = [c.strip() for c in ln.strip().strip("│").split("│")]
        if cells[0]:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
    by_step = {re.search(r"\[(\w+)\]", r[1]).group(1): r for r in rows}
    assert by_step["appraise"][2] == "Phòng QLĐT (từ Phòng TC-KH, chuyển ngày 11/03/2026)", out
    assert by_step["appraise"][5:] == ["10/03/2026 08:10", "–", "11/03/2026 08:10", "1 ngày", "9 giờ 50 phút", "Quá hạn"]
    assert by_step["assign"][2] == "Phòng TC-KH"


# --------------------------------------------------------------------------- #9: tasks of a merged unit


def test_tasks_of_a_merged_unit_say_where_its_work_is_now(transferred, monkeypatch):
    rt, a, b, late, queued, catalogue = transferred
    cli = cli_in(monkeypatch, rt.url, catalogue)
    out = cli("tasks", "--unit", "phong_tckh", "--now", "2026-03-11T10:00")
    assert out.splitlines() == ["Không có công việc nào.",
                                "Phòng TC-KH đã hợp nhất vào Phòng QLĐT: xem quytrinh tasks --unit phong_qldt."]
    out = cli("tasks", "--overdue", "--unit", "phong_tckh", "--now", "2026-03-11T10:00")
    assert out.splitlines()[-1] == ("Phòng TC-KH đã hợp nhất vào Phòng QLĐT: xem quytrinh tasks --overdue "
                                    "--unit phong_qldt.")
    # the successor's list has the work, and no note
    out = cli("tasks", "--unit", "phong_qldt", "--now", "2026-03-11T10:00")
    assert a.dossier_code in out and b.dossier_code in out and "hợp nhất" not in out
    # work opened at the merged unit meanwhile (before the transfer is run again) is listed, with the way to move it
    with rt.db.session() as s:
        item = s.get(WorkItem, queued.id)
        item.unit_id = "phong_tckh"  # as an item opened by a process that had not seen the merge yet
        s.add(item)
        s.commit()
    out = cli("tasks", "--unit", "phong_tckh", "--now", "2026-03-11T10:00")
    assert b.dossier_code in out
    assert out.splitlines()[-1] == ("Phòng TC-KH đã hợp nhất vào Phòng QLĐT: xem quytrinh tasks --unit phong_qldt; "
                                    "chuyển các công việc còn ở Phòng TC-KH bằng quytrinh unit transfer phong_tckh.")


def test_the_waiting_list_of_a_merged_one_stop_unit_says_where_its_dossiers_are(centre, tmp_path, monkeypatch):
    rt, before, hcc = centre
    asked = sv.receive(rt.db, hcc, "1.001612", applicant="Thiếu giấy tờ", now=at(10, 10), decision="supplement",
                       comment="Bổ sung bản sao giấy đăng ký")
    cli = cli_in(monkeypatch, rt.url, tmp_path / "catalogue")
    out = cli("tasks", "--waiting", "--unit", "bp_mot_cua")
    assert out.splitlines() == [
        "Không có hồ sơ nào đang chờ bổ sung hoặc thực hiện nghĩa vụ tài chính.",
        f"Bộ phận Một cửa đã hợp nhất vào {CENTRE}: xem quytrinh tasks --waiting --unit trung_tam_hcc."]
    assert asked.dossier_code in cli("tasks", "--waiting", "--unit", "trung_tam_hcc")
    # a unit that was not merged: no note
    assert cli("tasks", "--unit", "van_phong").splitlines() == ["Không có công việc nào."]


# --------------------------------------------------------------------------- forms queued for a merged unit
#
# A form (produce_form) is produced for the unit that issues it: the unit of the work item it came from
# (03 at the counter, a form a step produces), the unit answerable for the dossier (04, whose head signs
# it), the one-stop unit for form 02 (the applicant's step has no unit) and the stop notice. Queued for a
# unit that was then merged, it goes to the successor, as a notice does.


def _forms(db, dossier_id: int) -> dict[str, OutboxItem]:
    with db.session() as s:
        rows = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == dossier_id,
                                               OutboxItem.kind == "produce_form").order_by(OutboxItem.id)).all()
    return {r.payload["form"]: r for r in rows}


def test_forms_queued_for_the_one_stop_unit_before_its_merge_go_to_its_successor(runtime, tmp_path):
    """A refusal (03) and a supplement request (02) at the counter, queued before bp_mot_cua was merged into
    the centre, and the stop notice of a dossier it received, stopped by the centre after the merge: each is
    produced by the centre. Before, 03 went to the merged unit, and 02 and the stop notice (whose outbox items
    named no unit) to bp_mot_cua whatever the dossier's one-stop unit."""
    rt = runtime
    db = rt.db
    refused = sv.receive(db, rt.actor("motcua"), "1.001612", applicant="Từ chối", now=at(10, 8), decision="refuse",
                         comment="Không thuộc thẩm quyền giải quyết")
    asked = sv.receive(db, rt.actor("motcua"), "1.001612", applicant="Thiếu giấy tờ", now=at(10, 8, 30),
                       decision="supplement", comment="Bổ sung bản sao giấy đăng ký")
    received = sv.receive(db, rt.actor("motcua"), "1.001612", applicant="Dừng", now=at(10, 9))
    queued = [_forms(db, refused.dossier_id)["BM03"], _forms(db, asked.dossier_id)["BM02"]]
    assert [o.payload["unit"] for o in queued] == ["bp_mot_cua", "bp_mot_cua"]
    text = _with_centre()
    _merge(db, tmp_path, with_merge(text, "bp_mot_cua", "trung_tam_hcc"))
    hcc = sv.add_user(db, "hcc", unit="trung_tam_hcc", role="staff", now=at(10, 7), full_name="Lê Thị Hà")
    sv.stop(db, hcc, received.dossier_code, reason="Theo yêu cầu của cơ quan có thẩm quyền", now=at(10, 10))
    notice = _forms(db, received.dossier_id)["stop_notice"]
    assert notice.payload["unit"] == "trung_tam_hcc"  # the action names the one-stop unit (the successor now)
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    ctx = EffectContext(db, at(10, 10, 5), "w", log)
    for row in (*queued, notice):
        done = perform(ctx, OutboxWork.of(row))
        assert (done["channel"], done["to"], done["delivered"]) == ("document", "trung_tam_hcc", True)
    refusal, request, stop = log.records()
    assert (refusal["form"], refusal["addressed_to"]) == ("BM03", "bp_mot_cua")
    assert (request["form"], request["addressed_to"]) == ("BM02", "bp_mot_cua")
    assert stop["form"] == "stop_notice" and "addressed_to" not in stop
    assert refusal["message"] == f"Hồ sơ {refused.dossier_code}: lập Phiếu từ chối tiếp nhận giải quyết hồ sơ (Mẫu 03)."
    # an item queued before its unit was named (form 02 and the stop notice named none): the dossier's one-stop
    # unit, the centre now
    old = OutboxWork(20_000, "produce_form", "old-stop-notice", {
        "form": "stop_notice", "unit": None, "dossier_code": received.dossier_code}, dossier_id=received.dossier_id)
    assert perform(ctx, old)["to"] == "trung_tam_hcc"
    assert log.records()[-1]["addressed_to"] == "bp_mot_cua"


def test_the_apology_form_drafted_for_a_merged_unit_goes_to_its_successor_with_the_heads_notice(runtime, tmp_path):
    """The timers draft an apology (form 04) for the unit answerable for the dossier: the unit of its first open
    item with a head. Phòng TC-KH was merged into Phòng QLĐT and its appraisal not moved yet: the form is
    produced for Phòng QLĐT, as the head's notice of the same draft is delivered to Phòng QLĐT's head."""
    rt = runtime
    db = rt.db
    r, item = _appraisal(rt, "Trễ hẹn", 8)
    _merge(db, tmp_path, with_merge(UNITS_YAML.read_text(encoding="utf-8"), "phong_tckh", "phong_qldt"))
    with db.session() as s:
        from engine.store import Dossier

        due = s.get(Dossier, r.dossier_id).due_at
    done = sv.sweep_timers(db, now=due - dt.timedelta(hours=2), calendar=rt.calendar)
    assert done.apologies == 1
    form = _forms(db, r.dossier_id)["BM04"]
    assert form.payload["unit"] == "phong_tckh"  # where the open work is: the notices say so too
    with db.session() as s:
        head = s.exec(select(OutboxItem).where(OutboxItem.dossier_id == r.dossier_id,
                                               OutboxItem.kind == "notify_unit_head")).all()
    [told] = [o for o in head if o.payload["reason"] == "apology_drafted"]
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    ctx = EffectContext(db, due - dt.timedelta(hours=1), "w", log)
    delivered = perform(ctx, OutboxWork.of(form))
    assert (delivered["to"], delivered["delivered"]) == ("phong_qldt", True)
    assert perform(ctx, OutboxWork.of(told))["to"] == "phong_qldt/head"
    document, notice = log.records()
    assert (document["form"], document["addressed_to"]) == ("BM04", "phong_tckh")
    assert document["message"].startswith(f"Hồ sơ {r.dossier_code}: lập Văn bản xin lỗi và đề nghị gia hạn thời gian "
                                          f"giải quyết (Mẫu 04); đề xuất hẹn lại lúc ")  # the 2025 set's title
    assert notice["addressed_to"] == "phong_tckh"


def test_a_form_of_a_unit_that_was_not_merged_goes_to_it_and_form_02_of_a_commune_to_its_one_stop_unit(
        runtime, tmp_path):
    """No merge: a form goes where it was queued, without addressed_to. A commune's form 02 and stop notice
    are its one-stop unit's (before, bp_mot_cua's: their outbox items named no unit)."""
    rt = runtime
    db = rt.db
    refused = sv.receive(db, rt.actor("motcua"), "1.001612", applicant="Từ chối", now=at(10, 8), decision="refuse",
                         comment="Không thuộc thẩm quyền giải quyết")
    asked = sv.receive(db, rt.actor("xa_motcua"), "1.001193", applicant="Khai sinh", now=at(10, 8, 30),
                       commune="Xã Bát Tràng", decision="supplement", comment="Bổ sung giấy chứng sinh")
    received = sv.receive(db, rt.actor("xa_motcua"), "1.001193", applicant="Khai sinh 2", now=at(10, 9),
                          commune="Xã Bát Tràng")
    sv.stop(db, rt.actor("xa_motcua"), received.dossier_code, reason="Theo yêu cầu của cơ quan có thẩm quyền",
            now=at(10, 10))
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    ctx = EffectContext(db, at(10, 10, 5), "w", log)
    assert [perform(ctx, OutboxWork.of(row))["to"] for row in (
        _forms(db, refused.dossier_id)["BM03"], _forms(db, asked.dossier_id)["BM02"],
        _forms(db, received.dossier_id)["stop_notice"])] == ["bp_mot_cua", "xa_mot_cua", "xa_mot_cua"]
    assert not any("addressed_to" in rec for rec in log.records())
