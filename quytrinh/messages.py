"""What a person reads when quytrinh refuses something: engine errors in Vietnamese.

The engine's exceptions (``engine/errors.py`` and the modules' own) carry English
text, for developers, logs and the JSON API. Staff read Vietnamese:

* the web pages show :func:`error_message_vi`, one sentence per kind of error;
* the CLI shows :func:`cli_error_text`: the kind of error, then the specifics the
  user needs (dossier code, work item, step id, unit/role, versions, what the
  dossier allows now), all in Vietnamese.

:func:`cli_error_text` recognises the engine's messages by their shape
(:data:`_RULES`). A refused action (:class:`~engine.errors.ActionError` and its
kinds) whose message it does not know still gets the Vietnamese sentence of its
kind with the ids, codes and step ids found in the message; so does a
:class:`~engine.errors.NotFound`. Errors that the CLI
raises itself are written in Vietnamese and marked with :func:`localized`; they
print as they are. So do the located problems of a definition or calendar file
(``path:line:col: ...``) and the errors of the other engine modules whose
messages are not in the table yet.

For example, ``claim: dossier 1.001612-20260310-000001 is at version 1, not 7 (it
changed since you read it); reload it and try again`` (StaleVersion) reads::

    Hồ sơ đã được cập nhật sau khi bạn xem: hồ sơ 1.001612-20260310-000001 đang ở lần cập nhật 1,
    không phải lần cập nhật 7 bạn đã xem (--version). Hãy xem lại (quytrinh dossier show
    1.001612-20260310-000001) rồi thực hiện lại; hồ sơ chưa thay đổi.

The dossier's optimistic-locking counter is "lần cập nhật" in every CLI text; "phiên bản" is the
procedure's process version only.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Callable, TypeVar

from engine.errors import (
    ActionError,
    CalendarError,
    DefinitionError,
    DuplicateRequest,
    IllegalAction,
    NotAuthorized,
    NotFound,
    QuytrinhError,
    StaleVersion,
)

E = TypeVar("E", bound=BaseException)


def error_message_vi(exc: QuytrinhError) -> str:
    """A Vietnamese sentence for an engine error, shown on pages (the API gives the engine's text)."""
    vi = getattr(exc, "vi", None)  # an error that carries its own Vietnamese text (engine.approval's)
    if isinstance(vi, str) and vi:
        return vi
    if isinstance(exc, NotFound):
        return "Không tìm thấy hồ sơ hoặc công việc này."
    if isinstance(exc, NotAuthorized):
        return "Bạn không có quyền thực hiện thao tác này (công việc thuộc đơn vị, vai trò hoặc người khác)."
    if isinstance(exc, StaleVersion):
        return "Hồ sơ đã được cập nhật sau khi bạn xem. Hãy xem lại và thực hiện lại; hồ sơ chưa thay đổi."
    if isinstance(exc, DuplicateRequest):
        return "Yêu cầu này đã được gửi trước đó với nội dung khác; hồ sơ chưa thay đổi."
    if isinstance(exc, IllegalAction):
        return "Thao tác không hợp lệ ở trạng thái hiện tại của hồ sơ (công việc đã xong, hoặc kết quả xử lý không thuộc bước này)."
    return "Không thực hiện được thao tác: dữ liệu chưa hợp lệ. Hãy kiểm tra lại các ô đã nhập."


def released_to_successor_text(unit_name: str) -> str:
    """What follows "Đã trả lại công việc" when a release at a merged unit sent the item to its successor's
    queue (``engine.services.release``): the web's message and ``quytrinh task release`` say it alike.

    >>> released_to_successor_text("Phòng QLĐT")
    'việc đã chuyển về hàng chờ của Phòng QLĐT, đơn vị tiếp nhận công việc của đơn vị đã hợp nhất.'
    """
    return f"việc đã chuyển về hàng chờ của {unit_name}, đơn vị tiếp nhận công việc của đơn vị đã hợp nhất."


def localized(exc: E) -> E:
    """Mark an error whose text is already Vietnamese: :func:`cli_error_text` prints it as it is.

    >>> from engine.errors import ActionError
    >>> cli_error_text(localized(ActionError("Hãy cho biết ai thực hiện: --as USER.")))
    'Hãy cho biết ai thực hiện: --as USER.'
    """
    exc.localized = True  # type: ignore[attr-defined]
    return exc


# --------------------------------------------------------------------------- vocabulary

#: What each service action is called in a sentence ("không được <verb> công việc 2").
ACTION_VERBS = {
    "submit": "đăng ký hồ sơ",
    "register": "đăng ký hồ sơ",
    "receive": "tiếp nhận hồ sơ",
    "claim": "nhận xử lý",
    "assign": "phân công",
    "release": "trả lại",
    "complete": "hoàn thành",
    "sign": "ký duyệt",
    "return_result": "trả kết quả",
    "request_supplement": "yêu cầu bổ sung",
    "supplement_received": "ghi nhận hồ sơ bổ sung",
    "financial_done": "ghi nhận đã thực hiện nghĩa vụ tài chính",
    "withdraw": "rút hồ sơ",
    "stop": "dừng xử lý",
    "sign_apology": "ký phiếu xin lỗi",
    "transfer": "chuyển công việc",
}

#: The headline of each kind of refusal, before the specifics.
HEADLINES: list[tuple[type | str, str]] = [
    (NotFound, "Không tìm thấy"),
    (NotAuthorized, "Không có quyền"),
    (StaleVersion, "Hồ sơ đã được cập nhật sau khi bạn xem"),
    (DuplicateRequest, "Yêu cầu trùng khóa chống lặp"),
    (IllegalAction, "Thao tác không hợp lệ ở trạng thái hiện tại"),
    (ActionError, "Không thực hiện được"),
    (CalendarError, "Không tính được thời hạn"),
    ("ReportError", "Không lập được báo cáo"),
    ("DocumentError", "Không lập được văn bản"),
    ("SimulationError", "Không mô phỏng được"),
    ("RenderError", "Không vẽ được sơ đồ"),
]

_STEP_KINDS = {"citizen": "của người nộp", "automated": "tự động", "task": "xử lý", "approval": "phê duyệt",
               "sign": "ký duyệt", "return": "trả kết quả", "start": "tiếp nhận"}

_LEVELS = {"district": "huyện", "commune": "xã", "province": "tỉnh"}


def _level(level: str) -> str:
    """``cấp huyện`` for a level id (``mọi cấp`` for a partner agency's ``any``)."""
    return "mọi cấp" if level == "any" else f"cấp {_LEVELS.get(level, level)}"


_NOT_MOVED = " Chưa chuyển công việc nào."

_OUTSIDE_KINDS = {"external": "cơ quan phối hợp bên ngoài", "citizen": "tổ chức, cá nhân nộp hồ sơ"}

_ITEM_STATES = {"open": "chờ xử lý", "claimed": "đang xử lý", "done": "đã xong", "cancelled": "đã hủy"}


def _is(exc: BaseException, kind: type | str) -> bool:
    """``isinstance``, or, for an engine module's own error class named as text, a class of that name.

    (Naming them keeps this module from importing the report, document, simulation and
    drawing modules.)
    """
    if isinstance(kind, str):
        return any(c.__name__ == kind for c in type(exc).__mro__)
    return isinstance(exc, kind)


def headline(exc: BaseException) -> str:
    """The Vietnamese name of an error's kind (``Không có quyền`` for NotAuthorized ...)."""
    for kind, text in HEADLINES:
        if _is(exc, kind):
            return text
    return "Không thực hiện được"


def _actor(text: str) -> str:
    """``user 'cv1' (phong_tckh/staff)`` -> ``người dùng 'cv1' (phong_tckh/staff)``; ``system`` -> ``hệ thống``."""
    if text == "system":
        return "hệ thống"
    return re.sub(r"^user\b", "người dùng", text)


def _verb(action: str | None) -> str:
    return ACTION_VERBS.get(action or "", "thực hiện thao tác này với")


def _allowed(text: str | None) -> str:
    """The machine's list of allowed actions, in Vietnamese."""
    if text is None:
        return "hồ sơ không còn thao tác nào"
    out = []
    for part in text.split(", "):
        m = re.fullmatch(r"claim item (\d+) \((.+)\)", part)
        if m:
            out.append(f"nhận xử lý công việc {m[1]} ({m[2]})")
            continue
        m = re.fullmatch(r"complete item (\d+)(?: \((.+)\))? with (.+)", part)
        if m:
            step = f" ({m[2]})" if m[2] else ""
            out.append(f"hoàn thành công việc {m[1]}{step} với kết quả {m[3]}")
            continue
        out.append({"withdraw": "rút hồ sơ", "stop": "dừng xử lý"}.get(part) or ACTION_VERBS.get(part, part))
    return "được phép: " + "; ".join(out)


#: What each kind of one-stop form is called (engine.documents FormSpec.kind).
FORM_KINDS_VI = {"receipt": "giấy tiếp nhận", "supplement": "phiếu yêu cầu bổ sung", "refusal": "phiếu từ chối",
                 "apology": "phiếu xin lỗi", "stop": "thông báo dừng", "control": "phiếu kiểm soát",
                 "ledger": "sổ theo dõi"}


def _form_kinds(text: str) -> str:
    """``01 (receipt), 02 (supplement)`` -> ``01 (giấy tiếp nhận), 02 (phiếu yêu cầu bổ sung)``."""
    return re.sub(r"\((\w+)\)", lambda m: f"({FORM_KINDS_VI.get(m[1], m[1])})", text)


def _local(iso: str) -> str:
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone(dt.timedelta(hours=7))).strftime("%d/%m/%Y %H:%M")


