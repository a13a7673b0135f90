"""`quytrinh worker`: serve the Prefect deployments (outbox drain, SLA timer sweep).

    quytrinh worker                    # serve until Ctrl-C / SIGTERM
    quytrinh worker --once             # one sweep and one drain, then exit
    quytrinh worker --sweep-every 30 --drain-poll 2

The worker talks to the Prefect server at ``$PREFECT_API_URL`` (``quytrinh run``
starts a local one) and to the database at ``$QUYTRINH_DATABASE_URL``. At
start-up it opens the database as every command does (migrating it on first
use) and checks that a Prefect API answers; either failure is one Vietnamese
line and exit status 1. Every console line is stamped in Hanoi time, marked
``+07``. It registers two deployments, ``quytrinh-sweep-timers/quytrinh`` (interval
schedule) and ``quytrinh-drain-outbox/quytrinh`` (woken when the outbox has
due items), and runs their flow runs in this process (see
``workflows/worker.py`` and ``docs/prefect.md``). Several workers may run
against the same server and database.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import localized


def _describe(outcome: Any) -> str:
    """One line per run, in Vietnamese, for the operator's terminal."""
    from workflows.worker import DRAIN_FLOW, stamp

    when = stamp()
    what = "Chạy hàng đợi việc máy" if outcome.flow == DRAIN_FLOW else "Quét thời hạn"
    if outcome.state == "Superseded":
        return f"{when} {what}: lượt trễ được gộp vào lượt mới nhất"
    if outcome.state == "Taken":
        # A run no longer scheduled when claimed: another worker took it first, or it was cancelled in
        # Prefect (this worker's own woken drain runs are never taken by its schedule loop).
        return f"{when} {what}: lượt này không còn chờ chạy (một worker khác đã nhận hoặc lượt đã bị hủy); bỏ qua"
    res = outcome.result if isinstance(outcome.result, dict) else {}
    if outcome.state != "Completed":
        state = {"Failed": "thất bại", "Crashed": "dừng đột ngột", "Cancelled": "bị hủy"}.get(outcome.state,
                                                                                             outcome.state)
        return f"{when} {what}: LỖI ({state}) {outcome.result or ''}".rstrip()
    if outcome.flow == DRAIN_FLOW:
        skipped = res.get("skipped", 0)  # automated steps cancelled by a withdrawal or a stop: not failures
        deleted = res.get("deleted", 0)  # items deleted from the outbox while the run worked on them
        detail = (f"{res.get('done', 0)} việc xong, " + (f"{skipped} bỏ qua, " if skipped else "")
                  + f"{res.get('retry_later', 0)} thử lại sau, {res.get('failed', 0)} thất bại"
                  + (f", {deleted} đã bị xóa khỏi hàng đợi" if deleted else ""))
    else:
        detail = (f"{res.get('nearly_due', 0)} sắp đến hạn, {res.get('overdue', 0)} quá hạn, "
                  f"{res.get('dossiers_overdue', 0)} hồ sơ quá hạn, {res.get('apologies', 0)} phiếu xin lỗi "
                  f"({res.get('checked', 0)} việc đang mở)")
    return f"{when} {what}: {detail} — {outcome.seconds:.2f} s"


def worker(
    once: bool = typer.Option(False, "--once", help="Chạy một lượt quét thời hạn và một lượt hàng đợi rồi thoát."),
    sweep_every: float = typer.Option(30.0, "--sweep-every", min=5.0,
                                      help="Chu kỳ quét thời hạn (giây); lịch của deployment trên Prefect."),
    drain_poll: float = typer.Option(2.0, "--drain-poll", min=0.2,
                                     help="Chu kỳ kiểm tra hàng đợi việc máy (giây)."),
    schedule_poll: float = typer.Option(5.0, "--schedule-poll", min=1.0,
                                        help="Chu kỳ lấy các lượt chạy đến hạn từ Prefect (giây)."),
    name: Optional[str] = typer.Option(None, "--name", help="Tên worker (mặc định: máy:pid)."),
    dossier_tags: bool = typer.Option(True, "--dossier-tags/--no-dossier-tags",
                                      help="Gắn nhãn mã hồ sơ cho từng task trên Prefect (tốn thêm thời gian; "
                                           "khi tắt, mã hồ sơ chỉ có trong tên task)."),
) -> None:
    """Chạy worker Prefect: hàng đợi việc máy (outbox) và quét thời hạn (SLA)."""
    if not os.environ.get("PREFECT_API_URL"):
        raise localized(QuytrinhError("Chưa đặt PREFECT_API_URL: hãy chạy một máy chủ Prefect (`quytrinh run` "
                                      "chạy sẵn một máy chủ cục bộ) hoặc đặt PREFECT_API_URL=http://MÁY:4200/api."))
    from engine.store import database_url, init_db
    from quytrinh.commands.dossier import open_database

    store = open_database(database_url(), init_db)  # one line on failure; migrates on first use

    import workflows  # noqa: F401  (Prefect defaults before Prefect loads)
    from workflows.local import api_problem, check_api
    from workflows.worker import Worker, WorkerConfig, use_hanoi_time_in_console_logs

    api = os.environ["PREFECT_API_URL"]
    problem = api_problem(check_api(api, timeout=5))
    if problem:
        raise localized(QuytrinhError(problem))
    use_hanoi_time_in_console_logs()
    config = WorkerConfig(sweep_every=sweep_every, drain_poll=drain_poll, schedule_poll=schedule_poll,
                          dossier_tags=dossier_tags)
    if name:
        config.name = name
    w = Worker(config, store=store)
    try:
        w.register()
    except Exception as exc:  # noqa: BLE001 - Prefect/httpx errors become one line
        raise localized(QuytrinhError(f"Không đăng ký được các deployment với {api}: {type(exc).__name__}: "
                                      f"{str(exc).splitlines()[0] if str(exc) else ''}")) from None
    if once:
        try:
            for outcome in w.once():
                typer.echo(_describe(outcome))
        except QuytrinhError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise localized(QuytrinhError(f"Lượt chạy của worker bị lỗi: {type(exc).__name__}: {exc}")) from None
        return
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    typer.echo(f"Worker {config.name}: Prefect {api}; cơ sở dữ liệu "
               f"{store.engine.url.render_as_string(hide_password=True)}; quét thời hạn mỗi {sweep_every:g} s, "
               f"kiểm tra hàng đợi mỗi {drain_poll:g} s; giờ trong nhật ký là giờ Việt Nam ({_mark()}). "
               f"Ctrl-C để dừng.")
    w.serve(stop, on_run=lambda outcome: typer.echo(_describe(outcome)))
    typer.echo("Worker đã dừng.")


def _mark() -> str:
    from workflows.worker import HANOI_MARK

    return f"UTC{HANOI_MARK}"


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command to the ``quytrinh`` app."""
    app.command("worker")(worker)
