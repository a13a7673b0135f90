"""`quytrinh due`: deadlines in working time, one or thousands per process.

    quytrinh due --start 2026-02-13T16:00 --duration 1.5d
    quytrinh due --start 2026-02-13T16:00 --same-day
    quytrinh due --start 2026-02-13T16:00 --calendar-days 15
    printf '2026-02-13T16:00\\t720\\n' | quytrinh due --batch -

Deadlines print as ``YYYY-MM-DDTHH:MM`` in local time (Asia/Ho_Chi_Minh), for
scripts; errors are Vietnamese, located (``FILE:LINE:``) in a batch.
"""

from __future__ import annotations

import difflib
import sys
from datetime import datetime, time
from typing import TYPE_CHECKING, Iterable, Optional

import typer

from engine.errors import CalendarError
from quytrinh.messages import cli_error_text, localized

if TYPE_CHECKING:  # engine.calendar (holidays) is imported where used, not at the start-up of every command
    from engine.calendar import WorkCalendar


def calendar_for(unit: str | None) -> WorkCalendar:
    """The working calendar of ``unit``: its own entry of calendar.yaml ``units:``, else the common calendar.

    A unit of units.yaml without an entry of its own inherits the common calendar
    (docs/calendar.md); only an id that neither file knows is an error, with the
    closest id when one is close.
    """
    from engine.calendar import WorkCalendar

    if unit is None:
        return WorkCalendar.default()
    try:
        return WorkCalendar.default(unit)
    except CalendarError as exc:
        if f"unknown unit '{unit}'" not in str(exc):
            raise
    from engine.calendar import catalogue_dir
    from engine.definition import load_units

    from engine.errors import DefinitionError

    path = catalogue_dir() / "units.yaml"
    try:
        known = set(load_units(str(path)).units) if path.is_file() else set()
    except DefinitionError:  # the units the database stores, said once (raised as before when it stores none)
        from engine.organisation import stored_units
        from quytrinh.commands.dossier import open_store

        store = open_store()
        try:
            known = set(stored_units(store))
        finally:
            store.dispose()
    if unit in known:
        return WorkCalendar.default()
    close = difflib.get_close_matches(unit, sorted(known), n=1, cutoff=0.6)
    hint = f" (có phải '{close[0]}'?)" if close else ""
    raise localized(CalendarError(
        f"Không tính được thời hạn: không có đơn vị '{unit}' trong units.yaml hay calendar.yaml{hint}; "
        f"các mã đơn vị ở mục units: của {path}."))


def _parse_start(text: str) -> datetime:
    value = text.strip()
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise localized(CalendarError(
            f"'{value}' không phải thời điểm bắt đầu: viết YYYY-MM-DDTHH:MM (giờ Việt Nam)."
        )) from None


def _parse_minutes(text: str) -> int:
    value = text.strip()
    if value.isdigit():
        return int(value)
    if value.startswith("-") and value[1:].isdigit():
        raise localized(CalendarError(f"số phút phải từ 0 trở lên, không phải {value}."))
    from engine.calendar import parse_duration

    return parse_duration(value)


def _parse_cutoff(text: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise localized(CalendarError(f"--cutoff '{text}' không phải giờ trong ngày (HH:MM).")) from None


def _format(t: datetime) -> str:
    out = t.strftime("%Y-%m-%dT%H:%M")
    if t.second or t.microsecond:
        out += t.strftime(":%S")
    return out


def _split(line: str, same_day: bool) -> tuple[str, str | None]:
    if same_day:
        start = line.split("\t", 1)[0] if "\t" in line else line
        return start, None
    parts = line.split("\t")
    if len(parts) == 1:
        parts = line.rsplit(None, 1)
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise localized(CalendarError("cần dạng BẮT_ĐẦU<TAB>SỐ_PHÚT, ví dụ 2026-02-13T16:00\t720."))
    return parts[0], parts[1]


def _line_error(exc: CalendarError) -> str:
    """A batch line's error in Vietnamese, starting lower-case after ``FILE:LINE:``."""
    text = cli_error_text(exc)
    prefix = "Không tính được thời hạn: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _batch(cal: WorkCalendar, lines: Iterable[str], name: str, same_day: bool,
           cutoff: time | None) -> int:
    """Compute every line; print all deadlines, or, if any line is bad, only the errors."""
    out: list[str] = []
    errors = 0
    add, same = cal.add, cal.same_day_due
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        try:
            if not line.strip():
                raise localized(CalendarError("dòng trống."))
            start_text, minutes_text = _split(line, same_day)
            start = _parse_start(start_text)
            if same_day:
                due = same(start, cutoff)
            else:
                due = add(start, _parse_minutes(minutes_text))  # type: ignore[arg-type]
            out.append(_format(due))
        except CalendarError as exc:
            errors += 1
            print(f"{name}:{number}: {_line_error(exc)}", file=sys.stderr)
    if errors:
        print(f"quytrinh: {name} có {errors} dòng sai; chưa in thời hạn nào.", file=sys.stderr)
        return 1
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return 0


