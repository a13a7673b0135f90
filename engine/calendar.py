"""The working-time calendar: office hours, public holidays, swapped days, overrides.

Legal time limits are counted in *working time*: the minutes that fall inside
office hours on working days. This module is the only place that knows which
minutes those are. It is pure: it never reads the wall clock, and every instant
is passed in.

Which days are working days (first rule that applies wins):

1. the overrides table (``procedures_yaml/calendar.yaml``): ``remove_working_days``
   makes a day a day off, ``add_working_days`` makes it a working day;
2. the public holidays of the ``holidays`` package (country VN, observed days and
   substituted days included) are days off;
3. the Saturdays the government turns into working days when it swaps a day off
   (the package's ``weekend_workdays``) are working days;
4. Monday to Friday are working days; Sunday is not; an ordinary Saturday is a
   working day only for a unit whose Saturday morning is configured to count.

A working day has the unit's office hours (default 08:00-12:00 and 13:00-17:00);
a counted ordinary Saturday has the unit's Saturday hours (default 08:00-12:00).

Instants: an aware datetime may be in any time zone and is converted to
Asia/Ho_Chi_Minh; a naive datetime is taken as local time. Every instant returned
is aware, in Asia/Ho_Chi_Minh. Working time is counted exactly (to the
microsecond); :meth:`WorkCalendar.elapsed` returns whole minutes.

The arithmetic does not loop over minutes or days: for a span of years the
calendar keeps the cumulative working time at the start of every day, and finds
a day by bisection over it.
"""

from __future__ import annotations

import operator
import os
import re
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import yaml

from engine.errors import CalendarError, Location

__all__ = [
    "LOCAL_TZ",
    "MINUTES_PER_DAY",
    "DEFAULT_HOURS",
    "DEFAULT_SATURDAY_HOURS",
    "DEFAULT_SAME_DAY_CUTOFF",
    "DayOverride",
    "UnitHours",
    "CalendarConfig",
    "WorkCalendar",
    "parse_duration",
    "format_duration",
    "to_local",
    "catalogue_dir",
]

#: The time zone of every instant the calendar returns.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

#: One working day, in working minutes (8 working hours), for durations such as ``1.5d``.
MINUTES_PER_DAY = 480

#: Default office hours: 08:00-12:00 and 13:00-17:00.
DEFAULT_HOURS: tuple[tuple[time, time], ...] = ((time(8), time(12)), (time(13), time(17)))

#: Default Saturday reception hours of units that receive on Saturday morning.
DEFAULT_SATURDAY_HOURS: tuple[tuple[time, time], ...] = ((time(8), time(12)),)

#: Same-day procedures: a dossier received after this time is due the next working day.
DEFAULT_SAME_DAY_CUTOFF = time(15, 0)

#: Years the calendar can answer for (the package's observed-day rules start in 1995).
MIN_YEAR, MAX_YEAR = 1995, 2099

_US_PER_MIN = 60_000_000
_US_PER_DAY = 86_400_000_000
_ENV_DIR = "QUYTRINH_CATALOGUE_DIR"
_CALENDAR_FILE = "calendar.yaml"


# --------------------------------------------------------------------------- durations

_DURATION_PART = re.compile(r"\s*(\d+(?:[.,]\d+)?|[.,]\d+)\s*([dhm])\s*", re.IGNORECASE)
_FACTORS = {"d": MINUTES_PER_DAY, "h": 60, "m": 1}


def parse_duration(text: str) -> int:
    """Parse a working duration into working minutes.

    Parameters
    ----------
    text : str
        A number followed by a unit: ``d`` (working day = 480 minutes), ``h``
        (60 minutes) or ``m`` (minute), e.g. ``0.5d``, ``4h``, ``30m``, ``1.5d``.
        A decimal comma is accepted (``1,5d``) and parts may be combined
        (``1d 4h``). Case and spaces do not matter.

    Returns
    -------
    int
        The duration in working minutes (0 or more).

    Raises
    ------
    CalendarError
        When ``text`` is not a string, has no unit, uses an unknown unit, or is
        not a whole number of minutes (``0.1m``).

    Examples
    --------
    >>> parse_duration("1.5d"), parse_duration("4h"), parse_duration("30m")
    (720, 240, 30)
    """
    if isinstance(text, bool) or not isinstance(text, str):
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            raise CalendarError(
                f"duration {text!r} has no unit: write {text}d, {text}h or {text}m"
            )
        raise CalendarError(f"duration must be text like 0.5d, 4h or 30m, not {text!r}")
    stripped = text.strip()
    if not stripped:
        raise CalendarError("empty duration: write e.g. 0.5d, 4h or 30m")
    if re.fullmatch(r"\d+(?:[.,]\d+)?", stripped):
        raise CalendarError(
            f"duration '{text}' has no unit: write {stripped}d, {stripped}h or {stripped}m"
        )
    pos, total = 0, Decimal(0)
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m or m.end() == pos:
            raise CalendarError(
                f"'{text}' is not a duration: write a number and a unit d, h or m "
                f"(e.g. 0.5d, 4h, 30m; 1d = {MINUTES_PER_DAY} working minutes)"
            )
        try:
            number = Decimal(m.group(1).replace(",", "."))
        except InvalidOperation:  # pragma: no cover - the regex admits only numbers
            raise CalendarError(f"'{text}' is not a duration") from None
        total += number * _FACTORS[m.group(2).lower()]
        pos = m.end()
    if total != total.to_integral_value():
        raise CalendarError(f"duration '{text}' is not a whole number of minutes ({total} min)")
    return int(total)


