"""The side effects behind outbox items: what a drained item actually does.

Every action writes the machine work it causes to the outbox
(:data:`engine.machine.EFFECT_KINDS`); the drain flow (:mod:`workflows.flows`)
hands each claimed item to :func:`perform`, which dispatches on its kind:

``run_automated_step``
    completes the automated work item as the system, through
    :func:`engine.services.complete` with the outbox item's idempotency key,
    so running it twice completes it once;
``issue_receipt``, ``produce_form``
    issue the form (01 receipt, 02, 03, 04, the stop notice...) as a document
    record for the unit;
``notify_unit``, ``notify_user``, ``notify_citizen``, ``notify_unit_head``
    send a Vietnamese message to the unit, the officer a work item was
    assigned to, the applicant or the unit's head (a notice to a unit that
    was merged goes to its successor, and says so);
``publish_result``
    publish the returned result (the sync to the national portal).

Deliveries (documents, messages, publications) go to a :class:`DeliveryLog`, a
JSON-lines file (``$QUYTRINH_DELIVERIES``, default ``var/deliveries.jsonl``):
the embedded default's mailbox, and the place a gateway (SMS, e-mail, the
portal) would be plugged in production. Each delivery carries the outbox
item's idempotency key and is written at most once, so a re-run after a
crash (the item was delivered, the worker died before marking it done) is
harmless.

Errors: :class:`PermanentEffectError` (retrying cannot help: the dossier or
item is gone, the work item was closed by someone else) is not retried;
anything else (an unwritable mailbox, a database hiccup) is.

Not an error: an automated step whose work item was cancelled before the worker
got to it (the applicant withdrew the dossier, processing was stopped) has
nothing left to do; nor has a notice to a unit or an officer about such an item. Its handler returns a *skipped* result
(:func:`skipped_result`: ``{"skipped": "withdrawn" | "stopped" | "cancelled",
...}``, :func:`is_skipped`); the drain records the item ``skipped``, never
retried nor counted among the failures.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from engine import services
from engine.definition import OUTCOME_LABELS
from engine.errors import IllegalAction, NotFound, QuytrinhError
from engine.store import Store, UnitRow

DELIVERIES_ENV = "QUYTRINH_DELIVERIES"
DEFAULT_DELIVERIES = Path("var") / "deliveries.jsonl"

#: The forms of the outbox's ``produce_form`` work and of the receipt, by the code definitions write them
#: (``BM01`` … ``BM06``: the 2018 set's numbers). A delivery names the form as the dossier's own set numbers
#: and titles it (:func:`form_label`): ``BM06``, the ledger, is "Mẫu 06" of Circular 01/2018 for a dossier
#: received before 1/7/2025 and "Mẫu 07" of Circular 03/2025 after.
STOP_NOTICE = "stop_notice"


def form_label(form: str, received: dt.datetime | None) -> str:
    """A form as the dossier's form set (:func:`engine.documents.form_set_for`, by the day it was received)
    names it: "Sổ theo dõi hồ sơ (Mẫu 07)"; the stop notice has a number only in the 2025 set. A code that
    is no form of the set ("KQ", a result a step produces) is said as it is."""
    from engine.documents import FORMS_2018, FORMS_2025, form_set_for

    forms = form_set_for(received) if received is not None else FORMS_2025
    code = form.strip().upper()
    if form == STOP_NOTICE:
        spec = forms.by_kind("stop")
        return f"{spec.title.capitalize()} (Mẫu {spec.number})" if spec else "Thông báo dừng giải quyết hồ sơ"
    spec = FORMS_2018.by_number(code[2:]) if code.startswith("BM") and code[2:].isdigit() else None
    if spec is None:
        return form or "văn bản"
    spec = forms.by_kind(spec.kind) or spec
    return f"{spec.title.capitalize()} (Mẫu {spec.number})"


class EffectError(QuytrinhError):
    """A side effect could not be performed (it will be retried)."""


class PermanentEffectError(EffectError):
    """A side effect can never be performed; retrying would not help."""


#: Why an outbox item is skipped (its result's ``skipped``), by the status of the dossier whose work item was
#: cancelled: withdrawn by the applicant (status 7), stopped (status 8), or the item closed otherwise.
SKIP_WITHDRAWN, SKIP_STOPPED, SKIP_CANCELLED = "withdrawn", "stopped", "cancelled"

#: How the logs say why (after "vì").
SKIP_REASONS_VI = {
    SKIP_WITHDRAWN: "người nộp đã rút hồ sơ",
    SKIP_STOPPED: "cơ quan giải quyết đã dừng xử lý hồ sơ",
    SKIP_CANCELLED: "công việc của bước đã bị hủy",
}


def skipped_result(reason: str, **details: Any) -> dict[str, Any]:
    """The result of a handler that had nothing left to do (see the module docstring)."""
    return {"skipped": reason, **details}


def is_skipped(result: Any) -> bool:
    """Whether a handler's result says the item was skipped (not performed, not an error)."""
    return isinstance(result, dict) and bool(result.get("skipped"))


