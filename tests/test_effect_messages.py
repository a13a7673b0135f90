"""What the applicant and the units are told (workflows.effects), written to a real delivery log (no Prefect)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from engine.store import OutboxItem
from workflows.effects import DeliveryLog, EffectContext, OutboxWork, notify_citizen

NOW = dt.datetime(2026, 3, 16, 2, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("flags, why", [
    ({"restart": True, "financial": False}, "thời hạn giải quyết được tính lại từ đầu kể từ khi nhận đủ hồ sơ"),
    ({"restart": False, "financial": False}, "thời gian bổ sung, hoàn thiện hồ sơ không tính vào thời hạn"),
    ({"restart": False, "financial": True}, "thời gian thực hiện nghĩa vụ tài chính không tính vào thời hạn"),
])
def test_a_moved_appointment_is_explained_by_the_procedures_policy(tmp_path, flags, why):
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    work = OutboxWork(1, "notify_citizen", f"k-{flags}", {
        "reason": "appointment_moved", "dossier_code": "1.001612-20260310-000001", **flags,
        "due_before": "2026-03-13T17:00:00+07:00", "due_at": "2026-03-18T10:00:00+07:00"})
    notify_citizen(EffectContext(store=None, now=NOW, worker="t", log=log), work)  # type: ignore[arg-type]
    [record] = log.records()
    assert record["message"].startswith("Hồ sơ 1.001612-20260310-000001: ngày hẹn trả kết quả được tính lại là "
                                        "10:00 ngày 18/03/2026 (trước đây hẹn 17:00 ngày 13/03/2026); ")
    assert why in record["message"]


def test_forms_are_named_by_the_dossiers_own_form_set(runtime, tmp_path):
    """A form delivered by the worker carries the number and title of the set the dossier's forms are printed
    in (Circular 01/2018 before 1/7/2025, Circular 03/2025 after), as its pages and the leader's step table do."""
    from engine import services as sv
    from workflows.effects import perform

    old = sv.receive(runtime.db, runtime.actor("motcua"), "1.001612", applicant="Trước",
                     now=dt.datetime(2025, 6, 10, 2, 0, tzinfo=dt.timezone.utc))
    new = sv.receive(runtime.db, runtime.actor("motcua"), "1.001612", applicant="Sau", now=NOW)
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    ctx = EffectContext(runtime.db, NOW, "t", log)
    said = {}
    for received in (old, new):
        for n, form in enumerate(("BM01", "BM04", "BM05", "BM06", "stop_notice", "KQ")):
            work = OutboxWork(10_000 * received.dossier_id + n, "produce_form", f"k-{received.dossier_id}-{form}",
                              {"form": form, "unit": "bp_mot_cua", "dossier_code": received.dossier_code},
                              dossier_id=received.dossier_id)
            perform(ctx, work)
            said[received.dossier_code, form] = log.records()[-1]["message"].split(": lập ", 1)[1]
    o, n = old.dossier_code, new.dossier_code
    assert said[o, "BM06"] == "Sổ theo dõi hồ sơ (Mẫu 06)."
    assert said[n, "BM06"] == "Sổ theo dõi hồ sơ (Mẫu 07)."
    assert said[o, "BM05"] == "Phiếu kiểm soát quá trình giải quyết hồ sơ (Mẫu 05)."
    assert said[n, "BM05"] == "Phiếu kiểm soát quá trình giải quyết hồ sơ (Mẫu 06)."
    assert said[o, "BM04"] == "Phiếu xin lỗi và hẹn lại ngày trả kết quả (Mẫu 04)."
    assert said[n, "BM04"] == "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết (Mẫu 04)."
    assert said[o, "stop_notice"] == "Thông báo dừng giải quyết hồ sơ."
    assert said[n, "stop_notice"] == "Thông báo dừng giải quyết hồ sơ (Mẫu 05)."
    assert said[n, "BM01"] == "Giấy tiếp nhận hồ sơ và hẹn trả kết quả (Mẫu 01)."
    assert said[n, "KQ"] == "KQ."


def test_a_notice_to_a_commune_unit_names_the_dossiers_commune(runtime, tmp_path):
    """Every commune's justice officers are one unit in units.yaml: the notice of a commune-level dossier says
    whose it is, in its text and as the delivery's ``commune`` (the gateway routes by it); a district dossier's
    notice has neither."""
    from engine import services as sv
    from workflows.effects import perform

    commune = sv.receive(runtime.db, runtime.actor("xa_motcua"), "1.001193", applicant="Bé An", now=NOW,
                         commune="Xã Bát Tràng")
    district = sv.receive(runtime.db, runtime.actor("motcua"), "1.001612", applicant="Hộ kinh doanh", now=NOW)
    log = DeliveryLog(tmp_path / "deliveries.jsonl")
    ctx = EffectContext(runtime.db, NOW, "t", log)
    for received in (commune, district):
        with runtime.db.session() as s:
            row = next(o for o in s.exec(select(OutboxItem).where(OutboxItem.dossier_id == received.dossier_id,
                                                                   OutboxItem.kind == "notify_unit")))
        perform(ctx, OutboxWork.of(row))
    to_commune, to_district = log.records()
    assert to_commune["to"] == "xa_tu_phap" and to_commune["commune"] == "Xã Bát Tràng"
    assert to_commune["message"].startswith(f"Tư pháp – Hộ tịch (Xã Bát Tràng): hồ sơ {commune.dossier_code} "
                                            "chuyển đến bước")
    assert "commune" not in to_district and to_district["message"].startswith("Phòng TC-KH: hồ sơ")
