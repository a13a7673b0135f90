"""Gaps in the outbox drain's machine work: an automated step the applicant's withdrawal (or a stop) cancelled
is skipped, not failed; a transient error is one Vietnamese line per attempt, the traceback only when the item
is given up.

Real Prefect test server (``tests/flows/conftest.py``), real database, real delivery log; no mocks.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlmodel import select

from engine import services as sv
from engine.store import WorkItem
from tests.flows.conftest import block_mailbox
from tests.flows.test_flows import _AUTOMATED, MIN, T0, _final_runs, _outbox, _receive
from workflows.flows import drain_outbox

HANOI = dt.timezone(dt.timedelta(hours=7))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _automated_dossier(rt, tmp_path, applicant: str):
    from engine.definition import load_definition

    path = tmp_path / "9.999001-tu-dong.yaml"
    path.write_text(_AUTOMATED, encoding="utf-8")
    sv.publish_definition(rt.db, load_definition(path), now=T0, by="test")
    return _receive(rt, applicant, code="9.999001")


@pytest.mark.parametrize("how", ["withdraw", "stop"])
def test_an_automated_step_cancelled_by_a_withdrawal_or_a_stop_is_skipped_not_failed(flow_env, tmp_path, prefect_lines,
                                                                                     how):
    rt = flow_env
    received = _automated_dossier(rt, tmp_path, "Bùi Thị Lan")
    if how == "withdraw":  # before the worker gets to the automated step: its work item is cancelled
        sv.withdraw(rt.db, rt.actor("motcua"), received.dossier_code, now=T0 + MIN, comment="Đơn rút hồ sơ số 12")
    else:
        sv.stop(rt.db, rt.actor("motcua"), received.dossier_code, now=T0 + MIN,
                reason="Theo yêu cầu của cơ quan có thẩm quyền")

    report = drain_outbox(now=T0 + 2 * MIN, worker="w-skip", max_attempts=5)

    auto = next(e for e in report["items"] if e["kind"] == "run_automated_step")
    reason = "withdrawn" if how == "withdraw" else "stopped"
    assert auto == {"id": auto["id"], "kind": "run_automated_step", "dossier": received.dossier_code,
                    "state": "skipped", "reason": reason}
    assert (report["skipped"], report["failed"], report["retry_later"]) == (1, 0, 0)
    assert all(e["state"] == "done" for e in report["items"] if e is not auto)  # the notice, the form...
    row = next(o for o in _outbox(rt, received.dossier_id) if o.kind == "run_automated_step")
    assert (row.state, row.attempts, row.last_error) == ("skipped", 1, None) and row.completed_at is not None
    with rt.db.session() as s:
        lookup = s.exec(select(WorkItem).where(WorkItem.dossier_id == received.dossier_id,
                                               WorkItem.step_id == "lookup")).one()
    assert lookup.state == "cancelled"  # not completed by the worker
    assert row.result["skipped"] == reason and row.result["work_item"] == lookup.id

    # In Prefect: a Completed task run named Skipped, run once; not a Failed one.
    why = "người nộp đã rút hồ sơ" if how == "withdraw" else "cơ quan giải quyết đã dừng xử lý hồ sơ"
    runs = _final_runs(f"dossier:{received.dossier_code}", report["flow_run_id"], len(report["items"]))
    skipped = [r for r in runs if r.name.startswith("run_automated_step")]
    assert len(skipped) == 1 and skipped[0].state.is_completed() and skipped[0].state.name == "Skipped"
    assert skipped[0].run_count == 1 and skipped[0].state.message == f"Bỏ qua vì {why}."

    # One Vietnamese line says why; nothing at WARNING or above about the dossier.
    said = [r.getMessage() for r in prefect_lines.of(received.dossier_code) if "run_automated_step" in r.getMessage()
            and not r.getMessage().startswith("Finished in state")]
    assert said == [f"Việc máy {row.id} (run_automated_step), hồ sơ {received.dossier_code}: không chạy bước tự "
                    f"động '{lookup.step_name}' vì {why}; công việc của bước đã hủy, việc máy được ghi là bỏ qua "
                    f"(skipped), không phải lỗi, không thử lại."]
    assert [r.getMessage() for r in prefect_lines.records if r.levelno >= logging.WARNING] == []

    # Not an item for an operator: retry_failed puts nothing back, and nothing is claimed again.
    again = drain_outbox(now=T0 + dt.timedelta(days=1), worker="w-skip", retry_failed=True)
    assert (again["requeued"], again["claimed"]) == (0, 0)
    assert next(o for o in _outbox(rt, received.dossier_id) if o.kind == "run_automated_step").state == "skipped"


def test_an_automated_step_with_several_outcomes_cancelled_by_a_withdrawal_is_skipped(flow_env, tmp_path):
    """The payload names no outcome and the step has two: before, 'several outcomes' failed it for good."""
    from engine.definition import load_definition

    rt = flow_env
    text = _AUTOMATED.replace("routes: {done: deliver}", "routes: {done: deliver, rejected: deliver}")
    path = tmp_path / "9.999001-tu-dong.yaml"
    path.write_text(text, encoding="utf-8")
    sv.publish_definition(rt.db, load_definition(path), now=T0, by="test")
    received = _receive(rt, "Lâm Văn Phúc", code="9.999001")
    sv.withdraw(rt.db, rt.actor("motcua"), received.dossier_code, now=T0 + MIN, comment="Đơn rút hồ sơ số 13")

    report = drain_outbox(now=T0 + 2 * MIN, worker="w-skip2")

    auto = next(e for e in report["items"] if e["kind"] == "run_automated_step")
    assert (auto["state"], auto["reason"], report["failed"]) == ("skipped", "withdrawn", 0)


def test_an_effect_that_can_never_succeed_is_failed_at_once_with_one_line_and_its_traceback(flow_env, prefect_lines):
    """An unknown kind (a newer engine's item, drained by an older worker): given up on the first attempt."""
    from engine.store import OutboxItem

    rt = flow_env
    received = _receive(rt, "Đinh Văn Quang")
    drain_outbox(now=T0 + MIN, worker="w-perm")
    with rt.db.write() as s:
        s.add(OutboxItem(kind="send_fax", dossier_id=received.dossier_id, idempotency_key="qa:fax:1",
                         payload={"dossier_code": received.dossier_code, "procedure_code": "1.001612"},
                         available_at=T0 + MIN, created_at=T0 + MIN))
    prefect_lines.records.clear()

    report = drain_outbox(now=T0 + 2 * MIN, worker="w-perm", max_attempts=5)

    assert (report["claimed"], report["failed"]) == (1, 1) and report["items"][0]["retry_at"] is None
    row = next(o for o in _outbox(rt, received.dossier_id) if o.kind == "send_fax")
    assert row.state == "failed" and row.attempts == 1 and "PermanentEffectError" in row.last_error
    runs = _final_runs(f"dossier:{received.dossier_code}", report["flow_run_id"], 1)
    assert len(runs) == 1 and runs[0].state.is_failed() and runs[0].run_count == 1
    loud = [r for r in prefect_lines.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1 and loud[0].levelno == logging.ERROR, [r.getMessage() for r in loud]
    assert loud[0].getMessage().startswith(f"Việc máy {row.id} (send_fax, hồ sơ {received.dossier_code}) thất bại: "
                                           f"PermanentEffectError: outbox item {row.id} has unknown kind")
    assert "lỗi không thể khắc phục bằng cách thử lại: đã dừng thử" in loud[0].getMessage()
    assert loud[0].exc_info is not None and loud[0].exc_info[0].__name__ == "PermanentEffectError"
    trace = logging.Formatter().formatException(loud[0].exc_info)
    assert "Traceback (most recent call last)" in trace and "in perform" in trace


def test_a_transient_error_is_one_vietnamese_line_per_attempt_and_a_traceback_only_when_given_up(
        flow_env, tmp_path, monkeypatch, prefect_lines):
    rt = flow_env
    block_mailbox(tmp_path, monkeypatch)
    received = _receive(rt, "Hồ Thị Quyên")
    n = len(_outbox(rt, received.dossier_id))

    first = drain_outbox(now=T0 + MIN, worker="w-tr", task_retries=1, retry_delay_seconds=1, max_attempts=2)

    assert first["retry_later"] == first["claimed"] == n
    mine = prefect_lines.of(received.dossier_code)
    # No traceback and no English line of Prefect's about the failure, at any level.
    assert [r for r in prefect_lines.records if r.exc_info] == []
    assert [r.getMessage() for r in prefect_lines.records if "Task run failed" in r.getMessage()
            or r.getMessage().startswith("Finished in state Failed")] == []
    # Each item: Prefect's retry inside the run (INFO, for the Prefect UI) ...
    retried = [r for r in mine if "gặp lỗi tạm thời" in r.getMessage()]
    assert len(retried) == n and all(r.levelno == logging.INFO and r.name == "prefect.task_runs" for r in retried)
    for r in retried:
        text = r.getMessage()
        at = dt.datetime.fromtimestamp(r.created, HANOI) + dt.timedelta(seconds=1)
        assert text.startswith("Việc máy ") and f", hồ sơ {received.dossier_code}) gặp lỗi tạm thời: EffectError: " \
            "cannot write the delivery log " in text, text
        assert text.endswith(f"; sẽ thử lại (lần thử lại 1/1) sau 1 giây, lúc {at:%H:%M:%S} ngày {at:%d/%m/%Y} "
                             f"(+07)."), text
    # ... then one warning when the run gives it back to the queue, saying when it is tried again.
    later = [r for r in prefect_lines.records if r.levelno >= logging.WARNING]
    assert len(later) == n and all(r.levelno == logging.WARNING and "thất bại (lần 1)" in r.getMessage()
                                   and "; sẽ thử lại từ " in r.getMessage() for r in later)

    prefect_lines.records.clear()
    second = drain_outbox(now=T0 + 10 * MIN, worker="w-tr", task_retries=0, max_attempts=2)

    assert second["failed"] == second["claimed"] == n
    loud = [r for r in prefect_lines.records if r.levelno >= logging.WARNING]
    assert len(loud) == n, [r.getMessage() for r in loud]
    for r in loud:  # given up: one error line each, with the traceback of the error
        assert r.levelno == logging.ERROR and r.name == "prefect.flow_runs"
        assert "đã thử 2 lần: đã dừng thử, việc được giữ ở trạng thái failed" in r.getMessage()
        assert r.exc_info is not None and r.exc_info[0].__name__ == "EffectError"
        assert "in deliver" in logging.Formatter().formatException(r.exc_info)
    assert [r for r in prefect_lines.records if r.exc_info and r not in loud] == []


# --------------------------------------------------------------------------- tag concurrency limits


def _limit(name: str, slots: int):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        return client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))


