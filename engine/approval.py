"""The approval workflow of procedure definitions: draft -> submitted -> approved.

The reform office (bộ phận cải cách hành chính / kiểm soát TTHC) writes a
definition as YAML text and saves it as a *draft*; saving refuses a text that
does not load and keeps its lint findings. A draft is *submitted* to the
leaders, who either *approve* it (recording the decision number and date) or
*send it back* to draft with a comment. Approving publishes the definition as a
new :class:`engine.store.DefinitionVersion` (``engine.services.publish_definition``)
in the same transaction: new dossiers run it, running dossiers keep the
version they pinned at receipt.

States of a draft
-----------------
``draft``
    Being written; the reform office may change its text (saving again
    replaces the text of the open draft, it does not make a new version).
``submitted``
    Waiting for a leader; its text can no longer change. Only one draft per
    procedure may be open (draft or submitted) at a time.
``approved``
    Frozen for ever: its text, hash and decision can never change (an ORM
    guard refuses any update or delete, even from code that bypasses these
    functions), and it is the content of the published version.

Sending back returns a submitted draft to ``draft`` with the leader's
comment; the history keeps every step (who, when, what comment, which
decision).

Roles: only reform-office users (:func:`is_reform_office`) may save and
submit; only leaders (:func:`is_leader`) may approve or send back.

Storage: two tables of :mod:`engine.store`, ``definition_drafts`` and
``definition_reviews`` (append-only), created by the Alembic revision 0002.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from engine import services as _services
from engine.definition import (
    Approval,
    Catalogue,
    Definition,
    Organisation,
    Step,
    Template,
    definition_from_data,
    with_status,
)
from engine.errors import DefinitionError, IllegalAction, Location, NotAuthorized, NotFound, Problem
from engine.lint import ERROR, Finding, lint
from engine.store import DefinitionDraft, DefinitionReview, DefinitionVersion, User
from engine.yamlsrc import load_text

DRAFT = "draft"
SUBMITTED = "submitted"
APPROVED = "approved"
STATES = (DRAFT, SUBMITTED, APPROVED)
OPEN_STATES = (DRAFT, SUBMITTED)

#: Vietnamese labels of the states, for the web pages.
STATE_LABELS = {DRAFT: "Dự thảo", SUBMITTED: "Chờ phê duyệt", APPROVED: "Đã phê duyệt"}

#: Review actions recorded in the history, with their Vietnamese labels.
ACTION_LABELS = {
    "create": "Tạo dự thảo",
    "save": "Sửa dự thảo",
    "submit": "Trình phê duyệt",
    "approve": "Phê duyệt",
    "send_back": "Trả lại để sửa",
}

#: Units whose staff are the reform office (cải cách hành chính: Phòng Nội vụ), as in the web roles
#: (``quytrinh.web.deps.REFORM_UNITS``).
REFORM_UNITS = ("phong_noi_vu",)
#: Roles that lead a People's Committee (the roles of the ``leadership`` units; they sign approval decisions).
LEADER_ROLES = ("chairman", "vice_chairman")

#: A decision's number and symbol (Decree 30/2020, Appendix I): ``125/QĐ-UBND``, ``18/2020/QĐ-UBND``, ``7/QĐ-CT``.
_DECISION_NUMBER = re.compile(r"[1-9]\d*(/\d{4})?/QĐ-[A-ZĐ][A-ZĐ0-9.]*(-[A-ZĐ0-9.]+)*")
_DECISION_NUMBER_SPACES = re.compile(r"\s+")

#: A procedure key without a national code: a catalogue file's stem (``thanh-lap-truong-mam-non``).
_KEY = re.compile(r"[a-z0-9][a-z0-9.\-]{0,47}")

#: The step fields :func:`diff` compares.
DIFF_FIELDS = ("name", "kind", "unit", "role", "duration", "produces", "notes", "routes", "join", "ends")

#: Vietnamese labels of the compared fields.
FIELD_LABELS = {
    "name": "nội dung", "kind": "loại bước", "unit": "đơn vị", "role": "chức danh", "duration": "thời gian",
    "produces": "biểu mẫu/kết quả", "notes": "ghi chú", "routes": "bước tiếp theo", "join": "hợp nhánh",
    "ends": "kết thúc",
}


class ApprovalError(IllegalAction):
    """An approval action is not allowed in the draft's state (or its content is frozen).

    ``vi`` is the same message in Vietnamese, for the web pages; ``field`` the
    input the refusal is about (``decision_number``, ``decision_date``,
    ``comment``), None when it is about the version itself.
    """

    def __init__(self, message: str, vi: str = "", field: str | None = None):
        super().__init__(message)
        self.vi = vi or "Thao tác không thực hiện được ở trạng thái hiện tại của phiên bản quy trình."
        self.field = field


# --------------------------------------------------------------------------- tables

APPROVAL_TABLES = ("definition_drafts", "definition_reviews")


@event.listens_for(DefinitionDraft, "before_update")
def _approved_drafts_are_frozen(mapper: Any, connection: Any, target: DefinitionDraft) -> None:
    status = sa.inspect(target).attrs.status.history
    was = (status.deleted or status.unchanged or [None])[0]
    if was == APPROVED:
        raise ApprovalError(f"version {target.number} of {target.procedure_code} is approved and frozen; "
                            "make a new draft to change it",
                            "Phiên bản đã phê duyệt không được sửa; hãy tạo dự thảo mới.")


@event.listens_for(DefinitionDraft, "before_delete")
def _approved_drafts_stay(mapper: Any, connection: Any, target: DefinitionDraft) -> None:
    if target.status == APPROVED:
        raise ApprovalError(f"version {target.number} of {target.procedure_code} is approved and may not be deleted",
                            "Phiên bản đã phê duyệt không được xóa.")


@event.listens_for(DefinitionReview, "before_update")
@event.listens_for(DefinitionReview, "before_delete")
def _reviews_are_append_only(mapper: Any, connection: Any, target: DefinitionReview) -> None:
    raise ApprovalError(f"the approval history is append-only: review {target.id} may not be changed")


@event.listens_for(DefinitionVersion, "before_update")
def _published_content_is_frozen(mapper: Any, connection: Any, target: DefinitionVersion) -> None:
    state = sa.inspect(target)
    if state.attrs.content.history.has_changes() or state.attrs.content_hash.history.has_changes():
        raise ApprovalError(f"published version {target.version} of {target.procedure_code} is frozen; "
                            "publish a new version instead")


# One session discipline for every engine module: the services' helpers.
_writing = _services._transaction
_reading = _services._reading


# --------------------------------------------------------------------------- roles


def is_reform_office(actor: Any) -> bool:
    """Whether the actor may write and submit definitions (a reform-office member of staff)."""
    return getattr(actor, "unit", None) in REFORM_UNITS


def is_leader(actor: Any) -> bool:
    """Whether the actor may approve definitions or send them back (a committee leader)."""
    return getattr(actor, "role", None) in LEADER_ROLES


def _require(ok: bool, actor: Any, what: str) -> None:
    if not ok:
        raise NotAuthorized(f"{actor} may not {what}")


# --------------------------------------------------------------------------- checking a text


@dataclass(frozen=True)
class Check:
    """What loading and linting a definition text found."""

    definition: Definition | None  # None when the text does not load
    findings: tuple[Finding, ...]

    @property
    def loads(self) -> bool:
        return self.definition is not None

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity != ERROR)


def check_text(text: str, *, file: str = "<dự thảo>", templates: Mapping[str, Template] | None = None,
               units: Organisation | None = None) -> Check:
    """Load and lint a definition text; never raises for a bad text.

    Parameters
    ----------
    text : str
        The YAML of one definition.
    file : str
        The name used in the findings' locations.
    templates, units
        The catalogue's templates (for ``extends``) and organisation (for the
        unit rules); None: those of the default catalogue.

    Returns
    -------
    Check
        The expanded definition (None when the text does not load) and the
        findings, each with its line: load problems as error findings, else
        the linter's findings.
    """
    if templates is None or units is None:
        cat_units, cat_templates = catalogue_context()
        templates = cat_templates if templates is None else templates
        units = cat_units if units is None else units
    try:
        defn = definition_from_data(load_text(text, file), file, templates)
    except DefinitionError as exc:
        return Check(None, tuple(Finding.from_problem(p) for p in exc.problems))
    except Exception as exc:  # a loader bug must not reach the author as a traceback
        return Check(None, (Finding("internal-error", ERROR, file, 1, 1, None,
                                    f"the text could not be loaded ({type(exc).__name__}: {exc}); "
                                    "this is a bug in quytrinh: please report it with the text"),))
    return Check(defn, tuple(lint(defn, units)))


class UnitsFileError(ApprovalError):
    """The catalogue's units.yaml has problems (the reform office's mistake), so no process can be checked
    against its units: the leader's and the reform office's pages say so, located, and nothing is approved or
    saved until the file is mended. (The staff's pages go on with the units the database stores:
    ``engine.organisation``; a process approved now would be checked against no units at all.)"""

    def __init__(self, problems: list[Any]):
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:3])
        more = f" (và {len(self.problems) - 3} lỗi khác)" if len(self.problems) > 3 else ""
        super().__init__(
            f"units.yaml has problems, so no process can be checked against its units: {shown}",
            f"Tệp units.yaml của danh mục có lỗi nên chưa kiểm tra được quy trình theo đơn vị, vai trò: {shown}{more}. "
            "Trong lúc đó chưa mở được trang phê duyệt, chưa kiểm tra, lưu hay phê duyệt được quy trình nào (chưa "
            "thay đổi gì). Phòng Nội vụ "
            "hoặc quản trị hệ thống hãy sửa units.yaml theo thông báo trên, kiểm tra bằng quytrinh validate rồi "
            "chạy quytrinh publish; trang dùng lại được ngay khi tệp đã sửa, không cần khởi động lại.")


#: catalogue folder -> (the stamp of its units.yaml and templates, the organisation and templates, or the error)
_CONTEXT: dict[str, tuple[tuple, tuple[Organisation | None, dict[str, Template]] | UnitsFileError]] = {}


def _context_stamp(root: Path) -> tuple:
    """What changes when units.yaml or a template changes (modification time and size of each)."""
    files = [root / "units.yaml"]
    if (root / "templates").is_dir():
        files += sorted((root / "templates").iterdir())
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append((f.name, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((f.name, None, None))
    return tuple(out)


def catalogue_context(root: Any = None) -> tuple[Organisation | None, dict[str, Template]]:
    """The organisation (units.yaml) and templates of a catalogue folder (default: the configured one), cached
    until one of those files changes (a mended units.yaml is read at the next page, without a restart).

    Raises
    ------
    UnitsFileError
        When units.yaml has problems (located; its ``vi`` says what to do).
    """
    from engine.definition import default_root, load_templates, load_units

    root = Path(root) if root is not None else default_root()
    key = str(root.resolve())
    stamp = _context_stamp(root)
    hit = _CONTEXT.get(key)
    if hit is None or hit[0] != stamp:
        value: tuple[Organisation | None, dict[str, Template]] | UnitsFileError
        try:
            units = load_units(root / "units.yaml") if (root / "units.yaml").is_file() else None
        except DefinitionError as exc:
            value = UnitsFileError(exc.problems)
        else:
            templates = load_templates(root / "templates") if (root / "templates").is_dir() else {}
            value = (units, templates)
        hit = _CONTEXT[key] = (stamp, value)
    if isinstance(hit[1], UnitsFileError):
        raise UnitsFileError(hit[1].problems)
    return hit[1]


# --------------------------------------------------------------------------- the lifecycle


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _review(s: Session, row: DefinitionDraft, action: str, actor: Any, now: dt.datetime, comment: str = "",
            decision_number: str | None = None, decision_date: dt.date | None = None) -> None:
    s.add(DefinitionReview(draft_id=row.id, procedure_code=row.procedure_code, number=row.number, action=action,
                           actor=actor.username, at=now, comment=comment, decision_number=decision_number,
                           decision_date=decision_date))


def _locked_in(s: Session, code: str, version: int, status: str, rule: str, rule_vi: str,
               sep: str = "; ", lock: bool = True) -> DefinitionDraft:
    """The draft row, locked, when it is in ``status``; else an ApprovalError stating ``rule``."""
    row = _find(s, code, version, lock=lock)
    if row.status != status:
        raise ApprovalError(f"version {version} of {code} is {row.status}{sep}{rule}",
                            f"Phiên bản {version} đang ở trạng thái “{STATE_LABELS[row.status]}”; {rule_vi}")
    return row


def _as_reviewed(s: Session, code: str, version: int, reviewed: int | None, rule: str, rule_vi: str,
                 undone_vi: str, lock: bool = True) -> DefinitionDraft:
    """The submitted draft row (locked), refused when it is no longer the submission the leader reviewed.

    ``reviewed`` is the draft's ``row_version`` on the page the leader decided on (None: not checked). Every
    change of the row bumps it (a save, a submission, a send-back), so a version sent back, edited and
    submitted again under the same number no longer matches, even when its text is the same again.
    """
    row = _locked_in(s, code, version, SUBMITTED, rule, rule_vi, lock=lock)
    if reviewed is not None and row.row_version != reviewed:
        raise ApprovalError(f"version {version} of {code} changed since it was reviewed (revision {reviewed}, now "
                            f"{row.row_version}: sent back, edited or submitted again); review it again",
                            f"Phiên bản {version} đã thay đổi sau khi bạn mở trang (đã bị trả lại, được sửa hoặc "
                            f"trình lại): nội dung bạn đã xem không còn là nội dung đang chờ phê duyệt. "
                            f"{undone_vi} Hãy xem lại nội dung mới của phiên bản rồi quyết định.")
    return row


def _bump(s: Session, row: DefinitionDraft, action: str, actor: Any, now: dt.datetime, **review: Any) -> None:
    """Write a changed draft row (its row version bumped) and its history entry."""
    row.row_version += 1
    s.add(row)
    s.flush()
    _review(s, row, action, actor, now, **review)


def _latest_published(s: Session, code: str) -> DefinitionVersion | None:
    return s.exec(select(DefinitionVersion).where(DefinitionVersion.procedure_code == code)
                  .order_by(DefinitionVersion.version.desc())).first()


def _find(s: Session, code: str, number: int, *, lock: bool = False) -> DefinitionDraft:
    q = select(DefinitionDraft).where(DefinitionDraft.procedure_code == code, DefinitionDraft.number == number)
    if lock:
        q = q.with_for_update()
    row = s.exec(q).first()
    if row is None:
        raise NotFound(f"procedure '{code}' has no version {number}")
    return row


def save_draft(db: Any, text: str, *, actor: Any, now: dt.datetime, file: str = "<dự thảo>",
               templates: Mapping[str, Template] | None = None, units: Organisation | None = None,
               key: str | None = None) -> tuple[DefinitionDraft, list[Finding]]:
    """Save a definition text as the open draft of its procedure.

    The procedure is the text's ``code``; a text without one (``code: ""``,
    the national code is not known yet) is the procedure ``key``: its
    catalogue file's stem, as the editor page passes it. When the procedure has an open draft
    (state ``draft``), its text is replaced; otherwise a new draft is made,
    numbered after every earlier draft and published version.

    Parameters
    ----------
    db : Store, Engine, URL or Session
    text : str
        The YAML of the definition.
    actor : engine.services.Actor
        A reform-office user.
    now : datetime
        Timezone-aware instant of the save.

    Returns
    -------
    (DefinitionDraft, list of Finding)
        The saved draft and its lint findings (also stored on the draft).

    Raises
    ------
    NotAuthorized
        When the actor is not in the reform office.
    DefinitionError
        When the text does not load, or has neither ``code`` nor ``key`` (nothing is saved); its problems
        are located.
    ApprovalError
        When the procedure's draft is submitted (wait for the leader's decision).
    """
    _require(is_reform_office(actor), actor, "write procedure definitions (reform office only)")
    checked = check_text(text, file=file, templates=templates, units=units)
    if checked.definition is None:
        raise DefinitionError([Problem(Location(f.file, f.line, f.col), f.rule_id, f.message, f.step)
                               for f in checked.findings])
    defn = checked.definition
    code = defn.code or (key if key and _KEY.fullmatch(key) else "")
    if not code:
        raise DefinitionError([Problem(defn.where(), "missing-key",
                                       "văn bản chưa có mã TTHC (code) và không gắn với thủ tục nào của danh mục: "
                                       "hãy mở thủ tục từ danh mục (Soạn quy trình) rồi soạn, hoặc ghi mã TTHC "
                                       "đúng như trên Cơ sở dữ liệu quốc gia về TTHC (không tự đặt mã)")])
    findings = list(checked.findings)
    with _writing(db) as s:
        open_row = s.exec(select(DefinitionDraft).where(DefinitionDraft.procedure_code == code,
                                                        DefinitionDraft.status.in_(OPEN_STATES))  # type: ignore[attr-defined]
                          .order_by(DefinitionDraft.number.desc()).with_for_update()).first()
        if open_row is not None and open_row.status == SUBMITTED:
            raise ApprovalError(f"version {open_row.number} of {code} is waiting for a leader's decision; "
                                "it can be changed after it is sent back",
                                f"Phiên bản {open_row.number} đang chờ lãnh đạo phê duyệt; chỉ sửa được khi bị trả lại.")
        values = dict(name=defn.name, level=defn.level, text=text, text_hash=_hash(text),
                      findings=[f.to_dict() for f in findings], errors=checked.errors, warnings=checked.warnings,
                      updated_at=now, updated_by=actor.username)
        if open_row is None:
            latest = _latest_published(s, code)
            top = s.exec(select(sa.func.max(DefinitionDraft.number))
                         .where(DefinitionDraft.procedure_code == code)).one()
            number = max(top or 0, latest.version if latest else 0) + 1
            row = DefinitionDraft(procedure_code=code, number=number, status=DRAFT, created_at=now,
                                  created_by=actor.username, base_version=latest.version if latest else None,
                                  **values)
            s.add(row)
            try:
                s.flush()
            except sa.exc.IntegrityError as exc:  # a concurrent save made the same version first
                raise ApprovalError(f"version {number} of {code} was just created by someone else; try again",
                                    "Phiên bản này vừa được người khác tạo; hãy tải lại trang và thử lại.") from exc
            _review(s, row, "create", actor, now)
        else:
            row = open_row
            for k, v in values.items():
                setattr(row, k, v)
            _bump(s, row, "save", actor, now)
        s.flush()
        return row, findings


def submit(db: Any, code: str, version: int, *, actor: Any, now: dt.datetime) -> DefinitionDraft:
    """Submit a draft to the leaders for approval.

    Raises
    ------
    NotAuthorized
        When the actor is not in the reform office.
    NotFound
        When the procedure has no such version.
    ApprovalError
        When the version is not a draft, or has lint errors (as saved).
    """
    _require(is_reform_office(actor), actor, "submit procedure definitions (reform office only)")
    with _writing(db) as s:
        row = _locked_in(s, code, version, DRAFT, "not a draft; only a draft is submitted",
                         "chỉ dự thảo mới trình được.", sep=", ")
        if row.errors:
            raise ApprovalError(f"version {version} of {code} has {row.errors} lint error(s); fix them before "
                                "submitting", f"Phiên bản {version} còn {row.errors} lỗi kiểm tra: hãy sửa trước khi "
                                "trình lãnh đạo.")
        row.status, row.submitted_at, row.submitted_by = SUBMITTED, now, actor.username
        _bump(s, row, "submit", actor, now)
        return row


def approve(db: Any, code: str, version: int, *, actor: Any, decision_number: str, decision_date: dt.date,
            now: dt.datetime, templates: Mapping[str, Template] | None = None,
            units: Organisation | None = None, reviewed: int | None = None) -> DefinitionDraft:
    """Approve a submitted draft: record the decision, freeze it, publish it for new dossiers.

    The published definition carries ``status: approved``, the draft's number
    as its ``version`` and ``approval{decision, date, signer}``. Dossiers
    already received keep the version they pinned.

    ``reviewed``: the draft's ``row_version`` as the leader saw it (the
    procedure page's form carries it); when given, a version changed since
    (sent back, edited, submitted again under the same number) is refused
    before anything else is checked, so the leader reviews the new text.

    Raises
    ------
    NotAuthorized
        When the actor is not a leader.
    NotFound
        When the procedure has no such version.
    ApprovalError
        When the version is not submitted (or not as ``reviewed``), the decision number or date is
        missing, the number is not of the form ``125/QĐ-UBND``, the date is
        after today (Hanoi time) or before the decision of the version in
        force (the number is stored upper-cased, without spaces), or the text has lint
        errors (checked again now).
    """
    _require(is_leader(actor), actor, "approve procedure definitions (leaders only)")
    approving = dict(rule="only a submitted version is approved", rule_vi="chỉ phiên bản đã trình mới phê duyệt được.",
                     undone_vi="Phiên bản chưa được phê duyệt.")
    if reviewed is not None:  # a stale page first: its fields are not worth correcting
        with _reading(db) as s:
            _as_reviewed(s, code, version, reviewed, lock=False, **approving)
    decision_number = (decision_number or "").strip()
    if not decision_number:
        raise ApprovalError("the decision number (số quyết định) is required to approve",
                            "Hãy nhập số quyết định phê duyệt.", field="decision_number")
    number = _DECISION_NUMBER_SPACES.sub("", decision_number).upper()
    if not _DECISION_NUMBER.fullmatch(number):
        raise ApprovalError(f"decision number '{decision_number}' is not a number/symbol such as 125/QĐ-UBND",
                            f"Số quyết định “{decision_number}” chưa đúng dạng số/ký hiệu (Nghị định 30/2020/NĐ-CP), "
                            "ví dụ 125/QĐ-UBND.", field="decision_number")
    decision_number = number
    if not isinstance(decision_date, dt.date):
        raise ApprovalError("the decision date (ngày quyết định) is required to approve",
                            "Hãy nhập ngày ban hành quyết định.", field="decision_date")
    from engine.calendar import to_local

    today = to_local(now).date()
    if decision_date > today:  # recorded once signed: a later date would publish the version before its decision
        raise ApprovalError(f"the decision date {decision_date.isoformat()} is after today ({today.isoformat()}); "
                            "record the decision once it is signed",
                            f"Ngày quyết định {decision_date:%d/%m/%Y} sau ngày hôm nay ({today:%d/%m/%Y}): chỉ ghi "
                            "nhận quyết định đã ký ban hành; phiên bản chưa được phê duyệt.",
                            field="decision_date")
    with _writing(db) as s:
        row = _as_reviewed(s, code, version, reviewed, **approving)
        in_force = s.exec(select(sa.func.max(DefinitionDraft.decision_date))
                          .where(DefinitionDraft.procedure_code == code, DefinitionDraft.status == APPROVED)).one()
        if in_force is not None and decision_date < in_force:
            raise ApprovalError(f"the decision date {decision_date.isoformat()} is before the decision of the version "
                                f"in force ({in_force.isoformat()}); a later version needs a later decision",
                                f"Ngày quyết định {decision_date:%d/%m/%Y} trước ngày của quyết định đã phê duyệt "
                                f"phiên bản đang áp dụng ({in_force:%d/%m/%Y}): hãy kiểm tra lại ngày ban hành.",
                                field="decision_date")
        checked = check_text(row.text, file=f"{code}.yaml", templates=templates, units=units)  # key = code
        if checked.definition is None or checked.errors:
            first = next(f for f in checked.findings if f.severity == ERROR)
            raise ApprovalError(f"version {version} of {code} has {checked.errors} lint error(s) "
                                f"(first: line {first.line}: {first.message}); send it back to be fixed",
                                f"Phiên bản {version} còn {checked.errors} lỗi kiểm tra (dòng {first.line}); "
                                "không phê duyệt được — hãy trả lại để sửa.")
        from engine.services import publish_definition

        signer = getattr(actor, "full_name", "") or actor.username
        defn = replace(with_status(checked.definition, APPROVED,
                                   Approval(decision_number, decision_date, signer)), version=version)
        published = publish_definition(s, defn, now=now, by=actor.username)
        row.status, row.decided_at, row.decided_by = APPROVED, now, actor.username
        row.decision_number, row.decision_date = decision_number, decision_date
        row.published_id, row.published_version = published.id, published.version
        row.findings = [f.to_dict() for f in checked.findings]
        row.errors, row.warnings = checked.errors, checked.warnings
        _bump(s, row, "approve", actor, now, decision_number=decision_number, decision_date=decision_date)
        return row


def send_back(db: Any, code: str, version: int, *, actor: Any, comment: str, now: dt.datetime,
              reviewed: int | None = None) -> DefinitionDraft:
    """Return a submitted draft to the reform office with a comment (it becomes a draft again).

    ``reviewed``: as for :func:`approve`, the ``row_version`` the leader saw; a version changed since is refused.

    Raises
    ------
    NotAuthorized
        When the actor is not a leader.
    NotFound
        When the procedure has no such version.
    ApprovalError
        When the version is not submitted (or not as ``reviewed``), or the comment is empty.
    """
    _require(is_leader(actor), actor, "send procedure definitions back (leaders only)")
    sending = dict(rule="only a submitted version is sent back", rule_vi="chỉ phiên bản đã trình mới trả lại được.",
                   undone_vi="Phiên bản chưa được trả lại.")
    if reviewed is not None:
        with _reading(db) as s:
            _as_reviewed(s, code, version, reviewed, lock=False, **sending)
    comment = (comment or "").strip()
    if not comment:
        raise ApprovalError("say what to change: a comment is required to send a version back",
                            "Hãy ghi ý kiến: cần sửa gì trước khi trình lại.", field="comment")
    with _writing(db) as s:
        row = _as_reviewed(s, code, version, reviewed, **sending)
        row.status, row.comment, row.decided_at, row.decided_by = DRAFT, comment, now, actor.username
        _bump(s, row, "send_back", actor, now, comment=comment)
        return row


# --------------------------------------------------------------------------- reading


def get_draft(db: Any, code: str, version: int) -> DefinitionDraft:
    """One version of a procedure's drafts.

    Raises
    ------
    NotFound
        When there is no such version.
    """
    with _reading(db) as s:
        return _find(s, code, version)


def drafts(db: Any, code: str | None = None) -> list[DefinitionDraft]:
    """Every draft (of one procedure, or of all), newest version first."""
    with _reading(db) as s:
        q = select(DefinitionDraft)
        if code is not None:
            q = q.where(DefinitionDraft.procedure_code == code)
        return list(s.exec(q.order_by(DefinitionDraft.procedure_code, DefinitionDraft.number.desc())).all())


def open_draft(db: Any, code: str) -> DefinitionDraft | None:
    """The procedure's open draft (state draft or submitted), or None."""
    with _reading(db) as s:
        return s.exec(select(DefinitionDraft).where(DefinitionDraft.procedure_code == code,
                                                    DefinitionDraft.status.in_(OPEN_STATES))  # type: ignore[attr-defined]
                      .order_by(DefinitionDraft.number.desc())).first()


