"""The REST API under ``/api`` (documented at ``/docs`` and ``/openapi.json``).

Authentication: ``POST /api/auth/token`` with ``{"username", "password"}``
returns a signed bearer token (valid 12 hours, and only until the user's
password changes or the account is disabled); send it as
``Authorization: Bearer <token>``. A browser session cookie is accepted too,
and then an unsafe request must carry the session's CSRF token in the
``X-CSRF-Token`` header.

Actions take an optional ``Idempotency-Key`` header: a repeated request with
the same key returns the first result (``replayed: true``) and changes
nothing; the same key with a different request is a 409 ``duplicate_request``.

Errors are JSON ``{"error": <name>, "message": <text>, "message_vi": <text>, "field": <name or null>}``:
``error`` is the stable, machine-readable name (401 ``not_authenticated``, 403 ``not_authorized``, 404
``not_found``, 405 ``method_not_allowed``, 409 ``stale_version`` / ``illegal_action`` /
``duplicate_request``, 422 ``invalid`` / ``invalid_action``, 429 ``too_many_requests``); ``message``
is the English text for developers; ``message_vi`` says the same in Vietnamese, for the people the
integrating system shows it to; ``field`` names the request field at fault when one is
(``applicant``, ``expected_version``, ``commune``, ``Idempotency-Key`` ...). A 500 is ``{"error":
"internal", "message": ...}`` only (logged, no details).
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from typing import Any, Iterator, Literal, Optional

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from engine import services as sv
from quytrinh.web.deps import (UNSAFE_METHODS, WebUser, cached_user_async, credential_valid, now_of, session_ended,
                               store_of)
from quytrinh.web.routes_staff import _sort_key

OWN_CSRF = True  # bearer tokens need no CSRF token; cookie sessions are checked in api_user

router = APIRouter(prefix="/api", tags=["api"])


class ErrorOut(BaseModel):
    error: str = Field(description="Machine-readable error name (stable)")
    message: str = Field(description="What went wrong and what to do, in English (for developers)")
    message_vi: str = Field(description="The same in Vietnamese, to show to staff")
    field: Optional[str] = Field(None, description="The request field at fault, when one is (e.g. ``applicant``, "
                                                   "``expected_version``, ``Idempotency-Key``)")


class ApiError(HTTPException):
    """A refusal of the API with its stable ``code``, English ``message``, Vietnamese ``message_vi`` and the
    request ``field`` at fault (rendered by :func:`quytrinh.web.app._install_error_handlers`)."""

    def __init__(self, status: int, code: str, message: str, message_vi: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(status, message, headers=headers)
        self.code, self.message_vi, self.field = code, message_vi, field


#: Stable error names of HTTP statuses the API answers without an engine error.
STATUS_NAMES = {400: "invalid", 401: "not_authenticated", 403: "not_authorized", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 422: "invalid", 429: "too_many_requests",
                500: "internal"}


def status_text_vi(status: int, method: str = "") -> str:
    """The Vietnamese message of an HTTP refusal that carries no text of its own (an unknown address...)."""
    return {
        401: "Chưa đăng nhập: hãy lấy mã truy cập (POST /api/auth/token) rồi gửi Authorization: Bearer <mã>.",
        403: "Không có quyền thực hiện yêu cầu này.",
        404: "Không có địa chỉ API này; xem danh sách tại /docs.",
        405: f"Địa chỉ API này không nhận phương thức {method or 'này'}; xem /docs.",
        429: "Thử lại sau.",
        500: "Hệ thống gặp lỗi khi xử lý yêu cầu; lỗi đã được ghi lại, hồ sơ không thay đổi nếu thao tác chưa "
             "hoàn tất. Hãy thử lại sau.",
    }.get(status, "Yêu cầu không hợp lệ.")


#: The CLI's options in its Vietnamese error texts, and the API field each stands for.
_CLI_FIELDS = (("--version", "expected_version"), ("--comment", "comment"), ("--applicant", "applicant"),
               ("--reason", "reason"), ("--outcome", "outcome"), ("--commune", "commune"), ("--to", "to"),
               ("--contact", "contact"), ("--channel", "channel"), ("--decision", "decision"))
#: An idempotency key as the engine stores it (``api:<user id>:<the client's key>``).
_STORED_KEY = re.compile(r"'api:\d+:")


def engine_field(exc: Exception) -> str | None:
    """The request field an engine error is about: its own ``field`` (set by this module), ``expected_version``
    for a stale version the client sent, ``Idempotency-Key`` for a key already used; else None."""
    from engine.errors import DuplicateRequest, StaleVersion

    own = getattr(exc, "field", None)
    if isinstance(own, str):
        return own
    if isinstance(exc, StaleVersion) and re.search(r" is at version \d+, not \d+ ", str(exc)):
        return "expected_version"
    if isinstance(exc, DuplicateRequest):
        return "Idempotency-Key"
    return None


def client_key_text(text: str) -> str:
    """``text`` with the API's stored idempotency keys (``'api:7:k1'``) written as the client sent them (``'k1'``)."""
    return _STORED_KEY.sub("'", text)


