"""Fixtures of the Prefect flow tests: ONE Prefect test server for the whole session.

``prefect_test_harness()`` starts a real Prefect server (a subprocess on a
temporary SQLite database, ~8 s) once; every flow test runs against it.
``PREFECT_HOME`` is a temporary folder, Prefect logs at WARNING and does not
send logs to the API, heartbeats are off (in-process synchronous flows would
otherwise wait ~1 s each at exit). These are set before Prefect is imported.

The engine database is the shared ``db_url``/``runtime`` fixtures of
``tests/conftest.py`` (SQLite, or a PostgreSQL schema when
``$QUYTRINH_TEST_DATABASE_URL`` is set); :func:`flow_env` points the flows at
it through ``$QUYTRINH_DATABASE_URL`` and gives each test its own delivery log.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

_PREFECT_ENV = {
    "PREFECT_HOME": tempfile.mkdtemp(prefix="quytrinh-prefect-home-"),
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}
_SAVED_ENV = {key: os.environ.get(key) for key in [*_PREFECT_ENV, "PREFECT_API_URL"]}
os.environ.update(_PREFECT_ENV)
os.environ.pop("PREFECT_API_URL", None)  # never a real server from the developer's shell
if "prefect.context" in sys.modules:  # another test module imported Prefect first
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()

import workflows  # noqa: E402,F401  (the project's defaults for everything else)


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    """The session's Prefect test server (started once), heartbeats off."""
    from prefect.testing.utilities import prefect_test_harness

    from workflows.settings import disable_heartbeats

    try:
        with prefect_test_harness(server_startup_timeout=90):
            with disable_heartbeats():
                yield
    finally:
        for key, value in _SAVED_ENV.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(_PREFECT_ENV["PREFECT_HOME"], ignore_errors=True)


@pytest.fixture
def flow_env(runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The seeded ``runtime`` database, with the flows pointed at it and a fresh delivery log.

    Yields the runtime, with ``deliveries`` (the log's path) set on it.
    """
    from workflows import flows

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    runtime.deliveries = tmp_path / "deliveries.jsonl"
    monkeypatch.setenv("QUYTRINH_DELIVERIES", str(runtime.deliveries))
    try:
        yield runtime
    finally:
        flows.close_stores()


class PrefectLines(logging.Handler):
    """The records of Prefect's flow-run and task-run loggers (what the Prefect UI and the worker's console show)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, dossier_code: str) -> list[logging.LogRecord]:
        return [r for r in self.records if dossier_code in r.getMessage()]


@pytest.fixture
def prefect_lines() -> Iterator[PrefectLines]:
    """Every record of Prefect's flow-run and task-run loggers, INFO included (the tests run Prefect at WARNING;
    the worker at INFO, its console at WARNING)."""
    records = PrefectLines()
    loggers = [logging.getLogger("prefect.flow_runs"), logging.getLogger("prefect.task_runs")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(records)
        lg.setLevel(logging.INFO)
    try:
        yield records
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(records)
            lg.setLevel(level)


def block_mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every delivery fail as a transient error would: a file stands where the mailbox's folder should be."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the mailbox folder should be\n")
    monkeypatch.setenv("QUYTRINH_DELIVERIES", str(blocker / "deliveries.jsonl"))
