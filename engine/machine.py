"""The dossier state machine: (definition, state, action, now) -> (new state, events, effects).

Pure: no I/O, no clock reads. The caller (:mod:`engine.services`) loads a
:class:`DossierState` from the database, applies one action with the instant
and the working-time calendar it chose, and writes back the new state, the
events and the machine work (effects) in one transaction.

Dossier statuses
----------------
The national status codes (:class:`Status`, DOMAIN.md §1.5):

1 Mới đăng ký
    Registered (online, by post) and waiting for the one-stop unit to check it;
    also a dossier supplemented at the counter waiting to be checked again.
    The legal clock has not started.
2 Được tiếp nhận
    Accepted: the receipt (form 01) is issued and the appointment set; no one
    has started on it yet.
3 Không được tiếp nhận
    Refused at reception (form 03). Closed once the refusal is handed back.
4 Đang xử lý
    Being handled by the units of the internal process.
5 Yêu cầu bổ sung giấy tờ
    Waiting for the applicant to supplement (form 02): a citizen step is open
    and, once the dossier was accepted, the clock is paused.
6 Yêu cầu thực hiện nghĩa vụ tài chính
    Waiting for the applicant to fulfil the financial obligations (fees, land
    levy, taxes) another agency assessed: a citizen step with
    ``pause_reason: financial`` is open; the clock is paused.
7 Công dân yêu cầu rút hồ sơ
    Withdrawn by the applicant. Closed.
8 Dừng xử lý
    Processing stopped by the one-stop unit. Closed.
9 Đã xử lý xong
    Processing done: the result (or the reasoned refusal) waits at the return step.
10 Đã trả kết quả
    The result was returned. Closed.

Actions
-------
:func:`register` opens the start step (reception). :class:`Complete` closes an
open work item with one of its step's outcomes and opens the route's targets:

* completing the start step with an outcome that leads on accepts the dossier
  (received instant, appointment), one that leads to a citizen step asks for
  supplementation at the counter, one that leads to a refusal return step
  refuses it;
* a route to a citizen step during processing asks for supplementation: the
  clock pauses; completing the citizen step (supplement received) resumes it
  per the procedure's ``supplement_clock`` (pause: every open due instant moves
  by the paused working time; restart: the appointment is the full limit from
  now; counts: nothing moves);
* a route to a citizen step with ``pause_reason: financial`` asks the applicant
  to fulfil the financial obligations (status 6): the clock always pauses, and
  completing the step (obligations fulfilled) always resumes it, whatever the
  ``supplement_clock``; no form 02 is produced and no supplement is counted;
* a route with several targets opens one work item per target (a parallel
  split); a ``join`` step opens when every branch of its split has reached it;
* completing a return step closes the dossier (10, or 3 for a refusal at
  reception).

:class:`Claim` takes an open item; :class:`Withdraw` and :class:`Stop` close the
dossier and cancel its open items. Anything else raises
:class:`engine.errors.IllegalAction`.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Iterable

from engine.definition import Definition, Step
from engine import sla
from engine.errors import IllegalAction

# --------------------------------------------------------------------------- statuses


class Status(IntEnum):
    """Dossier status: the national status codes 1-10."""

    NEW = 1
    RECEIVED = 2
    NOT_RECEIVED = 3
    PROCESSING = 4
    SUPPLEMENT = 5
    FINANCIAL = 6
    WITHDRAWN = 7
    STOPPED = 8
    DONE = 9
    RETURNED = 10

    @property
    def label(self) -> str:
        """The Vietnamese label, as the national portal shows it."""
        return STATUS_LABELS[self]

    @property
    def closed(self) -> bool:
        return self in CLOSED_STATUSES


STATUS_LABELS: dict[Status, str] = {
    Status.NEW: "Mới đăng ký",
    Status.RECEIVED: "Được tiếp nhận",
    Status.NOT_RECEIVED: "Không được tiếp nhận",
    Status.PROCESSING: "Đang xử lý",
    Status.SUPPLEMENT: "Yêu cầu bổ sung giấy tờ",
    Status.FINANCIAL: "Yêu cầu thực hiện nghĩa vụ tài chính",
    Status.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    Status.STOPPED: "Dừng xử lý",
    Status.DONE: "Đã xử lý xong",
    Status.RETURNED: "Đã trả kết quả",
}
CLOSED_STATUSES = frozenset({Status.WITHDRAWN, Status.STOPPED, Status.RETURNED})
#: Statuses in which the applicant may withdraw or the one-stop unit may stop processing.
INTERRUPTIBLE = frozenset({Status.NEW, Status.RECEIVED, Status.PROCESSING, Status.SUPPLEMENT, Status.FINANCIAL})

CHANNELS = ("counter", "online", "post")
CHANNEL_LABELS = {"counter": "Trực tiếp", "online": "Trực tuyến", "post": "Bưu chính công ích"}

OPEN, CLAIMED, DONE, CANCELLED = "open", "claimed", "done", "cancelled"
ITEM_STATE_LABELS = {OPEN: "Chờ xử lý", CLAIMED: "Đang xử lý", DONE: "Đã xong", CANCELLED: "Đã hủy"}

#: Labels of event actions (the process-control sheet).
ACTION_LABELS = {
    "register": "Đăng ký hồ sơ",
    "accept": "Tiếp nhận hồ sơ",
    "refuse": "Từ chối tiếp nhận",
    "request_supplement": "Yêu cầu bổ sung hồ sơ",
    "supplemented": "Nhận hồ sơ bổ sung",
    "request_financial": "Yêu cầu thực hiện nghĩa vụ tài chính",
    "financial_done": "Đã thực hiện nghĩa vụ tài chính",
    "claim": "Nhận xử lý",
    "assign": "Phân công xử lý",
    "release": "Trả lại việc cho đơn vị",
    "transfer": "Chuyển việc sang đơn vị khác",
    "complete": "Hoàn thành bước",
    "sign": "Ký duyệt",
    "return_result": "Trả kết quả",
    "withdraw": "Rút hồ sơ",
    "stop": "Dừng xử lý",
    "clock_pause": "Tạm dừng tính thời gian",
    "clock_resume": "Tiếp tục tính thời gian",
    "clock_restart": "Tính lại thời gian từ đầu",
    "join_wait": "Chờ các nhánh song song",
    "timeliness": "Cảnh báo thời hạn",
    "apology": "Lập phiếu xin lỗi và hẹn lại",
    "apology_signed": "Ký phiếu xin lỗi, hẹn lại ngày trả kết quả",
}


# --------------------------------------------------------------------------- state


@dataclass
class ItemState:
    """One work item as the machine sees it.

    ``key`` is the database id, or a negative number for an item this
    transition opened (the caller maps it to the new id).
    """

    key: int
    step: str
    state: str
    opened_at: dt.datetime
    due_at: dt.datetime | None = None
    allotted: int | None = None
    assignee: int | None = None
    claimed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    outcome: str | None = None
    spent: int | None = None
    paused: int = 0
    timeliness: str | None = None
    branch: str = ""
    attempt: int = 1
    clock: dict[str, Any] | None = None  # engine.sla.Clock.as_dict()

    @property
    def is_open(self) -> bool:
        return self.state in (OPEN, CLAIMED)


@dataclass
class DossierState:
    """The part of a dossier the machine reads and changes."""

    status: Status
    channel: str
    registered_at: dt.datetime
    received_at: dt.datetime | None = None
    clock_started_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    original_due_at: dt.datetime | None = None
    paused_at: dt.datetime | None = None
    paused_minutes: int = 0
    clock_policy: str = "pause"
    clock_restarts: int = 0
    supplements: int = 0
    finished_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    result: str | None = None
    timeliness: str | None = None
    route_counts: dict[str, int] = field(default_factory=dict)
    joins: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: dict[str, Any] | None = None  # engine.sla.Clock.as_dict()
    items: list[ItemState] = field(default_factory=list)

    def item(self, key: int) -> ItemState | None:
        for it in self.items:
            if it.key == key:
                return it
        return None

    def open_items(self) -> list[ItemState]:
        return [it for it in self.items if it.is_open]

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Claim:
    """A user takes an open work item."""

    item: int
    user: int


@dataclass(frozen=True)
class Assign:
    """An open or claimed work item is given to a user, or (``user`` None) released back to its unit."""

    item: int
    user: int | None
    comment: str = ""  # why, when not the holder's or the head's own choice (a leaver's work, say)


@dataclass(frozen=True)
class Complete:
    """An open work item is completed with one of its step's outcomes."""

    item: int
    outcome: str | None = None
    user: int | None = None
    comment: str = ""