def engine_text_vi(exc: Exception) -> str:
    """The Vietnamese text of an engine error for an API client: the CLI's located text
    (:func:`quytrinh.messages.cli_error_text`) with the API's field names instead of the CLI's options and
    the API's addresses instead of commands; the page's sentence of the error's kind
    (:func:`quytrinh.messages.error_message_vi`) when the located text is not in Vietnamese or still names
    a command."""
    from quytrinh.messages import cli_error_text, error_message_vi

    english = str(exc).strip()
    text = cli_error_text(exc)
    if text.strip() == english and not getattr(exc, "localized", False) and not getattr(exc, "vi", None):
        return error_message_vi(exc)  # type: ignore[arg-type]  (a text no rule knows: still English)
    text = re.sub(r"\(quytrinh dossier show (\S+?)\)", r"(GET /api/dossiers/\1)", text)
    text = text.replace("(quytrinh tasks)", "(GET /api/tasks)").replace(": quytrinh tasks", ": GET /api/tasks")
    for option, name in _CLI_FIELDS:
        text = re.sub(rf"(?<![\w-]){option}(?![\w-])", name, text)
    # A clause that advises a command (``…; xem các mã bằng: quytrinh catalogue.``) is left out: the client
    # cannot run it; when the headline itself does, the page's sentence of the error's kind is said instead.
    clauses = re.split(r"(?<=[;.])\s+", text)
    kept = [c for c in clauses if not _CLI_ADVICE.search(c)]
    if not kept or kept[0] != clauses[0]:
        return error_message_vi(exc)  # type: ignore[arg-type]
    text = " ".join(kept)
    if text.endswith(";"):
        text = text[:-1] + "."
    return client_key_text(text)


#: A CLI command or option in a Vietnamese error text.
_CLI_ADVICE = re.compile(r"quytrinh |(?<![\w-])--\w")


#: Vietnamese for pydantic's validation errors (type -> text; ``{x}`` from the error's context).
_VALIDATION_VI = {
    "missing": "thiếu (bắt buộc)",
    "string_too_short": "quá ngắn (ít nhất {min_length} ký tự)",
    "string_too_long": "quá dài (nhiều nhất {max_length} ký tự)",
    "string_type": "phải là chuỗi ký tự",
    "int_parsing": "phải là số nguyên",
    "int_type": "phải là số nguyên",
    "bool_parsing": "phải là true hoặc false",
    "bool_type": "phải là true hoặc false",
    "literal_error": "phải là một trong: {expected}",
    "enum": "phải là một trong: {expected}",
    "json_invalid": "không phải JSON hợp lệ",
    "model_attributes_type": "phải là một đối tượng JSON",
    "dict_type": "phải là một đối tượng JSON",
    "datetime_parsing": "phải là thời điểm dạng 2026-12-02T17:00:00+07:00",
    "datetime_from_date_parsing": "phải là thời điểm dạng 2026-12-02T17:00:00+07:00",
    "datetime_type": "phải là thời điểm dạng 2026-12-02T17:00:00+07:00",
}
_WHERE_VI = {"body": "trong nội dung JSON", "query": "trong tham số địa chỉ", "path": "trong địa chỉ",
             "header": "trong tiêu đề"}


def validation_field(loc: tuple | list) -> str:
    """The request field of a validation error's location (``("body", "applicant")`` -> ``applicant``; a
    header keeps its HTTP spelling, ``Idempotency-Key``); ``body`` for the body as a whole."""
    parts = [str(p) for p in loc]
    where, rest = (parts[0], parts[1:]) if parts and parts[0] in _WHERE_VI else ("", parts)
    if where == "header" and rest:
        return "-".join(w.capitalize() for w in rest[0].replace("_", "-").split("-"))
    if where == "body" and rest and rest[0].isdigit() and len(rest) == 1:  # a JSON syntax error's position
        return "body"
    return ".".join(rest) or where or "body"