def format_duration(minutes: int) -> str:
    """Write working minutes in the shortest exact form :func:`parse_duration` reads.

    Parameters
    ----------
    minutes : int
        Working minutes, 0 or more.

    Returns
    -------
    str
        ``"1.5d"`` for 720, ``"0.5d"`` for 240, ``"3h"`` for 180, ``"90m"`` for 90.

    Raises
    ------
    CalendarError
        When ``minutes`` is negative or not an integer.
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
        raise CalendarError(f"a duration is a whole number of minutes >= 0, not {minutes!r}")
    if minutes and minutes % (MINUTES_PER_DAY // 2) == 0:
        days = f"{Decimal(minutes) / MINUTES_PER_DAY:f}"
        if "." in days:
            days = days.rstrip("0").rstrip(".")
        return days + "d"
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


# --------------------------------------------------------------------------- instants


def to_local(t: datetime) -> datetime:
    """Return ``t`` as an aware datetime in Asia/Ho_Chi_Minh.

    Parameters
    ----------
    t : datetime
        Aware (any zone) or naive (taken as local time).

    Returns
    -------
    datetime
        The same instant, aware, in :data:`LOCAL_TZ`.

    Raises
    ------
    CalendarError
        When ``t`` is not a datetime (a bare ``date`` is refused: it has no time).
    """
    if not isinstance(t, datetime):
        raise CalendarError(f"expected a datetime, got {type(t).__name__} {t!r}")
    if t.tzinfo is None:
        return t.replace(tzinfo=LOCAL_TZ)
    return t.astimezone(LOCAL_TZ)


def _naive_local(t: datetime) -> datetime:
    """``t`` as a naive local datetime (aware: converted; naive: taken as local)."""
    if not isinstance(t, datetime):
        raise CalendarError(f"expected a datetime, got {type(t).__name__} {t!r}")
    if t.tzinfo is not None:
        return t.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return t


def _hhmm(value: time | str, what: str) -> int:
    """Minutes since midnight of a ``time`` or ``"HH:MM"`` text (``"24:00"`` allowed)."""
    if isinstance(value, time):
        if value == time.max:
            return 24 * 60
        if value.second or value.microsecond:
            raise CalendarError(f"{what}: office hours are whole minutes, not {value}")
        return value.hour * 60 + value.minute
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,2})[:h](\d{2})\s*", value)
        if m:
            h, mi = int(m.group(1)), int(m.group(2))
            if (h < 24 and mi < 60) or (h == 24 and mi == 0):
                return h * 60 + mi
    raise CalendarError(f"{what}: {value!r} is not a time of day (HH:MM)")


def _intervals(hours: Sequence, what: str) -> tuple[tuple[int, int], ...]:
    """Validate office hours: sorted, non-overlapping (start, end) pairs within a day."""
    out: list[tuple[int, int]] = []
    for pair in hours:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise CalendarError(f"{what}: each interval is a pair [start, end], not {pair!r}")
        a, b = _hhmm(pair[0], what), _hhmm(pair[1], what)
        if a >= b:
            raise CalendarError(f"{what}: interval {_fmt_min(a)}-{_fmt_min(b)} ends before it starts")
        if out and a < out[-1][1]:
            raise CalendarError(
                f"{what}: interval {_fmt_min(a)}-{_fmt_min(b)} overlaps or precedes "
                f"{_fmt_min(out[-1][0])}-{_fmt_min(out[-1][1])}; list intervals in order"
            )
        out.append((a, b))
    return tuple(out)


def _fmt_min(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class DayOverride:
    """One row of the overrides table: a date made a working day or a day off."""

    day: date
    working: bool
    reason: str = ""


@dataclass(frozen=True)
class UnitHours:
    """Office hours of one unit (or the default for all units).

    ``hours`` are the intervals of a working day; ``saturday_morning`` says
    whether the unit receives on ordinary Saturdays, during ``saturday_hours``;
    ``saturday_counts`` whether those Saturday minutes count toward deadlines.
    """

    hours: tuple[tuple[time, time], ...] = DEFAULT_HOURS
    saturday_morning: bool = False
    saturday_hours: tuple[tuple[time, time], ...] = DEFAULT_SATURDAY_HOURS
    saturday_counts: bool = False
    same_day_cutoff: time = DEFAULT_SAME_DAY_CUTOFF
    overrides: tuple[DayOverride, ...] = ()


@dataclass(frozen=True)
class CalendarConfig:
    """The parsed ``calendar.yaml``: default hours, overrides and per-unit hours."""

    default: UnitHours = field(default_factory=UnitHours)
    overrides: tuple[DayOverride, ...] = ()
    units: Mapping[str, UnitHours] = field(default_factory=dict)
    public_holidays: bool = True
    source: str | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "CalendarConfig":
        """Read ``calendar.yaml``.

        Parameters
        ----------
        path : path-like
            The file to read.

        Returns
        -------
        CalendarConfig

        Raises
        ------
        CalendarError
            When the file cannot be read or is malformed; the message starts with
            ``path:line:col`` of the offending value.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise CalendarError(f"{p}: cannot read the calendar file: {exc.strerror or exc}") from None
        return cls.from_text(text, _display_path(p))

    @classmethod
    def from_text(cls, text: str, source: str = "<calendar>") -> "CalendarConfig":
        """Parse the text of a ``calendar.yaml`` (see :meth:`from_file`)."""
        return _ConfigReader(source).read(text)