@dataclass(frozen=True)
class Withdraw:
    """The applicant withdraws the dossier."""

    comment: str = ""


@dataclass(frozen=True)
class Stop:
    """The one-stop unit stops processing the dossier (with a reason)."""

    comment: str = ""


Action = Claim | Assign | Complete | Withdraw | Stop


@dataclass
class MachineEvent:
    """One event of a transition (the caller adds the actor and the instant)."""

    action: str
    item: int | None = None
    step: str | None = None
    from_status: int | None = None
    to_status: int | None = None
    outcome: str | None = None
    comment: str = ""
    to_steps: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Effect:
    """Machine work caused by a transition, to go to the outbox.

    ``kind`` is one of :data:`EFFECT_KINDS`; ``item`` a work-item key (may be
    negative: a new item) or None.
    """

    kind: str
    payload: dict[str, Any]
    item: int | None = None


EFFECT_KINDS = (
    "issue_receipt",       # form 01, with the appointment
    "notify_unit",         # a work item opened at a unit
    "notify_user",         # a work item was assigned to a named officer
    "notify_citizen",      # something the applicant must know (supplement, refusal, result ready...)
    "produce_form",        # a form (BM02, BM03, BM04, the stop notice...)
    "publish_result",      # the result was returned: publish / sync to the portal
    "run_automated_step",  # an automated step opened: the worker runs it and completes the item
    "notify_unit_head",    # a timer fired (nearly due, overdue, apology drafted)
)