@dataclass(frozen=True)
class OutboxWork:
    """The part of an outbox row a side effect needs (plain data: it crosses into Prefect tasks)."""

    id: int
    kind: str
    idempotency_key: str
    payload: Mapping[str, Any]
    dossier_id: int | None = None
    work_item_id: int | None = None
    attempts: int = 0

    @classmethod
    def of(cls, row: Any) -> "OutboxWork":
        """Build from an :class:`engine.store.OutboxItem` row."""
        return cls(id=row.id, kind=row.kind, idempotency_key=row.idempotency_key, payload=dict(row.payload or {}),
                   dossier_id=row.dossier_id, work_item_id=row.work_item_id, attempts=row.attempts)

    @property
    def dossier_code(self) -> str:
        return str(self.payload.get("dossier_code") or self.dossier_id or "-")

    @property
    def procedure_code(self) -> str:
        return str(self.payload.get("procedure_code") or "-")

    @property
    def unit(self) -> str | None:
        return self.payload.get("unit")


# --------------------------------------------------------------------------- the delivery log


def deliveries_path() -> Path:
    """The delivery log in use: ``$QUYTRINH_DELIVERIES`` or ``var/deliveries.jsonl``."""
    return Path(os.environ.get(DELIVERIES_ENV) or DEFAULT_DELIVERIES)


