"""The procedure model: units, templates and internal-process definitions.

A definition is plain, frozen data. It is read from YAML with source positions
(:mod:`engine.yamlsrc`), its template (``extends``) is expanded, and the
expanded result is what the linter checks, the renderer draws and the engine
runs. Nothing here executes or draws anything.

The format is documented in ``docs/definition-format.md``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from engine import calendar as _calendar
from engine.errors import CalendarError, DefinitionError, Location, Problem
from engine.yamlsrc import LMap, LSeq, load_file, load_stored

MINUTES_PER_DAY = 480  # a working day is 8 working hours

STEP_KINDS = ("human", "citizen", "automated", "sign", "return")
UNIT_KINDS = ("one_stop", "office", "leadership", "clerk", "external", "citizen")
ONLINE_LEVELS = ("toan_trinh", "mot_phan", "none")
CLOCK_POLICIES = ("pause", "restart", "counts")
STATUSES = ("draft", "submitted", "approved")
LIMIT_UNITS = ("working_days", "working_hours", "same_day", "calendar_days")
ENDS = ("result", "refusal")
#: What a citizen step waits for (engine.sla.PauseReason): supplementation (form 02) or the
#: financial obligations (fees, taxes) assessed by another agency; either way the clock stops.
PAUSE_REASONS = ("supplement", "financial")

#: Vietnamese labels shown to users.
STEP_KIND_LABELS = {
    "human": "Xử lý",
    "citizen": "Tổ chức, cá nhân (tạm dừng tính thời gian)",
    "automated": "Tự động",
    "sign": "Ký duyệt",
    "return": "Trả kết quả",
}
ONLINE_LEVEL_LABELS = {"toan_trinh": "Toàn trình", "mot_phan": "Một phần", "none": "Không"}
STATUS_LABELS = {"draft": "Dự thảo", "submitted": "Chờ phê duyệt", "approved": "Đã phê duyệt"}
CLOCK_LABELS = {
    "pause": "Tạm dừng tính thời gian khi bổ sung hồ sơ",
    "restart": "Tính lại từ đầu khi nhận đủ hồ sơ bổ sung",
    "counts": "Thời gian bổ sung được tính vào thời hạn",
}
OUTCOME_LABELS = {
    "done": "Hoàn thành",
    "ok": "Đạt",
    "accept": "Tiếp nhận",
    "supplement": "Yêu cầu bổ sung",
    "refuse": "Từ chối",
    "rework": "Làm lại",
    "approve": "Phê duyệt",
    "reject": "Không phê duyệt",
    "supplemented": "Đã bổ sung",
    "consult": "Lấy ý kiến",
    "agree": "Thống nhất",
    "withdraw": "Rút hồ sơ",
}

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Unit:
    """One organisational unit (one-stop unit, specialist office, leaders, clerk...)."""

    id: str
    name: str
    level: str
    kind: str
    roles: Mapping[str, str]
    short: str = ""
    loc: Location | None = field(default=None, compare=False)
    #: The unit this one was merged into (``merged_into`` in units.yaml): it no longer exists, and its
    #: work goes there. Its roles stay listed: each is the same role at the successor.
    merged_into: str = ""

    @property
    def label(self) -> str:
        return self.short or self.name


@dataclass(frozen=True)
class Organisation:
    """The units of an administration, with the levels it knows."""

    levels: tuple[str, ...]
    units: Mapping[str, Unit]
    name: str = ""
    communes: tuple[str, ...] = ()
    source: str = ""

    def get(self, unit_id: str | None) -> Unit | None:
        return self.units.get(unit_id) if unit_id else None

    def successor(self, unit_id: str | None) -> str | None:
        """The unit that now does the work of ``unit_id``: the end of its ``merged_into`` chain
        (A → B → C gives C), or None when ``unit_id`` was not merged (or is unknown)."""
        return resolve_successor(unit_id, {u.id: u.merged_into for u in self.units.values() if u.merged_into})

    def successors(self) -> dict[str, str]:
        """Every merged unit and the unit that now does its work (chains resolved)."""
        direct = {u.id: u.merged_into for u in self.units.values() if u.merged_into}
        return {uid: resolve_successor(uid, direct) or uid for uid in direct}


def resolve_successor(unit_id: str | None, merged_into: Mapping[str, str]) -> str | None:
    """The end of ``unit_id``'s chain in ``merged_into`` (unit -> the unit it was merged into), or None
    when it was not merged. A cycle (refused by :func:`load_units`) stops at the last unit before it
    repeats."""
    if not unit_id or unit_id not in merged_into:
        return None
    seen = {unit_id}
    current = unit_id
    while True:
        nxt = merged_into.get(current)
        if not nxt or nxt in seen:
            return current
        seen.add(nxt)
        current = nxt


_COMMUNE_PREFIX = re.compile(r"^(xã|thị trấn|phường)\s+")


def commune_key(name: str) -> str:
    """A commune's name as compared: NFC, spaces collapsed, case folded ("xã  bát tràng" is "Xã Bát Tràng")."""
    return unicodedata.normalize("NFC", " ".join(name.split())).casefold()


def find_commune(name: str, known: Iterable[str]) -> str | None:
    """The commune of ``known`` (units.yaml ``communes:``, as written there) that ``name`` names, or None.

    Case, spacing and Unicode normalisation do not matter, and the "Xã " / "Thị trấn " / "Phường "
    prefix may be left out ("bát tràng" is "Xã Bát Tràng") when that leaves one commune only.
    """
    known = tuple(known)
    key = commune_key(name)
    for c in known:
        if commune_key(c) == key:
            return c
    stem = _COMMUNE_PREFIX.sub("", key)
    found = [c for c in known if _COMMUNE_PREFIX.sub("", commune_key(c)) == stem]
    return found[0] if len(found) == 1 else None


def closest_commune(name: str, known: Iterable[str]) -> str | None:
    """The commune of ``known`` whose name is closest to a misspelt ``name`` (a hint), or None."""
    by_stem = {_COMMUNE_PREFIX.sub("", commune_key(c)): c for c in known}
    close = difflib.get_close_matches(_COMMUNE_PREFIX.sub("", commune_key(name)), list(by_stem), n=1, cutoff=0.6)
    return by_stem[close[0]] if close else None


@dataclass(frozen=True)
class Route:
    """One outcome of a step and where it leads.

    ``targets`` has one step id, or several for a parallel split. ``max`` bounds
    a rework loop (how many times this route may be taken for one dossier).
    """

    outcome: str
    targets: tuple[str, ...]
    max: int | None = None
    label: str | None = None
    loc: Location | None = field(default=None, compare=False)

    @property
    def display(self) -> str:
        return self.label or OUTCOME_LABELS.get(self.outcome, self.outcome)

    @property
    def parallel(self) -> bool:
        return len(self.targets) > 1


