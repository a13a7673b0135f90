"""`quytrinh worker` when the Prefect server no longer has its deployments.

An operator deletes a deployment (or the sweep's schedule) in the Prefect UI,
or the Prefect server's database is reset behind the same URL: Prefect
answers, but no run of the deployment ever comes due again and creating a
drain run answers 404. The worker registers what is missing again, says so in
one line, and keeps treating a server that does not answer as an outage.

Against the session's real Prefect test server: the deployments are deleted
through the Prefect client between two turns of the worker's loops, or while
``Worker.serve`` runs.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import socket
import threading

import pytest
from sqlmodel import select

from engine import services as sv
from engine.store import OutboxItem, WorkItem
from tests.flows.test_flows import wait_for

WORKER_LOGGER = "quytrinh.worker"
REGISTERED_AGAIN = "worker đã đăng ký lại"


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == WORKER_LOGGER]


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _outbox_states(rt, dossier_id: int) -> set[str]:
    with rt.db.session() as s:
        return {o.state for o in s.exec(select(OutboxItem).where(OutboxItem.dossier_id == dossier_id)).all()}


def _overdue_item(rt) -> WorkItem:
    """A dossier received ten days ago: its open timed work item is overdue for the next sweep."""
    received = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant="Hoàng Văn Em",
                          now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10))
    with rt.db.session() as s:
        item = s.exec(select(WorkItem).where(WorkItem.dossier_id == received.dossier_id,
                                             WorkItem.state == "open", WorkItem.clock.is_not(None))).first()
    assert item is not None and item.timeliness != "overdue"
    return item


def _delete_quytrinh_from_prefect() -> None:
    """What a reset of the Prefect server's database leaves of quytrinh: no flow, no deployment, no run."""
    from prefect.exceptions import ObjectNotFound

    from workflows.worker import DRAIN_FLOW, SWEEP_FLOW

    with _client() as client:
        for name in (DRAIN_FLOW, SWEEP_FLOW):
            try:
                client.delete_flow(client.read_flow_by_name(name).id)
            except ObjectNotFound:
                pass


@pytest.fixture
def worker(flow_env):
    """A worker on the test database, registered; its sweep schedule hourly (no run comes due by itself)."""
    from workflows.worker import Worker, WorkerConfig

    w = Worker(WorkerConfig(name="missing-deployment", sweep_every=3600), store=flow_env.db)
    w.register()
    return w


def test_a_deleted_sweep_deployment_is_registered_again_and_the_sweep_runs_again(flow_env, worker, caplog):
    from prefect.states import Scheduled

    from workflows.worker import SWEEP_FLOW

    rt = flow_env
    item = _overdue_item(rt)
    old = worker.deployment_ids[SWEEP_FLOW]
    caplog.set_level(logging.WARNING, logger=WORKER_LOGGER)
    with _client() as client:
        client.delete_deployment(old)

    assert worker.poll_schedule() is True

    new = worker.deployment_ids[SWEEP_FLOW]
    assert new != old
    with _client() as client:
        dep = client.read_deployment(new)
    assert [s.schedule.interval for s in dep.schedules] == [dt.timedelta(hours=1)]
    lines = _lines(caplog)
    assert len(lines) == 1, lines
    assert REGISTERED_AGAIN in lines[0] and f"không còn deployment {SWEEP_FLOW}/quytrinh" in lines[0]
    assert "Không gọi được máy chủ Prefect" not in lines[0]
    assert worker.outages.down() == set()

    # The timers' sweep runs again: a due run of the registered-again deployment is executed.
    with _client() as client:
        due = client.create_flow_run_from_deployment(
            new, state=Scheduled(scheduled_time=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)))
    outcomes = []
    assert worker.poll_schedule(outcomes.append) is True
    assert [(o.flow_run_id, o.state) for o in outcomes if o.flow == SWEEP_FLOW] == [(due.id, "Completed")]
    with rt.db.session() as s:
        assert s.get(WorkItem, item.id).timeliness == "overdue"
    assert len(_lines(caplog)) == 1   # said once


