"""workflows.local: the embedded Prefect server helper, against real servers and processes.

Starting a full server takes ~15 s, which the benchmark does (bench/engine.py);
here: reusing the session's running server, and a server process that cannot
start (its log tail is in the error).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from workflows.local import PrefectServerError, health_ok, start_local_server


def _harness_api() -> str:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    assert url, "the session's Prefect test server sets the API URL"
    return str(url)


def _host_port(api_url: str) -> tuple[str, int]:
    hostport = api_url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def test_a_running_server_is_reused_and_left_alone(tmp_path):
    api = _harness_api()
    host, port = _host_port(api)
    assert health_ok(api)

    server = start_local_server(tmp_path / "home", host=host, port=port)

    assert server.api_url == f"http://{host}:{port}/api" and not server.owned
    assert server.client_env() == {"PREFECT_API_URL": server.api_url}
    server.stop()  # not ours: nothing happens
    assert health_ok(api)
    with pytest.raises(PrefectServerError, match="already answers"):
        start_local_server(tmp_path / "home", host=host, port=port, reuse=False)


def test_a_server_that_cannot_start_fails_with_the_end_of_its_log(tmp_path):
    # 203.0.113.1 (TEST-NET-3) is no address of this machine: the server cannot bind it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert not health_ok(f"http://203.0.113.1:{port}/api", timeout=0.2)

    with pytest.raises(PrefectServerError) as err:
        start_local_server(tmp_path / "home", host="203.0.113.1", port=port, timeout=90)

    message = str(err.value)
    assert "exited with code" in message and str(tmp_path / "home" / "server.log") in message
    assert (tmp_path / "home" / "server.log").read_text().strip()  # the log is kept for the operator


def test_ctrl_c_while_the_server_starts_stops_it(tmp_path):
    """Ctrl-C while start_local_server waits for the new server to answer stops that server (it runs in a
    session of its own: nothing else would, and it went on holding its port)."""
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = (
        "import os, signal, threading\n"
        "from workflows.local import start_local_server\n"
        # a job started in the background (make test runs a leg so) inherits SIGINT ignored: Ctrl-C, as at a terminal
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
        "try:\n"
        f"    server = start_local_server({str(tmp_path / 'home')!r}, host='127.0.0.1', port={port}, timeout=120)\n"
        "    print('started')\n"
        "    server.stop()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert child.stdout.strip() == "interrupted", (child.stdout, child.stderr[-2000:])
    def server_processes() -> list[str]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes().split(b"\0")
            except OSError:  # ended meanwhile
                continue
            if b"server" in args and b"start" in args and str(port).encode() in args:
                found.append(cmdline.parent.name)
        return found

    deadline = time.monotonic() + 10
    while server_processes():
        assert time.monotonic() < deadline, "the Prefect server the interrupted start launched is still running"
        time.sleep(0.2)
    assert not health_ok(f"http://127.0.0.1:{port}/api", timeout=0.5)
