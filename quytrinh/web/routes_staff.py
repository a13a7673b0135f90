"""Staff pages: the inbox, a work item (act on it), reception at the one-stop counter, form 01, the catalogue."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from engine import services as sv
from engine.calendar import LOCAL_TZ
from engine.errors import DuplicateRequest, IllegalAction, NotAuthorized, QuytrinhError, StaleVersion
from engine.store import WorkItem
from quytrinh.messages import released_to_successor_text
from quytrinh.web.deps import (WebUser, current_user, flash, local_time, now_of, people_of, render, require_role,
                               store_of)

router = APIRouter(include_in_schema=False)


# --------------------------------------------------------------------------- helpers


def _sort_key(t: sv.TaskRow) -> tuple:
    # Least remaining working time first; paused / untimed items last.
    return (t.remaining_minutes is None, t.remaining_minutes if t.remaining_minutes is not None else 0, t.item_id)


def inbox_rows(store: Any, user: WebUser, now: Any) -> tuple[list[sv.TaskRow], list[sv.TaskRow]]:
    """The user's own work and the rest of their unit's open work, least remaining time first.

    Own work is what ``list_tasks(user=...)`` returns: items claimed by the user, and
    unclaimed items of their unit and role. For staff tied to a commune, only the items of that commune's
    dossiers and of dossiers of no commune (:attr:`WebUser.tied_commune`). Both lists come from one query of the unit's items; when a unit
    was merged into the user's (units.yaml ``merged_into``), a second query adds the items the user still
    holds there with their role (moved to the successor before ``quytrinh unit transfer``: theirs to finish,
    :func:`engine.services.holds_merged_work`).
    """
    rows = sv.list_tasks(store, now=now, unit=user.unit_id, commune=user.tied_commune or None)
    successors = sv.unit_successors(store)
    if user.unit_id in successors.values():
        rows += [t for t in sv.list_tasks(store, now=now, user=user.username)
                 if t.unit_id != user.unit_id and successors.get(t.unit_id or "") == user.unit_id
                 and t.assignee == user.username and t.role == user.role]
    rows = sorted(rows, key=_sort_key)
    mine, unit = [], []
    for t in rows:
        own = t.assignee == user.username or (t.assignee is None and t.role == user.role)
        (mine if own else unit).append(t)
    return mine, unit


def one_stop_unit(request: Request, defn: Any) -> str | None:
    """The unit that does the one-stop duties of ``defn``'s dossiers: its reception step's unit, or the unit
    that unit was merged into (units.yaml ``merged_into``), as the services decide."""
    unit = defn.start.unit
    return sv.unit_successors(store_of(request)).get(unit, unit) if unit else unit


def other_commune(user: WebUser, commune: str | None) -> bool:
    """Whether a dossier of ``commune`` is another commune's than the one ``user`` is tied to (staff tied to a
    commune see that commune's dossiers and those of no commune; everyone else sees any commune's)."""
    from engine.definition import commune_key

    mine = user.tied_commune
    return bool(mine and commune and commune_key(commune) != commune_key(mine))


def can_view_dossier(request: Request, user: WebUser, sheet: sv.DossierSheet) -> bool:
    """Staff see a dossier their unit works on (or the one-stop unit that received it, or its successor);
    leaders, the reform office and admins see every dossier. The unit that signs (or signed) an apology of
    the dossier sees it too: a merged unit's draft is signed by its successor's head before the transfer;
    so does the unit a unit the dossier's work is at was merged into (units.yaml ``merged_into``): it does
    that work now (:func:`engine.services.holds_merged_work`).

    Staff tied to a commune (``users.commune``, ``quytrinh user commune``), a commune's leaders among them,
    do not see another commune's dossier, whatever their unit does on it (units.yaml describes every
    commune's staff with one set of units).

    A dossier the user may not see is answered as one that does not exist (:func:`load_sheet`, the API), so
    that its id or code cannot be probed."""
    if other_commune(user, sheet.dossier.commune):  # (a commune's tied leader too: :attr:`WebUser.tied_commune`)
        return False
    if user.has("leader", "reform", "admin"):
        return True
    if user.unit_id in (sheet.definition.start.unit, one_stop_unit(request, sheet.definition)):
        return True
    if any(r.unit_id == user.unit_id for r in sheet.rows):
        return True
    if any(signer == user.unit_id for signer in apology_signers(request, sheet).values()):
        return True
    successors = sv.unit_successors(store_of(request))
    return bool(successors) and any(successors.get(r.unit_id or "") == user.unit_id for r in sheet.rows)


def apology_signers(request: Request, sheet: sv.DossierSheet) -> dict[int, str | None]:
    """Apology id -> the unit whose head signs it (a draft of a merged unit: its successor, units.yaml
    ``merged_into``, as the services decide) or signed it."""
    if not sheet.apologies:
        return {}
    drafts = any(a.state == "draft" for a in sheet.apologies)
    successors = sv.unit_successors(store_of(request)) if drafts else {}
    return {a.id: sv.apology_signer(successors, a.unit_id) if a.state == "draft" else a.unit_id
            for a in sheet.apologies}


def load_sheet(request: Request, user: WebUser, ref: str | int) -> sv.DossierSheet:
    """The dossier's sheet, if the user may see it (:func:`can_view_dossier`); else the error of a dossier
    that does not exist (404, the same page), so that a dossier's code or id cannot be probed."""
    sheet = sv.dossier_sheet(store_of(request), ref, now=now_of(request))
    if not can_view_dossier(request, user, sheet):
        raise sv.dossier_missing(ref)
    return sheet


#: What a work item that does not exist, or whose dossier the user may not see, is answered with (404).
NO_SUCH_ITEM = "Không có công việc này."


def item_of(request: Request, user: WebUser, item_id: int) -> WorkItem:
    """The work item, if the user's unit holds it (leaders, reform office and admins may look). An item of
    another unit is refused (403) when the user may see its dossier, and answered as missing (404, as for
    an id that does not exist) when they may not: its id cannot be probed. So is an item of another commune's
    dossier for staff tied to a commune (:func:`other_commune`), even at their own unit."""
    with store_of(request).session() as s:
        item = s.get(WorkItem, item_id)
    if item is None:
        raise HTTPException(404, NO_SUCH_ITEM)
    if user.tied_commune:  # an item of another commune's dossier, though at the user's unit: as missing
        from engine.store import Dossier

        with store_of(request).session() as s:
            d = s.get(Dossier, item.dossier_id)
        if d is not None and other_commune(user, d.commune):
            raise HTTPException(404, NO_SUCH_ITEM)
    if (item.unit_id != user.unit_id and not user.has("leader", "reform", "admin")
            and not _held_at_merged_unit(request, user, item)):
        sheet = sv.dossier_sheet(store_of(request), item.dossier_id)
        if not can_view_dossier(request, user, sheet):
            raise HTTPException(404, NO_SUCH_ITEM)
        raise HTTPException(403, "Công việc này thuộc đơn vị khác; bạn không xem hoặc xử lý được.")
    return item


def _held_at_merged_unit(request: Request, user: WebUser, item: WorkItem) -> bool:
    """Whether ``item`` is at a unit merged into the user's (units.yaml ``merged_into``) and is (or was, when
    they finished it) the user's: moved to the successor before ``quytrinh unit transfer``, they still see
    the work they held there; they act on it while they hold it (:func:`engine.services.holds_merged_work`)."""
    return (item.assignee_id == user.id and item.unit_id != user.unit_id
            and sv.unit_successors(store_of(request)).get(item.unit_id or "") == user.unit_id)


def _action_error(request: Request, exc: QuytrinhError, back: str, *, item_id: int | None = None,
                  user: WebUser | None = None, holder_matters: tuple[type, ...] = (NotAuthorized, StaleVersion)
                  ) -> Response:
    """Back to ``back`` with the refusal in Vietnamese.

    ``item_id``, ``user``: the refused action was the user's on that work item; when the item changed
    meanwhile (done, cancelled, or, for a refusal of ``holder_matters``, held by someone), the message says
    what it is now and who did it (see :func:`_item_news`; the database is unchanged either way).
    """
    news = (_item_news(request, item_id, user, exc, holder_matters)
            if item_id is not None and user is not None else None)
    flash(request, news[0] if news is not None else _refusal_text(request, exc, user, _dossier_of_item(request, item_id)),
          "error")
    return RedirectResponse(back, status_code=303)


def _dossier_of_item(request: Request, item_id: int | None) -> int | None:
    if item_id is None:
        return None
    with store_of(request).session() as s:
        item = s.get(WorkItem, item_id)
    return item.dossier_id if item is not None else None