def test_a_deleted_drain_deployment_is_registered_again_when_the_outbox_wakes_it(flow_env, worker, caplog):
    from workflows.worker import DRAIN_FLOW, SWEEP_FLOW

    rt = flow_env
    old, sweep = worker.deployment_ids[DRAIN_FLOW], worker.deployment_ids[SWEEP_FLOW]
    caplog.set_level(logging.WARNING, logger=WORKER_LOGGER)
    with _client() as client:
        client.delete_deployment(old)
    received = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant="Đỗ Thị Giang",
                          now=dt.datetime.now(dt.timezone.utc))

    outcomes = []
    assert worker.poll_outbox(outcomes.append) is True

    assert [o.state for o in outcomes] == ["Completed"] and outcomes[0].result["done"] >= 1
    assert _outbox_states(rt, received.dossier_id) == {"done"}
    assert worker.deployment_ids[DRAIN_FLOW] != old
    assert worker.deployment_ids[SWEEP_FLOW] == sweep   # what was not missing is left alone
    with _client() as client:
        assert client.read_flow_run(outcomes[0].flow_run_id).deployment_id == worker.deployment_ids[DRAIN_FLOW]
    lines = _lines(caplog)
    assert len(lines) == 1, lines
    assert REGISTERED_AGAIN in lines[0] and f"không còn deployment {DRAIN_FLOW}/quytrinh" in lines[0]
    assert worker.outages.down() == set()
    assert worker.poll_schedule() is True and worker.poll_outbox() is True
    assert len(_lines(caplog)) == 1


def test_a_deleted_sweep_schedule_is_restored_but_a_paused_one_is_left_paused(flow_env, worker, caplog):
    from workflows.worker import DRAIN_FLOW, SWEEP_FLOW

    ids = dict(worker.deployment_ids)
    caplog.set_level(logging.WARNING, logger=WORKER_LOGGER)
    with _client() as client:
        for schedule in client.read_deployment(ids[SWEEP_FLOW]).schedules:
            client.delete_deployment_schedule(ids[SWEEP_FLOW], schedule.id)

    assert worker.poll_schedule() is True

    assert worker.deployment_ids == ids
    with _client() as client:
        schedules = client.read_deployment(ids[SWEEP_FLOW]).schedules
    assert [(s.schedule.interval, s.active) for s in schedules] == [(dt.timedelta(hours=1), True)]
    lines = _lines(caplog)
    assert len(lines) == 1, lines
    assert f"deployment {SWEEP_FLOW}/quytrinh không còn lịch chạy" in lines[0] and REGISTERED_AGAIN in lines[0]
    assert DRAIN_FLOW not in lines[0]

    # An operator who pauses the schedule (or the deployment) means it: the worker leaves it paused.
    with _client() as client:
        client.update_deployment_schedule(ids[SWEEP_FLOW], schedules[0].id, active=False)
        client.pause_deployment(ids[DRAIN_FLOW])
    assert worker.poll_schedule() is True
    with _client() as client:
        assert [s.active for s in client.read_deployment(ids[SWEEP_FLOW]).schedules] == [False]
        assert client.read_deployment(ids[DRAIN_FLOW]).paused is True
    assert worker.deployment_ids == ids and len(_lines(caplog)) == 1