def validation_text_vi(errors: list[dict[str, Any]]) -> str:
    """One Vietnamese sentence per problem of a request that failed validation, each naming its field."""
    said = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        field_name = validation_field(loc)
        template = _VALIDATION_VI.get(str(e.get("type")), "không hợp lệ")
        ctx = {k: str(v) for k, v in (e.get("ctx") or {}).items()}
        try:
            what = template.format(**ctx)
        except (KeyError, IndexError):
            what = "không hợp lệ"
        where = _WHERE_VI.get(str(loc[0]) if loc else "", "")
        subject = "Nội dung yêu cầu" if field_name == "body" else f"Trường '{field_name}'" + (f" ({where})" if where else "")
        said.append(f"{subject} {what}.")
    return " ".join(said) or "Yêu cầu không hợp lệ."


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Not signed in (missing, forged or expired token)"},
    403: {"model": ErrorOut, "description": "Not authorized (work of the user's dossier that is another unit's, "
                                            "role's or user's)"},
    404: {"model": ErrorOut, "description": "No such dossier or work item, or one of a dossier the user may not "
                                            "see: answered exactly as a missing one"},
    409: {"model": ErrorOut, "description": "stale_version, illegal_action or duplicate_request"},
    422: {"model": ErrorOut, "description": "Invalid request"},
}


#: The bearer scheme, declared for the OpenAPI document (``securitySchemes``: /docs gets its *Authorize* button, client
#: generators know that the actions need the token); :func:`api_user` reads the header itself.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="Mã truy cập từ POST /api/auth/token (hiệu lực 12 giờ).")


async def api_user(request: Request, _bearer: Optional[HTTPAuthorizationCredentials] = Security(BEARER)) -> WebUser:
    """The user of a bearer token, or of a session cookie (with its CSRF header on unsafe requests).

    Async: a cached user is answered on the event loop, without a trip through the thread pool."""
    codec = request.app.state.codec
    header = request.headers.get("authorization", "")
    uid: int | None = None
    mark: str | None = None
    if header.lower().startswith("bearer "):
        claims = codec.api_user(header[7:].strip())
        if claims is None:
            raise ApiError(401, "not_authenticated", "invalid or expired token; get a new one: POST /api/auth/token",
                           "Mã truy cập không hợp lệ hoặc đã hết hạn; hãy lấy mã mới: POST /api/auth/token.",
                           field="Authorization", headers={"WWW-Authenticate": "Bearer"})
        uid, mark = claims
    else:
        session = request.state.session
        if session.user_id is not None:
            if request.method in UNSAFE_METHODS and not codec.csrf_ok(session.sid, request.headers.get("x-csrf-token")):
                raise ApiError(403, "not_authorized", "a session-cookie request must send the X-CSRF-Token header",
                               "Yêu cầu dùng phiên đăng nhập của trình duyệt phải gửi kèm tiêu đề X-CSRF-Token "
                               "(mã chống giả mạo của phiên); yêu cầu chưa được thực hiện.", field="X-CSRF-Token")
            uid, mark = session.user_id, session.mark
    if uid is None:
        raise ApiError(401, "not_authenticated",
                       "sign in first: POST /api/auth/token, then send Authorization: Bearer <token>",
                       "Chưa đăng nhập: hãy lấy mã truy cập (POST /api/auth/token) rồi gửi tiêu đề "
                       "Authorization: Bearer <mã>.", field="Authorization", headers={"WWW-Authenticate": "Bearer"})
    user = await cached_user_async(request, uid)
    if not header.lower().startswith("bearer ") and session_ended(user, request.state.session):
        raise ApiError(401, "not_authenticated", "this browser session was signed out; sign in again",
                       "Phiên đăng nhập này đã đăng xuất; hãy đăng nhập lại.", field="Cookie")
    # A token or session is bound to the user's password hash: a password change (or a disabled user) ends it.
    if not credential_valid(request, user, mark):
        raise ApiError(401, "not_authenticated", "the session or token is no longer valid (the password was changed "
                                                 "or the account disabled); sign in again: POST /api/auth/token",
                       "Phiên đăng nhập hoặc mã truy cập đã hết hiệu lực (mật khẩu đã được đổi hoặc tài khoản đã "
                       "ngừng hoạt động); hãy đăng nhập lại: POST /api/auth/token.", field="Authorization",
                       headers={"WWW-Authenticate": "Bearer"})
    return user  # type: ignore[return-value]  (credential_valid is False for None)


# --------------------------------------------------------------------------- models


class TokenIn(BaseModel):
    username: str
    password: str


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MeOut(BaseModel):
    username: str
    full_name: str
    unit: str
    role: str
    roles: list[str]
    commune: str = Field("", description="The commune a commune's officer works for (whose dossiers alone, with "
                                          "those of no commune, they see and act on); '' when not tied to one")