def _wall(text: str) -> str:
    """A clock's wall time as its messages write it (``2026-03-10 08:00``, Hanoi time) as staff write it."""
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").strftime("%d/%m/%Y %H:%M")
    except ValueError:
        return text


# --------------------------------------------------------------------------- the table

Rule = tuple[type | str, str, Callable[[re.Match, str | None], str]]

#: Shapes of the machine's refusals: the part before ``(dossier status N 'label')``.
_MACHINE: list[tuple[str, Callable[[re.Match], str]]] = [
    (r"the dossier is closed", lambda m: "hồ sơ đã kết thúc"),
    (r"work item (?P<i>\d+) does not belong to this dossier", lambda m: f"công việc {m['i']} không thuộc hồ sơ này"),
    (r"work item (?P<i>\d+) \(step '(?P<s>[^']+)'\) is already claimed by you",
     lambda m: f"bạn đã nhận xử lý công việc {m['i']} (bước '{m['s']}') rồi"),
    (r"work item (?P<i>\d+) \(step '(?P<s>[^']+)'\) is already claimed by user (?P<u>\S+)",
     lambda m: f"công việc {m['i']} (bước '{m['s']}') đã do người dùng số {m['u']} nhận xử lý"),
    (r"work item (?P<i>\d+) \(step '(?P<s>[^']+)'\) is not claimed by anyone",
     lambda m: f"công việc {m['i']} (bước '{m['s']}') chưa có ai nhận xử lý"),
    (r"work item (?P<i>\d+) \(step '(?P<s>[^']+)'\) is already with user (?P<u>\S+)",
     lambda m: f"công việc {m['i']} (bước '{m['s']}') đang do chính người dùng số {m['u']} xử lý"),
    (r"work item (?P<i>\d+) is a (?P<k>\w+) step; it is not staff work",
     lambda m: f"công việc {m['i']} là bước {_STEP_KINDS.get(m['k'], m['k'])}; không phải việc giao cho cán bộ"),
    (r"work item (?P<i>\d+) \(step '(?P<s>[^']+)'\) is (?P<st>\w+)",
     lambda m: f"công việc {m['i']} (bước '{m['s']}') đã ở trạng thái {_ITEM_STATES.get(m['st'], m['st'])}"),
    (r"step '(?P<s>[^']+)' is not in version (?P<v>\d+) of (?P<k>\S+)",
     lambda m: f"bước '{m['s']}' không có trong phiên bản {m['v']} của quy trình {m['k']}"),
    (r"work item (?P<i>\d+) is a (?P<k>\w+) step; staff do not claim it",
     lambda m: f"công việc {m['i']} là bước {_STEP_KINDS.get(m['k'], m['k'])}; cán bộ không nhận xử lý bước này"),
    (r"step '(?P<s>[^']+)' \(work item (?P<i>\d+)\) needs an outcome; its outcomes are (?P<all>.*)",
     lambda m: f"bước '{m['s']}' (công việc {m['i']}) cần chọn một kết quả: {m['all']}"),
    (r"step '(?P<s>[^']+)' \(work item (?P<i>\d+)\) has no outcome '(?P<o>[^']*)'; its outcomes are (?P<all>.*)",
     lambda m: f"bước '{m['s']}' (công việc {m['i']}) không có kết quả '{m['o']}'; các kết quả của bước: {m['all']}"),
    (r"route '(?P<o>[^']+)' of step '(?P<s>[^']+)' may be taken at most (?P<n>\d+) time\(s\) and was taken (?P<t>\d+)",
     lambda m: f"kết quả '{m['o']}' của bước '{m['s']}' chỉ được chọn tối đa {m['n']} lần và đã được chọn {m['t']} lần"),
    (r"work item (?P<i>\d+) is claimed by user (?P<u>\S+)",
     lambda m: f"công việc {m['i']} đã do người dùng số {m['u']} nhận xử lý"),
    (r"the dossier can no longer be withdrawn", lambda m: "hồ sơ không còn rút được"),
    (r"the dossier can no longer be stopped", lambda m: "hồ sơ không còn dừng xử lý được"),
    (r"dossier (?P<d>\S+) waits for no supplement", lambda m: f"hồ sơ {m['d']} không chờ bổ sung"),
    (r"dossier (?P<d>\S+) waits for no financial obligation",
     lambda m: f"hồ sơ {m['d']} không chờ thực hiện nghĩa vụ tài chính"),
    (r"dossier (?P<d>\S+) waits for a supplement \(step '(?P<s>[^']+)'\), not for the financial obligations; "
     r"record it with supplement_received",
     lambda m: f"hồ sơ {m['d']} đang chờ bổ sung (bước '{m['s']}'), không phải chờ thực hiện nghĩa vụ tài chính; "
               f"hãy ghi nhận hồ sơ bổ sung"),
    (r"dossier (?P<d>\S+) waits for the financial obligations \(step '(?P<s>[^']+)'\), not for a supplement; "
     r"record it with financial_done",
     lambda m: f"hồ sơ {m['d']} đang chờ thực hiện nghĩa vụ tài chính (bước '{m['s']}'), không phải chờ bổ sung; "
               f"hãy ghi nhận đã thực hiện nghĩa vụ tài chính"),
]


def _machine(m: re.Match, action: str | None) -> str:
    inner = m["msg"]
    for pattern, say in _MACHINE:
        mm = re.fullmatch(pattern, inner, re.S)
        if mm:
            inner = say(mm)
            break
    else:
        inner = _specifics(inner) or "thao tác không áp dụng được"
    return (f"{inner} (hồ sơ đang ở trạng thái {m['n']} – {m['label']}); "
            f"{_allowed(m['allowed'])}.")