def pending(db: Any) -> list[DefinitionDraft]:
    """The drafts waiting for a leader's decision, oldest submission first."""
    with _reading(db) as s:
        return list(s.exec(select(DefinitionDraft).where(DefinitionDraft.status == SUBMITTED)
                           .order_by(DefinitionDraft.submitted_at)).all())


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a procedure's version history."""

    number: int
    action: str
    actor: str
    at: dt.datetime
    comment: str = ""
    decision_number: str | None = None
    decision_date: dt.date | None = None

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)


def history(db: Any, code: str) -> list[HistoryEntry]:
    """Everything that happened to a procedure's drafts, oldest first (creation, saves, submissions, decisions)."""
    with _reading(db) as s:
        rows = s.exec(select(DefinitionReview).where(DefinitionReview.procedure_code == code)
                      .order_by(DefinitionReview.at, DefinitionReview.id)).all()
        return [HistoryEntry(r.number, r.action, r.actor, r.at, r.comment, r.decision_number, r.decision_date)
                for r in rows]


def published_versions(db: Any, code: str) -> list[DefinitionVersion]:
    """The procedure's published versions (what dossiers pin), newest first."""
    with _reading(db) as s:
        return list(s.exec(select(DefinitionVersion).where(DefinitionVersion.procedure_code == code)
                           .order_by(DefinitionVersion.version.desc())).all())


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class StepDiff:
    """How the steps of two versions differ (by step id)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: Mapping[str, list[str]] = field(default_factory=dict)  # step id -> changed fields (DIFF_FIELDS)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def highlight(self) -> dict[str, str]:
        """The ``highlight`` argument of :func:`engine.render.render_svg` for the merged diagram."""
        marks = {sid: "added" for sid in self.added}
        marks.update({sid: "removed" for sid in self.removed})
        marks.update({sid: "changed" for sid in self.changed})
        return marks


def _route_key(step: Step) -> tuple:
    return tuple((r.outcome, r.targets, r.max, r.label) for r in step.routes)


def _field(step: Step, name: str) -> Any:
    return _route_key(step) if name == "routes" else getattr(step, name)


def diff(old_defn: Definition | None, new_defn: Definition) -> StepDiff:
    """Compare the steps of two versions of a definition.

    Parameters
    ----------
    old_defn : Definition or None
        The earlier version (None: every step of ``new_defn`` is added).
    new_defn : Definition

    Returns
    -------
    StepDiff
        Added and removed step ids (in their definition's order), and for each
        step in both the fields of :data:`DIFF_FIELDS` that differ.
    """
    new = new_defn.steps_by_id()
    old = old_defn.steps_by_id() if old_defn is not None else {}
    added = tuple(sid for sid in new if sid not in old)
    removed = tuple(sid for sid in old if sid not in new)
    changed = {}
    for sid, step in new.items():
        if sid in old:
            fields = [f for f in DIFF_FIELDS if _field(step, f) != _field(old[sid], f)]
            if fields:
                changed[sid] = fields
    return StepDiff(added, removed, changed)


def merged_for_diff(old_defn: Definition | None, new_defn: Definition, d: StepDiff | None = None) -> Definition:
    """The new version with the removed steps of the old one put back, for one diff diagram.

    Each removed step is inserted after the step that preceded it in the old
    version (or at the end) and keeps its routes to steps that still exist;
    the old version's routes *into* it from steps that still exist are put
    back on those steps too (after their own; not on a step that ends the new
    version), so a removed step is drawn where it was, with its arrows in and
    out. ``render_svg(...,
    highlight=d.highlight())`` draws the removed steps and every arrow to or
    from them with the ``removed`` style (dashed red).
    """
    d = d or diff(old_defn, new_defn)
    if old_defn is None or not d.removed:
        return new_defn
    removed = set(d.removed)
    steps = list(new_defn.steps)
    present = {s.id for s in steps} | removed
    old_by_id = old_defn.steps_by_id()
    # Routes of the old version from a step still there to a removed one: back on that step. Not on a
    # step that ends the new version (a route would make it look like it no longer ends the process).
    for i, step in enumerate(steps):
        old_step = old_by_id.get(step.id)
        if old_step is None or step.terminal:
            continue
        back = []
        for r in old_step.routes:
            gone = tuple(t for t in r.targets if t in removed)
            if gone and not any(gone == nr.targets and r.outcome == nr.outcome for nr in step.routes):
                back.append(replace(r, targets=gone))
        if back:
            steps[i] = replace(step, routes=tuple(step.routes) + tuple(back))
    old_ids = [s.id for s in old_defn.steps]
    for sid in d.removed:
        step = old_defn.step(sid)
        kept = tuple(r for r in step.routes if all(t in present for t in r.targets))
        step = replace(step, routes=kept)
        before = old_ids[:old_ids.index(sid)]
        pos = len(steps)
        for prev in reversed(before):
            ids = [s.id for s in steps]
            if prev in ids:
                pos = ids.index(prev) + 1
                break
        steps.insert(pos, step)
    return replace(new_defn, steps=tuple(steps))


def definition_of_draft(row: DefinitionDraft, *, templates: Mapping[str, Template] | None = None,
                        units: Organisation | None = None) -> Check:
    """Load and lint a stored draft's text (see :func:`check_text`)."""
    return check_text(row.text, file=f"{row.procedure_code}.yaml", templates=templates, units=units)


def for_decision(db: Any, catalogue: Catalogue, level: str | None = None) -> tuple[Catalogue, list[str]]:
    """The catalogue as a draft decision must print it: what the leaders review, not the files.

    For each procedure, the version a decision is drafted for is, in order:
    the draft *submitted* for approval (it is what the leaders review; shown
    with its number, no approval yet); else the version approved in the
    database when it is the one in force (it carries its decision, so the
    default selection leaves it out; ``codes`` prints it again); else the
    catalogue file. Submitted drafts of procedures the files do not hold are
    added. The notes (Vietnamese sentences) name what the decision does not
    show: drafts still being written (of ``level`` only, when given), and
    which version stands in for each.

    Returns
    -------
    (Catalogue, list of str)
        A copy of ``catalogue`` with those definitions, and the notes.
    """
    templates, units = catalogue.templates, catalogue.organisation
    by_key = {d.key: d for d in catalogue.definitions}
    with _reading(db) as s:
        rows = list(s.exec(select(DefinitionDraft).order_by(DefinitionDraft.procedure_code,
                                                            DefinitionDraft.number.desc())).all())
        latest = {r.procedure_code: r.version for r in s.exec(
            select(DefinitionVersion.procedure_code, sa.func.max(DefinitionVersion.version).label("version"))
            .group_by(DefinitionVersion.procedure_code)).all()}
        names = {u: n for u, n in s.exec(select(User.username, User.full_name)).all() if n}
    chosen: dict[str, Definition] = {}
    writing: dict[str, int] = {}  # code -> number of the draft being written (not submitted)
    for row in rows:  # newest first per procedure: the first of each state decides
        code = row.procedure_code
        if code in chosen:
            continue
        source = by_key[code].source if code in by_key else f"{code}.yaml"
        if row.status == DRAFT:
            writing.setdefault(code, row.number)
            continue
        if row.status == SUBMITTED or (row.status == APPROVED and row.published_version == latest.get(code)):
            checked = check_text(row.text, file=source, templates=templates, units=units)
            if checked.definition is None:
                continue
            signer = names.get(row.decided_by or "", row.decided_by or "")
            approval = Approval(row.decision_number or "", row.decision_date, signer) if row.status == APPROVED else None
            chosen[code] = replace(checked.definition, version=row.number, status=row.status, approval=approval)
        else:  # an older approved draft, or one superseded by a later publication: the files (or in force) decide
            chosen[code] = by_key.get(code)  # type: ignore[assignment]
    definitions = [chosen.get(d.key) or d for d in catalogue.definitions]
    definitions += [d for code, d in chosen.items() if d is not None and code not in by_key]
    notes: list[str] = []
    for code, number in writing.items():
        stands = chosen.get(code) or by_key.get(code)
        if stands is None or (level is not None and stands.level != level):
            continue
        head = f"{code}: phiên bản {number} đang soạn, chưa trình lãnh đạo"
        if stands.approval is not None:
            notes.append(f"{head}; phiên bản {stands.version} đang áp dụng đã có Quyết định số "
                         f"{stands.approval.decision}, nên thủ tục này không có trong dự thảo (chọn mã để in lại)")
        elif code in chosen:
            notes.append(f"{head}; dự thảo quyết định in phiên bản {stands.version} (bản đã trình gần nhất)")
        else:
            notes.append(f"{head}; dự thảo quyết định in bản trong danh mục ({Path(stands.source).name})")
    return replace(catalogue, definitions=definitions), notes


def summary(row: DefinitionDraft) -> dict[str, Any]:
    """A draft as JSON-ready data (for the web pages and the API)."""
    return {"code": row.procedure_code, "version": row.number, "status": row.status,
            "status_label": STATE_LABELS.get(row.status, row.status), "name": row.name, "errors": row.errors,
            "warnings": row.warnings, "decision_number": row.decision_number,
            "decision_date": row.decision_date.isoformat() if row.decision_date else None,
            "published_version": row.published_version, "comment": row.comment}


__all__ = [
    "APPROVED", "ApprovalError", "Check", "DRAFT", "DefinitionDraft", "DefinitionReview", "HistoryEntry",
    "SUBMITTED", "StepDiff", "UnitsFileError", "approve", "catalogue_context", "check_text", "definition_of_draft",
    "diff", "drafts", "for_decision",
    "get_draft", "history", "is_leader", "is_reform_office", "merged_for_diff", "open_draft",
    "pending", "published_versions", "save_draft", "send_back", "submit", "summary",
]
