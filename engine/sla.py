"""The SLA clock: due instants of dossiers and steps, pauses, timeliness classes.

Everything here is a pure function of its arguments: a :class:`Clock` is a frozen
value, its methods return new clocks, and the current time (``now``) is always
passed in. Working time comes from a :class:`engine.calendar.WorkCalendar`.

How a clock counts
------------------
A clock starts at ``start`` (receipt of a complete dossier, or the opening of a
step) with a limit in working minutes (or the same-day rule). While the dossier
waits for the citizen (a :class:`Pause`: supplementation or a financial
obligation) the clock stops; the due instant moves by exactly the working time
the pause covered, unless the due instant had already passed when the pause
began. The supplementation policy of the procedure decides what a
*supplementation* pause does, and the clock records which one applied:

``pause``
    the clock stops and resumes where it stood (Decree 61 Art. 21 reading);
``restart``
    the full limit runs again from the new complete receipt (the pause's end);
``counts``
    the citizen's time counts: a supplementation pause changes nothing.

A financial-obligation pause always stops the clock.

Resolution: instants are truncated to the minute (seconds are dropped) when a
clock is built, paused, resumed or closed, and ``now`` is truncated the same way,
so every figure is a whole number of working minutes.

Timeliness (the national convention, see :func:`timeliness`)
-------------------------------------------------------------
Open: ``overdue`` once past due; else ``nearly_due`` when at least
``SlaPolicy.nearly_due_percent`` % of the allotted working time is used or
(for items allotted more than that) fewer than
``SlaPolicy.nearly_due_minutes_left`` working minutes are left; else
``not_due``. Closed: a *step* is ``early`` if it spent fewer working minutes than
allotted, ``on_time`` if exactly as many, ``late`` if more; a *dossier* is
``early`` if closed before the minute of its due instant, ``on_time`` if closed
within that minute, ``late`` if after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any

from engine.calendar import LOCAL_TZ, MINUTES_PER_DAY, WorkCalendar, to_local
from engine.errors import CalendarError

__all__ = [
    "Timeliness",
    "LABELS_VI",
    "SupplementPolicy",
    "PauseReason",
    "Scope",
    "SlaPolicy",
    "DEFAULT_SLA_POLICY",
    "Pause",
    "Clock",
    "ClockError",
    "classify_open",
    "classify_closed",
    "classify_closed_at",
    "timeliness",
    "timeliness_open",
    "timeliness_closed",
    "describe_remaining",
]


class ClockError(CalendarError):
    """An SLA clock was asked an impossible change (resume when not paused, ...)."""


class Timeliness(StrEnum):
    """Timeliness class of a step or dossier: three while open, three once closed."""

    NOT_DUE = "not_due"
    NEARLY_DUE = "nearly_due"
    OVERDUE = "overdue"
    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"

    @property
    def label(self) -> str:
        """The Vietnamese label shown to staff (see :data:`LABELS_VI`)."""
        return LABELS_VI[self]


#: Vietnamese labels of the timeliness classes, for the UI and reports.
LABELS_VI: dict[Timeliness, str] = {
    Timeliness.NOT_DUE: "Chưa đến hạn",
    Timeliness.NEARLY_DUE: "Sắp đến hạn",
    Timeliness.OVERDUE: "Quá hạn",
    Timeliness.EARLY: "Trước hạn",
    Timeliness.ON_TIME: "Đúng hạn",
    Timeliness.LATE: "Trễ hạn",
}


class SupplementPolicy(StrEnum):
    """What a supplementation pause does to the clock (a per-procedure setting)."""

    PAUSE = "pause"
    RESTART = "restart"
    COUNTS = "counts"


class PauseReason(StrEnum):
    """Why the clock waits for the citizen."""

    SUPPLEMENT = "supplement"  # Yêu cầu bổ sung, hoàn thiện hồ sơ
    FINANCIAL = "financial"    # Thực hiện nghĩa vụ tài chính


class Scope(StrEnum):
    """Whose timeliness is classified: a step (by minutes) or a dossier (by due instant)."""

    STEP = "step"
    DOSSIER = "dossier"


@dataclass(frozen=True)
class SlaPolicy:
    """Thresholds of the "nearly due" class.

    An open item is nearly due when at least ``nearly_due_percent`` % of its
    allotted working time is used, or fewer than ``nearly_due_minutes_left``
    working minutes are left (default: 75 %, or less than one working day).
    The minutes-left rule applies only to items allotted more than that many
    minutes: a half-day step is not "nearly due" the moment it opens.
    """

    nearly_due_percent: int = 75
    nearly_due_minutes_left: int = MINUTES_PER_DAY

    def __post_init__(self) -> None:
        if not isinstance(self.nearly_due_percent, int) or not 0 <= self.nearly_due_percent <= 100:
            raise ClockError(f"nearly_due_percent must be an integer 0-100, not {self.nearly_due_percent!r}")
        if not isinstance(self.nearly_due_minutes_left, int) or self.nearly_due_minutes_left < 0:
            raise ClockError(
                f"nearly_due_minutes_left must be an integer >= 0, not {self.nearly_due_minutes_left!r}"
            )


DEFAULT_SLA_POLICY = SlaPolicy()


# Hot-path helpers. A transition truncates, parses and formats the same few
# instants many times; these caches and fast paths give exactly what the plain
# code (``to_local(t).replace(second=0, microsecond=0)``, ``fromisoformat``,
# ``isoformat``) gives, only cheaper. The caches are bounded (cleared when full)
# and hold immutable values, so sharing them between threads is harmless.

_UTC = timezone.utc
_CACHE_MAX = 4096
_MINUTE_CACHE: dict[datetime, datetime] = {}  # UTC instant -> its local minute
_PARSE_CACHE: dict[str, datetime] = {}        # stored ISO text -> its local minute
_ISO_CACHE: dict[datetime, str] = {}          # local instant (fold 0) -> ISO text
_TD_SECONDS = tuple(timedelta(seconds=s) for s in range(60))
_new = object.__new__


def _truncate(t: datetime) -> datetime:
    """A local aware datetime truncated to its minute (as ``replace(second=0, microsecond=0)``)."""
    s, us = t.second, t.microsecond
    if not (s or us):
        return t
    if t.fold:  # wall-clock subtraction would drop the fold
        return t.replace(second=0, microsecond=0)
    return t - (_TD_SECONDS[s] if not us else timedelta(0, s, us))


def _minute(t: datetime) -> datetime:
    """``t`` in local time, truncated to the minute."""
    if t.__class__ is datetime:
        tz = t.tzinfo
        if tz is LOCAL_TZ:
            return _truncate(t)
        if tz is _UTC:
            m = _MINUTE_CACHE.get(t)
            if m is None:
                m = _truncate(t.astimezone(LOCAL_TZ))
                if len(_MINUTE_CACHE) >= _CACHE_MAX:
                    _MINUTE_CACHE.clear()
                _MINUTE_CACHE[t] = m
            return m
    return to_local(t).replace(second=0, microsecond=0)


def _parse_minute(text: str) -> datetime:
    """``_minute(datetime.fromisoformat(text))`` (ValueError when malformed)."""
    m = _PARSE_CACHE.get(text)
    if m is None:
        m = _minute(datetime.fromisoformat(text))
        if len(_PARSE_CACHE) >= _CACHE_MAX:
            _PARSE_CACHE.clear()
        _PARSE_CACHE[text] = m
    return m


def _iso(t: datetime | None) -> str | None:
    """``t.isoformat()`` (None stays None)."""
    if t is None:
        return None
    if t.__class__ is datetime and t.tzinfo is LOCAL_TZ and not t.fold:
        # Keys are local, fold-0 datetimes only: equal keys have equal wall times
        # and offsets, hence the same text.
        s = _ISO_CACHE.get(t)
        if s is None:
            s = t.isoformat()
            if len(_ISO_CACHE) >= _CACHE_MAX:
                _ISO_CACHE.clear()
            _ISO_CACHE[t] = s
        return s
    return t.isoformat()


@dataclass(frozen=True)
class Pause:
    """A period the dossier waited for the citizen; ``end`` is None while it lasts."""

    start: datetime
    end: datetime | None = None
    reason: PauseReason = PauseReason.SUPPLEMENT

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _minute(self.start))
        if self.end is not None:
            object.__setattr__(self, "end", _minute(self.end))
            if self.end < self.start:
                raise ClockError(f"a pause cannot end ({self.end:%Y-%m-%d %H:%M}) before it starts "
                                 f"({self.start:%Y-%m-%d %H:%M})")
        try:
            object.__setattr__(self, "reason", _reason(self.reason))
        except ValueError:
            raise ClockError(f"unknown pause reason {self.reason!r} (known: supplement, financial)") from None


_REASONS: dict[str, PauseReason] = {m.value: m for m in PauseReason}
_POLICIES: dict[str, SupplementPolicy] = {m.value: m for m in SupplementPolicy}


def _reason(r: Any) -> PauseReason:
    """``PauseReason(r)`` (ValueError when unknown)."""
    if r.__class__ is PauseReason:
        return r
    m = _REASONS.get(r) if r.__class__ is str else None
    return m if m is not None else PauseReason(r)


def _policy(p: Any) -> SupplementPolicy:
    """``SupplementPolicy(p)`` (ValueError when unknown)."""
    if p.__class__ is SupplementPolicy:
        return p
    m = _POLICIES.get(p) if p.__class__ is str else None
    return m if m is not None else SupplementPolicy(p)


def _pause(start: datetime, end: datetime | None, reason: PauseReason) -> "Pause":
    """A Pause from values already normalized and checked (no validation)."""
    p = _new(Pause)
    p.__dict__.update(start=start, end=end, reason=reason)
    return p


@dataclass(frozen=True)
class Clock:
    """The SLA clock of a dossier or a step.

    Parameters
    ----------
    start : datetime
        Receipt of the complete dossier, or the opening of the step.
    limit_minutes : int or None
        The limit in working minutes; None for a same-day procedure.
    same_day : bool
        Same-day procedure: due at the end of the receipt day, or of the next
        working day when received after the cut-off (see
        :meth:`WorkCalendar.same_day_due`).
    cutoff : time or None
        Same-day cut-off; None uses the calendar's (15:00).
    policy : SupplementPolicy
        What a supplementation pause does (recorded with the dossier).
    pauses : tuple of Pause
        In order, not overlapping; only the last may be open.
    closed_at : datetime or None
        When the step or dossier was completed.
    calendar_days : int or None
        A limit in calendar days ("15 ngày"): due at the end of the last day
        counted from the day after the (re)start, or of the next working day
        (:meth:`WorkCalendar.calendar_days_due`); ``limit_minutes`` is then
        None and, as for a same-day clock, the allotted working minutes are the
        working time from the (re)start to that instant. A pause moves the due
        instant by the working time it covers.

    Raises
    ------
    ClockError
        When the limit is missing or negative, or given with ``same_day`` or
        ``calendar_days``; when ``calendar_days`` is not an integer >= 1; when pauses
        overlap, are out of order, start before ``start``, or one but the last is
        open; when ``closed_at`` is before ``start`` or the clock is closed while
        paused.
    """

    start: datetime
    limit_minutes: int | None = None
    same_day: bool = False
    cutoff: time | None = None
    policy: SupplementPolicy = SupplementPolicy.PAUSE
    pauses: tuple[Pause, ...] = ()
    closed_at: datetime | None = None
    calendar_days: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _minute(self.start))
        if self.calendar_days is not None:
            cd = self.calendar_days
            if isinstance(cd, bool) or not isinstance(cd, int) or cd < 1:
                raise ClockError(f"calendar_days must be an integer >= 1, not {cd!r}")
            if self.same_day or self.limit_minutes is not None:
                raise ClockError("a clock in calendar days has neither limit_minutes nor same_day")
        elif self.same_day:
            if self.limit_minutes is not None:
                raise ClockError("a same-day clock has no limit_minutes")
        else:
            lm = self.limit_minutes
            if isinstance(lm, bool) or not isinstance(lm, int) or lm < 0:
                raise ClockError(f"limit_minutes must be an integer >= 0 (or same_day=True), not {lm!r}")
        try:
            object.__setattr__(self, "policy", _policy(self.policy))
        except ValueError:
            raise ClockError(f"unknown supplementation policy {self.policy!r} "
                             f"(known: pause, restart, counts)") from None
        pauses = tuple(p if isinstance(p, Pause) else Pause(*p) for p in self.pauses)
        object.__setattr__(self, "pauses", pauses)
        prev_end = self.start
        for i, p in enumerate(pauses):
            if p.start < prev_end:
                raise ClockError(f"pause {i + 1} starts at {p.start:%Y-%m-%d %H:%M}, before the clock "
                                 f"start or the end of the previous pause ({prev_end:%Y-%m-%d %H:%M})")
            if p.end is None and i != len(pauses) - 1:
                raise ClockError(f"pause {i + 1} is still open but is not the last one")
            prev_end = p.end if p.end is not None else p.start
        if self.closed_at is not None:
            object.__setattr__(self, "closed_at", _minute(self.closed_at))
            if self.closed_at < prev_end:
                raise ClockError(f"closed at {self.closed_at:%Y-%m-%d %H:%M}, before the start or "
                                 f"the last pause ({prev_end:%Y-%m-%d %H:%M})")
            if self.paused:
                raise ClockError("a paused clock cannot be closed: resume it first, or use close()")

    # ----------------------------------------------------------------- building

    @classmethod
    def for_dossier(
        cls,
        received: datetime,
        limit_minutes: int | None = None,
        *,
        same_day: bool = False,
        cutoff: time | None = None,
        policy: SupplementPolicy | str = SupplementPolicy.PAUSE,
        calendar_days: int | None = None,
    ) -> "Clock":
        """The clock of a dossier from the receipt of its complete dossier."""
        if calendar_days is not None:
            return cls(received, limit_minutes, same_day, cutoff, policy, calendar_days=calendar_days)
        if cls is Clock and policy.__class__ in (str, SupplementPolicy) and policy in _POLICIES:
            if same_day is False and limit_minutes.__class__ is int and limit_minutes >= 0:  # type: ignore[operator]
                return _clock(_minute(received), limit_minutes, False, cutoff, _policy(policy), (), None, None)
            if same_day is True and limit_minutes is None:
                return _clock(_minute(received), None, True, cutoff, _policy(policy), (), None, None)
        return cls(received, limit_minutes, same_day, cutoff, policy)  # type: ignore[arg-type]

    @classmethod
    def for_step(cls, opened: datetime, duration_minutes: int) -> "Clock":
        """The clock of a step from its opening, with its duration in working minutes."""
        if cls is Clock and duration_minutes.__class__ is int and duration_minutes >= 0:
            return _clock(_minute(opened), duration_minutes, False, None, SupplementPolicy.PAUSE, (), None, None)
        return cls(opened, duration_minutes)

    @property
    def paused(self) -> bool:
        """Whether the clock is stopped now (its last pause is open)."""
        return bool(self.pauses) and self.pauses[-1].end is None

    @property
    def closed(self) -> bool:
        """Whether the step or dossier is completed."""
        return self.closed_at is not None

    def pause(self, at: datetime, reason: PauseReason | str = PauseReason.SUPPLEMENT) -> "Clock":
        """Stop the clock at ``at`` because the dossier waits for the citizen.

        Raises
        ------
        ClockError
            When the clock is closed or already paused, or ``at`` is before its
            start or the end of the previous pause.
        """
        if self.closed:
            raise ClockError("the clock is closed: it cannot be paused")
        if self.paused:
            raise ClockError(f"the clock is already paused since {self.pauses[-1].start:%Y-%m-%d %H:%M}")
        p = Pause(at, None, reason)
        if self.__class__ is not Clock:
            return replace(self, pauses=self.pauses + (p,))
        # The same checks as __post_init__, on the one pause added.
        prev_end = self._last_end()
        if p.start < prev_end:
            raise ClockError(f"pause {len(self.pauses) + 1} starts at {p.start:%Y-%m-%d %H:%M}, before the clock "
                             f"start or the end of the previous pause ({prev_end:%Y-%m-%d %H:%M})")
        return _clock(self.start, self.limit_minutes, self.same_day, self.cutoff, self.policy,
                      self.pauses + (p,), None, self.calendar_days)

    def resume(self, at: datetime) -> "Clock":
        """Restart the clock at ``at`` (the citizen supplemented or paid).

        Raises
        ------
        ClockError
            When the clock is not paused or ``at`` is before the pause began.
        """
        if not self.paused:
            raise ClockError("the clock is not paused")
        last = self.pauses[-1]
        if self.__class__ is not Clock:
            return replace(self, pauses=self.pauses[:-1] + (Pause(last.start, at, last.reason),))
        # The checks of Pause.__post_init__ on the pause that ends (its start and
        # reason are already normalized); the others are unchanged.
        end = _minute(at)
        if end < last.start:
            raise ClockError(f"a pause cannot end ({end:%Y-%m-%d %H:%M}) before it starts "
                             f"({last.start:%Y-%m-%d %H:%M})")
        return _clock(self.start, self.limit_minutes, self.same_day, self.cutoff, self.policy,
                      self.pauses[:-1] + (_pause(last.start, end, last.reason),), self.closed_at,
                      self.calendar_days)

    def close(self, at: datetime) -> "Clock":
        """Complete the step or dossier at ``at`` (an open pause ends there).

        Raises
        ------
        ClockError
            When already closed, or ``at`` is before the start or the last pause.
        """
        if self.closed:
            raise ClockError(f"the clock is already closed ({self.closed_at:%Y-%m-%d %H:%M})")
        clock = self.resume(at) if self.paused else self
        if clock.__class__ is not Clock:
            return replace(clock, closed_at=at)
        closed_at = _minute(at)
        prev_end = clock._last_end()
        if closed_at < prev_end:
            raise ClockError(f"closed at {closed_at:%Y-%m-%d %H:%M}, before the start or "
                             f"the last pause ({prev_end:%Y-%m-%d %H:%M})")
        return _clock(clock.start, clock.limit_minutes, clock.same_day, clock.cutoff, clock.policy,
                      clock.pauses, closed_at, clock.calendar_days)

    def _last_end(self) -> datetime:
        """The end of the last pause (its start while it lasts), else the start."""
        if not self.pauses:
            return self.start
        last = self.pauses[-1]
        return last.end if last.end is not None else last.start

    # ----------------------------------------------------------------- counting

    def _stops(self, p: Pause) -> bool:
        return not (p.reason == PauseReason.SUPPLEMENT and self.policy == SupplementPolicy.COUNTS)

    def _restarts(self, p: Pause) -> bool:
        """Whether ``p`` may restart the clock: a supplementation under the ``restart`` policy.

        It does only if it began by the due instant in force (:meth:`_segments`).
        """
        return p.reason == PauseReason.SUPPLEMENT and self.policy == SupplementPolicy.RESTART

    def _segments(self, cal: WorkCalendar) -> tuple[datetime, list[tuple[datetime, datetime | None]], bool]:
        """The epoch start, the counting periods of the current epoch, and whether the open pause restarts.

        The last period is open (end None) while the clock runs; when the clock
        is paused no period is open. A restart begins a new epoch; a
        supplementation asked for after the due instant had passed does not
        restart the clock (a deadline already missed is not forgiven): it stops
        it like a ``pause``, which moves no due instant that passed before it.
        """
        epoch, t = self.start, self.start
        segments: list[tuple[datetime, datetime | None]] = []
        for p in self.pauses:
            if not self._stops(p):
                continue
            if p.start > t:
                segments.append((t, p.start))
            restarts = self._restarts(p) and not self._past_due(cal, epoch, segments, p.start)
            if p.end is None:
                return epoch, segments, restarts
            if restarts:
                epoch, segments = p.end, []
            t = max(t, p.end)
        segments.append((t, None))
        return epoch, segments, False

    def _past_due(self, cal: WorkCalendar, epoch: datetime, segments: list[tuple[datetime, datetime | None]],
                  at: datetime) -> bool:
        """Whether ``at`` is past the minute of the epoch's due instant (the counting periods before ``at``)."""
        need = self._limit_from(cal, epoch)
        if need <= 0:
            return _minute(at) > epoch
        for a, b in segments:  # as _instant_at finds the due instant
            seg = cal.elapsed(a, b)  # type: ignore[arg-type]  # closed periods
            if seg >= need:
                return _minute(at) > cal.add(a, need)
            need -= seg
        return False

    def restarted(self, cal: WorkCalendar) -> bool:
        """Whether the last pause, now ended, restarted the clock (a supplementation under ``restart`` that
        began by the due instant)."""
        if not self.pauses or self.pauses[-1].end is None:
            return False
        epoch, _, _ = self._segments(cal)
        return self._restarts(self.pauses[-1]) and epoch == self.pauses[-1].end

    def _limit_from(self, cal: WorkCalendar, epoch: datetime) -> int:
        if self.calendar_days is not None:
            return cal.elapsed(epoch, cal.calendar_days_due(epoch, self.calendar_days))
        if self.same_day:
            return cal.elapsed(epoch, cal.same_day_due(epoch, self.cutoff))
        return self.limit_minutes  # type: ignore[return-value]

    def _until(self, now: datetime | None) -> datetime:
        if now is None:
            if self.closed_at is None:
                raise ClockError("the clock is open: pass now")
            return self.closed_at
        now = _minute(now)
        return min(now, self.closed_at) if self.closed_at is not None else now

    def limit(self, cal: WorkCalendar, now: datetime | None = None) -> int:
        """The allotted working minutes of the current epoch.

        For a same-day clock or one in calendar days, the working time from the
        (re)start to its due instant. While paused under ``restart``, the limit of a new epoch
        starting at ``now`` (the full limit runs again on resumption).
        """
        if not self.same_day and self.calendar_days is None and not (self.pauses and self.pauses[-1].end is None):
            return self.limit_minutes  # type: ignore[return-value]  # the epoch does not matter
        epoch, _, restarting = self._segments(cal)
        if self.paused and restarting:
            epoch = _minute(now) if now is not None else self.pauses[-1].start
        return self._limit_from(cal, epoch)

    def spent(self, cal: WorkCalendar, now: datetime | None = None) -> int:
        """Working minutes counted so far (in the current epoch), up to ``now``.

        Parameters
        ----------
        cal : WorkCalendar
        now : datetime or None
            The current time; may be omitted for a closed clock (its close).

        Raises
        ------
        ClockError
            When the clock is open and ``now`` is None.
        """
        until = self._until(now)
        if not self.pauses:  # one period, from the start
            return cal.elapsed(self.start, until) if until > self.start else 0
        _, segments, restarting = self._segments(cal)
        if self.paused and restarting:
            return 0
        total = 0
        for a, b in segments:
            end = until if b is None or b > until else b
            if end > a:
                total += cal.elapsed(a, end)
        return total

    def remaining(self, cal: WorkCalendar, now: datetime | None = None) -> int:
        """Working minutes left before due (negative when overdue): ``limit - spent``."""
        return self.limit(cal, now) - self.spent(cal, now)

    def paused_minutes(self, cal: WorkCalendar, now: datetime | None = None) -> int:
        """Working minutes the clock stood still (pauses that stopped it), up to ``now``."""
        until = self._until(now)
        if not self.pauses:
            return 0
        total = 0
        for p in self.pauses:
            if not self._stops(p) or p.start >= until:
                continue
            end = until if p.end is None or p.end > until else p.end
            total += cal.elapsed(p.start, end)
        return total

    def _instant_at(self, cal: WorkCalendar, need: int, now: datetime | None) -> datetime | None:
        """The instant at which ``need`` working minutes will have counted (current epoch)."""
        if not self.pauses:  # one open period, from the start
            return self.start if need <= 0 else cal.add(self.start, need)
        epoch, segments, restarting = self._segments(cal)
        if self.paused and restarting:
            return None if now is None else cal.add(max(_minute(now), self.pauses[-1].start), need)
        if need <= 0:
            return epoch
        for a, b in segments:
            if b is None:
                return cal.add(a, need)
            seg = cal.elapsed(a, b)
            if seg >= need:
                return cal.add(a, need)
            need -= seg
        if now is None:
            return None
        return cal.add(max(_minute(now), self.pauses[-1].start), need)

    def due(self, cal: WorkCalendar, now: datetime | None = None) -> datetime | None:
        """The due instant.

        Pauses move it by exactly the working time they cover (pauses that begin
        after it do not move it); under ``restart`` it is the resumption plus the
        full limit.

        Parameters
        ----------
        cal : WorkCalendar
        now : datetime or None
            Needed only while paused: the due instant is then not known yet, and
            the projection "if the citizen came back now" is returned.

        Returns
        -------
        datetime or None
            Aware, local; None while paused (before the due instant) without ``now``.
        """
        return self._instant_at(cal, self.limit(cal, now), now)

    def nearly_due_at(self, cal: WorkCalendar, policy: SlaPolicy = DEFAULT_SLA_POLICY,
                      now: datetime | None = None) -> datetime | None:
        """The instant the clock turns ``nearly_due`` under ``policy`` (for timers).

        None while paused without ``now`` (as :meth:`due`).
        """
        limit = self.limit(cal, now)
        by_share = -(-policy.nearly_due_percent * limit // 100)  # ceil
        left = policy.nearly_due_minutes_left
        by_left = limit - left + 1 if limit > left else by_share
        return self._instant_at(cal, max(0, min(by_share, by_left)), now)

    def overdue_at(self, cal: WorkCalendar, scope: Scope | str = Scope.STEP,
                   now: datetime | None = None) -> datetime | None:
        """The instant the clock turns ``overdue`` (for timers).

        A step is overdue once it has counted one working minute more than its
        limit; a dossier one minute (wall clock) after its due instant.
        """
        if Scope(scope) == Scope.DOSSIER:
            due = self.due(cal, now)
            return None if due is None else due + timedelta(minutes=1)
        return self._instant_at(cal, self.limit(cal, now) + 1, now)

    # ----------------------------------------------------------------- storage

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO instants); :meth:`from_dict` reads it back."""
        iso = _iso
        return {
            "start": iso(self.start),
            "limit_minutes": self.limit_minutes,
            "same_day": self.same_day,
            "cutoff": None if self.cutoff is None else self.cutoff.strftime("%H:%M"),
            "policy": str(self.policy),
            "pauses": [{"start": iso(p.start), "end": iso(p.end), "reason": str(p.reason)}
                       for p in self.pauses],
            "closed_at": iso(self.closed_at),
            **({} if self.calendar_days is None else {"calendar_days": self.calendar_days}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Clock":
        """Read a clock written by :meth:`as_dict`.

        Raises
        ------
        ClockError
            When a field is missing or malformed.
        """
        if cls is Clock:
            clock = _clock_from_dict(data)
            if clock is not None:
                return clock
        try:
            dt = lambda v: None if v is None else datetime.fromisoformat(v)  # noqa: E731
            return cls(
                start=dt(data["start"]),
                limit_minutes=data.get("limit_minutes"),
                same_day=bool(data.get("same_day", False)),
                cutoff=None if data.get("cutoff") is None else time.fromisoformat(data["cutoff"]),
                policy=data.get("policy", "pause"),
                pauses=tuple(Pause(dt(p["start"]), dt(p.get("end")), p.get("reason", "supplement"))
                             for p in data.get("pauses", ())),
                closed_at=dt(data.get("closed_at")),
                calendar_days=data.get("calendar_days"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ClockError(f"not a stored clock: {exc}") from None


def _clock(start: datetime, limit_minutes: int | None, same_day: bool, cutoff: time | None,
           policy: SupplementPolicy, pauses: tuple[Pause, ...], closed_at: datetime | None,
           calendar_days: int | None) -> Clock:
    """A Clock from values already normalized and checked (no validation)."""
    c = _new(Clock)
    c.__dict__.update(start=start, limit_minutes=limit_minutes, same_day=same_day, cutoff=cutoff,
                      policy=policy, pauses=pauses, closed_at=closed_at, calendar_days=calendar_days)
    return c


def _clock_from_dict(data: Any) -> Clock | None:
    """``Clock.from_dict(data)`` for a well-formed stored clock, without the generic checks.

    Returns None for anything unusual (an unexpected type, a value the checks
    would refuse): :meth:`Clock.from_dict` then takes the validated path, which
    builds the same clock or raises the same error.
    """
    if data.__class__ is not dict:
        return None
    text = data.get("start")
    if text.__class__ is not str:
        return None
    lm = data.get("limit_minutes")
    same_day = data.get("same_day", False)
    calendar_days = data.get("calendar_days")
    if calendar_days is not None:
        if calendar_days.__class__ is not int or calendar_days < 1 or same_day is not False or lm is not None:
            return None
    elif same_day is False:
        if lm.__class__ is not int or lm < 0:
            return None
    elif same_day is not True or lm is not None:
        return None
    try:
        policy = _POLICIES.get(data.get("policy", "pause"))  # TypeError when unhashable
        if policy is None:
            return None
        start = _parse_minute(text)
        cutoff = data.get("cutoff")
        if cutoff is not None:
            if cutoff.__class__ is not str:
                return None
            cutoff = time.fromisoformat(cutoff)
        raw = data.get("pauses", ())
        if raw.__class__ is not list and raw.__class__ is not tuple:
            return None
        pauses: tuple[Pause, ...] = ()
        prev_end = start
        if raw:
            out = []
            last = len(raw) - 1
            for i, p in enumerate(raw):
                if p.__class__ is not dict:
                    return None
                ps, pe = p.get("start"), p.get("end")
                reason = _REASONS.get(p.get("reason", "supplement"))
                if ps.__class__ is not str or reason is None:
                    return None
                ps = _parse_minute(ps)
                if pe is not None:
                    if pe.__class__ is not str:
                        return None
                    pe = _parse_minute(pe)
                    if pe < ps:
                        return None
                elif i != last:
                    return None
                if ps < prev_end:
                    return None
                prev_end = pe if pe is not None else ps
                out.append(_pause(ps, pe, reason))
            pauses = tuple(out)
        closed_at = data.get("closed_at")
        if closed_at is not None:
            if closed_at.__class__ is not str:
                return None
            closed_at = _parse_minute(closed_at)
            if closed_at < prev_end or (pauses and pauses[-1].end is None):
                return None
    except (TypeError, ValueError):
        return None
    return _clock(start, lm, same_day, cutoff, policy, pauses, closed_at, calendar_days)


# --------------------------------------------------------------------------- timeliness


def classify_open(allotted: int, spent: int, policy: SlaPolicy = DEFAULT_SLA_POLICY) -> Timeliness:
    """Class of an open item from its allotted and spent working minutes.

    Returns
    -------
    Timeliness
        ``OVERDUE`` if ``spent > allotted``; else ``NEARLY_DUE`` if
        ``spent >= allotted * percent / 100``, or if ``allotted > minutes_left``
        and ``allotted - spent < minutes_left``; else ``NOT_DUE``.
    """
    if spent > allotted:
        return Timeliness.OVERDUE
    left = policy.nearly_due_minutes_left
    if spent * 100 >= policy.nearly_due_percent * allotted or (allotted > left and allotted - spent < left):
        return Timeliness.NEARLY_DUE
    return Timeliness.NOT_DUE


def classify_closed(allotted: int, spent: int) -> Timeliness:
    """Class of a closed step: ``EARLY`` if spent < allotted, ``ON_TIME`` if equal, else ``LATE``."""
    if spent < allotted:
        return Timeliness.EARLY
    if spent == allotted:
        return Timeliness.ON_TIME
    return Timeliness.LATE


def classify_closed_at(due: datetime, closed_at: datetime, cal: WorkCalendar | None = None) -> Timeliness:
    """Class of a closed dossier: ``EARLY`` if closed before the minute of ``due``, ``ON_TIME`` within that
    minute, ``LATE`` after it.

    With ``cal``, a dossier closed after the minute of ``due`` but before the next working minute (the
    evening of the due day, a weekend after a Friday due) is ``ON_TIME``: no working minute was spent over
    the limit, as the national statistics count it (spent = allotted working minutes, DOMAIN.md §1.5).
    """
    c, d = _minute(closed_at), _minute(due)
    if c < d:
        return Timeliness.EARLY
    if c == d or (cal is not None and cal.elapsed(d, c) == 0):
        return Timeliness.ON_TIME
    return Timeliness.LATE


def timeliness_open(clock: Clock, cal: WorkCalendar, now: datetime,
                    policy: SlaPolicy = DEFAULT_SLA_POLICY, scope: Scope | str = Scope.STEP) -> Timeliness:
    """Class of an open step or dossier at ``now``: not_due, nearly_due or overdue.

    A step is overdue when it has counted more working minutes than allotted; a
    dossier when ``now`` is past the minute of its due instant (so a dossier due
    at 17:00 is overdue at 17:01 the same evening). Nearly due follows
    :func:`classify_open` on the spent and allotted minutes for both.

    Raises
    ------
    ClockError
        When the clock is closed.
    """
    if clock.closed:
        raise ClockError("the clock is closed: use timeliness_closed()")
    allotted, spent = clock.limit(cal, now), clock.spent(cal, now)
    if Scope(scope) == Scope.DOSSIER:
        due = clock.due(cal, now)
        if due is not None and _minute(now) > due:
            return Timeliness.OVERDUE
        spent = min(spent, allotted)
    return classify_open(allotted, spent, policy)


def timeliness_closed(clock: Clock, cal: WorkCalendar, scope: Scope | str = Scope.STEP) -> Timeliness:
    """Class of a closed step (by working minutes) or dossier (by due instant; :func:`classify_closed_at`).

    Raises
    ------
    ClockError
        When the clock is open.
    """
    if not clock.closed:
        raise ClockError("the clock is open: use timeliness_open()")
    if (scope if scope.__class__ is Scope else Scope(scope)) is Scope.DOSSIER:
        return classify_closed_at(clock.due(cal), clock.closed_at, cal)  # type: ignore[arg-type]
    return classify_closed(clock.limit(cal), clock.spent(cal))


def timeliness(clock: Clock, cal: WorkCalendar, now: datetime | None = None,
               policy: SlaPolicy = DEFAULT_SLA_POLICY, scope: Scope | str = Scope.STEP) -> Timeliness:
    """Class of a step or dossier: :func:`timeliness_closed` if closed, else
    :func:`timeliness_open` at ``now`` (required then)."""
    if clock.closed:
        return timeliness_closed(clock, cal, scope)
    if now is None:
        raise ClockError("the clock is open: pass now")
    return timeliness_open(clock, cal, now, policy, scope)


# --------------------------------------------------------------------------- words


def _decimal_vi(tenths: int) -> str:
    whole, frac = divmod(tenths, 10)
    return f"{whole},{frac}" if frac else f"{whole}"


def describe_remaining(minutes: int) -> str:
    """Remaining working time as staff say it in Vietnamese.

    Rule: at least one working day (480 min) is written in working days, else at
    least 60 min in hours, else in minutes; days and hours keep one decimal,
    truncated toward zero, with a decimal comma. Remaining time reads
    "còn ... làm việc"; overdue time reads "quá hạn ..." (days still say "ngày làm
    việc", to tell them from calendar days); 0 reads "đến hạn".

    Examples
    --------
    >>> describe_remaining(720), describe_remaining(180), describe_remaining(45)
    ('còn 1,5 ngày làm việc', 'còn 3 giờ làm việc', 'còn 45 phút làm việc')
    >>> describe_remaining(-120), describe_remaining(-480), describe_remaining(0)
    ('quá hạn 2 giờ', 'quá hạn 1 ngày làm việc', 'đến hạn')

    Raises
    ------
    CalendarError
        When ``minutes`` is not an integer.
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise CalendarError(f"minutes must be an integer, not {minutes!r}")
    if minutes == 0:
        return "đến hạn"
    m = abs(minutes)
    if m >= MINUTES_PER_DAY:
        amount, unit = _decimal_vi(m * 10 // MINUTES_PER_DAY), "ngày làm việc"
        overdue_unit = unit
    elif m >= 60:
        amount, unit, overdue_unit = _decimal_vi(m * 10 // 60), "giờ làm việc", "giờ"
    else:
        amount, unit, overdue_unit = str(m), "phút làm việc", "phút"
    if minutes > 0:
        return f"còn {amount} {unit}"
    return f"quá hạn {amount} {overdue_unit}"
