"""The linter: rules over a definition's step graph, each with a stable id.

``lint(definition, units)`` runs every rule of :data:`RULES` and returns the
findings, each located at the most precise key it can name (the route for an
unknown target, the ``duration`` key for a bad duration, the ``time_limit``
key for a time that does not fit). A rule is a small pure function of a
:class:`Context` (the definition, the organisation and the graphs built once
from them) that yields what it found; its id, severity and one-line
description live in its :class:`Rule`. ``quytrinh validate --rules`` lists
them and ``docs/lint-rules.md`` is generated from them (:func:`rules_markdown`).

Findings of steps that come unchanged from a template are located in the
definition (the step's override, or the ``extends`` key) and name the
template line, so every finding of a definition is in its own file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator

import networkx as nx

from engine.definition import (
    Catalogue,
    MINUTES_PER_DAY,
    OUTCOME_LABELS,
    Definition,
    Organisation,
    Route,
    Step,
    did_you_mean,
    format_minutes,
    format_number,
)
from engine.errors import Location, Problem
from engine.graph import (
    CriticalPath,
    critical_path,
    forward_graph,
    result_terminals,
    step_graph,
    timed_dag,
)

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)

_CODE_RE = re.compile(r"^\d\.\d{6}$")


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One thing a rule found, located in a source file.

    ``str()`` gives ``path:line:col: rule-id: [step 'x':] message``, the same
    shape as a load problem (:class:`engine.errors.Problem`).
    """

    rule_id: str
    severity: str
    file: str
    line: int
    col: int
    step: str | None
    message: str

    @property
    def location(self) -> Location:
        return Location(self.file, self.line, self.col)

    def __str__(self) -> str:
        step = f" step '{self.step}':" if self.step else ""
        return f"{self.location}: {self.rule_id}:{step} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return {"rule_id": self.rule_id, "severity": self.severity, "file": self.file,
                "line": self.line, "col": self.col, "step": self.step, "message": self.message}

    @classmethod
    def from_problem(cls, problem: Problem) -> "Finding":
        """A load problem (the file loads nothing) as an error finding."""
        loc = problem.location
        return cls(problem.rule, ERROR, loc.file, loc.line, loc.col, problem.step, problem.message)


@dataclass(frozen=True)
class Hit:
    """What a rule yields: a message and where it is (a step and its key, or a location)."""

    message: str
    step: Step | None = None
    key: str | None = None
    loc: Location | None = None


@dataclass(frozen=True)
class Rule:
    """A lint rule: stable id, severity, one-line description, and its check."""

    id: str
    severity: str
    description: str
    check: Callable[["Context"], Iterable[Hit]] = field(repr=False, compare=False)
    needs_units: bool = False


RULES: list[Rule] = []


def rule(rule_id: str, severity: str, description: str, *, needs_units: bool = False):
    """Register the decorated check in :data:`RULES` under a stable id."""
    assert severity in SEVERITIES and re.fullmatch(r"[a-z]+(-[a-z]+)*", rule_id), rule_id

    def register(check: Callable[["Context"], Iterable[Hit]]):
        assert all(r.id != rule_id for r in RULES), f"duplicate rule id {rule_id}"
        RULES.append(Rule(rule_id, severity, description, check, needs_units))
        return check

    return register


def rules_by_id() -> dict[str, Rule]:
    """The registered rules by id."""
    return {r.id: r for r in RULES}


# --------------------------------------------------------------------------- context


