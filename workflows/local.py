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


#: The form a Prefect API URL takes, for the messages.
API_URL_FORM = "http://MÁY:4200/api"

#: What :func:`check_api` found.
API_OK, API_SILENT, API_NOT_PREFECT, API_BAD_URL = "ok", "silent", "not-prefect", "bad-url"


@dataclass(frozen=True)
class ApiCheck:
    """What answered at a Prefect API URL.

    ``status`` is :data:`API_OK` (a Prefect API answered ``/health``),
    :data:`API_SILENT` (nothing answered: refused, timed out, unknown host),
    :data:`API_NOT_PREFECT` (an HTTP server answered, but not as a Prefect API:
    an error status, or not Prefect's ``true``) or :data:`API_BAD_URL` (not an
    http(s) URL). ``detail`` says what was seen, for the operator (Vietnamese, or the
    network library's own words when nothing answered).
    """

    url: str
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == API_OK


def check_api(api_url: str, timeout: float = 1.0) -> ApiCheck:
    """Ask ``{api_url}/health`` whether a Prefect API answers there.

    Parameters
    ----------
    api_url:
        The API root, e.g. ``http://127.0.0.1:4200/api``.
    timeout:
        Seconds to wait for the answer.

    Returns
    -------
    ApiCheck
        Tells "nothing answers" from "something answered that is not a Prefect API".
    """
    import json
    import urllib.parse

    parsed = urllib.parse.urlsplit(api_url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return ApiCheck(api_url, API_BAD_URL, "không phải địa chỉ http(s)")
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as resp:
            body = resp.read(200)
            status = resp.status
    except urllib.error.HTTPError as exc:  # an HTTP server answered, with an error status
        return ApiCheck(api_url, API_NOT_PREFECT, f"/health trả về HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return ApiCheck(api_url, API_SILENT, str(reason) or type(reason).__name__)
    except ValueError as exc:  # http.client.InvalidURL and the like
        return ApiCheck(api_url, API_BAD_URL, str(exc))
    try:
        prefect = status == 200 and json.loads(body) is True
    except ValueError:
        prefect = False
    if not prefect:
        shown = body[:60].decode("utf-8", "replace").strip() or "(rỗng)"
        return ApiCheck(api_url, API_NOT_PREFECT, f"/health trả về HTTP {status} với {shown!r}, không phải true như Prefect")
    return ApiCheck(api_url, API_OK)


def api_problem(check: ApiCheck, variable: str = "PREFECT_API_URL") -> str:
    """What is wrong with the Prefect API URL and what to do, one Vietnamese line ("" when it is fine).

    When the URL lacks ``/api`` and the same server answers with it, the
    line says so and gives the URL to use.
    """
    url = check.url
    if check.ok:
        return ""
    if check.status == API_BAD_URL:
        return (f"{variable}={url} không phải địa chỉ của một API Prefect; hãy viết dạng {API_URL_FORM}.")
    if check.status == API_SILENT:
        return (f"Không có gì trả lời ở {url} ({check.detail}): máy chủ Prefect chưa chạy, hoặc sai máy, cổng; "
                f"hãy khởi động nó hoặc sửa {variable} (dạng {API_URL_FORM}).")
    hint = ""
    if not url.rstrip("/").endswith("/api"):
        fixed = f"{url.rstrip('/')}/api"
        if check_api(fixed, timeout=2).ok:
            hint = f" Ở {fixed} có API Prefect: hãy đặt {variable}={fixed}."
    return (f"Có máy chủ trả lời ở {url} nhưng đó không phải API Prefect ({check.detail}); {variable} phải có "
            f"dạng {API_URL_FORM} (có /api ở cuối).{hint}")


def health_ok(api_url: str, timeout: float = 1.0) -> bool:
    """Whether a Prefect API answers ``/health`` at ``api_url`` within ``timeout`` seconds (:func:`check_api`
    tells why not)."""
    return check_api(api_url, timeout).ok


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
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise PrefectServerError(
                    f"the Prefect server exited with code {proc.returncode} while starting; "
                    f"end of {log_path}:\n{_tail(log_path)}"
                )
            if health_ok(api_url, timeout=0.5):
                return server
            time.sleep(0.2)
    except BaseException:
        # Ctrl-C (or SIGTERM turned into an exception) while waiting: the server runs in a session of its own,
        # so nothing else would stop it; it would go on holding the port.
        server.stop()
        raise
    server.stop()
    raise PrefectServerError(
        f"the Prefect server did not answer {api_url}/health within {timeout:.0f} s; "
        f"end of {log_path}:\n{_tail(log_path)}"
    )