@dataclass
class Transition:
    """What one action did."""

    state: DossierState
    events: list[MachineEvent]
    effects: list[Effect]
    opened: list[int] = field(default_factory=list)  # keys of the items opened


# --------------------------------------------------------------------------- clocks
#
# Deadlines are engine.sla's clocks over the calendar's working time; the
# helpers below only decide which clock a dossier or a step gets.


def dossier_clock(defn: Definition, start: dt.datetime) -> sla.Clock | None:
    """The SLA clock of a dossier whose complete dossier was received at ``start``.

    Same-day procedures use the same-day rule with the procedure's cut-off;
    limits in calendar days the Civil Code's count of days; others the legal
    limit in working minutes. None when the definition has no
    limit.
    """
    limit = defn.time_limit
    if limit.unit == "same_day":
        return sla.Clock.for_dossier(start, same_day=True, cutoff=limit.cutoff, policy=defn.supplement_clock)
    if limit.unit == "calendar_days":
        if limit.value is None:
            return None
        return sla.Clock.for_dossier(start, policy=defn.supplement_clock, calendar_days=int(limit.value))
    if limit.minutes is None:
        return None
    return sla.Clock.for_dossier(start, limit.minutes, policy=defn.supplement_clock)


def step_clock(step: Step, opened: dt.datetime) -> sla.Clock | None:
    """The SLA clock of a work item of ``step`` opened at ``opened`` (None: citizen step or no duration)."""
    if step.paused or not step.duration:
        return None
    return sla.Clock.for_step(opened, step.duration)


def load_clock(data: dict[str, Any] | None) -> sla.Clock | None:
    """A clock stored as a dict (None stays None)."""
    return sla.Clock.from_dict(data) if data else None


# --------------------------------------------------------------------------- machine

#: id(definition) -> (definition, {step id: first step with it}, steps_by_id()). Definitions
#: are frozen, so their tables never change; the entry holds the definition, so
#: its id cannot be reused while cached.
_TABLES: dict[int, tuple[Definition, dict[str, Step], dict[str, Step]]] = {}


def _tables(defn: Definition) -> tuple[Definition, dict[str, Step], dict[str, Step]]:
    entry = _TABLES.get(id(defn))
    if entry is None or entry[0] is not defn:
        first: dict[str, Step] = {}
        for s in defn.steps:
            first.setdefault(s.id, s)
        entry = (defn, first, defn.steps_by_id())
        if len(_TABLES) >= 64:
            _TABLES.clear()
        _TABLES[id(defn)] = entry
    return entry


def _step(defn: Definition, step_id: str) -> Step:
    """``defn.step(step_id)`` (KeyError when unknown), by table for plain definitions."""
    if defn.__class__ is not Definition:
        return defn.step(step_id)
    entry = _TABLES.get(id(defn))
    if entry is None or entry[0] is not defn:
        entry = _tables(defn)
    return entry[1][step_id]


def _steps_by_id(defn: Definition) -> dict[str, Step]:
    """``defn.steps_by_id()`` (do not change the dict: it is shared)."""
    if defn.__class__ is not Definition:
        return defn.steps_by_id()
    entry = _TABLES.get(id(defn))
    if entry is None or entry[0] is not defn:
        entry = _tables(defn)
    return entry[2]


#: A definition's steps by id, built once per definition (read only: the dict is shared).
steps_by_id = _steps_by_id


def _illegal(action: str, state: DossierState, message: str, allowed: Iterable[str]) -> IllegalAction:
    allowed = list(allowed)
    hint = f"; allowed: {', '.join(allowed)}" if allowed else "; nothing is allowed any more"
    return IllegalAction(f"{action}: {message} (dossier status {int(state.status)} "
                         f"'{state.status.label}'){hint}")