class Context:
    """A definition, its organisation and the graphs the rules share (built once)."""

    def __init__(self, defn: Definition, units: Organisation | None):
        self.defn = defn
        self.units = units
        self.by_id = defn.steps_by_id()
        self.index = {s.id: i for i, s in enumerate(defn.steps)}

    @cached_property
    def graph(self) -> nx.DiGraph:
        """Steps and routes (routes to unknown steps left out)."""
        return step_graph(self.defn)

    @cached_property
    def dag(self) -> nx.DiGraph:
        """The timed graph: citizen steps and bounded rework routes removed."""
        return timed_dag(self.defn, self.graph)

    @cached_property
    def forward(self) -> nx.DiGraph:
        """The graph without its loops back (:func:`engine.graph.forward_graph`)."""
        return forward_graph(self.defn, self.graph)

    @cached_property
    def reachable(self) -> set[str]:
        """Steps reachable from the start."""
        if not self.defn.steps:
            return set()
        start = self.defn.start.id
        return nx.descendants(self.graph, start) | {start}

    @cached_property
    def critical(self) -> CriticalPath | None:
        """The longest working-time path from the start (:func:`engine.graph.critical_path`)."""
        return critical_path(self.defn, self.graph)

    @cached_property
    def reachable_forward(self) -> set[str]:
        start = self.defn.start.id
        return nx.descendants(self.forward, start) | {start}

    def unit(self, step: Step):
        return self.units.get(step.unit) if self.units is not None else None

    def route_to(self, u: str, v: str) -> Route | None:
        """The first route of step ``u`` that leads to ``v``."""
        for r in self.by_id[u].routes:
            if v in r.targets:
                return r
        return None

    def branches(self) -> Iterator[tuple[Step, Route, list[set[str]]]]:
        """Every parallel split with, per branch, the steps the branch reaches (itself included)."""
        for s in self.defn.steps:
            for r in s.routes:
                if r.parallel:
                    sets = [nx.descendants(self.forward, t) | {t} for t in r.targets if t in self.forward]
                    yield s, r, sets


# --------------------------------------------------------------------------- lint


def lint(definition: Definition, units: Organisation | None = None) -> list[Finding]:
    """Check an expanded definition against every rule.

    Parameters
    ----------
    definition : Definition
        An expanded definition (as :func:`engine.definition.load_definition` returns).
    units : Organisation or None
        The organisation from ``units.yaml``; without it the rules that need
        units (``needs_units``) are skipped.

    Returns
    -------
    list of Finding
        Sorted by line, column and rule id; empty when the definition is clean.
        A rule that fails unexpectedly gives an ``internal-error`` finding
        instead of an exception.
    """
    ctx = Context(definition, units)
    findings: list[Finding] = []
    for r in RULES:
        if r.needs_units and units is None:
            continue
        try:
            hits = list(r.check(ctx))
        except Exception as exc:  # a broken rule must not hide the others
            loc = definition.where()
            findings.append(Finding("internal-error", ERROR, loc.file, loc.line, loc.col, None,
                                    f"rule {r.id} failed ({type(exc).__name__}: {exc}); "
                                    "this is a bug in quytrinh: please report it with the file"))
            continue
        for hit in hits:
            findings.append(_finding(ctx, r, hit))
    return sorted(findings, key=lambda f: (f.file, f.line, f.col, f.rule_id, f.step or "", f.message))


def _finding(ctx: Context, r: Rule, hit: Hit) -> Finding:
    defn = ctx.defn
    loc = hit.loc
    if loc is None and hit.step is not None:
        loc = hit.step.where(hit.key)
    if loc is None:
        loc = defn.where(hit.key)
    message = hit.message
    if defn.source and loc.file != defn.source:
        # Inherited unchanged from the template: locate it in the definition.
        inherited = loc
        own = hit.step.key_locs.get("id") if hit.step is not None else None
        if own is not None and own.file == defn.source:
            loc = own
        else:
            loc = defn.where("extends")
        message = f"{message} (inherited from {inherited})"
    return Finding(r.id, r.severity, loc.file, loc.line, loc.col,
                   hit.step.id if hit.step is not None else None, message)