class DeliveryLog:
    """An append-only JSON-lines file of deliveries, each key written at most once.

    Safe across threads and processes on one machine (``flock`` around the
    check and the append). The keys already in the file are indexed once per
    process and then read incrementally, so a delivery does not rescan the
    whole file.
    """

    #: path -> (inode, bytes indexed, keys seen): shared by every instance in the process.
    _index: dict[str, tuple[int, int, set[str]]] = {}
    _index_lock = threading.Lock()

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def deliver(self, key: str, record: Mapping[str, Any]) -> bool:
        """Append ``record`` under ``key`` unless ``key`` was delivered already.

        Returns
        -------
        bool
            True when written now, False when it had been delivered before.

        Raises
        ------
        EffectError
            When the file cannot be written.
        """
        line = json.dumps({"key": key, **record}, ensure_ascii=False, default=str).encode("utf-8") + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._index_lock, open(self.path, "a+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    keys = self._catch_up(fh)
                    if key in keys:
                        return False
                    fh.seek(0, os.SEEK_END)
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
                    keys.add(key)
                    ino, _, _ = self._index[str(self.path)]
                    self._index[str(self.path)] = (ino, fh.tell(), keys)
                    return True
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError as exc:
            raise EffectError(f"cannot write the delivery log {self.path}: {exc.strerror or exc}") from None

    def _catch_up(self, fh: Any) -> set[str]:
        """The keys in the file, reading only what was appended since the last call (lock held)."""
        st = os.fstat(fh.fileno())
        ino, offset, keys = self._index.get(str(self.path), (st.st_ino, 0, set()))
        if ino != st.st_ino or offset > st.st_size:  # replaced or truncated: index it again
            offset, keys = 0, set()
        fh.seek(offset)
        tail = fh.read()
        complete = tail[: tail.rfind(b"\n") + 1]
        for raw in complete.splitlines():
            if raw.strip():
                keys.add(json.loads(raw)["key"])
        self._index[str(self.path)] = (st.st_ino, offset + len(complete), keys)
        return keys

    def records(self) -> list[dict[str, Any]]:
        """Every delivery so far, oldest first (empty when the file does not exist)."""
        try:
            with open(self.path, encoding="utf-8") as fh:
                return [json.loads(line) for line in fh if line.strip()]
        except FileNotFoundError:
            return []


# --------------------------------------------------------------------------- handlers


@dataclass(frozen=True)
class EffectContext:
    """What a handler gets: the database, the instant, the worker and where to deliver."""

    store: Store
    now: dt.datetime
    worker: str
    log: DeliveryLog


def _unit_label(store: Store, unit_id: str | None) -> str:
    if not unit_id:
        return "đơn vị"
    with store.session() as s:
        row = s.get(UnitRow, unit_id)
    return (row.short or row.name) if row is not None else unit_id


def _local(iso: str | None) -> str:
    if not iso:
        return "chưa xác định"
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return t.astimezone(dt.timezone(dt.timedelta(hours=7))).strftime("%H:%M ngày %d/%m/%Y")


def _deliver(ctx: EffectContext, work: OutboxWork, channel: str, to: str, message: str,
             extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    record = {"kind": work.kind, "channel": channel, "to": to, "dossier": work.dossier_code,
              "procedure": work.procedure_code, "message": message, "outbox_id": work.id,
              "at": ctx.now.isoformat(), "worker": ctx.worker, **(extra or {})}
    written = ctx.log.deliver(work.idempotency_key, record)
    # (the message too: the outbox item's result and the Prefect task run's log line say what went out)
    return {"channel": channel, "to": to, "delivered": written, "duplicate": not written, "message": message}


def issue_receipt(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Issue form 01 (receipt and appointment) to the applicant."""
    due = _local(work.payload.get("due_at"))
    label = form_label("BM01", _received(ctx, work))
    return _deliver(ctx, work, "document", "citizen",
                    f"Hồ sơ {work.dossier_code}: {label}; hẹn trả kết quả lúc {due}.",
                    {"form": "BM01"})


def _received(ctx: EffectContext, work: OutboxWork) -> dt.datetime | None:
    """The day the outbox item's dossier was received (registered, when refused at the counter), which
    picks its form set; None when the dossier is gone."""
    from engine.store import Dossier

    with ctx.store.session() as s:
        d = s.get(Dossier, work.dossier_id) if work.dossier_id is not None else None
    return (d.received_at or d.registered_at) if d is not None else None


def _one_stop_unit(ctx: EffectContext, work: OutboxWork) -> str | None:
    """The one-stop unit of the outbox item's dossier: the reception unit of the version it pinned."""
    from engine.store import DefinitionVersion, Dossier

    with ctx.store.session() as s:
        d = s.get(Dossier, work.dossier_id) if work.dossier_id is not None else None
        row = s.get(DefinitionVersion, d.definition_id) if d is not None else None
    if row is None:
        raise PermanentEffectError(f"outbox item {work.id}: the dossier {work.dossier_code} of its form does not exist")
    return services.definition_of(row).start.unit


def produce_form(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Produce a form (02, 03, 04, the stop notice, ...) for the unit that issues it.

    That unit is the outbox item's: the unit of the work item the form came from (a refusal at the counter,
    form 03; a form a step ``produces``), or the unit answerable for the dossier, whose head signs the
    apology (form 04, drafted by the timers). A form of the applicant's supplementation step (02) or of the
    whole dossier (the stop notice) is the one-stop unit's, which the action names (an item queued before
    it did names none: the dossier's one-stop unit then). A unit that was merged (units.yaml
    ``merged_into``; the form was queued before the merge, or by a process that had not seen it yet) is
    replaced by the unit that now does its work, as for a notice (:func:`_addressee`): the delivery goes
    there, ``addressed_to`` naming the merged unit.
    """
    form = str(work.payload.get("form") or "")
    label = form_label(form, _received(ctx, work))
    extra = ""
    if work.payload.get("proposed_due_at"):
        extra = f"; đề xuất hẹn lại lúc {_local(work.payload.get('proposed_due_at'))}"
    to, redirected = _current_unit(ctx, work.unit or _one_stop_unit(ctx, work))
    return _deliver(ctx, work, "document", to or "-", f"Hồ sơ {work.dossier_code}: lập {label}{extra}.",
                    {"form": form, **redirected})


def _step_name(ctx: EffectContext, work: OutboxWork) -> str:
    """The Vietnamese name of the outbox item's step (its id when the work item is gone)."""
    from engine.store import WorkItem

    if work.work_item_id is not None:
        with ctx.store.session() as s:
            item = s.get(WorkItem, work.work_item_id)
        if item is not None and item.step_name:
            return item.step_name
    return str(work.payload.get("step") or "")


def _addressee(ctx: EffectContext, work: OutboxWork) -> tuple[str | None, str, dict[str, Any]]:
    """Where a unit notice goes: (unit id, the label its message starts with, extra delivery fields).

    A notice addressed to a unit that was merged (units.yaml ``merged_into``; queued before the merge, or
    by a process that had not seen it yet) goes to the unit that now does its work
    (:func:`engine.services.unit_successors`), and its label says so:
    ``Phòng QLĐT (thay Phòng TC-KH, đã hợp nhất vào Phòng QLĐT)``.

    A commune-level dossier's notice names its commune, in the label (``Tư pháp – Hộ tịch (Xã Bát Tràng)``)
    and as the delivery's ``commune`` field: units.yaml describes every commune's staff with one set of
    units, so the gateway routes the notice to that commune's officers, not to every commune's."""
    unit = work.unit
    successor, redirected = _current_unit(ctx, unit)
    commune = _commune_of(ctx, work)
    where = {"commune": commune} if commune else {}
    of = f" ({commune})" if commune else ""
    if not redirected:
        return unit, _unit_label(ctx.store, unit) + of, where
    name = _unit_label(ctx.store, successor)
    return (successor, f"{name}{of} (thay {_unit_label(ctx.store, unit)}, đã hợp nhất vào {name})",
            {**redirected, **where})


def _commune_of(ctx: EffectContext, work: OutboxWork) -> str:
    """The commune of the outbox item's dossier (a commune-level dossier's), else ''."""
    from engine.store import Dossier

    if work.dossier_id is None:
        return ""
    with ctx.store.session() as s:
        d = s.get(Dossier, work.dossier_id)
    return (d.commune or "") if d is not None else ""


def _current_unit(ctx: EffectContext, unit: str | None) -> tuple[str | None, dict[str, Any]]:
    """The unit that does ``unit``'s work now: its successor when it was merged (the end of its ``merged_into``
    chain, :func:`engine.services.unit_successors`), with ``{"addressed_to": unit}``; else ``unit`` and ``{}``."""
    successor = services.unit_successors(ctx.store, fresh=True).get(unit) if unit else None
    return (successor, {"addressed_to": unit}) if successor else (unit, {})


def _overdue(ctx: EffectContext, iso: str | None) -> str:
    """`` (đã quá hạn)`` when the instant ``iso`` is before the delivery instant, else ``""``."""
    if not iso:
        return ""
    try:
        due = dt.datetime.fromisoformat(iso)
    except ValueError:
        return ""
    if due.tzinfo is None or ctx.now.tzinfo is None:
        return ""
    return " (đã quá hạn)" if due < ctx.now else ""


def _transferred(ctx: EffectContext, work: OutboxWork, step: str, due: str) -> str:
    """The text of a notice that a work item was moved to the unit (``quytrinh unit transfer``): the unit it
    came from (and that it was merged, when it was), who has it now (the item as it is at delivery: the
    holder who kept it, or nobody yet), its due instant and whether it is past."""
    from engine.store import User, WorkItem

    source = str(work.payload.get("from_unit") or "")
    label = _unit_label(ctx.store, source) if source else "đơn vị khác"
    merged = services.unit_successors(ctx.store, fresh=True).get(source) if source else None
    if merged:
        label += f" (đã hợp nhất vào {_unit_label(ctx.store, merged)})"
    who = "chờ cán bộ nhận xử lý"
    if work.work_item_id is not None:
        with ctx.store.session() as s:
            item = s.get(WorkItem, work.work_item_id)
            holder = s.get(User, item.assignee_id) if item is not None and item.assignee_id is not None else None
        if item is not None and item.state == "claimed" and holder is not None:
            who = f"{holder.full_name or holder.username} tiếp tục xử lý"
        elif item is not None and item.state not in ("open", "claimed"):
            who = "công việc đã kết thúc"
    return (f"hồ sơ {work.dossier_code}, bước '{step}' được chuyển từ {label} sang đơn vị; {who}; "
            f"hạn xử lý {due}{_overdue(ctx, work.payload.get('due_at'))}.")


def _stale_notice(ctx: EffectContext, work: OutboxWork) -> dict[str, Any] | None:
    """The skipped result of a notice about a work item cancelled before the notice went (the applicant
    withdrew, processing was stopped: "hồ sơ … chuyển đến bước …" would send the unit to work that is no
    longer there), else None."""
    return _cancelled_item(ctx, work.work_item_id) if work.work_item_id is not None else None


def notify_unit(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Tell a unit that a work item opened for it (or was given back to it, or moved to it from a merged
    unit); a notice to a merged unit goes to its successor. Skipped when the item was cancelled since
    (:func:`_stale_notice`)."""
    stale = _stale_notice(ctx, work)
    if stale is not None:
        return stale
    to, unit, extra = _addressee(ctx, work)
    step = _step_name(ctx, work)
    due = _local(work.payload.get("due_at"))
    reason = work.payload.get("reason")
    if reason == "released":
        text = f"hồ sơ {work.dossier_code}, bước '{step}' được trả lại đơn vị, chờ cán bộ nhận xử lý; hạn xử lý {due}."
    elif reason == "transferred":
        text = _transferred(ctx, work, step, due)
    else:
        text = f"hồ sơ {work.dossier_code} chuyển đến bước '{step}', hạn xử lý {due}."
    return _deliver(ctx, work, "unit", to or "-", f"{unit}: {text}", extra)


def notify_user(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Tell an officer that a work item was assigned to them by name (or taken from them and given to another).
    Skipped when the item was cancelled since (:func:`_stale_notice`)."""
    from engine.store import User

    stale = _stale_notice(ctx, work)
    if stale is not None:
        return stale

    with ctx.store.session() as s:
        user = s.get(User, work.payload.get("user_id"))
    if user is None:
        raise PermanentEffectError(f"outbox item {work.id}: user {work.payload.get('user_id')} does not exist")
    step = _step_name(ctx, work)
    if work.payload.get("reason") == "reassigned":
        text = (f"hồ sơ {work.dossier_code}, bước '{step}' đã được lãnh đạo đơn vị giao cho cán bộ khác; "
                f"anh/chị không cần xử lý tiếp.")
    else:
        text = (f"anh/chị được giao xử lý hồ sơ {work.dossier_code}, bước '{step}', "
                f"hạn xử lý {_local(work.payload.get('due_at'))}.")
    return _deliver(ctx, work, "user", user.username, f"{user.full_name or user.username}: {text}")


_CITIZEN_MESSAGES = {
    "supplement": "đề nghị ông/bà bổ sung, hoàn thiện hồ sơ theo Phiếu yêu cầu bổ sung (Mẫu 02).",
    "financial": ("đề nghị ông/bà thực hiện nghĩa vụ tài chính theo thông báo của cơ quan thuế; thời gian "
                  "thực hiện nghĩa vụ tài chính không tính vào thời hạn giải quyết hồ sơ."),
    "refused": "hồ sơ không được tiếp nhận; lý do ghi tại Phiếu từ chối (Mẫu 03).",
    "result_ready": "đã có kết quả giải quyết; mời ông/bà đến nhận kết quả.",
    "returned": "đã trả kết quả.",
    "withdraw": "đã rút hồ sơ theo đề nghị của ông/bà.",
    "stop": "cơ quan giải quyết đã dừng xử lý hồ sơ.",
}


def notify_citizen(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Tell the applicant what happened to the dossier (by the channel they filed through)."""
    reason = str(work.payload.get("reason") or "")
    if reason == "appointment_moved":  # after a supplement or the financial obligations: the new date
        why = ("thời hạn giải quyết được tính lại từ đầu kể từ khi nhận đủ hồ sơ" if work.payload.get("restart")
               else "thời gian thực hiện nghĩa vụ tài chính không tính vào thời hạn giải quyết"
               if work.payload.get("financial")
               else "thời gian bổ sung, hoàn thiện hồ sơ không tính vào thời hạn giải quyết")
        text = (f"ngày hẹn trả kết quả được tính lại là {_local(work.payload.get('due_at'))} "
                f"(trước đây hẹn {_local(work.payload.get('due_before'))}); {why}.")
    elif reason == "apology":  # a signed form 04: the new appointment
        text = (f"cơ quan giải quyết xin lỗi vì chưa trả kết quả đúng hẹn và hẹn lại trả kết quả vào "
                f"{_local(work.payload.get('proposed_due_at'))} (Mẫu 04).")
    else:
        text = _CITIZEN_MESSAGES.get(reason, f"hồ sơ có thay đổi ({reason}).")
    return _deliver(ctx, work, "citizen", "citizen", f"Hồ sơ {work.dossier_code}: {text}", {"reason": reason})


_HEAD_MESSAGES = {
    "nearly_due": "bước '{step}' sắp đến hạn (hạn {due}).",
    "overdue": "bước '{step}' đã quá hạn (hạn {due}).",
    "dossier_overdue": "hồ sơ đã quá hạn trả kết quả (hẹn {due}).",
    "apology_drafted": "đã lập dự thảo Phiếu xin lỗi và hẹn lại ngày trả kết quả (Mẫu 04), "
                       "đề xuất hẹn lại lúc {proposed}; đề nghị ghi lý do và ký.",
}


def notify_unit_head(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Tell the head of a unit that a timer fired (nearly due, overdue, apology drafted); the head of a
    merged unit's successor when the unit was merged."""
    p = work.payload
    reason = str(p.get("reason") or "")
    template = _HEAD_MESSAGES.get(reason, "cảnh báo thời hạn ({reason}).")
    step = _step_name(ctx, work) if work.work_item_id is not None else str(p.get("step") or "")
    elsewhere = p.get("step_unit")
    if elsewhere and elsewhere != work.unit:  # a partner's step: the office in charge is told, and where it is
        step = f"{step}' tại '{_unit_label(ctx.store, str(elsewhere))}"
    text = template.format(step=step, due=_local(p.get("due_at")),
                           proposed=_local(p.get("proposed_due_at")), reason=reason)
    to, unit, extra = _addressee(ctx, work)  # a merged unit's head: its successor's (the same role there)
    return _deliver(ctx, work, "unit_head", f"{to or '-'}/{p.get('role') or 'head'}",
                    f"{unit} — hồ sơ {work.dossier_code}: {text}", {"reason": reason, **extra})


def publish_result(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Publish the returned result (sync the dossier's status 10 to the portal)."""
    return _deliver(ctx, work, "portal", "cong_dich_vu_cong",
                    f"Hồ sơ {work.dossier_code}: đã trả kết quả (trạng thái 10).")


def run_automated_step(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Complete an automated work item as the system (exactly once, by idempotency key).

    The outcome is the payload's ``outcome`` or the step's only route; a
    terminal automated step completes without one.

    A work item cancelled before the worker got to it (the applicant withdrew
    the dossier, processing was stopped: :func:`engine.services.withdraw`,
    :func:`engine.services.stop`) is not completed and is no error: the result
    is skipped (:func:`skipped_result`), naming why, the work item and its step.

    Raises
    ------
    PermanentEffectError
        When the item or dossier is gone, the item was completed otherwise,
        or the step has several outcomes and the payload names none.
    """
    item_id = work.work_item_id
    if item_id is None:
        raise PermanentEffectError(f"outbox item {work.id} ({work.kind}) names no work item")
    skipped = _cancelled_item(ctx, item_id)
    if skipped is not None:
        return skipped
    outcome = work.payload.get("outcome")
    if outcome is None:
        with ctx.store.session() as s:
            from engine.store import DefinitionVersion, Dossier, WorkItem

            item = s.get(WorkItem, item_id)
            if item is None:
                raise PermanentEffectError(f"work item {item_id} does not exist")
            d = s.get(Dossier, item.dossier_id)
            row = s.get(DefinitionVersion, d.definition_id) if d is not None else None
            if row is None:
                raise PermanentEffectError(f"the dossier of work item {item_id} has no definition")
            step = services.definition_of(row).step(item.step_id)
        if len(step.routes) > 1:
            raise PermanentEffectError(
                f"automated step '{step.id}' has several outcomes "
                f"({', '.join(OUTCOME_LABELS.get(r.outcome, r.outcome) for r in step.routes)}); "
                f"the outbox payload must name one")
        outcome = step.routes[0].outcome if step.routes else None
    try:
        res = services.complete(ctx.store, services.SYSTEM, item_id, outcome=outcome, now=ctx.now,
                                comment="Bước tự động", idempotency_key=f"outbox:{work.idempotency_key}")
    except (NotFound, IllegalAction) as exc:
        skipped = _cancelled_item(ctx, item_id)  # withdrawn or stopped since the check above
        if skipped is not None:
            return skipped
        raise PermanentEffectError(str(exc)) from None
    return {"completed": item_id, "outcome": outcome, "version": res.version, "replayed": res.replayed,
            "opened": res.opened}


def _cancelled_item(ctx: EffectContext, item_id: int) -> dict[str, Any] | None:
    """The skipped result when work item ``item_id`` was cancelled (why: its dossier's status), else None."""
    from engine.machine import CANCELLED, Status
    from engine.store import Dossier, WorkItem

    with ctx.store.session() as s:
        item = s.get(WorkItem, item_id)
        if item is None or item.state != CANCELLED:
            return None
        d = s.get(Dossier, item.dossier_id)
        status = d.status if d is not None else None
        step = item.step_name or item.step_id
    reason = {int(Status.WITHDRAWN): SKIP_WITHDRAWN, int(Status.STOPPED): SKIP_STOPPED}.get(status, SKIP_CANCELLED)
    return skipped_result(reason, work_item=item_id, step=step, dossier_status=status)


Handler = Callable[[EffectContext, OutboxWork], dict]

#: Outbox kind -> handler. Every kind :mod:`engine.machine` produces has one.
HANDLERS: dict[str, Handler] = {
    "issue_receipt": issue_receipt,
    "produce_form": produce_form,
    "notify_unit": notify_unit,
    "notify_user": notify_user,
    "notify_citizen": notify_citizen,
    "notify_unit_head": notify_unit_head,
    "publish_result": publish_result,
    "run_automated_step": run_automated_step,
}


def perform(ctx: EffectContext, work: OutboxWork) -> dict[str, Any]:
    """Perform the side effect of one outbox item.

    Returns
    -------
    dict
        What was done (stored as the outbox item's result).

    Raises
    ------
    PermanentEffectError
        For an unknown kind, or when the handler says retrying cannot help.
    EffectError, QuytrinhError, OSError...
        Anything else: transient, the item is retried.
    """
    handler = HANDLERS.get(work.kind)
    if handler is None:
        raise PermanentEffectError(f"outbox item {work.id} has unknown kind '{work.kind}'; "
                                   f"known kinds: {', '.join(sorted(HANDLERS))}")
    return handler(ctx, work)
