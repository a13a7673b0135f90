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

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePath
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
    def unknown_targets(self) -> list[tuple[Step, Any, str]]:
        """(step, route, target) of each route to a step that does not exist (a typo in an id)."""
        return [(st, r, t) for st in self.defn.steps for r in st.routes for t in r.targets if t not in self.by_id]

    @cached_property
    def meant_targets(self) -> set[str]:
        """The steps an unknown target most likely means (its close match, the one unknown-target suggests):
        such a step has no route into it only because of that typo."""
        ids = list(self.by_id)
        return {close[0] for _, _, t in self.unknown_targets
                for close in [difflib.get_close_matches(t, ids, n=1, cutoff=0.6)] if close}

    @cached_property
    def meant_signing(self) -> set[str]:
        """The sign steps that are the signer's but for a typo in their unit or role (a unit units.yaml does
        not have, whose close match is the signer's unit; at the signer's unit, a role the unit does not
        have): unknown-unit / unknown-role name the typo; the signature rules do not report it again."""
        signer = self.defn.signer
        if signer is None or self.units is None:
            return set()
        out = set()
        for st in self.defn.steps:
            if st.kind != "sign" or (st.unit, st.role) == (signer.unit, signer.role):
                continue
            unit = self.units.get(st.unit or "")
            if unit is None and st.role == signer.role:
                close = difflib.get_close_matches(st.unit or "", list(self.units.units), n=1, cutoff=0.6)
                if close and close[0] == signer.unit:
                    out.add(st.id)
            elif unit is not None and st.unit == signer.unit and st.role not in unit.roles:
                out.add(st.id)  # the signer's unit, a role it does not have: unknown-role lists its roles
        return out

    @property
    def signer_unknown(self) -> bool:
        """The signer's unit is not in units.yaml, or has not the signer's role (unknown-signer says so): no
        step can match it yet."""
        signer = self.defn.signer
        if signer is None or self.units is None or not signer.unit:
            return False
        unit = self.units.get(signer.unit)
        return unit is None or bool(signer.role) and signer.role not in unit.roles

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
                                    f"quy tắc {r.id} bị lỗi khi chạy ({type(exc).__name__}: {exc}); "
                                    "đây là lỗi của quytrinh: hãy báo lỗi kèm theo tệp này"))
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
        # named by its folder and file (templates/standard.yaml), never by the server's absolute path
        where = "/".join(PurePath(inherited.file).parts[-2:])
        message = f"{message} (kế thừa từ mẫu quy trình {where}, dòng {inherited.line})"
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
        "`path:line:col: rule-id: [bước 'x':] message [lỗi|cảnh báo]`, located at the most precise key, and",
        "its message says what to do; a summary line ends the list (`91 quy trình: 0 lỗi, 71 cảnh báo`).",
        "`--format json` gives the same findings with `severity` `error` or `warning` and the step's id.",
        "Messages and descriptions are in Vietnamese (the reform office reads them); rule ids, YAML keys",
        "and values stay as written, e.g. `limit-unverified: thời hạn giải quyết '15 ngày làm việc' chưa được",
        "kiểm tra; hãy đối chiếu với văn bản pháp luật, ghi căn cứ vào time_limit.source và đặt",
        "time_limit.verified: true`.",
        "Findings of template steps the definition does not override are located at its `extends` key.",
        "A mistyped route target is one finding, `unknown-target`, at the route (with the step id it most",
        "likely means): that step is not also reported as `extra-start`, and `under-limit` waits until every",
        "route leads to an existing step (the path it would measure is cut). Likewise a typo in the signing",
        "step's unit or role (a unit `units.yaml` lacks, close to the signer's; at the signer's unit, a role",
        "it lacks) is one `unknown-unit` / `unknown-role` at the step, and a typo in `signer` one",
        "`unknown-signer`: `unsigned-result` and `one-signature` wait for them to be mended.",
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


def _numbered_path(defn: Definition, steps: Iterable[str]) -> str:
    """A path of steps as the leader's page and the decision's annex number them, for the readers of a
    finding who never see the YAML ids (the leaders, the reform office on the web): "từ Bước 1 đến Bước 7"
    when it is the whole main path, else each step as "Bước 3", or by its name when it is not numbered
    (a parallel step, a case). The finding's location still gives the file and line."""
    from engine.documents import annex_plan

    steps = list(steps)
    plan = annex_plan(defn)
    main = [s.id for s in plan.main]
    if steps == main and len(main) > 1:
        return f"từ Bước 1 đến Bước {len(main)}"
    by_id = defn.steps_by_id()
    out = []
    for sid in steps:
        n = plan.number(sid)
        out.append(f"Bước {n}" if n is not None else f"“{by_id[sid].name}”" if sid in by_id else sid)
    return " → ".join(out)


def _in_limit_unit(minutes: int, unit: str) -> str:
    """A number of working minutes in the limit's own unit (``2,5`` days, ``6`` hours; working days against
    a limit in calendar days, since the steps are sized in working time)."""
    if unit in ("working_days", "calendar_days"):
        return format_number(round(minutes / MINUTES_PER_DAY, 2))
    if unit == "working_hours":
        return format_number(round(minutes / 60, 2))
    return format_minutes(minutes)