def rules_markdown() -> str:
    """``docs/lint-rules.md``: every rule with its id, severity and description."""
    lines = [
        "# Lint rules",
        "",
        "Generated from `engine.lint.RULES` by `engine.lint.rules_markdown()`; do not edit by hand",
        "(a test fails when this file is out of date). `quytrinh validate --rules` prints the same list.",
        "",
        "`quytrinh validate [PATH ...]` (default: the catalogue, `procedures_yaml/`) loads every definition,",
        "reports load errors (`yaml-syntax`, `unknown-key`, `duplicate-step`, ...: the file then loads nothing)",
        "and runs these rules on the others. Each finding reads",
        "`path:line:col: rule-id: [step 'x':] message [severity]`, located at the most precise key, and its",
        "message says what to do; a summary line ends the list (`91 definitions: 0 errors, 71 warnings`).",
        "Findings of template steps the definition does not override are located at its `extends` key.",
        "",
        "Exit codes: 0 no errors (warnings allowed, unless `--strict`); 1 errors; 2 usage error (unknown",
        "option, or a path that does not exist). `--format json` prints `{findings: [...], summary: {...}}`.",
        "Rules marked *(units)* need `units.yaml` and are skipped without it.",
        "",
        "| rule | severity | checks |",
        "|---|---|---|",
    ]
    for r in RULES:
        units = " *(units)*" if r.needs_units else ""
        description = r.description.replace("|", "\\|")  # a pipe would split the table cell
        lines.append(f"| `{r.id}` | {r.severity} | {description}{units} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- helpers


def _path(steps: Iterable[str]) -> str:
    return " → ".join(steps)


def _in_limit_unit(minutes: int, unit: str) -> str:
    """A number of working minutes in the limit's own unit (``2,5`` days, ``6`` hours)."""
    if unit == "working_days":
        return format_number(round(minutes / MINUTES_PER_DAY, 2))
    if unit == "working_hours":
        return format_number(round(minutes / 60, 2))
    return format_minutes(minutes)


def _amount(minutes: int, unit: str) -> str:
    """A difference of working time with its unit word, in the limit's unit (``0,5 ngày``)."""
    if unit == "working_days" and minutes >= MINUTES_PER_DAY // 4:
        return f"{_in_limit_unit(minutes, unit)} ngày"
    if unit == "working_hours" and minutes >= 60:
        return f"{_in_limit_unit(minutes, unit)} giờ"
    return format_minutes(minutes)


def _limit_words(defn: Definition) -> str:
    tl = defn.time_limit
    if tl.unit == "working_days":
        return f"{format_number(tl.value)} ngày làm việc" if tl.value is not None else ""
    if tl.unit == "working_hours":
        return f"{format_number(tl.value)} giờ làm việc" if tl.value is not None else ""
    return f"{format_minutes(tl.minutes)} (same day: from the {tl.cutoff:%H:%M} cut-off to closing)"


def _needs_unit(step: Step) -> bool:
    return not step.paused


# --------------------------------------------------------------------------- rules: the procedure


@rule("code-missing", WARNING, "The national procedure code (mã TTHC) is empty.")
def _code_missing(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if not d.code:
        also = " (code_verified is true, but there is no code to verify)" if d.code_verified else ""
        yield Hit("the national procedure code (mã TTHC) is empty" + also + "; find it in the national "
                  "procedure database and fill `code` — never invent a code: until it is found, leave it "
                  "empty and flagged", key="code")


@rule("code-unverified", WARNING, "The national procedure code is not marked as checked (code_verified).")
def _code_unverified(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.code and not d.code_verified:
        yield Hit(f"code '{d.code}' is not verified; check it against the national procedure database "
                  "(csdl.thutuchanhchinh.vn) and set code_verified: true", key="code")


@rule("code-format", WARNING, "The code does not look like a national procedure code (e.g. 1.001612).")
def _code_format(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.code and not _CODE_RE.match(d.code):
        yield Hit(f"code '{d.code}' does not look like a national procedure code (one digit, a dot, "
                  "six digits, e.g. 1.001612); copy it exactly from the national database", key="code")


@rule("limit-missing", ERROR, "A submitted or approved definition has no legal time limit.")
def _limit_missing(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.time_limit.minutes is None and d.status in ("submitted", "approved"):
        yield Hit(f"a {d.status} definition needs its legal time limit; fill time_limit.value "
                  "(and unit) from the legal text before it goes further", key="time_limit")


@rule("limit-missing-draft", WARNING, "A draft definition has no legal time limit yet.")
def _limit_missing_draft(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.time_limit.minutes is None and d.status == "draft":
        yield Hit("the legal time limit is not known yet, so the steps' times cannot be checked; "
                  "fill time_limit.value (and unit) from the legal text", key="time_limit")


@rule("limit-unverified", WARNING, "The legal time limit is not marked as checked (time_limit.verified).")
def _limit_unverified(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.time_limit.minutes is not None and not d.time_limit.verified:
        yield Hit(f"the legal time limit '{d.time_limit.describe()}' is not verified; check it against the "
                  "legal text, cite it in time_limit.source and set time_limit.verified: true",
                  key="time_limit")


@rule("approval-missing", ERROR, "An approved definition does not name its approving decision.")
def _approval_missing(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.status == "approved" and (d.approval is None or not d.approval.decision):
        yield Hit("the definition is approved but names no approving decision; add approval: "
                  "{decision: \"…/QĐ-UBND\", date: YYYY-MM-DD, signer: …}, or set status back to draft",
                  key="approval" if "approval" in d.key_locs else "status")


@rule("missing-signer", ERROR, "The definition does not say which leader signs the result (signer).")
def _missing_signer(ctx: Context) -> Iterator[Hit]:
    if ctx.defn.signer is None or not (ctx.defn.signer.unit and ctx.defn.signer.role):
        yield Hit("the definition does not say who signs the result; add signer: {unit: …, role: …} "
                  "(the competent or delegated leader)", key="signer")


@rule("unknown-signer", ERROR, "The signer's unit or role is not in units.yaml.", needs_units=True)
def _unknown_signer(ctx: Context) -> Iterator[Hit]:
    s = ctx.defn.signer
    if s is None or not s.unit:
        return
    unit = ctx.units.get(s.unit)
    if unit is None:
        yield Hit(f"signer unit '{s.unit}' is not in units.yaml{did_you_mean(s.unit, ctx.units.units)}; "
                  "use a unit id from units.yaml", key="signer")
    elif s.role and s.role not in unit.roles:
        yield Hit(f"unit '{s.unit}' has no role '{s.role}'{did_you_mean(s.role, unit.roles)}; "
                  f"its roles are: {', '.join(unit.roles)}", key="signer")


@rule("delegation-unverified", WARNING, "The delegation (ủy quyền) decision is empty or not checked.")
def _delegation_unverified(ctx: Context) -> Iterator[Hit]:
    dl = ctx.defn.delegation
    if dl is None:
        return
    if not dl.decision:
        yield Hit("the delegation names no decision; cite it (e.g. decision: \"4610/QĐ-UBND\", date) "
                  "and set verified: true once checked", key="delegation")
    elif not dl.verified:
        yield Hit(f"delegation decision '{dl.decision}' is not verified; check the decision text and "
                  "set delegation.verified: true", key="delegation")


@rule("legal-basis-missing", WARNING, "The definition lists no legal basis.")
def _legal_basis_missing(ctx: Context) -> Iterator[Hit]:
    if not ctx.defn.legal_basis:
        yield Hit("list the laws and decrees the procedure rests on under legal_basis", key="legal_basis")


@rule("unknown-level", ERROR, "The definition's level is not a level of units.yaml.", needs_units=True)
def _unknown_level(ctx: Context) -> Iterator[Hit]:
    level = ctx.defn.level
    if level and level not in ctx.units.levels:
        yield Hit(f"level '{level}' is not a level of units.yaml{did_you_mean(level, ctx.units.levels)}; "
                  f"use one of: {', '.join(ctx.units.levels)}", key="level")


# --------------------------------------------------------------------------- rules: structure


@rule("start-reception", ERROR,
      "The first step is not a human step at the one-stop unit (reception).")
def _start_reception(ctx: Context) -> Iterator[Hit]:
    if not ctx.defn.steps:
        yield Hit("the definition has no steps; start with reception at the one-stop unit", key="steps")
        return
    start = ctx.defn.start
    if start.kind != "human":
        yield Hit(f"the process starts with a step of kind {start.kind}; the first step must be reception "
                  "(a human step at the one-stop unit): move the reception step first",
                  step=start, key="kind" if "kind" in start.key_locs else None)
        return
    unit = ctx.unit(start)
    if unit is not None and unit.kind != "one_stop":
        yield Hit(f"the process starts at '{start.unit}' ({unit.kind}); reception is done by the one-stop "
                  "unit (Bộ phận Một cửa): put the first step at a unit of kind one_stop",
                  step=start, key="unit")


@rule("extra-start", ERROR, "A step other than the first has no route leading to it (a second start).")
def _extra_start(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps[1:]:
        if ctx.graph.in_degree(s.id) == 0:
            yield Hit("no route leads to this step, so it would be a second start; route a step to it "
                      "or remove it", step=s)


@rule("unreachable-step", ERROR, "A step cannot be reached from the start.")
def _unreachable(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps[1:]:
        if s.id not in ctx.reachable and ctx.graph.in_degree(s.id) > 0:
            yield Hit(f"this step cannot be reached from the start '{ctx.defn.start.id}' (only steps that "
                      "cannot be reached lead to it); route a reachable step to it, or remove it", step=s)


@rule("unknown-target", ERROR, "A route leads to a step that does not exist.")
def _unknown_target(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        for r in s.routes:
            for t in r.targets:
                if t not in ctx.by_id:
                    yield Hit(f"route '{r.outcome}' leads to unknown step '{t}'{did_you_mean(t, ctx.by_id)}; "
                              "use the id of a step of this process", step=s, loc=r.loc)


@rule("terminal-not-return", ERROR, "A step without routes is not a return step (the process stops there).")
def _terminal_not_return(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.terminal and s.kind != "return":
            yield Hit("this step has no routes, so the process would stop here without returning anything; "
                      "add routes, or make it a return step (kind: return, ends: result or refusal)", step=s)


@rule("terminal-ends", ERROR,
      "A terminal return step does not say `ends: result|refusal`, or a step with routes says `ends`.")
def _terminal_ends(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.terminal and s.kind == "return" and s.ends is None:
            yield Hit("say what this final step returns: ends: result (the result) or ends: refusal "
                      "(a refusal)", step=s)
        elif not s.terminal and s.ends is not None:
            yield Hit("'ends' marks a final step, but this step has routes; remove 'ends' or the routes",
                      step=s, key="ends")


@rule("no-result-terminal", ERROR, "No final step returns a result (only refusals, or no final step).")
def _no_result_terminal(ctx: Context) -> Iterator[Hit]:
    if ctx.defn.steps and not result_terminals(ctx.defn):
        yield Hit("no final step returns a result; end the process with a return step at the one-stop "
                  "unit (kind: return, ends: result)", key="steps")


@rule("dead-end", ERROR, "A reachable step can never reach a final step (it loops forever).")
def _dead_end(ctx: Context) -> Iterator[Hit]:
    g = ctx.graph
    finals = [n for n in g if g.out_degree(n) == 0]
    can_finish = set(finals)
    for n in finals:
        can_finish |= nx.ancestors(g, n)
    for s in ctx.defn.steps:
        if s.id in ctx.reachable and s.id not in can_finish:
            yield Hit("the process can never finish from this step: every route from it loops back; "
                      "add a route towards the result or a refusal", step=s)


@rule("unbounded-cycle", ERROR,
      "A loop neither passes through a citizen step (clock paused) nor has a route with `max`.")
def _unbounded_cycle(ctx: Context) -> Iterator[Hit]:
    dag = ctx.dag
    for scc in nx.strongly_connected_components(dag):
        first = min(scc, key=ctx.index.__getitem__)
        if len(scc) == 1 and not dag.has_edge(first, first):
            continue
        cycle = nx.find_cycle(dag.subgraph(scc), source=first)
        path = [u for u, _ in cycle] + [cycle[-1][1]]
        back = [(u, v) for u, v in cycle if ctx.index[v] <= ctx.index[u]] or [cycle[-1]]
        u, v = back[-1]
        route = ctx.route_to(u, v)
        yield Hit(f"the loop {_path(path)} can repeat without end while the clock runs; bound it with "
                  f"max on the route back (e.g. {route.outcome if route else 'rework'}: "
                  f"{{to: {v}, max: 2}}), or route it through a citizen step",
                  step=ctx.by_id[u], loc=route.loc if route else None)


@rule("max-without-loop", WARNING, "A route has `max` but does not lead back into a loop.")
def _max_without_loop(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        for r in s.routes:
            if r.max is not None and not any(t in ctx.graph and nx.has_path(ctx.graph, t, s.id)
                                             for t in r.targets):
                yield Hit(f"route '{r.outcome}' has max: {r.max}, which bounds a rework loop, but it does "
                          f"not lead back to this step; remove max", step=s, loc=r.loc)


@rule("duplicate-target", WARNING, "Two outcomes of one step lead to the same step.")
def _duplicate_target(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        seen: dict[str, str] = {}
        for r in s.routes:
            for t in r.targets:
                if t in seen:
                    yield Hit(f"outcomes '{seen[t]}' and '{r.outcome}' both lead to '{t}', and the graph keeps "
                              "one of them; keep one outcome (give it a label if needed)", step=s, loc=r.loc)
                else:
                    seen[t] = r.outcome


@rule("unknown-outcome", WARNING, "An outcome has no Vietnamese label (not a standard outcome, no `label`).")
def _unknown_outcome(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        for r in s.routes:
            if r.outcome not in OUTCOME_LABELS and not r.label:
                yield Hit(f"outcome '{r.outcome}' has no Vietnamese label, so users would read "
                          f"'{r.outcome}'{did_you_mean(r.outcome, OUTCOME_LABELS)}; use a standard outcome "
                          f"({', '.join(OUTCOME_LABELS)}) or write {r.outcome}: {{to: …, label: \"…\"}}",
                          step=s, loc=r.loc)


@rule("supplement-not-citizen", WARNING,
      "A `supplement` route does not lead to a citizen step, so the clock runs while the applicant supplements.")
def _supplement_not_citizen(ctx: Context) -> Iterator[Hit]:
    if ctx.defn.supplement_clock == "counts":
        return
    for s in ctx.defn.steps:
        r = s.route("supplement")
        if r is None:
            continue
        for t in r.targets:
            target = ctx.by_id.get(t)
            if target is not None and not target.paused:
                yield Hit(f"route 'supplement' leads to '{t}', which is not a citizen step, so the clock "
                          f"keeps running while the applicant supplements (supplement_clock: "
                          f"{ctx.defn.supplement_clock}); route it to a step of kind citizen",
                          step=s, loc=r.loc)


@rule("join-without-split", ERROR,
      "A `join: true` step is not reached from two branches of one parallel split.")
def _join_without_split(ctx: Context) -> Iterator[Hit]:
    splits = list(ctx.branches())
    for s in ctx.defn.steps:
        if not s.join:
            continue
        preds = [p for p in ctx.forward.predecessors(s.id)]
        if len(preds) < 2:
            yield Hit("this step waits for parallel branches (join: true) but only "
                      f"{'one route leads' if preds else 'no route leads'} to it; remove join: true, or route "
                      "every branch of the parallel split to it", step=s, key="join")
            continue
        ok = any(p != q and p in a and q in b
                 for _, _, sets in splits
                 for i, a in enumerate(sets) for j, b in enumerate(sets) if i != j
                 for p in preds for q in preds)
        if not ok:
            yield Hit(f"the routes into this step ({', '.join(preds)}) do not come from different branches "
                      "of one parallel split (a route like `ok: [a, b]`), so it would wait forever; remove "
                      "join: true, or make the steps before it parallel branches", step=s, key="join")


@rule("split-without-join", WARNING, "The branches of a parallel split never meet at a `join: true` step.")
def _split_without_join(ctx: Context) -> Iterator[Hit]:
    for s, r, sets in ctx.branches():
        if len(sets) < 2:
            continue
        common = set.intersection(*sets)
        if any(ctx.by_id[n].join for n in common):
            continue
        meet = sorted(common, key=ctx.index.__getitem__)
        where = (f"they first meet at '{meet[0]}': add join: true there" if meet
                 else "make them meet at a step with join: true")
        yield Hit(f"the parallel branches {', '.join(r.targets)} of route '{r.outcome}' never meet at a step "
                  f"with join: true, so the steps after them would run once per branch; {where}",
                  step=s, loc=r.loc)


# --------------------------------------------------------------------------- rules: units and roles


@rule("missing-unit", ERROR, "A step other than a citizen step has no unit.")
def _missing_unit(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if _needs_unit(s) and not s.unit:
            yield Hit("every step except the applicant's needs a responsible unit; add unit: (a unit id "
                      "from units.yaml)", step=s)


@rule("unknown-unit", ERROR, "A step's unit is not in units.yaml.", needs_units=True)
def _unknown_unit(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.unit and ctx.units.get(s.unit) is None:
            yield Hit(f"unit '{s.unit}' is not in units.yaml{did_you_mean(s.unit, ctx.units.units)}; use a unit "
                      "id from units.yaml (or add the unit there)", step=s, key="unit")


@rule("unit-level", ERROR, "A step's unit belongs to another level than the procedure.", needs_units=True)
def _unit_level(ctx: Context) -> Iterator[Hit]:
    level = ctx.defn.level
    for s in ctx.defn.steps:
        unit = ctx.unit(s)
        if unit is not None and unit.level not in (level, "any"):
            yield Hit(f"unit '{s.unit}' is a {unit.level}-level unit, but this is a {level}-level procedure; "
                      f"use a {level}-level unit (or a partner unit with level: any)", step=s, key="unit")


@rule("missing-role", ERROR, "A human, sign or return step has no role.")
def _missing_role(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.kind in ("human", "sign", "return") and s.unit and not s.role:
            unit = ctx.unit(s)
            roles = f" (one of: {', '.join(unit.roles)})" if unit is not None else ""
            yield Hit(f"say who at '{s.unit}' does this step: add role:{roles}", step=s)


@rule("unknown-role", ERROR, "A step's role does not exist in its unit.", needs_units=True)
def _unknown_role(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        unit = ctx.unit(s)
        if unit is not None and s.role and s.role not in unit.roles:
            yield Hit(f"unit '{s.unit}' has no role '{s.role}'{did_you_mean(s.role, unit.roles)}; its roles are: "
                      f"{', '.join(unit.roles)}", step=s, key="role")


@rule("result-at-one-stop", ERROR, "A final return step is not at the one-stop unit.", needs_units=True)
def _result_at_one_stop(ctx: Context) -> Iterator[Hit]:
    one_stop = [u.id for u in ctx.units.units.values()
                if u.kind == "one_stop" and u.level in (ctx.defn.level, "any")]
    for s in ctx.defn.steps:
        unit = ctx.unit(s)
        if s.terminal and s.kind == "return" and unit is not None and unit.kind != "one_stop":
            hint = f" (e.g. {one_stop[0]})" if one_stop else ""
            yield Hit(f"results and refusals are handed back by the one-stop unit, not '{s.unit}'; put this "
                      f"step at a unit of kind one_stop{hint}", step=s, key="unit")


# --------------------------------------------------------------------------- rules: time


@rule("missing-duration", ERROR, "A step other than a citizen step has no duration.")
def _missing_duration(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if not s.paused and s.duration is None:
            yield Hit("every step except the applicant's needs a working time; add duration: "
                      "(e.g. 4h, 0.5d or 30m)", step=s)


@rule("zero-duration", ERROR, "A step's duration is zero or negative.")
def _zero_duration(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.duration is not None and s.duration <= 0:
            yield Hit("the duration must be positive; give the step its working time (e.g. 30m)",
                      step=s, key="duration")


@rule("citizen-duration", WARNING, "A citizen step has a duration, which the paused clock never counts.")
def _citizen_duration(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.paused and s.duration is not None:
            yield Hit("the clock is paused while the applicant acts, so this duration is never counted; "
                      "remove it (write the applicant's own deadline in notes)", step=s, key="duration")


@rule("over-limit", ERROR,
      "The longest working-time path (citizen steps excluded) exceeds the legal time limit.")
def _over_limit(ctx: Context) -> Iterator[Hit]:
    limit = ctx.defn.time_limit.minutes
    cp = ctx.critical
    if limit is None or cp is None or cp.minutes <= limit:
        return
    unit = ctx.defn.time_limit.unit
    yield Hit(f"the longest path ({_path(cp.steps)}) takes {_in_limit_unit(cp.minutes, unit)} of "
              f"{_limit_words(ctx.defn)}; shorten the steps on it by {_amount(cp.minutes - limit, unit)}",
              key="time_limit")


@rule("under-limit", WARNING,
      "The longest working-time path leaves part of the legal time limit unallocated.")
def _under_limit(ctx: Context) -> Iterator[Hit]:
    limit = ctx.defn.time_limit.minutes
    cp = ctx.critical
    if limit is None or cp is None or cp.minutes >= limit:
        return
    unit = ctx.defn.time_limit.unit
    yield Hit(f"steps allocate {_in_limit_unit(cp.minutes, unit)} of {_limit_words(ctx.defn)}; "
              f"{_amount(limit - cp.minutes, unit)} unallocated: give it to the steps of the longest path "
              f"({_path(cp.steps)}) or keep it as a stated margin", key="time_limit")


# --------------------------------------------------------------------------- rules: signature


@rule("unsigned-result", ERROR,
      "A result can be returned on a path that skips the signer's sign step.")
def _unsigned_result(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    signer = d.signer
    if signer is None or not d.steps:
        return
    signing = [s.id for s in d.steps if s.kind == "sign" and s.unit == signer.unit and s.role == signer.role]
    if not signing:
        yield Hit(f"no sign step is done by the signer ({signer.unit}, {signer.role}); add a step of kind "
                  "sign at that unit and role before the result is returned, or correct signer",
                  key="signer")
        return
    if d.start.id in signing:
        return
    g = ctx.graph.copy()
    g.remove_nodes_from(signing)
    unsigned = nx.descendants(g, d.start.id) | {d.start.id}
    for t in result_terminals(d):
        if t.id in unsigned:
            path = nx.shortest_path(g, d.start.id, t.id)
            yield Hit(f"the result can be returned without the signer's signature (path {_path(path)}); "
                      f"route every path to the result through the sign step '{signing[0]}'", step=t)


# --------------------------------------------------------------------------- catalogue


def lint_catalogue(catalogue: Catalogue) -> list[Finding]:
    """Every finding of a loaded catalogue: its load problems (as errors) and each definition's lint.

    Parameters
    ----------
    catalogue : Catalogue
        As :func:`engine.definition.load_catalogue` returns it.

    Returns
    -------
    list of Finding
        Sorted by file, line, column and rule id. Never raises for a broken
        definition: an unexpected failure becomes an ``internal-error`` finding
        of that definition's file.
    """
    findings = [Finding.from_problem(p) for p in catalogue.problems]
    for defn in catalogue.definitions:
        try:
            findings.extend(lint(defn, catalogue.organisation))
        except Exception as exc:  # pragma: no cover - lint() already guards each rule
            loc = defn.where()
            findings.append(Finding("internal-error", ERROR, loc.file, loc.line, loc.col, None,
                                    f"the definition could not be linted ({type(exc).__name__}: {exc}); "
                                    "this is a bug in quytrinh: please report it with the file"))
    return sorted(findings, key=lambda f: (f.file, f.line, f.col, f.rule_id, f.step or "", f.message))


@rule("one-signature", WARNING,
      "A process has a sign step besides the signer's one (one signing step by the competent leader).")
def _one_signature(ctx: Context) -> Iterator[Hit]:
    signer = ctx.defn.signer
    signs = [s for s in ctx.defn.steps if s.kind == "sign"]
    if signer is None:
        return
    matching = [s for s in signs if (s.unit, s.role) == (signer.unit, signer.role)]
    for s in signs:
        if matching and s is matching[0]:
            continue
        if (s.unit, s.role) == (signer.unit, signer.role):
            yield Hit(f"the signer already signs at step '{matching[0].id}'; one process has one signing step: "
                      "make this step kind: human, or remove it", step=s, key="kind")
        else:
            by = f" ('{matching[0].id}')" if matching else ""
            yield Hit(f"this sign step is done by ({s.unit}, {s.role}), not by the signer ({signer.unit}, "
                      f"{signer.role}){by}; if it only checks or approves internally, make it kind: human, "
                      "or correct signer", step=s, key="kind")