_RULES: list[Rule] = [
    # ---- NotFound
    (NotFound, r"user '(?P<u>[^']+)' does not exist \(add it with: .*\)",
     lambda m, a: f"người dùng '{m['u']}'. Thêm bằng: quytrinh user add {m['u']} "
                  f"--unit ĐƠN_VỊ --role VAI_TRÒ."),
    (NotFound, r"user '(?P<u>[^']+)' does not exist", lambda m, a: f"người dùng '{m['u']}'."),
    (NotFound, r"user '(?P<u>[^']+)' does not exist \(see: quytrinh user list\)",
     lambda m, a: f"người dùng '{m['u']}' (xem: quytrinh user list)."),
    (NotFound, r"user '(?P<u>[^']+)' is deactivated \(enable it again with: .*\)",
     lambda m, a: f"tài khoản '{m['u']}' đã ngừng hoạt động; cho hoạt động lại bằng: quytrinh user enable {m['u']}."),
    (NotFound, r"unit '(?P<u>[^']+)' does not exist; known units: (?P<k>.*)",
     lambda m, a: f"đơn vị '{m['u']}'; các đơn vị: {m['k']}."
                  + (" Chưa chuyển công việc nào." if a == "transfer" else "")),
    (NotFound, r"unit '(?P<u>[^']+)' does not exist; did you mean '(?P<s>[^']+)'\?",
     lambda m, a: f"đơn vị '{m['u']}' (có phải là '{m['s']}' không?)."
                  + (_NOT_MOVED if a == "transfer" else "")),
    (NotFound, r"unit '(?P<u>[^']+)' does not exist; merged units: (?P<k>.*)",
     lambda m, a: f"đơn vị '{m['u']}'; các đơn vị đã hợp nhất: {m['k']}.{_NOT_MOVED}"),
    (NotFound, r"unit '(?P<u>[^']+)' does not exist; no unit was merged into another \(.*\)",
     lambda m, a: f"đơn vị '{m['u']}'; units.yaml chưa ghi đơn vị nào hợp nhất vào đơn vị khác (merged_into)."
                  f"{_NOT_MOVED}"),
    (NotFound, r"unit '(?P<u>[^']+)' does not exist; units that can take the work of '(?P<s>[^']+)': (?P<k>.*)",
     lambda m, a: f"đơn vị '{m['u']}'; các đơn vị nhận được công việc của '{m['s']}': "
                  f"{'không có' if m['k'] == 'none' else m['k']}.{_NOT_MOVED}"),
    (NotFound, r"unit '(?P<u>[^']+)' was merged into '(?P<s>[^']+)', which does not exist; known units: (?P<k>.*)",
     lambda m, a: f"đơn vị '{m['s']}' mà '{m['u']}' hợp nhất vào (merged_into); các đơn vị: {m['k']}. Chưa chuyển "
                  f"công việc nào."),
    (NotFound, r"procedure '(?P<c>[^']+)' is not published \(.*\)",
     lambda m, a: f"thủ tục '{m['c']}' chưa được đưa vào hệ thống; tiếp nhận hồ sơ bằng quytrinh dossier receive "
                  f"với danh mục có thủ tục này."),
    (NotFound, r"procedure '(?P<c>[^']+)' has no version (?P<n>\d+)",
     lambda m, a: f"phiên bản {m['n']} của thủ tục '{m['c']}'."),
    (NotFound, r"dossier '(?P<d>[^']+)' does not exist",
     lambda m, a: f"hồ sơ '{m['d']}'; xem danh sách công việc: quytrinh tasks."),
    (NotFound, r"dossier '(?P<d>[^']+)' does not exist; see `quytrinh tasks` or the ledger",
     lambda m, a: f"hồ sơ '{m['d']}'; xem danh sách công việc (quytrinh tasks) hoặc sổ theo dõi (quytrinh ledger)."),
    (NotFound, r"work item (?P<i>\d+) does not exist",
     lambda m, a: f"công việc {m['i']}; xem danh sách công việc: quytrinh tasks."),
    (NotFound, r"procedure '(?P<c>[^']+)' is not in the catalogue \((?P<r>.+)\); list the codes with: quytrinh catalogue",
     lambda m, a: f"thủ tục '{m['c']}' trong danh mục ({m['r']}); xem các mã bằng: quytrinh catalogue."),
    (NotFound, r"outbox item (?P<i>\d+) does not exist",
     lambda m, a: f"việc máy {m['i']} trong hàng đợi."),
    # ---- NotAuthorized
    (NotAuthorized, r"(?P<who>.+?) may not act on work item (?P<i>\d+) \(step '(?P<s>[^']+)'\); "
                    r"it belongs to (?P<ur>\S+)",
     lambda m, a: f"{_actor(m['who'])} không được {_verb(a)} công việc {m['i']} (bước '{m['s']}'); "
                  f"công việc thuộc {m['ur']}."),
    (NotAuthorized, r"work item (?P<i>\d+) \(step '(?P<s>[^']+)'\) is claimed by another user \(id (?P<u>\d+)\)",
     lambda m, a: f"công việc {m['i']} (bước '{m['s']}') đã do người dùng số {m['u']} nhận xử lý; người đó trả "
                  f"lại (quytrinh task release {m['i']}) hoặc lãnh đạo đơn vị giao lại (quytrinh task assign "
                  f"{m['i']} --to TÊN_ĐĂNG_NHẬP) thì mới làm được."),
    (NotAuthorized, r"work item (?P<i>\d+) \(step '(?P<s>[^']+)'\) is an automated step; only the system completes it",
     lambda m, a: f"công việc {m['i']} (bước '{m['s']}') là bước tự động; chỉ hệ thống hoàn thành được."),
    (NotAuthorized, r"work item (?P<i>\d+) \(step '(?P<s>[^']+)'\) is staff work of (?P<ur>\S+); "
                    r"the system may not do it",
     lambda m, a: f"công việc {m['i']} (bước '{m['s']}') là việc của cán bộ {m['ur']}; hệ thống không làm thay được."),
    (NotAuthorized, r"(?P<who>.+?) may not record the applicant's (?P<what>supplement|financial obligations) "
                    r"for work item (?P<i>\d+); the one-stop unit '(?P<u>[^']+)' does",
     lambda m, a: f"{_actor(m['who'])} không được ghi nhận "
                  f"{'hồ sơ bổ sung' if m['what'] == 'supplement' else 'việc thực hiện nghĩa vụ tài chính'} "
                  f"(công việc {m['i']}); việc này do bộ phận một cửa '{m['u']}' làm."),
    (NotAuthorized, r"only staff of the one-stop unit '(?P<u>[^']+)' may do this",
     lambda m, a: f"chỉ cán bộ bộ phận một cửa '{m['u']}' được {_verb(a)}."),
    (NotAuthorized, r"(?P<who>.+?) may not \w+ this dossier; the one-stop unit '(?P<u>[^']+)' does",
     lambda m, a: f"{_actor(m['who'])} không được {_verb(a)}; việc này do bộ phận một cửa '{m['u']}' làm."),
    (NotAuthorized, r"(?P<who>.+?) may not register dossiers; (?P<ur>\S+) does",
     lambda m, a: f"{_actor(m['who'])} không được đăng ký hồ sơ; việc này do {m['ur']} làm."),
    (NotAuthorized, r"(?P<who>.+?) may not receive dossiers of (?P<c>\S+); (?P<ur>\S+) does",
     lambda m, a: f"{_actor(m['who'])} không được tiếp nhận hồ sơ thủ tục {m['c']}; việc này do {m['ur']} làm."),
    (NotAuthorized, r"(?P<who>.+?) may not \w+ work item (?P<i>\d+) \(step '(?P<s>[^']+)'\); "
                    r"the head \((?P<r>[^)]+)\) of (?P<u>\S+) does",
     lambda m, a: f"{_actor(m['who'])} không được {_verb(a)} công việc {m['i']} (bước '{m['s']}'); việc này do "
                  f"lãnh đạo đơn vị {m['u']} ({m['r']}) làm."),
    (NotAuthorized, r"(?P<who>.+?) may not \w+ work item (?P<i>\d+) \(step '(?P<s>[^']+)'\); "
                    r"no one \(its unit has no head\) does",
     lambda m, a: f"{_actor(m['who'])} không được {_verb(a)} công việc {m['i']} (bước '{m['s']}'); đơn vị của "
                  f"công việc này không có lãnh đạo để phân công."),
    (NotAuthorized, r"(?P<who>.+?) works for (?P<c>.+?); they may not register a dossier of (?P<o>.+)",
     lambda m, a: f"{_actor(m['who'])} làm việc cho {m['c']}; không được tiếp nhận hồ sơ của {m['o']}."),
    (NotAuthorized, r"(?P<who>.+?) works for (?P<c>.+?); dossier (?P<d>\S+) is of (?P<o>.+)",
     lambda m, a: f"{_actor(m['who'])} làm việc cho {m['c']}; hồ sơ {m['d']} là hồ sơ của {m['o']}, nên không được "
                  f"{_verb(a)}."),
    (NotAuthorized, r"user '(?P<u>[^']+)' is deactivated \(enable it again with: .*\)",
     lambda m, a: f"tài khoản '{m['u']}' đã ngừng hoạt động; thao tác không được thực hiện, hồ sơ không thay đổi. "
                  f"Cho hoạt động lại bằng: quytrinh user enable {m['u']}."),
    # ---- StaleVersion
    (StaleVersion, r"dossier (?P<d>\S+) is at version (?P<v>\d+), not (?P<e>\d+) .*",
     lambda m, a: f"hồ sơ {m['d']} đang ở lần cập nhật {m['v']}, không phải lần cập nhật {m['e']} bạn đã xem "
                  f"(--version). "
                  f"Hãy xem lại (quytrinh dossier show {m['d']}) rồi thực hiện lại; hồ sơ chưa thay đổi."),
    (StaleVersion, r"dossier (?P<d>\S+) changed since version (?P<v>\d+) .*",
     lambda m, a: f"hồ sơ {m['d']} đã thay đổi sau lần cập nhật {m['v']} (một thao tác khác được ghi trước). "
                  f"Hãy xem lại (quytrinh dossier show {m['d']}) rồi thực hiện lại; hồ sơ chưa thay đổi."),
    (StaleVersion, r"idempotency key '(?P<k>[^']*)' is being used by a concurrent request; retry",
     lambda m, a: f"khóa chống lặp '{m['k']}' đang được một yêu cầu khác dùng; hãy thử lại."),
    (StaleVersion, r"outbox item (?P<i>\d+) is not claimed by worker '(?P<w>[^']*)' \(state (?P<st>[^,]*), "
                   r"lease owner (?P<o>[^)]*)\); its lease was lost",
     lambda m, a: f"việc máy {m['i']} không còn do worker '{m['w']}' giữ (trạng thái {m['st']}, "
                  f"đang giữ: {m['o']})."),
    # ---- DuplicateRequest
    (DuplicateRequest, r"idempotency key '(?P<k>[^']*)' was already used by (?P<u>\S+) for a different request "
                       r"\((?P<act>\w+) at (?P<at>[^)]+)\); use a new key",
     lambda m, a: f"khóa chống lặp '{m['k']}' đã được {m['u']} dùng cho một yêu cầu khác "
                  f"({ACTION_VERBS.get(m['act'], m['act'])}, lúc {_local(m['at'])}); hãy dùng khóa khác. "
                  f"Hồ sơ chưa thay đổi."),
    # ---- IllegalAction: the state machine's refusals, then the services' own
    (IllegalAction, r"(?P<msg>.+) \(dossier status (?P<n>\d+) '(?P<label>[^']*)'\)"
                    r"(?:; allowed: (?P<allowed>.*)|; nothing is allowed any more)", _machine),
    (IllegalAction, r"unknown channel '(?P<c>[^']*)'; allowed: (?P<k>.*)",
     lambda m, a: f"hình thức nộp '{m['c']}' không hợp lệ; dùng một trong: {m['k']}."),
    (IllegalAction, r"procedure (?P<k>\S+) has no steps", lambda m, a: f"quy trình {m['k']} không có bước nào."),
    (IllegalAction, r"work item (?P<i>\d+) is step '(?P<s>[^']+)' of kind (?P<k>\w+); \w+ applies to (?P<ks>.+) "
                    r"steps \(use complete\)",
     lambda m, a: f"công việc {m['i']} là bước '{m['s']}' loại {m['k']}; thao tác {_verb(a)} chỉ dùng cho bước loại "
                  f"{m['ks'].replace(' or ', ' hoặc ')} (hãy dùng quytrinh task complete)."),
    (IllegalAction, r"step '(?P<s>[^']+)' is not a terminal return step",
     lambda m, a: f"bước '{m['s']}' không phải bước trả kết quả cuối cùng."),
    (IllegalAction, r"step '(?P<s>[^']+)' \(work item (?P<i>\d+)\) has no route to a supplementation step; "
                    r"its outcomes are (?P<o>.*)",
     lambda m, a: f"bước '{m['s']}' (công việc {m['i']}) không có nhánh yêu cầu bổ sung; các kết quả của bước: "
                  f"{m['o']}."),
    # ---- ActionError
    (ActionError, r"'(?P<u>[^']*)' is not a valid username .*",
     lambda m, a: f"'{m['u']}' không dùng làm tên đăng nhập được (chỉ chữ, số và . _ -; không dùng 'system')."),
    (ActionError, r"unit '(?P<u>[^']+)' has no role '(?P<r>[^']+)'; its roles: (?P<k>.*)",
     lambda m, a: f"đơn vị '{m['u']}' không có vai trò '{m['r']}'; các vai trò của đơn vị: {m['k']}."),
    (ActionError, r"user '(?P<u>[^']+)' already exists", lambda m, a: f"đã có người dùng '{m['u']}'."),
    (ActionError, r"user '(?P<u>[^']+)' already exists as '(?P<e>[^']+)' \(usernames are case-insensitive\)",
     lambda m, a: f"đã có người dùng '{m['e']}'; tên đăng nhập không phân biệt chữ hoa, chữ thường nên "
                  f"'{m['u']}' trùng với '{m['e']}'. Hãy chọn tên khác."),
    (ActionError, r"unit '(?P<u>[^']+)' was merged into '(?P<s>[^']+)'; its staff belong to '[^']+' \(.*\)",
     lambda m, a: f"đơn vị '{m['u']}' đã hợp nhất vào '{m['s']}'; cán bộ của đơn vị nay thuộc '{m['s']}' "
                  f"(quytrinh user move TÊN --unit {m['s']} --role VAI_TRÒ)."),
    # ---- quytrinh unit transfer (nothing is changed when it is refused)
    (ActionError, r"unit '(?P<u>[^']+)' was not merged into another unit \(.*\); .*",
     lambda m, a: f"đơn vị '{m['u']}' chưa được ghi là đã hợp nhất vào đơn vị nào (units.yaml không có merged_into "
                  f"cho đơn vị này); hãy ghi merged_into trong units.yaml rồi chạy quytrinh publish, hoặc chỉ đơn vị "
                  f"nhận việc bằng --to. Chưa chuyển công việc nào."),
    (ActionError, r"unit '(?P<u>[^']+)' cannot take over its own work; .*",
     lambda m, a: f"không chuyển công việc của '{m['u']}' cho chính đơn vị đó được; hãy chỉ đơn vị khác bằng --to. "
                  f"Chưa chuyển công việc nào."),
    (ActionError, r"unit '(?P<t>[^']+)' was itself merged into '(?P<s>[^']+)'; transfer to '[^']+'",
     lambda m, a: f"đơn vị '{m['t']}' cũng đã hợp nhất vào '{m['s']}'; hãy chuyển sang '{m['s']}' (--to {m['s']}). "
                  f"Chưa chuyển công việc nào."),
    (ActionError, r"unit '(?P<t>[^']+)' is of kind (?P<k>\w+); the work of '(?P<u>[^']+)' may only go to .*",
     lambda m, a: f"đơn vị '{m['t']}' là {_OUTSIDE_KINDS.get(m['k'], 'đơn vị ngoài bộ máy')} (loại {m['k']}), "
                  f"không thuộc bộ máy của cơ quan; công việc của '{m['u']}' chỉ chuyển được sang đơn vị loại "
                  f"one_stop, office, leadership hoặc clerk.{_NOT_MOVED}"),
    (ActionError, r"unit '(?P<u>[^']+)' is a partner agency or the applicant \(kind (?P<k>\w+)\); .*",
     lambda m, a: f"đơn vị '{m['u']}' là {_OUTSIDE_KINDS.get(m['k'], 'đơn vị ngoài bộ máy')} (loại {m['k']}), "
                  f"không thuộc bộ máy của cơ quan; chỉ chuyển công việc của đơn vị loại one_stop, office, "
                  f"leadership hoặc clerk.{_NOT_MOVED}"),
    (ActionError, r"unit '(?P<u>[^']+)' was merged into '(?P<s>[^']+)' \(units.yaml\), not '(?P<t>[^']+)'; .*",
     lambda m, a: f"đơn vị '{m['u']}' đã hợp nhất vào '{m['s']}' theo units.yaml, không phải '{m['t']}': công việc "
                  f"của đơn vị chuyển sang '{m['s']}', nơi các bước tiếp theo của hồ sơ cũng được mở; hãy bỏ --to, "
                  f"hoặc sửa merged_into trong units.yaml rồi chạy quytrinh publish.{_NOT_MOVED}"),
    (ActionError, r"unit '(?P<t>[^']+)' is of level '(?P<l>[^']*)', not '(?P<l2>[^']*)' as '(?P<u>[^']+)'; .*",
     lambda m, a: f"đơn vị '{m['t']}' thuộc {_level(m['l'])}, còn '{m['u']}' thuộc {_level(m['l2'])}; công việc "
                  f"chỉ chuyển sang đơn vị cùng cấp.{_NOT_MOVED}"),
    (ActionError, r"unit '(?P<t>[^']+)' lacks roles that open work of '(?P<u>[^']+)' needs: (?P<need>.*); add them .*",
     lambda m, a: f"đơn vị '{m['t']}' không có vai trò mà công việc đang mở của '{m['u']}' cần: "
                  f"{m['need'].replace('work items', 'công việc')}; hãy thêm các vai trò này cho '{m['t']}' trong "
                  f"units.yaml rồi chạy quytrinh publish. Chưa chuyển công việc nào."),
    (ActionError, r"user '(?P<u>[^']+)' already works for no commune",
     lambda m, a: f"{m['u']} vốn không gắn với xã nào; không có gì thay đổi."),
    (ActionError, r"user '(?P<u>[^']+)' already works for (?P<c>.+)",
     lambda m, a: f"{m['u']} đã làm việc cho {m['c']} và không giữ công việc nào của xã khác; không có gì thay "
                  f"đổi."),
    (ActionError, r"unit '(?P<t>[^']+)' is of the (?P<l>\w+) level; only staff of a commune-level unit work for a "
                  r"commune",
     lambda m, a: f"đơn vị '{m['t']}' thuộc {_level(m['l'])}; chỉ cán bộ của đơn vị cấp xã mới làm việc cho một "
                  f"xã."),
    (ActionError, r"user '(?P<u>[^']+)' is already deactivated",
     lambda m, a: f"tài khoản '{m['u']}' đã ngừng hoạt động từ trước."),
    (ActionError, r"user '(?P<u>[^']+)' is active", lambda m, a: f"tài khoản '{m['u']}' đang hoạt động."),
    (ActionError, r"user '(?P<u>[^']+)' is already (?P<w>[^/\s]+/\S+)",
     lambda m, a: f"'{m['u']}' đã thuộc {m['w']}."),
    (ActionError, r"work item (?P<i>\d+) opens no step of (?P<u>\S+) to give to '(?P<t>[^']+)'",
     lambda m, a: f"hoàn thành công việc {m['i']} không mở bước nào của {m['u']} để giao cho '{m['t']}'."),
    (ActionError, r"user '(?P<u>[^']+)' is deactivated",
     lambda m, a: f"người dùng '{m['u']}' đã bị khóa; không giao việc được."),
    (ActionError, r"user '(?P<u>[^']+)' \((?P<ur>[^)]+)\) may not do work item (?P<i>\d+) \(step '(?P<s>[^']+)'\); "
                  r"it is work of (?P<w>\S+)",
     lambda m, a: f"người dùng '{m['u']}' ({m['ur']}) không làm được công việc {m['i']} (bước '{m['s']}'); "
                  f"đây là việc của {m['w']}."),
    (ActionError, r"the applicant's name is empty", lambda m, a: "chưa có tên người nộp hồ sơ (--applicant)."),
    (ActionError, r"a refusal needs its reason \(comment\).*",
     lambda m, a: "từ chối tiếp nhận cần ghi rõ lý do (--comment), in trên Phiếu từ chối." if a == "receive" else
     "từ chối giải quyết cần ghi rõ lý do (--comment), nêu trong văn bản trả lời tổ chức, cá nhân."),
    (ActionError, r"asking the applicant to supplement needs what to supplement \(comment\).*",
     lambda m, a: "yêu cầu bổ sung hồ sơ cần ghi rõ giấy tờ, nội dung cần bổ sung (--comment), in trên Phiếu yêu "
                  "cầu bổ sung, hoàn thiện hồ sơ."),
    (ActionError, r"sending the dossier back needs why and what to redo \(comment\).*",
     lambda m, a: "trả lại để xử lý lại cần ghi rõ lý do và việc cần làm lại (--comment), để người xử lý lại biết."),
    (ActionError, r"record the applicant's written request \(comment: its number, date and reason\)",
     lambda m, a: "hãy ghi đơn đề nghị rút hồ sơ của tổ chức, cá nhân (--comment: số, ngày, lý do)."),
    (ActionError, r"write the reason for the delay \(it is printed on form 04\)",
     lambda m, a: "hãy ghi lý do chậm trễ (--reason), in trên Phiếu xin lỗi và hẹn lại (Mẫu 04)."),
    (ActionError, r"the apology of dossier (?P<c>\S+) is already (?P<st>\w+)",
     lambda m, a: f"phiếu xin lỗi của hồ sơ {m['c']} đã được ký; không ký lại."),
    (ActionError, r"dossier (?P<c>\S+) is finished; no apology is needed",
     lambda m, a: f"hồ sơ {m['c']} đã giải quyết xong; không cần phiếu xin lỗi."),
    (ActionError, r"dossier (?P<c>\S+) is closed \(withdrawn or stopped\); no apology is needed",
     lambda m, a: f"hồ sơ {m['c']} đã rút hoặc dừng xử lý; không cần phiếu xin lỗi."),
    (ActionError, r"the new appointment (?P<n>\S+) must be no earlier than the proposed one \((?P<o>[^)]+)\), "
                  r"which gives the rest of the work its time, and after now",
     lambda m, a: f"ngày hẹn mới {_local(m['n'])} không được sớm hơn ngày hệ thống đề xuất ({_local(m['o'])}), "
                  "là thời gian các bước còn lại cần, và phải sau thời điểm hiện tại."),
    (ActionError, r"the new appointment (?P<n>\S+) is outside office hours; .*",
     lambda m, a: f"ngày hẹn mới {_local(m['n'])} ngoài giờ làm việc; hãy hẹn vào giờ làm việc của một ngày "
                  "làm việc (ví dụ 17:00)."),
    (NotAuthorized, r"(?P<who>.+?) may not sign the apology of dossier (?P<c>\S+); (?P<m>\S+) was merged into "
                    r"(?P<u>\S+): the head \((?P<h>[^)]+)\) of \S+ does",
     lambda m, a: f"đơn vị {m['m']} đã hợp nhất vào {m['u']}; phiếu xin lỗi của hồ sơ {m['c']} nay do lãnh đạo "
                  f"đơn vị {m['u']} ký."),
    (NotAuthorized, r"(?P<who>.+?) may not sign the apology of dossier (?P<c>\S+); the head \((?P<h>[^)]+)\) "
                    r"of (?P<u>\S+) does",
     lambda m, a: f"chỉ lãnh đạo đơn vị {m['u']} mới ký phiếu xin lỗi của hồ sơ {m['c']}."),
    (ActionError, r"give the reason \(it is printed on the notice to the applicant\)",
     lambda m, a: "hãy ghi lý do (--reason), in trên thông báo gửi người nộp."),
    # ---- the SLA clock: an instant given (--now) before the step's start, or before a pause began
    (CalendarError, r"closed at (?P<c>[\d-]+ [\d:]+), before the start or the last pause \((?P<s>[^)]+)\)",
     lambda m, a: f"thời điểm thực hiện ({_wall(m['c'])}) sớm hơn lúc bắt đầu tính thời gian của bước hoặc lúc "
                  f"hết tạm dừng gần nhất ({_wall(m['s'])}); thao tác phải ghi ở thời điểm sau đó."),
    (CalendarError, r"a pause cannot end \((?P<e>[^)]+)\) before it starts \((?P<s>[^)]+)\)",
     lambda m, a: f"thời điểm tính tiếp thời gian ({_wall(m['e'])}) sớm hơn lúc bắt đầu tạm dừng "
                  f"({_wall(m['s'])}); thao tác phải ghi ở thời điểm sau đó."),
    (CalendarError, r"pause \d+ starts at (?P<p>[\d-]+ [\d:]+), before the clock start or the end of the "
                    r"previous pause \((?P<s>[^)]+)\)",
     lambda m, a: f"thời điểm tạm dừng ({_wall(m['p'])}) sớm hơn lúc bắt đầu tính thời gian hoặc lúc hết lần "
                  f"tạm dừng trước ({_wall(m['s'])}); thao tác phải ghi ở thời điểm sau đó."),
    # ---- CalendarError: durations and dates typed by the user
    (CalendarError, r"duration '(?P<t>[^']*)' has no unit: write (?P<a>\S+), (?P<b>\S+) or (?P<c>\S+)",
     lambda m, a: f"thời lượng '{m['t']}' thiếu đơn vị: viết {m['a']}, {m['b']} hoặc {m['c']}."),
    (CalendarError, r"empty duration: .*", lambda m, a: "thời lượng trống: viết ví dụ 0.5d, 4h hoặc 30m."),
    (CalendarError, r"duration must be text like .*, not (?P<x>.*)",
     lambda m, a: f"thời lượng phải viết dạng 0.5d, 4h hoặc 30m, không phải {m['x']}."),
    (CalendarError, r"'(?P<t>[^']*)' is not a duration: .*1d = (?P<n>\d+) working minutes\)",
     lambda m, a: f"'{m['t']}' không phải thời lượng: viết một số và đơn vị d, h hoặc m (ví dụ 0.5d, 4h, 30m; "
                  f"1d = {m['n']} phút làm việc)."),
    (CalendarError, r"'(?P<t>[^']*)' is not a duration",
     lambda m, a: f"'{m['t']}' không phải thời lượng (ví dụ 0.5d, 4h, 30m)."),
    (CalendarError, r"duration '(?P<t>[^']*)' is not a whole number of minutes \((?P<x>\S+) min\)",
     lambda m, a: f"thời lượng '{m['t']}' không phải số phút nguyên ({m['x']} phút)."),
    (CalendarError, r"unknown unit '(?P<u>[^']+)' in (?P<w>.+) \(units with own hours: (?P<k>.*)\)",
     lambda m, a: f"không có đơn vị '{m['u']}' trong {m['w']} (các đơn vị có giờ làm việc riêng: {m['k']})."),
    (CalendarError, r"no calendar\.yaml in (?P<d>.+?)(?P<env> \(set by \$\w+\))?",
     lambda m, a: f"không có tệp calendar.yaml trong {m['d']}"
                  + (" (thư mục đặt bằng $QUYTRINH_CATALOGUE_DIR)" if m["env"] else "") + "."),
    (CalendarError, r"the working calendar covers (?P<a>\d+)-(?P<b>\d+); asked about (?P<y>\d+)",
     lambda m, a: f"lịch làm việc chỉ có các năm {m['a']}–{m['b']}; không tính được cho năm {m['y']}."),
    (CalendarError, r"minutes must be >= 0, not (?P<x>\S+).*",
     lambda m, a: f"số phút phải từ 0 trở lên, không phải {m['x']}."),
    # ---- reports
    ("ReportError", r"the period ends \((?P<b>[^)]*)\) before it starts \((?P<a>[^)]*)\)",
     lambda m, a: f"kỳ báo cáo kết thúc ({m['b']}) trước khi bắt đầu ({m['a']})."),
    ("ReportError", r"the period starts \((?P<a>[^)]*)\) after now",
     lambda m, a: f"kỳ báo cáo bắt đầu ({m['a']}) sau thời điểm hiện tại."),
    ("ReportError", r"unknown grouping '(?P<x>[^']*)'; use one of (?P<k>.*)",
     lambda m, a: f"không có cách nhóm '{m['x']}'; dùng một trong: {m['k']}."),
    # ---- forms, ledger and the draft decision
    ("DocumentError", r"procedure '(?P<c>[^']+)' is not in the catalogue \((?P<r>.+)\); "
                      r"see `quytrinh catalogue` for the codes",
     lambda m, a: f"thủ tục '{m['c']}' không có trong danh mục ({m['r']}); xem các mã bằng: quytrinh catalogue."),
    ("DocumentError", r"unknown level '(?P<x>[^']*)'; use district or commune",
     lambda m, a: f"không có cấp '{m['x']}'; dùng district (huyện) hoặc commune (xã)."),
    ("DocumentError", r"procedure '(?P<c>[^']+)' \((?P<f>[^)]+)\) is (?P<l>\w+)-level; use --level \w+ or leave it out",
     lambda m, a: f"thủ tục '{m['c']}' ({m['f']}) thuộc cấp {_LEVELS.get(m['l'], m['l'])}; dùng --level {m['l']} hoặc "
                  "bỏ thủ tục này ra."),
    ("DocumentError", r"every (?P<l>\w+)-level procedure of the catalogue already has an approving decision; .*",
     lambda m, a: f"mọi thủ tục cấp {_LEVELS.get(m['l'], m['l'])} trong danh mục đã có quyết định phê duyệt; chọn "
                  "thủ tục bằng --codes."),
    ("DocumentError", r"unknown format '(?P<x>[^']*)'; use html or docx",
     lambda m, a: f"không có định dạng '{m['x']}'; dùng html hoặc docx."),
    ("DocumentError", r"the dossier has no reception date: no form set applies",
     lambda m, a: "hồ sơ chưa có ngày tiếp nhận nên chưa áp dụng bộ mẫu nào."),
    ("DocumentError", r"form '(?P<f>[^']+)' is not in the set of (?P<c>.+) that applies to dossier (?P<d>\S+); "
                      r"use one of (?P<k>.*)",
     lambda m, a: f"mẫu '{m['f']}' không thuộc bộ mẫu theo {m['c']} áp dụng cho hồ sơ {m['d']}; dùng một trong: "
                  f"{_form_kinds(m['k'])}."),
    ("DocumentError", r"form (?P<f>\S+) is the ledger of many dossiers; .*",
     lambda m, a: f"mẫu {m['f']} là sổ theo dõi nhiều hồ sơ; dùng quytrinh ledger."),
    ("DocumentError", r"the ledger period ends \((?P<b>[^)]*)\) before it starts \((?P<a>[^)]*)\)",
     lambda m, a: f"kỳ của sổ theo dõi kết thúc ({m['b']}) trước khi bắt đầu ({m['a']})."),
    ("DocumentError", r"unknown unit '(?P<u>[^']*)'; see units.yaml",
     lambda m, a: f"không có đơn vị '{m['u']}'; xem units.yaml."),
    # ---- simulation parameters
    ("SimulationError", r"--arrivals '(?P<x>[^']*)' is not a rate; .*",
     lambda m, a: f"--arrivals '{m['x']}' không phải tốc độ đến; viết ví dụ 20/day, 100/week hoặc 3/hour."),
    ("SimulationError", r"--arrivals must be 0 or more per day, not (?P<x>.*)",
     lambda m, a: f"--arrivals phải từ 0 hồ sơ/ngày trở lên, không phải {m['x']}."),
    ("SimulationError", r"--days must be at least 1, not (?P<x>.*)",
     lambda m, a: f"--days phải từ 1 trở lên, không phải {m['x']}."),
    ("SimulationError", r"--service '(?P<x>[^']*)' is unknown; use one of (?P<k>.*)",
     lambda m, a: f"--service '{m['x']}' không có; dùng một trong: {m['k']}."),
    ("SimulationError", r"--effort must be above 0 \(share of the allotted time\), not (?P<x>.*)",
     lambda m, a: f"--effort phải lớn hơn 0 (phần của thời gian được giao), không phải {m['x']}."),
    ("SimulationError", r"--cv must be between 0 and 5, not (?P<x>.*)",
     lambda m, a: f"--cv phải từ 0 đến 5, không phải {m['x']}."),
    ("SimulationError", r"--citizen-delay must be 0 or more", lambda m, a: "--citizen-delay phải từ 0 trở lên."),
    ("SimulationError", r"--(?P<o>\w+) must be a probability between 0 and 1, not (?P<x>.*)",
     lambda m, a: f"--{m['o']} là xác suất, phải từ 0 đến 1, không phải {m['x']}."),
    ("SimulationError", r"--staff '(?P<x>[^']*)' is not UNIT=N; write e.g. (?P<e>.*)",
     lambda m, a: f"--staff '{m['x']}' không có dạng ĐƠN_VỊ=N; viết ví dụ {m['e']}."),
    ("SimulationError", r"--staff '(?P<x>[^']*)': a unit needs at least 1 member of staff",
     lambda m, a: f"--staff '{m['x']}': mỗi đơn vị cần ít nhất 1 người."),
    ("SimulationError", r"--staff names unit '(?P<u>[^']*)' twice",
     lambda m, a: f"--staff ghi đơn vị '{m['u']}' hai lần."),
    ("SimulationError", r"--route '(?P<x>[^']*)' is not STEP.OUTCOME=P .*",
     lambda m, a: f"--route '{m['x']}' không có dạng BƯỚC.KẾT_QUẢ=P với P từ 0 đến 1; viết ví dụ "
                  f"--route appraise.supplement=0.2."),
    ("SimulationError", r"--route '(?P<x>[^']*)': (?P<k>\S+) has no step '(?P<s>[^']*)'; its steps: (?P<all>.*)",
     lambda m, a: f"--route '{m['x']}': quy trình {m['k']} không có bước '{m['s']}'; các bước có nhánh: {m['all']}."),
    ("SimulationError", r"--route '(?P<x>[^']*)': step '(?P<s>[^']*)' has no outcome '(?P<o>[^']*)'; "
                        r"its outcomes: (?P<all>.*)",
     lambda m, a: f"--route '{m['x']}': bước '{m['s']}' không có kết quả '{m['o']}'; các kết quả: {m['all']}."),
    ("SimulationError", r"the probabilities of step '(?P<s>[^']*)' add up to (?P<x>\S+) \(> 1\)(?:; .*)?",
     lambda m, a: f"tổng xác suất các nhánh của bước '{m['s']}' là {m['x']} (> 1); hãy giảm bằng "
                  f"--route {m['s']}.KẾT_QUẢ=P."),
    ("SimulationError", r"the probabilities of step '(?P<s>[^']*)' are all 0",
     lambda m, a: f"mọi nhánh của bước '{m['s']}' đều có xác suất 0."),
    ("SimulationError", r"--staff: procedure (?P<k>\S+) has no staffed step at unit '(?P<u>[^']*)'; its units: (?P<all>.*)",
     lambda m, a: f"--staff: quy trình {m['k']} không có bước nào do đơn vị '{m['u']}' xử lý; các đơn vị: {m['all']}."),
    ("SimulationError", r"procedure (?P<k>\S+) has no steps to simulate",
     lambda m, a: f"quy trình {m['k']} không có bước nào để mô phỏng."),
    # ---- drawing
    ("RenderError", r"graphviz 'dot' is not installed; .*",
     lambda m, a: "chưa cài graphviz (lệnh dot); chạy `make system-deps` (gói Debian graphviz)."),
    ("RenderError", r"graphviz failed: (?P<x>.*)", lambda m, a: f"graphviz báo lỗi: {m['x']}"),
    ("RenderError", r"unknown format '(?P<x>[^']*)'; use one of (?P<k>.*)",
     lambda m, a: f"không có định dạng '{m['x']}'; dùng một trong: {m['k']}."),
]

