"""`quytrinh simulate`: will the allotted times hold with the staff at hand?

    quytrinh simulate 1.001612 --arrivals 20/day --staff bp_mot_cua=3 --staff phong_tckh=10 --days 60
    quytrinh simulate 1.001612 --arrivals 20/day --staff phong_tckh=6 --format json --seed 7

A discrete-event simulation of the procedure's internal process on the working
calendar (engine.simulate; the model and its assumptions: docs/simulation.md).
"""

from __future__ import annotations

import enum
import json
from typing import List, Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import cli_error_text, localized


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"


def find_definition(ref: str):  # noqa: ANN201 - (Definition, Organisation | None)
    """A procedure by catalogue code (or a definition file): :func:`engine.definition.find_definition`,
    its load problem reported as one line."""
    from engine.definition import find_definition as find
    from engine.errors import DefinitionError

    try:
        return find(ref)
    except DefinitionError as exc:
        from quytrinh.messages import located_text

        raise localized(QuytrinhError(located_text(exc.problems[0]))) from None


def _minutes(m: float | None) -> str:
    """Working minutes as people say them: days (of 8 h) or hours with one decimal, else minutes."""
    if m is None:
        return "–"
    if m >= 480:
        return f"{m / 480:.1f}".replace(".", ",") + " ngày"
    if m >= 60:
        return f"{m / 60:.1f}".replace(".", ",") + " giờ"
    return f"{m:.0f} phút"


