"""`quytrinh run` and `quytrinh serve` as a script or a service manager uses them: ports, SIGTERM.

Real processes on free loopback ports, in a temporary folder (the run's var/ goes there).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
QUYTRINH = str(Path(sys.executable).parent / "quytrinh")  # the installed command, as staff run it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "QUYTRINH_"))}
    env["QUYTRINH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'var' / 'quytrinh.db'}"
    env["QUYTRINH_DELIVERIES"] = str(tmp_path / "var" / "deliveries.jsonl")
    return env


def _in_folder(folder: Path) -> list[int]:
    """The processes whose working folder is ``folder`` (what a run started there)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == folder:
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":  # a zombie is gone already
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.parametrize("args, message", [
    (("run", "--port", "99999"), "quytrinh run: giá trị không hợp lệ cho '--port': phải từ 65535 trở xuống "
                                 "(xem: quytrinh run --help)"),
    (("run", "--prefect-port", "0"), "quytrinh run: giá trị không hợp lệ cho '--prefect-port': phải từ 1 trở lên "
                                     "(xem: quytrinh run --help)"),
    (("serve", "--port", "70000"), "quytrinh serve: giá trị không hợp lệ cho '--port': phải từ 65535 trở xuống "
                                   "(xem: quytrinh serve --help)"),
])
def test_a_port_that_cannot_exist_is_a_usage_error_before_anything_starts(tmp_path, args, message):
    # was: run validated, drew, opened the database and started Prefect and the worker, then waited 60 s for a
    # web app that had died on "bind(): port must be 0-65535"
    res = subprocess.run([QUYTRINH, *args], cwd=tmp_path, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stderr.strip()) == (2, message), res.stdout + res.stderr
    assert res.stdout == "" and not (tmp_path / "var").exists()


@pytest.mark.sqlite_only
def test_sigterm_while_starting_stops_what_was_started(tmp_path):
    folder = tmp_path.resolve()
    proc = subprocess.Popen(
        [QUYTRINH, "run", "--no-demo", "--out", str(folder / "diagrams"),
         "--port", str(_free_port()), "--prefect-port", str(_free_port())],
        cwd=folder, env=_env(folder), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "Worker: đang chạy" in line:  # Prefect answers, the worker runs, the web app is starting
                break
        assert any("Worker: đang chạy" in line for line in seen), "".join(seen)
        started = _in_folder(folder)
        assert len(started) >= 3, started  # this run, the Prefect server, the worker (and the web app)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _in_folder(folder) and time.monotonic() < deadline:
            time.sleep(0.5)
        # was: the Prefect server and the worker (their own sessions) went on running, holding their ports
        left = _in_folder(folder)
        assert left == [], [Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ") for p in left]
    finally:
        for pid in _in_folder(folder):  # never leave a service behind, even when the test fails
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
