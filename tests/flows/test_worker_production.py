"""`quytrinh worker` as an operator meets it in production: start-up checks, outages, its log lines.

Against the session's real Prefect test server and real databases; the
command runs as a real process (``python -c 'quytrinh.cli.main()' worker``).
"""

from __future__ import annotations

import datetime as dt
import http.server
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKER_LOGGER = "quytrinh.worker"


def _api() -> str:
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quytrinh(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the ``quytrinh`` command in its own process, with ``env`` on top of this one's."""
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'quytrinh'; "
                           "from quytrinh.cli import main; main()", *args],
                          cwd=REPO, env=full, capture_output=True, text=True, timeout=timeout)


def _worker_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == WORKER_LOGGER]


@pytest.fixture
def idle_outbox(flow_env):
    """The seeded runtime with nothing due in its outbox (a drain at ``now`` claims nothing)."""
    from workflows.worker import outbox_due

    assert outbox_due(flow_env.db, dt.datetime.now(dt.timezone.utc)) == 0
    return flow_env


# --------------------------------------------------------------------------- F6: one line per outage


def test_prefect_outage_is_logged_once_and_its_end_only_when_prefect_answers(idle_outbox, caplog):
    """Both loops meet the outage; neither flaps, and an idle drain does not claim Prefect is back."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from workflows.worker import Worker, WorkerConfig

    worker = Worker(WorkerConfig(name="outage", sweep_every=3600), store=idle_outbox.db)
    worker.register()
    caplog.set_level(logging.WARNING, logger=WORKER_LOGGER)
    dead = f"http://127.0.0.1:{_free_port()}/api"

    with temporary_settings(updates={PREFECT_API_URL: dead}):
        assert worker.poll_schedule() is False
        assert worker.poll_outbox() is True   # nothing due: it never called Prefect
        assert worker.poll_schedule() is False
        assert worker.poll_outbox() is True
    lines = _worker_lines(caplog)
    assert len(lines) == 1, lines
    assert "Không gọi được máy chủ Prefect" in lines[0] and dead in lines[0] and "ConnectError" in lines[0]
    assert worker.outages.down() == {"prefect"}

    # Prefect answers again; the idle drain still does not reach it, the schedule loop does.
    assert worker.poll_outbox() is True
    assert len(_worker_lines(caplog)) == 1
    assert worker.poll_schedule() is True
    lines = _worker_lines(caplog)
    assert len(lines) == 2 and "Máy chủ Prefect" in lines[1] and "trả lời lại sau" in lines[1], lines
    assert worker.outages.down() == set()


def test_database_outage_is_logged_once_and_due_runs_wait_for_it(idle_outbox, tmp_path, caplog):
    """The database down: one line; the schedule loop reaching Prefect ends nothing; no run fails meanwhile."""
    from prefect.client.orchestration import get_client

    from engine.store import Store
    from workflows.worker import SWEEP_FLOW, Worker, WorkerConfig

    unreachable = Store(f"postgresql://postgres@127.0.0.1:{_free_port()}/quytrinh")  # nothing listens there
    worker = Worker(WorkerConfig(name="db-outage", sweep_every=3600), store=unreachable)
    ids = worker.register()
    with get_client(sync_client=True) as client:
        due = client.create_flow_run_from_deployment(ids[SWEEP_FLOW], tags=["test-db-outage"])
    caplog.set_level(logging.WARNING, logger=WORKER_LOGGER)

    assert worker.poll_outbox() is False
    assert worker.poll_schedule() is False   # a due run, the database down: the run waits
    assert worker.poll_outbox() is False
    lines = _worker_lines(caplog)
    assert len(lines) == 1, lines
    assert "Không dùng được cơ sở dữ liệu" in lines[0] and "OperationalError" in lines[0]
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(due.id).state.is_scheduled()

    # The database is back: the waiting run executes and the end of the outage is logged once.
    worker.store = idle_outbox.db
    outcomes = []
    assert worker.poll_schedule(outcomes.append) is True
    assert due.id in {o.flow_run_id for o in outcomes}
    assert any(o.state == "Completed" for o in outcomes if o.flow == SWEEP_FLOW)
    lines = _worker_lines(caplog)
    assert len(lines) == 2 and "dùng được lại sau" in lines[1], lines
    assert worker.poll_outbox() is True and len(_worker_lines(caplog)) == 2


# --------------------------------------------------------------------------- F7: the database at start-up


def test_worker_with_an_unreachable_database_says_so_in_one_line_and_exits_1(prefect_server):
    url = f"postgresql://postgres@127.0.0.1:{_free_port()}/quytrinh"
    done = _quytrinh("worker", "--once", env={"QUYTRINH_DATABASE_URL": url, "PREFECT_API_URL": _api()})

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Không mở được cơ sở dữ liệu" in lines[0] and "không trả lời" in lines[0]


def test_worker_migrates_a_fresh_database_on_first_use(db_url, tmp_path):
    from engine.store import HEAD_REVISION, Store, current_revision

    fresh = Store(db_url)
    assert current_revision(fresh.engine) is None
    done = _quytrinh("worker", "--once", env={"QUYTRINH_DATABASE_URL": db_url, "PREFECT_API_URL": _api(),
                                              "QUYTRINH_DELIVERIES": str(tmp_path / "deliveries.jsonl")})

    assert done.returncode == 0, done.stderr
    assert current_revision(fresh.engine) == HEAD_REVISION
    assert "Quét thời hạn: 0 sắp đến hạn" in done.stdout
    assert "Traceback" not in done.stderr
    fresh.dispose()


# --------------------------------------------------------------------------- F9: what answers at PREFECT_API_URL


@pytest.fixture
def not_prefect() -> Iterator[str]:
    """An HTTP server that answers every GET with 200 and a page: something, but no Prefect API."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"<html>quytrinh</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_check_api_tells_silence_from_a_server_that_is_not_prefect(not_prefect):
    from workflows.local import API_BAD_URL, API_NOT_PREFECT, API_OK, API_SILENT, api_problem, check_api

    api = _api()
    assert check_api(api).status == API_OK and api_problem(check_api(api)) == ""
    silent = check_api(f"http://127.0.0.1:{_free_port()}/api")
    assert silent.status == API_SILENT
    assert "Không có gì trả lời" in api_problem(silent) and "http://MÁY:4200/api" in api_problem(silent)
    other = check_api(not_prefect)
    assert other.status == API_NOT_PREFECT and "HTTP 200" in other.detail
    assert "không phải API Prefect" in api_problem(other) and "http://MÁY:4200/api" in api_problem(other)
    assert check_api("127.0.0.1:4200/api").status == API_BAD_URL