def allowed_actions(defn: Definition, state: DossierState) -> list[str]:
    """Human-readable actions allowed in ``state`` (for error messages and UIs)."""
    if state.closed:
        return []
    out: list[str] = []
    steps = defn.steps_by_id()
    for it in state.open_items():
        step = steps.get(it.step)
        if step is None:
            continue
        if step.kind == "citizen":  # the one-stop unit records what the applicant did
            out.append("financial_done" if step.financial else "supplement_received")
            continue
        outcomes = [r.outcome for r in step.routes] or ["done"]
        if it.state == OPEN and step.kind != "automated":
            out.append(f"claim item {it.key} ({it.step})")
        out.append(f"complete item {it.key} ({it.step}) with {'|'.join(outcomes)}")
    if state.status in INTERRUPTIBLE:
        out += ["withdraw", "stop"]
    return out


def register(defn: Definition, channel: str, now: dt.datetime, calendar: Any) -> Transition:
    """A new dossier: status 1 with the start step open at the one-stop unit.

    Parameters
    ----------
    defn : Definition
    channel : str
        counter, online or post.
    now : datetime
        The registration instant (aware).
    calendar : WorkCalendar
        For the start step's due instant.

    Raises
    ------
    IllegalAction
        When the channel is unknown or the definition has no steps.
    """
    if channel not in CHANNELS:
        raise IllegalAction(f"register: unknown channel '{channel}'; allowed: {', '.join(CHANNELS)}")
    if not defn.steps:
        raise IllegalAction(f"register: procedure {defn.key} has no steps")
    state = DossierState(status=Status.NEW, channel=channel, registered_at=now,
                         clock_policy=defn.supplement_clock)
    tr = Transition(state, [], [])
    _open(defn, tr, defn.start, now, branch="", calendar=calendar)
    tr.events.insert(0, MachineEvent("register", None, None, None, int(Status.NEW),
                                     to_steps=[defn.start.id], data={"channel": channel}))
    return tr


def apply(defn: Definition, state: DossierState, action: Action, now: dt.datetime, calendar: Any) -> Transition:
    """Apply one action to a dossier.

    Parameters
    ----------
    defn : Definition
        The definition version the dossier pinned at receipt.
    state : DossierState
        The current state (not modified).
    action : Claim | Assign | Complete | Withdraw | Stop
    now : datetime
        The instant of the action (aware).
    calendar : WorkCalendar
        The working-time calendar for deadlines.

    Returns
    -------
    Transition
        The new state, its events and effects.

    Raises
    ------
    IllegalAction
        When the action is not allowed in this state; the message names the
        action, the state and what is allowed.
    """
    state = _copy_state(state)
    tr = Transition(state, [], [])
    if isinstance(action, Complete):
        _complete(defn, tr, action, now, calendar)
    elif isinstance(action, Claim):
        _claim(defn, tr, action, now)
    elif isinstance(action, Assign):
        _assign(defn, tr, action, now)
    elif isinstance(action, Withdraw):
        _interrupt(defn, tr, "withdraw", Status.WITHDRAWN, action.comment, now, calendar)
    elif isinstance(action, Stop):
        _interrupt(defn, tr, "stop", Status.STOPPED, action.comment, now, calendar)
    else:  # pragma: no cover - typing guards this
        raise TypeError(f"unknown action {action!r}")
    return tr


def _copy_state(state: DossierState) -> DossierState:
    """A copy the machine may change without touching ``state``.

    Structural, not deep: the machine replaces clock dicts and datetimes (never
    changes them in place), so only what it mutates is copied — the dossier,
    its items, the route counters and the join records.
    """
    new = _shallow(state)
    new.route_counts = dict(state.route_counts)
    new.joins = {k: dict(v) for k, v in state.joins.items()} if state.joins else {}
    new.items = [_shallow(it) for it in state.items]
    return new


_new = object.__new__


def _shallow(obj: Any) -> Any:
    """``copy.copy(obj)``, without its generic ``__reduce_ex__`` path for the two state classes."""
    cls = obj.__class__
    if cls is not ItemState and cls is not DossierState:
        return copy.copy(obj)
    new = _new(cls)
    new.__dict__ = obj.__dict__.copy()
    return new


