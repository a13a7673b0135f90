"""A minute-by-minute reference for working-time arithmetic: the test oracle.

Deliberately naive and independent of engine/calendar.py's arithmetic: it walks
the calendar one working minute at a time. It only asks, for each date, which
office-hour intervals count (``day_hours(date) -> [(start_min, end_min), ...]``,
minutes since midnight), so the tests and the benchmark can feed it the calendar's
working-day predicate and hours. Instants are naive local datetimes on whole
minutes; minute ``m`` of a day is the interval ``[m, m + 1)``.

Used by tests/test_calendar.py and, loaded by path, by bench/calendar.py.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Callable, Sequence

DayHours = Callable[[date], Sequence[tuple[int, int]]]

HOURS = ((8 * 60, 12 * 60), (13 * 60, 17 * 60))


def day_hours_from(is_working_day: Callable[[date], bool],
                   hours: Sequence[tuple[int, int]] = HOURS) -> DayHours:
    """``day_hours`` for a calendar with one set of hours on every working day."""
    cache: dict[date, Sequence[tuple[int, int]]] = {}

    def day_hours(d: date) -> Sequence[tuple[int, int]]:
        got = cache.get(d)
        if got is None:
            got = cache[d] = tuple(hours) if is_working_day(d) else ()
        return got

    return day_hours


def _check(t: datetime) -> None:
    if t.tzinfo is not None or t.second or t.microsecond:
        raise ValueError(f"the oracle takes naive instants on whole minutes, not {t!r}")


def oracle_add(start: datetime, minutes: int, day_hours: DayHours) -> datetime:
    """The instant right after the ``minutes``-th working minute at or after ``start``.

    ``minutes == 0`` returns ``start``.
    """
    _check(start)
    if minutes == 0:
        return start
    count = 0
    day = start.date()
    first = start.hour * 60 + start.minute
    for _ in range(5000):  # days; enough for any duration the tests use
        for a, b in day_hours(day):
            for m in range(max(a, first), b):
                count += 1
                if count == minutes:
                    return datetime.combine(day, time()) + timedelta(minutes=m + 1)
        day += timedelta(days=1)
        first = 0
    raise RuntimeError("oracle ran out of days")


def oracle_elapsed(start: datetime, end: datetime, day_hours: DayHours) -> int:
    """Working minutes wholly inside ``[start, end)``; negative if ``end < start``."""
    _check(start)
    _check(end)
    if end < start:
        return -oracle_elapsed(end, start, day_hours)
    count = 0
    day = start.date()
    while day <= end.date():
        midnight = datetime.combine(day, time())
        for a, b in day_hours(day):
            for m in range(a, b):
                t = midnight + timedelta(minutes=m)
                if start <= t and t + timedelta(minutes=1) <= end:
                    count += 1
        day += timedelta(days=1)
    return count