class TaskOut(BaseModel):
    item_id: int
    dossier_id: int
    dossier_code: str
    procedure_code: str
    applicant: str
    step_id: str
    step_name: str
    kind: str
    unit: Optional[str]
    role: Optional[str]
    assignee: Optional[str]
    state: str
    opened_at: dt.datetime
    due_at: Optional[dt.datetime]
    remaining_minutes: Optional[int]
    remaining: Optional[str] = Field(description="Vietnamese, e.g. 'còn 1,5 ngày làm việc'")
    timeliness: Optional[str] = Field(description="not_due | nearly_due | overdue (null: paused)")
    dossier_version: int = Field(description="Send as expected_version when acting")


class ActionOut(BaseModel):
    action: str
    dossier_id: int
    dossier_code: str
    version: int
    status: int
    status_label: str
    item_id: Optional[int]
    opened: list[int]
    events: list[int]
    replayed: bool


class ReceiveIn(BaseModel):
    procedure_code: str = Field(examples=["1.001612"])
    applicant: str = Field(min_length=1, max_length=300)
    channel: Literal["counter", "online", "post"] = "counter"
    contact: str = Field("", max_length=300)
    decision: str = Field("accept", description="An outcome of the reception step: accept | supplement | refuse")
    comment: str = Field("", description="Required to ask for a supplement (what to supplement) or to refuse (why)")
    commune: str = Field("", max_length=200, description="A commune-level procedure: the commune (xã, thị trấn) "
                                                          "whose People's Committee the dossier belongs to")


class ClaimIn(BaseModel):
    expected_version: Optional[int] = None


class AssignIn(BaseModel):
    to: str = Field(min_length=1, max_length=64, description="Username of an active member of the item's unit and role")
    expected_version: Optional[int] = None


class CompleteIn(BaseModel):
    outcome: Optional[str] = Field(None, description="One of the step's outcomes (null at a terminal return step)")
    comment: str = ""
    expected_version: Optional[int] = None


class CitizenIn(BaseModel):
    comment: str = Field("", description="What the applicant brought or asked: the documents, the payment "
                                         "receipt, the written withdrawal request")
    expected_version: Optional[int] = None


class StopIn(BaseModel):
    reason: str = Field(min_length=1, description="Why processing stops (printed on the stop notice)")
    expected_version: Optional[int] = None


class ItemOut(BaseModel):
    item_id: int
    step_id: str
    step_name: str
    kind: str
    unit: Optional[str]
    role: Optional[str]
    assignee: Optional[str]
    state: str
    outcome: Optional[str]
    outcomes: list[str]
    opened_at: dt.datetime
    closed_at: Optional[dt.datetime]
    due_at: Optional[dt.datetime]
    timeliness: Optional[str]


class EventOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    step_id: Optional[str]
    outcome: Optional[str]
    from_status: Optional[int]
    to_status: Optional[int]
    comment: str


class ApologyOut(BaseModel):
    id: int
    state: Literal["draft", "signed", "sent"]
    unit: Optional[str] = Field(None, description="The unit the apology is for: the unit answerable for the delay "
                                                  "it was drafted for (moved to its successor by quytrinh unit "
                                                  "transfer), or, signed, the unit whose head signed it")
    signer_unit: Optional[str] = Field(None, description="The unit whose head signs it (a draft: ``unit``, or, "
                                                         "when ``unit`` was merged into another, units.yaml "
                                                         "merged_into, the unit that now does its work) or signed it")
    due_at: dt.datetime = Field(..., description="The appointment that cannot be kept")
    proposed_due_at: dt.datetime = Field(..., description="The new appointment")
    reason: str
    drafted_at: dt.datetime


class ApologyIn(BaseModel):
    reason: str = Field(..., description="Why the dossier is late (printed on form 04)")
    proposed_due_at: Optional[dt.datetime] = Field(
        None, description="The new appointment (timezone-aware); default: the one the timer proposed")


def _apology_out(a: Any, signer_unit: Optional[str]) -> ApologyOut:
    return ApologyOut(id=a.id, state=a.state, unit=a.unit_id, signer_unit=signer_unit, due_at=a.due_at,
                      proposed_due_at=a.proposed_due_at, reason=a.reason, drafted_at=a.drafted_at)


class DossierOut(BaseModel):
    id: int
    code: str
    procedure_code: str
    procedure_name: str
    definition_version: int
    applicant: str
    channel: str
    commune: str = Field("", description="A commune-level procedure's dossier: its commune (as units.yaml writes it)")
    status: int
    status_label: str
    result: Optional[str]
    version: int
    received_at: Optional[dt.datetime]
    due_at: Optional[dt.datetime]
    finished_at: Optional[dt.datetime]
    closed_at: Optional[dt.datetime]
    timeliness: Optional[str]
    items: list[ItemOut]
    events: list[EventOut]
    apologies: list[ApologyOut] = Field(default_factory=list, description="Forms 04: drafted by the timer, "
                                                                          "signed by the unit's head")