def _drop_limit(name: str) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(name)


def test_only_tag_sets_without_a_concurrency_limit_skip_prefects_slot_request(flow_env):
    """The drain reads the server's limits once per batch; a tag set with a limited tag is left to Prefect."""
    from workflows.flows import TagLimits

    limits = TagLimits()
    assert "tag:unit:qa_limited" not in (limits.refresh() or set())
    _limit("tag:unit:qa_limited", 100)
    try:
        assert "tag:unit:qa_limited" in limits.refresh()
        assert limits.seed(["dossier:1.001612-20260310-000001", "procedure:1.001612", "unit:qa_free"]) is True
        assert limits.seed(["dossier:1.001612-20260310-000001", "procedure:1.001612", "unit:qa_limited"]) is False
        assert limits.seed([]) is False
    finally:
        _drop_limit("tag:unit:qa_limited")
    assert limits.refresh() is not None and "tag:unit:qa_limited" not in limits.names


def test_a_drain_with_a_limit_on_a_units_tag_still_runs_every_item_tagged(flow_env):
    rt = flow_env
    received = _receive(rt, "Mai Thị Sen")
    units = {o.payload.get("unit") for o in _outbox(rt, received.dossier_id)}
    limited = sorted(u for u in units if u)[0]
    _limit(f"tag:unit:{limited}", 5)
    try:
        report = drain_outbox(now=T0 + MIN, worker="w-limit")
    finally:
        _drop_limit(f"tag:unit:{limited}")
    assert report["done"] == report["claimed"] == len(_outbox(rt, received.dossier_id)) >= 2
    runs = _final_runs(f"dossier:{received.dossier_code}", report["flow_run_id"], report["done"])
    assert len(runs) == report["done"] and all(r.state.is_completed() for r in runs)
    assert any(f"unit:{limited}" in r.tags for r in runs)