def _amount(minutes: int, unit: str) -> str:
    """A difference of working time with its unit word, in the limit's unit (``0,5 ngày``)."""
    if unit == "working_days" and minutes >= MINUTES_PER_DAY // 4:
        return f"{_in_limit_unit(minutes, unit)} ngày"
    if unit == "calendar_days" and minutes >= MINUTES_PER_DAY // 4:  # "ngày" alone would read as calendar days
        return f"{_in_limit_unit(minutes, unit)} ngày làm việc"
    if unit == "working_hours" and minutes >= 60:
        return f"{_in_limit_unit(minutes, unit)} giờ"
    return format_minutes(minutes)


def _in_limit_words(minutes: int, unit: str) -> str:
    """Working minutes with the limit's unit word (``2,5 ngày làm việc``, ``6 giờ làm việc``)."""
    if unit in ("working_days", "calendar_days"):
        return f"{_in_limit_unit(minutes, unit)} ngày làm việc"
    if unit == "working_hours":
        return f"{_in_limit_unit(minutes, unit)} giờ làm việc"
    return format_minutes(minutes)


def _limit_words(defn: Definition) -> str:
    tl = defn.time_limit
    if tl.unit == "working_days":
        return f"{format_number(tl.value)} ngày làm việc" if tl.value is not None else ""
    if tl.unit == "working_hours":
        return f"{format_number(tl.value)} giờ làm việc" if tl.value is not None else ""
    if tl.unit == "calendar_days":
        return (f"{format_number(tl.value)} ngày (tính cả ngày nghỉ; tuần không có ngày lễ có ít nhất "
                f"{_in_limit_words(tl.minutes, tl.unit)})") if tl.value is not None else ""
    return (f"{format_minutes(tl.minutes)} (trả trong ngày: từ giờ chốt nhận hồ sơ {tl.cutoff:%H:%M} "
            "đến hết giờ làm việc)")


def _needs_unit(step: Step) -> bool:
    return not step.paused


# --------------------------------------------------------------------------- rules: the procedure


