"""Benchmark: working-time deadlines, ours against pandas and workalendar.

100,000 random (start, duration) deadlines over 2024-2027 (fixed seed), computed
by engine.calendar.WorkCalendar.add, by pandas' CustomBusinessHour and by
workalendar, printed as operations per second; then each engine's answers on a
5,000-case sample are checked against the minute-by-minute oracle of
tests/calendar_oracle.py. Every engine gets the same calendar: office hours
08:00-12:00 and 13:00-17:00, and the days off of our calendar (holidays package
VN + procedures_yaml/calendar.yaml) as its holidays.

The workload uses whole working hours (1 h to 20 working days) because pandas'
CustomBusinessHour only adds whole hours (its ``n`` must be an integer). A second
workload with any number of minutes runs ours alone.

Known limits of the peers, reported rather than hidden:
- pandas cannot make a Saturday a working day (a make-up Saturday such as
  2024-05-04 or 2025-04-26), so deadlines across one come out a day late;
- pandas reports a deadline that falls exactly at a closing time as the next
  opening (13:00 instead of 12:00, next day 08:00 instead of 17:00): the same
  amount of working time, another instant. Those are counted apart.
- workalendar has no working-hours arithmetic at all (only working days), so its
  figure is its working-day arithmetic (``is_working_day``, ``add_working_days``
  with the make-up Saturdays as ``extra_working_days``) plus the plainest hour
  arithmetic on top, the way one would use it.

Last line: ``calendar: <ops/s> ops/s, <ratio>x workalendar, <n> mismatches``
(mismatches of ours against the oracle, both workloads). Exits 1 if ours has any.

Run: ``.venv/bin/python bench/calendar.py [--cases 100000] [--sample 5000]``
"""

from __future__ import annotations

import os
import sys

# This file is named calendar.py: drop its folder from sys.path first, or it would
# shadow the standard library's ``calendar`` module for everything imported below.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
ROOT = os.path.dirname(_HERE)
sys.path.insert(0, ROOT)

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402

import holidays  # noqa: E402
import pandas as pd  # noqa: E402
import workalendar  # noqa: E402
from workalendar.core import SAT, SUN, Calendar as WorkalendarCalendar  # noqa: E402

from engine.calendar import WorkCalendar  # noqa: E402