_COMPILED = [(kind, re.compile(p, re.S), say) for kind, p, say in _RULES]

_ACTION_PREFIX = re.compile(r"(?P<action>[a-z_]+): (?P<rest>.*)", re.S)

#: Specifics worth keeping from a message no rule knows: (pattern, Vietnamese template).
_SPECIFICS = [
    (r"work item (\d+)", "công việc {0}"),
    (r"outbox item (\d+)", "việc máy {0}"),
    (r"step '([^']+)'", "bước '{0}'"),
    (r"dossier '?([\w.\-]+)'?", "hồ sơ {0}"),
    (r"procedure '?([\w.\-]+)'?", "thủ tục {0}"),
    (r"user '([^']+)'", "người dùng '{0}'"),
    (r"unit '([^']+)'", "đơn vị '{0}'"),
    (r"role '([^']+)'", "vai trò '{0}'"),
    (r"outcome '([^']+)'", "kết quả '{0}'"),
    (r"version (\d+)", "phiên bản {0}"),
    (r"key '([^']+)'", "khóa '{0}'"),
]


def _specifics(text: str) -> str:
    """The ids, codes and step ids of an English message, named in Vietnamese (``công việc 2, bước 'x'``)."""
    found: list[str] = []
    for pattern, template in _SPECIFICS:
        for m in re.finditer(pattern, text):
            item = template.format(m[1])
            if item not in found:
                found.append(item)
    return ", ".join(found)


