"""`quytrinh run`: the embedded default that `make run` starts.

1. validate the shipped catalogue (stop on errors, show the summary);
2. render its diagrams into ``diagrams/`` (only changed files are written);
3. open the database (``$QUYTRINH_DATABASE_URL``, default SQLite at
   ``var/quytrinh.db`` of the project's folder, :func:`engine.store.default_database_path`;
   the logs and the local Prefect server's files go to ``var/`` of the current folder),
   migrate it, publish the catalogue (as ``quytrinh
   publish``) and seed the demo users (password ``demo123``): on SQLite, the
   embedded default, unless ``--no-demo``; on PostgreSQL only with ``--demo``;
4. start a local Prefect server on SQLite (unless ``$PREFECT_API_URL`` points
   at one, which must answer before anything starts), the worker and the web
   app, and keep them running until Ctrl-C.

Before anything it checks that the web app's port (``--port``, 8000) and the
local Prefect server's (``--prefect-port``, 4200) are free: another program on
one of them is refused with one line naming the port (a Prefect server that
already answers on the Prefect port is reused). The web app counts as started
only when *our* sign-in page answers on its port.

``--smoke`` does all of it, checks that every service answers, and stops:
what the tests run to keep `make run` honest.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import localized


def _say(text: str) -> None:
    typer.echo(text)


def _validate(root: Path) -> Any:
    from quytrinh.commands.publish import check_catalogue

    catalogue, line = check_catalogue(root)
    _say(f"1. Kiểm tra danh mục {root}/ — {line} (chi tiết: quytrinh validate)")
    return catalogue


def _render(root: Path, out: Path) -> None:
    from quytrinh.commands.render import run as render_run

    code = render_run([root], out, "svg", False, None)
    if code:
        raise localized(QuytrinhError("Không vẽ được sơ đồ (xem ở trên)."))
    _say(f"2. Sơ đồ quy trình: {out.resolve()}/ (mở tệp .svg bằng trình duyệt)")


def _database(cat: Any, demo: bool | None) -> tuple[str, list, str]:
    """Open, migrate and publish into the configured database; seed the demo users when ``demo`` says so.

    ``demo`` None: seed them on SQLite (the embedded default), not on PostgreSQL.
    Returns the URL, the demo accounts and why there are none ("" when seeded).
    """
    from engine.store import database_url, init_db

    from quytrinh.commands.dossier import _safe, open_database
    from quytrinh.commands.publish import publish_catalogue

    url = database_url(None)
    store = open_database(url, init_db)
    now = dt.datetime.now(dt.timezone.utc)
    publish_catalogue(store, cat, now=now, by="quytrinh run")
    postgres = url.startswith("postgresql")
    users: list = []
    why = ""
    if demo is None:
        demo = not postgres
    if not demo:
        why = ("không tạo tài khoản mẫu (cơ sở dữ liệu PostgreSQL; --demo để tạo)" if postgres
               else "không tạo tài khoản mẫu (--no-demo)")
    else:
        try:
            from quytrinh.web.demo import seed_demo
        except ImportError:  # no web app in this build: units and definitions only
            seed_demo = None
            why = "không có ứng dụng web: không tạo tài khoản mẫu"
        if seed_demo is not None:
            users = seed_demo(store, cat, now)
    _say(f"3. Cơ sở dữ liệu: {_safe(url)} ({len(cat.definitions)} quy trình đã nạp"
         + (f"; {why}" if why else "") + ")")
    return url, users, why


def accounts_lines(users: list, no_demo: bool) -> list[str]:
    """How to sign in, for the person who started the app: the demo accounts that sign in with the demo password,
    those that existed with another password or none (kept as they were), or how to add one when no demo was
    seeded."""
    demo_users = [u for u in users if u[1]]
    kept = [u[0] for u in users if u[1] is None]
    no_password = [u[0] for u in users if u[1] == ""]
    out = []
    if demo_users:
        out.append("   Đăng nhập bằng một trong các tài khoản mẫu:")
        out += [f"     {username:<14} mật khẩu {password:<10} {what}" for username, password, what in demo_users]
    if kept:
        out.append(f"   Đã có từ trước, giữ nguyên mật khẩu riêng, không phải demo123: {', '.join(kept)}; "
                   f"đặt lại: quytrinh user password TÊN")
    if no_password:
        out.append(f"   Đã có từ trước nhưng chưa có mật khẩu, chưa đăng nhập được: {', '.join(no_password)}; "
                   f"đặt mật khẩu: quytrinh user password TÊN")
    if no_demo:
        out.append("   Đăng nhập bằng tài khoản đã có; thêm người dùng: quytrinh user add TÊN --unit ĐƠN_VỊ "
                   "--role VAI_TRÒ --password")
    return out


def _check_prefect(api: str) -> None:
    """Refuse to start when ``$PREFECT_API_URL`` names no Prefect API that answers (the worker's own check)."""
    import workflows  # noqa: F401  (the project's Prefect defaults)
    from workflows.local import api_problem, check_api

    problem = api_problem(check_api(api, timeout=5))
    if problem:
        raise localized(QuytrinhError(f"{problem} Hoặc bỏ biến PREFECT_API_URL để quytrinh run chạy một máy chủ "
                                      f"Prefect cục bộ."))


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (``None`` when it can): another program holds it, or the address.

    Binds and closes a socket as uvicorn does (``SO_REUSEADDR``, so a connection
    of a stopped run in TIME_WAIT does not count as busy).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return f"không dùng được địa chỉ '{host}' (--host)"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "busy"
            if exc.errno in (errno.EACCES, errno.EPERM):
                return f"không được phép mở cổng {port} (cổng dưới 1024 cần quyền quản trị)"
            return f"không mở được {host}:{port} ({exc.strerror or exc})"
    return None


def _check_ports(host: str, port: int, prefect_port: int | None) -> None:
    """Refuse to start when the web app's or the local Prefect server's port is taken (one Vietnamese line).

    A Prefect server that already answers on ``prefect_port`` is not a problem: it is reused.
    """
    if prefect_port is not None and prefect_port == port:
        raise localized(QuytrinhError(f"Ứng dụng web và Prefect không dùng chung một cổng ({port}); "
                                      "hãy chọn cổng khác bằng --port hoặc --prefect-port."))
    checks = [("ứng dụng web", host, port, "--port")]
    if prefect_port is not None:
        checks.append(("máy chủ Prefect", "127.0.0.1", prefect_port, "--prefect-port"))
    for what, where, number, option in checks:
        problem = port_problem(where, number)
        if problem is None:
            continue
        if problem == "busy":
            if option == "--prefect-port":
                from workflows.local import health_ok

                if health_ok(f"http://{where}:{number}/api"):
                    continue  # a Prefect server already runs there: start_local_server reuses it
            raise localized(QuytrinhError(
                f"Cổng {number} ({what}) đang bị một chương trình khác dùng; hãy dừng chương trình đó hoặc chọn "
                f"cổng khác: quytrinh run --port N --prefect-port M (make run PORT=N PREFECT_PORT=M)."))
        raise localized(QuytrinhError(f"Không khởi động được {what}: {problem}."))


#: What only our web app's sign-in page has (the title suffix of every page, quytrinh/web/templates/base.html).
OUR_PAGE = "— quytrinh</title>"


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, expect: str | None = None) -> bool:
    """Wait until ``url`` answers (with ``expect`` in the page when given); False on timeout or when ``proc`` ends."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                body = resp.read(65536).decode("utf-8", "replace")
                if resp.status < 400 and (expect is None or expect in body):
                    return True
                if expect is not None:
                    return False  # someone else answers there
        except urllib.error.HTTPError as exc:
            if expect is None and exc.code < 500:
                return True
            if expect is not None and exc.code < 500:
                return False
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "quytrinh.cli", *args], env=env,
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run(
    host: str = typer.Option("127.0.0.1", "--host", help="Địa chỉ của ứng dụng web."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Cổng của ứng dụng web."),
    prefect_port: int = typer.Option(4200, "--prefect-port", min=1, max=65535,
                                     help="Cổng của máy chủ Prefect cục bộ."),
    catalogue: Optional[Path] = typer.Option(None, "--catalogue", help="Thư mục danh mục (mặc định procedures_yaml/)."),
    out: Path = typer.Option(Path("diagrams"), "--out", help="Thư mục sơ đồ."),
    smoke: bool = typer.Option(False, "--smoke", help="Khởi động mọi thành phần, kiểm tra chúng trả lời, rồi dừng."),
    demo: Optional[bool] = typer.Option(
        None, "--demo/--no-demo",
        help="Tạo (hay không) các tài khoản mẫu mật khẩu demo123; mặc định: có với SQLite, không với PostgreSQL."),
) -> None:
    """Kiểm tra, vẽ sơ đồ, mở cơ sở dữ liệu và chạy Prefect, worker và ứng dụng web (bản chạy thử)."""
    # SIGTERM (kill, timeout, a service manager) while starting stops what was started, as Ctrl-C does: the
    # Prefect server, the worker and the web app run in sessions of their own, and a signal that only ended
    # this process would leave them running, holding their ports.
    previous = _interrupt_on_sigterm()
    try:
        _run(host, port, prefect_port, catalogue, out, smoke, demo)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Interrupts:
    """SIGTERM (and Ctrl-C) while starting raise KeyboardInterrupt in the main thread, except while a process is
    being started and recorded (:meth:`held`): there the signal waits for the end of the block, so that the
    process is in its variable when the clean-up runs (a signal in between left the web app running)."""

    def __init__(self) -> None:
        self.holding = False
        self.pending = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.holding:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextmanager
    def held(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt


_INTERRUPTS = _Interrupts()


def _interrupt_on_sigterm() -> dict[int, Any]:
    """Make SIGTERM, and SIGINT when Python handles it, raise KeyboardInterrupt in the main thread (through
    :data:`_INTERRUPTS`); the handlers replaced (none when not in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _INTERRUPTS.handler)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # (ignored in a background job: left so)
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _INTERRUPTS.handler)
    return previous


