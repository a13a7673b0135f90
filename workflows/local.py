"""The embedded Prefect server: a local ``prefect server start`` subprocess.

``quytrinh run`` (the embedded default) starts a Prefect server on SQLite
under ``./var/prefect``, the worker and the app. Production does not use this
module: ``PREFECT_API_URL`` points at a Prefect server backed by PostgreSQL.

Example::

    with start_local_server() as server:
        os.environ.update(server.client_env())
        ...  # start the worker and the app
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import QuytrinhError
from workflows.settings import LOCAL_PREFECT_HOME, PREFECT_DEFAULTS


class PrefectServerError(QuytrinhError):
    """The local Prefect server could not be started or did not answer."""


def health_ok(api_url: str, timeout: float = 1.0) -> bool:
    """Whether a Prefect API answers ``/health`` at ``api_url``.

    Parameters
    ----------
    api_url:
        The API root, e.g. ``http://127.0.0.1:4200/api``.
    timeout:
        Seconds to wait for the answer.

    Returns
    -------
    bool
        True when the server answered HTTP 200.
    """
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class LocalServer:
    """A running local Prefect server; :meth:`stop` ends it (also on ``with`` exit)."""

    api_url: str
    home: Path
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def owned(self) -> bool:
        """True when this handle started the server (and so stops it)."""
        return self.process is not None

    def client_env(self) -> dict[str, str]:
        """The environment a worker or app needs to talk to this server."""
        return {"PREFECT_API_URL": self.api_url}

    def running(self) -> bool:
        """Whether the server process is alive (always True for a reused server)."""
        return self.process is None or self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server process (and its children); a reused server is left alone.

        Parameters
        ----------
        timeout:
            Seconds to wait after SIGTERM before sending SIGKILL.
        """
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _prefect_command() -> list[str]:
    script = Path(sys.executable).with_name("prefect")
    if script.exists():
        return [str(script)]
    found = shutil.which("prefect")
    if found:
        return [found]
    return [sys.executable, "-m", "prefect"]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_local_server(
    home: str | os.PathLike | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 4200,
    timeout: float = 60.0,
    reuse: bool = True,
) -> LocalServer:
    """Start ``prefect server start`` as a subprocess and wait until it answers.

    The server keeps its SQLite database and logs under ``home`` (its
    ``PREFECT_HOME``); the project's Prefect defaults
    (:data:`workflows.settings.PREFECT_DEFAULTS`) apply where the environment
    does not set them.

    Parameters
    ----------
    home:
        The server's ``PREFECT_HOME``; ``./var/prefect`` when omitted.
    host, port:
        Where the API listens.
    timeout:
        Seconds to wait for ``/api/health`` to answer.
    reuse:
        When a Prefect server already answers at ``host:port``, return a
        handle to it (whose ``stop()`` does nothing) instead of failing.

    Returns
    -------
    LocalServer
        The handle; call ``stop()`` or use it as a context manager.

    Raises
    ------
    PrefectServerError
        The port is taken by a server we may not reuse, the process exited
        early (the message carries the end of its log), or it did not answer
        within ``timeout``.
    """
    home_path = Path(home if home is not None else LOCAL_PREFECT_HOME).resolve()
    api_url = f"http://{host}:{port}/api"
    log_path = home_path / "server.log"
    if health_ok(api_url):
        if reuse:
            return LocalServer(api_url=api_url, home=home_path, log_path=log_path)
        raise PrefectServerError(
            f"a Prefect server already answers at {api_url}; stop it or choose another port"
        )
    home_path.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for key, value in PREFECT_DEFAULTS.items():
        env.setdefault(key, value)
    env["PREFECT_HOME"] = str(home_path)
    env["PREFECT_SERVER_API_HOST"] = host
    env["PREFECT_SERVER_API_PORT"] = str(port)
    # The server process must not think it is a client of another API.
    env.pop("PREFECT_API_URL", None)
    cmd = [*_prefect_command(), "server", "start", "--host", host, "--port", str(port)]
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends uvicorn too
        )
    except OSError as exc:
        log.close()
        raise PrefectServerError(f"cannot start the Prefect server ({' '.join(cmd)}): {exc}") from None
    log.close()
    server = LocalServer(api_url=api_url, home=home_path, log_path=log_path, process=proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PrefectServerError(
                f"the Prefect server exited with code {proc.returncode} while starting; "
                f"end of {log_path}:\n{_tail(log_path)}"
            )
        if health_ok(api_url, timeout=0.5):
            return server
        time.sleep(0.2)
    server.stop()
    raise PrefectServerError(
        f"the Prefect server did not answer {api_url}/health within {timeout:.0f} s; "
        f"end of {log_path}:\n{_tail(log_path)}"
    )