def _item_for(defn: Definition, tr: Transition, key: int, action: str) -> tuple[ItemState, Step]:
    state = tr.state
    if state.closed:
        raise _illegal(action, state, "the dossier is closed", [])
    for it in state.items:
        if it.key == key:
            break
    else:
        raise _illegal(action, state, f"work item {key} does not belong to this dossier",
                       allowed_actions(defn, state))
    if not it.is_open:
        raise _illegal(action, state, f"work item {key} (step '{it.step}') is {it.state}",
                       allowed_actions(defn, state))
    try:
        step = _step(defn, it.step)
    except KeyError:
        raise _illegal(action, state, f"step '{it.step}' is not in version {defn.version} of {defn.key}",
                       []) from None
    return it, step


def _claim(defn: Definition, tr: Transition, action: Claim, now: dt.datetime) -> None:
    state = tr.state
    it, step = _item_for(defn, tr, action.item, "claim")
    if step.kind in ("citizen", "automated"):
        raise _illegal("claim", state, f"work item {it.key} is a {step.kind} step; staff do not claim it",
                       allowed_actions(defn, state))
    if it.state == CLAIMED:
        who = "you" if it.assignee == action.user else f"user {it.assignee}"
        raise _illegal("claim", state, f"work item {it.key} (step '{it.step}') is already claimed by {who}",
                       allowed_actions(defn, state))
    before = state.status
    it.state, it.assignee, it.claimed_at = CLAIMED, action.user, now
    if state.status == Status.RECEIVED and it.step != defn.start.id:
        state.status = Status.PROCESSING
    tr.events.append(MachineEvent("claim", it.key, it.step, int(before), int(state.status)))


def _assign(defn: Definition, tr: Transition, action: Assign, now: dt.datetime) -> None:
    """Give an item to ``action.user`` (claimed in their name), or release it (open to its unit again)."""
    state = tr.state
    name = "assign" if action.user is not None else "release"
    it, step = _item_for(defn, tr, action.item, name)
    if step.kind in ("citizen", "automated"):
        raise _illegal(name, state, f"work item {it.key} is a {step.kind} step; it is not staff work",
                       allowed_actions(defn, state))
    before, holder = state.status, it.assignee
    if action.user is None:
        if it.state != CLAIMED:
            raise _illegal(name, state, f"work item {it.key} (step '{it.step}') is not claimed by anyone",
                           allowed_actions(defn, state))
        it.state, it.assignee, it.claimed_at = OPEN, None, None
        tr.effects.append(Effect("notify_unit", {"step": it.step, "unit": step.unit, "role": step.role,
                                                 "due_at": _iso(it.due_at), "reason": "released"}, it.key))
    else:
        if it.state == CLAIMED and holder == action.user:
            raise _illegal(name, state, f"work item {it.key} (step '{it.step}') is already with user {holder}",
                           allowed_actions(defn, state))
        it.state, it.assignee, it.claimed_at = CLAIMED, action.user, now
        if state.status == Status.RECEIVED and it.step != defn.start.id:
            state.status = Status.PROCESSING
        tr.effects.append(Effect("notify_user", {"step": it.step, "user_id": action.user, "due_at": _iso(it.due_at)},
                                 it.key))
        if holder is not None:  # taken from someone: they are told too
            tr.effects.append(Effect("notify_user", {"step": it.step, "user_id": holder, "reason": "reassigned"},
                                     it.key))
    tr.events.append(MachineEvent(name, it.key, it.step, int(before), int(state.status), comment=action.comment,
                                  data={"from": holder, "to": action.user}))


def _outcomes(step: Step) -> list[str]:
    return [r.outcome for r in step.routes] or ["done"]