@dataclass(frozen=True)
class Step:
    """One step of an internal process."""

    id: str
    name: str
    kind: str = "human"
    unit: str | None = None
    role: str | None = None
    duration: int | None = None  # working minutes
    produces: tuple[str, ...] = ()
    notes: str = ""
    routes: tuple[Route, ...] = ()
    join: bool = False
    ends: str | None = None  # for terminal return steps: result | refusal
    pause_reason: str = "supplement"  # citizen steps: what the citizen does (PAUSE_REASONS)
    loc: Location | None = field(default=None, compare=False)
    key_locs: Mapping[str, Location] = field(default_factory=dict, compare=False)
    #: The keys whose value came from the template's parameters (``unit: ${office}``): key -> parameter names
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    @property
    def terminal(self) -> bool:
        return not self.routes

    @property
    def paused(self) -> bool:
        """True when the SLA clock is paused during this step (the citizen acts)."""
        return self.kind == "citizen"

    @property
    def financial(self) -> bool:
        """True for a citizen step that waits for the financial obligations (national status 6).

        Unlike a supplementation, it produces no form 02, is not counted as a
        supplement request, and always stops the clock, which then resumes and
        never restarts, whatever the procedure's ``supplement_clock``.
        """
        return self.kind == "citizen" and self.pause_reason == "financial"

    def route(self, outcome: str) -> Route | None:
        for r in self.routes:
            if r.outcome == outcome:
                return r
        return None

    def where(self, key: str | None = None) -> Location | None:
        """The location of a key of this step, or of the step itself."""
        if key and key in self.key_locs:
            return self.key_locs[key]
        return self.loc


@dataclass(frozen=True)
class TimeLimit:
    """The legal time limit of a procedure."""

    value: float | None
    unit: str = "working_days"
    cutoff: dt.time = dt.time(15, 0)
    source: str = ""
    basis: str = ""
    verified: bool = False
    note: str = ""

    @property
    def minutes(self) -> int | None:
        """The limit in working minutes (same-day: the window from the cut-off to closing; calendar days:
        the working days they always hold in a week without holidays, :func:`nominal_working_days`)."""
        if self.unit == "calendar_days":
            return None if self.value is None else nominal_working_days(int(self.value)) * MINUTES_PER_DAY
        if self.unit == "same_day":
            # Received just before the cut-off, the result is still due the same day:
            # the internal process must fit between the cut-off and 17:00.
            return max(0, (17 * 60) - (self.cutoff.hour * 60 + self.cutoff.minute))
        if self.value is None:
            return None
        if self.unit == "working_hours":
            return round(self.value * 60)
        return round(self.value * MINUTES_PER_DAY)

    def describe(self) -> str:
        """The limit as people write it, e.g. ``3 ngày làm việc``."""
        if self.unit == "same_day":
            return f"trong ngày (nhận sau {self.cutoff:%H:%M} trả trong ngày làm việc tiếp theo)"
        if self.value is None:
            return "chưa xác định"
        number = format_number(self.value)
        if self.unit == "calendar_days":
            return f"{number} ngày"
        return f"{number} giờ làm việc" if self.unit == "working_hours" else f"{number} ngày làm việc"


def nominal_working_days(days: int) -> int:
    """The working days a limit of ``days`` calendar days always holds in a week without holidays.

    The limit runs from the day after receipt and, when its last day is a
    Saturday or a Sunday, ends with the next Monday (Civil Code 2015 Art. 147,
    148; :meth:`engine.calendar.WorkCalendar.calendar_days_due`). Received at
    closing time on the least favourable weekday, the dossier has this many
    whole working days (Monday to Friday): 15 days hold 11, 30 hold 21. The
    linter fits the steps into it; a holiday in the window shortens a real
    dossier's time, which its own clock counts.
    """
    best = days
    for receipt in range(7):  # 0 = Monday
        last = receipt + days
        while last % 7 in (5, 6):
            last += 1
        best = min(best, sum(1 for d in range(receipt + 1, last + 1) if d % 7 < 5))
    return best


@dataclass(frozen=True)
class Delegation:
    """The delegation (ủy quyền) under which a lower level handles the procedure."""

    decision: str = ""
    date: dt.date | None = None
    by: str = ""
    verified: bool = False


@dataclass(frozen=True)
class Approval:
    """The decision approving this internal process."""

    decision: str
    date: dt.date | None = None
    signer: str = ""


@dataclass(frozen=True)
class Signer:
    """The unit and role whose leader signs the result."""

    unit: str
    role: str


