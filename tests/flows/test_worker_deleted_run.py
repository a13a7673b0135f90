"""A flow run deleted in Prefect between the worker fetching it and claiming it.

An operator (or a retention job) deletes a due run in the Prefect UI just after
the worker read the due runs: claiming it answers 404. That is a race, not an
error: one short line, no traceback, no outage, and the worker carries on.

Against the session's real Prefect test server: the run is fetched as the
worker's schedule loop fetches it, deleted through the Prefect client, then
handed to the worker.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from engine.store import WorkItem
from tests.flows.test_worker_missing_deployment import WORKER_LOGGER, _client, _overdue_item


@pytest.fixture
def worker(flow_env):
    """A worker on the test database, registered; its sweep schedule hourly (no run comes due by itself)."""
    from workflows.worker import Worker, WorkerConfig

    w = Worker(WorkerConfig(name="deleted-run", sweep_every=3600), store=flow_env.db)
    w.register()
    return w


def _due_sweep_run(worker):
    """A due run of the sweep deployment, as the schedule loop fetches it."""
    from prefect.states import Scheduled

    from workflows.worker import SWEEP_FLOW

    now = dt.datetime.now(dt.timezone.utc)
    with _client() as client:
        created = client.create_flow_run_from_deployment(
            worker.deployment_ids[SWEEP_FLOW], state=Scheduled(scheduled_time=now - dt.timedelta(minutes=1)))
        due = client.get_scheduled_flow_runs_for_deployments(
            deployment_ids=[worker.deployment_ids[SWEEP_FLOW]], scheduled_before=now)
    [fetched] = [fr for fr in due if fr.id == created.id]
    return fetched


def test_a_run_deleted_before_the_worker_claims_it_is_skipped_in_one_line(flow_env, worker, caplog):
    from prefect.exceptions import ObjectNotFound

    from workflows.worker import SWEEP_FLOW

    rt = flow_env
    item = _overdue_item(rt)
    fetched = _due_sweep_run(worker)
    with _client() as client:
        client.delete_flow_run(fetched.id)
        with pytest.raises(ObjectNotFound):
            client.read_flow_run(fetched.id)
    caplog.set_level(logging.DEBUG, logger=WORKER_LOGGER)

    assert worker.execute(fetched) is None

    records = [r for r in caplog.records if r.name == WORKER_LOGGER]
    assert len(records) == 1, [r.getMessage() for r in records]
    [line] = records
    assert line.levelno == logging.INFO and line.exc_info is None and "\n" not in line.getMessage()
    assert line.getMessage() == (f"Lượt quét thời hạn {fetched.name} đã bị xóa trên máy chủ Prefect trước khi "
                                 f"worker nhận; bỏ qua.")
    assert worker.outages.down() == set()
    with rt.db.session() as s:
        assert s.get(WorkItem, item.id).timeliness != "overdue"  # nothing ran

    # The next turn goes on as usual: a due run is executed, and nothing more is said.
    again = _due_sweep_run(worker)
    outcomes = []
    assert worker.poll_schedule(outcomes.append) is True
    assert [(o.flow_run_id, o.state) for o in outcomes if o.flow == SWEEP_FLOW] == [(again.id, "Completed")]
    with rt.db.session() as s:
        assert s.get(WorkItem, item.id).timeliness == "overdue"
    assert [r for r in caplog.records if r.name == WORKER_LOGGER and r.levelno >= logging.WARNING] == []
    assert worker.outages.down() == set()