def _run(host: str, port: int, prefect_port: int, catalogue: Optional[Path], out: Path, smoke: bool,
         demo: Optional[bool]) -> None:
    from engine.definition import default_root

    root = catalogue or default_root()
    _check_ports(host, port, None if os.environ.get("PREFECT_API_URL") else prefect_port)
    if os.environ.get("PREFECT_API_URL"):
        _check_prefect(os.environ["PREFECT_API_URL"])
    cat = _validate(root)
    _render(root, out)
    url, users, no_demo = _database(cat, demo)

    import workflows  # noqa: F401  (the project's Prefect defaults)
    from workflows.local import start_local_server

    env = dict(os.environ)
    env["QUYTRINH_DATABASE_URL"] = url
    # The worker and the web app read the catalogue this command checked and published (each reads
    # units.yaml into the database: another folder would put its units back).
    env["QUYTRINH_CATALOGUE_DIR"] = str(Path(root).resolve())
    env["PYTHONUNBUFFERED"] = "1"  # the logs show each line as it happens
    server = None
    worker = app = None
    logs = Path("var/log")
    try:
        if os.environ.get("PREFECT_API_URL"):
            api = os.environ["PREFECT_API_URL"]
        else:
            server = start_local_server(port=prefect_port)
            api = server.api_url
        env["PREFECT_API_URL"] = api
        _say(f"4. Prefect: {api.removesuffix('/api')} (giao diện theo dõi các lượt chạy)")
        with _INTERRUPTS.held():
            worker = _spawn(["worker"], env, logs / "worker.log")
        _say(f"   Worker: đang chạy (nhật ký {logs / 'worker.log'})")
        has_web = (Path(__file__).resolve().parent.parent / "web" / "app.py").exists()
        if has_web:
            with _INTERRUPTS.held():
                app = _spawn(["serve", "--host", host, "--port", str(port)], env, logs / "web.log")
            if not _wait_http(f"http://{host}:{port}/login", 60, app, OUR_PAGE):
                busy = " (cổng đang bị chương trình khác dùng: chọn cổng khác bằng --port)" \
                    if port_problem(host, port) == "busy" and app.poll() is not None else ""
                raise localized(QuytrinhError(f"Ứng dụng web không trả lời ở http://{host}:{port}/{busy} "
                                              f"(xem {logs / 'web.log'})."))
            _say(f"5. Ứng dụng web: http://{host}:{port}/")
        for line in accounts_lines(users, bool(no_demo) and has_web):
            _say(line)
        time.sleep(1.0)
        if worker.poll() is not None:
            raise localized(QuytrinhError(f"Worker đã dừng (xem {logs / 'worker.log'})."))
        if smoke:
            _say("Mọi thành phần đã trả lời; dừng (--smoke).")
            return
        _say("Nhấn Ctrl-C để dừng.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                for name, proc in (("worker", worker), ("web", app)):
                    if proc is not None and proc.poll() is not None:
                        what = "Worker" if name == "worker" else f"Ứng dụng web (cổng {port})"
                        raise localized(QuytrinhError(f"{what} đã dừng (xem {logs / (name + '.log')})."))
        except KeyboardInterrupt:
            pass
    finally:
        _INTERRUPTS.holding = True  # a second Ctrl-C or SIGTERM does not cut the clean-up short
        try:
            _stop(app)
            _stop(worker)
            if server is not None:
                server.stop()
        finally:
            _INTERRUPTS.holding = _INTERRUPTS.pending = False
    _say("Đã dừng.")


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to the ``quytrinh`` app."""
    app.command("run")(run)
