"""Discrete-event simulation of a procedure's internal process (SimPy).

Before approving a process, a leader asks: with the staff at hand and the
dossiers we expect, will the allotted times hold? :func:`simulate` runs the
definition (the same :class:`engine.definition.Definition` the runtime runs,
its routes, parallel splits and joins, citizen steps with the clock paused,
bounded rework) on the working calendar (:class:`engine.calendar.WorkCalendar`)
and predicts the on-time rate, the waiting at each step and the utilisation of
each unit. The model and its assumptions are documented in docs/simulation.md.

Time is simulated in **working minutes** from the first opening of the start
date: nights, weekends and holidays do not exist for the model; the calendar
maps a simulated minute to an instant (``calendar.add(origin, t)``) where the
law needs a wall-clock instant (same-day procedures and their 15:00 cut-off).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import networkx as nx
import simpy

from engine.calendar import LOCAL_TZ, MINUTES_PER_DAY, WorkCalendar
from engine.definition import Definition, Step
from engine.errors import QuytrinhError
from engine.graph import result_terminals, step_graph

__all__ = [
    "SERVICE_DISTRIBUTIONS",
    "SimulationError",
    "SimParams",
    "StepStats",
    "UnitStats",
    "SimResult",
    "parse_arrivals",
    "parse_staff",
    "parse_route_override",
    "route_kind",
    "route_probabilities",
    "simulate",
]

#: Service-time distributions: each has mean ``effort × allotted duration``.
SERVICE_DISTRIBUTIONS = ("lognormal", "triangular", "fixed", "exponential")

#: Steps one dossier may go through before the model gives up on it (counted as unfinished):
#: a guard against routes that loop with probability 1.
MAX_VISITS = 500

#: Step kinds that need one member of staff of the step's unit.
STAFFED_KINDS = ("human", "sign", "return")


class SimulationError(QuytrinhError):
    """Bad simulation parameters (the message names the option and what to write)."""


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class SimParams:
    """Parameters of one simulation run.

    Attributes
    ----------
    arrivals_per_day : float
        Mean dossiers arriving per working day (Poisson over working time).
    days : int
        Working days during which dossiers arrive; every one of them is then
        followed to its end (the queues drain, no new arrivals).
    staff : Mapping[str, int]
        Unit id -> number of staff; units not named get ``default_staff``.
    default_staff : int
    seed : int
        Seed of the random generator: the same parameters give the same result.
    service : str
        One of :data:`SERVICE_DISTRIBUTIONS`.
    effort : float
        Mean hands-on service time as a share of the step's allotted duration
        (the allotted time also covers waiting; 0.25 by default).
    cv : float
        Coefficient of variation (standard deviation / mean) of the service time
        (lognormal; triangular: symmetric around the mean, half-width
        ``min(mean, cv·mean·√6)``; ignored by ``fixed`` and ``exponential``).
    citizen_delay : int
        Mean working minutes a citizen takes at a citizen step (exponential).
    supplement, refuse, rework : float
        Default probabilities of routes to a citizen step, of routes that can
        only end in a refusal, and of bounded rework routes, where a step has them.
    routes : Mapping[str, float]
        ``"step.outcome"`` -> probability, overriding the defaults.
    start : date or None
        The first simulated day (default: 2026-03-02, a Monday, so that results
        do not depend on the day the command runs).
    """

    arrivals_per_day: float
    days: int = 60
    staff: Mapping[str, int] = field(default_factory=dict)
    default_staff: int = 1
    seed: int = 1
    service: str = "lognormal"
    effort: float = 0.25
    cv: float = 0.5
    citizen_delay: int = 2 * MINUTES_PER_DAY
    supplement: float = 0.10
    refuse: float = 0.03
    rework: float = 0.0
    routes: Mapping[str, float] = field(default_factory=dict)
    start: dt.date | None = None

    def check(self) -> None:
        """Raise :class:`SimulationError` on a value out of range."""
        if not (self.arrivals_per_day >= 0 and math.isfinite(self.arrivals_per_day)):
            raise SimulationError(f"--arrivals must be 0 or more per day, not {self.arrivals_per_day}")
        if self.days < 1:
            raise SimulationError(f"--days must be at least 1, not {self.days}")
        if self.service not in SERVICE_DISTRIBUTIONS:
            raise SimulationError(f"--service '{self.service}' is unknown; use one of "
                                  f"{', '.join(SERVICE_DISTRIBUTIONS)}")
        if not 0 < self.effort <= 10:
            raise SimulationError(f"--effort must be above 0 (share of the allotted time), not {self.effort}")
        if not 0 <= self.cv <= 5:
            raise SimulationError(f"--cv must be between 0 and 5, not {self.cv}")
        if self.citizen_delay < 0:
            raise SimulationError("--citizen-delay must be 0 or more")
        for name in ("supplement", "refuse", "rework"):
            p = getattr(self, name)
            if not 0 <= p <= 1:
                raise SimulationError(f"--{name} must be a probability between 0 and 1, not {p}")
        if self.default_staff < 1:
            raise SimulationError("the default staff per unit must be at least 1")


_ARRIVALS = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(?:/\s*(day|ngay|ngày|d|week|tuan|tuần|w|hour|gio|giờ|h))?\s*$",
                       re.IGNORECASE)


def parse_arrivals(text: str) -> float:
    """``--arrivals`` as dossiers per working day: ``20/day``, ``20``, ``100/week`` (5 days), ``3/hour`` (8 h).

    Raises
    ------
    SimulationError
        On anything else.
    """
    m = _ARRIVALS.match(text or "")
    if not m:
        raise SimulationError(f"--arrivals '{text}' is not a rate; write e.g. 20/day, 100/week or 3/hour")
    n = float(m.group(1).replace(",", "."))
    unit = (m.group(2) or "day").lower()
    if unit in ("week", "tuan", "tuần", "w"):
        return n / 5
    if unit in ("hour", "gio", "giờ", "h"):
        return n * MINUTES_PER_DAY / 60
    return n


def parse_staff(values: list[str] | tuple[str, ...]) -> dict[str, int]:
    """``--staff UNIT=N`` options as a dict.

    Raises
    ------
    SimulationError
        When a value is not ``UNIT=N`` with N a whole number of at least 1, or a unit is given twice.
    """
    out: dict[str, int] = {}
    for v in values:
        unit, sep, n = v.partition("=")
        unit, n = unit.strip(), n.strip()
        if not sep or not unit or not n.isdigit():
            raise SimulationError(f"--staff '{v}' is not UNIT=N; write e.g. --staff bp_mot_cua=2")
        if int(n) < 1:
            raise SimulationError(f"--staff '{v}': a unit needs at least 1 member of staff")
        if unit in out:
            raise SimulationError(f"--staff names unit '{unit}' twice")
        out[unit] = int(n)
    return out


def parse_route_override(values: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``--route STEP.OUTCOME=P`` options as a dict (P a probability, ``0.1`` or ``10%``).

    Raises
    ------
    SimulationError
        On bad syntax or a probability outside [0, 1].
    """
    out: dict[str, float] = {}
    for v in values:
        key, sep, p = v.partition("=")
        key, p = key.strip(), p.strip()
        step, dot, outcome = key.partition(".")
        try:
            prob = float(p[:-1]) / 100 if p.endswith("%") else float(p)
        except ValueError:
            prob = -1.0
        if not sep or not dot or not step or not outcome or not 0 <= prob <= 1:
            raise SimulationError(f"--route '{v}' is not STEP.OUTCOME=P with P between 0 and 1; "
                                  f"write e.g. --route appraise.supplement=0.2")
        out[key] = prob
    return out


