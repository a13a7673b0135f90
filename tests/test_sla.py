"""The SLA clock: due instants, pauses and policies, timeliness, Vietnamese wording."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.calendar import LOCAL_TZ, WorkCalendar
from engine.errors import CalendarError
from engine.sla import (
    DEFAULT_SLA_POLICY,
    LABELS_VI,
    Clock,
    ClockError,
    Pause,
    PauseReason,
    Scope,
    SlaPolicy,
    SupplementPolicy,
    Timeliness,
    classify_closed,
    classify_closed_at,
    classify_open,
    describe_remaining,
    timeliness,
    timeliness_closed,
    timeliness_open,
)

REPO = Path(__file__).resolve().parent.parent
PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAY = 480


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.from_file(REPO / "procedures_yaml" / "calendar.yaml")


def D(*args) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


# Monday 2/3/2026 09:00, 3 working days -> Thursday 5/3 09:00.
RECEIVED = D(2026, 3, 2, 9)
LIMIT = 3 * DAY


# --------------------------------------------------------------------------- due instants


def test_due_without_pauses(cal):
    clock = Clock.for_dossier(RECEIVED, LIMIT)
    assert clock.due(cal) == D(2026, 3, 5, 9)
    assert clock.policy is SupplementPolicy.PAUSE
    assert Clock.for_step(D(2026, 3, 2, 16), DAY // 2).due(cal) == D(2026, 3, 3, 11)


def test_due_across_tet(cal):
    # Fri 13/2/2026 10:00 + 2 days: 10-17 = 360, Tết 16-20/2, Mon 23/2 480 -> 840 > 960? no:
    # 360 + 480 = 840, 120 left -> Tue 24/2 10:00.
    assert Clock.for_dossier(D(2026, 2, 13, 10), 2 * DAY).due(cal) == D(2026, 2, 24, 10)


def test_pause_moves_due_by_the_paused_working_time(cal):
    # Paused Tue 3/3 10:00 .. Thu 5/3 10:00 = 960 working minutes.
    clock = Clock.for_dossier(RECEIVED, LIMIT).pause(D(2026, 3, 3, 10)).resume(D(2026, 3, 5, 10))
    assert clock.paused_minutes(cal, D(2026, 3, 9)) == 960
    assert clock.due(cal) == cal.add(D(2026, 3, 5, 9), 960) == D(2026, 3, 9, 9)
    # spent at Thu 11:00: Mon 9-17 (420) + Tue 8-10 (120) + Thu 10-11 (60).
    assert clock.spent(cal, D(2026, 3, 5, 11)) == 600
    assert clock.remaining(cal, D(2026, 3, 5, 11)) == LIMIT - 600


def test_pause_over_a_weekend_moves_only_working_time(cal):
    # Paused Fri 6/3 16:00 .. Mon 9/3 09:00: 60 + 60 working minutes.
    clock = Clock.for_dossier(D(2026, 3, 5, 9), LIMIT).pause(D(2026, 3, 6, 16)).resume(D(2026, 3, 9, 9))
    assert clock.due(cal) == cal.add(Clock.for_dossier(D(2026, 3, 5, 9), LIMIT).due(cal), 120)


def test_restart_runs_the_full_limit_again(cal):
    clock = (Clock.for_dossier(RECEIVED, LIMIT, policy="restart")
             .pause(D(2026, 3, 3, 10)).resume(D(2026, 3, 5, 10)))
    assert clock.policy is SupplementPolicy.RESTART
    assert clock.due(cal) == D(2026, 3, 10, 10)
    assert clock.spent(cal, D(2026, 3, 5, 11)) == 60
    assert clock.limit(cal) == LIMIT


def test_restart_asked_for_after_the_due_instant_does_not_forgive_the_missed_deadline(cal):
    """A supplementation asked for once the dossier is overdue stops the clock as ``pause`` does (a due
    instant already passed does not move): the dossier stays overdue, and closes late."""
    due = D(2026, 3, 5, 9)  # RECEIVED + LIMIT
    assert Clock.for_dossier(RECEIVED, LIMIT, policy="restart").due(cal) == due
    late = Clock.for_dossier(RECEIVED, LIMIT, policy="restart").pause(D(2026, 3, 6, 9))
    assert late.spent(cal, D(2026, 3, 9)) == LIMIT + 480 and late.limit(cal, D(2026, 3, 9)) == LIMIT
    assert late.due(cal) == due and late.due(cal, D(2026, 3, 9, 9)) == due
    assert timeliness_open(late, cal, D(2026, 3, 9, 9), scope=Scope.DOSSIER) == Timeliness.OVERDUE
    resumed = late.resume(D(2026, 3, 10, 9))
    assert not resumed.restarted(cal) and resumed.due(cal) == due
    assert timeliness_closed(resumed.close(D(2026, 3, 11, 9)), cal, Scope.DOSSIER) == Timeliness.LATE
    # One minute after the due instant, in the evening (no working minute over yet): already past it.
    evening = Clock.for_dossier(D(2026, 3, 2, 17), LIMIT, policy="restart")
    assert evening.due(cal) == D(2026, 3, 5, 17)
    assert not evening.pause(D(2026, 3, 5, 17, 1)).resume(D(2026, 3, 6, 9)).restarted(cal)
    assert evening.pause(D(2026, 3, 5, 17)).resume(D(2026, 3, 6, 9)).restarted(cal)
    # Asked for within the due minute: the full limit runs again from the complete dossier.
    on_time = Clock.for_dossier(RECEIVED, LIMIT, policy="restart").pause(due).resume(D(2026, 3, 6, 9))
    assert on_time.restarted(cal) and on_time.due(cal) == D(2026, 3, 11, 9)
    # After a restart, the new due instant is the one a later supplementation is judged against.
    again = on_time.pause(D(2026, 3, 10, 8)).resume(D(2026, 3, 11, 9))
    assert again.restarted(cal) and again.due(cal) == cal.add(D(2026, 3, 11, 9), LIMIT)
    assert not on_time.pause(D(2026, 3, 11, 10)).resume(D(2026, 3, 12, 9)).restarted(cal)
    # A financial pause never restarts the clock, before or after the due instant.
    assert not Clock.for_dossier(RECEIVED, LIMIT, policy="restart").pause(
        D(2026, 3, 3, 10), PauseReason.FINANCIAL).resume(D(2026, 3, 4, 9)).restarted(cal)


def test_counts_ignores_supplementation(cal):
    clock = (Clock.for_dossier(RECEIVED, LIMIT, policy=SupplementPolicy.COUNTS)
             .pause(D(2026, 3, 3, 10)).resume(D(2026, 3, 5, 10)))
    assert clock.due(cal) == D(2026, 3, 5, 9)
    assert clock.paused_minutes(cal, D(2026, 3, 9)) == 0


@pytest.mark.parametrize("policy", list(SupplementPolicy))
def test_a_financial_obligation_always_pauses(cal, policy):
    clock = (Clock.for_dossier(RECEIVED, LIMIT, policy=policy)
             .pause(D(2026, 3, 3, 10), PauseReason.FINANCIAL).resume(D(2026, 3, 5, 10)))
    assert clock.due(cal) == D(2026, 3, 9, 9)


def test_restart_then_financial_pause(cal):
    clock = (Clock.for_dossier(RECEIVED, LIMIT, policy="restart")
             .pause(D(2026, 3, 3, 10)).resume(D(2026, 3, 5, 10))        # restart: due Tue 10/3 10:00
             .pause(D(2026, 3, 6, 8), "financial").resume(D(2026, 3, 6, 17)))  # + 480
    assert clock.due(cal) == D(2026, 3, 11, 10)


def test_pause_after_due_does_not_move_it(cal):
    clock = Clock.for_dossier(RECEIVED, LIMIT).pause(D(2026, 3, 6, 9)).resume(D(2026, 3, 9, 9))
    assert clock.due(cal) == D(2026, 3, 5, 9)
    # pause beginning exactly at the due instant: the due stays.
    clock = Clock.for_dossier(RECEIVED, LIMIT).pause(D(2026, 3, 5, 9)).resume(D(2026, 3, 6, 9))
    assert clock.due(cal) == D(2026, 3, 5, 9)


def test_open_pause(cal):
    paused = Clock.for_dossier(RECEIVED, LIMIT).pause(D(2026, 3, 3, 10))
    assert paused.paused
    assert paused.due(cal) is None                     # not known while the citizen has it
    # Projection: if the citizen came back Wed 4/3 09:00, 900 minutes are left.
    assert paused.due(cal, D(2026, 3, 4, 9)) == D(2026, 3, 5, 17)
    assert paused.spent(cal, D(2026, 3, 20)) == 540     # frozen
    assert paused.remaining(cal, D(2026, 3, 20)) == LIMIT - 540
    assert paused.paused_minutes(cal, D(2026, 3, 4, 10)) == 480
    restart = Clock.for_dossier(RECEIVED, LIMIT, policy="restart").pause(D(2026, 3, 3, 10))
    assert restart.spent(cal, D(2026, 3, 4, 9)) == 0
    assert restart.remaining(cal, D(2026, 3, 4, 9)) == LIMIT
    assert restart.due(cal, D(2026, 3, 4, 9)) == cal.add(D(2026, 3, 4, 9), LIMIT)


def test_overdue_then_paused_stays_overdue(cal):
    paused = Clock.for_dossier(RECEIVED, LIMIT).pause(D(2026, 3, 6, 9))
    assert paused.due(cal) == D(2026, 3, 5, 9)
    assert timeliness_open(paused, cal, D(2026, 3, 9, 9), scope="dossier") is Timeliness.OVERDUE
    assert timeliness_open(paused, cal, D(2026, 3, 9, 9)) is Timeliness.OVERDUE


def test_same_day_clock(cal):
    before = Clock.for_dossier(D(2026, 3, 16, 14, 0), same_day=True)
    after = Clock.for_dossier(D(2026, 3, 16, 15, 30), same_day=True)
    assert before.due(cal) == D(2026, 3, 16, 17) and before.limit(cal) == 180
    assert after.due(cal) == D(2026, 3, 17, 17) and after.limit(cal) == 90 + DAY
    assert Clock.for_dossier(D(2026, 3, 16, 15, 30), same_day=True, cutoff=time(16)).due(cal) == D(2026, 3, 16, 17)
    # A pause moves it like any other clock.
    paused = before.pause(D(2026, 3, 16, 15)).resume(D(2026, 3, 17, 9))
    assert paused.due(cal) == D(2026, 3, 17, 11)
    # Restart: the same-day rule applies again from the new receipt.
    restarted = (Clock.for_dossier(D(2026, 3, 16, 9), same_day=True, policy="restart")
                 .pause(D(2026, 3, 16, 10)).resume(D(2026, 3, 17, 16)))
    assert restarted.due(cal) == D(2026, 3, 18, 17)


def test_instants_are_truncated_to_the_minute(cal):
    clock = Clock.for_dossier(D(2026, 3, 2, 9, 0, 45, 10), LIMIT).pause(D(2026, 3, 3, 10, 0, 59))
    assert clock.start == RECEIVED and clock.pauses[0].start == D(2026, 3, 3, 10)
    assert clock.resume(D(2026, 3, 5, 10, 0, 30)).due(cal) == D(2026, 3, 9, 9)
    naive = Clock.for_dossier(datetime(2026, 3, 2, 9), LIMIT)
    assert naive.start == RECEIVED and naive.start.tzinfo is LOCAL_TZ


# --------------------------------------------------------------------------- timeliness


def test_labels():
    assert LABELS_VI == {
        Timeliness.NOT_DUE: "Chưa đến hạn",
        Timeliness.NEARLY_DUE: "Sắp đến hạn",
        Timeliness.OVERDUE: "Quá hạn",
        Timeliness.EARLY: "Trước hạn",
        Timeliness.ON_TIME: "Đúng hạn",
        Timeliness.LATE: "Trễ hạn",
    }
    assert Timeliness.LATE.label == "Trễ hạn"
    assert Timeliness("on_time") is Timeliness.ON_TIME and str(Timeliness.ON_TIME) == "on_time"


@pytest.mark.parametrize("allotted,spent,expected", [
    (4 * DAY, 0, Timeliness.NOT_DUE),
    (4 * DAY, 1439, Timeliness.NOT_DUE),
    (4 * DAY, 1440, Timeliness.NEARLY_DUE),     # 75 % used
    (8 * DAY, 7 * DAY, Timeliness.NEARLY_DUE),  # 87.5 %
    (10 * DAY, 7 * DAY, Timeliness.NOT_DUE),    # 70 %, 3 days left
    (10 * DAY, 9 * DAY, Timeliness.NEARLY_DUE),  # 90 %
    (2 * DAY, DAY, Timeliness.NOT_DUE),         # exactly one day left is not "less than"
    (2 * DAY, DAY + 1, Timeliness.NEARLY_DUE),  # less than a day left of two
    (DAY, 1, Timeliness.NOT_DUE),               # a one-day step: only the 75 % rule applies
    (DAY, 359, Timeliness.NOT_DUE),
    (DAY, 360, Timeliness.NEARLY_DUE),
    (DAY // 2, 0, Timeliness.NOT_DUE),          # a half-day step is not nearly due when it opens
    (DAY // 2, 180, Timeliness.NEARLY_DUE),
    (DAY, DAY, Timeliness.NEARLY_DUE),          # at the due minute, not yet over
    (DAY, DAY + 1, Timeliness.OVERDUE),
])
def test_classify_open(allotted, spent, expected):
    assert classify_open(allotted, spent) is expected


def test_classify_open_with_a_custom_policy():
    policy = SlaPolicy(nearly_due_percent=50, nearly_due_minutes_left=60)
    assert classify_open(10 * DAY, 5 * DAY, policy) is Timeliness.NEARLY_DUE
    assert classify_open(10 * DAY, 5 * DAY - 1, policy) is Timeliness.NOT_DUE
    assert classify_open(100, 41, policy) is Timeliness.NEARLY_DUE
    assert classify_open(1000, 941, policy) is Timeliness.NEARLY_DUE
    with pytest.raises(ClockError):
        SlaPolicy(nearly_due_percent=101)
    with pytest.raises(ClockError):
        SlaPolicy(nearly_due_minutes_left=-1)
    with pytest.raises(Exception):
        DEFAULT_SLA_POLICY.nearly_due_percent = 10  # type: ignore[misc]  # frozen


def test_classify_closed():
    assert classify_closed(DAY, DAY - 1) is Timeliness.EARLY
    assert classify_closed(DAY, DAY) is Timeliness.ON_TIME
    assert classify_closed(DAY, DAY + 1) is Timeliness.LATE
    due = D(2026, 3, 5, 9)
    assert classify_closed_at(due, D(2026, 3, 5, 8, 59, 59)) is Timeliness.EARLY
    assert classify_closed_at(due, D(2026, 3, 5, 9, 0, 59)) is Timeliness.ON_TIME
    assert classify_closed_at(due, D(2026, 3, 5, 9, 1)) is Timeliness.LATE
    assert classify_closed_at(D(2026, 3, 5, 17), D(2026, 3, 5, 19)) is Timeliness.LATE  # no calendar: by the minute


def test_step_timeliness_in_working_minutes(cal):
    step = Clock.for_step(D(2026, 3, 16, 8), DAY)          # due Mon 17:00
    assert timeliness(step, cal, D(2026, 3, 16, 9)) is Timeliness.NOT_DUE    # 1 h of 8 used
    assert timeliness(step, cal, D(2026, 3, 16, 15)) is Timeliness.NEARLY_DUE  # 75 % used
    assert timeliness(step, cal, D(2026, 3, 16, 17, 30)) is Timeliness.NEARLY_DUE  # no working minute past
    assert timeliness(step, cal, D(2026, 3, 17, 8, 1)) is Timeliness.OVERDUE
    assert timeliness(step.close(D(2026, 3, 16, 16)), cal) is Timeliness.EARLY
    assert timeliness(step.close(D(2026, 3, 16, 17)), cal) is Timeliness.ON_TIME
    assert timeliness(step.close(D(2026, 3, 17, 8)), cal) is Timeliness.ON_TIME   # 0 working min later
    assert timeliness(step.close(D(2026, 3, 17, 8, 1)), cal) is Timeliness.LATE
    long = Clock.for_step(D(2026, 3, 16, 8), 4 * DAY)
    assert timeliness(long, cal, D(2026, 3, 17, 8)) is Timeliness.NOT_DUE
    assert timeliness(long, cal, D(2026, 3, 19, 8)) is Timeliness.NEARLY_DUE   # 75 %


def test_dossier_timeliness_by_due_instant(cal):
    clock = Clock.for_dossier(RECEIVED, LIMIT)                  # due Thu 5/3 09:00
    assert timeliness(clock, cal, D(2026, 3, 2, 10), scope=Scope.DOSSIER) is Timeliness.NOT_DUE
    assert timeliness(clock, cal, D(2026, 3, 4, 9, 1), scope="dossier") is Timeliness.NEARLY_DUE
    assert timeliness(clock, cal, D(2026, 3, 5, 9, 0, 30), scope="dossier") is Timeliness.NEARLY_DUE
    assert timeliness(clock, cal, D(2026, 3, 5, 9, 1), scope="dossier") is Timeliness.OVERDUE
    assert timeliness_closed(clock.close(D(2026, 3, 4, 17)), cal, "dossier") is Timeliness.EARLY
    assert timeliness_closed(clock.close(D(2026, 3, 5, 9)), cal, "dossier") is Timeliness.ON_TIME
    assert timeliness_closed(clock.close(D(2026, 3, 5, 9, 1)), cal, "dossier") is Timeliness.LATE
    # A dossier due at 17:00 is overdue at 17:01 while open (its appointment has passed), but closed at
    # 17:30 the same evening it is on time, as a step is: no working minute was spent over the limit
    # (DOMAIN.md §1.5: spent = allotted is "Đúng hạn"; by the appointment date it is on time too).
    due_at_five = Clock.for_dossier(D(2026, 3, 16, 8), DAY)
    assert timeliness(due_at_five, cal, D(2026, 3, 16, 17, 1), scope="dossier") is Timeliness.OVERDUE
    evening = due_at_five.close(D(2026, 3, 16, 17, 30))
    assert timeliness_closed(evening, cal, "dossier") is Timeliness.ON_TIME
    assert timeliness_closed(evening, cal, "step") is Timeliness.ON_TIME
    friday = Clock.for_dossier(D(2026, 3, 20, 8), DAY)  # due Friday 17:00; closed on Saturday: no working minute
    assert timeliness_closed(friday.close(D(2026, 3, 21, 10)), cal, "dossier") is Timeliness.ON_TIME
    assert timeliness_closed(friday.close(D(2026, 3, 23, 8, 1)), cal, "dossier") is Timeliness.LATE
    assert timeliness_closed(due_at_five.close(D(2026, 3, 17, 8, 1)), cal, "dossier") is Timeliness.LATE


def test_paused_dossier_is_not_overdue_while_waiting(cal):
    paused = Clock.for_dossier(RECEIVED, LIMIT).pause(D(2026, 3, 3, 10))
    assert timeliness(paused, cal, D(2026, 3, 20), scope="dossier") is Timeliness.NOT_DUE


def test_timeliness_needs_the_right_state(cal):
    clock = Clock.for_dossier(RECEIVED, LIMIT)
    with pytest.raises(ClockError, match="pass now"):
        timeliness(clock, cal)
    with pytest.raises(ClockError, match="timeliness_open"):
        timeliness_closed(clock, cal)
    with pytest.raises(ClockError, match="timeliness_closed"):
        timeliness_open(clock.close(D(2026, 3, 3, 9)), cal, D(2026, 3, 4))


def test_timer_instants(cal):
    clock = Clock.for_dossier(RECEIVED, LIMIT)
    # Nearly due at min(ceil(75 % of 1440) = 1080, 1440 - 480 + 1 = 961) counted minutes.
    assert clock.nearly_due_at(cal) == cal.add(RECEIVED, 961) == D(2026, 3, 4, 9, 1)
    assert clock.overdue_at(cal) == D(2026, 3, 5, 9, 1)
    assert clock.overdue_at(cal, "dossier") == D(2026, 3, 5, 9, 1)
    friday = Clock.for_step(D(2026, 3, 13, 9), DAY)             # due Mon 16/3 09:00
    assert friday.overdue_at(cal) == D(2026, 3, 16, 9, 1)
    evening = Clock.for_step(D(2026, 3, 16, 8), DAY)            # due Mon 17:00
    assert evening.overdue_at(cal) == D(2026, 3, 17, 8, 1)
    assert evening.overdue_at(cal, "dossier") == D(2026, 3, 16, 17, 1)
    assert clock.pause(D(2026, 3, 3, 9)).nearly_due_at(cal) is None


# --------------------------------------------------------------------------- properties

_DAYS = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 6, 30))
_INSTANTS = st.builds(lambda d, m: datetime.combine(d, time(), tzinfo=LOCAL_TZ) + timedelta(minutes=m),
                      _DAYS, st.integers(0, 24 * 60 - 1))


@PROPS
@given(_INSTANTS, st.integers(0, 20 * DAY), st.integers(0, 30 * DAY), st.integers(0, 10 * DAY))
def test_pause_moves_due_exactly(cal, start, limit, pause_at, pause_len):
    base = Clock.for_dossier(start, limit)
    p_start = cal.add(start, pause_at)
    p_end = cal.add(p_start, pause_len)
    paused = base.pause(p_start).resume(p_end)
    due, base_due = paused.due(cal), base.due(cal)
    if pause_at < limit:
        assert due == cal.add(base_due, cal.elapsed(p_start, p_end))
        assert cal.elapsed(start, due) - paused.paused_minutes(cal, due) == limit
    else:
        assert due == base_due
    # counted time reaches the limit exactly at the due instant
    assert paused.spent(cal, due) == limit


@PROPS
@given(_INSTANTS, st.integers(1, 20 * DAY), st.sampled_from(list(SupplementPolicy)),
       st.integers(0, 30 * DAY), st.integers(0, 5 * DAY))
def test_timers_agree_with_timeliness(cal, start, limit, policy, pause_at, pause_len):
    clock = Clock.for_dossier(start, limit, policy=policy)
    p_start = cal.add(start, pause_at)
    p_end = cal.add(p_start, pause_len)
    clock = clock.pause(p_start).resume(p_end)
    nearly = clock.nearly_due_at(cal)
    over = clock.overdue_at(cal)
    minute = timedelta(minutes=1)
    # (A clock is only asked about instants after its last recorded event.)
    assert timeliness(clock, cal, max(nearly, p_end)) is not Timeliness.NOT_DUE
    if nearly - minute >= max(clock.start, p_end):
        assert timeliness(clock, cal, nearly - minute) is Timeliness.NOT_DUE
    assert timeliness(clock, cal, max(over, p_end)) is Timeliness.OVERDUE
    if over - minute >= p_end:
        assert timeliness(clock, cal, over - minute) is not Timeliness.OVERDUE


@PROPS
@given(_INSTANTS, st.integers(0, 10 * DAY), st.integers(0, 15 * DAY))
def test_remaining_is_limit_minus_spent_and_reaches_zero_at_due(cal, start, limit, later):
    clock = Clock.for_dossier(start, limit)
    now = cal.add(start, later)
    assert clock.remaining(cal, now) == limit - min(later, cal.elapsed(start, now))
    assert clock.remaining(cal, clock.due(cal)) == 0


# --------------------------------------------------------------------------- errors and storage


def test_clock_errors():
    clock = Clock.for_dossier(RECEIVED, LIMIT)
    with pytest.raises(ClockError, match="not paused"):
        clock.resume(D(2026, 3, 3))
    with pytest.raises(ClockError, match="already paused"):
        clock.pause(D(2026, 3, 3)).pause(D(2026, 3, 4))
    with pytest.raises(ClockError, match="before the clock start"):
        clock.pause(D(2026, 3, 1))
    with pytest.raises(ClockError, match="before it starts"):
        clock.pause(D(2026, 3, 3)).resume(D(2026, 3, 2, 10))
    with pytest.raises(ClockError, match="closed"):
        clock.close(D(2026, 3, 3)).pause(D(2026, 3, 4))
    with pytest.raises(ClockError, match="already closed"):
        clock.close(D(2026, 3, 3)).close(D(2026, 3, 4))
    with pytest.raises(ClockError, match="limit_minutes"):
        Clock.for_dossier(RECEIVED, -1)
    with pytest.raises(ClockError, match="limit_minutes"):
        Clock.for_dossier(RECEIVED)
    with pytest.raises(ClockError, match="same-day"):
        Clock.for_dossier(RECEIVED, 10, same_day=True)
    with pytest.raises(ClockError, match="unknown supplementation policy"):
        Clock.for_dossier(RECEIVED, 10, policy="forgive")
    with pytest.raises(ClockError, match="unknown pause reason"):
        clock.pause(D(2026, 3, 3), "holiday")
    with pytest.raises(ClockError, match="still open"):
        Clock(RECEIVED, 10, pauses=(Pause(D(2026, 3, 3)), Pause(D(2026, 3, 4), D(2026, 3, 5))))
    with pytest.raises(ClockError, match="pass now"):
        clock.spent(WorkCalendar(public_holidays=False))
    assert issubclass(ClockError, CalendarError)


def test_closing_a_paused_clock_ends_the_pause(cal):
    clock = Clock.for_dossier(RECEIVED, LIMIT).pause(D(2026, 3, 3, 10)).close(D(2026, 3, 4, 10))
    assert clock.closed and not clock.paused
    assert clock.pauses[-1].end == D(2026, 3, 4, 10)
    assert clock.spent(cal) == 540


def test_clocks_are_frozen_values():
    clock = Clock.for_dossier(RECEIVED, LIMIT)
    paused = clock.pause(D(2026, 3, 3, 10))
    assert clock.pauses == () and len(paused.pauses) == 1
    with pytest.raises(Exception):
        clock.limit_minutes = 5  # type: ignore[misc]
    assert Clock.for_dossier(RECEIVED, LIMIT) == clock and hash(clock) == hash(Clock.for_dossier(RECEIVED, LIMIT))


def test_storage_round_trip():
    clock = (Clock.for_dossier(RECEIVED, None, same_day=True, cutoff=time(16), policy="restart")
             .pause(D(2026, 3, 3, 10)).resume(D(2026, 3, 5, 10)).pause(D(2026, 3, 6, 9), "financial"))
    data = clock.as_dict()
    assert data["policy"] == "restart" and data["pauses"][1] == {
        "start": "2026-03-06T09:00:00+07:00", "end": None, "reason": "financial"}
    assert Clock.from_dict(data) == clock
    closed = Clock.for_step(RECEIVED, 30).close(D(2026, 3, 2, 10))
    assert Clock.from_dict(closed.as_dict()) == closed
    with pytest.raises(ClockError, match="not a stored clock"):
        Clock.from_dict({"limit_minutes": 3})


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize("minutes,text", [
    (720, "còn 1,5 ngày làm việc"),
    (480, "còn 1 ngày làm việc"),
    (500, "còn 1 ngày làm việc"),          # 1.04 days: one decimal, truncated
    (719, "còn 1,4 ngày làm việc"),
    (2400, "còn 5 ngày làm việc"),
    (180, "còn 3 giờ làm việc"),
    (150, "còn 2,5 giờ làm việc"),
    (60, "còn 1 giờ làm việc"),
    (479, "còn 7,9 giờ làm việc"),
    (45, "còn 45 phút làm việc"),
    (1, "còn 1 phút làm việc"),
    (0, "đến hạn"),
    (-30, "quá hạn 30 phút"),
    (-120, "quá hạn 2 giờ"),
    (-90, "quá hạn 1,5 giờ"),
    (-480, "quá hạn 1 ngày làm việc"),
    (-1200, "quá hạn 2,5 ngày làm việc"),
])
def test_describe_remaining(minutes, text):
    assert describe_remaining(minutes) == text


def test_describe_remaining_rejects_non_integers():
    with pytest.raises(CalendarError):
        describe_remaining(1.5)  # type: ignore[arg-type]


def test_sla_module_never_reads_the_clock():
    source = (REPO / "engine" / "sla.py").read_text(encoding="utf-8")
    assert not re.search(r"\.now\(|\.today\(|utcnow|time\.time\(", source)


def test_docstring_examples():
    import doctest

    import engine.sla

    assert doctest.testmod(engine.sla).failed == 0
