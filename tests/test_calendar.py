"""The working-time calendar: days, hand-worked deadlines, properties, the YAML table."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.calendar_oracle import HOURS, day_hours_from, oracle_add, oracle_elapsed
from engine.calendar import (
    LOCAL_TZ,
    CalendarConfig,
    DayOverride,
    WorkCalendar,
    catalogue_dir,
    format_duration,
    parse_duration,
    to_local,
)
from engine.errors import CalendarError

REPO = Path(__file__).resolve().parent.parent
CALENDAR_YAML = REPO / "procedures_yaml" / "calendar.yaml"

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.from_file(CALENDAR_YAML)


def D(*args) -> datetime:
    """A local instant (aware, Asia/Ho_Chi_Minh)."""
    return datetime(*args, tzinfo=LOCAL_TZ)


def days(first: date, last: date):
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


# --------------------------------------------------------------------------- the package's data


class TestPackageData:
    """The facts the hand-worked cases rely on, read from holidays 0.109 itself."""

    vn = holidays.VN(years=range(2023, 2028))

    @pytest.mark.parametrize("first,last", [
        (date(2024, 2, 8), date(2024, 2, 14)),   # Tết Giáp Thìn: 29 Tết .. mùng 5
        (date(2025, 1, 27), date(2025, 2, 1)),   # Tết Ất Tỵ
        (date(2026, 2, 16), date(2026, 2, 20)),  # Tết Bính Ngọ (Mon-Fri; 14-22/2 with weekends)
    ])
    def test_tet_days_are_holidays(self, first, last):
        assert all(d in self.vn for d in days(first, last))

    def test_days_next_to_tet_are_not_holidays(self):
        for d in (date(2024, 2, 7), date(2024, 2, 15), date(2025, 1, 24), date(2025, 2, 3),
                  date(2026, 2, 13), date(2026, 2, 23)):
            assert d not in self.vn

    def test_swaps_and_make_up_saturdays(self):
        assert date(2024, 4, 29) in self.vn and date(2025, 5, 2) in self.vn
        assert date(2026, 8, 31) in self.vn
        assert {date(2024, 5, 4), date(2025, 4, 26), date(2026, 8, 22)} <= set(self.vn.weekend_workdays)

    def test_new_year_2026_swap_is_not_in_the_package(self):
        # Hence the override in calendar.yaml (12729/VPCP-KGVX).
        assert date(2026, 1, 2) not in self.vn
        assert date(2026, 1, 10) not in self.vn.weekend_workdays

    def test_labour_days_and_national_day(self):
        for d in (date(2024, 4, 30), date(2024, 5, 1), date(2025, 4, 30), date(2025, 5, 1),
                  date(2024, 9, 2), date(2024, 9, 3), date(2025, 9, 1), date(2025, 9, 2),
                  date(2026, 9, 1), date(2026, 9, 2)):
            assert d in self.vn


# --------------------------------------------------------------------------- working days


class TestWorkingDays:
    def test_predicate_matches_package_and_overrides_2024_2027(self, cal):
        """Every day of 2024-2027 against an independent reading of the rules."""
        vn = holidays.VN(years=range(2023, 2029))
        config = CalendarConfig.from_file(CALENDAR_YAML)
        overrides = {o.day: o.working for o in config.overrides}
        for d in days(date(2024, 1, 1), date(2027, 12, 31)):
            if d in overrides:
                expected = overrides[d]
            elif d in vn:
                expected = False
            elif d in vn.weekend_workdays:
                expected = True
            else:
                expected = d.weekday() < 5
            assert cal.is_working_day(d) is expected, d

    @pytest.mark.parametrize("d,working", [
        (date(2024, 5, 4), True),    # make-up Saturday for 29/4/2024
        (date(2025, 4, 26), True),   # make-up Saturday for 2/5/2025
        (date(2026, 8, 22), True),   # make-up Saturday for 31/8/2026
        (date(2024, 4, 29), False),
        (date(2025, 5, 2), False),
        (date(2026, 1, 2), False),   # calendar.yaml override
        (date(2026, 1, 10), True),   # calendar.yaml override (make-up Saturday)
        (date(2026, 2, 17), False),  # Tết
        (date(2026, 3, 14), False),  # ordinary Saturday
        (date(2026, 3, 15), False),  # Sunday
        (date(2026, 3, 16), True),
    ])
    def test_known_days(self, cal, d, working):
        assert cal.is_working_day(d) is working

    def test_datetime_is_reduced_to_its_local_date(self, cal):
        # 2026-03-13 20:00 UTC is Saturday 03:00 in Hanoi.
        assert cal.is_working_day(datetime(2026, 3, 13, 20, 0, tzinfo=timezone.utc)) is False
        assert cal.is_working_day(datetime(2026, 3, 13, 20, 0)) is True

    def test_day_off_reason(self, cal):
        assert cal.day_off_reason(date(2026, 2, 17)) == "Tết Nguyên Đán"
        assert "12729" not in cal.day_off_reason(date(2026, 1, 2))
        assert "Tết Dương lịch 2026" in cal.day_off_reason(date(2026, 1, 2))
        assert cal.day_off_reason(date(2026, 3, 14)) == "Thứ Bảy"
        assert cal.day_off_reason(date(2026, 3, 15)) == "Chủ nhật"
        assert cal.day_off_reason(date(2026, 3, 16)) is None

    def test_next_working_day_and_day_end(self, cal):
        assert cal.next_working_day(date(2024, 2, 7)) == date(2024, 2, 15)
        assert cal.next_working_day(date(2024, 5, 3)) == date(2024, 5, 4)
        assert cal.day_end(date(2024, 5, 4)) == D(2024, 5, 4, 17)
        with pytest.raises(CalendarError, match="not a working day"):
            cal.day_end(date(2024, 2, 10))

    def test_hours_on(self, cal):
        assert cal.hours_on(date(2026, 3, 16)) == ((time(8), time(12)), (time(13), time(17)))
        assert cal.hours_on(date(2026, 3, 14)) == ()

    def test_outside_supported_years(self, cal):
        with pytest.raises(CalendarError, match="1995-2099"):
            cal.add(D(2099, 12, 31, 16), 120)
        with pytest.raises(CalendarError, match="1995-2099"):
            cal.is_working_day(date(1990, 1, 2))
        assert cal.add(D(2099, 12, 31, 16), 60) == D(2099, 12, 31, 17)


# --------------------------------------------------------------------------- hand-worked deadlines


# (start, minutes, expected) with the arithmetic spelled out.
HAND_WORKED = [
    # Tết 2024: off Thu 8/2 .. Wed 14/2. Wed 7/2 16:00-17:00 = 60, then Thu 15/2 08:00 + 60.
    (D(2024, 2, 7, 16), 120, D(2024, 2, 15, 9)),
    # Received on Sat 10/2/2024 (Tết): counts from Thu 15/2 08:00.
    (D(2024, 2, 10, 10), 60, D(2024, 2, 15, 9)),
    # Tết 2025: off Mon 27/1 .. Fri 31/1 (and the weekends around). Fri 24/1 10:00-12:00 = 120,
    # 13:00-17:00 = 240, 120 left -> Mon 3/2 10:00.
    (D(2025, 1, 24, 10), 480, D(2025, 2, 3, 10)),
    # Tết 2026: off Mon 16/2 .. Fri 20/2. Fri 13/2 16:00-17:00 = 60, Mon 23/2 = 480 (540),
    # 180 left -> Tue 24/2 11:00.
    (D(2026, 2, 13, 16), 720, D(2026, 2, 24, 11)),
    # 30/4-1/5 2024: Mon 29/4 swapped off, Tue 30/4, Wed 1/5 off. Fri 26/4 16:00 + 60 -> Thu 2/5 09:00.
    (D(2024, 4, 26, 16), 120, D(2024, 5, 2, 9)),
    # ... and Sat 4/5/2024 is the make-up working day.
    (D(2024, 5, 3, 16), 120, D(2024, 5, 4, 9)),
    (D(2024, 5, 3, 16), 60 + 480 + 30, D(2024, 5, 6, 8, 30)),
    # 2025: Sat 26/4 is worked for Fri 2/5; 30/4, 1/5, 2/5 off.
    (D(2025, 4, 25, 16), 120, D(2025, 4, 26, 9)),
    (D(2025, 4, 29, 16), 120, D(2025, 5, 5, 9)),
    # 2/9/2024: Mon 2/9 and Tue 3/9 off.
    (D(2024, 8, 30, 16), 120, D(2024, 9, 4, 9)),
    # 2/9/2025: Mon 1/9 and Tue 2/9 off.
    (D(2025, 8, 29, 16), 120, D(2025, 9, 3, 9)),
    # 2/9/2026: Sat 22/8 worked for Mon 31/8; Tue 1/9, Wed 2/9 off.
    (D(2026, 8, 21, 16), 120, D(2026, 8, 22, 9)),
    (D(2026, 8, 28, 16), 120, D(2026, 9, 3, 9)),
    # New Year 2026 (calendar.yaml): Thu 1/1 holiday, Fri 2/1 swapped off, Sat 10/1 worked.
    (D(2025, 12, 31, 16), 120, D(2026, 1, 5, 9)),
    (D(2026, 1, 9, 16), 120, D(2026, 1, 10, 9)),
    # Before opening, at lunch, after closing, at the boundaries.
    (D(2026, 3, 16, 7, 0), 30, D(2026, 3, 16, 8, 30)),
    (D(2026, 3, 16, 12, 30), 30, D(2026, 3, 16, 13, 30)),
    (D(2026, 3, 16, 11, 30), 30, D(2026, 3, 16, 12, 0)),    # due exactly at 12:00
    (D(2026, 3, 16, 16, 30), 30, D(2026, 3, 16, 17, 0)),    # due exactly at 17:00
    (D(2026, 3, 16, 12, 0), 1, D(2026, 3, 16, 13, 1)),
    (D(2026, 3, 16, 17, 0), 30, D(2026, 3, 17, 8, 30)),
    (D(2026, 3, 16, 18, 0), 30, D(2026, 3, 17, 8, 30)),
    (D(2026, 3, 16, 8, 0), 480, D(2026, 3, 16, 17, 0)),     # one working day
    (D(2026, 3, 16, 8, 0), 481, D(2026, 3, 17, 8, 1)),
    # Weekend: Sun 15/3/2026 + 1 day -> Mon 17:00; Fri 16:00 + 1.5h -> Mon 08:30.
    (D(2026, 3, 15, 10), 480, D(2026, 3, 16, 17)),
    (D(2026, 3, 13, 16), 90, D(2026, 3, 16, 8, 30)),
    # Zero minutes: the start itself, even outside hours.
    (D(2026, 3, 14, 10), 0, D(2026, 3, 14, 10)),
]


@pytest.mark.parametrize("start,minutes,expected", HAND_WORKED)
def test_add_hand_worked(cal, start, minutes, expected):
    got = cal.add(start, minutes)
    assert got == expected
    assert got.tzinfo is LOCAL_TZ
    assert cal.elapsed(start, got) == minutes


@pytest.mark.parametrize("start,minutes,expected", HAND_WORKED)
def test_hand_worked_agree_with_the_oracle(cal, start, minutes, expected):
    dh = day_hours_from(cal.is_working_day)
    naive = start.replace(tzinfo=None)
    assert oracle_add(naive, minutes, dh) == expected.replace(tzinfo=None)


def test_elapsed_hand_worked(cal):
    # Across Tết 2024: Wed 7/2 full day + Thu 15/2 full day.
    assert cal.elapsed(D(2024, 2, 7, 8), D(2024, 2, 15, 17)) == 960
    assert cal.elapsed(D(2024, 2, 15, 17), D(2024, 2, 7, 8)) == -960
    assert cal.elapsed(D(2026, 3, 16, 11), D(2026, 3, 16, 14)) == 120     # lunch excluded
    assert cal.elapsed(D(2026, 3, 14, 9), D(2026, 3, 15, 9)) == 0          # weekend
    assert cal.elapsed(D(2026, 3, 16, 8, 0, 30), D(2026, 3, 16, 8, 2)) == 1  # whole minutes, toward zero
    assert cal.working_time(D(2026, 3, 16, 8, 0, 30), D(2026, 3, 16, 8, 2)) == timedelta(seconds=90)


def test_next_opening(cal):
    assert cal.next_opening(D(2026, 3, 16, 10, 5)) == D(2026, 3, 16, 10, 5)
    assert cal.next_opening(D(2026, 3, 16, 12, 0)) == D(2026, 3, 16, 13, 0)
    assert cal.next_opening(D(2026, 3, 16, 7, 0)) == D(2026, 3, 16, 8, 0)
    assert cal.next_opening(D(2026, 3, 16, 17, 0)) == D(2026, 3, 17, 8, 0)
    assert cal.next_opening(D(2024, 2, 7, 17, 0)) == D(2024, 2, 15, 8, 0)
    assert cal.next_opening(D(2024, 5, 3, 18, 0)) == D(2024, 5, 4, 8, 0)


def test_sub(cal):
    assert cal.sub(D(2024, 2, 15, 9), 120) == D(2024, 2, 7, 16)
    assert cal.sub(D(2026, 3, 17, 17), 480) == D(2026, 3, 17, 8)     # the opening, not Mon 17:00
    assert cal.sub(D(2026, 3, 16, 13, 30), 30) == D(2026, 3, 16, 13, 0)
    assert cal.sub(D(2026, 3, 16, 13, 30), 60) == D(2026, 3, 16, 11, 30)
    assert cal.sub(D(2026, 3, 16, 13, 0), 0) == D(2026, 3, 16, 13, 0)
    assert cal.sub(D(2026, 1, 12, 9), 120) == D(2026, 1, 10, 16)


def test_is_open_and_saturday_reception():
    config = CalendarConfig.from_file(CALENDAR_YAML)
    unit = WorkCalendar.from_config(config, "bp_mot_cua")
    default = WorkCalendar.from_config(config)
    saturday = D(2026, 3, 14, 9)
    assert unit.is_open(saturday) and not default.is_open(saturday)
    # Saturday reception does not count: the clock starts on Monday.
    assert unit.add(saturday, 60) == D(2026, 3, 16, 9)
    assert not unit.is_working_day(date(2026, 3, 14))
    assert not unit.is_open(D(2025, 2, 1, 9))    # a Saturday that is a holiday (mùng 4 Tết)
    assert default.is_open(D(2026, 3, 16, 9)) and not default.is_open(D(2026, 3, 16, 12, 30))


def test_saturday_counts_for_a_configured_unit():
    cal = WorkCalendar(saturday_hours=[("08:00", "12:00")], saturday_counts=True)
    assert cal.is_working_day(date(2026, 3, 14))
    assert cal.add(D(2026, 3, 13, 16), 120) == D(2026, 3, 14, 9)
    assert cal.add(D(2026, 3, 13, 16), 60 + 240) == D(2026, 3, 14, 12)
    assert cal.add(D(2026, 3, 13, 16), 60 + 240 + 1) == D(2026, 3, 16, 8, 1)
    assert cal.same_day_due(D(2026, 3, 14, 9)) == D(2026, 3, 14, 12)
    assert cal.same_day_due(D(2026, 3, 14, 12, 30)) == D(2026, 3, 16, 17)
    # A Saturday that is a holiday stays off; a make-up Saturday has full hours.
    assert not cal.is_working_day(date(2025, 2, 1))
    assert cal.day_end(date(2024, 5, 4)) == D(2024, 5, 4, 17)


def test_unit_hours():
    cal = WorkCalendar(hours=[("07:30", "11:30"), ("13:30", "17:00")])
    assert cal.add(D(2026, 3, 16, 7, 0), 240) == D(2026, 3, 16, 11, 30)
    assert cal.add(D(2026, 3, 16, 7, 0), 241) == D(2026, 3, 16, 13, 31)
    assert cal.elapsed(D(2026, 3, 16), D(2026, 3, 17)) == 450


# --------------------------------------------------------------------------- same-day procedures


@pytest.mark.parametrize("received,expected", [
    (D(2026, 3, 16, 14, 59), D(2026, 3, 16, 17)),
    (D(2026, 3, 16, 15, 0), D(2026, 3, 16, 17)),      # at the cut-off: same day
    (D(2026, 3, 16, 15, 1), D(2026, 3, 17, 17)),      # after it: next working day
    (D(2026, 3, 16, 7, 0), D(2026, 3, 16, 17)),       # before opening
    (D(2026, 3, 16, 17, 30), D(2026, 3, 17, 17)),
    (D(2026, 3, 13, 16, 0), D(2026, 3, 16, 17)),      # Friday after the cut-off
    (D(2026, 3, 14, 9, 0), D(2026, 3, 16, 17)),       # Saturday: next working day
    (D(2026, 2, 13, 15, 30), D(2026, 2, 23, 17)),     # before Tết 2026
    (D(2024, 2, 12, 9, 0), D(2024, 2, 15, 17)),       # during Tết 2024
    (D(2024, 5, 4, 10, 0), D(2024, 5, 4, 17)),        # make-up Saturday
    (D(2024, 4, 26, 16, 0), D(2024, 5, 2, 17)),       # before 30/4-1/5 2024
])
def test_same_day_due(cal, received, expected):
    assert cal.same_day_due(received) == expected


def test_same_day_cutoff_is_configurable(cal):
    assert cal.same_day_due(D(2026, 3, 16, 15, 30), cutoff=time(16, 0)) == D(2026, 3, 16, 17)
    other = WorkCalendar(same_day_cutoff=time(11, 0))
    assert other.same_day_due(D(2026, 3, 16, 11, 30)) == D(2026, 3, 17, 17)


# --------------------------------------------------------------------------- instants


def test_time_zones(cal):
    utc = datetime(2026, 3, 16, 1, 0, tzinfo=timezone.utc)          # 08:00 in Hanoi
    got = cal.add(utc, 60)
    assert got == D(2026, 3, 16, 9) and got.tzinfo is LOCAL_TZ
    assert cal.add(datetime(2026, 3, 16, 8, 0), 60) == D(2026, 3, 16, 9)   # naive = local
    assert cal.add(utc, 0).tzinfo is LOCAL_TZ
    assert to_local(datetime(2026, 3, 16, 8)) == D(2026, 3, 16, 8)
    with pytest.raises(CalendarError):
        to_local(date(2026, 3, 16))  # type: ignore[arg-type]


def test_bad_minutes(cal):
    for bad in (-1, 1.5, "30", True, None):
        with pytest.raises(CalendarError):
            cal.add(D(2026, 3, 16, 8), bad)  # type: ignore[arg-type]
    with pytest.raises(CalendarError):
        cal.sub(D(2026, 3, 16, 8), -5)


def test_bad_hours():
    with pytest.raises(CalendarError, match="ends before it starts"):
        WorkCalendar(hours=[("12:00", "08:00")])
    with pytest.raises(CalendarError, match="overlaps"):
        WorkCalendar(hours=[("08:00", "12:00"), ("11:00", "17:00")])
    with pytest.raises(CalendarError, match="at least one interval"):
        WorkCalendar(hours=[])
    with pytest.raises(CalendarError, match="saturday_hours"):
        WorkCalendar(saturday_counts=True)


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize("text,minutes", [
    ("0.5d", 240), ("4h", 240), ("30m", 30), ("1.5d", 720), ("1,5d", 720), ("1d", 480),
    ("2D", 960), (" 3 h ", 180), ("0.25h", 15), ("1d 4h", 720), ("1d4h30m", 750), ("0m", 0),
    (".5d", 240),
])
def test_parse_duration(text, minutes):
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text,message", [
    ("2", "has no unit"), ("", "empty"), ("1.5", "has no unit"), ("4x", "not a duration"),
    ("-1d", "not a duration"), ("0.1m", "whole number of minutes"), ("d", "not a duration"),
    ("1.3333d", "whole number"), (5, "has no unit"), (None, "must be text"),
])
def test_parse_duration_errors(text, message):
    with pytest.raises(CalendarError, match=message):
        parse_duration(text)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=100 * 480))
@settings(max_examples=200, deadline=None)
def test_format_duration_round_trip(m):
    assert parse_duration(format_duration(m)) == m


def test_format_duration_forms():
    assert [format_duration(m) for m in (240, 480, 720, 180, 90, 0)] == \
        ["0.5d", "1d", "1.5d", "3h", "90m", "0m"]
    with pytest.raises(CalendarError):
        format_duration(-1)


# --------------------------------------------------------------------------- properties

_SPECIAL_TIMES = [time(0, 0), time(7, 59), time(8, 0), time(8, 1), time(11, 59), time(12, 0),
                  time(12, 30), time(13, 0), time(16, 59), time(17, 0), time(17, 1), time(23, 59)]


def _starts(seconds: bool = False):
    day = st.dates(min_value=date(2023, 12, 20), max_value=date(2027, 12, 31))
    any_minute = st.builds(lambda d, m: datetime.combine(d, time()) + timedelta(minutes=m),
                           day, st.integers(0, 24 * 60 - 1))
    special = st.builds(datetime.combine, day, st.sampled_from(_SPECIAL_TIMES))
    # The two Saturdays and the swap weeks, so the properties hit them often.
    hot = st.builds(lambda d, m: datetime.combine(d, time()) + timedelta(minutes=m),
                    st.sampled_from([date(2024, 5, 3), date(2024, 5, 4), date(2025, 4, 25),
                                     date(2025, 4, 26), date(2024, 2, 7), date(2026, 2, 13),
                                     date(2025, 12, 31), date(2026, 1, 9), date(2026, 8, 21)]),
                    st.integers(0, 24 * 60 - 1))
    base = st.one_of(any_minute, special, hot)
    if seconds:
        return st.builds(lambda t, s: t + timedelta(microseconds=s), base, st.integers(0, 59_999_999))
    return base


MINUTES = st.integers(min_value=0, max_value=30 * 480)
SMALL_MINUTES = st.integers(min_value=0, max_value=3 * 480)


@PROPS
@given(_starts(seconds=True), MINUTES)
def test_elapsed_inverts_add(cal, s, m):
    assert cal.elapsed(s, cal.add(s, m)) == m


@PROPS
@given(_starts(seconds=True), MINUTES, MINUTES)
def test_add_is_additive(cal, s, a, b):
    assert cal.add(cal.add(s, a), b) == cal.add(s, a + b)


@PROPS
@given(_starts(seconds=True), MINUTES, MINUTES)
def test_add_is_monotonic_in_minutes(cal, s, a, b):
    lo, hi = sorted((a, b))
    assert cal.add(s, lo) <= cal.add(s, hi)
    if lo < hi:
        assert cal.add(s, lo) < cal.add(s, hi)


@PROPS
@given(_starts(seconds=True), _starts(seconds=True), MINUTES)
def test_add_is_monotonic_in_start(cal, s1, s2, m):
    lo, hi = sorted((s1, s2))
    assert cal.add(lo, m) <= cal.add(hi, m)


@PROPS
@given(_starts(seconds=True), st.integers(min_value=1, max_value=30 * 480))
def test_add_is_the_earliest_instant(cal, s, m):
    due = cal.add(s, m)
    assert due > to_local(s)
    assert cal.elapsed(s, due - timedelta(microseconds=1)) == m - 1


@PROPS
@given(_starts(seconds=True), MINUTES)
def test_sub_mirrors_add(cal, e, m):
    begin = cal.sub(e, m)
    assert begin <= to_local(e)
    assert cal.elapsed(begin, e) == m


@PROPS
@given(_starts(seconds=True))
def test_next_opening_property(cal, t):
    opening = cal.next_opening(t)
    assert opening >= to_local(t)
    assert cal.elapsed(t, opening) == 0
    assert cal.next_opening(opening) == opening
    assert cal.is_working_day(opening)
    assert cal.add(t, 1) == cal.add(opening, 1)
    if opening.second == 0 and opening.microsecond == 0:
        assert cal.add(t, 1) == opening + timedelta(minutes=1)


@PROPS
@given(_starts(), _starts())
def test_elapsed_is_antisymmetric(cal, a, b):
    assert cal.elapsed(a, b) == -cal.elapsed(b, a)


@PROPS
@given(_starts(), SMALL_MINUTES)
def test_add_matches_the_oracle(cal, s, m):
    dh = day_hours_from(cal.is_working_day)
    assert cal.add(s, m).replace(tzinfo=None) == oracle_add(s, m, dh)


@settings(max_examples=80, deadline=None)
@given(_starts(), st.integers(min_value=0, max_value=6 * 24 * 60))
def test_elapsed_matches_the_oracle(cal, s, span):
    e = s + timedelta(minutes=span)
    dh = day_hours_from(cal.is_working_day)
    assert cal.elapsed(s, e) == oracle_elapsed(s, e, dh)


@settings(max_examples=80, deadline=None)
@given(_starts(), SMALL_MINUTES)
def test_other_hours_match_the_oracle(s, m):
    hours = [("07:30", "11:30"), ("13:30", "17:00")]
    cal = _other_hours_cal()
    dh = day_hours_from(cal.is_working_day, ((450, 690), (810, 1020)))
    assert [f"{a:%H:%M}" for pair in cal.hours for a in pair] == [x for p in hours for x in p]
    assert cal.add(s, m).replace(tzinfo=None) == oracle_add(s, m, dh)


@settings(max_examples=80, deadline=None)
@given(_starts(), SMALL_MINUTES)
def test_counted_saturdays_match_the_oracle(s, m):
    cal = _saturday_cal()

    def dh(d):
        if not cal.is_working_day(d):
            return ()
        if d.weekday() == 5 and d not in holidays.VN(years=d.year).weekend_workdays:
            return ((480, 720),)
        return HOURS

    assert cal.add(s, m).replace(tzinfo=None) == oracle_add(s, m, dh)


_CACHE: dict[str, WorkCalendar] = {}


def _other_hours_cal() -> WorkCalendar:
    return _CACHE.setdefault("other", WorkCalendar(hours=[("07:30", "11:30"), ("13:30", "17:00")]))


def _saturday_cal() -> WorkCalendar:
    return _CACHE.setdefault("sat", WorkCalendar(saturday_hours=[("08:00", "12:00")], saturday_counts=True))


def test_span_grows_in_both_directions():
    cal = WorkCalendar()
    assert cal.add(D(2026, 3, 16, 8), 480) == D(2026, 3, 16, 17)
    # Far ahead, then far back: the precomputed span extends and stays consistent.
    far = cal.add(D(2026, 3, 16, 8), 480 * 250 * 5)
    assert cal.elapsed(D(2026, 3, 16, 8), far) == 480 * 250 * 5
    assert cal.elapsed(D(2001, 3, 16, 8), D(2001, 3, 17, 8)) == 480
    assert cal.add(D(2026, 3, 16, 8), 480) == D(2026, 3, 16, 17)
    assert cal.sub(D(2026, 3, 16, 8), 480 * 250 * 20) < D(2008, 1, 1, 0)


# --------------------------------------------------------------------------- calendar.yaml


def test_shipped_calendar_yaml_loads():
    config = CalendarConfig.from_file(CALENDAR_YAML)
    assert config.default.same_day_cutoff == time(15, 0)
    assert DayOverride(date(2026, 1, 2), False, config.overrides[0].reason) in config.overrides
    assert "bp_mot_cua" in config.units
    assert all(o.reason for o in config.overrides)


def test_overrides_win_over_the_package():
    cal = WorkCalendar(overrides=[DayOverride(date(2024, 2, 14), True, "work on mùng 5"),
                                  DayOverride(date(2024, 5, 4), False, "no make-up")])
    assert cal.is_working_day(date(2024, 2, 14))
    assert not cal.is_working_day(date(2024, 5, 4))
    assert cal.add(D(2024, 2, 7, 16), 120) == D(2024, 2, 14, 9)


def test_without_the_package():
    cal = WorkCalendar(public_holidays=False)
    assert cal.is_working_day(date(2024, 2, 12))
    assert not cal.is_working_day(date(2024, 5, 4))


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "calendar.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("text,line,col,message", [
    ("hours: [[08:00, 07:00]]\n", 1, 9, "ends before it starts"),
    ("same_day_cutoff: 25:00\n", 1, 18, "not a time of day"),
    ("remove_working_days:\n  - date: 2026-13-01\n", 2, 11, "not a date"),
    ("remove_working_days:\n  - {reason: x}\n", 2, 5, "needs a date"),
    ("add_working_days: [2026-01-10]\nremove_working_days: [2026-01-10]\n", 2, 23, "listed twice"),
    ("units:\n  x:\n    saturday_counts: true\n", 3, 22, "does not open on Saturday"),
    ("units:\n  x:\n    lunch: 1\n", 3, 5, "unknown key 'lunch'"),
    ("holidays: []\n", 1, 1, "unknown key 'holidays'"),
    ("hours: [\n", 2, 1, "not valid YAML"),
    ("- a\n- b\n", 1, 1, "must be a mapping"),
    ("saturday_counts: maybe\n", 1, 18, "true or false"),
])
def test_malformed_calendar_yaml_is_located(tmp_path, text, line, col, message):
    path = _write(tmp_path, text)
    with pytest.raises(CalendarError) as info:
        CalendarConfig.from_file(path)
    text = str(info.value)
    assert re.match(rf".*calendar\.yaml:{line}:{col}: ", text), text
    assert message in text


def test_unit_settings_inherit_and_merge(tmp_path):
    path = _write(tmp_path, """
