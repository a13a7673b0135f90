"""The only worker never reports its own drain run as taken by "another worker".

``drain_now`` creates a run of the drain deployment ("woken") and executes it at once. Until it claims
the run, the run is *scheduled* and due, so the same worker's schedule loop (``run_due``) used to fetch it
as well: one of the two loops then lost the claim and the worker logged "worker khác đã nhận lượt này"
with no other worker anywhere (fresh-machine audit, finding 5). The schedule loop now leaves a fresh
woken run to the worker executing it; a woken run left scheduled (its worker died before claiming it)
is due like any other after ``WOKEN_GRACE``.

Against the session's real Prefect test server: the woken run is created as ``drain_now`` creates it,
and the schedule loop turns before the drain claims it (the interleaving the two loops produced).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.flows.test_flows import _outbox, _receive
from tests.flows.test_worker_missing_deployment import _client


@pytest.fixture
def worker(flow_env):
    """A worker on the test database, registered; its sweep schedule hourly (no sweep run comes due)."""
    from workflows.worker import Worker, WorkerConfig

    w = Worker(WorkerConfig(name="woken-run", sweep_every=3600), store=flow_env.db)
    w.register()
    return w


def _woken(worker):
    """A drain run created as :meth:`Worker.drain_now` creates it, not claimed yet."""
    from workflows.worker import DRAIN_FLOW

    return worker._create_run(DRAIN_FLOW, tags=["quytrinh", "woken"],
                              parameters={"worker": worker.config.name, "dossier_tags": True})


def test_the_schedule_loop_leaves_the_woken_drain_run_to_the_drain(flow_env, worker):
    rt = flow_env
    received = _receive(rt, "Phan Văn Khoa", at=dt.datetime.now(dt.timezone.utc))
    fr = _woken(worker)

    turned = worker.run_due()  # the schedule loop turns between creating and claiming

    assert fr.id not in {o.flow_run_id for o in turned}
    with _client() as client:
        assert client.read_flow_run(fr.id).state.is_scheduled()
    drained = worker.execute(fr)  # the drain loop claims and runs it: not "taken"
    assert drained is not None and drained.state == "Completed", drained
    assert drained.result["done"] == len(_outbox(rt, received.dossier_id)) >= 1
    assert {o.state for o in _outbox(rt, received.dossier_id)} == {"done"}


def test_a_woken_run_its_worker_never_claimed_is_due_after_the_grace(flow_env, worker):
    from workflows.worker import DRAIN_FLOW, WOKEN_GRACE, utcnow

    fr = _woken(worker)  # its worker died before claiming it
    assert worker.run_due() == []
    later = worker.run_due(now=utcnow() + WOKEN_GRACE + dt.timedelta(seconds=5))
    assert [(o.flow_run_id, o.flow, o.state) for o in later] == [(fr.id, DRAIN_FLOW, "Completed")]