#: A finding's severity as the CLI's text writes it after the finding (``[lỗi]``, ``[cảnh báo]``); the JSON
#: outputs keep the rule registry's ids (``error``, ``warning``).
SEVERITY_VI = {"error": "lỗi", "warning": "cảnh báo"}


def located_text(problem: object) -> str:
    """A located problem (``engine.errors.Problem``: a file that does not load) or lint finding
    (``engine.lint.Finding``) as the CLI prints it: ``path:line:col: rule-id: bước 'x': message``. Their own
    ``str()`` names the step in English (``step 'x':``), for developers and logs.

    >>> from engine.errors import Location, Problem
    >>> located_text(Problem(Location("a.yaml", 31, 5), "bad-duration", "'1x' không phải là thời gian xử lý",
    ...                      step="appraise"))
    "a.yaml:31:5: bad-duration: bước 'appraise': '1x' không phải là thời gian xử lý"
    """
    rule = getattr(problem, "rule_id", None) or getattr(problem, "rule", "")
    step = getattr(problem, "step", None)
    where = f" bước '{step}':" if step else ""
    return f"{problem.location}: {rule}:{where} {problem.message}"  # type: ignore[attr-defined]


def finding_line(finding: object) -> str:
    """A lint finding as ``quytrinh validate`` prints it: :func:`located_text` and its severity in Vietnamese
    (``… [cảnh báo]``)."""
    severity = getattr(finding, "severity", "")
    return f"{located_text(finding)} [{SEVERITY_VI.get(severity, severity)}]"