hours: [["07:30", "11:30"], ["13:30", "17:00"]]
remove_working_days: [{date: 2026-03-16, reason: "closure"}]
units:
  phuong_a:
    saturday_morning: true
    saturday_counts: true
    same_day_cutoff: "16:00"
    remove_working_days: [{date: 2026-03-17, reason: "local closure"}]
  phuong_b:
    hours: [[08:00, 12:00], [13:00, 17:00]]
""")
    config = CalendarConfig.from_file(path)
    a = WorkCalendar.from_config(config, "phuong_a")
    b = WorkCalendar.from_config(config, "phuong_b")
    default = WorkCalendar.from_config(config)
    assert a.hours == default.hours == ((time(7, 30), time(11, 30)), (time(13, 30), time(17)))
    assert b.hours == ((time(8), time(12)), (time(13), time(17)))
    assert a.same_day_cutoff == time(16) and b.same_day_cutoff == time(15)
    assert not a.is_working_day(date(2026, 3, 16)) and not a.is_working_day(date(2026, 3, 17))
    assert not b.is_working_day(date(2026, 3, 16)) and b.is_working_day(date(2026, 3, 17))
    assert a.is_working_day(date(2026, 3, 14)) and not b.is_working_day(date(2026, 3, 14))
    with pytest.raises(CalendarError, match="unknown unit 'phuong_c'.*phuong_a, phuong_b"):
        WorkCalendar.from_config(config, "phuong_c")


def test_default_finds_the_catalogue(tmp_path, monkeypatch):
    monkeypatch.delenv("QUYTRINH_CATALOGUE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)               # no ./procedures_yaml here: the repo's
    assert catalogue_dir() == REPO / "procedures_yaml"
    assert not WorkCalendar.default().is_working_day(date(2026, 1, 2))
    assert WorkCalendar.default() is WorkCalendar.default()   # cached
    assert WorkCalendar.default("bp_mot_cua").unit == "bp_mot_cua"

    (tmp_path / "procedures_yaml").mkdir()
    _write(tmp_path / "procedures_yaml", "add_working_days: [2026-01-02]\n")
    assert WorkCalendar.default().is_working_day(date(2026, 1, 2))   # ./procedures_yaml wins

    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("QUYTRINH_CATALOGUE_DIR", str(other))
    with pytest.raises(CalendarError, match="no calendar.yaml in .*QUYTRINH_CATALOGUE_DIR"):
        WorkCalendar.default()
    _write(other, "remove_working_days: [2026-03-16]\n")
    assert not WorkCalendar.default().is_working_day(date(2026, 3, 16))


def test_calendar_module_never_reads_the_clock():
    source = (REPO / "engine" / "calendar.py").read_text(encoding="utf-8")
    assert not re.search(r"\.now\(|\.today\(|utcnow|time\.time\(", source)


def test_docstring_examples():
    import doctest

    import engine.calendar

    assert doctest.testmod(engine.calendar).failed == 0