def _complete(defn: Definition, tr: Transition, action: Complete, now: dt.datetime, calendar: Any) -> None:
    state = tr.state
    it, step = _item_for(defn, tr, action.item, "complete")
    outcome = action.outcome or ("done" if step.terminal else None)
    # outcome in _outcomes(step), without building the list: a route has it, or "done" without routes
    route = step.route(outcome) if step.routes else None
    if route is None if step.routes else outcome != "done":
        allowed = _outcomes(step)
        said = "needs an outcome" if action.outcome is None else f"has no outcome '{action.outcome}'"
        raise _illegal("complete", state, f"step '{step.id}' (work item {it.key}) {said}; "
                       f"its outcomes are {', '.join(allowed)}", allowed_actions(defn, state))
    if route is not None and route.max is not None:
        counter = f"{step.id}.{outcome}"
        taken = state.route_counts.get(counter, 0)
        if taken >= route.max:
            others = [o for o in _outcomes(step) if o != outcome]
            raise _illegal("complete", state,
                           f"route '{outcome}' of step '{step.id}' may be taken at most {route.max} "
                           f"time(s) and was taken {taken}", [f"complete item {it.key} with {o}" for o in others])
        state.route_counts[counter] = taken + 1
    if it.state == CLAIMED and action.user is not None and it.assignee not in (None, action.user):
        raise _illegal("complete", state, f"work item {it.key} is claimed by user {it.assignee}",
                       allowed_actions(defn, state))

    before = state.status
    was_received = state.received_at is not None
    _close_item(it, step, DONE, outcome, now, calendar, action.user)

    # The citizen acted: the clock resumes (or restarts) before anything opens.
    if step.paused:
        _resume_clock(defn, tr, now, calendar, financial=step.financial)

    targets = [_step(defn, t) for t in route.targets] if route else []
    split = len(targets) > 1
    if split:
        state.joins[str(it.key)] = {"expected": len(targets), "arrived": [], "join": None}

    # Acceptance: the start step leads on to the process (not to a citizen or refusal step).
    accepting = (step.id == defn.start.id and not was_received and targets
                 and not any(t.paused or t.kind == "return" for t in targets))
    if accepting:
        state.received_at = state.clock_started_at = now
        clock = dossier_clock(defn, now)
        state.clock = clock.as_dict() if clock else None
        state.due_at = state.original_due_at = clock.due(calendar) if clock else None

    opened_steps: list[str] = []
    for i, target in enumerate(targets):
        branch = _join_branch(it.branch, f"{it.key}:{i}") if split else it.branch
        if target.join and branch:
            opened = _arrive_at_join(defn, tr, it, target, branch, now, calendar)
        else:
            opened = _open(defn, tr, target, now, branch, calendar, action.comment)
        if opened is not None:
            opened_steps.append(target.id)

    # Status, the receipt, the refusal, the result.
    name = _action_name(defn, step, targets, accepting, was_received)
    if step.kind == "return" and step.terminal:
        state.result = step.ends or "result"
        state.closed_at = now
        if not was_received:
            state.status = Status.NOT_RECEIVED
        else:
            state.status = Status.RETURNED
            if state.finished_at is None:
                _finish(state, now, calendar)
            if state.result == "result":
                tr.effects.append(Effect("publish_result", {"step": step.id}, it.key))
            tr.effects.append(Effect("notify_citizen", {"reason": "returned", "result": state.result}, it.key))
        for other in state.open_items():  # nothing should be left; be safe
            _close_item(other, _step(defn, other.step), CANCELLED, None, now, calendar, None)
    else:
        state.status = _derive_status(defn, state, before, accepting)
        if state.status == Status.DONE and state.finished_at is None:
            _finish(state, now, calendar)
    if accepting:
        tr.effects.append(Effect("issue_receipt", {"form": "BM01", "due_at": _iso(state.due_at)}, it.key))
    if name == "refuse":
        tr.effects.append(Effect("produce_form", {"form": "BM03", "step": step.id, "reason": action.comment},
                                 it.key))
        tr.effects.append(Effect("notify_citizen", {"reason": "refused"}, it.key))
    for form in step.produces:
        if _is_form(form) and form not in ("BM01", "BM02", "BM03") and not step.paused:
            tr.effects.append(Effect("produce_form", {"form": form, "step": step.id}, it.key))
    tr.events.insert(len(tr.events) - _trailing_open_events(tr), MachineEvent(
        name, it.key, step.id, int(before), int(state.status), outcome, action.comment,
        opened_steps, {"spent": it.spent, "allotted": it.allotted, "timeliness": it.timeliness}))


def _trailing_open_events(tr: Transition) -> int:
    # clock/join events produced while opening targets stay after the main event
    n = 0
    for ev in reversed(tr.events):
        if ev.action in ("clock_pause", "join_wait"):
            n += 1
        else:
            break
    return n


def _action_name(defn: Definition, step: Step, targets: list[Step], accepting: bool, was_received: bool) -> str:
    if accepting:
        return "accept"
    if step.paused:
        return "financial_done" if step.financial else "supplemented"
    if any(t.paused for t in targets):
        return "request_supplement" if any(t.paused and not t.financial for t in targets) else "request_financial"
    if step.id == defn.start.id and not was_received and any(t.kind == "return" for t in targets):
        return "refuse"
    if step.kind == "sign":
        return "sign"
    if step.kind == "return" and step.terminal:
        return "return_result"
    return "complete"


