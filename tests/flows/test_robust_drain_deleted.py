"""A drain whose outbox item is deleted while the run is working on it skips that item and goes on.

The item is deleted for real, through another connection, at the moment its task run reports (a handler
on Prefect's task-run logger: the task's result line, or the line saying the task is tried again); the
drain then finds no row to record the outcome on.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from engine.store import OutboxItem
from tests.flows.conftest import block_mailbox
from tests.flows.test_flows import MIN, T0, _outbox, _receive
from workflows.flows import drain_outbox


class DeleteWhenSaid(logging.Handler):
    """Deletes outbox item ``item_id`` (another connection, committed) on the first task-run line about it."""

    def __init__(self, store, item_id: int):
        super().__init__(logging.DEBUG)
        self.store, self.item_id, self.deleted = store, item_id, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.deleted and record.getMessage().startswith(f"Việc máy {self.item_id} ("):
            with self.store.write() as s:
                s.execute(sa.delete(OutboxItem).where(OutboxItem.id == self.item_id))
            self.deleted = True


def _drain_deleting(rt, prefect_lines, item_id: int, **kwargs):
    hook = DeleteWhenSaid(rt.db, item_id)
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(hook)
    try:
        state = drain_outbox(now=T0 + MIN, worker="w1", batch=20, return_state=True, **kwargs)
    finally:
        logger.removeHandler(hook)
    assert hook.deleted
    return state


def test_an_item_deleted_while_its_task_ran_is_skipped_and_the_batch_goes_on(flow_env, prefect_lines):
    rt = flow_env
    dossiers = [_receive(rt, f"Người nộp {i}", at=T0 + i * MIN / 10) for i in range(2)]
    items = _outbox(rt)
    assert len(items) >= 4
    gone = items[0]

    state = _drain_deleting(rt, prefect_lines, gone.id)

    assert state.is_completed(), state
    report = state.result()
    assert (report["claimed"], report["done"], report["deleted"], report["failed"]) == (
        len(items), len(items) - 1, 1, 0)
    assert [e["state"] for e in report["items"] if e["id"] == gone.id] == ["deleted"]
    left = _outbox(rt)
    assert gone.id not in {i.id for i in left} and {i.state for i in left} == {"done"}
    lines = [r for r in prefect_lines.records if r.getMessage().startswith(f"Việc máy {gone.id} (")
             and r.levelno >= logging.WARNING]
    assert len(lines) == 1 and not lines[0].exc_info, [r.getMessage() for r in lines]
    text = lines[0].getMessage()
    assert "đã bị xóa khỏi hàng đợi" in text and dossiers[0].dossier_code in text
    assert not [r for r in prefect_lines.records if r.levelno >= logging.ERROR or r.exc_info]


def test_an_item_deleted_while_its_task_was_retried_is_skipped_and_the_batch_goes_on(flow_env, prefect_lines,
                                                                                   tmp_path, monkeypatch):
    rt = flow_env
    block_mailbox(tmp_path, monkeypatch)  # every delivery fails as a transient error would
    _receive(rt, "Người nộp")
    items = _outbox(rt)
    gone = items[0]

    # the handler deletes the item on the line saying its task run is tried again
    state = _drain_deleting(rt, prefect_lines, gone.id, task_retries=1, retry_delay_seconds=0)

    assert state.is_completed(), state
    report = state.result()
    assert (report["claimed"], report["deleted"], report["retry_later"]) == (len(items), 1, len(items) - 1)
    assert {i.state for i in _outbox(rt)} == {"pending"} and gone.id not in {i.id for i in _outbox(rt)}
    lines = [r for r in prefect_lines.records if r.getMessage().startswith(f"Việc máy {gone.id} (")
             and r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "đã bị xóa khỏi hàng đợi" in lines[0].getMessage() and not lines[0].exc_info