@rule("code-missing", WARNING, "Mã thủ tục hành chính (mã TTHC) để trống.")
def _code_missing(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if not d.code:
        also = " (code_verified là true nhưng chưa có mã nào để kiểm tra)" if d.code_verified else ""
        yield Hit("mã thủ tục hành chính (mã TTHC) đang để trống" + also + "; hãy tra mã trên Cơ sở dữ liệu "
                  "quốc gia về thủ tục hành chính và điền vào `code` — không được tự đặt mã: khi chưa tìm "
                  "được, để trống và giữ cảnh báo này", key="code")


@rule("code-unverified", WARNING, "Mã TTHC chưa được đánh dấu là đã kiểm tra (code_verified).")
def _code_unverified(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.code and not d.code_verified:
        yield Hit(f"mã TTHC '{d.code}' chưa được kiểm tra; hãy đối chiếu với Cơ sở dữ liệu quốc gia về thủ tục "
                  "hành chính (csdl.thutuchanhchinh.vn) rồi đặt code_verified: true", key="code")


@rule("code-format", WARNING, "Mã không đúng dạng mã TTHC quốc gia (ví dụ 1.001612).")
def _code_format(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.code and not _CODE_RE.match(d.code):
        yield Hit(f"mã '{d.code}' không đúng dạng mã TTHC quốc gia (một chữ số, dấu chấm, sáu chữ số, "
                  "ví dụ 1.001612); hãy chép đúng mã từ Cơ sở dữ liệu quốc gia về thủ tục hành chính",
                  key="code")


#: The longest key (national code, else the file name) a procedure may have: its dossiers' codes are
#: ``<key>-YYYYMMDD-NNNNNN`` and are stored in 64 characters (PostgreSQL enforces it).
KEY_MAX = 48


@rule("key-too-long", ERROR,
      f"Mã nhận diện quy trình (mã TTHC, hoặc tên tệp khi chưa có mã) dài quá {KEY_MAX} ký tự, nên mã hồ sơ "
      "sẽ vượt 64 ký tự.")
def _key_too_long(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if len(d.key) > KEY_MAX:
        what = f"mã '{d.key}'" if d.code else f"tên tệp '{d.key}' (thủ tục chưa có mã TTHC được nhận diện bằng tên tệp)"
        yield Hit(f"{what} dài {len(d.key)} ký tự; mã hồ sơ gồm mã này, ngày tiếp nhận và số thứ tự nên chỉ cho phép "
                  f"tối đa {KEY_MAX} ký tự: hãy "
                  + ("chép đúng mã TTHC" if d.code else "đặt tên tệp ngắn hơn (hoặc điền mã TTHC)"),
                  key="code" if d.code else None)


@rule("limit-missing", ERROR, "Quy trình đã trình hoặc đã phê duyệt nhưng chưa có thời hạn giải quyết theo quy định.")
def _limit_missing(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.time_limit.minutes is None and d.status in ("submitted", "approved"):
        state = "đã trình" if d.status == "submitted" else "đã phê duyệt"
        yield Hit(f"quy trình {state} (status: {d.status}) phải có thời hạn giải quyết theo quy định; hãy điền "
                  "time_limit.value (và unit) theo văn bản pháp luật trước khi chuyển tiếp", key="time_limit")


@rule("limit-missing-draft", WARNING, "Quy trình dự thảo chưa có thời hạn giải quyết theo quy định.")
def _limit_missing_draft(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.time_limit.minutes is None and d.status == "draft":
        yield Hit("chưa có thời hạn giải quyết theo quy định nên chưa kiểm tra được thời gian của các bước; "
                  "hãy điền time_limit.value (và unit) theo văn bản pháp luật", key="time_limit")


@rule("limit-unverified", WARNING,
      "Thời hạn giải quyết theo quy định chưa được đánh dấu là đã kiểm tra (time_limit.verified).")
def _limit_unverified(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.time_limit.minutes is not None and not d.time_limit.verified:
        yield Hit(f"thời hạn giải quyết '{d.time_limit.describe()}' chưa được kiểm tra; hãy đối chiếu với văn bản "
                  "pháp luật, ghi căn cứ vào time_limit.source và đặt time_limit.verified: true",
                  key="time_limit")


@rule("approval-missing", ERROR, "Quy trình đã phê duyệt nhưng không ghi quyết định phê duyệt.")
def _approval_missing(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    if d.status == "approved" and (d.approval is None or not d.approval.decision):
        yield Hit("quy trình ở trạng thái đã phê duyệt nhưng không ghi quyết định phê duyệt; hãy thêm approval: "
                  "{decision: \"…/QĐ-UBND\", date: YYYY-MM-DD, signer: …}, hoặc đưa status về draft",
                  key="approval" if "approval" in d.key_locs else "status")


@rule("missing-signer", ERROR, "Quy trình không ghi lãnh đạo ký kết quả (signer).")
def _missing_signer(ctx: Context) -> Iterator[Hit]:
    if ctx.defn.signer is None or not (ctx.defn.signer.unit and ctx.defn.signer.role):
        yield Hit("quy trình chưa ghi ai ký kết quả; hãy thêm signer: {unit: …, role: …} "
                  "(lãnh đạo có thẩm quyền hoặc được ủy quyền)", key="signer")


@rule("unknown-signer", ERROR, "Đơn vị hoặc vai trò của người ký (signer) không có trong units.yaml.",
      needs_units=True)
def _unknown_signer(ctx: Context) -> Iterator[Hit]:
    s = ctx.defn.signer
    if s is None or not s.unit:
        return
    unit = ctx.units.get(s.unit)
    if unit is None:
        yield Hit(f"đơn vị của người ký '{s.unit}' không có trong units.yaml"
                  f"{_unit_suggestion(s.unit, ctx.units.units)}; hãy dùng mã đơn vị trong units.yaml", key="signer")
    elif s.role and s.role not in unit.roles:
        yield Hit(f"đơn vị '{s.unit}' không có vai trò '{s.role}'{did_you_mean(s.role, unit.roles)}; "
                  f"các vai trò của đơn vị: {', '.join(unit.roles)}", key="signer")


@rule("delegation-unverified", WARNING, "Quyết định ủy quyền để trống hoặc chưa được kiểm tra.")
def _delegation_unverified(ctx: Context) -> Iterator[Hit]:
    dl = ctx.defn.delegation
    if dl is None:
        return
    if not dl.decision:
        yield Hit("phần ủy quyền (delegation) chưa ghi quyết định; hãy ghi quyết định (ví dụ decision: "
                  "\"4610/QĐ-UBND\", date) và đặt verified: true sau khi đã kiểm tra", key="delegation")
    elif not dl.verified:
        yield Hit(f"quyết định ủy quyền '{dl.decision}' chưa được kiểm tra; hãy đối chiếu văn bản quyết định "
                  "và đặt delegation.verified: true", key="delegation")


@rule("legal-basis-missing", WARNING, "Quy trình chưa ghi căn cứ pháp lý.")
def _legal_basis_missing(ctx: Context) -> Iterator[Hit]:
    if not ctx.defn.legal_basis:
        yield Hit("quy trình chưa ghi căn cứ pháp lý; hãy liệt kê các luật, nghị định, thông tư làm căn cứ "
                  "của thủ tục trong legal_basis", key="legal_basis")


@rule("unknown-level", ERROR, "Cấp (level) của quy trình không có trong units.yaml.", needs_units=True)
def _unknown_level(ctx: Context) -> Iterator[Hit]:
    level = ctx.defn.level
    if level and level not in ctx.units.levels:
        yield Hit(f"cấp '{level}' không có trong units.yaml{did_you_mean(level, ctx.units.levels)}; "
                  f"hãy dùng một trong các cấp: {', '.join(ctx.units.levels)}", key="level")


# --------------------------------------------------------------------------- rules: structure


@rule("start-reception", ERROR,
      "Bước đầu tiên không phải bước xử lý (kind: human) tại Bộ phận Một cửa (tiếp nhận hồ sơ).")
def _start_reception(ctx: Context) -> Iterator[Hit]:
    if not ctx.defn.steps:
        yield Hit("quy trình chưa có bước nào; hãy bắt đầu bằng bước tiếp nhận hồ sơ tại Bộ phận Một cửa",
                  key="steps")
        return
    start = ctx.defn.start
    if start.kind != "human":
        yield Hit(f"quy trình bắt đầu bằng một bước loại {start.kind}; bước đầu tiên phải là tiếp nhận hồ sơ "
                  "(bước loại human tại Bộ phận Một cửa): hãy đưa bước tiếp nhận lên đầu",
                  step=start, key="kind" if "kind" in start.key_locs else None)
        return
    unit = ctx.unit(start)
    if unit is not None and unit.kind != "one_stop":
        yield Hit(f"quy trình bắt đầu tại '{start.unit}' ({unit.kind}); việc tiếp nhận hồ sơ do Bộ phận Một cửa "
                  "thực hiện: hãy đặt bước đầu tiên tại một đơn vị loại one_stop",
                  step=start, key="unit")


@rule("extra-start", ERROR,
      "Một bước (không phải bước đầu tiên) không có hướng chuyển nào dẫn tới, thành điểm bắt đầu thứ hai.")
def _extra_start(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps[1:]:
        # a step a mistyped route means ('delivr' for 'deliver') is left to unknown-target, which names it:
        # mending the typo mends both, and one typo is one error, located at the route
        if ctx.graph.in_degree(s.id) == 0 and s.id not in ctx.meant_targets:
            yield Hit("không có hướng chuyển nào dẫn tới bước này nên bước này thành điểm bắt đầu thứ hai; "
                      "hãy cho một bước chuyển tới bước này, hoặc xóa bước", step=s)


@rule("unreachable-step", ERROR, "Không thể đi tới một bước từ bước đầu tiên.")
def _unreachable(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps[1:]:
        if s.id not in ctx.reachable and ctx.graph.in_degree(s.id) > 0:
            yield Hit(f"không thể đi tới bước này từ bước đầu tiên '{ctx.defn.start.id}' (các bước dẫn vào bước "
                      "này cũng không đi tới được); hãy cho một bước đi tới được chuyển sang bước này, hoặc xóa "
                      "bước", step=s)


@rule("unknown-target", ERROR, "Một hướng chuyển dẫn tới bước không tồn tại.")
def _unknown_target(ctx: Context) -> Iterator[Hit]:
    for s, r, t in ctx.unknown_targets:
        yield Hit(f"hướng chuyển '{r.outcome}' dẫn tới bước '{t}' không tồn tại"
                  f"{did_you_mean(t, ctx.by_id)}; hãy dùng mã (id) của một bước trong quy trình này",
                  step=s, loc=r.loc)


@rule("terminal-not-return", ERROR,
      "Một bước không có hướng chuyển nhưng không phải bước trả kết quả (quy trình dừng tại đó).")
def _terminal_not_return(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.terminal and s.kind != "return":
            yield Hit("bước này không có hướng chuyển (routes) nên quy trình sẽ dừng tại đây mà không trả gì; "
                      "hãy thêm routes, hoặc chuyển thành bước trả kết quả (kind: return, ends: result hoặc "
                      "refusal)", step=s)


@rule("terminal-ends", ERROR,
      "Bước trả kết quả cuối cùng không ghi `ends: result|refusal`, hoặc một bước có hướng chuyển lại ghi `ends`.")
def _terminal_ends(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.terminal and s.kind == "return" and s.ends is None:
            yield Hit("hãy ghi bước cuối này trả gì: ends: result (trả kết quả) hoặc ends: refusal "
                      "(trả văn bản từ chối)", step=s)
        elif not s.terminal and s.ends is not None:
            yield Hit("'ends' chỉ dùng cho bước cuối, nhưng bước này có hướng chuyển; hãy bỏ 'ends' hoặc bỏ "
                      "các hướng chuyển", step=s, key="ends")


@rule("no-result-terminal", ERROR,
      "Không có bước cuối nào trả kết quả (chỉ có bước từ chối, hoặc không có bước cuối).")
def _no_result_terminal(ctx: Context) -> Iterator[Hit]:
    if ctx.defn.steps and not result_terminals(ctx.defn):
        yield Hit("không có bước cuối nào trả kết quả; hãy kết thúc quy trình bằng một bước trả kết quả tại "
                  "Bộ phận Một cửa (kind: return, ends: result)", key="steps")


@rule("dead-end", ERROR, "Từ một bước đi tới được, quy trình không bao giờ tới được bước cuối (lặp mãi).")
def _dead_end(ctx: Context) -> Iterator[Hit]:
    g = ctx.graph
    finals = [n for n in g if g.out_degree(n) == 0]
    can_finish = set(finals)
    for n in finals:
        can_finish |= nx.ancestors(g, n)
    for s in ctx.defn.steps:
        if s.id in ctx.reachable and s.id not in can_finish:
            yield Hit("từ bước này quy trình không bao giờ kết thúc được: mọi hướng chuyển đều vòng trở lại; "
                      "hãy thêm một hướng chuyển tới bước trả kết quả hoặc từ chối", step=s)


@rule("unbounded-cycle", ERROR,
      "Một vòng lặp không đi qua bước của tổ chức, cá nhân (tạm dừng tính thời gian) và không có hướng chuyển "
      "nào có `max`.")
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
        yield Hit(f"vòng lặp {_path(path)} có thể lặp lại mãi trong khi thời gian giải quyết vẫn được tính; "
                  f"hãy giới hạn số lần bằng max trên hướng chuyển quay lại (ví dụ "
                  f"{route.outcome if route else 'rework'}: {{to: {v}, max: 2}}), hoặc cho vòng lặp đi qua "
                  "một bước của tổ chức, cá nhân (kind: citizen)",
                  step=ctx.by_id[u], loc=route.loc if route else None)


@rule("max-without-loop", WARNING, "Một hướng chuyển có `max` nhưng không quay lại thành vòng lặp.")
def _max_without_loop(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        for r in s.routes:
            if r.max is not None and not any(t in ctx.graph and nx.has_path(ctx.graph, t, s.id)
                                             for t in r.targets):
                yield Hit(f"hướng chuyển '{r.outcome}' có max: {r.max}, dùng để giới hạn số lần làm lại, nhưng "
                          "không quay lại bước này; hãy bỏ max", step=s, loc=r.loc)


@rule("duplicate-target", WARNING, "Hai kết quả xử lý của cùng một bước dẫn tới cùng một bước.")
def _duplicate_target(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        seen: dict[str, str] = {}
        for r in s.routes:
            for t in r.targets:
                if t in seen:
                    yield Hit(f"kết quả '{seen[t]}' và '{r.outcome}' cùng dẫn tới '{t}', sơ đồ chỉ giữ được một; "
                              "hãy giữ một kết quả (đặt label nếu cần)", step=s, loc=r.loc)
                else:
                    seen[t] = r.outcome


@rule("unknown-outcome", WARNING,
      "Một kết quả xử lý không có nhãn tiếng Việt (không phải kết quả chuẩn và không có `label`).")
def _unknown_outcome(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        for r in s.routes:
            if r.outcome not in OUTCOME_LABELS and not r.label:
                yield Hit(f"kết quả '{r.outcome}' không có nhãn tiếng Việt nên người dùng sẽ thấy "
                          f"'{r.outcome}'{did_you_mean(r.outcome, OUTCOME_LABELS)}; hãy dùng một kết quả chuẩn "
                          f"({', '.join(OUTCOME_LABELS)}) hoặc ghi {r.outcome}: {{to: …, label: \"…\"}}",
                          step=s, loc=r.loc)


@rule("supplement-not-citizen", WARNING,
      "Hướng chuyển `supplement` không dẫn tới bước của tổ chức, cá nhân, nên thời gian vẫn được tính trong khi "
      "người nộp bổ sung hồ sơ.")
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
                yield Hit(f"hướng chuyển 'supplement' dẫn tới '{t}', không phải bước của tổ chức, cá nhân, nên "
                          "thời gian giải quyết vẫn được tính trong khi người nộp bổ sung hồ sơ (supplement_clock: "
                          f"{ctx.defn.supplement_clock}); hãy chuyển tới một bước loại citizen",
                          step=s, loc=r.loc)


#: Words of a step name that speak of the financial obligations (fees, land levy, taxes).
_FINANCIAL_WORDS = re.compile(r"nghĩa vụ tài chính|nộp tiền|nộp thuế|lệ phí trước bạ", re.I)


@rule("financial-unmarked", WARNING,
      "Một bước của tổ chức, cá nhân nói về nghĩa vụ tài chính nhưng không ghi `pause_reason: financial`, nên hồ sơ "
      "hiện trạng thái 5 (yêu cầu bổ sung) thay vì 6 và phát sinh Phiếu yêu cầu bổ sung (Mẫu 02).")
def _financial_unmarked(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.kind == "citizen" and not s.financial and _FINANCIAL_WORDS.search(s.name):
            yield Hit("bước này là việc thực hiện nghĩa vụ tài chính nhưng đang được xử lý như yêu cầu bổ sung hồ sơ "
                      "(trạng thái 5, Phiếu yêu cầu bổ sung – Mẫu 02, có thể tính lại thời gian từ đầu); hãy thêm "
                      "pause_reason: financial để hồ sơ ở trạng thái 6 và thời gian luôn tạm dừng rồi tính tiếp",
                      step=s, key="kind")


@rule("join-without-split", ERROR,
      "Một bước `join: true` không được hai nhánh của cùng một điểm rẽ nhánh song song dẫn tới.")
def _join_without_split(ctx: Context) -> Iterator[Hit]:
    splits = list(ctx.branches())
    for s in ctx.defn.steps:
        if not s.join:
            continue
        preds = [p for p in ctx.forward.predecessors(s.id)]
        if len(preds) < 2:
            yield Hit("bước này chờ các nhánh song song (join: true) nhưng "
                      f"{'chỉ có một hướng chuyển' if preds else 'không có hướng chuyển nào'} dẫn tới; hãy bỏ "
                      "join: true, hoặc cho mọi nhánh của điểm rẽ song song chuyển tới bước này",
                      step=s, key="join")
            continue
        ok = any(p != q and p in a and q in b
                 for _, _, sets in splits
                 for i, a in enumerate(sets) for j, b in enumerate(sets) if i != j
                 for p in preds for q in preds)
        if not ok:
            yield Hit(f"các hướng chuyển vào bước này ({', '.join(preds)}) không đến từ các nhánh khác nhau của "
                      "cùng một điểm rẽ song song (hướng chuyển dạng `ok: [a, b]`), nên bước này sẽ chờ mãi; hãy "
                      "bỏ join: true, hoặc biến các bước trước nó thành các nhánh song song", step=s, key="join")


@rule("split-without-join", WARNING,
      "Các nhánh của một điểm rẽ song song không gặp nhau tại bước nào có `join: true`.")
def _split_without_join(ctx: Context) -> Iterator[Hit]:
    for s, r, sets in ctx.branches():
        if len(sets) < 2:
            continue
        common = set.intersection(*sets)
        if any(ctx.by_id[n].join for n in common):
            continue
        meet = sorted(common, key=ctx.index.__getitem__)
        where = (f"các nhánh gặp nhau lần đầu tại '{meet[0]}': hãy thêm join: true ở bước đó" if meet
                 else "hãy cho các nhánh gặp nhau tại một bước có join: true")
        yield Hit(f"các nhánh song song {', '.join(r.targets)} của hướng chuyển '{r.outcome}' không gặp nhau tại "
                  f"bước nào có join: true, nên các bước sau đó sẽ chạy lặp lại theo từng nhánh; {where}",
                  step=s, loc=r.loc)


# --------------------------------------------------------------------------- rules: units and roles


@rule("missing-unit", ERROR, "Một bước (trừ bước của tổ chức, cá nhân) chưa có đơn vị thực hiện.")
def _missing_unit(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if _needs_unit(s) and not s.unit:
            yield Hit("mọi bước, trừ bước của tổ chức, cá nhân, đều cần đơn vị chịu trách nhiệm; hãy thêm unit: "
                      "(mã đơn vị trong units.yaml)", step=s)


def closest_unit(unit_id: str, known: Iterable[str]) -> str | None:
    """The unit id of ``known`` closest to ``unit_id``, judged on what tells ids apart; None if none is close.

    Unit ids share prefixes (``phong_``, ``xa_``): compared whole, 'phong_ldtbxh' looks like 'phong_qldt'
    (an unrelated office) and an author could route dossiers there. The shared prefix is left out and the
    rest must be close (a typo, a transposition, a letter too many or too few).
    """
    import difflib

    best, score = "", 0.0
    for other in known:
        common = len(os.path.commonprefix([unit_id, other]))
        cut = unit_id.rfind("_", 0, common) + 1  # the shared prefix up to its last underscore
        ratio = difflib.SequenceMatcher(None, unit_id[cut:], other[cut:]).ratio()
        if ratio > score:
            best, score = other, ratio
    return best if score >= 0.75 else None


def _unit_suggestion(unit_id: str, known: Iterable[str]) -> str:
    """`` (có phải là 'x' không?)`` for the unit id closest to ``unit_id`` (:func:`closest_unit`), else ''."""
    best = closest_unit(unit_id, known)
    return f" (có phải là '{best}' không?)" if best else ""


@rule("unknown-unit", ERROR, "Đơn vị của một bước không có trong units.yaml.", needs_units=True)
def _unknown_unit(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.unit and ctx.units.get(s.unit) is None:
            yield Hit(f"đơn vị '{s.unit}' không có trong units.yaml{_unit_suggestion(s.unit, ctx.units.units)}; hãy "
                      "dùng mã đơn vị trong units.yaml (hoặc bổ sung đơn vị vào đó)", step=s, key="unit")


@rule("merged-unit", WARNING,
      "Một bước (hoặc người ký) giao việc cho đơn vị đã hợp nhất vào đơn vị khác (merged_into trong units.yaml).",
      needs_units=True)
def _merged_unit(ctx: Context) -> Iterator[Hit]:
    # A warning, not an error: the engine opens such a step at the successor, so the process still runs; and an
    # approved process naming the old unit stays in force until a new one is approved (an error would refuse the
    # whole catalogue at `quytrinh publish`, the merge included, until every file was edited).
    def replaced(unit_id: str) -> tuple[str, str]:
        last = ctx.units.successor(unit_id) or ""
        direct = ctx.units.units[unit_id].merged_into
        via = f" (qua '{direct}')" if direct != last else ""
        return last, (f"đơn vị '{unit_id}' đã hợp nhất vào '{last}'{via} theo units.yaml; công việc của bước này "
                      f"được mở tại '{last}'")
    # A unit the template takes from a parameter (``unit: ${office}``, ``with: {office: ...}``) is changed once,
    # in the definition's ``with:`` (editing the template would change every process that extends it).
    by_param: dict[str, list[Step]] = {}
    for s in ctx.defn.steps:
        unit = ctx.unit(s)
        if unit is None or not unit.merged_into:
            continue
        names, at = s.params.get("unit", ()), s.where("unit")
        if len(names) == 1 and at is not None and at.file != ctx.defn.source:  # inherited, from a parameter
            by_param.setdefault(names[0], []).append(s)
            continue
        last, said = replaced(s.unit)  # type: ignore[arg-type]
        yield Hit(f"{said}; hãy sửa thành unit: {last}", step=s, key="unit")
    for name, steps in by_param.items():
        for unit_id in dict.fromkeys(s.unit for s in steps):
            same = [s for s in steps if s.unit == unit_id]
            last = ctx.units.successor(unit_id) or ""  # type: ignore[arg-type]
            direct = ctx.units.units[unit_id].merged_into  # type: ignore[index]
            via = f" (qua '{direct}')" if direct != last else ""
            where = ctx.defn.param_locs.get(name)
            fix = (f"hãy sửa thành with: {{{name}: {last}}}" if where is not None else
                   "hãy sửa tham số with: của extends")
            yield Hit(f"tham số '{name}' của mẫu quy trình '{ctx.defn.extends}' là đơn vị '{unit_id}', đã hợp nhất "
                      f"vào '{last}'{via} theo units.yaml; công việc của {len(same)} bước lấy đơn vị từ tham số này "
                      f"({', '.join(s.id for s in same)}) được mở tại '{last}'; {fix} (không sửa mẫu: các quy "
                      f"trình khác cũng dùng mẫu này)", loc=where or ctx.defn.where("with"))
    signer = ctx.defn.signer
    unit = ctx.units.get(signer.unit) if signer is not None else None
    if unit is not None and unit.merged_into:
        last = ctx.units.successor(unit.id)
        yield Hit(f"người ký thuộc đơn vị '{unit.id}', đã hợp nhất vào '{last}' theo units.yaml; hãy sửa thành "
                  f"signer: {{unit: {last}, role: {signer.role}}}", key="signer")  # type: ignore[union-attr]


@rule("unit-level", ERROR, "Đơn vị của một bước thuộc cấp khác với cấp của thủ tục.", needs_units=True)
def _unit_level(ctx: Context) -> Iterator[Hit]:
    level = ctx.defn.level
    if level not in ctx.units.levels:  # unknown-level says so once; no advice to use units of a level that does not exist
        return
    for s in ctx.defn.steps:
        unit = ctx.unit(s)
        if unit is not None and unit.level not in (level, "any"):
            yield Hit(f"đơn vị '{s.unit}' thuộc cấp '{unit.level}', nhưng đây là thủ tục cấp '{level}'; hãy dùng "
                      f"đơn vị cấp '{level}' (hoặc đơn vị phối hợp có level: any)", step=s, key="unit")


@rule("missing-role", ERROR, "Một bước xử lý, ký duyệt hoặc trả kết quả chưa có vai trò thực hiện (role).")
def _missing_role(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.kind in ("human", "sign", "return") and s.unit and not s.role:
            unit = ctx.unit(s)
            roles = f" (một trong: {', '.join(unit.roles)})" if unit is not None else ""
            yield Hit(f"hãy ghi ai tại '{s.unit}' thực hiện bước này: thêm role:{roles}", step=s)


@rule("unknown-role", ERROR, "Vai trò (role) của một bước không có trong đơn vị của bước đó.", needs_units=True)
def _unknown_role(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        unit = ctx.unit(s)
        if unit is not None and s.role and s.role not in unit.roles:
            yield Hit(f"đơn vị '{s.unit}' không có vai trò '{s.role}'{did_you_mean(s.role, unit.roles)}; các vai "
                      f"trò của đơn vị: {', '.join(unit.roles)}", step=s, key="role")


@rule("result-at-one-stop", ERROR, "Bước trả kết quả cuối cùng không đặt tại Bộ phận Một cửa.", needs_units=True)
def _result_at_one_stop(ctx: Context) -> Iterator[Hit]:
    one_stop = [u.id for u in ctx.units.units.values()
                if u.kind == "one_stop" and u.level in (ctx.defn.level, "any")]
    for s in ctx.defn.steps:
        unit = ctx.unit(s)
        if s.terminal and s.kind == "return" and unit is not None and unit.kind != "one_stop":
            hint = f" (ví dụ {one_stop[0]})" if one_stop else ""
            yield Hit(f"kết quả và văn bản từ chối do Bộ phận Một cửa trả, không phải '{s.unit}'; hãy đặt bước "
                      f"này tại một đơn vị loại one_stop{hint}", step=s, key="unit")


# --------------------------------------------------------------------------- rules: time


@rule("missing-duration", ERROR, "Một bước (trừ bước của tổ chức, cá nhân) chưa có thời gian xử lý.")
def _missing_duration(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if not s.paused and s.duration is None:
            yield Hit("mọi bước, trừ bước của tổ chức, cá nhân, đều cần thời gian xử lý; hãy thêm duration: "
                      "(ví dụ 4h, 0.5d hoặc 30m)", step=s)


@rule("zero-duration", ERROR, "Thời gian xử lý của một bước bằng 0 hoặc âm.")
def _zero_duration(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.duration is not None and s.duration <= 0:
            yield Hit("thời gian xử lý phải lớn hơn 0; hãy ghi thời gian làm việc của bước (ví dụ 30m)",
                      step=s, key="duration")


@rule("citizen-duration", WARNING,
      "Bước của tổ chức, cá nhân có thời gian xử lý, nhưng thời gian đó không được tính (tạm dừng tính thời gian).")
def _citizen_duration(ctx: Context) -> Iterator[Hit]:
    for s in ctx.defn.steps:
        if s.paused and s.duration is not None:
            yield Hit("thời gian giải quyết tạm dừng khi tổ chức, cá nhân thực hiện nên thời gian này không bao giờ "
                      "được tính; hãy bỏ duration (ghi thời hạn dành cho tổ chức, cá nhân vào notes)",
                      step=s, key="duration")


@rule("over-limit", ERROR,
      "Đường dài nhất theo thời gian làm việc (không tính bước của tổ chức, cá nhân) vượt thời hạn giải quyết "
      "theo quy định.")
def _over_limit(ctx: Context) -> Iterator[Hit]:
    limit = ctx.defn.time_limit.minutes
    cp = ctx.critical
    if limit is None or cp is None or cp.minutes <= limit:
        return
    unit = ctx.defn.time_limit.unit
    yield Hit(f"đường dài nhất ({_numbered_path(ctx.defn, cp.steps)}) cần {_in_limit_words(cp.minutes, unit)}, "
              f"vượt thời hạn "
              f"{_limit_words(ctx.defn)}; hãy rút ngắn các bước trên đường này tổng cộng "
              f"{_amount(cp.minutes - limit, unit)}", key="time_limit")


@rule("under-limit", WARNING,
      "Đường dài nhất theo thời gian làm việc chưa dùng hết thời hạn giải quyết theo quy định.")
def _under_limit(ctx: Context) -> Iterator[Hit]:
    limit = ctx.defn.time_limit.minutes
    cp = ctx.critical
    if limit is None or cp is None or cp.minutes >= limit:
        return
    if ctx.unknown_targets:  # the path is cut at a route to a missing step: its time says nothing yet
        return
    unit = ctx.defn.time_limit.unit
    spare = _amount(limit - cp.minutes, unit)
    yield Hit(f"các bước mới phân bổ {_in_limit_words(cp.minutes, unit)} trên thời hạn {_limit_words(ctx.defn)}; "
              f"còn {spare} chưa phân bổ: hãy giao thêm cho các bước của đường dài nhất "
              f"({_numbered_path(ctx.defn, cp.steps)}), hoặc giữ làm thời gian dự phòng và ghi rõ điều đó trong "
              f"phần ghi chú (notes) của quy trình, ví dụ “dự phòng {spare}”", key="time_limit")


# --------------------------------------------------------------------------- rules: signature


@rule("unsigned-result", ERROR,
      "Kết quả có thể được trả theo một đường không qua bước ký của người ký (signer).")
def _unsigned_result(ctx: Context) -> Iterator[Hit]:
    d = ctx.defn
    signer = d.signer
    if signer is None or not d.steps:
        return
    signing = [s.id for s in d.steps if s.kind == "sign" and s.unit == signer.unit and s.role == signer.role]
    if not signing and (ctx.meant_signing or ctx.signer_unknown):  # a typo its own finding names
        return
    if not signing:
        yield Hit(f"không có bước ký duyệt nào do người ký ({signer.unit}, {signer.role}) thực hiện; hãy thêm "
                  "một bước loại sign tại đơn vị và vai trò đó trước khi trả kết quả, hoặc sửa signer",
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
            yield Hit(f"kết quả có thể được trả mà không có chữ ký của người ký (đường {_path(path)}); "
                      f"hãy cho mọi đường tới bước trả kết quả đi qua bước ký '{signing[0]}'", step=t)


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
                                    f"không kiểm tra được quy trình do lỗi của chương trình "
                                    f"({type(exc).__name__}: {exc}); đây là lỗi của quytrinh: hãy báo lỗi kèm "
                                    "theo tệp này"))
    return sorted(findings, key=lambda f: (f.file, f.line, f.col, f.rule_id, f.step or "", f.message))


@rule("one-signature", WARNING,
      "Quy trình có bước ký duyệt ngoài bước ký của người ký (mỗi quy trình chỉ một bước ký của lãnh đạo có "
      "thẩm quyền).")
def _one_signature(ctx: Context) -> Iterator[Hit]:
    signer = ctx.defn.signer
    signs = [s for s in ctx.defn.steps if s.kind == "sign"]
    if signer is None:
        return
    if ctx.signer_unknown:  # unknown-signer names the typo in signer
        return
    matching = [s for s in signs if (s.unit, s.role) == (signer.unit, signer.role)]
    for s in signs:
        if matching and s is matching[0] or s.id in ctx.meant_signing:
            continue
        if (s.unit, s.role) == (signer.unit, signer.role):
            yield Hit(f"người ký đã ký tại bước '{matching[0].id}'; mỗi quy trình chỉ có một bước ký: hãy chuyển "
                      "bước này thành kind: human, hoặc xóa bước", step=s, key="kind")
        else:
            by = f" (ký tại bước '{matching[0].id}')" if matching else ""
            yield Hit(f"bước ký này do ({s.unit}, {s.role}) thực hiện, không phải người ký ({signer.unit}, "
                      f"{signer.role}){by}; nếu bước này chỉ kiểm tra hoặc duyệt nội bộ, hãy chuyển thành "
                      "kind: human, hoặc sửa signer", step=s, key="kind")