def _display_path(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


class _ConfigReader:
    """Turns a composed YAML node tree into a CalendarConfig, with located errors."""

    TOP_KEYS = {
        "hours", "saturday_morning", "saturday_hours", "saturday_counts", "same_day_cutoff",
        "add_working_days", "remove_working_days", "units", "public_holidays",
    }
    UNIT_KEYS = {
        "hours", "saturday_morning", "saturday_hours", "saturday_counts", "same_day_cutoff",
        "add_working_days", "remove_working_days",
    }

    def __init__(self, source: str):
        self.source = source

    def fail(self, node, message: str) -> CalendarError:
        if node is None:
            return CalendarError(f"{self.source}: {message}")
        mark = node.start_mark
        return CalendarError(f"{Location(self.source, mark.line + 1, mark.column + 1)}: {message}")

    def read(self, text: str) -> CalendarConfig:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = (f"{Location(self.source, mark.line + 1, mark.column + 1)}" if mark else self.source)
            problem = getattr(exc, "problem", None) or str(exc)
            raise CalendarError(f"{where}: not valid YAML: {problem}") from None
        if root is None:
            return CalendarConfig(source=self.source)
        top = self.mapping(root, "the calendar file", self.TOP_KEYS)
        default, overrides = self.unit_hours(top, None, "")
        units: dict[str, UnitHours] = {}
        if "units" in top:
            key_node, node = top["units"]
            for name, (k, v) in self.mapping(node, "units", None).items():
                if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
                    raise self.fail(k, f"units: '{name}' is not a unit id (letters, digits, _ . -)")
                sub = self.mapping(v, f"units.{name}", self.UNIT_KEYS)
                unit, unit_overrides = self.unit_hours(sub, default, f"units.{name}.")
                units[name] = UnitHours(
                    unit.hours, unit.saturday_morning, unit.saturday_hours,
                    unit.saturday_counts, unit.same_day_cutoff, unit_overrides,
                )
        public = True
        if "public_holidays" in top:
            public = self.boolean(top["public_holidays"][1], "public_holidays")
        return CalendarConfig(default, overrides, units, public, self.source)

    # --- typed readers

    def mapping(self, node, what: str, allowed: set[str] | None) -> dict[str, tuple]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value)")
        out: dict[str, tuple] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.fail(k, f"{what}: keys must be plain names")
            key = k.value
            if key in out:
                raise self.fail(k, f"{what}: duplicate key '{key}'")
            if allowed is not None and key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(k, f"{what}: unknown key '{key}' (known: {known})")
            out[key] = (k, v)
        return out

    def scalar(self, node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{what} must be a single value")
        return node.value

    def boolean(self, node, what: str) -> bool:
        value = self.scalar(node, what).lower()
        if value in ("true", "yes", "on"):
            return True
        if value in ("false", "no", "off"):
            return False
        raise self.fail(node, f"{what} must be true or false, not '{node.value}'")

    def time_of_day(self, node, what: str) -> time:
        minutes = self.catch(node, lambda: _hhmm(self.scalar(node, what), what))
        if minutes >= 24 * 60:
            raise self.fail(node, f"{what}: {node.value} is not a time of day")
        return time(minutes // 60, minutes % 60)

    def hours(self, node, what: str) -> tuple[tuple[time, time], ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list of [start, end] pairs, e.g. [[08:00, 12:00]]")
        pairs = []
        for item in node.value:
            if not isinstance(item, yaml.SequenceNode) or len(item.value) != 2:
                raise self.fail(item, f"{what}: each interval is a pair [start, end]")
            start, end = (self.scalar(n, what) for n in item.value)
            pairs.append((item, (start, end)))
        out = []
        for item, pair in pairs:
            self.catch(item, lambda: _intervals([pair], what))
        minutes = self.catch(node, lambda: _intervals([p for _, p in pairs], what))
        for a, b in minutes:
            out.append((time(a // 60, a % 60), _time_or_midnight(b)))
        return tuple(out)

    def days(self, node, what: str, working: bool) -> list[DayOverride]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list of {{date: YYYY-MM-DD, reason: ...}}")
        out = []
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                date_node, reason = item, ""
            else:
                fields = self.mapping(item, what, {"date", "reason", "source"})
                if "date" not in fields:
                    raise self.fail(item, f"{what}: each entry needs a date")
                date_node = fields["date"][1]
                reason = self.scalar(fields["reason"][1], f"{what}.reason") if "reason" in fields else ""
            raw = self.scalar(date_node, f"{what}.date")
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                raise self.fail(date_node, f"{what}: '{raw}' is not a date (YYYY-MM-DD)") from None
            if not MIN_YEAR <= day.year <= MAX_YEAR:
                raise self.fail(date_node, f"{what}: {raw} is outside {MIN_YEAR}-{MAX_YEAR}")
            out.append((date_node, DayOverride(day, working, reason)))
        return out

    def catch(self, node, fn):
        try:
            return fn()
        except CalendarError as exc:
            raise self.fail(node, str(exc)) from None

    def unit_hours(self, m: dict, base: UnitHours | None, prefix: str):
        base = base or UnitHours()
        hours = self.hours(m["hours"][1], f"{prefix}hours") if "hours" in m else base.hours
        if not hours:
            raise self.fail(m["hours"][1], f"{prefix}hours: a working day needs at least one interval")
        sat_morning = (self.boolean(m["saturday_morning"][1], f"{prefix}saturday_morning")
                       if "saturday_morning" in m else base.saturday_morning)
        sat_hours = (self.hours(m["saturday_hours"][1], f"{prefix}saturday_hours")
                     if "saturday_hours" in m else base.saturday_hours)
        if "saturday_hours" in m and not sat_hours:
            raise self.fail(m["saturday_hours"][1], f"{prefix}saturday_hours: give at least one "
                                                    f"interval (or set saturday_morning: false)")
        if "saturday_counts" in m:
            counts = self.boolean(m["saturday_counts"][1], f"{prefix}saturday_counts")
            if counts and not sat_morning:
                raise self.fail(m["saturday_counts"][1],
                                f"{prefix}saturday_counts is true but the unit does not open on "
                                f"Saturday: set saturday_morning: true")
        else:
            counts = base.saturday_counts and sat_morning
        cutoff = (self.time_of_day(m["same_day_cutoff"][1], f"{prefix}same_day_cutoff")
                  if "same_day_cutoff" in m else base.same_day_cutoff)
        located: list[tuple] = []
        if "add_working_days" in m:
            located += self.days(m["add_working_days"][1], f"{prefix}add_working_days", True)
        if "remove_working_days" in m:
            located += self.days(m["remove_working_days"][1], f"{prefix}remove_working_days", False)
        seen: dict[date, DayOverride] = {}
        for node, ov in located:
            if ov.day in seen:
                where = prefix.rstrip(".") or "calendar"
                raise self.fail(node, f"{where}: {ov.day} is listed twice in the overrides")
            seen[ov.day] = ov
        overrides = tuple(sorted(seen.values(), key=lambda o: o.day))
        return UnitHours(hours, sat_morning, sat_hours, counts, cutoff), overrides


def _time_or_midnight(m: int) -> time:
    # 24:00 ends a day; time() cannot hold it, so it is kept as 23:59:59.999999 + 1 µs below.
    if m >= 24 * 60:
        return time.max
    return time(m // 60, m % 60)


# --------------------------------------------------------------------------- locating the catalogue


def catalogue_dir() -> Path:
    """The catalogue directory whose ``calendar.yaml`` :meth:`WorkCalendar.default` reads.

    Returns
    -------
    Path
        ``$QUYTRINH_CATALOGUE_DIR`` when set; else ``./procedures_yaml`` when it
        holds a ``calendar.yaml``; else ``procedures_yaml`` next to the ``engine``
        package (the repository's own catalogue).
    """
    env = os.environ.get(_ENV_DIR)
    if env:
        return Path(env)
    here = Path.cwd() / "procedures_yaml"
    if (here / _CALENDAR_FILE).is_file():
        return here
    return Path(__file__).resolve().parent.parent / "procedures_yaml"


# --------------------------------------------------------------------------- the calendar


class _Span:
    """Precomputed days base .. base+n-1: pattern of each day and cumulative working time."""

    __slots__ = ("base", "n", "first_year", "last_year", "pattern", "cum", "hours", "midnight",
                 "cum_min", "hours_min")

    def __init__(self, base, n, first_year, last_year, pattern, cum, hours, midnight,
                 cum_min, hours_min):
        self.base = base            # ordinal of day 0
        self.n = n                  # number of days
        self.first_year = first_year
        self.last_year = last_year
        self.pattern = pattern      # per day: index into WorkCalendar._patterns
        self.cum = cum              # len n+1: working µs before day i
        self.hours = hours          # per day: its counted intervals (µs since midnight)
        self.midnight = midnight    # per day: aware local midnight
        self.cum_min = cum_min      # cum in minutes (the fast path for whole-minute instants)
        self.hours_min = hours_min  # hours in minutes since midnight


# timedelta of each whole minute of a day (building one from microseconds is slower).
_TD_MINUTE = tuple(timedelta(minutes=m) for m in range(24 * 60 + 1))


_NONE, _WEEKDAY, _SATURDAY = 0, 1, 2

_default_cache: dict[tuple, "WorkCalendar"] = {}
_default_lock = threading.Lock()


class WorkCalendar:
    """Working time of one unit: which minutes count toward a deadline.

    Parameters
    ----------
    hours : sequence of (start, end)
        Office hours of a working day, as ``time`` or ``"HH:MM"`` pairs, in order
        (default 08:00-12:00 and 13:00-17:00).
    saturday_hours : sequence of (start, end)
        Reception hours on ordinary Saturdays (default: closed).
    saturday_counts : bool
        Whether the Saturday hours count toward deadlines (default False; needs
        ``saturday_hours``).
    overrides : iterable of DayOverride
        Days made working days or days off; they win over the package.
    public_holidays : bool
        Use the ``holidays`` package (VN, observed and substituted days, make-up
        Saturdays). False gives a plain Monday-Friday calendar plus overrides.
    same_day_cutoff : time
        Default cut-off of :meth:`same_day_due`.
    unit : str or None
        The unit these hours belong to (informational).

    Raises
    ------
    CalendarError
        When the hours are empty, overlap or are out of order, or Saturday is
        said to count without Saturday hours.
    """

    def __init__(
        self,
        *,
        hours: Sequence = DEFAULT_HOURS,
        saturday_hours: Sequence = (),
        saturday_counts: bool = False,
        overrides: Iterable[DayOverride] = (),
        public_holidays: bool = True,
        same_day_cutoff: time = DEFAULT_SAME_DAY_CUTOFF,
        unit: str | None = None,
    ):
        weekday = _intervals(hours, "hours")
        if not weekday:
            raise CalendarError("hours: a working day needs at least one interval")
        saturday = _intervals(saturday_hours, "saturday_hours")
        if saturday_counts and not saturday:
            raise CalendarError("saturday_counts is true but no saturday_hours are given")
        if not isinstance(same_day_cutoff, time):
            raise CalendarError(f"same_day_cutoff must be a time, not {same_day_cutoff!r}")
        self.unit = unit
        self.hours = tuple((time(a // 60, a % 60), _time_or_midnight(b)) for a, b in weekday)
        self.saturday_hours = tuple((time(a // 60, a % 60), _time_or_midnight(b)) for a, b in saturday)
        self.saturday_counts = bool(saturday_counts)
        self.public_holidays = bool(public_holidays)
        self.same_day_cutoff = same_day_cutoff
        self.overrides = tuple(sorted(overrides, key=lambda o: o.day))
        self._override = {o.day: o for o in self.overrides}
        us = lambda iv: tuple((a * _US_PER_MIN, b * _US_PER_MIN) for a, b in iv)  # noqa: E731
        # Patterns by index: _NONE, _WEEKDAY, _SATURDAY (counted Saturday).
        self._patterns = ((), us(weekday), us(saturday) if saturday_counts else ())
        self._pattern_len = tuple(sum(b - a for a, b in p) for p in self._patterns)
        self._reception_saturday = us(saturday)
        self._holiday_names: dict[date, str] = {}
        self._makeup: set[date] = set()
        self._pkg_years: set[int] = set()
        self._lock = threading.Lock()
        self._span: _Span | None = None

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_config(cls, config: CalendarConfig, unit: str | None = None) -> "WorkCalendar":
        """Build the calendar of ``unit`` (None: the default hours) from a parsed config.

        Raises
        ------
        CalendarError
            When ``unit`` is not in the config's ``units``.
        """
        if unit is None:
            u = config.default
            overrides = config.overrides
        else:
            if unit not in config.units:
                known = ", ".join(sorted(config.units)) or "none"
                where = config.source or "the calendar"
                raise CalendarError(f"unknown unit '{unit}' in {where} (units with own hours: {known})")
            u = config.units[unit]
            merged = {o.day: o for o in config.overrides}
            merged.update({o.day: o for o in u.overrides})
            overrides = tuple(merged.values())
        return cls(
            hours=u.hours,
            saturday_hours=u.saturday_hours if u.saturday_morning else (),
            saturday_counts=u.saturday_counts and u.saturday_morning,
            overrides=overrides,
            public_holidays=config.public_holidays,
            same_day_cutoff=u.same_day_cutoff,
            unit=unit,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike, unit: str | None = None) -> "WorkCalendar":
        """Build a calendar from a ``calendar.yaml`` file (see :meth:`CalendarConfig.from_file`)."""
        return cls.from_config(CalendarConfig.from_file(path), unit)

    @classmethod
    def default(cls, unit: str | None = None) -> "WorkCalendar":
        """The calendar of the catalogue in use (cached while the file is unchanged).

        Reads ``calendar.yaml`` from :func:`catalogue_dir`.

        Parameters
        ----------
        unit : str or None
            A unit id listed under ``units:`` for its own hours; None for the default.

        Returns
        -------
        WorkCalendar

        Raises
        ------
        CalendarError
            When the file is missing or malformed, or ``unit`` is unknown.
        """
        directory = catalogue_dir()
        path = directory / _CALENDAR_FILE
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            hint = f" (set by ${_ENV_DIR})" if os.environ.get(_ENV_DIR) else ""
            raise CalendarError(f"no {_CALENDAR_FILE} in {directory}{hint}") from None
        key = (str(path.resolve()), stamp, unit)
        with _default_lock:
            cal = _default_cache.get(key)
        if cal is None:
            cal = cls.from_file(path, unit)
            with _default_lock:
                _default_cache[key] = cal
        return cal

    def __repr__(self) -> str:
        hours = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.hours)
        unit = f" unit={self.unit!r}" if self.unit else ""
        return f"<WorkCalendar{unit} {hours} overrides={len(self.overrides)}>"

    # ----------------------------------------------------------------- days

    def _ensure_package(self, years: Iterable[int]) -> None:
        need = [y for y in years if y not in self._pkg_years]
        if not need or not self.public_holidays:
            return
        import holidays as _holidays_pkg  # ~50 ms: imported by the first computation that needs a year's holidays

        lo, hi = min(need) - 1, max(need) + 1
        vn = _holidays_pkg.country_holidays("VN", years=range(lo, hi + 1), language="vi")
        for d, name in vn.items():
            self._holiday_names.setdefault(d, name)
        self._makeup.update(getattr(vn, "weekend_workdays", ()))
        self._pkg_years.update(range(lo, hi + 1))

    def _classify(self, d: date) -> int:
        ov = self._override.get(d)
        if ov is not None:
            return _WEEKDAY if ov.working else _NONE
        if self.public_holidays:
            if d in self._holiday_names:
                return _NONE
            if d in self._makeup:
                return _WEEKDAY
        wd = d.weekday()
        if wd < 5:
            return _WEEKDAY
        if wd == 5 and self.saturday_counts:
            return _SATURDAY
        return _NONE

    def _build(self, first_year: int, last_year: int) -> _Span:
        if first_year < MIN_YEAR or last_year > MAX_YEAR:
            raise CalendarError(
                f"the working calendar covers {MIN_YEAR}-{MAX_YEAR}; "
                f"asked about {first_year if first_year < MIN_YEAR else last_year}"
            )
        self._ensure_package(range(first_year, last_year + 1))
        base = date(first_year, 1, 1).toordinal()
        n = date(last_year, 12, 31).toordinal() - base + 1
        pattern = bytearray(n)
        cum = [0] * (n + 1)
        lengths = self._pattern_len
        total = 0
        for i in range(n):
            p = self._classify(date.fromordinal(base + i))
            pattern[i] = p
            cum[i] = total
            total += lengths[p]
        cum[n] = total
        patterns = self._patterns
        hours = [patterns[p] for p in pattern]
        midnight = []
        for i in range(n):
            d = date.fromordinal(base + i)
            midnight.append(datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ))
        cum_min = [c // _US_PER_MIN for c in cum]
        by_min = [tuple((a // _US_PER_MIN, b // _US_PER_MIN) for a, b in p) for p in patterns]
        hours_min = [by_min[p] for p in pattern]
        return _Span(base, n, first_year, last_year, bytes(pattern), cum, hours, midnight,
                     cum_min, hours_min)

    def _span_for(self, year: int) -> _Span:
        """The span covering ``year`` (extended by whole years, with a margin)."""
        with self._lock:
            span = self._span
            if span is not None and span.first_year <= year <= span.last_year:
                return span
            if span is None:
                lo, hi = year - 1, year + 2
            else:
                lo = min(span.first_year, year - 1)
                hi = max(span.last_year, year + 2)
            lo, hi = max(lo, MIN_YEAR), min(hi, MAX_YEAR)
            if not lo <= year <= hi:
                raise CalendarError(
                    f"the working calendar covers {MIN_YEAR}-{MAX_YEAR}; asked about {year}"
                )
            self._span = self._build(lo, hi)
            return self._span

    def _day_pattern(self, d: date) -> int:
        span = self._span
        if span is None or not 0 <= d.toordinal() - span.base < span.n:
            span = self._span_for(d.year)
        return span.pattern[d.toordinal() - span.base]

    @staticmethod
    def _as_date(d: date | datetime) -> date:
        if isinstance(d, datetime):
            return _naive_local(d).date()
        if isinstance(d, date):
            return d
        raise CalendarError(f"expected a date, got {type(d).__name__} {d!r}")

    def is_working_day(self, d: date | datetime) -> bool:
        """Whether ``d`` has working time that counts toward deadlines.

        Parameters
        ----------
        d : date or datetime
            A datetime is reduced to its local date.

        Returns
        -------
        bool
            True for a weekday that is not a holiday or a day off, a make-up
            Saturday, a day added by the overrides, and an ordinary Saturday of a
            unit whose Saturday counts.

        Raises
        ------
        CalendarError
            Outside 1995-2099, or when ``d`` is not a date.
        """
        return self._day_pattern(self._as_date(d)) != _NONE

    def day_off_reason(self, d: date | datetime) -> str | None:
        """Why ``d`` is not a working day, in Vietnamese (holiday name, override reason,
        "Thứ Bảy", "Chủ nhật"), or None for a working day."""
        day = self._as_date(d)
        if self.is_working_day(day):
            return None
        ov = self._override.get(day)
        if ov is not None:
            return ov.reason or "Ngày nghỉ (calendar.yaml)"
        if day in self._holiday_names:
            return self._holiday_names[day]
        return "Thứ Bảy" if day.weekday() == 5 else "Chủ nhật"

    def hours_on(self, d: date | datetime) -> tuple[tuple[time, time], ...]:
        """The counted office hours of ``d`` (empty on a day off)."""
        p = self._day_pattern(self._as_date(d))
        if p == _NONE:
            return ()
        return self.hours if p == _WEEKDAY else self.saturday_hours

    def next_working_day(self, d: date | datetime) -> date:
        """The first working day strictly after ``d``.

        Raises
        ------
        CalendarError
            When no working day follows within the supported years.
        """
        day = self._as_date(d)
        for _ in range(366 * 2):
            day = day + timedelta(days=1)
            if self._day_pattern(day) != _NONE:
                return day
        raise CalendarError(f"no working day within two years after {d}")  # pragma: no cover

    def day_end(self, d: date | datetime) -> datetime:
        """The end of the counted office hours of working day ``d`` (e.g. 17:00).

        Raises
        ------
        CalendarError
            When ``d`` is not a working day.
        """
        day = self._as_date(d)
        p = self._day_pattern(day)
        if p == _NONE:
            raise CalendarError(f"{day} is not a working day ({self.day_off_reason(day)})")
        end_us = self._patterns[p][-1][1]
        return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ) + timedelta(microseconds=end_us)

    def is_open(self, t: datetime) -> bool:
        """Whether the unit is open at ``t``: inside counted hours or Saturday reception hours."""
        lt = _naive_local(t)
        tod = (lt.hour * 3600 + lt.minute * 60 + lt.second) * 1_000_000 + lt.microsecond
        p = self._day_pattern(lt.date())
        intervals = self._patterns[p]
        if p == _NONE and lt.weekday() == 5 and self._classify_reception_saturday(lt.date()):
            intervals = self._reception_saturday
        return any(a <= tod < b for a, b in intervals)

    def _classify_reception_saturday(self, d: date) -> bool:
        ov = self._override.get(d)
        if ov is not None and not ov.working:
            return False
        return not (self.public_holidays and d in self._holiday_names)

    # ----------------------------------------------------------------- working-time coordinate
    #
    # Every instant maps to a coordinate: the working time (µs) from the start of
    # the precomputed span to that instant. The coordinate is non-decreasing in
    # time, strictly increasing inside office hours and flat outside them, so
    # ``add`` is "coordinate + minutes, then back to an instant" and ``elapsed`` is
    # a difference of coordinates.

    def _covering(self, lo_year: int, hi_year: int) -> _Span:
        span = self._span
        if span is None or lo_year < span.first_year or hi_year > span.last_year:
            self._span_for(lo_year)
            span = self._span_for(hi_year)
        return span

    def _coord(self, span: _Span, t: datetime) -> int:
        """Coordinate of naive-local ``t`` in ``span`` (which must cover it)."""
        i = t.toordinal() - span.base
        w = span.cum[i]
        tod = (t.hour * 3600 + t.minute * 60 + t.second) * 1_000_000 + t.microsecond
        for a, b in span.hours[i]:
            if tod <= a:
                break
            if tod < b:
                return w + tod - a
            w += b - a
        return w

    @staticmethod
    def _coord_min(span: _Span, t: datetime) -> int:
        """Coordinate in minutes of a whole-minute naive-local ``t`` in ``span``."""
        i = t.toordinal() - span.base
        w = span.cum_min[i]
        tod = t.hour * 60 + t.minute
        for a, b in span.hours_min[i]:
            if tod <= a:
                break
            if tod < b:
                return w + tod - a
            w += b - a
        return w

    def _grow(self, span: _Span, year: int, target: int) -> tuple[_Span, int]:
        """Extend the span to cover ``year``; re-express ``target`` in the new span."""
        new = self._span_for(year)
        if new.base != span.base:
            # The span grew backward (maybe in another thread): shift by the
            # working time of the days prepended.
            target += new.cum[span.base - new.base]
        return new, target

    @staticmethod
    def _at(span: _Span, i: int, tod: int) -> datetime:
        q, r = divmod(tod, _US_PER_MIN)
        return span.midnight[i] + (timedelta(microseconds=tod) if r else _TD_MINUTE[q])

    def _earliest(self, span: _Span, target: int) -> datetime:
        """The earliest instant whose coordinate is ``target`` (> the span's first opening)."""
        while target > span.cum[-1]:
            span, target = self._grow(span, span.last_year + 1, target)
        cum = span.cum
        i = bisect_left(cum, target) - 1
        off = target - cum[i]
        for a, b in span.hours[i]:
            if off <= b - a:
                return self._at(span, i, a + off)
            off -= b - a
        raise AssertionError("unreachable: cumulative table inconsistent")  # pragma: no cover

    def _latest(self, span: _Span, target: int) -> datetime:
        """The latest instant whose coordinate is ``target``: at a boundary, the next opening."""
        while target >= span.cum[-1]:
            span, target = self._grow(span, span.last_year + 1, target)
        while target < 0:
            span, target = self._grow(span, span.first_year - 1, target)
        cum = span.cum
        i = bisect_right(cum, target) - 1
        off = target - cum[i]
        for a, b in span.hours[i]:
            if off < b - a:
                return self._at(span, i, a + off)
            off -= b - a
        raise AssertionError("unreachable: cumulative table inconsistent")  # pragma: no cover

    # ----------------------------------------------------------------- arithmetic

    @staticmethod
    def _minutes_arg(minutes) -> int:
        if minutes.__class__ is int:
            return minutes
        if isinstance(minutes, bool):
            raise CalendarError(f"minutes must be an integer, not {minutes!r}")
        try:
            return operator.index(minutes)
        except TypeError:
            raise CalendarError(f"minutes must be an integer, not {minutes!r}") from None

    def add(self, start: datetime, minutes: int) -> datetime:
        """The earliest instant at which ``minutes`` working minutes have elapsed from ``start``.

        A start outside office hours counts from the next opening; a deadline can
        fall exactly at a closing time (12:00, 17:00): the earliest instant, not
        the next opening.

        Parameters
        ----------
        start : datetime
            Aware (any zone) or naive (local time).
        minutes : int
            Working minutes, 0 or more. ``add(start, 0)`` returns ``start`` itself
            (in local time), even outside office hours, so that
            ``elapsed(s, add(s, m)) == m`` and ``add(add(s, a), b) == add(s, a + b)``
            hold for every ``s`` and every ``a, b >= 0``.

        Returns
        -------
        datetime
            Aware, in Asia/Ho_Chi_Minh.

        Raises
        ------
        CalendarError
            When ``minutes`` is negative or not an integer, or an instant falls
            outside 1995-2099.

        Examples
        --------
        >>> cal = WorkCalendar(public_holidays=False)
        >>> cal.add(datetime(2026, 3, 13, 16, 0), 90).isoformat()   # a Friday
        '2026-03-16T08:30:00+07:00'
        >>> cal.add(datetime(2026, 3, 13, 16, 0), 60).isoformat()
        '2026-03-13T17:00:00+07:00'
        """
        if minutes.__class__ is not int or minutes <= 0:
            minutes = self._minutes_arg(minutes)
            if minutes == 0:
                return to_local(start)
            if minutes < 0:
                raise CalendarError(f"minutes must be >= 0, not {minutes} (use sub() to go back)")
        # The hot path of deadline computation, written out: coordinate of the
        # start, plus the minutes, bisected back to an instant.
        t = start
        if t.__class__ is not datetime and not isinstance(t, datetime):
            raise CalendarError(f"expected a datetime, got {type(t).__name__} {t!r}")
        if t.tzinfo is not None and t.tzinfo is not LOCAL_TZ:
            t = t.astimezone(LOCAL_TZ)
        span = self._span
        i = t.toordinal()
        if span is None or not 0 <= i - span.base < span.n:
            span = self._span_for(t.year)
        i -= span.base
        if t.second or t.microsecond:
            return self._earliest(span, self._coord(span, t) + minutes * _US_PER_MIN)
        # Whole-minute start (the usual case): the same arithmetic in minutes.
        cum = span.cum_min
        w = cum[i]
        tod = t.hour * 60 + t.minute
        for a, b in span.hours_min[i]:
            if tod <= a:
                break
            if tod < b:
                w += tod - a
                break
            w += b - a
        target = w + minutes
        if target > cum[-1]:
            return self._earliest(span, target * _US_PER_MIN)
        j = bisect_left(cum, target) - 1
        off = target - cum[j]
        for a, b in span.hours_min[j]:
            if off <= b - a:
                return span.midnight[j] + _TD_MINUTE[a + off]
            off -= b - a
        raise AssertionError("unreachable: cumulative table inconsistent")  # pragma: no cover

    def sub(self, end: datetime, minutes: int) -> datetime:
        """The latest instant from which ``minutes`` working minutes elapse until ``end``.

        The mirror of :meth:`add`: on a boundary it returns the opening (13:00,
        08:00) rather than the previous closing; ``sub(e, 0)`` returns ``e``;
        ``elapsed(sub(e, m), e) == m``.

        Raises
        ------
        CalendarError
            When ``minutes`` is negative or not an integer, or an instant falls
            outside 1995-2099.
        """
        minutes = self._minutes_arg(minutes)
        if minutes < 0:
            raise CalendarError(f"minutes must be >= 0, not {minutes}")
        if minutes == 0:
            return to_local(end)
        t = _naive_local(end)
        span = self._covering(t.year, t.year)
        return self._latest(span, self._coord(span, t) - minutes * _US_PER_MIN)

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """The exact working time from ``start`` to ``end`` (negative when ``end < start``).

        Raises
        ------
        CalendarError
            Outside 1995-2099.
        """
        s, e = _naive_local(start), _naive_local(end)
        span = self._covering(min(s.year, e.year), max(s.year, e.year))
        return timedelta(microseconds=self._coord(span, e) - self._coord(span, s))

    def elapsed(self, start: datetime, end: datetime) -> int:
        """Whole working minutes from ``start`` to ``end``.

        Parameters
        ----------
        start, end : datetime
            Aware or naive (local time).

        Returns
        -------
        int
            Working minutes, rounded toward zero; negative when ``end`` is before
            ``start`` (``elapsed(a, b) == -elapsed(b, a)``).

        Raises
        ------
        CalendarError
            Outside 1995-2099.
        """
        # Local aware instants are used as they are: the coordinates read only
        # their wall-clock fields, which are those of the naive local time.
        s = start if start.__class__ is datetime and start.tzinfo is LOCAL_TZ else _naive_local(start)
        e = end if end.__class__ is datetime and end.tzinfo is LOCAL_TZ else _naive_local(end)
        span = self._covering(min(s.year, e.year), max(s.year, e.year))
        if not (s.second or s.microsecond or e.second or e.microsecond):
            return self._coord_min(span, e) - self._coord_min(span, s)
        d = self._coord(span, e) - self._coord(span, s)
        return d // _US_PER_MIN if d >= 0 else -((-d) // _US_PER_MIN)

    def next_opening(self, t: datetime) -> datetime:
        """The earliest instant at or after ``t`` at which working time runs.

        Returns ``t`` itself (in local time) when it is inside counted office
        hours; otherwise the next opening (13:00 after lunch, 08:00 of the next
        working day).
        """
        lt = _naive_local(t)
        span = self._covering(lt.year, lt.year)
        return self._latest(span, self._coord(span, lt))

    def calendar_days_due(self, received: datetime, days: int) -> datetime:
        """Due instant of a limit in calendar days ("trong thời hạn 15 ngày").

        Civil Code 2015 Art. 147(2): the day of receipt is not counted, the
        limit runs from the next day; Art. 148(1), (5): it ends at the end of
        its last day, or, when that day is a weekend day or a holiday, at the
        end of the next working day. The end of a day is its closing time here
        (e.g. 17:00), when the office returns results.

        Parameters
        ----------
        received : datetime
            Receipt of the complete dossier (or the restart of the clock).
        days : int
            The limit, at least 1.

        Returns
        -------
        datetime
            The closing time of the last day, aware, local.

        Raises
        ------
        CalendarError
            When ``days`` is not a positive integer.
        """
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise CalendarError(f"a limit in calendar days must be an integer >= 1, not {days!r}")
        last = _naive_local(received).date() + timedelta(days=days)
        if not self.is_working_day(last):
            last = self.next_working_day(last)
        return self.day_end(last)

    def same_day_due(self, received: datetime, cutoff: time | None = None) -> datetime:
        """Due instant of a same-day procedure ("giải quyết trong ngày").

        A dossier received on a working day at or before the cut-off (and before
        that day's closing) is due at the end of that working day; one received
        after the cut-off, after closing, or on a day off is due at the end of the
        next working day.

        Parameters
        ----------
        received : datetime
            Receipt of the complete dossier.
        cutoff : time or None
            Defaults to the calendar's ``same_day_cutoff`` (15:00).

        Returns
        -------
        datetime
            The closing time (e.g. 17:00) of the chosen day, aware, local.
        """
        r = _naive_local(received)
        cut = self.same_day_cutoff if cutoff is None else cutoff
        d = r.date()
        if self.is_working_day(d) and r.time() <= cut:
            end = self.day_end(d)
            if r < end.replace(tzinfo=None):
                return end
        return self.day_end(self.next_working_day(d))