# --------------------------------------------------------------------------- routing


def route_kind(defn: Definition, step: Step, outcome: str, g: nx.DiGraph | None = None) -> str:
    """What a route of ``step`` is, for the default probabilities.

    Returns
    -------
    str
        ``rework`` (bounded, ``max``), ``supplement`` (leads to a citizen step,
        from a step that is not itself a citizen step; a financial-obligation
        step is the normal course, not an exception, so a route to it is
        ``main``), ``refuse`` (no step that returns a result can be reached
        from its targets), else ``main``.
    """
    route = step.route(outcome)
    if route is None:
        raise SimulationError(f"step '{step.id}' has no outcome '{outcome}'")
    if route.max is not None:
        return "rework"
    by_id = defn.steps_by_id()
    targets = [by_id[t] for t in route.targets if t in by_id]
    if not step.paused and any(t.paused and not t.financial for t in targets):
        return "supplement"
    g = g if g is not None else step_graph(defn)
    results = {s.id for s in result_terminals(defn)}
    reach: set[str] = set()
    for t in targets:
        reach |= nx.descendants(g, t.id) | {t.id}
    if results and not reach & results:
        return "refuse"
    return "main"


def route_probabilities(defn: Definition, params: SimParams) -> dict[str, list[tuple[str, float]]]:
    """The probability of each outcome of each step with routes.

    Defaults: ``params.supplement`` for a supplement route, ``params.refuse``
    for a refusal route, ``params.rework`` for a bounded rework route; the rest
    goes to the first ``main`` route in the order written (other main routes
    get 0). ``params.routes`` overrides any of them. A step with one route takes
    it always; a step without a main route has its probabilities scaled to 1.

    Raises
    ------
    SimulationError
        When an override names an unknown step or outcome, or a step's
        probabilities add up to more than 1.
    """
    by_id = defn.steps_by_id()
    for key in params.routes:
        sid, _, outcome = key.partition(".")
        if sid not in by_id:
            raise SimulationError(f"--route '{key}': {defn.key} has no step '{sid}'; its steps: "
                                  f"{', '.join(s.id for s in defn.steps if s.routes)}")
        if by_id[sid].route(outcome) is None:
            raise SimulationError(f"--route '{key}': step '{sid}' has no outcome '{outcome}'; its outcomes: "
                                  f"{', '.join(r.outcome for r in by_id[sid].routes) or 'none'}")
    g = step_graph(defn)
    defaults = {"supplement": params.supplement, "refuse": params.refuse, "rework": params.rework}
    out: dict[str, list[tuple[str, float]]] = {}
    for s in defn.steps:
        if not s.routes:
            continue
        if len(s.routes) == 1:
            out[s.id] = [(s.routes[0].outcome, 1.0)]
            continue
        probs: dict[str, float | None] = {}
        main = None
        for r in s.routes:
            key = f"{s.id}.{r.outcome}"
            kind = route_kind(defn, s, r.outcome, g)
            if key in params.routes:
                probs[r.outcome] = params.routes[key]
            elif kind == "main":
                probs[r.outcome] = None if main is None else 0.0
                main = main or r.outcome
            else:
                probs[r.outcome] = defaults[kind]
        fixed = sum(p for p in probs.values() if p is not None)
        if main is not None and probs[main] is None:
            if fixed > 1 + 1e-9:
                raise SimulationError(f"the probabilities of step '{s.id}' add up to {fixed:g} (> 1); "
                                      f"lower them with --route {s.id}.OUTCOME=P")
            probs[main] = max(0.0, 1 - fixed)
        else:
            if fixed > 1 + 1e-9 or fixed <= 0:
                if fixed <= 0:
                    raise SimulationError(f"the probabilities of step '{s.id}' are all 0")
                raise SimulationError(f"the probabilities of step '{s.id}' add up to {fixed:g} (> 1)")
            probs = {k: (v or 0.0) / fixed for k, v in probs.items()}
        out[s.id] = [(o, float(p or 0.0)) for o, p in probs.items()]
    return out