def print_result(result) -> None:  # noqa: ANN001 - engine.simulate.SimResult
    """Print a simulation result as rich tables, in Vietnamese."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=max(140, Console().width))
    p = result.params
    rate = result.on_time_rate
    lt = result.lead_time()
    console.print(f"[bold]Mô phỏng {escape(result.code)} – {escape(result.name)}[/bold]")
    console.print(f"Thời hạn: {escape(result.limit_text)} · {p.arrivals_per_day:g} hồ sơ/ngày làm việc trong "
                  f"{p.days} ngày làm việc · lần chạy --seed {p.seed} · thời gian xử lý ngẫu nhiên ({p.service}), trung bình "
                  f"{p.effort:g}".replace(".", ",") + " × thời gian được giao")
    console.print(f"Hồ sơ đến: {result.arrived} · tiếp nhận: {result.received} · từ chối tiếp nhận: "
                  f"{result.refused_at_reception} · đã giải quyết: {result.completed} "
                  f"(đúng hạn {result.on_time}, trễ hạn {result.late}) · chưa xong: {result.unfinished}")
    console.print(f"[bold]Tỷ lệ đúng hạn dự kiến: {'–' if rate is None else f'{rate * 100:.1f}'.replace('.', ',') + '%'}"
                  f"[/bold] · thời gian giải quyết trung bình {_minutes(lt['mean'])}, 90% hồ sơ trong "
                  f"{_minutes(lt['p90'])}, lâu nhất {_minutes(lt['max'])}")
    t = Table(title="Hàng đợi theo bước", header_style="bold")
    for h in ("Bước", "Tên bước", "Đơn vị", "Được giao", "Lượt", "Chờ TB", "Chờ lâu nhất", "Xử lý TB"):
        t.add_column(h, justify="left" if h in ("Bước", "Tên bước", "Đơn vị") else "right",
                     max_width=40 if h == "Tên bước" else None)
    for s in result.steps:
        if not s.visits:
            continue
        t.add_row(s.id, escape(s.name), s.unit or "–", _minutes(s.allotted), str(s.visits), _minutes(s.wait_mean),
                  _minutes(s.wait_max), _minutes(s.service_mean))
    console.print(t)
    u = Table(title="Công suất theo đơn vị", header_style="bold")
    for h in ("Đơn vị", "Tên", "Số người", "Mức độ bận"):
        u.add_column(h, justify="right" if h in ("Số người", "Mức độ bận") else "left")
    for unit in result.units:
        pct = f"{unit.utilisation * 100:.1f}".replace(".", ",") + "%"
        u.add_row(unit.id, escape(unit.name), str(unit.staff), f"[red]{pct}[/red]" if unit.utilisation > 0.85 else pct)
    console.print(u)


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to the ``quytrinh`` app."""

    @app.command("simulate")
    def simulate_command(
        code: str = typer.Argument(..., help="Mã thủ tục trong danh mục (hoặc một tệp quy trình)."),
        arrivals: str = typer.Option(..., "--arrivals",
                                     help="Số hồ sơ đến: 20/day (ngày), 100/week (tuần) hoặc 3/hour (giờ)."),
        staff: Optional[List[str]] = typer.Option(None, "--staff",
                                                  help="ĐƠN_VỊ=N: số người của một đơn vị (lặp lại; mặc định 1)."),
        days: int = typer.Option(60, "--days", help="Số ngày làm việc có hồ sơ đến."),
        seed: int = typer.Option(1, "--seed", help="Số của lần chạy ngẫu nhiên (cùng số, cùng kết quả; so sánh vài số để bớt may rủi)."),
        service: str = typer.Option("lognormal", "--service",
                                    help="Phân phối thời gian xử lý: lognormal, triangular, fixed, exponential."),
        effort: float = typer.Option(0.25, "--effort",
                                     help="Thời gian làm việc thực tế trung bình, tính theo phần thời gian "
                                          "được giao của mỗi bước."),
        cv: float = typer.Option(0.5, "--cv", help="Hệ số biến thiên của thời gian xử lý."),
        citizen_delay: str = typer.Option("2d", "--citizen-delay",
                                          help="Thời gian trung bình người nộp bổ sung hồ sơ "
                                               "(thời gian làm việc: 2d, 4h)."),
        supplement: float = typer.Option(0.10, "--supplement", help="Xác suất nhánh yêu cầu bổ sung."),
        refuse: float = typer.Option(0.03, "--refuse", help="Xác suất nhánh từ chối."),
        rework: float = typer.Option(0.0, "--rework", help="Xác suất nhánh làm lại (có giới hạn số lần)."),
        route: Optional[List[str]] = typer.Option(None, "--route",
                                                  help="BƯỚC.KẾT_QUẢ=P (lặp lại): đặt xác suất của một nhánh."),
        start: Optional[str] = typer.Option(None, "--start",
                                            help="Ngày mô phỏng đầu tiên (YYYY-MM-DD; mặc định 2026-03-02)."),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table hoặc json."),
    ) -> None:
        """Mô phỏng hồ sơ qua một quy trình: dự báo tỷ lệ đúng hạn, hàng chờ từng bước, mức bận của đơn vị."""
        import datetime as dt

        from engine.calendar import parse_duration
        from engine.errors import CalendarError
        from engine.simulate import (
            SimParams,
            SimulationError,
            parse_arrivals,
            parse_route_override,
            parse_staff,
            simulate,
        )

        rate = parse_arrivals(arrivals)
        staff_map = parse_staff(staff or [])
        routes = parse_route_override(route or [])
        try:
            delay = parse_duration(citizen_delay)
        except CalendarError as exc:
            raise localized(SimulationError(f"--citizen-delay '{citizen_delay}': "
                                            f"{cli_error_text(exc).removeprefix('Không tính được thời hạn: ')}")) from None
        first = None
        if start is not None:
            try:
                first = dt.date.fromisoformat(start.strip())
            except ValueError:
                raise localized(SimulationError(f"--start '{start}' không phải ngày; viết YYYY-MM-DD.")) from None
        defn, organisation = find_definition(code)
        params = SimParams(rate, days, staff_map, 1, seed, service, effort, cv, delay, supplement, refuse, rework,
                           routes, first)
        result = simulate(defn, params, units=organisation.units if organisation else None)
        if fmt == OutputFormat.json:
            typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        else:
            print_result(result)
