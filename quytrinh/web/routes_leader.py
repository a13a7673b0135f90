"""Leaders' pages: the catalogue with status and findings, a procedure page (diagram with the
changes highlighted, step table, findings, version history), approve or send back.

The procedure page shows the open draft of a procedure (or the version asked
for with ``?version=N``) against the last published version, the one new
dossiers run: added and changed steps are highlighted on the new diagram, and
removed steps are drawn back into it (dashed red) where they stood, so a
leader sees one picture. Without a draft it shows the version in force.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from engine import approval as ap
from engine.definition import Approval, Definition, Organisation, load_catalogue, with_status
from engine.errors import NotAuthorized, NotFound, QuytrinhError
from engine.lint import ERROR, Finding, lint
from quytrinh.web.deps import NavItem, WebUser, flash, now_of, people_of, render, require_role, store_of

router = APIRouter(include_in_schema=False)

#: Leaders approve here; the system's administrators open it too (read only, as ``VIEWERS`` below), so
#: their navigation has it. The reform office reaches a draft's page there from its editor (*Soạn quy trình*).
NAV = [NavItem("Phê duyệt quy trình", "/leader", ("leader", "admin"), 40)]

#: What a published version's status means for the dossiers received under it (the version in force).
PUBLISHED_LABELS = {"draft": "chưa phê duyệt, đang dùng bản dự thảo", "submitted": "chưa phê duyệt, đang dùng bản dự thảo",
                    "approved": "đã phê duyệt"}
#: The same for an earlier version, replaced by a later one: only the version in force is "đang dùng".
SUPERSEDED_LABELS = {"draft": "chưa phê duyệt (bản dự thảo), đã được thay thế",
                     "submitted": "chưa phê duyệt (bản dự thảo), đã được thay thế",
                     "approved": "đã phê duyệt, đã được thay thế"}

#: Who published a version, when it was not a person: the start-up's catalogue load, the demo data.
PUBLISHERS = {"quytrinh run": "Hệ thống (nạp danh mục khi khởi động)", "demo": "Hệ thống (dữ liệu mẫu)"}

#: Who may look at the leaders' pages (only leaders act on them).
VIEWERS = ("leader", "reform", "admin")

SEVERITY_LABELS = {ERROR: "Lỗi", "warning": "Cảnh báo"}
MARK_LABELS = {"added": "Bước mới", "changed": "Bước thay đổi", "removed": "Bước bị bỏ"}
LEVEL_LABELS = {"district": "Huyện", "commune": "Xã", "city": "Thành phố"}
HANOI = dt.timezone(dt.timedelta(hours=7))

#: The pages' own styles (served at /leader/assets/approval.css: the CSP forbids inline styles). The
#: diagram's box (``.diagram``) is in static/style.css: the reports' heatmap uses it too.
CSS = """
.legend span { display: inline-block; padding: .1rem .5rem; margin-right: .5rem; border-radius: 3px; font-size: .85rem; }
.m-added { background: #ebdef0; color: #7d3c98; }  /* = engine.render.HIGHLIGHT_STYLES["added"] */
.m-changed { background: #fdebd0; color: #8a5a00; }
.m-removed { background: #fdecea; color: #922b21; text-decoration: line-through; }
tr.m-added td:first-child { border-left: 5px solid #7d3c98; }
tr.m-changed td:first-child { border-left: 5px solid #b9770e; }
tr.m-removed td { color: #922b21; text-decoration: line-through; }
ul.findings { list-style: none; padding: 0; margin: 0; }
ul.findings li { padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
ul.findings li.f-error { border-left: 4px solid var(--late); }
ul.findings li.f-warning { border-left: 4px solid var(--warn); }
.sev { font-weight: 600; }
.f-error .sev { color: var(--late); }
.f-warning .sev { color: var(--warn); }
.editor textarea { font-family: "Noto Sans Mono", "Liberation Mono", "DejaVu Sans Mono", Consolas, monospace; font-size: .85rem; min-height: 32rem;
                   width: 100%; box-sizing: border-box; white-space: pre; tab-size: 2; }
.editor-grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }
@media (max-width: 1000px) { .editor-grid { grid-template-columns: 1fr; } }
.state { display: inline-block; padding: .1rem .5rem; border-radius: 3px; font-size: .85rem; background: var(--pause-bg); }
.state-submitted { background: var(--warn-bg); color: var(--warn); }
.state-approved { background: var(--ok-bg); color: var(--ok); }
.counts .e { color: var(--late); font-weight: 600; }
.counts .w { color: var(--warn); }
.live-status { font-size: .85rem; color: var(--muted); min-height: 1.2em; }
#catalogue td:nth-child(4), #catalogue td:nth-child(5), #catalogue td:nth-child(6) { white-space: nowrap; }
#catalogue td:first-child { max-width: 14rem; overflow-wrap: anywhere; }
#catalogue td.nowrap { white-space: nowrap; }
/* "Thu nhỏ sơ đồ cho vừa khung": the whole process at a glance (a diagram two or three times wider than its
   box otherwise shows its first lanes only); unchecked, its natural size, scrolled in its box */
.fit-toggle { margin: 0 .35rem .5rem 0; vertical-align: middle; }
label.fit-label { display: inline; font-weight: 400; margin: 0; cursor: pointer; }
.fit-toggle:checked ~ .diagram svg { width: 100%; max-width: 100%; }
"""


@router.get("/leader/assets/approval.css")
def approval_css() -> Response:
    return Response(CSS, media_type="text/css; charset=utf-8", headers={"cache-control": "max-age=300"})


# --------------------------------------------------------------------------- catalogue (cached)


@dataclass
class CatalogueEntry:
    """One procedure of the catalogue files, linted."""

    definition: Definition
    findings: list[Finding]
    text: str

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors


@dataclass
class CatalogueCache:
    stamp: tuple = ()
    organisation: Organisation | None = None
    entries: dict[str, CatalogueEntry] = field(default_factory=dict)
    problems: list = field(default_factory=list)


_CATALOGUES: dict[str, CatalogueCache] = {}


def _stamp(root: Path) -> tuple:
    newest, count = 0.0, 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith((".yaml", ".yml")):
                count += 1
                newest = max(newest, os.stat(os.path.join(dirpath, f)).st_mtime)
    return (newest, count)


def catalogue_of(request: Request) -> CatalogueCache:
    """The catalogue files under the app's ``catalogue_root``, loaded and linted (cached until a file changes)."""
    root = Path(request.app.state.catalogue_root)
    key = str(root.resolve())
    stamp = _stamp(root)
    cached = _CATALOGUES.get(key)
    if cached is not None and cached.stamp == stamp:
        return cached
    cat = load_catalogue([root])
    entries = {}
    for d in cat.definitions:
        try:
            text = Path(d.source).read_text(encoding="utf-8")
        except OSError:
            text = ""
        entries[d.key] = CatalogueEntry(d, lint(d, cat.organisation), text)
    cached = _CATALOGUES[key] = CatalogueCache(stamp, cat.organisation, entries, list(cat.problems))
    return cached


def context_of(request: Request) -> tuple[Organisation | None, dict]:
    """The organisation and templates used to check drafts (those of the app's catalogue)."""
    return ap.catalogue_context(request.app.state.catalogue_root)


# --------------------------------------------------------------------------- view models


@dataclass
class StepRow:
    """A row of the process table (bước | nội dung | trách nhiệm | thời gian | biểu mẫu/kết quả), or, with
    ``heading`` set, a line spanning the table (the cases' lead-in, "a) Đối với trường hợp …")."""

    number: str
    id: str
    name: str
    responsible: str
    time: str
    produces: str
    mark: str | None = None
    changed: list[str] = field(default_factory=list)
    heading: str = ""


def responsible(step: Any, units: Organisation | None) -> str:
    """``Chức danh — Đơn vị`` of a step, from units.yaml (ids when unknown)."""
    unit = units.units.get(step.unit) if (units and step.unit) else None
    if unit is None and step.kind == "citizen":
        return "Tổ chức, cá nhân"
    if unit is None:
        return " — ".join(x for x in (step.role, step.unit) if x) or "–"
    title = unit.roles.get(step.role, step.role) if step.role else ""
    return f"{title} — {unit.name}" if title else unit.name


def step_rows(defn: Definition, units: Organisation | None, d: ap.StepDiff | None = None,
              merged: Definition | None = None, forms: Any = None) -> list[StepRow]:
    """The step table of a definition numbered as the decision's annex numbers it
    (:func:`engine.documents.annex_rows`: the main path "Bước 1..n", parallel steps, then the cases
    "a) …" with "Sau Bước 3" / "Tiếp theo"), its forms named as the annex names them (``forms``: the set the
    decision cites), with the diff marks; the removed steps of ``merged`` (the diff drawing) follow, not
    numbered."""
    from engine.documents import annex_rows, produces_text, working_time_text

    marks = d.highlight() if d else {}

    def changed(step_id: str) -> list[str]:
        return [ap.FIELD_LABELS.get(f, f) for f in (d.changed.get(step_id, []) if d else [])]

    rows = []
    for r in annex_rows(defn):
        if r.step is None:
            if r.kind in ("lead", "case", "loop"):
                rows.append(StepRow("", "", "", "", "", "", heading=r.label))
            continue
        step = r.step
        rows.append(StepRow(r.label, step.id, step.name, responsible(step, units), r.time,
                            produces_text(step, forms, "; ") or "–", marks.get(step.id), changed(step.id)))
    for step in (merged.steps if merged is not None else ()):
        if marks.get(step.id) == "removed":
            time = "Không tính thời gian" if step.paused else working_time_text(step.duration, defn.time_limit)
            rows.append(StepRow("–", step.id, step.name, responsible(step, units), time,
                                produces_text(step, forms, "; ") or "–", "removed"))
    return rows


#: Findings that leave the main path cut or doubled: the steps' numbers are then not the ones the mended
#: process will have, and a finding says none.
BROKEN_PATH = frozenset({"unknown-target", "extra-start", "unreachable-step"})


def findings_view(findings: Any, defn: Definition | None = None) -> list[dict[str, Any]]:
    """Findings (objects or dicts) as template/JSON data with Vietnamese severity labels; with the
    definition, ``step_number``: the step's "Bước N" in the step table and the annex (the main path,
    :func:`engine.documents.annex_plan`), so a leader finds the step the YAML id names."""
    findings = list(findings)
    numbers: dict[str, int] = {}
    rules = {f.rule_id if hasattr(f, "rule_id") else f.get("rule_id") for f in findings}
    if defn is not None and not rules & BROKEN_PATH:  # a cut path numbers steps as the mended one will not
        from engine.documents import annex_plan

        try:
            numbers = {st.id: i for i, st in enumerate(annex_plan(defn).main, 1)}
        except Exception:  # an unfinished text: its findings are shown without numbers
            numbers = {}
    out = []
    for f in findings:
        data = f.to_dict() if hasattr(f, "to_dict") else dict(f)
        data["severity_label"] = SEVERITY_LABELS.get(data["severity"], data["severity"])
        data["step_number"] = numbers.get(data.get("step") or "")
        out.append(data)
    return out


def diagram(defn: Definition, units: Organisation | None, highlight: dict[str, str] | None = None,
            header_from: Definition | None = None) -> Markup:
    """The diagram as inline SVG (a Vietnamese note when it cannot be drawn); ``header_from``: the
    definition the header describes (a diff drawing's new version, whose total it gives)."""
    from engine.render import render_svg

    try:
        svg = render_svg(defn, units, highlight=highlight, header_from=header_from).decode("utf-8")
    except QuytrinhError as exc:
        return Markup('<p class="muted">Chưa vẽ được sơ đồ: %s</p>') % str(exc)
    start = svg.find("<svg")
    return Markup(svg[start:] if start >= 0 else svg)


def allocated(defn: Definition) -> str:
    """``<longest path> / <legal limit>``, as the foot of the step table (in working days against a limit
    in days: ``2,25 ngày làm việc / thời hạn 3 ngày làm việc``, as the annex and the diagram header)."""
    from engine.graph import critical_path
    from engine.render import total_text

    cp = critical_path(defn)
    used = (total_text(cp.minutes, defn.time_limit) if cp
            else "không xác định (quy trình có vòng lặp chưa giới hạn)")
    return f"{used} / thời hạn {defn.time_limit.describe()}"


def published_definition(store: Any, code: str, before: int | None = None) -> tuple[Any, Definition] | None:
    """The newest published version (below ``before`` when given) and its definition, or None."""
    from engine.services import definition_of

    for row in ap.published_versions(store, code):
        if before is None or row.version < before:
            return row, definition_of(row)
    return None


def code_known(request: Request, code: str) -> bool:
    """Whether ``code`` is a procedure of the catalogue or of the database (published, or with a draft)."""
    store = store_of(request)
    return (code in catalogue_of(request).entries or published_definition(store, code) is not None
            or bool(ap.drafts(store, code)))


def procedure_view(request: Request, code: str, version: int | None = None) -> dict[str, Any]:
    """Everything the procedure page shows (raises NotFound for an unknown procedure or version)."""
    store = store_of(request)
    units, templates = context_of(request)
    cat = catalogue_of(request)
    entry = cat.entries.get(code)
    if version is not None:
        draft = ap.get_draft(store, code, version)
    else:
        draft = ap.open_draft(store, code)
    published = published_definition(store, code)
    people = people_of(request)
    if draft is not None:
        checked = ap.check_text(draft.text, file=f"{code}.yaml", templates=templates, units=units)
        shown = checked.definition
        if shown is not None:  # the diagram's header tells the draft's own number and state
            decided_by = people.get(draft.decided_by or "", draft.decided_by or "")
            approval = (Approval(draft.decision_number or "", draft.decision_date, decided_by)
                        if draft.status == ap.APPROVED else None)
            shown = replace(with_status(shown, draft.status, approval), version=draft.number)
        findings = list(checked.findings)
        if draft.status == ap.APPROVED and draft.published_version is not None:
            base = published_definition(store, code, before=draft.published_version)
        else:
            base = published
        base_defn = base[1] if base else (entry.definition if entry else None)
        base_label = (f"phiên bản {base[0].version} đang áp dụng" if base and draft.status != ap.APPROVED
                      else f"phiên bản {base[0].version}" if base
                      else "bản trong danh mục" if entry else "")
    elif published is not None:
        shown, base_defn, base_label = published[1], None, ""
        findings = lint(shown, units)
    elif entry is not None:
        shown, base_defn, base_label = entry.definition, None, ""
        findings = entry.findings
    else:
        raise NotFound(f"procedure '{code}' is neither in the catalogue nor in the database")
    if shown is None:  # a stored draft always loads; be safe anyway
        raise NotFound(f"version {version} of '{code}' does not load")
    from engine.documents import decision_forms

    forms = decision_forms(now_of(request).astimezone(HANOI).date())  # the set a decision signed today cites
    d = ap.diff(base_defn, shown) if (draft is not None and base_defn is not None) else None
    merged = ap.merged_for_diff(base_defn, shown, d) if d else shown
    return {
        "code": code, "defn": shown, "draft": draft, "published": published[0] if published else None,
        "entry": entry, "diff": d, "base_label": base_label,
        "svg": diagram(merged, units, d.highlight() if d else None, header_from=shown if d else None),
        "rows": step_rows(shown, units, d, merged if d else None, forms), "findings": findings_view(findings, shown),
        "errors": sum(1 for f in findings if f.severity == ERROR),
        "history": ap.history(store, code), "drafts": ap.drafts(store, code), "people": people,
        "versions": ap.published_versions(store, code),
        "state_labels": ap.STATE_LABELS, "mark_labels": MARK_LABELS, "level_labels": LEVEL_LABELS,
        "published_labels": PUBLISHED_LABELS, "superseded_labels": SUPERSEDED_LABELS, "publishers": PUBLISHERS,
        "total": allocated(shown), "min_decision_date": in_force_decision_date(published),
    }


def in_force_decision_date(published: tuple[Any, Definition] | None) -> str:
    """The decision date of the version in force (ISO), the earliest a new decision may bear; "" when none."""
    approval = published[1].approval if published else None
    return approval.date.isoformat() if approval is not None and approval.date is not None else ""


_PUBLISHED_FINDINGS: dict[tuple[int, str, int], list[Finding]] = {}


def _published_findings(row: Any, units: Organisation | None) -> list[Finding]:
    """Lint findings of a published version (cached: published content never changes)."""
    from engine.services import definition_of

    key = (row.id, row.content_hash, id(units))
    if key not in _PUBLISHED_FINDINGS:
        if len(_PUBLISHED_FINDINGS) > 5000:
            _PUBLISHED_FINDINGS.clear()
        _PUBLISHED_FINDINGS[key] = lint(definition_of(row), units)
    return _PUBLISHED_FINDINGS[key]


def catalogue_rows(request: Request) -> list[dict[str, Any]]:
    """One row per procedure (catalogue files and the database): status, versions, findings."""
    store = store_of(request)
    cat = catalogue_of(request)
    units, _ = context_of(request)
    from engine.store import DefinitionVersion
    from sqlmodel import select

    with store.session() as s:
        rows = s.exec(select(DefinitionVersion).order_by(DefinitionVersion.procedure_code,
                                                         DefinitionVersion.version.desc())).all()
    latest: dict[str, Any] = {}
    for r in rows:
        latest.setdefault(r.procedure_code, r)
    open_drafts: dict[str, ap.DefinitionDraft] = {}
    for dr in ap.drafts(store):
        if dr.status in ap.OPEN_STATES:
            open_drafts.setdefault(dr.procedure_code, dr)
    out = []
    for code in sorted(set(cat.entries) | set(latest) | set(open_drafts)):
        entry, pub, dr = cat.entries.get(code), latest.get(code), open_drafts.get(code)
        if dr is not None:
            name, errors, warnings = dr.name, dr.errors, dr.warnings
        elif pub is not None:
            fs = _published_findings(pub, units)
            name, errors = pub.name, sum(1 for f in fs if f.severity == ERROR)
            warnings = len(fs) - errors
        else:
            name, errors, warnings = entry.definition.name, entry.errors, entry.warnings  # type: ignore[union-attr]
        level = (pub.level if pub else entry.definition.level if entry else dr.level if dr else "")
        out.append({"code": code, "name": name, "level": LEVEL_LABELS.get(level, level),
                    "published": pub.version if pub else None,
                    "published_status": PUBLISHED_LABELS.get(pub.status, pub.status) if pub else "",
                    "draft": dr, "errors": errors, "warnings": warnings, "in_files": entry is not None})
    out.sort(key=lambda r: (r["draft"] is None or r["draft"].status != ap.SUBMITTED, r["code"]))
    return out


# --------------------------------------------------------------------------- pages


@router.get("/leader")
def leader_home(request: Request, user: WebUser = Depends(require_role(*VIEWERS))) -> Response:
    rows = catalogue_rows(request)
    pending = [r for r in rows if r["draft"] is not None and r["draft"].status == ap.SUBMITTED]
    return render(request, "leader_catalogue.html", {"rows": rows, "pending": pending,
                                                     "problems": catalogue_of(request).problems,
                                                     "state_labels": ap.STATE_LABELS, "people": people_of(request)})


@router.get("/leader/procedures/{code}")
def leader_procedure(request: Request, code: str, version: int | None = None,
                     user: WebUser = Depends(require_role(*VIEWERS))) -> Response:
    return _procedure_page(request, user, code, version)


def _procedure_page(request: Request, user: WebUser, code: str, version: int | None, *, status_code: int = 200,
                    typed: dict[str, str] | None = None, field_errors: dict[str, str] | None = None) -> Response:
    """The procedure page; ``typed``: what a refused decision form had (``decision_number``, ``decision_date``,
    ``comment``), shown again; ``field_errors``: field -> what to fix (``decision_number``, ``decision_date``,
    ``send_back_comment``), shown under the field; the first in the page's order gets the focus."""
    try:
        view = procedure_view(request, code, version)
    except NotFound:  # said as what it is, a procedure or one of its versions, not "a dossier or work item"
        raise HTTPException(404, f"Thủ tục {code} không có phiên bản {version}; hãy chọn phiên bản trong mục "
                                 f"Lịch sử phiên bản của thủ tục." if version is not None and code_known(request, code)
                            else f"Không có thủ tục mã {code} trong danh mục; hãy chọn thủ tục trong "
                                 f"danh mục ở trang Phê duyệt quy trình.") from None
    today = now_of(request).astimezone(HANOI).date().isoformat()
    field_errors = field_errors or {}
    focus = next((f for f in DECISION_FIELDS if f in field_errors), None)
    return render(request, "leader_procedure.html", {**view, "today": today, "may_decide": user.has("leader"),
                                                     "typed": typed or {}, "field_errors": field_errors,
                                                     "focus": focus}, status_code=status_code)


#: The decision forms' fields, in the page's order (the first refused one gets the focus).
DECISION_FIELDS = ("decision_number", "decision_date", "send_back_comment")

#: The field an engine refusal of ``ap.approve`` / ``ap.send_back`` concerns, by the start of its message; any
#: other refusal (the version's state, its lint errors) concerns the version and is shown at the top.
#: The engine's name of the input a refusal is about (``ApprovalError.field``) -> the form field on the page.
REFUSED_FIELDS = {"decision_number": "decision_number", "decision_date": "decision_date",
                  "comment": "send_back_comment"}


def _refused_field(exc: QuytrinhError) -> str | None:
    """The form field ``exc`` (an engine refusal) is about, or None when it is about no single field."""
    if not isinstance(exc, ap.ApprovalError) or exc.field is None:
        return None
    return REFUSED_FIELDS[exc.field]


def _decision_error(request: Request, exc: QuytrinhError, back: str, typed: str = "") -> Response:
    """A refusal about the version itself: a banner on the procedure's page, quoting ``typed`` (what the leader
    wrote, which the new page does not carry) so that it is not lost."""
    if isinstance(exc, ap.ApprovalError):
        message = exc.vi
    elif isinstance(exc, NotAuthorized):
        message = "Chỉ lãnh đạo UBND mới phê duyệt hoặc trả lại quy trình."
    elif isinstance(exc, NotFound):
        message = "Không có phiên bản này."
    else:
        message = "Không thực hiện được thao tác; phiên bản quy trình chưa thay đổi."
    if typed:
        message += f" {typed}"
    flash(request, message, "error")
    return RedirectResponse(back, status_code=303)


def _refused_fields(request: Request, user: WebUser, code: str, version: int, back: str, typed: dict[str, str],
                    errors: dict[str, str], unchanged: str) -> Response:
    """The page again (422) with what was typed and each message under its field (``unchanged``, what did not
    happen, appended). When the version no longer waits for a decision (a colleague decided meanwhile) the
    forms are gone: the banner says so instead."""
    gone = _not_waiting(request, code, version, back)
    if gone is not None:
        return gone
    said = {f: m if unchanged.lower().rstrip(".") in m.lower() else f"{m} {unchanged}" for f, m in errors.items()}
    return _procedure_page(request, user, code, version, status_code=422, typed=typed, field_errors=said)


def _not_waiting(request: Request, code: str, version: int, back: str, typed: str = "") -> Response | None:
    """Back to the page with a banner when the version does not exist or no longer waits for a decision (a
    colleague decided meanwhile: the forms are gone), quoting ``typed``; None when it waits."""
    try:
        draft = ap.get_draft(store_of(request), code, version)
    except NotFound:
        flash(request, "Không có phiên bản này.", "error")
        return RedirectResponse(back, status_code=303)
    if draft.status != ap.SUBMITTED:
        flash(request, f"Phiên bản {version} không còn chờ phê duyệt (đang ở trạng thái "
                       f"“{ap.STATE_LABELS[draft.status]}”); trang đã được tải lại." + (f" {typed}" if typed else ""),
              "error")
        return RedirectResponse(back, status_code=303)
    return None


def _reviewed(revision: str) -> int | None:
    """The draft's ``row_version`` the decision form carried (the page the leader decided on), None when it is
    absent or not a number (refused: see :func:`_unreviewed`)."""
    revision = revision.strip()
    return int(revision) if revision.isascii() and revision.isdigit() else None


def _unreviewed(request: Request, code: str, version: int, back: str, undone: str, typed: str = "") -> Response:
    """The refusal of a decision sent without the revision the leader reviewed (a page not fully loaded, an old
    or hand-made form): nothing is decided, since nobody can tell which content was reviewed (the engine
    would skip its check). Back to the page, reloaded, with a banner asking to review it again; ``undone``:
    what did not happen ("phê duyệt", "trả lại"); ``typed`` (what the leader wrote) quoted so that it is not lost."""
    gone = _not_waiting(request, code, version, back, typed)
    if gone is not None:
        return gone
    flash(request, f"Phiên bản {version} chưa được {undone}: yêu cầu gửi lên thiếu thông tin về nội dung bạn đã "
                   "xem (trang có thể chưa tải xong hoặc đã cũ), nên không biết bạn đã quyết định trên nội dung nào. "
                   "Trang đã được tải lại: hãy xem lại nội dung của phiên bản rồi quyết định lại."
                   + (f" {typed}" if typed else ""), "error")
    return RedirectResponse(back, status_code=303)


def _as_typed_date(text: str) -> str:
    """A date the form sent, as the pages write dates (dd/mm/yyyy), or as typed when it is not one."""
    try:
        return f"{dt.date.fromisoformat(text.strip()):%d/%m/%Y}"
    except ValueError:
        return text.strip()


@router.post("/leader/procedures/{code}/{version}/approve")
def leader_approve(request: Request, code: str, version: int, decision_number: str = Form(""),
                   decision_date: str = Form(""), revision: str = Form(""),
                   user: WebUser = Depends(require_role("leader"))) -> Response:
    back = f"/leader/procedures/{code}?version={version}"
    typed = {"decision_number": decision_number, "decision_date": decision_date, "revision": revision}
    reviewed = _reviewed(revision)
    if reviewed is None:  # which content was reviewed is unknown: refused before the fields are looked at
        said = ", ".join(x for x in (decision_number.strip() and f"số {decision_number.strip()}",
                                     decision_date.strip() and f"ngày {_as_typed_date(decision_date)}") if x)
        return _unreviewed(request, code, version, back, "phê duyệt",
                           f"Quyết định bạn đã nhập ({said}) chưa được ghi." if said else "")
    errors: dict[str, str] = {}  # field -> what to fix
    date: dt.date | None = None
    if decision_date.strip():
        try:
            date = dt.date.fromisoformat(decision_date.strip())
        except ValueError:
            errors["decision_date"] = "Ngày quyết định không hợp lệ (nhập theo dạng ngày/tháng/năm)."
    units, templates = context_of(request)
    try:
        # without a date the engine still checks the number first, then asks for the date: nothing is written
        row = ap.approve(store_of(request), code, version, actor=user.actor, decision_number=decision_number,
                         decision_date=date, now=now_of(request), templates=templates,  # type: ignore[arg-type]
                         units=units, reviewed=reviewed)
    except QuytrinhError as exc:
        field = _refused_field(exc)
        if field is None:
            said = ", ".join(x for x in (decision_number.strip() and f"số {decision_number.strip()}",
                                         date and f"ngày {date:%d/%m/%Y}") if x)
            return _decision_error(request, exc, back, f"Quyết định bạn đã nhập ({said}) chưa được ghi." if said else "")
        errors = {field: exc.vi, **errors}  # an unreadable date keeps its own message
        errors = {f: errors[f] for f in DECISION_FIELDS if f in errors}
        return _refused_fields(request, user, code, version, back, typed, errors,
                               "Phiên bản chưa được phê duyệt.")
    flash(request, f"Đã phê duyệt phiên bản {row.number} theo Quyết định số {row.decision_number} "
                   f"ngày {row.decision_date:%d/%m/%Y}. Hồ sơ tiếp nhận từ nay theo phiên bản này; "
                   "hồ sơ đang giải quyết giữ phiên bản cũ.", "success")
    return RedirectResponse(back, status_code=303)


@router.post("/leader/procedures/{code}/{version}/send-back")
def leader_send_back(request: Request, code: str, version: int, comment: str = Form(""), revision: str = Form(""),
                     user: WebUser = Depends(require_role("leader"))) -> Response:
    back = f"/leader/procedures/{code}?version={version}"
    reviewed = _reviewed(revision)
    if reviewed is None:
        return _unreviewed(request, code, version, back, "trả lại",
                           f"Ý kiến bạn đã ghi chưa được gửi: “{comment.strip()}”." if comment.strip() else "")
    try:
        ap.send_back(store_of(request), code, version, actor=user.actor, comment=comment, now=now_of(request),
                     reviewed=reviewed)
    except QuytrinhError as exc:
        field = _refused_field(exc)
        if field is None:
            return _decision_error(request, exc, back,
                                   f"Ý kiến bạn đã ghi chưa được gửi: “{comment.strip()}”." if comment.strip() else "")
        return _refused_fields(request, user, code, version, back, {"comment": comment, "revision": revision},
                               {field: exc.vi},
                               "Phiên bản chưa được trả lại.")
    flash(request, f"Đã trả lại phiên bản {version} cho Phòng Nội vụ để sửa.", "success")
    return RedirectResponse(back, status_code=303)


__all__ = ["CSS", "catalogue_of", "context_of", "diagram", "findings_view", "procedure_view", "responsible",
           "router", "step_rows"]
