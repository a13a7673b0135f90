"""What an operator sees of the outbox drain in Prefect: which dossiers a flow run handled, what each task
run delivered, and why an item failed and when it is tried again, in Vietnamese and in Hanoi time.

Real Prefect test server (``tests/flows/conftest.py``), real database, real delivery log.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from tests.flows.conftest import block_mailbox
from tests.flows.test_flows import MIN, T0, _outbox, _receive
from workflows.flows import drain_outbox


def _flow_run(flow_run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def _flow_runs_tagged(tag: str) -> list:
    """The flow runs the Prefect UI's Runs page lists when filtered by ``tag`` (its flow-run filter)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))


def test_a_drain_flow_run_is_found_by_the_dossiers_it_handled(flow_env):
    rt = flow_env
    first = _receive(rt, "Nguyễn Văn An")
    second = _receive(rt, "Trần Thị Bình", at=T0 + MIN)

    report = drain_outbox(now=T0 + 2 * MIN, worker="w-tags")

    assert report["done"] == report["claimed"] > 0 and "_dossiers" not in report
    tags = _flow_run(report["flow_run_id"]).tags
    assert f"dossier:{first.dossier_code}" in tags and f"dossier:{second.dossier_code}" in tags
    # The Runs page filtered by a dossier's tag lists the flow run (not only its task runs, on another tab).
    # (Each test's database numbers its dossiers from 1 again: other tests' runs may carry the same code.)
    assert report["flow_run_id"] in [str(r.id) for r in _flow_runs_tagged(f"dossier:{first.dossier_code}")]

    # Without dossier tags (quytrinh worker --no-dossier-tags) the tag sets stay bounded: none on the flow run.
    third = _receive(rt, "Lê Văn Cường", at=T0 + 3 * MIN)
    plain = drain_outbox(now=T0 + 4 * MIN, worker="w-tags", dossier_tags=False)
    assert plain["done"] > 0
    assert not [t for t in _flow_run(plain["flow_run_id"]).tags if t.startswith("dossier:")]
    assert plain["flow_run_id"] not in [str(r.id) for r in _flow_runs_tagged(f"dossier:{third.dossier_code}")]


def test_each_item_done_records_what_was_delivered(flow_env):
    rt = flow_env
    received = _receive(rt, "Phạm Thị Dung")
    drain_outbox(now=T0 + MIN, worker="w-msg")
    done = {i.kind: i.result for i in _outbox(rt, received.dossier_id)}
    receipt = done["issue_receipt"]
    assert receipt["message"].startswith(f"Hồ sơ {received.dossier_code}: ") and "Mẫu 01" in receipt["message"]
    assert done["notify_unit"]["message"].startswith("Phòng TC-KH: hồ sơ ")

    from workflows.effects import OutboxWork
    from workflows.flows import done_text

    row = next(i for i in _outbox(rt, received.dossier_id) if i.kind == "issue_receipt")
    line = done_text(OutboxWork.of(row), receipt)
    assert line == (f"Việc máy {row.id} (issue_receipt), hồ sơ {received.dossier_code}: văn bản đã gửi đến "
                    f"người nộp hồ sơ: {receipt['message']}")
    again = done_text(OutboxWork.of(row), {**receipt, "delivered": False, "duplicate": True})
    assert "đã gửi trước đó, không gửi lại" in again