def _load_oracle():
    path = os.path.join(ROOT, "tests", "calendar_oracle.py")
    spec = importlib.util.spec_from_file_location("calendar_oracle", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


oracle = _load_oracle()

FIRST, LAST = date(2024, 1, 1), date(2027, 12, 31)
HOURS = ((8 * 60, 12 * 60), (13 * 60, 17 * 60))
DAY = 480


def cases(n: int, seed: int, whole_hours: bool) -> list[tuple[datetime, int]]:
    rng = random.Random(seed)
    span = (LAST - FIRST).days + 1
    base = datetime.combine(FIRST, datetime.min.time())
    out = []
    for _ in range(n):
        start = base + timedelta(minutes=rng.randrange(span * 24 * 60))
        minutes = 60 * rng.randint(1, 160) if whole_hours else rng.randint(1, 20 * DAY)
        out.append((start, minutes))
    return out


def days_off_and_makeup(cal: WorkCalendar) -> tuple[list[date], list[date]]:
    """Weekdays our calendar does not work (holidays), Saturdays and Sundays it does."""
    off, makeup = [], []
    d = date(2023, 1, 1)
    while d <= date(2029, 12, 31):
        working = cal.is_working_day(d)
        if d.weekday() < 5 and not working:
            off.append(d)
        elif d.weekday() >= 5 and working:
            makeup.append(d)
        d += timedelta(days=1)
    return off, makeup


# --------------------------------------------------------------------------- workalendar


def make_workalendar(off: list[date], makeup: list[date]):
    off_by_year: dict[int, list[tuple[date, str]]] = {}
    for d in off:
        off_by_year.setdefault(d.year, []).append((d, "day off"))
    makeup_t = tuple(makeup)

    class Ours(WorkalendarCalendar):
        """workalendar calendar whose holidays are ours."""

        WEEKEND_DAYS = (SAT, SUN)
        include_new_years_day = False

        def get_calendar_holidays(self, year):
            return list(off_by_year.get(year, []))

    wcal = Ours()
    is_wd, add_wd = wcal.is_working_day, wcal.add_working_days

    def add(start: datetime, minutes: int) -> datetime:
        # workalendar counts working days only; the hours are plain arithmetic.
        day = start.date()
        rem = minutes
        tod = start.hour * 60 + start.minute
        if is_wd(day, extra_working_days=makeup_t):
            for a, b in HOURS:
                lo = max(a, tod)
                if lo < b:
                    if rem <= b - lo:
                        return datetime.combine(day, datetime.min.time()) + timedelta(minutes=lo + rem)
                    rem -= b - lo
        k, r = divmod(rem, DAY)
        if r == 0:
            k, r = k - 1, DAY
        day = add_wd(day, k + 1, extra_working_days=makeup_t)
        for a, b in HOURS:
            if r <= b - a:
                return datetime.combine(day, datetime.min.time()) + timedelta(minutes=a + r)
            r -= b - a
        raise AssertionError("unreachable")

    return add


# --------------------------------------------------------------------------- pandas


def make_pandas(off: list[date]):
    cbh = {}
    holidays_ = [pd.Timestamp(d) for d in off]

    def offset(hours: int):
        o = cbh.get(hours)
        if o is None:
            o = cbh[hours] = pd.offsets.CustomBusinessHour(
                n=hours, start=["08:00", "13:00"], end=["12:00", "17:00"], holidays=holidays_)
        return o

    def add(start: pd.Timestamp, minutes: int) -> pd.Timestamp:
        return start + offset(minutes // 60)

    return add, offset


# --------------------------------------------------------------------------- running


def timed(fn, inputs) -> tuple[float, list]:
    gc.collect()
    gc.disable()              # the same for every engine: no collector pauses in the timing
    try:
        t = time.perf_counter()
        out = [fn(s, m) for s, m in inputs]
        return time.perf_counter() - t, out
    finally:
        gc.enable()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=20240504)
    args = parser.parse_args()

    cal = WorkCalendar.from_file(os.path.join(ROOT, "procedures_yaml", "calendar.yaml"))
    off, makeup = days_off_and_makeup(cal)
    print(f"{args.cases} deadlines over {FIRST.year}-{LAST.year}, seed {args.seed}; "
          f"{os.cpu_count()} CPUs; holidays {holidays.__version__}, pandas {pd.__version__}, "
          f"workalendar {workalendar.__version__}")
    print(f"calendar: {len(off)} weekdays off and {len(makeup)} working weekend days in 2023-2029 "
          f"({', '.join(str(d) for d in makeup if FIRST <= d <= LAST)})")

    work = cases(args.cases, args.seed, whole_hours=True)
    wk_add = make_workalendar(off, makeup)
    pd_add, pd_offset = make_pandas(off)
    pd_inputs = [(pd.Timestamp(s), m) for s, m in work]
    for h in range(1, 161):
        pd_offset(h)          # build the 160 offsets before timing

    # Warm every engine (our precomputed span, workalendar's and pandas' holiday
    # caches) as a running service would be, then time them.
    cal.elapsed(datetime(2023, 12, 1), datetime(2029, 1, 1))
    for s, m in work[:1000]:
        cal.add(s, m), wk_add(s, m)
    for s, m in pd_inputs[:1000]:
        pd_add(s, m)
    # Interleave the engines in rounds, so that a busy machine slows all of them alike.
    t_ours = t_wk = t_pd = 0.0
    ours, wk, pdr = [], [], []
    rounds = 10
    step = -(-args.cases // rounds)
    for lo in range(0, args.cases, step):
        dt, out = timed(cal.add, work[lo:lo + step])
        t_ours += dt
        ours += out
        dt, out = timed(wk_add, work[lo:lo + step])
        t_wk += dt
        wk += out
        dt, out = timed(pd_add, pd_inputs[lo:lo + step])
        t_pd += dt
        pdr += out
    ops = {name: args.cases / t for name, t in (("ours", t_ours), ("workalendar", t_wk),
                                                  ("pandas", t_pd))}

    sample = range(min(args.sample, args.cases))
    day_hours = oracle.day_hours_from(cal.is_working_day, HOURS)
    t = time.perf_counter()
    expected = [oracle.oracle_add(work[i][0], work[i][1], day_hours) for i in sample]
    t_oracle = time.perf_counter() - t

    def mismatches(results) -> int:
        return sum(results[i] != expected[k] for k, i in enumerate(sample))

    ours_naive = [r.replace(tzinfo=None) for r in ours]
    pd_naive = [r.to_pydatetime() for r in pdr]
    pd_boundary = pd_wrong = pd_unexplained = 0
    for k, i in enumerate(sample):
        if pd_naive[i] != expected[k]:
            if cal.elapsed(expected[k], pd_naive[i]) == 0:
                pd_boundary += 1      # same working time, the next opening instead of the closing
            else:
                pd_wrong += 1
                if not any(work[i][0].date() <= d <= expected[k].date() for d in makeup):
                    pd_unexplained += 1
    m_ours = mismatches(ours_naive)
    m_wk = mismatches(wk)

    # Any number of minutes: ours alone.
    free = cases(args.cases, args.seed + 1, whole_hours=False)
    t_free, ours_free = timed(cal.add, free)
    expected_free = [oracle.oracle_add(free[i][0], free[i][1], day_hours) for i in sample]
    m_free = sum(ours_free[i].replace(tzinfo=None) != expected_free[k] for k, i in enumerate(sample))

    n = len(sample)
    print(f"oracle (minute by minute): {n} cases in {t_oracle:.1f} s")
    print(f"ours        : {ops['ours']:>10,.0f} ops/s  {m_ours} mismatches / {n}")
    print(f"workalendar : {ops['workalendar']:>10,.0f} ops/s  {m_wk} mismatches / {n}  "
          f"(working days from workalendar, hours added by hand)")
    print(f"pandas CBH  : {ops['pandas']:>10,.0f} ops/s  {pd_wrong + pd_boundary} mismatches / {n}: "
          f"{pd_wrong} wrong ({pd_wrong - pd_unexplained} across a working weekend day it cannot "
          f"count, {pd_unexplained} other), "
          f"{pd_boundary} only at a closing time (it answers the next opening)")
    print(f"ours, any minutes (1 min .. 20 days): {args.cases / t_free:,.0f} ops/s  "
          f"{m_free} mismatches / {n}")
    ratio = ops["ours"] / ops["workalendar"]
    total = m_ours + m_free
    print(f"calendar: {ops['ours']:.0f} ops/s, {ratio:.1f}x workalendar, {total} mismatches")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