def _action_out(res: sv.ActionResult) -> ActionOut:
    return ActionOut(action=res.action, dossier_id=res.dossier_id, dossier_code=res.dossier_code, version=res.version,
                     status=res.status, status_label=res.status_label, item_id=res.item_id, opened=res.opened,
                     events=res.events, replayed=res.replayed)


# --------------------------------------------------------------------------- routes


@router.post("/auth/token", response_model=TokenOut, responses={401: ERRORS[401], 429: {"model": ErrorOut}})
def token(request: Request, body: TokenIn) -> TokenOut:
    """Sign in: a bearer token for ``Authorization: Bearer <token>``. Repeated failures are slowed down (429)."""
    import math

    from quytrinh.web.routes_auth import authenticate

    user, wait = authenticate(request, body.username.strip(), body.password)
    if user is None:
        if wait > 0:
            raise ApiError(429, "too_many_requests", f"too many failed sign-ins; retry in {math.ceil(wait)} s",
                           f"Đăng nhập sai nhiều lần; hãy thử lại sau {math.ceil(wait)} giây.",
                           headers={"Retry-After": str(math.ceil(wait))})
        raise ApiError(401, "not_authenticated", "wrong username or password",
                       "Tên đăng nhập hoặc mật khẩu không đúng.", headers={"WWW-Authenticate": "Bearer"})
    from quytrinh.web.routes_auth import credential_mark

    codec = request.app.state.codec
    return TokenOut(access_token=codec.api_token(user.id, credential_mark(request, user)), expires_in=codec.max_age)


@router.get("/me", response_model=MeOut, responses={401: ERRORS[401]})
def me(user: WebUser = Depends(api_user)) -> MeOut:
    """Who the token belongs to."""
    return MeOut(username=user.username, full_name=user.full_name, unit=user.unit_id, role=user.role,
                 roles=sorted(user.roles), commune=user.commune)


@router.get("/tasks", response_model=list[TaskOut], responses={401: ERRORS[401]})
def tasks(request: Request, scope: Literal["mine", "unit"] = "mine", overdue: bool = False,
          user: WebUser = Depends(api_user)) -> list[TaskOut]:
    """Open work items, least remaining working time first: ``mine`` (claimed by me, or open for my unit and
    role) or ``unit`` (every open item of my unit)."""
    from engine.sla import describe_remaining
    from quytrinh.web.routes_staff import inbox_rows

    mine, others = inbox_rows(store_of(request), user, now_of(request))
    rows = mine if scope == "mine" else sorted(mine + others, key=_sort_key)
    if overdue:
        rows = [t for t in rows if t.timeliness == "overdue"]
    return [TaskOut(item_id=t.item_id, dossier_id=t.dossier_id, dossier_code=t.dossier_code,
                    procedure_code=t.procedure_code, applicant=t.applicant, step_id=t.step_id, step_name=t.step_name,
                    kind=t.kind, unit=t.unit_id, role=t.role, assignee=t.assignee, state=t.state,
                    opened_at=t.opened_at, due_at=t.due_at, remaining_minutes=t.remaining_minutes,
                    remaining=describe_remaining(t.remaining_minutes) if t.remaining_minutes is not None else None,
                    timeliness=t.timeliness, dossier_version=t.dossier_version)
            for t in rows]


