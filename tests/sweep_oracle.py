"""The timer sweep as it was written before its writes were batched: one transaction per dossier (the ORM).

:func:`engine.services.sweep_timers` now writes a chunk of dossiers per transaction with set-based
statements (:func:`engine.services._sweep_chunk`). This module keeps the one-by-one path, unchanged, as the
reference the tests compare it with (tests/test_sweep_selection.py, tests/test_sweep_batch.py): the same
rows, events and outbox items, whatever the history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine import machine, sla
from engine.definition import Definition
from engine.services import (
    SYSTEM_USERNAME,
    SweepResult,
    _answerable_unit,
    _head_role,
    _successors_from,
    _transaction,
    definition_of,
    remaining_need,
)
from engine.store import (
    OPEN_ITEM_STATES,
    OUTBOX_PENDING,
    Apology,
    DefinitionVersion,
    Dossier,
    Event,
    OutboxItem,
    UnitRow,
    WorkItem,
    utc,
)


def one_by_one_sweep(db: Any, now: dt.datetime, cal: Any, policy: sla.SlaPolicy = sla.DEFAULT_SLA_POLICY,
                     lead: int = 480) -> SweepResult:
    """Every open dossier not waiting for the citizen, one transaction each (no selection, no batching)."""
    result = SweepResult()
    with db.session() as s:
        ids = list(s.exec(select(Dossier.id).where(Dossier.closed_at.is_(None), Dossier.paused_at.is_(None))
                          .order_by(Dossier.id)).all())
        units = s.exec(select(UnitRow)).all()
    heads = {u.id: _head_role(u.roles) for u in units}
    successors = _successors_from([(u.id, u.merged_into) for u in units])
    definitions: dict = {}
    for dossier_id in ids:
        with _transaction(db) as s, s.no_autoflush:
            sweep_dossier(s, dossier_id, now, cal, policy, lead, result, heads, definitions, successors)
    return result


def sweep_dossier(s: Session, dossier_id: int, now: dt.datetime, cal: Any, policy: sla.SlaPolicy,
                   lead: int, result: SweepResult, heads: dict[str, str | None],
                   definitions: dict[int, Definition], successors: Mapping[str, str] | None = None) -> None:
    d = s.get(Dossier, dossier_id)
    if d is None or d.closed_at is not None or d.paused_at is not None:
        return
    items = s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id,
                                          WorkItem.state.in_(OPEN_ITEM_STATES))  # type: ignore[attr-defined]
                   .order_by(WorkItem.id)).all()
    defn = definitions.get(d.definition_id)
    if defn is None:
        defn = definitions[d.definition_id] = definition_of(s.get(DefinitionVersion, d.definition_id))  # type: ignore[arg-type]
    written: set[str] | None = None

    def note(kind: str, key: str, payload: dict[str, Any], item: WorkItem | None, unit: str | None) -> None:
        # the unique key makes a second sweep (or a concurrent one) write nothing
        nonlocal written
        if written is None:
            written = set(s.exec(select(OutboxItem.idempotency_key).where(
                OutboxItem.dossier_id == dossier_id, OutboxItem.idempotency_key.startswith("timer:"))).all())  # type: ignore[attr-defined]
        if key in written:
            return
        written.add(key)
        s.add(OutboxItem(kind=kind, dossier_id=dossier_id, work_item_id=item.id if item else None,
                         payload={**payload, "dossier_code": d.code, "procedure_code": d.procedure_code,
                                  "unit": unit, "role": heads.get(unit) if unit else None},
                         idempotency_key=key, state=OUTBOX_PENDING, available_at=now, created_at=now))
        result.notifications += 1

    answerable: list[str | None] = []  # computed when a notice or an apology needs it (most sweeps write none)

    def holder() -> str | None:
        if not answerable:
            answerable.append(_answerable_unit(defn, items, heads, successors))
        return answerable[0]

    left_by_item: list[tuple[str, int]] = []
    for w in items:
        clock = machine.load_clock(w.clock)
        if clock is None or clock.paused:
            continue
        result.checked += 1
        cls = str(sla.timeliness_open(clock, cal, now, policy, sla.Scope.STEP))
        left_by_item.append((w.step_id, max(0, clock.remaining(cal, now))))
        if cls == (w.timeliness or "not_due"):
            continue
        res = s.execute(sa.update(WorkItem)
                        .where(WorkItem.id == w.id, WorkItem.state.in_(OPEN_ITEM_STATES),  # type: ignore[attr-defined]
                               WorkItem.timeliness.is_(None) if w.timeliness is None  # type: ignore[union-attr]
                               else WorkItem.timeliness == w.timeliness)
                        .values(timeliness=cls).execution_options(synchronize_session=False))
        if res.rowcount != 1:
            continue
        s.add(Event(dossier_id=dossier_id, work_item_id=w.id, at=now, actor=SYSTEM_USERNAME, action="timeliness",
                    step_id=w.step_id, from_status=d.status, to_status=d.status,
                    data={"from": w.timeliness, "to": cls, "due_at": w.due_at.isoformat() if w.due_at else None}))
        if cls == "nearly_due":
            result.nearly_due += 1
        elif cls == "overdue":
            result.overdue += 1
        if cls in ("nearly_due", "overdue"):  # a unit without a head (a partner agency): the dossier's office
            told = w.unit_id if heads.get(w.unit_id) else holder()
            note("notify_unit_head", f"timer:item:{w.id}:{cls}", {"reason": cls, "step": w.step_id,
                 "work_item": w.id, "step_unit": w.unit_id, "due_at": w.due_at.isoformat() if w.due_at else None},
                 w, told)

    if d.received_at is None or d.due_at is None or d.finished_at is not None:
        return
    dclock = machine.load_clock(d.clock)
    if dclock is None or d.paused_at is not None:  # (under "counts" a supplement pause does not stop it)
        return
    dcls = str(sla.timeliness_open(dclock, cal, now, policy, sla.Scope.DOSSIER))
    if dcls == "overdue" and d.timeliness != "overdue":
        res = s.execute(sa.update(Dossier).where(Dossier.id == dossier_id, Dossier.closed_at.is_(None),  # type: ignore[union-attr]
                                                 sa.or_(Dossier.timeliness.is_(None), Dossier.timeliness != "overdue"))  # type: ignore[union-attr]
                        .values(timeliness="overdue").execution_options(synchronize_session=False))
        if res.rowcount == 1:
            result.dossiers_overdue += 1
            s.add(Event(dossier_id=dossier_id, at=now, actor=SYSTEM_USERNAME, action="timeliness",
                        from_status=d.status, to_status=d.status,
                        data={"from": d.timeliness, "to": "overdue", "due_at": d.due_at.isoformat()}))
            note("notify_unit_head", f"timer:dossier:{d.id}:{d.due_at.isoformat()}:overdue",
                 {"reason": "dossier_overdue", "due_at": d.due_at.isoformat()}, None, holder())

    # The apology (form 04): from one working day before the appointment, if it cannot be kept. After an
    # apology the appointment is the new date it gave (unless a pause has moved the dossier's own past it);
    # when that date has come and the dossier is still open, another apology is drafted. (Not before: the
    # new date was "now + what is still needed", an estimate that would say "cannot make it" again a
    # minute later, since no work is assumed done meanwhile.)
    left = cal.elapsed(now, d.due_at)
    if left > lead:  # (an apology's date is later still)
        return
    last = s.exec(select(Apology).where(Apology.dossier_id == dossier_id).order_by(Apology.id.desc())).first()  # type: ignore[union-attr]
    promised = d.due_at
    if last is not None and utc(last.proposed_due_at) > promised:
        promised = utc(last.proposed_due_at)
        left = cal.elapsed(now, promised)
        if left > 0:
            return
    need = remaining_need(defn, left_by_item)
    if need <= max(0, left):
        return
    if s.exec(select(Apology.id).where(Apology.dossier_id == dossier_id, Apology.due_at == promised)).first():
        return
    proposed = cal.add(now, need)
    apology = Apology(dossier_id=dossier_id, due_at=promised, proposed_due_at=proposed, needed_minutes=need,
                      remaining_minutes=left, reason="", state="draft", drafted_at=now, unit_id=holder())
    s.add(apology)
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:  # a concurrent sweep drafted it
        return
    result.apologies += 1
    s.add(Event(dossier_id=dossier_id, at=now, actor=SYSTEM_USERNAME, action="apology", from_status=d.status,
                to_status=d.status, data={"due_at": promised.isoformat(), "proposed_due_at": proposed.isoformat(),
                                          "needed_minutes": need, "remaining_minutes": left,
                                          "apology": apology.id}))
    note("produce_form", f"timer:apology:{apology.id}:form", {"form": "BM04", "apology": apology.id,
         "proposed_due_at": proposed.isoformat()}, None, holder())
    note("notify_unit_head", f"timer:apology:{apology.id}:head", {"reason": "apology_drafted",
         "apology": apology.id, "due_at": promised.isoformat(), "proposed_due_at": proposed.isoformat()},
         None, holder())