def _derive_status(defn: Definition, state: DossierState, before: Status, accepting: bool) -> Status:
    # One pass over the open items whose step is known: any citizen step, any
    # return step, every one a return step.
    steps = _steps_by_id(defn)
    any_return, all_return, n, financial = False, True, 0, False
    for it in state.items:
        if it.state != OPEN and it.state != CLAIMED:
            continue
        s = steps.get(it.step)
        if s is None:
            continue
        if s.paused:
            if not s.financial:
                return Status.SUPPLEMENT
            financial = True  # a supplementation open beside it still wins (the file must be complete first)
            continue
        n += 1
        if s.kind == "return":
            any_return = True
        else:
            all_return = False
    if financial:
        return Status.FINANCIAL
    if state.received_at is None:
        if any_return:
            return Status.NOT_RECEIVED
        return Status.NEW
    if n and all_return:
        return Status.DONE
    if accepting:
        return Status.RECEIVED
    return Status.PROCESSING


def _finish(state: DossierState, now: dt.datetime, calendar: Any) -> None:
    state.finished_at = now
    clock = load_clock(state.clock)
    if clock is not None and not clock.closed:
        clock = clock.close(now)
        state.clock = clock.as_dict()
        state.timeliness = str(sla.timeliness_closed(clock, calendar, sla.Scope.DOSSIER))


def _join_branch(parent: str, segment: str) -> str:
    return f"{parent}/{segment}" if parent else segment


def _arrive_at_join(defn: Definition, tr: Transition, it: ItemState, target: Step, branch: str,
                    now: dt.datetime, calendar: Any) -> int | None:
    state = tr.state
    parent, _, last = branch.rpartition("/")
    split_key, _, index = last.partition(":")
    record = state.joins.get(split_key)
    if record is None:  # not from a split we know: the join has nothing to wait for
        return _open(defn, tr, target, now, branch, calendar)
    arrived = set(record.get("arrived", []))
    arrived.add(int(index))
    record["arrived"] = sorted(arrived)
    record["join"] = target.id
    if len(arrived) < int(record["expected"]):
        tr.events.append(MachineEvent("join_wait", it.key, target.id,
                                      data={"split": split_key, "arrived": record["arrived"],
                                            "expected": record["expected"]}))
        return None
    del state.joins[split_key]
    return _open(defn, tr, target, now, parent, calendar)


def _open(defn: Definition, tr: Transition, step: Step, now: dt.datetime, branch: str,
          calendar: Any, comment: str = "") -> int:
    state = tr.state
    low, attempt, step_id = 0, 1, step.id  # the lowest key (or 0); the attempts of this step so far
    for i in state.items:
        if i.key < low:
            low = i.key
        if i.step == step_id:
            attempt += 1
    key = low - 1
    paused = step.paused
    if paused:
        _pause_clock(tr, step, now)
    clock = step_clock(step, now)
    due = None
    if clock is not None:
        if state.paused_at is not None:  # opened while the dossier waits for the citizen
            clock = clock.pause(now)
        due = clock.due(calendar, now)
    it = ItemState(key=key, step=step_id, state=OPEN, opened_at=now, due_at=due,
                   allotted=None if paused else step.duration, branch=branch, attempt=attempt,
                   clock=clock.as_dict() if clock else None)
    state.items.append(it)
    tr.opened.append(key)
    payload = {"step": step_id, "unit": step.unit, "role": step.role, "due_at": _iso(due)}
    if paused and step.financial:
        tr.effects.append(Effect("notify_citizen", {"reason": "financial", "step": step.id, "request": comment},
                                 key))
    elif paused:
        state.supplements += 1
        tr.effects.append(Effect("produce_form", {"form": "BM02", "step": step.id, "request": comment}, key))
        tr.effects.append(Effect("notify_citizen", {"reason": "supplement", "step": step.id, "request": comment},
                                 key))
    elif step.kind == "automated":
        tr.effects.append(Effect("run_automated_step", payload, key))
    else:
        tr.effects.append(Effect("notify_unit", payload, key))
        if step.kind == "return" and step.ends != "refusal" and state.received_at is not None:
            tr.effects.append(Effect("notify_citizen", {"reason": "result_ready", "step": step.id}, key))
    return key


def _close_item(it: ItemState, step: Step, new_state: str, outcome: str | None, now: dt.datetime,
                calendar: Any, user: int | None) -> None:
    it.state, it.outcome, it.closed_at = new_state, outcome, now
    if user is not None and it.assignee is None:
        it.assignee = user
    if it.claimed_at is None and new_state == DONE:
        it.claimed_at = now
    clock = sla.Clock.from_dict(it.clock) if it.clock else None  # load_clock(it.clock)
    if clock is None:
        # citizen steps (and untimed ones): the time taken, for the control sheet only
        it.spent = max(0, calendar.elapsed(it.opened_at, now)) if calendar is not None else None
        return
    clock = clock.close(now)
    it.clock = clock.as_dict()
    it.spent = spent = clock.spent(calendar)
    it.paused = clock.paused_minutes(calendar)
    # done: early / on_time / late; cancelled: no class (an open class would mislead reports).
    # This is sla.timeliness_closed(clock, calendar, Scope.STEP), with the minutes spent counted once.
    it.timeliness = str(sla.classify_closed(clock.limit(calendar), spent)) if new_state == DONE else None