def _quoted(text: str) -> str:
    return f"“{text.strip()}”"


def _refused_complete(request: Request, exc: QuytrinhError, item_id: int, user: WebUser, comment: str,
                      assignee: str) -> Response:
    """A refused completion: what became of the item (:func:`_item_news`); what the user typed is not lost:
    when they may still act, the page again (409) with it in the form; else the message quotes it."""
    news = _item_news(request, item_id, user, exc)
    item = item_of(request, user, item_id)
    message = news[0] if news is not None else _refusal_text(request, exc, user, item.dossier_id)
    still = (news[1] if news is not None else
             item.state in ("open", "claimed") and item.unit_id == user.unit_id and item.role == user.role
             and item.assignee_id in (None, user.id)
             # its holder, moved from the merged unit it is at to its successor: theirs to finish as well
             or sv.holds_merged_work(user.actor, item, sv.unit_successors(store_of(request))))
    if comment.strip() or assignee:
        if still:
            flash(request, f"{message} Ý kiến bạn vừa nhập vẫn còn trong ô bên dưới.", "error")
            return _item_view(request, user, item, status_code=409, typed={"comment": comment, "assignee": assignee})
        if comment.strip():
            message += f" Ý kiến bạn vừa nhập chưa được ghi: {_quoted(comment)}."
    flash(request, message, "error")
    return RedirectResponse(f"/items/{item_id}", status_code=303)


#: The refusals that may mean "the page is older than the dossier" (something was done meanwhile).
_CHANGED_MEANWHILE = (StaleVersion, IllegalAction, NotAuthorized, DuplicateRequest)
#: Said of a change the user made themself, from another tab or an older page.
ELSEWHERE = "ở thẻ/cửa sổ khác hoặc trang đã mở trước đó"


def _refusal_text(request: Request, exc: QuytrinhError, user: WebUser | None, dossier_id: int | None = None) -> str:
    """The refusal in Vietnamese; for a stale page, who changed the dossier last (the user: in another tab)."""
    from quytrinh.web.app import error_message_vi

    if isinstance(exc, StaleVersion) and user is not None and dossier_id is not None:
        last = _last_event(request, dossier_id, None)
        if last is not None:
            from engine.machine import ACTION_LABELS

            what = ACTION_LABELS.get(last.action, last.action)
            if last.actor == user.username:
                return (f"Bạn đã cập nhật hồ sơ này {ELSEWHERE} ({what}, lúc {_when(last.at)}); trang đã được "
                        "tải lại. Hãy xem lại và thực hiện lại nếu vẫn cần; hồ sơ chưa thay đổi.")
            return (f"Hồ sơ vừa được {display_name(request, last.actor)} cập nhật ({what}, lúc {_when(last.at)}); "
                    "trang đã được tải lại. Hãy xem lại và thực hiện lại nếu vẫn cần; hồ sơ chưa thay đổi.")
    return error_message_vi(exc)


def _when(at: dt.datetime) -> str:
    return local_time(at, "%H:%M ngày %d/%m/%Y")


def _last_event(request: Request, dossier_id: int, item_id: int | None, actions: tuple[str, ...] = ()) -> Any:
    """The latest event of the dossier (of the work item ``item_id`` when given; of ``actions`` when given)."""
    from sqlmodel import select

    from engine.store import Event

    q = select(Event).where(Event.dossier_id == dossier_id, Event.actor != sv.SYSTEM_USERNAME)
    if item_id is not None:
        q = q.where(Event.work_item_id == item_id)
    if actions:
        q = q.where(Event.action.in_(actions))  # type: ignore[attr-defined]
    with store_of(request).session() as s:
        return s.exec(q.order_by(Event.id.desc()).limit(1)).first()  # type: ignore[union-attr]


def _who(request: Request, user: WebUser, username: str) -> str:
    return "bạn" if username == user.username else display_name(request, username)


def _item_news(request: Request, item_id: int, user: WebUser, exc: QuytrinhError,
               holder_matters: tuple[type, ...] = (NotAuthorized, StaleVersion)) -> tuple[str, bool] | None:
    """What became of the work item since the user's page, when that explains the refusal ``exc``:
    (the message, whether the user may still act on the item), or None (the refusal's own text).

    Done or cancelled: by whom (the user themself: in another tab), when, and that nothing is left to do.
    Held by someone (for ``holder_matters``): who claimed it, or who gave it to whom. Held by the user
    (claimed in another tab, or given to them): to look again and act."""
    from engine.machine import STATUS_LABELS, Status
    from engine.store import Dossier, User

    if not isinstance(exc, _CHANGED_MEANWHILE):
        return None
    with store_of(request).session() as s:
        item = s.get(WorkItem, item_id)
        dossier = s.get(Dossier, item.dossier_id) if item is not None else None
        holder = s.get(User, item.assignee_id) if item is not None and item.assignee_id is not None else None
    if item is None or dossier is None:
        return None
    if item.state == "done":
        last = _last_event(request, dossier.id, item.id)  # type: ignore[arg-type]
        if last is None:
            return None
        label = _outcome_label(request, item)
        how = f" ({label})" if label else ""
        if last.actor == user.username:
            return (f"Bạn đã hoàn thành công việc này{how} lúc {_when(last.at)} {ELSEWHERE}; "
                    "không cần xử lý lại.", False)
        return (f"Công việc này đã được {display_name(request, last.actor)} hoàn thành{how} lúc {_when(last.at)}; "
                "bạn không cần xử lý nữa.", False)
    if item.state == "cancelled":
        status = Status(dossier.status)
        ended = _last_event(request, dossier.id, None, ("withdraw", "stop"))  # type: ignore[arg-type]
        if status in (Status.WITHDRAWN, Status.STOPPED) and ended is not None:
            what = ("đã được rút theo đơn của tổ chức, cá nhân" if status == Status.WITHDRAWN
                    else "đã bị dừng xử lý")
            by = (f"bạn ghi nhận {ELSEWHERE}" if ended.actor == user.username
                  else f"{display_name(request, ended.actor)} ghi nhận")
            return (f"Công việc này đã hủy: hồ sơ {what} ({by} lúc {_when(ended.at)}); "
                    "bạn không cần xử lý nữa.", False)
        return (f"Công việc này đã hủy (hồ sơ: {STATUS_LABELS[status]}); bạn không cần xử lý nữa.", False)
    if item.state != "claimed" or holder is None:
        return None
    given = _last_event(request, dossier.id, item.id, ("claim", "assign"))  # type: ignore[arg-type]
    assigned_by = given.actor if given is not None and given.action == "assign" else None
    if holder.id == user.id:
        if not isinstance(exc, StaleVersion):
            return None
        if assigned_by is not None and assigned_by != user.username:
            return (f"Công việc này đã được {display_name(request, assigned_by)} giao cho bạn; trang đã được "
                    "tải lại. Hãy xem lại và thực hiện lại; hồ sơ chưa thay đổi.", True)
        return (f"Bạn đã nhận xử lý công việc này {ELSEWHERE}; trang đã được tải lại. Hãy xem lại và thực hiện "
                "lại; hồ sơ chưa thay đổi.", True)
    if not isinstance(exc, holder_matters):
        return None
    name = holder.full_name or holder.username
    if assigned_by is not None:
        return (f"Công việc này đã được {_who(request, user, assigned_by)} giao cho {name}"
                f"{' ' + ELSEWHERE if assigned_by == user.username else ''}; trang đã được tải lại.", False)
    return f"Công việc này đã được {name} nhận xử lý; trang đã được tải lại.", False


def _outcome_label(request: Request, item: WorkItem) -> str:
    """How the step's outcome ``item.outcome`` reads on its button ("Đạt"); "" when it has none, or when it
    would only repeat the sentence it goes in ("đã hoàn thành … (Hoàn thành)")."""
    if not item.outcome:
        return ""
    defn = _definition_of_item(request, item)
    try:
        step = defn.step(item.step_id) if defn is not None else None
    except Exception:  # a step no longer in the definition: its outcome's id is all there is
        step = None
    found = next((r.display for r in step.routes if r.outcome == item.outcome), None) if step is not None else None
    return "" if not found or found.strip().casefold() == "hoàn thành" else found


def display_name(request: Request, username: str) -> str:
    """The full name of a user, as the pages name people (the username when none is recorded)."""
    return people_of(request).get(username, username)


# --------------------------------------------------------------------------- inbox