# --------------------------------------------------------------------------- results


@dataclass
class StepStats:
    """Queue and service figures of one step (visits by the dossiers counted)."""

    id: str
    name: str
    unit: str | None
    kind: str
    allotted: int | None
    visits: int = 0
    wait_mean: float = 0.0
    wait_max: float = 0.0
    service_mean: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "unit": self.unit, "kind": self.kind,
                "allotted_minutes": self.allotted, "visits": self.visits,
                "wait_mean_minutes": round(self.wait_mean, 1), "wait_max_minutes": round(self.wait_max, 1),
                "service_mean_minutes": round(self.service_mean, 1)}


@dataclass
class UnitStats:
    """Staff and utilisation of one unit over the arrival window."""

    id: str
    name: str
    staff: int
    busy_minutes: float
    utilisation: float  # busy / (staff × window), 0..1

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "staff": self.staff, "busy_minutes": round(self.busy_minutes, 1),
                "utilisation": round(self.utilisation, 4)}


@dataclass
class SimResult:
    """What one simulation predicts."""

    code: str
    name: str
    limit_minutes: int | None
    limit_text: str
    params: SimParams
    arrived: int
    received: int
    refused_at_reception: int
    completed: int
    on_time: int
    late: int
    unfinished: int
    lead_times: list[float]
    steps: list[StepStats]
    units: list[UnitStats]
    simulated_minutes: float

    @property
    def on_time_rate(self) -> float | None:
        """On time / (completed + unfinished) of the received dossiers; None when none was received."""
        n = self.on_time + self.late + self.unfinished
        return None if n == 0 else self.on_time / n

    def lead_time(self) -> dict[str, float | None]:
        """Mean, 90th percentile and maximum working minutes from receipt to result (clock time)."""
        v = sorted(self.lead_times)
        if not v:
            return {"mean": None, "p90": None, "max": None}
        p90 = v[min(len(v) - 1, math.ceil(0.9 * len(v)) - 1)]
        return {"mean": round(statistics.fmean(v), 1), "p90": round(p90, 1), "max": round(v[-1], 1)}

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (schema in docs/simulation.md)."""
        p = self.params
        return {
            "procedure": {"code": self.code, "name": self.name, "limit_minutes": self.limit_minutes,
                          "limit": self.limit_text},
            "parameters": {"arrivals_per_day": p.arrivals_per_day, "days": p.days, "seed": p.seed,
                           "service": p.service, "effort": p.effort, "cv": p.cv,
                           "citizen_delay_minutes": p.citizen_delay,
                           "supplement": p.supplement, "refuse": p.refuse, "rework": p.rework,
                           "routes": dict(p.routes), "start": (p.start or DEFAULT_START).isoformat(),
                           "staff": {u.id: u.staff for u in self.units}},
            "dossiers": {"arrived": self.arrived, "received": self.received,
                         "refused_at_reception": self.refused_at_reception, "completed": self.completed,
                         "on_time": self.on_time, "late": self.late, "unfinished": self.unfinished,
                         "on_time_rate": None if self.on_time_rate is None else round(self.on_time_rate, 4)},
            "lead_time_minutes": self.lead_time(),
            "steps": [s.as_dict() for s in self.steps],
            "units": [u.as_dict() for u in self.units],
            "simulated_minutes": round(self.simulated_minutes, 1),
        }


#: The default first simulated day (a Monday; fixed so results are reproducible).
DEFAULT_START = dt.date(2026, 3, 2)


# --------------------------------------------------------------------------- the model


@dataclass
class _Dossier:
    n: int
    counted: bool
    arrived: float
    received: float | None = None
    clock_from: float | None = None   # receipt, or the last complete supplement under `restart`
    pause_start: float | None = None
    paused: float = 0.0               # paused working minutes after receipt
    finished: float | None = None
    closed: float | None = None
    refused_at_reception: bool = False
    route_counts: dict[str, int] = field(default_factory=dict)
    joins: dict[int, int] = field(default_factory=dict)
    visits: int = 0


class _Model:
    def __init__(self, defn: Definition, params: SimParams, cal: WorkCalendar, horizon_cap: float):
        self.defn, self.p, self.cal = defn, params, cal
        # separate streams (common random numbers): the same seed gives the same arrivals
        # and citizen delays whatever the staff, so variants compare fairly
        self.rng = random.Random(f"{params.seed}:work")
        self.rng_arrivals = random.Random(f"{params.seed}:arrivals")
        self.rng_citizen = random.Random(f"{params.seed}:citizen")
        self.env = simpy.Environment()
        self.steps = defn.steps_by_id()
        self.probs = route_probabilities(defn, params)
        self.horizon = params.days * MINUTES_PER_DAY
        self.cap = horizon_cap
        units = sorted({s.unit for s in defn.steps if s.kind in STAFFED_KINDS and s.unit})
        self.staff = {u: params.staff.get(u, params.default_staff) for u in units}
        self.resources = {u: simpy.PriorityResource(self.env, capacity=n) for u, n in self.staff.items()}
        self.busy = {u: 0.0 for u in units}
        self.waits: dict[str, list[float]] = {s.id: [] for s in defn.steps}
        self.services: dict[str, list[float]] = {s.id: [] for s in defn.steps}
        self.dossiers: list[_Dossier] = []
        self.split_seq = 0
        start = params.start or DEFAULT_START
        self.origin = cal.next_opening(dt.datetime.combine(start, dt.time(0), tzinfo=LOCAL_TZ))

    # -- sampling

    def service_time(self, step: Step) -> float:
        mean = self.p.effort * (step.duration or 0)
        if mean <= 0:
            return 0.0
        kind, cv, r = self.p.service, self.p.cv, self.rng
        if kind == "fixed" or cv == 0:
            return mean
        if kind == "exponential":
            return r.expovariate(1 / mean)
        if kind == "triangular":
            half = min(mean, cv * mean * math.sqrt(6))  # symmetric: sd = half / √6, never below 0
            return r.triangular(mean - half, mean + half, mean)
        sigma2 = math.log(1 + cv * cv)
        return r.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))

    def choose(self, step: Step, d: _Dossier) -> str:
        options = self.probs[step.id]
        allowed = []
        for outcome, p in options:
            route = step.route(outcome)
            if route is not None and route.max is not None and d.route_counts.get(f"{step.id}.{outcome}", 0) >= route.max:
                continue
            allowed.append((outcome, p))
        total = sum(p for _, p in allowed)
        if total <= 0:  # every possible route exhausted or improbable: the first allowed one
            return allowed[0][0] if allowed else options[0][0]
        x = self.rng.random() * total
        for outcome, p in allowed:
            x -= p
            if x < 0:
                return outcome
        return allowed[-1][0]

    # -- processes

    def arrivals(self) -> Iterator[Any]:
        rate = self.p.arrivals_per_day / MINUTES_PER_DAY
        n = 0
        while rate > 0:
            yield self.env.timeout(self.rng_arrivals.expovariate(rate))
            if self.env.now >= self.horizon:
                return
            n += 1
            d = _Dossier(n, True, self.env.now)
            self.dossiers.append(d)
            self.env.process(self.token(d, self.defn.start.id, ()))

    def _close(self, d: _Dossier) -> None:
        if d.closed is None:
            d.closed = self.env.now

    def token(self, d: _Dossier, step_id: str, branch: tuple[tuple[int, int], ...]) -> Iterator[Any]:
        env = self.env
        while True:
            step = self.steps[step_id]
            d.visits += 1
            if d.visits > MAX_VISITS:  # a loop taken with probability 1: give up (unfinished)
                return
            if step.join and branch:
                key, expected = branch[-1]
                d.joins[key] = d.joins.get(key, 0) + 1
                if d.joins[key] < expected:
                    return
                branch = branch[:-1]
            if step.kind == "return" and d.received is not None and d.finished is None:
                d.finished = env.now  # the result (or reasoned refusal) is at the one-stop unit
            if step.paused:
                if d.received is not None and d.pause_start is None:
                    d.pause_start = env.now
                delay = self.rng_citizen.expovariate(1 / self.p.citizen_delay) if self.p.citizen_delay else 0
                yield env.timeout(delay)
                self.waits[step.id].append(0.0)  # a visit of the citizen step: its "service" is the citizen's delay
                self.services[step.id].append(delay)
                if d.pause_start is not None:
                    d.paused += env.now - d.pause_start
                    d.pause_start = None
                    if self.defn.supplement_clock == "restart":
                        d.clock_from = env.now
            elif step.kind in STAFFED_KINDS and step.unit in self.resources:
                t0 = env.now
                with self.resources[step.unit].request(priority=d.n) as req:  # oldest dossier first
                    yield req
                    wait = env.now - t0
                    service = self.service_time(step)
                    yield env.timeout(service)
                begin = env.now - service
                self.busy[step.unit] += max(0.0, min(env.now, self.horizon) - min(begin, self.horizon))
                if d.counted:
                    self.waits[step.id].append(wait)
                    self.services[step.id].append(service)
            else:  # automated (or no unit): takes its time, needs nobody
                service = self.service_time(step)
                yield env.timeout(service)
                if d.counted:
                    self.waits[step.id].append(0.0)
                    self.services[step.id].append(service)
            if step.terminal:
                if d.received is None:
                    d.refused_at_reception = True
                self._close(d)
                return
            outcome = self.choose(step, d)
            route = step.route(outcome)
            assert route is not None
            if route.max is not None:
                k = f"{step.id}.{outcome}"
                d.route_counts[k] = d.route_counts.get(k, 0) + 1
            targets = [self.steps[t] for t in route.targets]
            if (step.id == self.defn.start.id and d.received is None and targets
                    and not any(t.paused or t.kind == "return" for t in targets)):
                d.received = d.clock_from = env.now
            if len(targets) > 1:
                self.split_seq += 1
                sub = branch + ((self.split_seq, len(targets)),)
                for t in targets[1:]:
                    env.process(self.token(d, t.id, sub))
                step_id, branch = targets[0].id, sub
            else:
                step_id = targets[0].id

    # -- judging

    def on_time(self, d: _Dossier) -> bool | None:
        """Whether a finished dossier met the legal limit (None: no limit)."""
        assert d.finished is not None and d.received is not None and d.clock_from is not None
        limit = self.defn.time_limit
        policy = self.defn.supplement_clock
        base = d.clock_from if policy == "restart" else d.received
        used = d.finished - base - (d.paused if policy == "pause" else 0.0)
        if limit.unit == "same_day":
            received_at = self.cal.add(self.origin, int(base))
            allowed = self.cal.elapsed(received_at, self.cal.same_day_due(received_at, limit.cutoff))
        elif limit.unit == "calendar_days" and limit.value is not None:
            received_at = self.cal.add(self.origin, int(base))
            allowed = self.cal.elapsed(received_at, self.cal.calendar_days_due(received_at, int(limit.value)))
        elif limit.minutes is None:
            return None
        else:
            allowed = limit.minutes
        return used <= allowed + 1e-9

    def run(self) -> SimResult:
        self.env.process(self.arrivals())
        self.env.run(until=self.cap)
        counted = [d for d in self.dossiers if d.counted]
        received = [d for d in counted if d.received is not None]
        on_time = late = unfinished = 0
        lead: list[float] = []
        for d in received:
            if d.finished is None:
                unfinished += 1
                continue
            lead.append(d.finished - d.received)
            ok = self.on_time(d)
            if ok is None:
                continue
            if ok:
                on_time += 1
            else:
                late += 1
        steps = []
        for s in self.defn.steps:
            w, sv = self.waits[s.id], self.services[s.id]
            steps.append(StepStats(s.id, s.name, s.unit, s.kind, None if s.paused else s.duration, len(w),
                                   statistics.fmean(w) if w else 0.0, max(w) if w else 0.0,
                                   statistics.fmean(sv) if sv else 0.0))
        window = float(self.horizon)
        units = [UnitStats(u, u, n, self.busy[u], self.busy[u] / (n * window) if window else 0.0)
                 for u, n in self.staff.items()]
        return SimResult(self.defn.key, self.defn.name, self.defn.time_limit.minutes
                         if self.defn.time_limit.unit != "same_day" else None, self.defn.time_limit.describe(),
                         self.p, len(counted), len(received), sum(d.refused_at_reception for d in counted),
                         len(lead), on_time, late, unfinished, lead, steps, units,
                         self.env.now if unfinished else max([0.0, *(d.closed or 0.0 for d in self.dossiers)]))


def simulate(defn: Definition, params: SimParams, calendar: WorkCalendar | None = None,
             units: Mapping[str, Any] | None = None) -> SimResult:
    """Simulate ``params.days`` working days of dossiers of ``defn`` and predict its on-time rate.

    Parameters
    ----------
    defn : Definition
        An expanded definition (only read).
    params : SimParams
    calendar : WorkCalendar, optional
        The working calendar (default: the catalogue's).
    units : mapping, optional
        Unit id -> :class:`engine.definition.Unit`, for the units' Vietnamese names.

    Returns
    -------
    SimResult
        Deterministic for the same parameters (``seed`` included).

    Raises
    ------
    SimulationError
        Bad parameters: out of range, ``--staff`` naming a unit the procedure
        does not use, ``--route`` naming an unknown step or outcome.
    """
    params.check()
    used = sorted({s.unit for s in defn.steps if s.kind in STAFFED_KINDS and s.unit})
    for unit in params.staff:
        if unit not in used:
            raise SimulationError(f"--staff: procedure {defn.key} has no staffed step at unit '{unit}'; "
                                  f"its units: {', '.join(used)}")
    if not defn.steps:
        raise SimulationError(f"procedure {defn.key} has no steps to simulate")
    cal = calendar or WorkCalendar.default()
    cap = params.days * MINUTES_PER_DAY * 20 + 100 * MINUTES_PER_DAY
    result = _Model(defn, params, cal, cap).run()
    if units:
        for u in result.units:
            unit = units.get(u.id)
            if unit is not None:
                u.name = getattr(unit, "name", u.id)
    return result
