"""A sweep that meets a transient database error says so in one Vietnamese warning, without a traceback, and
the next sweep does the work; any other error keeps its traceback.

The errors are real: on SQLite another connection holds the write lock (the flows' store waits 0.2 s, not
30 s, for it); on PostgreSQL another connection locks the work items and the sweep's connection, blocked on
the lock, is terminated (a dropped connection), at each attempt; a renamed table is the error that is not
transient.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from engine.store import WorkItem, database_url
from tests.flows.test_flows import MIN, T0, _open_timed_item, _receive, _timer_instants
from workflows import flows
from workflows.flows import drain_outbox, sweep_timers_flow


@contextmanager
def _sqlite_locked(store):
    """Another connection holds the write lock; the store's connections give up after 0.2 s."""
    @event.listens_for(store.engine, "connect")
    def _short_wait(dbapi_conn, record):
        dbapi_conn.execute("PRAGMA busy_timeout=200")

    store.engine.dispose()  # the pooled connections wait 30 s: new ones get the short wait
    holder = sqlite3.connect(store.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        event.remove(store.engine, "connect", _short_wait)
        store.engine.dispose()


@contextmanager
def _pg_connection_dropped(store):
    """Another connection locks ``work_items``; every connection that waits for it is terminated."""
    engine = sa.create_engine(store.url, poolclass=sa.pool.NullPool)
    holder = engine.connect()
    holder.begin()
    holder.exec_driver_sql("LOCK TABLE work_items IN ACCESS EXCLUSIVE MODE")
    holder_pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    stop, killed = threading.Event(), []

    def kill_waiters() -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not stop.wait(0.05):
                waiting = conn.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                                               (holder_pid,)).scalars().all()
                for pid in waiting:
                    conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)

    killer = threading.Thread(target=kill_waiters, daemon=True)
    killer.start()
    try:
        yield killed
    finally:
        stop.set()
        killer.join(10)
        holder.rollback()
        holder.close()
        engine.dispose()


@contextmanager
def transient_database_error(store):
    if store.dialect == "sqlite":
        with _sqlite_locked(store):
            yield
    else:
        with _pg_connection_dropped(store) as killed:
            yield
        assert len(killed) >= 2  # the attempt and its retry


def _overdue_item(rt):
    received = _receive(rt, "Phạm Thị Dung")
    item = _open_timed_item(rt, received.dossier_id)
    _, overdue_at = _timer_instants(rt, item)
    drain_outbox(now=T0 + MIN)
    return item, overdue_at + MIN


def _timeliness(rt, item_id: int) -> str | None:
    with rt.db.session() as s:
        return s.get(WorkItem, item_id).timeliness


def test_a_transient_database_error_is_one_warning_and_the_next_sweep_does_the_work(flow_env, prefect_lines):
    rt = flow_env
    item, at = _overdue_item(rt)
    before = _timeliness(rt, item.id)
    store = flows.get_store()  # opened (and migrated) before the lock
    prefect_lines.records.clear()

    with transient_database_error(store):
        state = sweep_timers_flow(now=at, return_state=True)

    assert state.is_failed(), state  # the run did not sweep, and says why
    assert "lỗi tạm thời của cơ sở dữ liệu" in state.message and "lượt quét sau sẽ làm lại" in state.message
    loud = [r for r in prefect_lines.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in loud] == [state.message]
    assert loud[0].levelno == logging.WARNING and loud[0].getMessage().startswith("Quét thời hạn lúc ")
    assert not [r for r in prefect_lines.records if r.exc_info], "no traceback"
    retry = [r.getMessage() for r in prefect_lines.records if "sẽ thử lại (lần thử lại 1/1)" in r.getMessage()]
    assert len(retry) == 1 and retry[0].startswith("Quét thời hạn lúc ")  # Prefect's retry line, in Vietnamese
    assert not [r for r in prefect_lines.records if r.getMessage().startswith(("Task run failed", "Encountered"))]
    assert _timeliness(rt, item.id) == before

    again = sweep_timers_flow(now=at)  # the next scheduled sweep

    assert again["overdue"] == 1 and _timeliness(rt, item.id) == "overdue"


def test_an_error_that_is_not_transient_keeps_its_traceback(flow_env, prefect_lines):
    rt = flow_env
    _, at = _overdue_item(rt)
    store = flows.get_store()
    prefect_lines.records.clear()
    with store.engine.begin() as conn:  # a table the sweep reads is missing (a botched migration, say)
        conn.exec_driver_sql("ALTER TABLE apologies RENAME TO apologies_away")
    try:
        state = sweep_timers_flow(now=at, return_state=True)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE apologies_away RENAME TO apologies")

    assert state.is_failed()
    tracebacks = [r for r in prefect_lines.records if r.exc_info]
    assert len(tracebacks) == 1 and tracebacks[0].levelno == logging.ERROR
    assert isinstance(tracebacks[0].exc_info[1], sa.exc.DBAPIError)
    assert "apologies" in str(tracebacks[0].exc_info[1])
    assert not [r for r in prefect_lines.records if "lỗi tạm thời" in r.getMessage()]


def test_which_sqlite_errors_are_transient(tmp_path):
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    errors = {}
    for name, sql in (("locked", "BEGIN IMMEDIATE"), ("missing", "SELECT * FROM no_such_table")):
        with pytest.raises(sqlite3.OperationalError) as caught:
            other.execute(sql)
        errors[name] = sa.exc.OperationalError(sql, (), caught.value)
    holder.execute("ROLLBACK")
    assert flows.transient_database_error(errors["locked"])
    assert not flows.transient_database_error(errors["missing"])
    assert not flows.transient_database_error(ValueError("database is locked"))
