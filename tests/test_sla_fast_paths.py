"""The SLA clock's fast paths build what the checked, generic paths build.

For a plain :class:`Clock`, ``for_step``, ``for_dossier``, ``pause``, ``resume``,
``close`` and ``from_dict`` check only what they change instead of running the
generic ``__post_init__`` checks again, and instants are truncated, parsed and
formatted through caches. A subclass of Clock takes the generic path
(``dataclasses.replace``, the constructor), so driving both with the same inputs
must give equal fields (same time zone, fold and text) or the same error.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.calendar import LOCAL_TZ, WorkCalendar, to_local
from engine.sla import Clock, ClockError, PauseReason, Scope, SupplementPolicy, timeliness_closed

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UTC = timezone.utc
ZONES = [None, UTC, LOCAL_TZ, timezone(timedelta(hours=7)), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")]


class Generic(Clock):
    """A Clock whose every operation takes the generic, fully checked path."""


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar(public_holidays=False)


def instants(lo: datetime = datetime(2025, 1, 1), span_days: int = 800) -> st.SearchStrategy[datetime]:
    """Naive or aware instants (several zones, folds, seconds and microseconds)."""
    return st.builds(
        lambda minutes, s, us, zone, fold: (lo + timedelta(minutes=minutes, seconds=s, microseconds=us))
        .replace(tzinfo=zone, fold=fold),
        st.integers(0, span_days * 1440), st.integers(0, 59), st.sampled_from([0, 0, 1, 999_999]),
        st.sampled_from(ZONES), st.sampled_from([0, 0, 1]))


def fields(c: Clock) -> tuple:
    """Every field, with the zone, fold and text of each instant (equality ignores them)."""
    def deep(v):
        if isinstance(v, datetime):
            return (v, v.tzinfo, v.fold, v.isoformat())
        if isinstance(v, tuple):
            return tuple(deep(x) for x in v)
        if dataclasses.is_dataclass(v):
            return (type(v),) + tuple(deep(getattr(v, f.name)) for f in dataclasses.fields(v))
        return (type(v), v)
    return tuple(deep(getattr(c, f.name)) for f in dataclasses.fields(Clock))


def outcome(f):
    try:
        return "ok", f()
    except Exception as exc:  # noqa: BLE001 - the type and message are compared
        return "error", type(exc), str(exc)


def same(a, b) -> None:
    """Two outcomes: equal clocks (field by field) or the same error."""
    assert a[0] == b[0], (a, b)
    if a[0] == "error":
        assert a[1:] == b[1:]
    else:
        assert fields(a[1]) == fields(b[1])


def reference_dict(c: Clock) -> dict:
    iso = lambda t: None if t is None else t.isoformat()  # noqa: E731
    return {
        "start": iso(c.start), "limit_minutes": c.limit_minutes, "same_day": c.same_day,
        "cutoff": None if c.cutoff is None else c.cutoff.strftime("%H:%M"), "policy": str(c.policy),
        "pauses": [{"start": iso(p.start), "end": iso(p.end), "reason": str(p.reason)} for p in c.pauses],
        "closed_at": iso(c.closed_at),
    }


LIMITS = st.one_of(st.integers(0, 20 * 480), st.sampled_from([None, -1, True, 2.5, "60"]))
POLICIES = st.sampled_from(["pause", "restart", "counts", *SupplementPolicy, "bogus"])
REASONS = st.sampled_from(["supplement", "financial", *PauseReason, "bogus"])
OPS = st.lists(st.tuples(st.sampled_from(["pause", "resume", "close"]), st.integers(-600, 6000),
                         st.integers(0, 59), REASONS), max_size=6)


@PROPS
@given(instants(), LIMITS, st.booleans(), POLICIES, OPS)
def test_building_pausing_resuming_closing_match_the_generic_path(start, limit, same_day, policy, ops):
    a = outcome(lambda: Clock.for_dossier(start, None if same_day else limit, same_day=same_day,
                                          cutoff=time(15) if same_day else None, policy=policy))
    b = outcome(lambda: Generic.for_dossier(start, None if same_day else limit, same_day=same_day,
                                            cutoff=time(15) if same_day else None, policy=policy))
    same(a, b)
    if a[0] == "error":
        return
    fast, slow = a[1], b[1]
    assert type(fast) is Clock and type(slow) is Generic
    for op, minutes, seconds, reason in ops:
        at = to_local(start) + timedelta(minutes=minutes, seconds=seconds)
        if op == "pause":
            a, b = outcome(lambda: fast.pause(at, reason)), outcome(lambda: slow.pause(at, reason))
        elif op == "resume":
            a, b = outcome(lambda: fast.resume(at)), outcome(lambda: slow.resume(at))
        else:
            a, b = outcome(lambda: fast.close(at)), outcome(lambda: slow.close(at))
        same(a, b)
        if a[0] == "ok":
            fast, slow = a[1], b[1]
            assert type(fast) is Clock
        # Storage: the fast as_dict writes the text isoformat() writes, and the
        # fast from_dict reads back what the generic one reads.
        stored = fast.as_dict()
        assert stored == reference_dict(fast) == slow.as_dict()
        same(outcome(lambda: Clock.from_dict(stored)), outcome(lambda: Generic.from_dict(stored)))
        assert Clock.from_dict(stored) == fast


@PROPS
@given(instants(), st.integers(-5, 3000))
def test_a_step_clock_starts_at_the_local_minute(t, minutes):
    same(outcome(lambda: Clock.for_step(t, minutes)), outcome(lambda: Generic.for_step(t, minutes)))
    if minutes >= 0:
        start = Clock.for_step(t, minutes).start
        expected = to_local(t).replace(second=0, microsecond=0)
        assert (start, start.tzinfo, start.fold, start.isoformat()) == \
            (expected, expected.tzinfo, expected.fold, expected.isoformat())
        assert Clock.for_step(t, minutes).as_dict()["start"] == expected.isoformat()


VALUES = st.sampled_from([
    None, 0, 5, -1, True, False, 2.5, "x", "", "pause", "restart", "counts", "bogus", "supplement", "financial",
    "15:00", "25:00", "2026-03-10T08:00:00+07:00", "2026-03-10T08:00:30", "2026-03-09T08:00:00+00:00",
    "2026-03-11T10:00:00+07:00", "2030-01-01T00:00:00+07:00", [], {}, (), ["x"],
    [{"start": "2026-03-10T09:00:00+07:00"}],
    [{"start": "2026-03-10T09:00:00+07:00", "end": "2026-03-10T08:00:00+07:00"}],
    [{"start": "2026-03-10T09:00:00+07:00", "end": None}, {"start": "2026-03-10T10:00:00+07:00", "end": None}],
    [{"start": "2026-03-10T09:00:00+07:00", "end": "2026-03-10T10:00:00+07:00", "reason": "financial"}],
    [{"start": "2026-03-10T09:00:00+07:00", "end": "2026-03-10T10:00:00+07:00", "reason": "bogus"}],
    [{"start": "2026-03-10T09:00:00+07:00", "end": "2026-03-10T10:00:00+07:00", "reason": ["x"]}],
    [{"end": "2026-03-10T10:00:00+07:00"}], [{"start": 5}], [["2026-03-10T09:00:00+07:00", None]],
])
KEYS = st.sampled_from(["start", "limit_minutes", "same_day", "cutoff", "policy", "pauses", "closed_at"])


@PROPS
@given(st.lists(st.tuples(KEYS, st.one_of(st.none(), VALUES)), max_size=3), st.booleans())
def test_reading_odd_stored_clocks_gives_the_same_clock_or_the_same_error(changes, pauses):
    base = {"start": "2026-03-10T08:00:00+07:00", "limit_minutes": 960, "same_day": False, "cutoff": None,
            "policy": "pause", "pauses": [], "closed_at": None}
    if pauses:
        base["pauses"] = [{"start": "2026-03-10T09:00:00+07:00", "end": "2026-03-10T10:30:00+07:00",
                           "reason": "supplement"}]
    data = dict(base)
    for key, value in changes:
        if value is None and key != "closed_at" and key != "cutoff":
            data.pop(key, None)
        else:
            data[key] = value
    same(outcome(lambda: Clock.from_dict(data)), outcome(lambda: Generic.from_dict(data)))


def test_a_malformed_stored_clock_still_raises_clock_error():
    with pytest.raises(ClockError, match="not a stored clock"):
        Clock.from_dict({"start": "2026-03-10T08:00:00+07:00", "limit_minutes": 60, "pauses": [{"end": None}]})
    with pytest.raises(ClockError, match="before it starts"):
        Clock.from_dict({"start": "2026-03-10T08:00:00+07:00", "limit_minutes": 60,
                         "pauses": [{"start": "2026-03-10T09:00:00+07:00", "end": "2026-03-10T08:30:00+07:00"}]})
    with pytest.raises(ClockError, match="unknown supplementation policy"):
        Clock.from_dict({"start": "2026-03-10T08:00:00+07:00", "limit_minutes": 60, "policy": "bogus"})


@PROPS
@given(instants(datetime(2026, 1, 1), 200), st.integers(0, 30 * 480), st.integers(0, 20 * 1440),
       st.integers(0, 3000), st.integers(0, 3000))
def test_counting_without_pauses_matches_the_segment_walk(cal, start, limit, later, p0, plen):
    """A clock without pauses counts as the same clock with a pause that does not
    stop it (a supplementation under ``counts``), which walks the segments."""
    plain = Clock.for_dossier(start, limit, policy="counts")
    at = plain.start + timedelta(minutes=p0)
    walked = plain.pause(at, PauseReason.SUPPLEMENT).resume(at + timedelta(minutes=plen))
    assert plain.pauses == () and len(walked.pauses) == 1
    now = plain.start + timedelta(minutes=p0 + plen + later)
    for c, w in ((plain, walked), (plain.close(now), walked.close(now))):
        for moment in (now, now - timedelta(minutes=later // 2), None if c.closed else now):
            if moment is None:
                continue
            assert c.spent(cal, moment) == w.spent(cal, moment)
            assert c.limit(cal, moment) == w.limit(cal, moment)
            assert c.due(cal, moment) == w.due(cal, moment)
            assert c.paused_minutes(cal, moment) == w.paused_minutes(cal, moment) == 0
        if c.closed:
            assert timeliness_closed(c, cal, Scope.STEP) == timeliness_closed(w, cal, "step")
            assert timeliness_closed(c, cal, "dossier") == timeliness_closed(w, cal, Scope.DOSSIER)


@PROPS
@given(instants(datetime(2026, 1, 1), 400), instants(datetime(2026, 1, 1), 400))
def test_elapsed_reads_local_instants_as_their_naive_local_time(cal, a, b):
    la, lb = to_local(a), to_local(b)
    naive = cal.elapsed(la.replace(tzinfo=None), lb.replace(tzinfo=None))
    assert cal.elapsed(la, lb) == naive == cal.elapsed(la.astimezone(UTC), lb.astimezone(UTC))
    assert cal.elapsed(la, lb.replace(tzinfo=None)) == naive