#: How the CLI's texts name an account the engine's message gives by its id (``user 3``, ``id 3``).
_USER_ID = re.compile(r"người dùng số (\d+)")


def name_users(text: str, names: Callable[[list[int]], dict[int, str]]) -> str:
    """``text`` with each account named by its id ("người dùng số 3": the engine's messages give the holder of a
    work item so) named as staff know it, by ``names(ids)`` ('Full name (username)'); an id it does not know is
    left as it is.

    >>> name_users("công việc 3 (bước 'appraise') đã do người dùng số 3 nhận xử lý", lambda ids: {3: "Lê Cường (cv)"})
    "công việc 3 (bước 'appraise') đã do Lê Cường (cv) nhận xử lý"
    """
    ids = sorted({int(m) for m in _USER_ID.findall(text)})
    if not ids:
        return text
    known = names(ids)
    return _USER_ID.sub(lambda m: known.get(int(m[1]), m[0]), text)


def cli_error_text(exc: BaseException) -> str:
    """The one line the CLI prints (after ``quytrinh: ``) for a quytrinh error, in Vietnamese.

    Parameters
    ----------
    exc : QuytrinhError
        Raised by the engine or by a command.

    Returns
    -------
    str
        The error's headline and its specifics (``Không có quyền: người dùng 'cv1' (phong_tckh/staff)
        không được hoàn thành công việc 2 (bước 'assign'); công việc thuộc phong_tckh/head.``); the text
        as it is for an error marked :func:`localized`, a located definition problem, or a message of
        a kind the table does not cover.
    """
    text = str(exc).strip()
    if isinstance(exc, DefinitionError) and exc.problems:
        return "\n".join(located_text(p) for p in exc.problems)
    if getattr(exc, "localized", False) or isinstance(exc, DefinitionError):
        return text
    vi = getattr(exc, "vi", None)  # engine.approval.ApprovalError carries its own Vietnamese
    if isinstance(vi, str) and vi:
        return vi
    action, rest = None, text
    m = _ACTION_PREFIX.fullmatch(text)
    if m and m["action"] in ACTION_VERBS:
        action, rest = m["action"], m["rest"]
    for kind, pattern, say in _COMPILED:
        if _is(exc, kind):
            mm = pattern.fullmatch(rest)
            if mm:
                return f"{headline(exc)}: {say(mm, action)}"
    if isinstance(exc, NotFound):
        found = _specifics(rest)
        return f"{headline(exc)}: {found or 'đối tượng được yêu cầu'}."
    if isinstance(exc, ActionError):
        found = _specifics(rest)
        what = f"Không {_verb(action)} được" if action else headline(exc)
        return f"{what}{' (' + found + ')' if found else ''}. {error_message_vi(exc)}"
    return text