def test_a_failing_item_is_logged_in_vietnamese_with_its_dossier_and_the_retry_in_hanoi_time(
        flow_env, tmp_path, monkeypatch, prefect_lines):
    rt = flow_env
    block_mailbox(tmp_path, monkeypatch)
    received = _receive(rt, "Hoàng Văn Em")

    first = drain_outbox(now=T0 + MIN, worker="w-fail", task_retries=0, max_attempts=2)

    assert first["retry_later"] == first["claimed"] > 0
    ours = [r for r in prefect_lines.records if r.name == "prefect.flow_runs" and r.levelno == logging.WARNING
            and received.dossier_code in r.getMessage()]
    assert len(ours) == first["claimed"], [r.getMessage() for r in prefect_lines.records]
    retry = (T0 + MIN + dt.timedelta(minutes=1)).astimezone(dt.timezone(dt.timedelta(hours=7)))
    for record in ours:
        text = record.getMessage()
        assert re.match(rf"Việc máy \d+ \(\w+, hồ sơ {re.escape(received.dossier_code)}\) thất bại \(lần 1\): "
                        rf"EffectError: cannot write the delivery log ", text), text
        assert text.endswith(f"; sẽ thử lại từ {retry:%H:%M:%S} ngày {retry:%d/%m/%Y} (+07).") and "+00:00" not in text

    prefect_lines.records.clear()
    second = drain_outbox(now=T0 + 10 * MIN, worker="w-fail", task_retries=0, max_attempts=2)
    assert second["failed"] == second["claimed"] == first["claimed"]
    gave_up = [r.getMessage() for r in prefect_lines.records if r.name == "prefect.flow_runs"
               and r.levelno == logging.ERROR and received.dossier_code in r.getMessage()]
    assert len(gave_up) == second["failed"]
    assert all("đã thử 2 lần: đã dừng thử, việc được giữ ở trạng thái failed trong bảng outbox" in t for t in gave_up)


def test_a_sweep_that_changed_something_says_it_in_vietnamese_in_hanoi_time(flow_env, prefect_lines):
    from tests.flows.test_flows import _open_timed_item, _timer_instants
    from workflows.flows import sweep_timers_flow

    rt = flow_env
    received = _receive(rt, "Đỗ Văn Giang")
    item = _open_timed_item(rt, received.dossier_id)
    _, overdue_at = _timer_instants(rt, item)
    task_logger = logging.getLogger("prefect.task_runs")
    level = task_logger.level
    task_logger.setLevel(logging.INFO)  # the tests run Prefect at WARNING; the worker at INFO
    try:
        at = overdue_at + dt.timedelta(seconds=30)
        out = sweep_timers_flow(now=at)
    finally:
        task_logger.setLevel(level)
    assert out["overdue"] == 1
    lines = [r.getMessage() for r in prefect_lines.records if r.name == "prefect.task_runs"
             and r.getMessage().startswith("Quét thời hạn lúc ")]
    local = at.astimezone(dt.timezone(dt.timedelta(hours=7)))
    assert len(lines) == 1 and lines[0].startswith(
        f"Quét thời hạn lúc {local:%H:%M:%S} ngày {local:%d/%m/%Y} (+07): ")
    assert "1 quá hạn" in lines[0] and "thông báo cho lãnh đạo đơn vị" in lines[0] and "{" not in lines[0]


def test_an_operator_puts_the_failed_items_of_a_dossier_back_once_the_cause_is_mended(
        flow_env, tmp_path, monkeypatch, prefect_lines):
    from engine.store import dump
    from workflows.effects import DeliveryLog

    rt = flow_env
    mailbox = tmp_path / "mailbox"
    mailbox.write_text("a file where the mailbox folder should be\n")
    monkeypatch.setenv("QUYTRINH_DELIVERIES", str(mailbox / "deliveries.jsonl"))
    one = _receive(rt, "Vũ Thị Hạnh")
    other = _receive(rt, "Ngô Văn Khoa", at=T0 + MIN)
    gave_up = drain_outbox(now=T0 + 2 * MIN, worker="w-op", task_retries=0, max_attempts=1)
    assert gave_up["failed"] == gave_up["claimed"] > 0
    assert {i.state for i in _outbox(rt)} == {"failed"}

    # A dossier that does not exist: the run fails, naming it, and nothing is put back.
    before = dump(rt.db)
    from prefect.states import State

    state = drain_outbox(now=T0 + 3 * MIN, worker="w-op", retry_failed=True, dossier="khong-co",
                         return_state=True)
    assert isinstance(state, State) and state.is_failed()
    assert any("Không có hồ sơ khong-co" in r.getMessage() for r in prefect_lines.records)
    assert dump(rt.db) == before

    mailbox.unlink()
    mailbox.mkdir()  # the cause is mended
    fixed = drain_outbox(now=T0 + 4 * MIN, worker="w-op", retry_failed=True, dossier=one.dossier_code)
    mine = _outbox(rt, one.dossier_id)
    assert fixed["requeued"] == len(mine) == fixed["done"]
    assert {i.state for i in mine} == {"done"} and all(i.attempts == 1 for i in mine)
    assert {i.state for i in _outbox(rt, other.dossier_id)} == {"failed"}  # another dossier's: left alone
    delivered = DeliveryLog(mailbox / "deliveries.jsonl").records()
    assert {r["dossier"] for r in delivered} == {one.dossier_code}
    assert any(f"Đã đưa lại {len(mine)} việc máy thất bại của hồ sơ {one.dossier_code} vào hàng đợi" in r.getMessage()
               for r in prefect_lines.records)

    everyone = drain_outbox(now=T0 + 5 * MIN, worker="w-op", retry_failed=True)
    assert everyone["requeued"] == everyone["done"] == len(_outbox(rt, other.dossier_id))
    assert {i.state for i in _outbox(rt)} == {"done"}
    assert drain_outbox(now=T0 + 6 * MIN, worker="w-op", retry_failed=True)["requeued"] == 0