def _pause_clock(tr: Transition, step: Step, now: dt.datetime) -> None:
    """A citizen step opens: the dossier clock (once received) and every open step clock stop.

    A financial-obligation step always stops them; a supplementation step does
    unless the procedure's policy is ``counts``.
    """
    state = tr.state
    clock = load_clock(state.clock)
    if clock is None or clock.paused or clock.closed:
        return
    financial = step.financial
    clock = clock.pause(now, sla.PauseReason.FINANCIAL if financial else sla.PauseReason.SUPPLEMENT)
    state.clock = clock.as_dict()
    if state.clock_policy == "counts" and not financial:  # the citizen's time counts: nothing stops
        return
    state.paused_at = now
    for other in state.open_items():
        c = load_clock(other.clock)
        if c is not None and not c.paused:
            other.clock = c.pause(now).as_dict()
    tr.events.append(MachineEvent("clock_pause", None, step.id, data={
        "policy": state.clock_policy, "reason": "financial" if financial else "supplement"}))


def _resume_clock(defn: Definition, tr: Transition, now: dt.datetime, calendar: Any, *,
                  financial: bool = False) -> None:
    """The citizen supplemented (or fulfilled the financial obligations): the clocks run again.

    Every open due instant moves by the pause; after a supplementation under the
    ``restart`` policy the dossier's limit runs again in full (the clock knows
    its pause's reason; a financial pause never restarts it).
    """
    state = tr.state
    clock = load_clock(state.clock)
    if clock is None or not clock.paused:
        return
    clock = clock.resume(now)
    state.clock = clock.as_dict()
    stopped = state.paused_at is not None
    state.paused_at = None
    state.paused_minutes = clock.paused_minutes(calendar, now)
    before_due = state.due_at
    state.due_at = clock.due(calendar, now)
    for other in state.open_items():
        c = load_clock(other.clock)
        if c is not None and c.paused:
            c = c.resume(now)
            other.clock = c.as_dict()
            other.due_at = c.due(calendar, now)
            other.paused = c.paused_minutes(calendar, now)
    if not stopped:  # policy "counts": the clock never stopped
        return
    policy = state.clock_policy
    # Under "restart" the full limit runs again, unless the supplementation was asked for after the due
    # instant had passed: a missed deadline is not forgiven (the clock then resumed as under "pause").
    restart = clock.restarted(calendar)
    if restart:
        state.clock_started_at = now
        state.clock_restarts += 1
    name = "clock_restart" if restart else "clock_resume"
    if state.due_at is not None and state.due_at != before_due:  # the applicant is told the new appointment
        tr.effects.append(Effect("notify_citizen", {"reason": "appointment_moved", "due_at": _iso(state.due_at),
                                                    "due_before": _iso(before_due), "restart": restart,
                                                    "financial": financial}))
    tr.events.append(MachineEvent(name, None, None, data={
        "policy": policy, "reason": "financial" if financial else "supplement",
        "paused_minutes": state.paused_minutes,
        "due_before": _iso(before_due), "due_at": _iso(state.due_at)}))


def _interrupt(defn: Definition, tr: Transition, name: str, status: Status, comment: str,
               now: dt.datetime, calendar: Any) -> None:
    state = tr.state
    if state.closed or state.status not in INTERRUPTIBLE:
        raise _illegal(name, state, "the dossier can no longer be " + ("withdrawn" if name == "withdraw" else "stopped"),
                       allowed_actions(defn, state))
    before = state.status
    clock = load_clock(state.clock)
    if clock is not None and not clock.closed:
        clock = clock.close(now)
        state.clock = clock.as_dict()
        state.paused_minutes = clock.paused_minutes(calendar)
    state.paused_at = None
    for it in state.open_items():
        _close_item(it, _step(defn, it.step), CANCELLED, None, now, calendar, None)
    state.status, state.closed_at = status, now
    state.joins = {}
    tr.events.append(MachineEvent(name, None, None, int(before), int(status), None, comment))
    if name == "stop":
        tr.effects.append(Effect("produce_form", {"form": "stop_notice", "reason": comment}))
    tr.effects.append(Effect("notify_citizen", {"reason": name, "comment": comment}))


def _is_form(name: str) -> bool:
    return name.startswith("BM") and name[2:].isdigit()


_iso = sla._iso  # t.isoformat(), None for None