# --------------------------------------------------------------------------- usage errors

_PARAM_KINDS = {"option": "tùy chọn", "argument": "đối số", "parameter": "tham số"}

_BAD_VALUES: list[tuple[str, Callable[[re.Match], str]]] = [
    (r"Value error, (?P<inner>.*)", lambda m: _bad_value(m["inner"])),
    (r"Input should be a valid integer(?:,.*)?", lambda m: "phải là số nguyên."),
    (r"Input should be a valid number(?:,.*)?", lambda m: "phải là số."),
    (r"Input should be a valid boolean(?:,.*)?", lambda m: "phải là đúng hoặc sai (true/false)."),
    (r"Input should be greater than or equal to (?P<n>\S+)", lambda m: f"phải từ {m['n']} trở lên."),
    (r"Input should be less than or equal to (?P<n>\S+)", lambda m: f"phải từ {m['n']} trở xuống."),
    (r"Input should be greater than (?P<n>\S+)", lambda m: f"phải lớn hơn {m['n']}."),
    (r"Input should be less than (?P<n>\S+)", lambda m: f"phải nhỏ hơn {m['n']}."),
    (r"(?P<v>'.*') is not one of (?P<k>.*)\.", lambda m: f"{m['v']} không thuộc các giá trị {m['k']}."),
    (r"(?:Path|File|Directory) (?P<v>'.*') does not exist\.", lambda m: f"đường dẫn {m['v']} không tồn tại."),
    (r"(?:Path|File|Directory) (?P<v>'.*') is a file\.", lambda m: f"{m['v']} là một tệp, cần một thư mục."),
    (r"(?:Path|File|Directory) (?P<v>'.*') is a directory\.", lambda m: f"{m['v']} là một thư mục, cần một tệp."),
    (r"(?:Path|File|Directory) (?P<v>'.*') is not readable\.", lambda m: f"không đọc được {m['v']}."),
    (r"(?:Path|File|Directory) (?P<v>'.*') is not writable\.", lambda m: f"không ghi được {m['v']}."),
    (r"(?:Value )?(?P<v>'.*') is not a valid int(?:eger)?\.", lambda m: f"{m['v']} không phải số nguyên."),
    (r"(?:Value )?(?P<v>'.*') is not a valid float\.", lambda m: f"{m['v']} không phải số."),
    (r"(?P<v>\S+) is not in the range (?P<r>.*)\.", lambda m: f"{m['v']} nằm ngoài khoảng {m['r']}."),
]

