"""`quytrinh due`: deadlines in working time, one or thousands per process.

    quytrinh due --start 2026-02-13T16:00 --duration 1.5d
    quytrinh due --start 2026-02-13T16:00 --same-day
    printf '2026-02-13T16:00\\t720\\n' | quytrinh due --batch -

Deadlines print as ``YYYY-MM-DDTHH:MM`` in local time (Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import sys
from datetime import datetime, time
from typing import Iterable, Optional

import typer

from engine.calendar import WorkCalendar, parse_duration
from engine.errors import CalendarError


def _parse_start(text: str) -> datetime:
    value = text.strip()
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CalendarError(
            f"'{value}' is not a start instant: write YYYY-MM-DDTHH:MM (local time)"
        ) from None


def _parse_minutes(text: str) -> int:
    value = text.strip()
    if value.isdigit():
        return int(value)
    if value.startswith("-") and value[1:].isdigit():
        raise CalendarError(f"minutes must be 0 or more, not {value}")
    return parse_duration(value)


def _parse_cutoff(text: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise CalendarError(f"--cutoff '{text}' is not a time of day (HH:MM)") from None


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
        raise CalendarError("expected START<TAB>MINUTES, e.g. 2026-02-13T16:00\t720")
    return parts[0], parts[1]


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
                raise CalendarError("empty line")
            start_text, minutes_text = _split(line, same_day)
            start = _parse_start(start_text)
            if same_day:
                due = same(start, cutoff)
            else:
                due = add(start, _parse_minutes(minutes_text))  # type: ignore[arg-type]
            out.append(_format(due))
        except CalendarError as exc:
            errors += 1
            print(f"{name}:{number}: {exc}", file=sys.stderr)
    if errors:
        print(f"quytrinh: {errors} bad line(s) in {name}; no deadline printed", file=sys.stderr)
        return 1
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return 0


def due(
    start: Optional[str] = typer.Option(
        None, "--start", help="Receipt or opening instant, YYYY-MM-DDTHH:MM, local time."),
    duration: Optional[str] = typer.Option(
        None, "--duration", help="Working duration: 0.5d, 4h, 30m, 1.5d (1d = 8 working hours)."),
    batch: Optional[str] = typer.Option(
        None, "--batch", metavar="FILE",
        help="Read START<TAB>MINUTES lines from FILE ('-' for stdin); print one deadline a line."),
    unit: Optional[str] = typer.Option(
        None, "--unit", help="Use the office hours of this unit (calendar.yaml units:)."),
    same_day: bool = typer.Option(
        False, "--same-day",
        help="Same-day procedure: due at the end of the day, or of the next working day "
             "when received after the cut-off."),
    cutoff: Optional[str] = typer.Option(
        None, "--cutoff", help="Same-day cut-off, HH:MM (default from calendar.yaml, 15:00)."),
) -> None:
    """Tính hạn giải quyết theo thời gian làm việc (ngày nghỉ, lễ, Tết, giờ hành chính)."""
    if cutoff is not None and not same_day:
        raise CalendarError("--cutoff only applies with --same-day")
    cut = _parse_cutoff(cutoff) if cutoff is not None else None
    if batch is not None:
        if start is not None or duration is not None:
            raise CalendarError("--batch reads starts and durations from its input: "
                                "drop --start and --duration")
        cal = WorkCalendar.default(unit)
        name = "<stdin>" if batch == "-" else batch
        if batch == "-":
            code = _batch(cal, sys.stdin, name, same_day, cut)
        else:
            try:
                with open(batch, encoding="utf-8") as fh:
                    code = _batch(cal, fh, name, same_day, cut)
            except OSError as exc:
                raise CalendarError(f"{batch}: cannot read: {exc.strerror or exc}") from None
        if code:
            raise typer.Exit(code)
        return
    if start is None:
        raise CalendarError("give --start (and --duration or --same-day), or --batch -")
    if same_day and duration is not None:
        raise CalendarError("--same-day and --duration exclude each other")
    if not same_day and duration is None:
        raise CalendarError("give --duration (e.g. 1.5d, 4h, 30m) or --same-day")
    when = _parse_start(start)
    cal = WorkCalendar.default(unit)
    if same_day:
        result = cal.same_day_due(when, cut)
    else:
        result = cal.add(when, parse_duration(duration))  # type: ignore[arg-type]
    print(_format(result))


def register(app: typer.Typer) -> None:
    """Add the ``due`` command to the ``quytrinh`` app."""
    app.command("due")(due)
