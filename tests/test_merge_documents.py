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
from typer.testing import CliRunner

from engine import services as sv
from engine.definition import load_units
from engine.documents import render_form
from engine.store import OutboxItem, WorkItem
from workflows.effects import DeliveryLog, EffectContext, OutboxWork, perform

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent
UNITS_YAML = REPO / "procedures_yaml" / "units.yaml"
CENTRE = "Trung tâm Phục vụ hành chính công huyện"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=HANOI)


@pytest.fixture(autouse=True)
def _fresh_successors():
    """Each test reads the merged units of its own database (the PostgreSQL leg reuses one schema)."""
    sv.forget_unit_successors()
    yield
    sv.forget_unit_successors()


def _with_merge(text: str, unit: str, successor: str) -> str:
    head = f"  - id: {unit}\n"
    start = text.index(head)
    kind = text.index("    kind:", start)
    end = text.index("\n", kind) + 1
    return text[:end] + f"    merged_into: {successor}\n" + text[end:]


def _catalogue(tmp_path: Path, text: str) -> Path:
    """A catalogue folder with ``text`` as its units.yaml and the repository's calendar (what the CLI reads)."""
    folder = tmp_path / "catalogue"
    folder.mkdir(exist_ok=True)
    (folder / "units.yaml").write_text(text, encoding="utf-8")
    (folder / "calendar.yaml").write_text((REPO / "procedures_yaml" / "calendar.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    return folder


def _merge(db, tmp_path: Path, text: str) -> Path:
    folder = _catalogue(tmp_path, text)
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
    catalogue = _merge(db, tmp_path, _with_merge(UNITS_YAML.read_text(encoding="utf-8"), "phong_tckh", "phong_qldt"))
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