@router.get("/inbox")
def inbox(request: Request, code: str = "", user: WebUser = Depends(current_user)) -> Response:
    """``code``: what was looked up and not found (:func:`find_dossier`), kept in the look-up box."""
    store = store_of(request)
    mine, unit = inbox_rows(store, user, now_of(request))
    waiting = sv.waiting_for_applicant(store, user.unit_id) if user.has("one_stop") else []
    waiting = [w for w in waiting if not other_commune(user, w["dossier"].commune)]
    # the unit's head signs its draft apologies (form 04), those of a unit merged into it too
    heads = (user.unit_id is not None and user.role in sv.HEAD_ROLES
             and user.role == sv.unit_head_role(store, user.unit_id))
    apologies = sv.apologies_to_sign(store, unit=user.unit_id, commune=user.tied_commune or None) if heads else []
    return render(request, "inbox.html", {"mine": mine, "unit_rows": unit, "waiting": waiting,
                                          "apologies": apologies, "units": _unit_names(request) if apologies else {},
                                          "people": people_of(request), "lookup": code[:100]})


#: Dashes a code may come with when copied from a document or a chat (‐ ‑ ‒ – — −): the code's hyphen.
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")
#: A national-code dossier code as typed: its dot a comma (a numeric keypad under Vietnamese regional settings
#: types ","), its hyphens left out.
_TYPED_CODE = re.compile(r"(\d{1,2})[.,](\d{6})-?(\d{8})-?(\d{6})")


def typed_dossier_code(code: str) -> str:
    """The dossier code the look-up box was given, as form 01 prints it where it can be told: spaces left out,
    full-width digits and dashes read as ASCII (``unicodedata`` NFKC, the dashes of a copied text), and for a
    national procedure code ``1,001612-20261128-000001`` or ``1.00161220261128000001`` ->
    ``1.001612-20261128-000001``; anything else as typed (spaces aside)."""
    import unicodedata

    typed = "".join(unicodedata.normalize("NFKC", code).translate(_DASHES).split())
    m = _TYPED_CODE.fullmatch(typed)
    return f"{m[1]}.{m[2]}-{m[3]}-{m[4]}" if m else typed


@router.get("/dossiers")
def find_dossier(request: Request, code: str = "", user: WebUser = Depends(current_user)) -> Response:
    """*Tra cứu hồ sơ* (the inbox's look-up box): the dossier of that code (as form 01 prints it; spaces and
    case aside) -> its page when the user may see it; none, or one the user may not see -> the inbox, told
    that there is no such dossier, the code kept in the box."""
    from urllib.parse import quote

    from sqlmodel import select

    from engine.store import Dossier

    typed = typed_dossier_code(code)
    if not typed:
        return RedirectResponse("/inbox", status_code=303)
    # case aside: a national code's dossier code has no letters, a procedure known by its slug (no national
    # code yet) has a lower-case one ("thanh-lap-truong-thcs-20260310-000001"), which upper-casing lost
    wanted = {typed, typed.upper(), typed.lower()}
    with store_of(request).session() as s:
        found = s.exec(select(Dossier.code).where(Dossier.code.in_(wanted))).first()  # type: ignore[attr-defined]
    if found is not None and can_view_dossier(request, user, sv.dossier_sheet(store_of(request), found)):
        return RedirectResponse(f"/dossiers/{found}", status_code=303)
    # none, or one the user may not see: the same answer (a code cannot be probed)
    flash(request, f"Không có hồ sơ mã {_quoted(code)}. Mã hồ sơ in trên Giấy tiếp nhận và hẹn trả kết quả, "
                   "dạng 1.001612-20261128-000001.", "error")
    return RedirectResponse(f"/inbox?code={quote(code.strip()[:100])}", status_code=303)


# --------------------------------------------------------------------------- work item


@router.get("/items/{item_id}")
def item_page(request: Request, item_id: int, user: WebUser = Depends(current_user)) -> Response:
    return _item_view(request, user, item_of(request, user, item_id))