def test_the_line_of_a_skipped_item_says_why_once():
    from workflows.effects import OutboxWork
    from workflows.flows import done_text

    work = OutboxWork(id=7, kind="run_automated_step", idempotency_key="k", payload={"dossier_code": "1.001612-X"})
    head = "Việc máy 7 (run_automated_step), hồ sơ 1.001612-X: không chạy bước tự động 'Tra cứu' vì "
    tail = ", việc máy được ghi là bỏ qua (skipped), không phải lỗi, không thử lại."
    assert done_text(work, {"skipped": "stopped", "step": "Tra cứu"}) == (
        head + "cơ quan giải quyết đã dừng xử lý hồ sơ; công việc của bước đã hủy" + tail)
    # An item closed otherwise (the dossier ended): the reason is not said twice.
    assert done_text(work, {"skipped": "cancelled", "step": "Tra cứu"}) == head + "công việc của bước đã bị hủy" + tail


def test_a_notice_about_a_step_withdrawn_before_it_went_is_skipped_not_sent(flow_env, prefect_lines):
    """The unit is not sent to work that is no longer there: "hồ sơ … chuyển đến bước …" queued at the reception,
    then the applicant withdrew before the worker got to it."""
    from workflows.effects import DeliveryLog, deliveries_path

    rt = flow_env
    received = _receive(rt, "Đinh Thị Hậu")
    notice = next(o for o in _outbox(rt, received.dossier_id) if o.kind == "notify_unit")
    sv.withdraw(rt.db, rt.actor("motcua"), received.dossier_code, now=T0 + MIN, comment="Đơn rút hồ sơ số 14")

    report = drain_outbox(now=T0 + 2 * MIN, worker="w-stale", max_attempts=5)

    entry = next(e for e in report["items"] if e["id"] == notice.id)
    assert entry["state"] == "skipped" and entry["reason"] == "withdrawn"
    assert report["failed"] == 0 and report["skipped"] >= 1
    row = next(o for o in _outbox(rt, received.dossier_id) if o.id == notice.id)
    assert (row.state, row.last_error) == ("skipped", None) and row.result["work_item"] == notice.work_item_id
    # nothing delivered to the unit about the dossier; the applicant's own notices still go
    sent = [r for r in DeliveryLog(deliveries_path()).records() if r.get("dossier") == received.dossier_code]
    assert not [r for r in sent if r.get("channel") == "unit"], sent
    assert [r for r in sent if r.get("channel") == "citizen"], sent
    said = [r.getMessage() for r in prefect_lines.of(received.dossier_code) if f"Việc máy {notice.id} " in r.getMessage()]
    assert said == [f"Việc máy {notice.id} (notify_unit), hồ sơ {received.dossier_code}: không gửi thông báo đơn vị "
                    f"về bước '{row.result['step']}' vì người nộp đã rút hồ sơ; công việc của bước đã hủy, việc máy "
                    f"được ghi là bỏ qua (skipped), không phải lỗi, không thử lại."]