@dataclass(frozen=True)
class Definition:
    """An expanded internal-process definition (templates already applied)."""

    code: str
    name: str
    field: str
    level: str
    authority: str
    signer: Signer | None
    time_limit: TimeLimit
    steps: tuple[Step, ...]
    code_verified: bool = False
    delegation: Delegation | None = None
    legal_basis: tuple[str, ...] = ()
    online_level: str = "none"
    supplement_clock: str = "pause"
    status: str = "draft"
    version: int = 1
    approval: Approval | None = None
    extends: str | None = None
    notes: str = ""
    source: str = ""
    loc: Location | None = field(default=None, compare=False)
    key_locs: Mapping[str, Location] = field(default_factory=dict, compare=False)
    #: The key of a procedure without a national code when it is not named by its file: the
    #: ``procedure_code`` it was published under, for a definition loaded back from the database
    #: (whose source is ``<code vN>``). Empty: the file's stem.
    slug: str = field(default="", compare=False)
    #: Where each of the template's parameters is given (its key under ``with:``)
    param_locs: Mapping[str, Location] = field(default_factory=dict, compare=False)

    # -- navigation

    @property
    def key(self) -> str:
        """A stable identifier: the national code, else the slug it was published under, else the file stem."""
        return self.code or self.slug or Path(self.source).stem

    @property
    def start(self) -> Step:
        return self.steps[0]

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def steps_by_id(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    def outcome_label(self, step_id: str | None, outcome: str | None) -> str:
        """What people read for ``outcome`` of ``step_id``: the route's ``label``, else the standard label."""
        if not outcome:
            return ""
        for s in self.steps:
            if s.id == step_id:
                route = s.route(outcome)
                if route is not None:
                    return route.display
                break
        return OUTCOME_LABELS.get(outcome, outcome)

    def where(self, key: str | None = None) -> Location:
        if key and key in self.key_locs:
            return self.key_locs[key]
        return self.loc or Location(self.source)


def format_number(value: float) -> str:
    """Vietnamese number: decimal comma, no trailing zeros (1.5 -> '1,5')."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")


def format_minutes(minutes: int | None) -> str:
    """A working duration as written in process tables: ``0,5 ngày``, ``4 giờ``, ``1,5 giờ``,
    ``1 giờ 45 phút``, ``30 phút``.

    Whole half days in days; else whole hours and half hours over an hour in hours; else hours and
    minutes (``105`` -> ``1 giờ 45 phút``, never ``105 phút``), minutes alone under an hour.
    """
    if minutes is None:
        return "–"
    if minutes % 60 == 0 and minutes >= MINUTES_PER_DAY // 2 and (minutes * 2) % MINUTES_PER_DAY == 0:
        return f"{format_number(minutes / MINUTES_PER_DAY)} ngày"
    if minutes % 60 == 0:
        return f"{minutes // 60} giờ"
    if minutes > 60 and (minutes * 2) % 60 == 0:
        return f"{format_number(minutes / 60)} giờ"
    hours, rest = divmod(minutes, 60)
    return f"{hours} giờ {rest} phút" if hours > 0 else f"{minutes} phút"


def parse_duration(text: Any) -> int:
    """Parse ``0.5d``, ``4h``, ``30m`` (or ``1,5d``) into working minutes.

    The grammar is :func:`engine.calendar.parse_duration`'s; this wrapper
    turns its error into the ``ValueError`` the loader locates, with a
    message in Vietnamese (the author reads it).

    Raises
    ------
    ValueError
        When the text is not a number followed by d, h or m.
    """
    try:
        return _calendar.parse_duration(text)
    except CalendarError:
        raise ValueError(_duration_problem(text)) from None


def _duration_problem(text: Any) -> str:
    """Why ``text`` is not a working duration, and how to write it."""
    how = f"ví dụ 0.5d, 4h, 30m; d là ngày làm việc = {MINUTES_PER_DAY // 60} giờ, h là giờ, m là phút"
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return f"thời gian {text} thiếu đơn vị: hãy ghi {text}d, {text}h hoặc {text}m"
    if not isinstance(text, str):
        return f"thời gian phải là một chuỗi chữ ({how})"
    stripped = text.strip()
    if not stripped:
        return f"thời gian đang để trống; hãy ghi một số kèm đơn vị ({how})"
    if re.fullmatch(r"\d+(?:[.,]\d+)?", stripped):
        return f"thời gian '{text}' thiếu đơn vị: hãy ghi {stripped}d, {stripped}h hoặc {stripped}m"
    if re.fullmatch(r"(?:\s*(?:\d+(?:[.,]\d+)?|[.,]\d+)\s*[dhm]\s*)+", text, re.IGNORECASE):
        return f"thời gian '{text}' không tròn số phút; hãy ghi thời gian tính được bằng số phút nguyên ({how})"
    return f"'{text}' không phải là thời gian xử lý: hãy ghi một số kèm đơn vị d, h hoặc m ({how})"


def duration_text(minutes: int) -> str:
    """The inverse of :func:`parse_duration`, in the shortest exact form."""
    return _calendar.format_duration(minutes)


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.6, otherwise: str = "") -> str:
    """`` (có phải là 'x' không?)`` (did you mean 'x'?) for the closest of ``choices``, else ``otherwise``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (có phải là '{close[0]}' không?)" if close else otherwise


# --------------------------------------------------------------------------- reading


class _Reader:
    """Collects located problems while typed values are read from located data."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, loc: Location | None, rule: str, message: str, step: str | None = None) -> None:
        self.problems.append(Problem(loc or Location(self.file, 1, 1), rule, message, step))

    def check_keys(self, data: LMap, allowed: Iterable[str], what: str, step: str | None = None) -> None:
        allowed = list(allowed)
        for key in data:
            if key not in allowed:
                hint = did_you_mean(key, allowed, cutoff=0.6,
                                    otherwise=f"; các khóa được dùng: {', '.join(allowed)}")
                self.problem(data.key_locs.get(key), "unknown-key", f"khóa '{key}' không hợp lệ trong {what}{hint}",
                             step)

    def loc_of(self, data: Any, key: str | None = None) -> Location | None:
        if isinstance(data, LMap):
            if key is not None and key in data.key_locs:
                return data.key_locs[key]
            return data.loc
        if isinstance(data, LSeq):
            return data.loc
        return None

    def text(self, data: LMap, key: str, *, required: bool = False, default: str = "",
             step: str | None = None, what: str = "") -> str:
        if key not in data or data[key] is None:
            if required:
                self.problem(self.loc_of(data), "missing-key",
                             f"{what or 'nhóm khóa này'} thiếu khóa '{key}'", step)
            return default
        value = data[key]
        if isinstance(value, (LMap, LSeq)) or isinstance(value, bool):
            self.problem(self.loc_of(data, key), "wrong-type", f"'{key}' phải là một chuỗi chữ", step)
            return default
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        return str(value).strip()

    def choice(self, data: LMap, key: str, choices: tuple[str, ...], default: str,
               step: str | None = None) -> str:
        value = self.text(data, key, default=default, step=step)
        if value not in choices:
            hint = did_you_mean(value, choices, cutoff=0.5)
            self.problem(self.loc_of(data, key), "bad-value",
                         f"'{key}' đang là '{value}'; giá trị phải là một trong: {', '.join(choices)}{hint}",
                         step)
            return default
        return value

    def boolean(self, data: LMap, key: str, default: bool = False, step: str | None = None) -> bool:
        if key not in data or data[key] is None:
            return default
        if not isinstance(data[key], bool):
            self.problem(self.loc_of(data, key), "wrong-type", f"'{key}' phải là true hoặc false", step)
            return default
        return data[key]

    def integer(self, data: LMap, key: str, default: int | None = None, step: str | None = None,
                minimum: int = 1) -> int | None:
        if key not in data or data[key] is None:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(self.loc_of(data, key), "wrong-type",
                         f"'{key}' phải là số nguyên ≥ {minimum}", step)
            return default
        return value

    def date(self, data: LMap, key: str, step: str | None = None) -> dt.date | None:
        if key not in data or data[key] in (None, ""):
            return None
        value = data[key]
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.problem(self.loc_of(data, key), "wrong-type",
                         f"'{key}' phải là ngày viết theo dạng YYYY-MM-DD", step)
            return None

    def text_list(self, data: LMap, key: str, step: str | None = None) -> tuple[str, ...]:
        if key not in data or data[key] is None:
            return ()
        value = data[key]
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, LSeq) or any(isinstance(v, (LMap, LSeq)) for v in value):
            self.problem(self.loc_of(data, key), "wrong-type", f"'{key}' phải là danh sách các chuỗi chữ", step)
            return ()
        return tuple(str(v) for v in value)

    def mapping(self, data: LMap, key: str, step: str | None = None) -> LMap | None:
        if key not in data or data[key] is None:
            return None
        if not isinstance(data[key], LMap):
            self.problem(self.loc_of(data, key), "wrong-type",
                         f"'{key}' phải là một nhóm khóa con (dạng khóa: giá trị)", step)
            return None
        return data[key]

    def raise_if_any(self) -> None:
        if self.problems:
            raise DefinitionError(self.problems)


# --------------------------------------------------------------------------- units

UNITS_FILE_KEYS = ("organisation", "levels", "communes", "units")
UNIT_KEYS = ("id", "name", "short", "level", "kind", "roles", "merged_into")
#: Kinds of unit that cannot take over the work of a merged one: partner agencies outside the
#: administration and the applicant.
NO_SUCCESSOR_KINDS = ("external", "citizen")


def load_units(path: str | os.PathLike) -> Organisation:
    """Load ``units.yaml``: the organisation's levels and units.

    Raises
    ------
    DefinitionError
        With every located problem of the file; nothing is loaded.
    """
    path = str(path)
    data = load_file(path)
    r = _Reader(path)
    if not isinstance(data, LMap):
        r.problem(getattr(data, "loc", None) or Location(path, 1, 1), "wrong-type",
                  "units.yaml phải là một nhóm khóa gồm 'levels' và 'units'")
        r.raise_if_any()
    r.check_keys(data, UNITS_FILE_KEYS, "units.yaml")
    levels = r.text_list(data, "levels") or ("district", "commune")
    units: dict[str, Unit] = {}
    merges: list[tuple[str, LMap]] = []
    raw_units = data.get("units")
    if not isinstance(raw_units, LSeq):
        r.problem(r.loc_of(data, "units"), "missing-key", "units.yaml cần danh sách đơn vị 'units'")
        raw_units = LSeq()
    for i, raw in enumerate(raw_units):
        if not isinstance(raw, LMap):
            r.problem(raw_units.item_locs[i], "wrong-type",
                      "mỗi đơn vị phải là một nhóm khóa gồm id, name, level, kind, roles")
            continue
        r.check_keys(raw, UNIT_KEYS, "đơn vị")
        uid = r.text(raw, "id", required=True, what="đơn vị")
        if uid and not _ID_RE.match(uid):
            r.problem(r.loc_of(raw, "id"), "bad-id",
                      f"mã đơn vị '{uid}' phải viết dạng lower_snake_case (chữ thường a-z, số 0-9, dấu _)")
        if uid in units:
            r.problem(r.loc_of(raw, "id"), "duplicate-unit", f"mã đơn vị '{uid}' được khai báo hai lần")
        level = r.text(raw, "level", required=True, what=f"đơn vị '{uid}'")
        if level and level not in levels and level != "any":
            r.problem(r.loc_of(raw, "level"), "bad-value",
                      f"đơn vị '{uid}' có cấp '{level}'; các cấp đã khai báo: {', '.join(levels)} (hoặc 'any')")
        kind = r.choice(raw, "kind", UNIT_KINDS, "office")
        roles_raw = r.mapping(raw, "roles")
        roles = {str(k): str(v) for k, v in (roles_raw or {}).items()}
        if not roles:
            r.problem(r.loc_of(raw), "missing-key",
                      f"đơn vị '{uid}' cần 'roles' (mỗi dòng một vai trò — mã vai trò: chức danh tiếng Việt)")
        merged = r.text(raw, "merged_into")
        units[uid] = Unit(uid, r.text(raw, "name", required=True, what=f"đơn vị '{uid}'"), level, kind,
                          roles, r.text(raw, "short"), raw.loc, merged)
        if merged:
            merges.append((uid, raw))
    for uid, raw in merges:
        _check_merge(units[uid], units, raw, r)
    r.raise_if_any()
    return Organisation(tuple(levels), units, r.text(data, "organisation"),
                        r.text_list(data, "communes"), path)


def units_file_header(path: str | os.PathLike) -> Organisation:
    """What can still be read of a ``units.yaml`` that :func:`load_units` refuses: the organisation's name,
    levels and communes, with no unit.

    A mistake in a unit (a mistyped ``merged_into``, a role its successor lacks) leaves the file's
    ``organisation:``, ``levels:`` and ``communes:`` as the reform office wrote them, and the forms are
    headed by that name. Each of the three is left empty when it has a problem of its own, and all are
    when the file is not readable YAML or not a mapping. The database stores the units, not these
    (engine.organisation.stored_organisation joins the two).
    """
    path = str(path)
    try:
        data = load_file(path)
    except (DefinitionError, OSError):
        return Organisation((), {}, source=path)
    if not isinstance(data, LMap):
        return Organisation((), {}, source=path)

    def clean(read: Any) -> Any:
        r = _Reader(path)
        value = read(r)
        return None if r.problems else value

    name = clean(lambda r: r.text(data, "organisation")) or ""
    levels = clean(lambda r: r.text_list(data, "levels")) or ()
    communes = clean(lambda r: r.text_list(data, "communes")) or ()
    return Organisation(tuple(levels), {}, name, tuple(communes), path)


_LEVEL_NAMES = {"district": "cấp huyện", "commune": "cấp xã", "province": "cấp tỉnh", "any": "mọi cấp"}


def _level_name(level: str) -> str:
    """``cấp huyện`` for ``district``; an unknown level as written (``cấp 'x'``)."""
    return _LEVEL_NAMES.get(level, f"cấp '{level}'")


def _check_merge(unit: Unit, units: Mapping[str, Unit], raw: LMap, r: _Reader) -> None:
    """The located problems of ``unit``'s ``merged_into``: the successor must exist, not be the unit itself
    nor lead back to it, be of the same level and not a partner agency or the applicant; every role of
    ``unit`` must exist at the end of the chain (its work keeps its role there)."""
    loc = r.loc_of(raw, "merged_into")
    target = units.get(unit.merged_into)
    if target is None:
        hint = did_you_mean(unit.merged_into, [u for u in units if u != unit.id], cutoff=0.75)
        r.problem(loc, "unknown-successor",
                  f"đơn vị '{unit.id}' hợp nhất vào '{unit.merged_into}', nhưng units.yaml không có đơn vị này"
                  f"{hint}; merged_into phải là mã một đơn vị trong units.yaml")
        return
    chain = [unit.id]
    current = unit
    while current.merged_into and current.merged_into in units:
        if current.merged_into in chain:
            cycle = " → ".join(chain[chain.index(current.merged_into):] + [current.merged_into])
            r.problem(loc, "merge-cycle",
                      f"merged_into tạo thành vòng lặp: {cycle}; đơn vị cuối cùng của chuỗi hợp nhất phải là "
                      f"một đơn vị còn hoạt động (không có merged_into)")
            return
        chain.append(current.merged_into)
        current = units[current.merged_into]
    refused = target.kind in NO_SUCCESSOR_KINDS or target.level != unit.level
    if target.kind in NO_SUCCESSOR_KINDS:
        r.problem(loc, "bad-successor",
                  f"đơn vị '{unit.id}' không thể hợp nhất vào '{target.id}' (loại {target.kind}): công việc của "
                  f"đơn vị chỉ chuyển sang một đơn vị thuộc bộ máy (loại one_stop, office, leadership hoặc clerk)")
    elif target.level != unit.level:  # (one reason a line: a partner agency's level is beside the point)
        r.problem(loc, "bad-successor",
                  f"đơn vị '{unit.id}' ({_level_name(unit.level)}) không thể hợp nhất vào '{target.id}' thuộc "
                  f"{_level_name(target.level)}; đơn vị kế thừa phải cùng cấp")
    if refused:  # (its roles are beside the point)
        return
    last = current
    roles_raw = raw.get("roles")
    for role in unit.roles:
        if role not in last.roles:
            where = roles_raw.key_locs.get(role) if isinstance(roles_raw, LMap) else None
            via = f" (qua {' → '.join(chain[1:])})" if len(chain) > 2 else ""
            r.problem(where or loc, "successor-role",
                      f"đơn vị '{unit.id}' hợp nhất vào '{last.id}'{via}, nhưng '{last.id}' không có vai trò "
                      f"'{role}': công việc của vai trò này sẽ không ai nhận được; hãy thêm vai trò '{role}' vào "
                      f"'{last.id}' (các vai trò hiện có: {', '.join(last.roles)}), hoặc bỏ vai trò khỏi "
                      f"'{unit.id}' nếu không quy trình nào giao việc cho vai trò đó")


# --------------------------------------------------------------------------- templates

PROCEDURE_KEYS = (
    "code", "code_verified", "name", "field", "level", "authority", "signer", "delegation",
    "legal_basis", "time_limit", "online_level", "supplement_clock", "status", "version",
    "approval", "extends", "with", "steps", "remove_steps", "notes",
)
TEMPLATE_KEYS = ("template", "description", "params", "steps")
STEP_KEYS = ("id", "name", "kind", "unit", "role", "duration", "produces", "notes", "routes",
             "join", "ends", "pause_reason")
OVERRIDE_KEYS = STEP_KEYS + ("after", "before")
LIMIT_KEYS = ("value", "unit", "cutoff", "source", "basis", "verified", "note")
DELEGATION_KEYS = ("decision", "date", "by", "verified")
APPROVAL_KEYS = ("decision", "date", "signer")
ROUTE_KEYS = ("to", "max", "label")


@dataclass(frozen=True)
class Template:
    """A reusable step pattern that definitions ``extends``."""

    name: str
    description: str
    params: tuple[str, ...]
    steps: tuple[LMap, ...]  # raw located step mappings, expanded per definition
    source: str


def load_template(path: str | os.PathLike) -> Template:
    """Load one template file (``template: NAME`` + ``steps``)."""
    path = str(path)
    data = load_file(path)
    r = _Reader(path)
    if not isinstance(data, LMap):
        r.problem(getattr(data, "loc", None) or Location(path, 1, 1), "wrong-type",
                  "mẫu quy trình phải là một nhóm khóa gồm 'template' và 'steps'")
        r.raise_if_any()
    r.check_keys(data, TEMPLATE_KEYS, "mẫu quy trình")
    name = r.text(data, "template", required=True, what="mẫu quy trình")
    steps = data.get("steps")
    if not isinstance(steps, LSeq) or not steps:
        r.problem(r.loc_of(data, "steps"), "missing-key", "mẫu quy trình cần danh sách bước 'steps' (không để trống)")
        steps = LSeq()
    if name and name != Path(path).stem:
        r.problem(r.loc_of(data, "template"), "template-name",
                  f"mẫu '{name}' phải nằm trong tệp tên {name}.yaml")
    r.raise_if_any()
    return Template(name, r.text(data, "description"), r.text_list(data, "params"), tuple(steps), path)


def load_templates(directory: str | os.PathLike) -> dict[str, Template]:
    """Load every ``*.yaml`` template of a folder (an absent folder gives none)."""
    out: dict[str, Template] = {}
    d = Path(directory)
    if not d.is_dir():
        return out
    problems: list[Problem] = []
    for p in sorted(d.glob("*.yaml")):
        try:
            t = load_template(p)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        out[t.name] = t
    if problems:
        raise DefinitionError(problems)
    return out


# --------------------------------------------------------------------------- definitions


def _substitute(value: Any, params: Mapping[str, str], r: _Reader, loc: Location | None, used: set[str]) -> Any:
    if isinstance(value, str) and "${" in value:
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            used.add(name)
            if name not in params:
                r.problem(loc, "missing-param", f"mẫu quy trình cần giá trị cho '{name}': hãy thêm vào mục 'with:'")
                return m.group(0)
            return str(params[name])
        return re.sub(r"\$\{([a-z_][a-z0-9_]*)\}", repl, value)
    if isinstance(value, LMap):
        out = LMap()
        out.loc, out.key_locs = value.loc, dict(value.key_locs)
        out.params = {}  # type: ignore[attr-defined]  # key -> the parameters its value came from
        for k, v in value.items():
            out[k] = _substitute(v, params, r, value.key_locs.get(k, loc), used)
            if isinstance(v, str) and "${" in v:
                out.params[k] = tuple(re.findall(r"\$\{([a-z_][a-z0-9_]*)\}", v))  # type: ignore[attr-defined]
        return out
    if isinstance(value, LSeq):
        out = LSeq()
        out.loc, out.item_locs = value.loc, list(value.item_locs)
        out.extend(_substitute(v, params, r, value.item_locs[i], used) for i, v in enumerate(value))
        return out
    return value


def _merge_step(base: LMap, over: LMap) -> LMap:
    """An override mapping merged over a template step; routes merge per outcome."""
    out = LMap()
    out.loc = base.loc
    out.key_locs = dict(base.key_locs)
    out.params = {k: v for k, v in getattr(base, "params", {}).items() if k not in over}  # type: ignore[attr-defined]
    for k, v in base.items():
        out[k] = v
    for k, v in over.items():
        if k in ("after", "before"):
            continue
        if k == "routes" and isinstance(v, LMap) and isinstance(base.get("routes"), LMap):
            merged = LMap()
            merged.loc = v.loc
            merged.key_locs = dict(base["routes"].key_locs)
            merged.update(base["routes"])
            for rk, rv in v.items():
                if rv is None:
                    merged.pop(rk, None)
                    merged.key_locs.pop(rk, None)
                else:
                    merged[rk] = rv
                    merged.key_locs[rk] = v.key_locs[rk]
            out["routes"] = merged
        else:
            out[k] = v
        out.key_locs[k] = over.key_locs[k]
    return out


def _expand_steps(data: LMap, templates: Mapping[str, Template], r: _Reader) -> list[LMap]:
    """The definition's raw step mappings with its template applied, in table order."""
    own = data.get("steps")
    if own is None:
        own = LSeq()
        own.loc, own.item_locs = data.loc, []
    if not isinstance(own, LSeq):
        r.problem(r.loc_of(data, "steps"), "wrong-type", "'steps' phải là danh sách các bước")
        return []
    for i, item in enumerate(own):
        if not isinstance(item, LMap):
            r.problem(own.item_locs[i], "wrong-type", "mỗi bước phải là một nhóm khóa, có ít nhất 'id'")
    own_steps = [s for s in own if isinstance(s, LMap)]
    extends = data.get("extends")
    if not extends:
        for s in own_steps:
            for k in ("after", "before"):
                if k in s:
                    r.problem(s.key_locs[k], "unknown-key",
                              f"'{k}' dùng để đặt vị trí một bước trong mẫu quy trình, nhưng quy trình này "
                              f"không có 'extends'; hãy bỏ '{k}' hoặc thêm 'extends'")
        return own_steps
    template = templates.get(str(extends))
    if template is None:
        hint = did_you_mean(str(extends), templates,
                            otherwise=(f"; các mẫu hiện có: {', '.join(sorted(templates))}" if templates
                                       else "; chưa có mẫu quy trình nào (procedures_yaml/templates/)"))
        r.problem(r.loc_of(data, "extends"), "unknown-template", f"không có mẫu quy trình '{extends}'{hint}")
        return []
    params_raw = r.mapping(data, "with") or {}
    params = {str(k): ("" if v is None else str(v)) for k, v in params_raw.items()}
    used: set[str] = set()
    steps: list[LMap] = [_substitute(s, params, r, s.loc, used) for s in template.steps]
    for name in params:
        if name not in template.params and name not in used:
            r.problem(r.loc_of(params_raw, name) if isinstance(params_raw, LMap) else None, "unknown-param",
                      f"mẫu '{template.name}' không có tham số '{name}'"
                      f" (tham số của mẫu: {', '.join(template.params) or 'không có'})")
    removed = r.text_list(data, "remove_steps")
    ids = [str(s.get("id")) for s in steps]
    for rid in removed:
        if rid not in ids:
            hint = did_you_mean(rid, ids)
            r.problem(r.loc_of(data, "remove_steps"), "unknown-step",
                      f"remove_steps ghi bước '{rid}', nhưng mẫu '{template.name}' không có bước này{hint}")
    steps = [s for s in steps if str(s.get("id")) not in removed]
    template_ids = {str(s.get("id")) for s in steps}
    overridden: dict[str, LMap] = {}  # a template step's id -> the entry of 'steps' that changes it
    for over in own_steps:
        sid = str(over.get("id", ""))
        index = {str(s.get("id")): i for i, s in enumerate(steps)}
        if sid in template_ids:
            if sid in overridden:  # the second entry would be merged silently over the first
                r.problem(r.loc_of(over, "id"), "duplicate-step",
                          f"bước '{sid}' của mẫu đã được sửa ở mục trước (tại {overridden[sid].loc}); hãy gộp hai "
                          f"mục thành một", sid)
                continue
            overridden[sid] = over
            steps[index[sid]] = _merge_step(steps[index[sid]], over)
            continue
        if sid in index:  # a new step given twice: the check of the steps says so
            steps.append(over)
            continue
        if "name" not in over and "after" not in over and "before" not in over:
            # Neither a new step (it has no name and no place) nor a step of the template: a slip in the id
            # of a step to change; without this it became a new step missing its name.
            hint = did_you_mean(sid, template_ids)
            r.problem(r.loc_of(over, "id"), "unknown-step",
                      f"mẫu '{template.name}' không có bước '{sid}' để sửa{hint}; một bước mới cần 'name' và vị "
                      f"trí ('after' hoặc 'before')", sid)
            continue
        clean = LMap()
        clean.loc, clean.key_locs = over.loc, {k: v for k, v in over.key_locs.items() if k not in ("after", "before")}
        clean.update({k: v for k, v in over.items() if k not in ("after", "before")})
        anchor_key = "after" if "after" in over else "before" if "before" in over else None
        if anchor_key is None:
            steps.append(clean)
            continue
        anchor = str(over[anchor_key])
        if anchor not in index:
            hint = did_you_mean(anchor, index)
            r.problem(over.key_locs[anchor_key], "unknown-step",
                      f"'{anchor_key}: {anchor}' không trỏ tới bước nào của quy trình sau khi áp dụng mẫu{hint}",
                      sid)
            steps.append(clean)
            continue
        steps.insert(index[anchor] + (1 if anchor_key == "after" else 0), clean)
    return steps


def _read_routes(raw: Any, r: _Reader, sid: str, loc: Location | None) -> tuple[Route, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, LMap):
        r.problem(loc, "wrong-type",
                  "'routes' phải gán mỗi kết quả xử lý với một mã bước, một danh sách mã bước (song song) "
                  "hoặc {to:, max:, label:}", sid)
        return ()
    routes = []
    for outcome, target in raw.items():
        oloc = raw.key_locs.get(outcome)
        if not _ID_RE.match(outcome):
            r.problem(oloc, "bad-id",
                      f"kết quả xử lý '{outcome}' phải viết dạng lower_snake_case (a-z, 0-9, _)", sid)
        max_n, label = None, None
        if isinstance(target, LMap):
            r.check_keys(target, ROUTE_KEYS, f"hướng chuyển '{outcome}'", sid)
            max_n = r.integer(target, "max", step=sid)
            label = r.text(target, "label", step=sid) or None
            target = target.get("to")
        if isinstance(target, str):
            targets: tuple[str, ...] = (target,)
        elif isinstance(target, LSeq) and target and all(isinstance(t, str) for t in target):
            targets = tuple(target)
        else:
            r.problem(oloc, "wrong-type",
                      f"hướng chuyển '{outcome}' phải dẫn tới một mã bước hoặc một danh sách mã bước", sid)
            continue
        if len(set(targets)) != len(targets):
            r.problem(oloc, "bad-value", f"hướng chuyển '{outcome}' ghi cùng một bước hai lần", sid)
        routes.append(Route(outcome, targets, max_n, label, oloc))
    return tuple(routes)


def _read_step(raw: LMap, r: _Reader) -> Step | None:
    sid = r.text(raw, "id", required=True, what="bước")
    if not sid:
        return None
    if not _ID_RE.match(sid):
        r.problem(r.loc_of(raw, "id"), "bad-id", f"mã bước '{sid}' phải viết dạng lower_snake_case (a-z, 0-9, _)",
                  sid)
    r.check_keys(raw, STEP_KEYS, f"bước '{sid}'", sid)
    kind = r.choice(raw, "kind", STEP_KINDS, "human", sid)
    duration = None
    if raw.get("duration") is not None:
        try:
            duration = parse_duration(raw["duration"])
        except ValueError as exc:
            r.problem(r.loc_of(raw, "duration"), "bad-duration", str(exc), sid)
    ends = None
    if raw.get("ends") is not None:
        ends = r.choice(raw, "ends", ENDS, "result", sid)
    pause_reason = "supplement"
    if raw.get("pause_reason") is not None:
        pause_reason = r.choice(raw, "pause_reason", PAUSE_REASONS, "supplement", sid)
        if kind != "citizen":
            r.problem(r.loc_of(raw, "pause_reason"), "bad-value",
                      f"'pause_reason' chỉ dùng cho bước của tổ chức, cá nhân (kind: citizen); bước '{sid}' "
                      f"có kind '{kind}': bỏ khóa này hoặc đặt kind: citizen", sid)
    return Step(
        id=sid,
        name=r.text(raw, "name", required=True, step=sid, what=f"bước '{sid}'"),
        kind=kind,
        unit=r.text(raw, "unit", step=sid) or None,
        role=r.text(raw, "role", step=sid) or None,
        duration=duration,
        produces=r.text_list(raw, "produces", sid),
        notes=r.text(raw, "notes", step=sid),
        routes=_read_routes(raw.get("routes"), r, sid, r.loc_of(raw, "routes")),
        join=r.boolean(raw, "join", step=sid),
        ends=ends,
        pause_reason=pause_reason,
        loc=raw.loc,
        key_locs=dict(raw.key_locs),
        params=dict(getattr(raw, "params", {})),
    )


def _read_time_limit(data: LMap, r: _Reader) -> TimeLimit:
    raw = r.mapping(data, "time_limit")
    if raw is None:
        r.problem(r.loc_of(data), "missing-key",
                  "quy trình thiếu khóa 'time_limit' (gồm value, unit: working_days | working_hours | same_day "
                  "| calendar_days, source, verified)")
        return TimeLimit(None)
    r.check_keys(raw, LIMIT_KEYS, "time_limit")
    unit = r.choice(raw, "unit", LIMIT_UNITS, "working_days")
    value = raw.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        r.problem(r.loc_of(raw, "value"), "wrong-type", "time_limit.value phải là một số dương")
        value = None
    if value is None and unit != "same_day":
        pass  # an unknown limit is allowed for a draft; the linter flags it
    elif unit == "calendar_days" and value is not None and not float(value).is_integer():
        r.problem(r.loc_of(raw, "value"), "wrong-type",
                  "thời hạn tính theo ngày (unit: calendar_days) phải là số ngày nguyên, ví dụ 15")
        value = None
    cutoff = dt.time(15, 0)
    if raw.get("cutoff") is not None:
        c = raw["cutoff"]
        text = f"{c // 60:02d}:{c % 60:02d}" if isinstance(c, int) and not isinstance(c, bool) else str(c)
        try:
            cutoff = dt.time.fromisoformat(text)
        except ValueError:
            r.problem(r.loc_of(raw, "cutoff"), "wrong-type",
                      "time_limit.cutoff phải là giờ viết theo dạng HH:MM (đặt trong dấu nháy, ví dụ \"15:00\")")
    return TimeLimit(
        value=float(value) if value is not None else None,
        unit=unit,
        cutoff=cutoff,
        source=r.text(raw, "source"),
        basis=r.text(raw, "basis"),
        verified=r.boolean(raw, "verified"),
        note=r.text(raw, "note"),
    )


def definition_from_data(data: Any, file: str, templates: Mapping[str, Template] | None = None) -> Definition:
    """Build an expanded :class:`Definition` from located data.

    Raises
    ------
    DefinitionError
        With every located problem found; nothing is returned then.
    """
    r = _Reader(file)
    if not isinstance(data, LMap):
        r.problem(getattr(data, "loc", None) or Location(file, 1, 1), "wrong-type",
                  "quy trình phải là một nhóm khóa, có ít nhất code, name, time_limit và steps")
        r.raise_if_any()
    if "template" in data and "code" not in data:
        r.problem(data.key_locs["template"], "template-in-catalogue",
                  "đây là một mẫu quy trình; hãy đặt tệp vào thư mục procedures_yaml/templates/")
        r.raise_if_any()
    r.check_keys(data, PROCEDURE_KEYS, "quy trình")
    raw_steps = _expand_steps(data, templates or {}, r)
    steps: list[Step] = []
    seen: dict[str, Step] = {}
    for raw in raw_steps:
        s = _read_step(raw, r)
        if s is None:
            continue
        if s.id in seen:
            r.problem(s.where("id"), "duplicate-step",
                      f"mã bước '{s.id}' bị dùng hai lần (lần đầu tại {seen[s.id].loc}); hãy đổi một mã", s.id)
            continue
        seen[s.id] = s
        steps.append(s)
    if not steps and not r.problems:
        r.problem(r.loc_of(data, "steps"), "missing-key", "quy trình chưa có bước nào (steps)")
    signer = None
    raw_signer = r.mapping(data, "signer")
    if raw_signer is not None:
        r.check_keys(raw_signer, ("unit", "role"), "signer")
        signer = Signer(r.text(raw_signer, "unit", required=True, what="người ký (signer)"),
                        r.text(raw_signer, "role", required=True, what="người ký (signer)"))
    delegation = None
    raw_del = r.mapping(data, "delegation")
    if raw_del is not None:
        r.check_keys(raw_del, DELEGATION_KEYS, "delegation")
        delegation = Delegation(r.text(raw_del, "decision"), r.date(raw_del, "date"), r.text(raw_del, "by"),
                                r.boolean(raw_del, "verified"))
    approval = None
    raw_app = r.mapping(data, "approval")
    if raw_app is not None:
        r.check_keys(raw_app, APPROVAL_KEYS, "approval")
        approval = Approval(r.text(raw_app, "decision", required=True, what="phần phê duyệt (approval)"),
                            r.date(raw_app, "date"), r.text(raw_app, "signer"))
    code = r.text(data, "code")
    defn = Definition(
        code=code,
        code_verified=r.boolean(data, "code_verified"),
        name=r.text(data, "name", required=True, what="quy trình"),
        field=r.text(data, "field", required=True, what="quy trình"),
        level=r.text(data, "level", required=True, what="quy trình"),
        authority=r.text(data, "authority"),
        signer=signer,
        delegation=delegation,
        legal_basis=r.text_list(data, "legal_basis"),
        time_limit=_read_time_limit(data, r),
        online_level=r.choice(data, "online_level", ONLINE_LEVELS, "none"),
        supplement_clock=r.choice(data, "supplement_clock", CLOCK_POLICIES, "pause"),
        status=r.choice(data, "status", STATUSES, "draft"),
        version=r.integer(data, "version", 1) or 1,
        approval=approval,
        extends=str(data["extends"]) if data.get("extends") else None,
        notes=r.text(data, "notes"),
        steps=tuple(steps),
        source=file,
        loc=data.loc,
        key_locs=dict(data.key_locs),
        param_locs=dict(data["with"].key_locs) if isinstance(data.get("with"), LMap) else {},
    )
    r.raise_if_any()
    return defn


def load_definition(path: str | os.PathLike, templates: Mapping[str, Template] | None = None) -> Definition:
    """Load and expand one definition file (see :func:`definition_from_data`)."""
    path = str(path)
    return definition_from_data(load_file(path), path, templates)


# --------------------------------------------------------------------------- writing


#: Published versions read back: (version id, content hash) -> definition (see :func:`stored_definition`).
STORED_DEFINITIONS: dict[tuple[int, str], Definition] = {}
STORED_LOCK = threading.Lock()


def stored_definition(row: Any) -> Definition:
    """The :class:`Definition` a published version row holds (``engine.store.DefinitionVersion``), parsed
    once per process and content (:data:`STORED_DEFINITIONS`).

    Its stored text is read with :func:`engine.yamlsrc.load_stored` (libyaml; the values :func:`load_text`
    gives). A procedure without a national code keeps the slug it was published under as its key.
    """
    key = (row.id or 0, row.content_hash)
    with STORED_LOCK:
        cached = STORED_DEFINITIONS.get(key)
    if cached is not None:
        return cached
    name = f"<{row.procedure_code} v{row.version}>"
    defn = definition_from_data(load_stored(row.content, name), name)
    if not defn.code:  # its key is what it was published under, not the stem of "<slug vN>"
        defn = replace(defn, slug=row.procedure_code)
    with STORED_LOCK:
        STORED_DEFINITIONS[key] = defn
    return defn


def definition_to_data(defn: Definition) -> dict[str, Any]:
    """The expanded definition as plain data (no ``extends``): YAML-ready, round-trips."""
    tl = defn.time_limit
    limit: dict[str, Any] = {"value": (int(tl.value) if tl.value is not None and float(tl.value).is_integer() else tl.value),
                             "unit": tl.unit}
    if tl.unit == "same_day" or tl.cutoff != dt.time(15, 0):
        limit["cutoff"] = tl.cutoff.strftime("%H:%M")
    for k in ("basis", "source", "note"):
        if getattr(tl, k):
            limit[k] = getattr(tl, k)
    limit["verified"] = tl.verified
    if limit["value"] is None:
        del limit["value"]
    out: dict[str, Any] = {
        "code": defn.code,
        "code_verified": defn.code_verified,
        "name": defn.name,
        "field": defn.field,
        "level": defn.level,
    }
    if defn.authority:
        out["authority"] = defn.authority
    if defn.signer:
        out["signer"] = {"unit": defn.signer.unit, "role": defn.signer.role}
    if defn.delegation:
        d = defn.delegation
        out["delegation"] = {k: v for k, v in (("decision", d.decision), ("date", d.date), ("by", d.by)) if v}
        out["delegation"]["verified"] = d.verified
    if defn.legal_basis:
        out["legal_basis"] = list(defn.legal_basis)
    out["time_limit"] = limit
    out["online_level"] = defn.online_level
    out["supplement_clock"] = defn.supplement_clock
    out["status"] = defn.status
    out["version"] = defn.version
    if defn.approval:
        a = defn.approval
        out["approval"] = {k: v for k, v in (("decision", a.decision), ("date", a.date), ("signer", a.signer)) if v}
    if defn.notes:
        out["notes"] = defn.notes
    out["steps"] = [step_to_data(s) for s in defn.steps]
    return out


def step_to_data(s: Step) -> dict[str, Any]:
    d: dict[str, Any] = {"id": s.id, "name": s.name, "kind": s.kind}
    if s.unit:
        d["unit"] = s.unit
    if s.role:
        d["role"] = s.role
    if s.duration is not None:
        d["duration"] = duration_text(s.duration)
    if s.produces:
        d["produces"] = list(s.produces)
    if s.notes:
        d["notes"] = s.notes
    if s.join:
        d["join"] = True
    if s.ends:
        d["ends"] = s.ends
    if s.pause_reason != "supplement":
        d["pause_reason"] = s.pause_reason
    if s.routes:
        routes: dict[str, Any] = {}
        for rt in s.routes:
            target: Any = rt.targets[0] if len(rt.targets) == 1 else list(rt.targets)
            if rt.max is not None or rt.label:
                target = {"to": target, **({"max": rt.max} if rt.max is not None else {}),
                          **({"label": rt.label} if rt.label else {})}
            routes[rt.outcome] = target
        d["routes"] = routes
    return d


def dump_yaml(data: Any) -> str:
    """Plain, readable YAML (Vietnamese kept as is, key order kept)."""
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


# --------------------------------------------------------------------------- catalogue


@dataclass
class Catalogue:
    """Everything under one ``procedures_yaml/`` folder.

    ``problems`` holds the load errors of files that could not be loaded; those
    files contribute nothing to ``definitions``.
    """

    root: Path
    organisation: Organisation | None
    templates: dict[str, Template]
    definitions: list[Definition]
    problems: list[Problem]
    files: list[Path]

    def find(self, key: str) -> Definition | None:
        for d in self.definitions:
            if key in (d.code, d.key, Path(d.source).stem):
                return d
        return None


def default_root() -> Path:
    """The catalogue folder: ``$QUYTRINH_CATALOGUE_DIR``, else ``./procedures_yaml``, else the shipped one."""
    env = os.environ.get("QUYTRINH_CATALOGUE_DIR")
    if env:
        return Path(env)
    here = Path.cwd() / "procedures_yaml"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "procedures_yaml"


def _is_definition_file(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and path.name not in ("units.yaml", "calendar.yaml") \
        and "templates" not in path.parts


def find_catalogue_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that holds ``units.yaml``."""
    p = path if path.is_dir() else path.parent
    for candidate in (p, *p.parents):
        if (candidate / "units.yaml").is_file():
            return candidate
    return None


def load_catalogue(paths: Iterable[str | os.PathLike] | None = None) -> Catalogue:
    """Load the units, templates and every definition under the given paths.

    Each path is a definition file or a folder (searched recursively). The
    units and templates come from the nearest folder above the first path that
    holds ``units.yaml``. Problems are collected, never raised: one broken
    file does not hide the others.
    """
    targets = [Path(p) for p in (paths or [default_root()])]
    root = None
    for t in targets:
        root = find_catalogue_root(t.resolve()) if t.exists() else None
        if root:
            break
    problems: list[Problem] = []
    organisation = None
    templates: dict[str, Template] = {}
    if root is not None:
        try:
            organisation = load_units(_rel(root / "units.yaml"))
        except DefinitionError as exc:
            problems.extend(exc.problems)
        except Exception as exc:  # a bug must not hide the other files
            problems.append(_internal_problem(_rel(root / "units.yaml"), exc))
        try:
            templates = load_templates(_rel(root / "templates"))
        except DefinitionError as exc:
            problems.extend(exc.problems)
        except Exception as exc:
            problems.append(_internal_problem(_rel(root / "templates"), exc))
    files: list[Path] = []
    for t in targets:
        if t.is_dir():
            files.extend(sorted(p for p in t.rglob("*.y*ml") if _is_definition_file(p.relative_to(t))
                                and "templates" not in p.relative_to(t).parts))
        elif t.exists():
            files.append(t)
        else:
            problems.append(Problem(Location(str(t)), "file-unreadable", "không có tệp hoặc thư mục này"))
    definitions: list[Definition] = []
    for f in files:
        try:
            definitions.append(load_definition(_rel(f), templates))
        except DefinitionError as exc:
            problems.extend(exc.problems)
        except Exception as exc:  # a bug must not hide the other files
            problems.append(_internal_problem(_rel(f), exc))
    return Catalogue(root or Path("."), organisation, templates, definitions, problems, files)


def _internal_problem(file: str, exc: BaseException) -> Problem:
    """An unexpected failure while loading one file, as a located problem (never a traceback)."""
    return Problem(Location(file, 1, 1), "internal-error",
                   f"không tải được tệp do lỗi của chương trình ({type(exc).__name__}: {exc}); "
                   "đây là lỗi của quytrinh: hãy báo lỗi kèm theo tệp này")


def _rel(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def with_status(defn: Definition, status: str, approval: Approval | None = None) -> Definition:
    """A copy of the definition with a new status (and approval)."""
    return replace(defn, status=status, approval=approval if approval is not None else defn.approval)


def find_definition(ref: str) -> tuple[Definition, Organisation | None]:
    """A procedure by catalogue code (or a definition file path), with the catalogue's units.

    Loads only the file named after the code when there is one (fast), else
    the whole catalogue under :func:`default_root`.

    Raises
    ------
    NotFound
        When no catalogue file defines ``ref``.
    DefinitionError
        When the file that defines it does not load (with its located problems).
    """
    from engine.errors import NotFound

    path = Path(ref)
    if path.suffix in (".yaml", ".yml"):
        cat = load_catalogue([path])
        if cat.problems:
            raise DefinitionError(cat.problems)
        return cat.definitions[0], cat.organisation
    root = default_root()
    named = sorted(root.rglob(f"{ref}-*.y*ml")) if root.is_dir() else []
    cat = load_catalogue(named[:1] or [root])
    defn = cat.find(ref)
    if defn is None and named:
        cat = load_catalogue([root])
        defn = cat.find(ref)
    if defn is None:
        bad = [p for p in cat.problems if ref in str(p.location)]
        if bad:
            raise DefinitionError(bad[:1])
        raise NotFound(f"procedure '{ref}' is not in the catalogue ({root}); "
                       f"list the codes with: quytrinh catalogue")
    return defn, cat.organisation