def _item_view(request: Request, user: WebUser, item: WorkItem, *, status_code: int = 200,
               typed: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> Response:
    """The work item's page; ``typed``: what a refused form had (``comment``, ``assignee``), shown again;
    ``errors``: field -> what to fix, shown under the field (which gets the focus)."""
    sheet = sv.dossier_sheet(store_of(request), item.dossier_id, now=now_of(request))
    defn = sheet.definition
    step = defn.step(item.step_id)
    live = item.state in ("open", "claimed") and item.kind in ("human", "sign", "return")
    successors = sv.unit_successors(store_of(request))
    held_merged = live and sv.holds_merged_work(user.actor, item, successors)
    may_act = live and ((item.unit_id == user.unit_id and item.role == user.role
                         and item.assignee_id in (None, user.id)) or held_merged)
    heads_unit = live and item.unit_id == user.unit_id and user.role == sv.unit_head_role(store_of(request),
                                                                                       item.unit_id)
    may_release = live and item.state == "claimed" and (item.assignee_id == user.id or heads_unit)
    outcomes = [(r.outcome, r.display) for r in step.routes]
    if may_act and step.terminal:
        from quytrinh.web.app import return_label

        outcomes = [("", return_label(step))]
    row = next((r for r in sheet.rows if r.item_id == item.id), None)
    holder = row.assignee if row is not None and item.state == "claimed" else None
    # the head may give the item to any active officer of its unit and role but the one holding it
    # (not themselves: taking it is "Nhận xử lý")
    assignees = ([(name, full) for name, full in sv.assignable_users(store_of(request), item.unit_id, item.role)
                  if name not in (holder, user.username)] if heads_unit else [])
    # The head completing a step of their own (e.g. "phân công chuyên viên thụ lý") may name who does the next
    # step of the unit at once, when the step's routes lead to one role of it. The unit is where the next step
    # opens: a merged unit's step opens at its successor (chains resolved), so a head moved there who holds
    # their step at the merged unit (holds_merged_work) names an officer of the successor, as
    # engine.services.complete_and_assign gives it; a head still of the merged unit names no one.
    here = successors.get(item.unit_id or "", item.unit_id)
    heads_next = (here == user.unit_id and (heads_unit or held_merged)
                  and user.role == sv.unit_head_role(store_of(request), here))

    def opens_here(step_id: str) -> bool:
        unit = defn.step(step_id).unit
        return successors.get(unit or "", unit) == here

    next_roles = {t.role for r in step.routes for t in (defn.step(x) for x in r.targets)
                  if opens_here(t.id) and t.kind in ("human", "sign", "return")}
    next_officers = (sv.assignable_users(store_of(request), here, next(iter(next_roles)))
                     if may_act and heads_next and len(next_roles) == 1 and user.role not in next_roles else [])
    # the outcomes the picker applies to, when not all of them (the others leave the unit)
    within = [r.display for r in step.routes if any(opens_here(x) for x in r.targets)]
    next_for = within if next_officers and len(within) < len(step.routes) else []
    # the outcomes whose comment is required: what to supplement (form 02), a refusal's reason
    need_kind = {r.outcome: sv.reason_needed(defn, step.id, r.outcome) for r in step.routes}
    need_text = {o for o, kind in need_kind.items() if kind}
    from engine import machine

    clock = machine.load_clock(item.clock)
    remaining = None
    if clock is not None and not clock.paused and item.state in ("open", "claimed"):
        remaining = clock.remaining(_calendar(), now_of(request))
    units = _unit_names(request)
    # no-store: Back after an action must show the item as it is now, not a cached page with live buttons
    return _no_store(render(request, "item.html", {
        "item": item, "sheet": sheet, "d": sheet.dossier, "defn": defn, "step": step, "row": row,
        "may_act": may_act, "may_release": may_release, "assignees": assignees, "next_officers": next_officers,
        "next_for": next_for, "outcomes": outcomes, "remaining": remaining,
        "need_text": [label for outcome, label in outcomes if outcome in need_text],
        "need_hints": [f"Khi chọn “{label}”: {REASON_HINTS[need_kind[outcome]]}." for outcome, label in outcomes
                       if outcome in need_text],
        "units": units, "people": people_of(request), "idem": uuid.uuid4().hex,
        "handover": _handovers(sheet, units).get(item.id, ""),
        "role_title": _role_title(request, item.unit_id, item.role),
        "typed": typed or {}, "errors": errors or {}, "focus": next(iter(errors or {}), None),
    }, status_code=status_code))


def _calendar() -> Any:
    from engine.calendar import WorkCalendar

    return WorkCalendar.default()


def _handovers(sheet: Any, units: dict[str, str]) -> dict[int, str]:
    """Work item id -> ``từ Phòng QLĐT, chuyển ngày 28/11/2026`` for the items moved from a merged unit
    (:func:`engine.documents.item_handovers`, short unit names)."""
    from engine.documents import item_handovers

    return item_handovers(sheet, lambda u: units.get(u, u))


def _unit_names(request: Request) -> dict[str, str]:
    from sqlmodel import select

    from engine.store import UnitRow

    with store_of(request).session() as s:
        return {u.id: (u.short or u.name) for u in s.exec(select(UnitRow)).all()}


def _role_title(request: Request, unit_id: str | None, role: str | None) -> str:
    """The Vietnamese title of a unit's role, as units.yaml gives it (``Chuyên viên``); the id when none."""
    from engine.store import UnitRow

    with store_of(request).session() as s:
        unit = s.get(UnitRow, unit_id) if unit_id else None
    return str((unit.roles or {}).get(role, role)) if unit is not None and role else (role or "")


def _on_item(request: Request, user: WebUser, item_id: int, action: Any, idem: str, done: str,
             holder_matters: tuple[type, ...] = (NotAuthorized, StaleVersion), then: Any = None,
             **kw: Any) -> Response:
    """Run ``action`` (claim, assign, release) on an item of the user's unit; back to its page with ``done``
    (or the refusal, the dossier unchanged; see :func:`_action_error` for ``holder_matters``). ``then(res)``,
    after a success, given the action's result, may give another page and message (None: the item's page
    and ``done``)."""
    item_of(request, user, item_id)
    back = f"/items/{item_id}"
    try:
        res = action(store_of(request), user.actor, item_id, now=now_of(request),
                     idempotency_key=f"web-{action.__name__}-{idem}" if idem else None, **kw)
    except QuytrinhError as exc:
        return _action_error(request, exc, back, item_id=item_id, user=user, holder_matters=holder_matters)
    back, done = (then(res) if then is not None else None) or (back, done)
    flash(request, done, "success")
    return RedirectResponse(back, status_code=303)


@router.post("/items/{item_id}/claim")
def item_claim(request: Request, item_id: int, version: int = Form(...), idem: str = Form(""),
               user: WebUser = Depends(current_user)) -> Response:
    return _on_item(request, user, item_id, sv.claim, idem, "Bạn đã nhận xử lý công việc này.",
                    expected_version=version)


@router.post("/items/{item_id}/assign")
def item_assign(request: Request, item_id: int, version: int = Form(...), to: str = Form(""), idem: str = Form(""),
                user: WebUser = Depends(current_user)) -> Response:
    # (the head may assign an item someone holds: only a stale page is about the holder)
    return _on_item(request, user, item_id, sv.assign, idem,
                    f"Đã phân công công việc này cho {display_name(request, to)}.", holder_matters=(StaleVersion,),
                    to=to, expected_version=version)


@router.post("/items/{item_id}/release")
def item_release(request: Request, item_id: int, version: int = Form(...), idem: str = Form(""),
                 user: WebUser = Depends(current_user)) -> Response:
    def where(res: Any) -> tuple[str, str] | None:
        successor = _released_to(request, res)
        if successor is None:
            return None
        # released at a merged unit: it went to the successor's queue (engine.services.release), said as
        # `quytrinh task release` says it, whoever released it. A remaining member of the merged unit (or its
        # head) no longer opens the item's page: to their inbox; its holder moved to the successor stays on
        # it (the item is now in their own unit's queue).
        with store_of(request).session() as s:
            item = s.get(WorkItem, item_id)
        stays = item is not None and (item.unit_id == user.unit_id or user.has("leader", "reform", "admin"))
        return (f"/items/{item_id}" if stays else "/inbox"), (
            "Đã trả lại công việc; " + released_to_successor_text(successor))

    return _on_item(request, user, item_id, sv.release, idem,
                    "Đã trả lại công việc cho đơn vị; cán bộ khác có thể nhận xử lý.", expected_version=version,
                    then=where)


def _released_to(request: Request, res: Any) -> str | None:
    """The short name of the unit whose queue a release sent the item to, when it was at a merged unit (the
    release's own ``transfer`` event, by the system, names it: ``engine.services.release``, as ``quytrinh task
    release`` reads it); None otherwise. A replayed release (the same form again) gives the first one's events,
    so it says the same."""
    from sqlmodel import select

    from engine.store import Event

    if not getattr(res, "events", None):
        return None
    with store_of(request).session() as s:
        moved = s.exec(select(Event).where(Event.id.in_(res.events), Event.action == "transfer")).first()
    to = (moved.data or {}).get("to_unit") if moved is not None else None
    return _unit_names(request).get(to, to) if to else None


#: What the page asks for when an outcome needs its text (engine.services.reason_needed).
REASON_ASKS = {"supplement": "Hãy ghi rõ giấy tờ, nội dung tổ chức, cá nhân cần bổ sung vào ô Ý kiến xử lý "
                             "(in trên Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ)",
               "refuse": "Hãy ghi rõ lý do từ chối vào ô Ý kiến xử lý",
               "rework": "Hãy ghi rõ lý do trả lại và việc cần làm lại vào ô Ý kiến xử lý (người xử lý lại đọc ở "
                         "trang công việc)"}
#: Under the comment box: what each kind of outcome that needs the text asks it to say.
REASON_HINTS = {"supplement": "ghi rõ giấy tờ, nội dung cần bổ sung (in trên phiếu gửi tổ chức, cá nhân)",
                "refuse": "ghi rõ lý do từ chối (nêu trong phiếu, văn bản gửi tổ chức, cá nhân)",
                "rework": "ghi rõ lý do trả lại và việc cần làm lại (người xử lý lại đọc ở trang công việc)"}


def _definition_of_item(request: Request, item: WorkItem) -> Any:
    """The definition the item's dossier runs (None if the dossier is gone)."""
    from engine.store import DefinitionVersion, Dossier

    with store_of(request).session() as s:
        d = s.get(Dossier, item.dossier_id)
        row = s.get(DefinitionVersion, d.definition_id) if d is not None else None
    return sv.definition_of(row) if row is not None else None


def _reason_needed_for(request: Request, item: WorkItem, outcome: str | None) -> str | None:
    defn = _definition_of_item(request, item)
    return sv.reason_needed(defn, item.step_id, outcome) if defn is not None else None


def _got_appointment(request: Request, item: WorkItem, res: sv.ActionResult) -> bool:
    """Whether completing ``item`` was the reception accepting the dossier: a receipt (form 01) to print.

    That is the one-stop unit's re-check of a dossier registered online or supplemented: the reception
    (start) step completed and the dossier now has its appointment.
    """
    from engine.machine import Status
    from engine.store import Dossier

    defn = _definition_of_item(request, item)
    if defn is None or item.step_id != defn.start.id or res.status not in (Status.RECEIVED, Status.PROCESSING):
        return False
    with store_of(request).session() as s:
        d = s.get(Dossier, item.dossier_id)
    return d is not None and d.received_at is not None and d.due_at is not None


@router.post("/items/{item_id}/complete")
def item_complete(request: Request, item_id: int, version: int = Form(...), outcome: str = Form(""),
                  comment: str = Form(""), assignee: str = Form(""), idem: str = Form(""),
                  user: WebUser = Depends(current_user)) -> Response:
    item = item_of(request, user, item_id)
    back = f"/items/{item_id}"
    if not comment.strip():
        need = _reason_needed_for(request, item, outcome or None)
        if need is not None:  # the page again, the message under the comment, what was chosen kept
            return _item_view(request, user, item, status_code=422,
                              typed={"comment": comment, "assignee": assignee},
                              errors={"comment": REASON_ASKS[need] + "; hồ sơ chưa thay đổi."})
    kw = dict(outcome=outcome or None, now=now_of(request), comment=comment.strip(), expected_version=version,
              idempotency_key=f"web-complete-{idem}" if idem else None)
    try:
        given: list[sv.ActionResult] = []
        if assignee:  # and give the unit's next step to that officer, in the same transaction
            res, given = sv.complete_and_assign(store_of(request), user.actor, item_id, to=assignee, strict=False,
                                                **kw)
        else:
            res = sv.complete(store_of(request), user.actor, item_id, **kw)
    except QuytrinhError as exc:
        return _refused_complete(request, exc, item_id, user, comment, assignee)
    from engine.machine import Status

    if res.replayed:  # the same form sent again (Back, then the same button): done once, say so
        done = _last_event(request, item.dossier_id, item_id)
        label = _outcome_label(request, item_of(request, user, item_id))
        flash(request, f"Bạn đã hoàn thành bước này{f' ({label})' if label else ''}"
                       f"{f' lúc {_when(done.at)}' if done is not None else ''}; không có gì thay đổi thêm.", "info")
        return RedirectResponse(back, status_code=303)
    if given:
        given_text = f"; bước tiếp theo đã giao cho {display_name(request, assignee)}"
    elif assignee:  # the chosen outcome leads out of the unit: nothing to give
        given_text = "; bước tiếp theo không thuộc đơn vị nên không giao cho ai"
    else:
        given_text = _handed_back_text(request, res)
    if _got_appointment(request, item, res):  # the counter accepted it: print form 01 for the applicant
        flash(request, f"Đã tiếp nhận hồ sơ {res.dossier_code}. In Giấy tiếp nhận và hẹn trả kết quả.", "success")
        return RedirectResponse(f"/dossiers/{res.dossier_code}/receipt", status_code=303)
    flash(request, f"Đã hoàn thành bước xử lý hồ sơ {res.dossier_code} — trạng thái: {Status(res.status).label}"
                   f"{given_text}.", "success")
    return RedirectResponse("/inbox", status_code=303)


def _handed_back_text(request: Request, res: sv.ActionResult) -> str:
    """What a completion gave back to the officer who did a step before (sent back for rework:
    ``engine.services._hand_back``), for its message: ``; hồ sơ được trả lại cho Lê Văn Cường, người đã xử lý
    bước này lần trước``; '' when it opened nothing claimed (a step opened for the first time is its unit's)."""
    if not res.opened:
        return ""
    with store_of(request).session() as s:
        items = [w for w in (s.get(WorkItem, i) for i in res.opened) if w is not None]
    users = _holders(request, items).values()
    if not users:
        return ""
    return (f"; hồ sơ được trả lại cho {', '.join(u.full_name or u.username for u in users)}, người đã xử lý "
            "bước này lần trước")


def _holders(request: Request, items: list[Any]) -> dict[int, Any]:
    """The accounts holding the claimed ones of ``items`` (just opened: given back by
    ``engine.services._hand_back``), by id, in the items' order."""
    held = list(dict.fromkeys(w.assignee_id for w in items if w.state == "claimed" and w.assignee_id is not None))
    if not held:
        return {}
    from engine.store import User

    with store_of(request).session() as s:
        return {u.id: u for u in (s.get(User, i) for i in held) if u is not None}


# --------------------------------------------------------------------------- dossier


@router.get("/dossiers/{code}")
def dossier_page(request: Request, code: str, user: WebUser = Depends(current_user)) -> Response:
    return _dossier_view(request, user, code)


def _dossier_view(request: Request, user: WebUser, code: str, *, status_code: int = 200,
                  typed: dict[Any, Any] | None = None, errors: dict[str, str] | None = None) -> Response:
    """The dossier page; ``typed``: per apology id, the reason and date a refused signature had, and per
    form (``withdraw``, ``stop``) the text a refused action had, shown again; ``errors``: field -> what to
    fix (``withdraw-comment``, ``stop-reason``, ``apology-<id>-reason``, ``apology-<id>-proposed``), shown
    under the field, which gets the focus."""
    sheet = load_sheet(request, user, code)
    steps = sheet.definition.steps_by_id()
    waiting = [steps[r.step_id] for r in sheet.rows
               if r.kind == "citizen" and r.state in ("open", "claimed") and r.step_id in steps]
    from engine.documents import available_forms, form_set_for
    from engine.machine import INTERRUPTIBLE

    d = sheet.dossier
    mine = one_stop_unit(request, sheet.definition) == user.unit_id
    signed = [a for a in sheet.apologies if a.state != "draft"]
    apology_form = form_set_for(d.received_at).by_kind("apology") if d.received_at else None
    units = _unit_names(request)
    # what the applicant was asked to supplement (form 02): the comment of the latest event that opened the
    # waiting step, as the inbox's waiting list says it (engine.services.waiting_for_applicant)
    asked = {r.step_id: e.comment for e in sheet.events for r in sheet.rows
             if r.kind == "citizen" and r.state in ("open", "claimed") and e.comment
             and r.step_id in (e.to_steps or ())}
    return _no_store(render(request, "dossier.html", {  # (its action forms: as the work item's page)
        "sheet": sheet, "d": sheet.dossier, "defn": sheet.definition, "units": units,
        "handovers": _handovers(sheet, units),
        "people": people_of(request),
        "may_record_supplement": mine and any(not s.financial for s in waiting),
        "may_record_financial": mine and any(s.financial for s in waiting),
        "supplement_asked": next((asked[s.id] for s in waiting if not s.financial and asked.get(s.id)), ""),
        "financial_asked": next((asked[s.id] for s in waiting if s.financial and asked.get(s.id)), ""),
        "may_interrupt": mine and user.has("one_stop") and d.status in INTERRUPTIBLE,
        "forms": available_forms(sheet), "forms_url": forms_url(d.code),
        "may_sign_apology": (user.unit_id is not None and user.role in sv.HEAD_ROLES and d.finished_at is None
                             and d.closed_at is None),
        "apology_signers": apology_signers(request, sheet),  # draft id -> the unit whose head signs it now
        "rescheduled": signed[-1].proposed_due_at if signed else None,
        "apology_title": apology_form.title.capitalize() if apology_form else "Phiếu xin lỗi và hẹn lại",
        "typed": typed or {}, "errors": errors or {}, "focus": next(iter(errors or {}), None),
        "idem": uuid.uuid4().hex}, status_code=status_code))


@router.post("/dossiers/{code}/apologies/{apology_id}/sign")
def dossier_sign_apology(request: Request, code: str, apology_id: int, reason: str = Form(""),
                         proposed: str = Form(""), user: WebUser = Depends(current_user)) -> Response:
    """The head of the answerable unit signs the drafted apology (form 04): reason, new appointment.

    A refused signature shows the page again with what was typed (status 422; nothing changes)."""
    from quytrinh.messages import cli_error_text

    sheet = load_sheet(request, user, code)

    def refused(message: str, field: str | None = None) -> Response:
        """The page again with what was typed; the message under ``field`` (else at the top)."""
        if field is None:
            flash(request, f"{message} Phiếu chưa được ký.", "error")
        errors = {f"apology-{apology_id}-{field}": f"{message} Phiếu chưa được ký."} if field else None
        return _dossier_view(request, user, sheet.dossier.code, status_code=422,
                             typed={apology_id: (reason, proposed)}, errors=errors)

    if not reason.strip():
        return refused("Hãy ghi lý do chậm trễ (in trên phiếu xin lỗi).", "reason")
    new = None
    if proposed.strip():
        try:
            new = dt.datetime.fromisoformat(proposed.strip()).replace(tzinfo=LOCAL_TZ)
        except ValueError:
            return refused("Ngày giờ hẹn mới không hợp lệ.", "proposed")
    try:
        signed = sv.sign_apology(store_of(request), user.actor, apology_id, reason=reason, proposed_due_at=new,
                                 now=now_of(request))
    except NotAuthorized as exc:
        text = cli_error_text(exc)
        return refused(text if "hợp nhất" in text else
                       "Chỉ lãnh đạo đơn vị chịu trách nhiệm về hồ sơ mới ký phiếu xin lỗi.")
    except QuytrinhError as exc:
        return refused(cli_error_text(exc).replace(" (--reason)", ""))
    when = signed.proposed_due_at.astimezone(LOCAL_TZ)
    flash(request, f"Đã ký phiếu xin lỗi và hẹn lại: hẹn trả kết quả lúc {when:%H:%M} ngày {when:%d/%m/%Y}; đã "
                   "thông báo cho tổ chức, cá nhân. In Mẫu 04 để gửi.", "success")
    return RedirectResponse(f"/dossiers/{sheet.dossier.code}#apologies", status_code=303)


@router.post("/dossiers/{code}/supplemented")
def dossier_supplemented(request: Request, code: str, version: int = Form(...), comment: str = Form(""),
                         idem: str = Form(""), user: WebUser = Depends(require_role("one_stop"))) -> Response:
    """The applicant brought the supplement: the waiting step completes and the clock resumes (or restarts).

    Asked at the reception (form 02 at the counter), the dossier is back at the reception step, the counter's
    to check and accept (form 01): the user goes straight to it when it is theirs to do. Otherwise the message
    names the unit(s) the dossier went on to."""
    return _dossier_action(request, user, code, idem, "web-supplemented", sv.supplement_received, version,
                           "comment", comment, "Đã ghi nhận hồ sơ bổ sung của {code}; hồ sơ được chuyển tiếp xử lý.",
                           then=lambda res: _after_supplement(request, user, res))


def _after_supplement(request: Request, user: WebUser, res: Any) -> tuple[str, str] | None:
    """Where a recorded supplement leads (``res``: the action's result): (page, message), or None (the dossier's
    page and the default message). The items it opened: one the user may take up at once (the reception step
    again) -> that item's page; else the units they are at, named."""
    if res.replayed or not res.opened:
        return None
    with store_of(request).session() as s:
        items = [w for w in (s.get(WorkItem, i) for i in res.opened) if w is not None]
    if not items:
        return None
    mine = next((w for w in items if w.state == "open" and w.unit_id == user.unit_id and w.role == user.role
                 and w.assignee_id in (None, user.id)), None)
    done = f"Đã ghi nhận hồ sơ bổ sung của {res.dossier_code}"
    if mine is not None:
        defn = _definition_of_item(request, mine)
        step = defn.step(mine.step_id).name if defn is not None else mine.step_id
        return (f"/items/{mine.id}", f"{done}; hồ sơ trở lại bước “{step}”: hãy kiểm tra hồ sơ và tiếp nhận "
                                     "(hoặc yêu cầu bổ sung tiếp, từ chối) bên dưới.")
    units = _unit_names(request)
    holders = _holders(request, items)  # given back to the officer who asked for the supplement

    def who(w: Any) -> str:
        unit = units.get(w.unit_id or "", w.unit_id or "")
        holder = holders.get(w.assignee_id) if w.state == "claimed" else None
        return f"{holder.full_name or holder.username} ({unit})" if holder is not None else unit

    names = list(dict.fromkeys(who(w) for w in items if w.unit_id))
    if not names:
        return None
    return None, f"{done}; hồ sơ được chuyển tiếp cho {', '.join(names)} xử lý."


@router.post("/dossiers/{code}/financial-done")
def dossier_financial_done(request: Request, code: str, version: int = Form(...), comment: str = Form(""),
                           idem: str = Form(""), user: WebUser = Depends(require_role("one_stop"))) -> Response:
    """The applicant fulfilled the financial obligations: the waiting step completes and the clock resumes."""
    return _dossier_action(request, user, code, idem, "web-financial", sv.financial_done, version,
                           "comment", comment,
                           "Đã ghi nhận hồ sơ {code} đã thực hiện nghĩa vụ tài chính; thời gian giải quyết được "
                           "tính tiếp.")


@router.post("/dossiers/{code}/withdraw")
def dossier_withdraw(request: Request, code: str, version: int = Form(...), comment: str = Form(""),
                     idem: str = Form(""), user: WebUser = Depends(require_role("one_stop"))) -> Response:
    """The applicant asked in writing to withdraw the dossier (status 7): its open work is cancelled."""
    return _dossier_action(request, user, code, idem, "web-withdraw", sv.withdraw, version,
                           "comment", comment,
                           "Đã ghi nhận tổ chức, cá nhân rút hồ sơ {code}; các bước đang mở đã được hủy.",
                           ask="Hãy ghi đơn đề nghị rút hồ sơ của tổ chức, cá nhân (số, ngày, lý do)")


@router.post("/dossiers/{code}/stop")
def dossier_stop(request: Request, code: str, version: int = Form(...), reason: str = Form(""),
                 idem: str = Form(""), user: WebUser = Depends(require_role("one_stop"))) -> Response:
    """Stop processing the dossier (status 8) with a reason, printed on the stop notice."""
    return _dossier_action(request, user, code, idem, "web-stop", sv.stop, version,
                           "reason", reason,
                           "Đã dừng xử lý hồ sơ {code}; in thông báo dừng xử lý để gửi tổ chức, cá nhân.",
                           ask="Hãy ghi lý do dừng xử lý (in trên thông báo gửi tổ chức, cá nhân)")


def _dossier_action(request: Request, user: WebUser, code: str, idem: str, key_prefix: str, service: Any,
                    version: int, text_name: str, text: str, done: str, ask: str | None = None,
                    then: Any = None) -> Response:
    """Run ``service`` (an engine service on the dossier, taking ``text`` as its ``text_name`` argument) at
    ``version``, then back to the dossier page with ``done`` (or the error) as the message. ``then(res)``,
    after a success, given the service's result, may give another page (None: the dossier's) and message.

    ``ask``: the text is required; when it is empty, this is what the page asks for (under the form's
    text field, ``<form>-<text_name>``, the form being ``key_prefix`` without ``web-``), and nothing runs.
    """
    sheet = load_sheet(request, user, code)
    back = f"/dossiers/{sheet.dossier.code}"
    if ask is not None and not text.strip():
        which = key_prefix.removeprefix("web-")
        return _dossier_view(request, user, sheet.dossier.code, status_code=422, typed={which: text},
                             errors={f"{which}-{text_name}": f"{ask}; hồ sơ chưa thay đổi."})
    try:
        res = service(store_of(request), user.actor, sheet.dossier.code, now=now_of(request),
                      expected_version=version, idempotency_key=f"{key_prefix}-{idem}" if idem else None,
                      **{text_name: text.strip()})
    except QuytrinhError as exc:
        which = key_prefix.removeprefix("web-")
        message, still = _dossier_news(request, user, sheet.dossier.id, which, exc)
        if text.strip():
            if still:  # the page again (409), the text in its form (the panel open)
                flash(request, f"{message} Nội dung bạn vừa nhập vẫn còn trong ô bên dưới.", "error")
                return _dossier_view(request, user, sheet.dossier.code, status_code=409, typed={which: text})
            message += f" Nội dung bạn vừa nhập chưa được ghi: {_quoted(text)}."
        flash(request, message, "error")
        return RedirectResponse(back, status_code=303)
    page, message = (then(res) if then is not None else None) or (back, done.format(code=sheet.dossier.code))
    flash(request, message, "success")
    return RedirectResponse(page or back, status_code=303)


#: Per dossier form: the event it records, what it is called when done already, and whether the dossier's
#: status still allows it.
_DOSSIER_FORMS: dict[str, tuple[tuple[str, ...], str]] = {
    "supplemented": (("supplemented",), "Hồ sơ bổ sung đã được {who} ghi nhận"),
    "financial": (("financial_done",), "Việc thực hiện nghĩa vụ tài chính đã được {who} ghi nhận"),
    "withdraw": (("withdraw", "stop"), ""),
    "stop": (("withdraw", "stop"), ""),
}


def _dossier_news(request: Request, user: WebUser, dossier_id: int, which: str, exc: QuytrinhError
                  ) -> tuple[str, bool]:
    """A refused dossier action (``which``: supplemented, financial, withdraw, stop): (the message, whether it
    may still be done). When it was done meanwhile, who did it and when (the user themself: in another tab)."""
    from engine.machine import INTERRUPTIBLE, STATUS_LABELS, Status
    from engine.store import Dossier

    with store_of(request).session() as s:
        d = s.get(Dossier, dossier_id)
    status = Status(d.status)
    if which in ("withdraw", "stop"):
        still = status in INTERRUPTIBLE
    else:
        still = status == (Status.SUPPLEMENT if which == "supplemented" else Status.FINANCIAL)
    if still or not isinstance(exc, _CHANGED_MEANWHILE):
        return _refusal_text(request, exc, user, dossier_id), still
    actions, done_text = _DOSSIER_FORMS[which]
    last = _last_event(request, dossier_id, None, actions)
    elsewhere = last is not None and last.actor == user.username
    by = "bạn" if elsewhere else display_name(request, last.actor) if last is not None else ""
    where = f" {ELSEWHERE}" if elsewhere else ""
    if last is not None and done_text:
        return f"{done_text.format(who=by)}{where} lúc {_when(last.at)}; không cần ghi nhận lại.", False
    if last is not None and status in (Status.WITHDRAWN, Status.STOPPED):
        what = "đã được rút theo đơn của tổ chức, cá nhân" if status == Status.WITHDRAWN else "đã bị dừng xử lý"
        return f"Hồ sơ {what} ({by} ghi nhận{where} lúc {_when(last.at)}); không cần làm lại.", False
    return (f"Hồ sơ hiện ở trạng thái “{STATUS_LABELS[status]}”; thao tác này không còn thực hiện được. "
            "Hồ sơ chưa thay đổi.", False)


# --------------------------------------------------------------------------- reception


def receivable(request: Request, user: WebUser) -> list[tuple[str, str]]:
    """(code, name) of the published procedures whose reception step is the user's unit and role."""
    from sqlmodel import select

    from engine.store import DefinitionVersion

    with store_of(request).session() as s:
        rows = s.exec(select(DefinitionVersion).order_by(DefinitionVersion.procedure_code,
                                                         DefinitionVersion.version.desc())).all()
    latest: dict[str, Any] = {}
    for r in rows:
        latest.setdefault(r.procedure_code, r)
    out = []
    successors = sv.unit_successors(store_of(request))
    for code, r in sorted(latest.items()):
        start = sv.definition_of(r).start
        if successors.get(start.unit, start.unit) == user.unit_id and start.role == user.role:
            out.append((code, r.name))
    return out


def commune_procedures(request: Request, codes: list[str]) -> set[str]:
    """Those of ``codes`` that are commune-level procedures (their dossier names its commune)."""
    from sqlmodel import select

    from engine.store import DefinitionVersion

    with store_of(request).session() as s:
        return set(s.exec(select(DefinitionVersion.procedure_code).where(
            DefinitionVersion.procedure_code.in_(codes), DefinitionVersion.level == "commune")).all())  # type: ignore[attr-defined]


def communes(request: Request) -> tuple[str, ...]:
    """The communes of the organisation (units.yaml ``communes:``), read once. While units.yaml has problems
    (logged once: the app works with the units the database stores), those its ``communes:`` still lists
    when that list is readable (:func:`engine.definition.units_file_header`), read again at the next use."""
    found = getattr(request.app.state, "communes", None)
    if found is None:
        from quytrinh.web.deps import app_organisation
        from engine.errors import QuytrinhError as _Error

        try:
            organisation = app_organisation(request.app)
        except _Error:  # no unit stored yet either: the reception form lists no commune, as before
            organisation = None
        found = organisation.communes if organisation is not None else ()
        if organisation is None or organisation.source != "database":
            request.app.state.communes = found
    return found


def _receive_context(request: Request, procs: list[tuple[str, str]], **more: Any) -> dict[str, Any]:
    by_commune = commune_procedures(request, [c for c, _ in procs])
    published = bool(procs) or _any_published(request)
    user = more.pop("user", None)
    # a commune's counter receives only commune-level procedures: the commune is then always to be chosen
    commune_only = bool(procs) and len(by_commune) == len(procs)
    # an officer tied to a commune receives for it alone: the form shows it, fixed, and offers no other
    own = user.tied_commune if user is not None and by_commune else ""
    return {"procedures": procs, "communes": communes(request) if by_commune else (), "published": published,
            "commune_only": commune_only, "own_commune": own,
            "frequent": frequent_procedures(request, user, procs) if user is not None else [],
            "errors": {}, "focus": None, **more}


def last_commune(request: Request, user: WebUser) -> str:
    """The commune of the latest commune-level dossier ``user`` registered in the last :data:`FREQUENT_DAYS`
    days ("" when none): the reception form of an officer not tied to a commune (``quytrinh user commune``)
    starts on it, since a commune's counter receives for its own commune day after day. One query."""
    from sqlmodel import select

    from engine.store import Dossier, Event

    since = now_of(request) - dt.timedelta(days=FREQUENT_DAYS)
    with store_of(request).session() as s:
        found = s.exec(select(Dossier.commune)
                       .join(Event, Event.dossier_id == Dossier.id)  # type: ignore[arg-type]
                       .where(Event.action == "register", Event.actor == user.username,
                              Dossier.registered_at >= since, Dossier.commune != "")
                       .order_by(Dossier.registered_at.desc(), Dossier.id.desc())  # type: ignore[union-attr]
                       .limit(1)).first()
    return found or ""


#: How many procedures *Thủ tục tiếp nhận nhiều* lists first, over how many days, and from how long a list on.
FREQUENT_COUNT, FREQUENT_DAYS, FREQUENT_FROM = 6, 30, 12


def frequent_procedures(request: Request, user: WebUser, procs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Of ``procs``, those the user's unit received most in the last :data:`FREQUENT_DAYS` days (most first, at
    most :data:`FREQUENT_COUNT`): the reception form lists them first, so that the counter does not look for
    the day's usual procedures among all of them. None when the list is short (:data:`FREQUENT_FROM`).

    One query: the dossiers registered in the period whose ``register`` event the unit wrote, by procedure."""
    if len(procs) < FREQUENT_FROM or not user.unit_id:
        return []
    from sqlalchemy import func
    from sqlmodel import select

    from engine.store import Dossier, Event

    since = now_of(request) - dt.timedelta(days=FREQUENT_DAYS)
    n = func.count(Dossier.id)
    with store_of(request).session() as s:
        rows = s.exec(select(Dossier.procedure_code, n)
                      .join(Event, Event.dossier_id == Dossier.id)  # type: ignore[arg-type]
                      .where(Event.action == "register", Event.actor_unit == user.unit_id,
                             Dossier.registered_at >= since)
                      .group_by(Dossier.procedure_code)
                      .order_by(n.desc(), Dossier.procedure_code)).all()
    names = dict(procs)
    return [(code, names[code]) for code, _ in rows if code in names][:FREQUENT_COUNT]


def _any_published(request: Request) -> bool:
    """Whether any procedure is published at all (a fresh database has none until one is approved)."""
    from sqlmodel import select

    from engine.store import DefinitionVersion

    with store_of(request).session() as s:
        return s.exec(select(DefinitionVersion.id).limit(1)).first() is not None


#: How long a dossier of the same procedure and applicant, received by the same user or a colleague of
#: the same (one-stop) unit, counts as a likely repeat of the same reception (the form sent again after going
#: Back, the applicant queued twice, a colleague's double entry) rather than a new dossier.
REPEAT_WINDOW = dt.timedelta(minutes=10)


def _no_store(response: Response) -> Response:
    # Going Back must not show (and re-send) the form of a reception already made, nor a work item's or a
    # dossier's page with the buttons of an action already done.
    response.headers["Cache-Control"] = "no-store"
    return response


def _same_applicant(name: str) -> str:
    return " ".join(name.split()).casefold()


def earlier_reception(request: Request, user: WebUser, procedure: str, applicant: str) -> dict[str, Any] | None:
    """The latest dossier of ``procedure`` and the same applicant that ``user``, or anyone of the user's
    unit, received within :data:`REPEAT_WINDOW` before now: ``{"code", "at", "receipt", "url", "by"}``
    (``url``: its receipt, or the dossier's page when it was not accepted; ``by``: None when the user
    received it, else the full name of the colleague who did), or None.

    One query: the dossiers of the procedure registered in the window with each member of the unit who
    wrote an event on them (the reception's ``register`` event first), the users' names joined."""
    from sqlalchemy import func, or_
    from sqlmodel import select

    from engine.store import Dossier, Event, User

    now = now_of(request)
    first_event = func.min(Event.id)
    # an officer tied to a commune: a colleague's reception for another commune is another dossier, not theirs
    # to see (the same applicant may well apply in two communes)
    own = (Dossier.commune.in_([user.tied_commune, ""]),) if user.tied_commune else ()  # type: ignore[attr-defined]
    with store_of(request).session() as s:
        rows = s.exec(select(Dossier.code, Dossier.applicant, Dossier.registered_at, Dossier.received_at,
                             Event.actor, User.full_name, first_event)
                      .join(Event, Event.dossier_id == Dossier.id)  # type: ignore[arg-type]
                      .outerjoin(User, User.username == Event.actor)  # type: ignore[arg-type]
                      .where(Dossier.procedure_code == procedure, Dossier.registered_at >= now - REPEAT_WINDOW,
                             Dossier.registered_at <= now, *own,
                             or_(Event.actor == user.username, Event.actor_unit == user.unit_id))
                      .group_by(Dossier.id, Dossier.code, Dossier.applicant, Dossier.registered_at,
                                Dossier.received_at, Event.actor, User.full_name)
                      .order_by(Dossier.registered_at.desc(), Dossier.id.desc(),  # type: ignore[attr-defined]
                                first_event)).all()
    wanted = _same_applicant(applicant)
    for code, name, at, received, actor, full_name, _ in rows:
        # The first row of a dossier is the first of the unit to act on it: who received it.
        if _same_applicant(name) == wanted:
            return {"code": code, "at": at, "receipt": received is not None,
                    "by": None if actor == user.username else (full_name or actor),
                    "url": f"/dossiers/{code}/receipt" if received is not None else f"/dossiers/{code}"}
    return None


def _replay_of(request: Request, key: str) -> bool:
    """Whether the idempotency key was used already (the engine then replays the first result)."""
    from engine.store import RequestRecord

    with store_of(request).session() as s:
        return s.get(RequestRecord, key) is not None


@router.get("/receive")
def receive_page(request: Request, procedure: str = "", user: WebUser = Depends(require_role("one_stop"))) -> Response:
    procs = receivable(request, user)
    context = _receive_context(request, procs, form={"procedure": procedure}, idem=uuid.uuid4().hex, user=user)
    if context["own_commune"]:
        context["form"]["commune"] = context["own_commune"]
    elif context["communes"]:
        known = last_commune(request, user)
        if known in context["communes"]:
            context["form"]["commune"] = known
    return _no_store(render(request, "receive.html", context))


@router.post("/receive")
def receive_submit(request: Request, procedure: str = Form(""), applicant: str = Form(""), contact: str = Form(""),
                   channel: str = Form("counter"), decision: str = Form("accept"), comment: str = Form(""),
                   commune: str = Form(""), idem: str = Form(""), confirm_new: str = Form(""),
                   user: WebUser = Depends(require_role("one_stop"))) -> Response:
    form = {"procedure": procedure, "applicant": applicant, "contact": contact, "channel": channel,
            "decision": decision, "comment": comment, "commune": commune}
    errors: dict[str, str] = {}  # field -> what to fix, shown under the field
    problems = []  # the rest (the engine's refusals), above the form
    procs = receivable(request, user)
    if procedure not in {c for c, _ in procs}:
        errors["procedure"] = "Hãy chọn một thủ tục trong danh mục."
    if not applicant.strip():
        errors["applicant"] = "Hãy nhập tên tổ chức, cá nhân nộp hồ sơ."
    if channel not in ("counter", "online", "post"):
        problems.append("Hình thức nộp không hợp lệ.")
    if decision == "refuse" and not comment.strip():
        errors["comment"] = "Từ chối tiếp nhận cần ghi rõ lý do (in trên Phiếu từ chối)."
    if decision == "supplement" and not comment.strip():
        errors["comment"] = ("Yêu cầu bổ sung cần ghi rõ giấy tờ, nội dung cần bổ sung (in trên Phiếu yêu cầu bổ "
                             "sung, hoàn thiện hồ sơ).")
    known = communes(request)
    own = user.tied_commune
    if not commune_procedures(request, [procedure]):
        commune = ""  # a district-level dossier belongs to no commune
    elif own:  # the form shows the officer's own commune, fixed; a page from before they were tied may not
        from engine.definition import commune_key

        if commune.strip() and commune_key(commune) != commune_key(own):
            errors["commune"] = (f"Bạn làm việc cho {own}: chỉ tiếp nhận hồ sơ của {own}, không tiếp nhận hồ sơ "
                                 f"của {commune.strip()}.")
        elif known and own not in known:
            errors["commune"] = (f"{own}, xã ghi trong tài khoản của bạn, không có trong danh sách xã, thị trấn của "
                                 "units.yaml; hãy báo quản trị hệ thống (quytrinh user commune).")
        commune = form["commune"] = own
    elif known and commune not in known:
        errors["commune"] = "Thủ tục cấp xã: hãy chọn xã, thị trấn nơi giải quyết hồ sơ (in ở đầu các phiếu)."
    key = f"web-receive-{idem}" if idem else None
    earlier = None
    if not problems and not errors and not confirm_new and not (key and _replay_of(request, key)):
        # The same form sent again (Back, then Tiếp nhận) must not make a second dossier: ask first.
        earlier = earlier_reception(request, user, procedure, applicant)
    if not problems and not errors and earlier is None:
        try:
            res = sv.receive(store_of(request), user.actor, procedure, applicant=applicant.strip(),
                             now=now_of(request), channel=channel, decision=decision, comment=comment.strip(),
                             contact=contact.strip(), commune=commune, idempotency_key=key)
        except QuytrinhError as exc:
            from quytrinh.web.app import error_message_vi

            problems.append(error_message_vi(exc))
        else:
            if decision == "accept":
                flash(request, f"Đã tiếp nhận hồ sơ {res.dossier_code}. In Giấy tiếp nhận và hẹn trả kết quả.",
                      "success")
                return RedirectResponse(f"/dossiers/{res.dossier_code}/receipt", status_code=303)
            flash(request, _not_received_text(request, res.dossier_code, decision), "success")
            return RedirectResponse(f"/dossiers/{res.dossier_code}", status_code=303)
    # the first field to fix, in the form's order, gets the focus
    focus = next((f for f in ("procedure", "commune", "applicant", "comment") if f in errors), None)
    return _no_store(render(request, "receive.html", _receive_context(
        request, procs, form=form, problems=problems, errors=errors, focus=focus, earlier=earlier,
        idem=uuid.uuid4().hex, user=user), status_code=409 if earlier is not None else 422))


def _not_received_text(request: Request, code: str, decision: str) -> str:
    """What the counter is told of a dossier it did not accept (``decision``: supplement or refuse): what was
    recorded and the form to print for the applicant, by its title and number in the dossier's set
    (:func:`engine.documents.available_forms`), as the page's *Biểu mẫu của hồ sơ* lists it."""
    from engine.documents import available_forms

    kind = "supplement" if decision == "supplement" else "refusal"
    form = next((f for f in available_forms(sv.dossier_sheet(store_of(request), code, now=now_of(request)))
                 if f.kind == kind), None)
    done = (f"Đã ghi nhận hồ sơ {code} chưa đầy đủ, cần bổ sung" if decision == "supplement"
            else f"Đã ghi nhận từ chối tiếp nhận hồ sơ {code}")
    if form is None:
        return f"{done}."
    return (f"{done}. Hãy in {form.title.capitalize()} (mẫu {form.number}, ở mục Biểu mẫu của hồ "
            "sơ bên dưới) giao cho tổ chức, cá nhân.")


@router.get("/dossiers/{code}/receipt")
def receipt(request: Request, code: str, user: WebUser = Depends(current_user)) -> Response:
    """Form 01: Giấy tiếp nhận hồ sơ và hẹn trả kết quả (printable, A5)."""
    sheet = load_sheet(request, user, code)
    d = sheet.dossier
    if d.received_at is None:
        raise HTTPException(409, "Hồ sơ chưa được tiếp nhận nên chưa có Giấy tiếp nhận và hẹn trả kết quả.")
    from sqlmodel import select

    from engine.documents import book_number, one_stop_unit_id
    from engine.store import UnitRow, User

    receiver = next((e for e in sheet.events if e.action == "accept"), None)
    receiver_name = receiver.actor if receiver else ""
    if receiver is not None:
        with store_of(request).session() as s:
            u = s.exec(select(User).where(User.username == receiver.actor)).first()
        if u is not None and u.full_name:
            receiver_name = u.full_name
    units = _unit_names(request)
    with store_of(request).session() as s:
        # the unit that received it (a merged reception unit's successor did, when the merge came first), as
        # the official forms say
        rows = {u.id: u for u in s.exec(select(UnitRow)).all()}
        book = book_number(s, d)  # the line of its one-stop unit's ledger, as the official form 01 and the ledger say
    start_unit = rows.get(one_stop_unit_id(sheet, rows) or "")
    return render(request, "receipt.html", {"sheet": sheet, "d": d, "defn": sheet.definition,
                                            "receiver_name": receiver_name, "units": units, "book": book,
                                            "start_unit": start_unit, "official": forms_url(d.code)})


def forms_url(code: str) -> str:
    """The URL prefix of the official forms of a dossier (``routes_documents``: ``<prefix>/<number>``)."""
    return f"/documents/dossiers/{code}/forms"


# --------------------------------------------------------------------------- catalogue


#: (version row id, content hash) -> steps on the main path (a published version never changes).
_MAIN_STEPS: dict[tuple[Any, str], int] = {}


@router.get("/procedures")
def procedures(request: Request, user: WebUser = Depends(current_user)) -> Response:
    from sqlmodel import select

    from engine.documents import annex_plan
    from engine.store import DefinitionVersion

    with store_of(request).session() as s:
        rows = s.exec(select(DefinitionVersion).order_by(DefinitionVersion.procedure_code,
                                                         DefinitionVersion.version.desc())).all()
    latest: dict[str, Any] = {}
    for r in rows:
        latest.setdefault(r.procedure_code, r)
    items = []
    for code, r in sorted(latest.items()):
        defn = sv.definition_of(r)
        items.append({"code": code, "name": r.name, "level": r.level, "version": r.version,
                      "limit": defn.time_limit, "steps": _MAIN_STEPS.get((r.id, r.content_hash)) or
                      _MAIN_STEPS.setdefault((r.id, r.content_hash), len(annex_plan(defn).main)), "defn": defn,
                      "approved": defn.approval is not None})
    return render(request, "procedures.html", {"items": items})