def due(
    start: Optional[str] = typer.Option(
        None, "--start", help="Thời điểm tiếp nhận hoặc bắt đầu, YYYY-MM-DDTHH:MM, giờ Việt Nam."),
    duration: Optional[str] = typer.Option(
        None, "--duration", help="Thời gian làm việc: 0.5d, 4h, 30m, 1.5d (1d = 8 giờ làm việc)."),
    batch: Optional[str] = typer.Option(
        None, "--batch", metavar="FILE",
        help="Đọc các dòng BẮT_ĐẦU<TAB>SỐ_PHÚT từ FILE ('-': đầu vào chuẩn); in mỗi dòng một thời hạn."),
    unit: Optional[str] = typer.Option(
        None, "--unit",
        help="Mã đơn vị trong units.yaml: dùng giờ làm việc riêng của đơn vị (mục units: của calendar.yaml), "
             "không có thì lịch chung."),
    same_day: bool = typer.Option(
        False, "--same-day",
        help="Thủ tục giải quyết trong ngày: hạn là cuối ngày, hoặc cuối ngày làm việc tiếp theo "
             "nếu tiếp nhận sau giờ chốt."),
    cutoff: Optional[str] = typer.Option(
        None, "--cutoff", help="Giờ chốt của thủ tục trong ngày, HH:MM (mặc định theo calendar.yaml, 15:00)."),
    calendar_days: Optional[int] = typer.Option(
        None, "--calendar-days", metavar="N",
        help="Thời hạn N ngày (tính cả ngày nghỉ, như văn bản ghi \"15 ngày\"): tính từ ngày tiếp theo ngày tiếp "
             "nhận; ngày cuối là ngày nghỉ thì hạn là cuối ngày làm việc tiếp theo (Bộ luật Dân sự 2015, "
             "Điều 147, 148)."),
) -> None:
    """Tính hạn giải quyết theo thời gian làm việc (ngày nghỉ, lễ, Tết, giờ hành chính)."""
    if cutoff is not None and not same_day:
        raise localized(CalendarError("--cutoff chỉ dùng cùng --same-day."))
    cut = _parse_cutoff(cutoff) if cutoff is not None else None
    if batch is not None:
        if calendar_days is not None:
            raise localized(CalendarError("--calendar-days chỉ dùng cùng --start, không dùng với --batch."))
        if start is not None or duration is not None:
            raise localized(CalendarError("--batch đọc thời điểm và thời lượng từ tệp đầu vào: "
                                          "bỏ --start và --duration."))
        cal = calendar_for(unit)
        name = "<stdin>" if batch == "-" else batch
        if batch == "-":
            code = _batch(cal, sys.stdin, name, same_day, cut)
        else:
            try:
                with open(batch, encoding="utf-8") as fh:
                    code = _batch(cal, fh, name, same_day, cut)
            except FileNotFoundError:
                raise localized(CalendarError(f"Không tính được thời hạn: không có tệp {batch}.")) from None
            except IsADirectoryError:
                raise localized(CalendarError(f"Không tính được thời hạn: {batch} là một thư mục, cần một tệp.")) \
                    from None
            except PermissionError:
                raise localized(CalendarError(f"Không tính được thời hạn: không có quyền đọc tệp {batch}.")) from None
            except OSError as exc:
                raise localized(CalendarError(f"Không tính được thời hạn: không đọc được tệp {batch} "
                                              f"({exc.strerror or exc}).")) from None
        if code:
            raise typer.Exit(code)
        return
    if start is None:
        raise localized(CalendarError("Hãy cho --start (cùng --duration, --same-day hoặc --calendar-days), "
                                      "hoặc --batch -."))
    given = [name for name, value in (("--duration", duration), ("--same-day", same_day or None),
                                      ("--calendar-days", calendar_days)) if value is not None]
    if len(given) > 1:
        raise localized(CalendarError(f"{' và '.join(given)} không dùng cùng nhau: hãy chọn một."))
    if not given:
        raise localized(CalendarError("Hãy cho --duration (ví dụ 1.5d, 4h, 30m), --same-day hoặc --calendar-days."))
    if calendar_days is not None and calendar_days < 1:
        raise localized(CalendarError(f"--calendar-days phải là số ngày nguyên dương, không phải {calendar_days}."))
    when = _parse_start(start)
    cal = calendar_for(unit)
    if calendar_days is not None:
        result = cal.calendar_days_due(when, calendar_days)
    elif same_day:
        result = cal.same_day_due(when, cut)
    else:
        from engine.calendar import parse_duration

        result = cal.add(when, parse_duration(duration))  # type: ignore[arg-type]
    print(_format(result))


def register(app: typer.Typer) -> None:
    """Add the ``due`` command to the ``quytrinh`` app."""
    app.command("due")(due)