_USAGE: list[tuple[str, Callable[[re.Match], str]]] = [
    (r"No such option: (?P<o>\S+?)\.?(?: Did you mean (?P<s>.+)\?| \(Possible options: (?P<p>.+)\))?",
     lambda m: f"Không có tùy chọn {m['o']}"
               + (f" (có phải {m['s'].replace(' or ', ' hoặc ')}?)" if m["s"] else "")
               + (f" (các tùy chọn gần giống: {m['p']})" if m["p"] else "") + "."),
    (r"No such command (?P<c>'[^']*')\.(?: Did you mean (?P<s>.+)\?)?",
     lambda m: f"Không có lệnh {m['c']}" + (f" (có phải {m['s'].replace(' or ', ' hoặc ')}?)" if m["s"] else "")
               + "."),
    (r"Missing (?P<k>option|argument|parameter) (?P<n>'[^']*'|\S+)\.(?P<rest>.*)",
     lambda m: f"Thiếu {_PARAM_KINDS[m['k']]} {m['n']}.{m['rest']}"),
    (r"Missing parameter: (?P<n>.*)", lambda m: f"Thiếu tham số {m['n']}."),
    (r"Got unexpected extra argument(?:s|\(s\))? \((?P<a>.*)\)", lambda m: f"Thừa đối số ({m['a']})."),
    (r"Option (?P<o>'[^']*') requires an argument\.", lambda m: f"Tùy chọn {m['o']} cần một giá trị."),
    (r"Option (?P<o>'[^']*') requires (?P<n>\d+) arguments\.", lambda m: f"Tùy chọn {m['o']} cần {m['n']} giá trị."),
    (r"Option (?P<o>'[^']*') does not take a value\.", lambda m: f"Tùy chọn {m['o']} không nhận giá trị."),
    (r"Invalid value for (?P<h>.+?): (?P<msg>.*)", lambda m: f"Giá trị không hợp lệ cho {m['h']}: {_bad_value(m['msg'])}"),
    (r"Invalid value: (?P<msg>.*)", lambda m: f"Giá trị không hợp lệ: {_bad_value(m['msg'])}"),
]


def _bad_value(text: str) -> str:
    for pattern, say in _BAD_VALUES:
        m = re.fullmatch(pattern, text.strip(), re.S | re.I)
        if m:
            return say(m)
    return text


def usage_error_vi(text: str) -> str:
    """A command-line usage error of click/typer (unknown option, missing argument, bad value) in Vietnamese.

    Option names, values and choices are kept; a message of another shape is returned as it is.

    >>> usage_error_vi("No such option: --nope")
    'Không có tùy chọn --nope.'
    >>> usage_error_vi("Invalid value for '--level': 'town' is not one of 'district', 'commune'.")
    "Giá trị không hợp lệ cho '--level': 'town' không thuộc các giá trị 'district', 'commune'."
    """
    for pattern, say in _USAGE:
        m = re.fullmatch(pattern, text.strip(), re.S)
        if m:
            return say(m)
    return text


def usage_line(command_path: str, message: str, help_option: str | None = "--help") -> str:
    """The one line a usage error prints: the command, what is wrong, where to look.

    >>> usage_line("quytrinh task claim", "Thiếu đối số 'item'.")
    "quytrinh task claim: thiếu đối số 'item' (xem: quytrinh task claim --help)"
    >>> usage_line("quytrinh validate", "Không có tùy chọn --strct (các tùy chọn gần giống: --strict).")
    'quytrinh validate: không có tùy chọn --strct (các tùy chọn gần giống: --strict) (xem: quytrinh validate --help)'
    """
    text = " ".join(message.split()).rstrip(".")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():  # a sentence, not an option or an acronym
        text = text[0].lower() + text[1:]
    hint = f" (xem: {command_path} {help_option})" if help_option else ""
    return f"{command_path}: {text}{hint}"


# --------------------------------------------------------------------------- a units.yaml with mistakes

def units_fallback_text(exc: DefinitionError, stored: int) -> str:
    """What a command, the web app or the worker says once when ``units.yaml`` has problems and it goes on
    with the ``stored`` units of the database (:func:`engine.organisation.current_organisation`): each
    located problem on its line, then what it does and what to do.

    >>> from engine.errors import DefinitionError, Location, Problem
    >>> print(units_fallback_text(DefinitionError([Problem(Location("units.yaml", 9, 5), "bad-value", "…")]), 25))
    units.yaml:9:5: bad-value: …
    Cảnh báo: units.yaml có lỗi (ở trên) nên chưa được đọc; đang dùng 25 đơn vị đã lưu trong cơ sở dữ liệu (lần cuối units.yaml được đọc đúng). Hãy sửa units.yaml theo thông báo trên, kiểm tra bằng quytrinh validate rồi chạy quytrinh publish để lưu lại các đơn vị.
    """
    problems = "\n".join(located_text(p) for p in exc.problems)
    return (f"{problems}\nCảnh báo: units.yaml có lỗi (ở trên) nên chưa được đọc; đang dùng {stored} đơn vị đã "
            f"lưu trong cơ sở dữ liệu (lần cuối units.yaml được đọc đúng). Hãy sửa units.yaml theo thông báo trên, "
            f"kiểm tra bằng quytrinh validate rồi chạy quytrinh publish để lưu lại các đơn vị.")


def units_refusal_text(exc: DefinitionError, command: str) -> str:
    """Why ``command`` (``quytrinh user add``...), which changes the organisation or publishes from units.yaml,
    refuses while units.yaml has problems: each located problem on its line, then what to do.

    >>> from engine.errors import DefinitionError, Location, Problem
    >>> print(units_refusal_text(DefinitionError([Problem(Location("units.yaml", 9, 5), "bad-value", "…")]),
    ...                          "quytrinh unit transfer"))
    units.yaml:9:5: bad-value: …
    Không thực hiện được quytrinh unit transfer: lệnh này làm theo đơn vị, vai trò trong units.yaml, mà units.yaml còn lỗi (ở trên). Hãy sửa units.yaml theo thông báo trên, kiểm tra bằng quytrinh validate rồi chạy lại lệnh. Chưa thay đổi gì.
    """
    problems = "\n".join(located_text(p) for p in exc.problems)
    return (f"{problems}\nKhông thực hiện được {command}: lệnh này làm theo đơn vị, vai trò trong units.yaml, mà "
            f"units.yaml còn lỗi (ở trên). Hãy sửa units.yaml theo thông báo trên, kiểm tra bằng quytrinh validate "
            f"rồi chạy lại lệnh. Chưa thay đổi gì.")