def test_after_a_prefect_reset_one_line_and_both_come_back_but_a_dead_server_is_an_outage(flow_env, worker,
                                                                                         caplog):
    """Everything of quytrinh gone from Prefect: registered again once; a server that is down: one outage line."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from workflows.worker import DRAIN_FLOW, SWEEP_FLOW

    rt = flow_env
    old = dict(worker.deployment_ids)
    caplog.set_level(logging.WARNING, logger=WORKER_LOGGER)
    _delete_quytrinh_from_prefect()
    received = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant="Lê Văn Hùng",
                          now=dt.datetime.now(dt.timezone.utc))

    assert worker.poll_outbox() is True      # the 404 of the drain run: both are registered again
    assert worker.poll_schedule() is True    # nothing left to register
    assert worker.poll_outbox() is True

    assert _outbox_states(rt, received.dossier_id) == {"done"}
    assert set(worker.deployment_ids) == {DRAIN_FLOW, SWEEP_FLOW}
    assert all(worker.deployment_ids[f] != old[f] for f in old)
    with _client() as client:
        for flow_name, dep_id in worker.deployment_ids.items():
            assert client.read_deployment_by_name(f"{flow_name}/quytrinh").id == dep_id
    lines = _lines(caplog)
    assert len(lines) == 1, lines
    assert f"không còn deployment {DRAIN_FLOW}/quytrinh" in lines[0]
    assert f"không còn deployment {SWEEP_FLOW}/quytrinh" in lines[0]

    # A Prefect server that does not answer is still an outage, said once; nothing is registered again.
    ids = dict(worker.deployment_ids)
    dead = f"http://127.0.0.1:{_free_port()}/api"
    again = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant="Phan Thị Lan",
                       now=dt.datetime.now(dt.timezone.utc))
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        assert worker.poll_schedule() is False
        assert worker.poll_outbox() is False
        assert worker.poll_schedule() is False
    lines = _lines(caplog)
    assert len(lines) == 2, lines
    assert "Không gọi được máy chủ Prefect" in lines[1] and dead in lines[1] and "ConnectError" in lines[1]
    assert worker.deployment_ids == ids and worker.outages.down() == {"prefect"}
    assert worker.poll_outbox() is True
    assert _outbox_states(rt, again.dossier_id) == {"done"}
    lines = _lines(caplog)
    assert len(lines) == 3 and "trả lời lại sau" in lines[2], lines
    assert not any(REGISTERED_AGAIN in line for line in lines[1:])


def test_the_serving_worker_registers_deleted_deployments_again_and_drains_through_them(flow_env, worker,
                                                                                       caplog):
    from workflows.worker import DRAIN_FLOW, SWEEP_FLOW

    rt = flow_env
    worker.config.drain_poll, worker.config.schedule_poll = 0.2, 1.0
    old = dict(worker.deployment_ids)
    caplog.set_level(logging.WARNING, logger=WORKER_LOGGER)
    runs, stop = [], threading.Event()
    serving = threading.Thread(target=contextvars.copy_context().run, args=(worker.serve, stop, runs.append))
    serving.start()
    try:
        first = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant="Trần Văn Bình",
                           now=dt.datetime.now(dt.timezone.utc))
        assert wait_for(lambda: _outbox_states(rt, first.dossier_id) == {"done"}, timeout=60)  # it serves
        _delete_quytrinh_from_prefect()

        def registered_again() -> bool:
            with _client() as client:
                try:
                    return all(client.read_deployment_by_name(f"{f}/quytrinh").schedules or f == DRAIN_FLOW
                               for f in (DRAIN_FLOW, SWEEP_FLOW))
                except Exception:  # noqa: BLE001 - not yet
                    return False

        assert wait_for(registered_again, timeout=60)
        received = sv.receive(rt.db, rt.actor("motcua"), "1.001612", applicant="Vũ Thị Mai",
                              now=dt.datetime.now(dt.timezone.utc))
        drained = wait_for(lambda: _outbox_states(rt, received.dossier_id) == {"done"}, timeout=60)
    finally:
        stop.set()
        serving.join(timeout=60)
    assert drained and not serving.is_alive()
    assert all(worker.deployment_ids[f] != old[f] for f in old)
    assert any(r.flow == DRAIN_FLOW and r.state == "Completed" for r in runs)
    # Each deployment said once: in one line, or in two when a loop saw the drain's flow deleted before the
    # test deleted the sweep's (two calls to the Prefect API, a window the machine's load widens).
    lines = _lines(caplog)
    assert 1 <= len(lines) <= 2 and all(REGISTERED_AGAIN in line for line in lines), lines
    for flow_name in (DRAIN_FLOW, SWEEP_FLOW):
        assert sum(f"deployment {flow_name}/quytrinh" in line for line in lines) == 1, lines
    assert worker.outages.down() == set()