# --------------------------------------------------------------------------- leases of a long batch


def test_a_drain_renews_its_batchs_leases_so_no_other_drain_claims_what_it_has_not_reached(flow_env, tmp_path,
                                                                                           monkeypatch):
    """Each item of the batch takes over a second (a transient error, retried once after 1 s) and the lease is
    3 s: without renewal the items not reached yet were claimed by another drain meanwhile (their attempts
    counted twice, "lost lease" warnings). Another worker tries to claim while the drain is past the batch's
    first lease; it gets nothing, and each item is tried once, by this drain."""
    import threading

    from engine.store import OutboxItem

    rt = flow_env
    block_mailbox(tmp_path, monkeypatch)
    received = _receive(rt, "Lã Thị Xuân")
    second = _receive(rt, "Lã Văn Đông")
    n = len(_outbox(rt))
    assert n >= 4

    taken: list = []
    stop = threading.Event()

    def other_drain() -> None:
        import time as _time

        first_until = None
        while not stop.is_set():  # the batch is claimed: note its first lease, then claim once it is past
            with rt.db.session() as s:
                leases = [o.lease_until for o in s.exec(select(OutboxItem).where(
                    OutboxItem.state == "claimed")).all()]
            if first_until is None and leases:
                first_until = min(leases)
            if first_until is not None and _now() > first_until + dt.timedelta(milliseconds=300):
                taken.extend(sv.claim_outbox(rt.db, worker="w-other", limit=50, now=_now()))
                return
            _time.sleep(0.05)

    thread = threading.Thread(target=other_drain)
    thread.start()
    try:
        report = drain_outbox(worker="w-lease", lease_seconds=3, task_retries=1, retry_delay_seconds=1,
                              max_attempts=5)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert report["claimed"] == n and report["retry_later"] == n and report["lost_lease"] == 0, report
    assert taken == []  # the other drain found every item still held
    assert [o.attempts for o in _outbox(rt)] == [1] * n and {o.dossier_id for o in _outbox(rt)} == {
        received.dossier_id, second.dossier_id}


def test_a_renewal_keeps_what_the_worker_holds_and_not_what_another_took(flow_env):
    rt = flow_env
    _receive(rt, "Lương Văn Tài")
    _receive(rt, "Lương Thị Mơ")
    ids = [o.id for o in _outbox(rt)]
    assert len(ids) >= 3
    rows = sv.claim_outbox(rt.db, worker="w-a", limit=len(ids), now=T0, lease=MIN)
    assert [r.id for r in rows] == ids
    # past the lease: another worker takes the oldest item; the others, expired, are still w-a's until taken
    assert [r.id for r in sv.claim_outbox(rt.db, worker="w-b", limit=1, now=T0 + 2 * MIN, lease=MIN)] == ids[:1]
    assert sv.renew_outbox_lease(rt.db, ids, worker="w-a", now=T0 + 2 * MIN, lease=MIN) == ids[1:]
    assert sv.claim_outbox(rt.db, worker="w-b", limit=10, now=T0 + 2 * MIN + dt.timedelta(seconds=30),
                           lease=MIN) == []  # renewed: not claimable
    assert sv.renew_outbox_lease(rt.db, [], worker="w-a", now=T0, lease=MIN) == []