@router.post("/dossiers", response_model=ActionOut, status_code=201,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def receive(request: Request, body: ReceiveIn, user: WebUser = Depends(api_user),
            idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """Receive a dossier at the one-stop unit (``decision`` accept: form 01, the clock starts).

    A commune-level procedure's dossier names its commune, one of units.yaml's ``communes:`` (case,
    spacing and the "Xã " prefix do not matter; the dossier records the name as units.yaml writes it);
    a district-level one names none. An officer tied to a commune may leave it out (their commune), and
    is refused (403) another commune.
    """
    commune = _commune_of(request, body.procedure_code, body.commune, mine=user.tied_commune)
    _check_decision(request, body.procedure_code, body.decision)
    res = sv.receive(store_of(request), user.actor, body.procedure_code, applicant=body.applicant,
                     now=now_of(request), channel=body.channel, decision=body.decision, comment=body.comment,
                     contact=body.contact, commune=commune, idempotency_key=_key(idempotency_key, user))
    return _action_out(res)


def _refused(kind: type, message: str, vi: str, field: str) -> Exception:
    """An engine error raised by the API itself: its English ``message``, its Vietnamese text (``vi``, what
    :func:`engine_text_vi` and the pages say) and the request ``field`` at fault."""
    exc = kind(message)
    exc.vi, exc.field = vi, field
    return exc


def _commune_of(request: Request, procedure_code: str, commune: str, *, mine: str = "") -> str:
    """The commune a new dossier of ``procedure_code`` records, as the CLI and the reception form check it.
    ``mine``: the commune the officer is tied to; none given, the engine records theirs."""
    from engine.definition import closest_commune, find_commune
    from engine.errors import ActionError
    from quytrinh.web.routes_staff import commune_procedures, communes

    commune = commune.strip()
    if not commune_procedures(request, [procedure_code]):
        if commune and _published(request, procedure_code):
            raise _refused(ActionError, f"commune: procedure {procedure_code} is district-level, so its dossier "
                                        f"belongs to no commune; leave commune out",
                           f"Thủ tục {procedure_code} là thủ tục cấp huyện nên hồ sơ không thuộc xã nào; hãy bỏ "
                           f"trường 'commune'. Hồ sơ chưa được tiếp nhận.", "commune")
        return commune  # an unknown procedure: receive() says so
    known = communes(request)
    if not known:
        return commune
    if not commune and mine:
        return ""  # engine.services.receive records the officer's own commune
    if not commune:
        raise _refused(ActionError, f"commune: procedure {procedure_code} is commune-level; give the commune whose "
                                    f"People's Committee handles the dossier, one of: {', '.join(known)}",
                       f"Thủ tục {procedure_code} là thủ tục cấp xã: hãy ghi trường 'commune' là xã có UBND giải "
                       f"quyết hồ sơ, một trong: {', '.join(known)}. Hồ sơ chưa được tiếp nhận.", "commune")
    found = find_commune(commune, known)
    if found is None:
        close = closest_commune(commune, known)
        hint = f" (did you mean '{close}'?)" if close else ""
        hint_vi = f" (có phải '{close}'?)" if close else ""
        raise _refused(ActionError, f"commune: '{commune}' is not a commune of units.yaml{hint}; one of: "
                                    f"{', '.join(known)}",
                       f"Trường 'commune': '{commune}' không phải xã trong danh mục đơn vị{hint_vi}; một trong: "
                       f"{', '.join(known)}. Hồ sơ chưa được tiếp nhận.", "commune")
    return found


def _check_decision(request: Request, procedure_code: str, decision: str) -> None:
    """Refuse (409 ``illegal_action``, as the engine does, nothing received) a ``decision`` that is not an outcome
    of the procedure's reception step, naming the field and the outcomes (the engine's own text names an item
    of a dossier that does not exist yet)."""
    from engine.errors import IllegalAction, NotFound

    try:
        _row, defn = sv.current_definition(store_of(request), procedure_code)
    except NotFound:
        return  # receive() says so
    outcomes = [r.outcome for r in defn.start.routes]
    if outcomes and decision not in outcomes:
        from engine.definition import OUTCOME_LABELS

        said = ", ".join(f"{o} ({OUTCOME_LABELS.get(o, o)})" for o in outcomes)
        raise _refused(IllegalAction, f"decision: '{decision}' is not an outcome of the reception step "
                                      f"'{defn.start.id}' of procedure {procedure_code}; use one of: "
                                      f"{', '.join(outcomes)}",
                       f"Trường 'decision': '{decision}' không phải kết quả của bước tiếp nhận của thủ tục "
                       f"{procedure_code}; dùng một trong: {said}. Hồ sơ chưa được tiếp nhận.", "decision")


def _published(request: Request, procedure_code: str) -> bool:
    from sqlmodel import select

    from engine.store import DefinitionVersion

    with store_of(request).session() as s:
        return s.exec(select(DefinitionVersion.id).where(DefinitionVersion.procedure_code == procedure_code)
                      .limit(1)).first() is not None


def _key(key: str | None, user: WebUser) -> str | None:
    # Keys are per user: two users can never collide on (or replay) each other's key.
    return f"api:{user.id}:{key}" if key else None


@contextmanager
def _hidden_as_missing(request: Request, user: WebUser, *, ref: str | None = None, item_id: int | None = None,
                       apology_id: int | None = None, action: str = "") -> Iterator[None]:
    """Run an action on dossier ``ref``, work item ``item_id`` or apology ``apology_id``; when it is refused
    (403, 409, 422...) and the user may not see the dossier concerned
    (:func:`quytrinh.web.routes_staff.can_view_dossier`), answer instead exactly as for one that does not
    exist (404, the engine's own error): an id or a code cannot be probed. A dossier the user may see keeps
    its refusal (not their role, stale version...)."""
    from engine.errors import QuytrinhError

    try:
        yield
    except QuytrinhError:
        missing = _unseen(request, user, ref=ref, item_id=item_id, apology_id=apology_id, action=action)
        if missing is not None:
            raise missing from None
        raise


def _unseen(request: Request, user: WebUser, *, ref: str | None, item_id: int | None, apology_id: int | None,
            action: str) -> Exception | None:
    """The error of a missing dossier, work item or apology when the user may not see its dossier; else None
    (it is theirs to see, or it does not exist: the engine said so already)."""
    from engine.errors import NotFound
    from engine.store import Apology, WorkItem
    from quytrinh.web.routes_staff import can_view_dossier

    store = store_of(request)
    dossier: int | str
    if ref is not None:
        dossier, missing = ref, sv.dossier_missing(ref)
    else:
        with store.session() as s:
            row = s.get(WorkItem, item_id) if item_id is not None else s.get(Apology, apology_id)
        if row is None:
            return None
        dossier = row.dossier_id
        missing = sv.item_missing(action, item_id) if item_id is not None else sv.apology_missing(apology_id or 0)
    try:
        sheet = sv.dossier_sheet(store, dossier)
    except NotFound:
        return None
    return None if can_view_dossier(request, user, sheet) else missing


@router.post("/tasks/{item_id}/claim", response_model=ActionOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def claim(request: Request, item_id: int, body: ClaimIn | None = None, user: WebUser = Depends(api_user),
          idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """Take an open work item of my unit and role."""
    with _hidden_as_missing(request, user, item_id=item_id, action="claim"):
        res = sv.claim(store_of(request), user.actor, item_id, now=now_of(request),
                       expected_version=body.expected_version if body else None,
                       idempotency_key=_key(idempotency_key, user))
    return _action_out(res)


@router.post("/tasks/{item_id}/assign", response_model=ActionOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def assign(request: Request, item_id: int, body: AssignIn, user: WebUser = Depends(api_user),
           idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """Give a work item of my unit to one of its officers (the unit's head only)."""
    from engine.errors import NotFound

    with _hidden_as_missing(request, user, item_id=item_id, action="assign"):
        try:
            res = sv.assign(store_of(request), user.actor, item_id, to=body.to, now=now_of(request),
                            expected_version=body.expected_version, idempotency_key=_key(idempotency_key, user))
        except NotFound as exc:
            if not re.fullmatch(r"assign: user '.*' does not exist", str(exc), re.S):
                raise  # the work item itself: 404
            # Still a 404 (as clients know it), but naming the body's field: the work item of the address exists.
            raise _refused(NotFound, str(exc), f"Trường 'to': không có người dùng '{body.to}'; hãy giao cho một "
                                               f"cán bộ đang hoạt động của đơn vị và vai trò của công việc. Công "
                                               f"việc chưa được giao.", "to") from None
    return _action_out(res)


@router.post("/tasks/{item_id}/release", response_model=ActionOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def release(request: Request, item_id: int, body: ClaimIn | None = None, user: WebUser = Depends(api_user),
            idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """Give a claimed work item back to its unit (its holder, or the unit's head)."""
    with _hidden_as_missing(request, user, item_id=item_id, action="release"):
        res = sv.release(store_of(request), user.actor, item_id, now=now_of(request),
                         expected_version=body.expected_version if body else None,
                         idempotency_key=_key(idempotency_key, user))
    return _action_out(res)


@router.post("/tasks/{item_id}/complete", response_model=ActionOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def complete(request: Request, item_id: int, body: CompleteIn, user: WebUser = Depends(api_user),
             idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """Complete a work item with one of its step's outcomes and a comment."""
    with _hidden_as_missing(request, user, item_id=item_id, action="complete"):
        res = sv.complete(store_of(request), user.actor, item_id, outcome=body.outcome, now=now_of(request),
                          comment=body.comment, expected_version=body.expected_version,
                          idempotency_key=_key(idempotency_key, user))
    return _action_out(res)


@router.post("/dossiers/{ref}/supplemented", response_model=ActionOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def supplemented(request: Request, ref: str, body: CitizenIn | None = None, user: WebUser = Depends(api_user),
                 idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """The applicant supplemented (status 5 ends): the clock resumes, or restarts per the procedure (one-stop unit)."""
    return _citizen_done(request, sv.supplement_received, ref, body, user, idempotency_key)


@router.post("/dossiers/{ref}/financial-done", response_model=ActionOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def financial_done(request: Request, ref: str, body: CitizenIn | None = None, user: WebUser = Depends(api_user),
                   idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """The applicant fulfilled the financial obligations (status 6 ends): the clock resumes (one-stop unit)."""
    return _citizen_done(request, sv.financial_done, ref, body, user, idempotency_key)


@router.post("/dossiers/{ref}/withdraw", response_model=ActionOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def withdraw(request: Request, ref: str, body: CitizenIn | None = None, user: WebUser = Depends(api_user),
             idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """The applicant withdraws the dossier (status 7; ``comment``: their written request): open work is cancelled."""
    return _citizen_done(request, sv.withdraw, ref, body, user, idempotency_key)


@router.post("/dossiers/{ref}/stop", response_model=ActionOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 409, 422)})
def stop(request: Request, ref: str, body: StopIn, user: WebUser = Depends(api_user),
         idempotency_key: Optional[str] = Header(None, max_length=200)) -> ActionOut:
    """Stop processing the dossier (status 8) with a reason: open work is cancelled (one-stop unit)."""
    with _hidden_as_missing(request, user, ref=ref):
        res = sv.stop(store_of(request), user.actor, ref, now=now_of(request), reason=body.reason,
                      expected_version=body.expected_version, idempotency_key=_key(idempotency_key, user))
    return _action_out(res)


def _citizen_done(request: Request, action: Any, ref: str, body: CitizenIn | None, user: WebUser,
                  idempotency_key: str | None) -> ActionOut:
    body = body or CitizenIn()
    with _hidden_as_missing(request, user, ref=ref):
        res = action(store_of(request), user.actor, ref, now=now_of(request), comment=body.comment,
                     expected_version=body.expected_version, idempotency_key=_key(idempotency_key, user))
    return _action_out(res)


@router.get("/dossiers/{ref}", response_model=DossierOut, responses={k: ERRORS[k] for k in (401, 404)})
def dossier(request: Request, ref: str, user: WebUser = Depends(api_user)) -> DossierOut:
    """A dossier (by code or id) with its work items and history, if my unit works on it (else 404, as for a
    dossier that does not exist)."""
    from engine.machine import Status
    from quytrinh.web.routes_staff import apology_signers, load_sheet

    sheet = load_sheet(request, user, ref)
    d, defn = sheet.dossier, sheet.definition
    signers = apology_signers(request, sheet)
    items = [ItemOut(item_id=r.item_id, step_id=r.step_id, step_name=r.step_name, kind=r.kind, unit=r.unit_id,
                     role=r.role, assignee=r.assignee, state=r.state, outcome=r.outcome,
                     outcomes=[x.outcome for x in defn.step(r.step_id).routes], opened_at=r.opened_at,
                     closed_at=r.closed_at, due_at=r.due_at, timeliness=r.timeliness) for r in sheet.rows]
    events = [EventOut(id=e.id, at=e.at, actor=e.actor, action=e.action, step_id=e.step_id, outcome=e.outcome,  # type: ignore[arg-type]
                       from_status=e.from_status, to_status=e.to_status, comment=e.comment) for e in sheet.events]
    return DossierOut(id=d.id, code=d.code, procedure_code=d.procedure_code, procedure_name=defn.name,  # type: ignore[arg-type]
                      definition_version=d.definition_version, applicant=d.applicant, channel=d.channel,
                      commune=d.commune or "", status=d.status, status_label=Status(d.status).label, result=d.result, version=d.version,
                      received_at=d.received_at, due_at=d.due_at, finished_at=d.finished_at, closed_at=d.closed_at,
                      timeliness=sheet.timeliness, items=items, events=events,
                      apologies=[_apology_out(a, signers.get(a.id)) for a in sheet.apologies])


@router.post("/apologies/{apology_id}/sign", response_model=ApologyOut,
             responses={k: ERRORS[k] for k in (401, 403, 404, 422)})
def sign_apology(request: Request, apology_id: int, body: ApologyIn, user: WebUser = Depends(api_user)) -> ApologyOut:
    """The head of the answerable unit signs a drafted apology (form 04): the reason, the new appointment
    (default: the proposed one). The applicant is told the new date; reports count it from then on."""
    if body.proposed_due_at is not None and body.proposed_due_at.tzinfo is None:
        raise ApiError(422, "invalid", "proposed_due_at needs a timezone (e.g. 2026-12-02T17:00:00+07:00)",
                       "Trường 'proposed_due_at' cần ghi múi giờ (ví dụ 2026-12-02T17:00:00+07:00).",
                       field="proposed_due_at")
    with _hidden_as_missing(request, user, apology_id=apology_id):
        signed = sv.sign_apology(store_of(request), user.actor, apology_id, reason=body.reason,
                                 proposed_due_at=body.proposed_due_at, now=now_of(request))
    return _apology_out(signed, signed.unit_id)  # signed: the unit whose head signed it