def test_runs_are_named_by_what_they_do_and_when_in_hanoi_time_also_when_the_worker_runs_them(flow_env):
    """The Prefect UI's run list reads like the worker's log (its lines are stamped in Hanoi time too)."""
    from workflows.flows import sweep_timers_flow
    from workflows.worker import DRAIN_FLOW, SWEEP_FLOW, Worker, WorkerConfig

    name = re.compile(r"(hàng đợi việc máy|quét thời hạn) (\d\d:\d\d:\d\d) (\d\d\.\d\d\.\d{4})")
    hanoi = dt.timezone(dt.timedelta(hours=7))

    def started(flow_run_id) -> tuple[str, dt.datetime]:
        run = _flow_run(flow_run_id)
        m = name.fullmatch(run.name)
        assert m, run.name
        return m[1], dt.datetime.strptime(f"{m[2]} {m[3]}", "%H:%M:%S %d.%m.%Y").replace(tzinfo=hanoi)

    _receive(flow_env, "Lý Thị Mai")
    before = dt.datetime.now(hanoi).replace(microsecond=0)
    drained = drain_outbox(now=T0 + MIN, worker="w-names")
    what, at = started(drained["flow_run_id"])
    assert what == "hàng đợi việc máy" and before <= at <= dt.datetime.now(hanoi)

    w = Worker(WorkerConfig(name="w-names", sweep_every=3600), store=flow_env.db)
    w.register()
    _receive(flow_env, "Tạ Văn Nam", at=T0 + 2 * MIN)
    outcome = w.drain_now()  # a deployment run, created and executed as the worker does
    assert outcome.flow == DRAIN_FLOW and outcome.state == "Completed"
    assert started(outcome.flow_run_id)[0] == "hàng đợi việc máy"
    swept = w.execute(w._create_run(SWEEP_FLOW, tags=["quytrinh", "once"]))
    assert swept.state == "Completed" and started(swept.flow_run_id)[0] == "quét thời hạn"
    assert sweep_timers_flow(now=T0 + 3 * MIN)["checked"] >= 1


def test_a_superseded_sweep_run_names_the_run_that_did_its_work_by_id_in_vietnamese(flow_env):
    """The newest run is renamed when it starts: the superseded ones point at it by id, which stays."""
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from workflows.worker import SWEEP_FLOW, Worker, WorkerConfig

    now = dt.datetime.now(dt.timezone.utc)
    w = Worker(WorkerConfig(name="w-superseded", sweep_every=3600), store=flow_env.db)
    ids = w.register()
    with get_client(sync_client=True) as client:
        late = [client.create_flow_run_from_deployment(
            ids[SWEEP_FLOW], state=Scheduled(scheduled_time=now - dt.timedelta(minutes=m))) for m in (4, 2)]
    outcomes = [o for o in w.run_due() if o.flow == SWEEP_FLOW]
    ran = next(o for o in outcomes if o.state == "Completed")
    with get_client(sync_client=True) as client:
        old = client.read_flow_run(late[0].id)
        newest = client.read_flow_run(ran.flow_run_id)
    assert old.state.name == "Superseded"
    assert old.state.message == (f"Được gộp vào lượt mới nhất (id {ran.flow_run_id}): một lượt tính từ các mốc đã "
                                 f"lưu và làm bù mọi lượt đã lỡ.")
    assert newest.name.startswith("quét thời hạn ")