def test_worker_with_an_api_url_without_api_says_what_to_write(flow_env):
    without = _api().rstrip("/").removesuffix("/api")
    done = _quytrinh("worker", "--once", env={"QUYTRINH_DATABASE_URL": flow_env.url, "PREFECT_API_URL": without})

    assert done.returncode == 1
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "không phải API Prefect" in message and "http://MÁY:4200/api" in message
    assert f"PREFECT_API_URL={without}/api" in message   # the URL that works, found for the operator
    assert "khởi động" not in message                    # not "start it": it runs


# --------------------------------------------------------------------------- F8: one time zone, marked

_LOG_LINES = """
import logging, sys
import workflows.worker as w
from quytrinh.commands.worker import _describe

T = 1773104405.25          # 2026-03-10 01:00:05.250 UTC = 08:00:05.250 in Hanoi
w.use_hanoi_time_in_console_logs(stream=sys.stdout)
for h in logging.getLogger().handlers:     # Prefect's console handler (on stderr)
    if isinstance(h, logging.StreamHandler):
        rec = logging.makeLogRecord({"name": "prefect.task_runs", "levelno": 40, "levelname": "ERROR",
                                     "msg": "Task run failed", "created": T, "msecs": 250.0,
                                     "task_run_name": "sweep"})
        h.handle(rec)
w.log.handle(logging.makeLogRecord({"name": w.log.name, "levelno": 30, "levelname": "WARNING",
                                    "msg": "Máy chủ Prefect trả lời lại", "created": T, "msecs": 250.0}))
print("RUN", _describe(w.RunOutcome(flow_run_id=None, flow=w.SWEEP_FLOW, state="Superseded")))
"""


def test_worker_console_lines_are_all_in_hanoi_time_and_marked(prefect_server):
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(_LOG_LINES)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "TZ": "UTC"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    prefect = [line for line in lines if "Task run failed" in line]
    assert prefect and all(line.startswith("08:00:05.250+07 | ERROR") for line in prefect), lines
    mine = [line for line in lines if "trả lời lại" in line]
    assert mine == ["08:00:05.250+07 | CẢNH BÁO | Máy chủ Prefect trả lời lại"], lines
    run = next(line for line in lines if line.startswith("RUN "))
    assert run[4:].split(" ", 1)[0].endswith("+07"), run
