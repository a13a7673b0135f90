"""What the applicant is told (workflows.effects.notify_citizen), written to a real delivery log (no Prefect)."""

from __future__ import annotations

import datetime as dt

import pytest

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
