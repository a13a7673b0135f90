"""Shared pieces of the web routes: the signed-in user, role checks, CSRF, flash messages, rendering.

Routes modules (``quytrinh/web/routes_*.py``) use::

    from quytrinh.web.deps import current_user, require_role, render, flash, WebUser

    @router.get("/leader")
    def page(request: Request, user: WebUser = Depends(require_role("leader"))):
        return render(request, "leader_home.html", {"rows": ...})

Every non-API router is included with :func:`csrf_protect` as a dependency
(see :mod:`quytrinh.web.app`): a POST, PUT, PATCH or DELETE whose form field
``csrf_token`` (or header ``X-CSRF-Token``) is not the session's token is
refused with 403 before the route runs. Forms put the token in with
``{{ csrf_field() }}``.

Web roles (a user may have several): ``staff`` (every member of staff),
``one_stop`` (a one-stop unit), ``head`` (role ``head`` of a unit),
``leader`` (a leadership unit), ``reform`` (the reform office: a unit of
:data:`REFORM_UNITS`), ``admin`` (a username of ``$QUYTRINH_ADMINS``, default
``admin``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from markupsafe import Markup

from engine.services import Actor

#: Units whose staff are the reform office (cải cách hành chính: Phòng Nội vụ).
REFORM_UNITS = ("phong_noi_vu",)
ADMINS_ENV = "QUYTRINH_ADMINS"
ROLES = ("staff", "one_stop", "head", "leader", "reform", "admin")
ROLE_LABELS = {
    "staff": "Cán bộ, công chức",
    "one_stop": "Bộ phận Một cửa",
    "head": "Lãnh đạo đơn vị",
    "leader": "Lãnh đạo UBND",
    "reform": "Phòng phụ trách cải cách hành chính",
    "admin": "Quản trị hệ thống",
}
LOCAL_TZ = dt.timezone(dt.timedelta(hours=7))


def admin_usernames() -> set[str]:
    """Usernames with the admin role (``$QUYTRINH_ADMINS``, comma separated; default ``admin``), as
    :func:`engine.store.username_key` compares them: usernames are case-insensitive."""
    from engine.store import username_key

    return {username_key(x.strip()) for x in os.environ.get(ADMINS_ENV, "admin").split(",") if x.strip()}


@dataclass(frozen=True)
class WebUser:
    """The signed-in member of staff."""

    id: int
    username: str
    full_name: str
    unit_id: str
    unit_name: str
    unit_kind: str
    role: str
    role_title: str
    roles: frozenset[str] = field(default_factory=frozenset)
    #: :func:`quytrinh.web.auth.credential_stamp` of the stored password hash and credential epoch
    #: (sessions and tokens are bound to it)
    stamp: str = field(default="", repr=False)
    #: The ids of this user's sessions signed out of (``engine.store.EndedSession``): their cookies sign no one in
    ended: frozenset[str] = field(default_factory=frozenset, repr=False)
    #: The level of the user's unit (units.yaml ``level``: district, commune, any...) and its full name
    unit_level: str = ""
    unit_full_name: str = ""
    #: The commune a commune's officer works for (``engine.store.User.commune``, as units.yaml writes it): they
    #: see and act on that commune's dossiers only (and on those of no commune). "": not tied to a commune.
    commune: str = ""

    @property
    def actor(self) -> Actor:
        """The engine actor of this user."""
        return Actor(self.username, self.unit_id, self.role, self.id, self.full_name, self.commune)

    @property
    def tied_commune(self) -> str:
        """The commune whose dossiers alone (with those of no commune) this user sees: theirs, for staff tied
        to a commune, a commune's own leaders (Chủ tịch UBND xã) included; "" for everyone else (the district's
        leaders, the reform office and admins see every dossier)."""
        if self.has("reform", "admin") or (self.has("leader") and self.unit_level != "commune"):
            return ""
        return self.commune

    @property
    def display(self) -> str:
        return self.full_name or self.username

    def has(self, *roles: str) -> bool:
        """Whether the user has at least one of ``roles``."""
        return bool(self.roles.intersection(roles))


def web_roles(username: str, unit_id: str, unit_kind: str, role: str) -> frozenset[str]:
    """The web roles of a user (see the module docstring)."""
    roles = {"staff"}
    if unit_kind == "one_stop":
        roles.add("one_stop")
    if role == "head":
        roles.add("head")
    if unit_kind == "leadership":
        roles.add("leader")
    if unit_id in REFORM_UNITS:
        roles.add("reform")
    from engine.store import username_key

    if username_key(username) in admin_usernames():
        roles.add("admin")
    return frozenset(roles)


def load_user(store: Any, user_id: int) -> WebUser | None:
    """The active user with this id, as a :class:`WebUser` (None when missing or inactive)."""
    from sqlmodel import select

    from engine.store import EndedSession, UnitRow, User
    from quytrinh.web.auth import credential_stamp

    with store.session() as s:
        u = s.get(User, user_id)
        if u is None or not u.active:
            return None
        unit = s.get(UnitRow, u.unit_id)
        ended = frozenset(s.exec(select(EndedSession.sid).where(EndedSession.user_id == user_id)).all())
    unit_name = (unit.short or unit.name) if unit else u.unit_id
    kind = unit.kind if unit else ""
    title = (unit.roles or {}).get(u.role, u.role) if unit else u.role
    return WebUser(u.id, u.username, u.full_name, u.unit_id, unit_name, kind, u.role, title,  # type: ignore[arg-type]
                   web_roles(u.username, u.unit_id, kind, u.role),
                   credential_stamp(u.password_hash, u.credential_epoch), ended,
                   unit.level if unit else "", unit.name if unit else u.unit_id, u.commune or "")


# --------------------------------------------------------------------------- app state


def store_of(request: Request) -> Any:
    """The :class:`engine.store.Store` of the app."""
    return request.app.state.store


#: The units.yaml problems the web app logged (:func:`log_units_problems`): each said once per process.
_LOGGED_UNITS_PROBLEMS: set[str] = set()


def log_units_problems(exc: Any, stored: int) -> None:
    """Log once per process (a warning of ``quytrinh.web``) that units.yaml has ``exc``'s problems and the
    app works with the ``stored`` units of the database (:func:`quytrinh.messages.units_fallback_text`)."""
    import logging

    from quytrinh.messages import units_fallback_text

    from quytrinh.commands import dossier as cli

    key = str(exc)
    if key in _LOGGED_UNITS_PROBLEMS or key in cli._WARNED:  # (quytrinh serve said it on stderr already)
        return
    _LOGGED_UNITS_PROBLEMS.add(key)
    logging.getLogger("quytrinh.web").warning("%s", units_fallback_text(exc, stored))


def app_organisation(app: Any) -> Any:
    """The organisation of the app's catalogue (its units.yaml), or None when it has none.

    While units.yaml has problems: the organisation the database stores (the problems logged once,
    :func:`log_units_problems`). A database that stores no unit yet raises the problems
    (:class:`engine.errors.DefinitionError`), as before.
    """
    from pathlib import Path

    from engine.organisation import current_organisation

    path = Path(app.state.catalogue_root) / "units.yaml"
    try:
        st = path.stat()
        stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    key = os.path.abspath(path)
    hit = _GOOD_UNITS.get(key)
    if stamp is not None and hit is not None and hit[0] == stamp:  # parsed already (every app of a test run)
        return hit[1]
    organisation, problems = current_organisation(app.state.store, path)
    if problems is not None:
        log_units_problems(problems, len(organisation.units))
    elif organisation is not None and stamp is not None:
        _GOOD_UNITS[key] = (stamp, organisation)
    return organisation


#: units.yaml (absolute path) -> (modification time and size, its organisation) when read without problems.
_GOOD_UNITS: dict[str, tuple[tuple[int, int], Any]] = {}


def people_of(request: Request) -> dict[str, str]:
    """username -> full name (when one is recorded): who the control sheet and the histories name."""
    from sqlmodel import select

    from engine.store import User

    with store_of(request).session() as s:
        return {u.username: u.full_name for u in s.exec(select(User)).all() if u.full_name}


def now_of(request: Request) -> dt.datetime:
    """The app's current instant (the injected clock in tests)."""
    return request.app.state.clock()


# --------------------------------------------------------------------------- users


class NotSignedIn(Exception):
    """Raised by :func:`current_user` on a page that needs a signed-in user (redirects to /login)."""


#: Seconds a signed-in user's row is reused between requests (a deactivated user, or one whose password
#: changed, is out within this time).
USER_CACHE_SECONDS = 5.0

#: Shown on the sign-in page when a session ends because its user's password changed or the user was disabled.
SESSION_ENDED = "Phiên đăng nhập đã hết hiệu lực (mật khẩu đã được đổi hoặc tài khoản đã ngừng hoạt động); " \
                "hãy đăng nhập lại."


def _cache_lookup(request: Request, user_id: int) -> tuple[bool, WebUser | None]:
    """(True, user) when the user's row is cached and fresh; (False, None) when it must be read."""
    import time

    hit = request.app.state.user_cache.get(user_id)
    if hit is not None and hit[0] > time.monotonic():
        return True, hit[1]
    return False, None


def cached_user(request: Request, user_id: int) -> WebUser | None:
    """:func:`load_user`, reusing the row for :data:`USER_CACHE_SECONDS` (one query less per request)."""
    import time

    found, user = _cache_lookup(request, user_id)
    if found:
        return user
    cache: dict = request.app.state.user_cache
    user = load_user(store_of(request), user_id)
    if len(cache) > 10_000:
        cache.clear()
    cache[user_id] = (time.monotonic() + USER_CACHE_SECONDS, user)
    return user


async def cached_user_async(request: Request, user_id: int) -> WebUser | None:
    """:func:`cached_user` for async code: a cached user is answered on the event loop; only a cache miss
    (a database read) goes to the thread pool."""
    found, user = _cache_lookup(request, user_id)
    if found:
        return user
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(cached_user, request, user_id)


def credential_valid(request: Request, user: WebUser | None, mark: str | None) -> bool:
    """Whether ``user`` (None: missing or inactive) is still the one a session or token with ``mark`` was
    issued to: the mark is that of the user's current password hash."""
    return user is not None and request.app.state.codec.credential_ok(user.id, user.stamp, mark)


def session_ended(user: WebUser | None, session: Any) -> bool:
    """Whether ``user`` signed out of ``session`` (a copy of its cookie, kept after the sign-out)."""
    return user is not None and session.sid in user.ended


def _session_user(request: Request, session: Any, user: WebUser | None) -> WebUser | None:
    """``user`` when the session's credential mark is still valid; else the session is signed out, with
    :data:`SESSION_ENDED` shown on the next page (the sign-in page), and None. A session its user signed
    out of is signed out, without a message (the user chose it)."""
    if session_ended(user, session):
        session.user_id, session.mark = None, None
        request.state.session_dirty = True
        return None
    if credential_valid(request, user, session.mark):
        return user
    session.user_id, session.mark = None, None
    if ("error", SESSION_ENDED) not in session.flash:
        session.flash.append(("error", SESSION_ENDED))
    request.state.session_dirty = True
    return None


def optional_user(request: Request) -> WebUser | None:
    """The signed-in user, or None."""
    if hasattr(request.state, "user"):
        return request.state.user
    session = getattr(request.state, "session", None)
    user = None
    if session is not None and session.user_id is not None:
        user = _session_user(request, session, cached_user(request, session.user_id))
    request.state.user = user
    return user


async def current_user(request: Request) -> WebUser:
    """The signed-in user; an anonymous request is sent to the sign-in page.

    Async, so that the usual case (the user's row is cached) costs the request
    no trip through the thread pool before its route runs.
    """
    if not hasattr(request.state, "user"):
        session = getattr(request.state, "session", None)
        user = None
        if session is not None and session.user_id is not None:
            user = _session_user(request, session, await cached_user_async(request, session.user_id))
        request.state.user = user
    if request.state.user is None:
        raise NotSignedIn()
    return request.state.user


def require_role(*roles: str) -> Callable[..., WebUser]:
    """A dependency: the signed-in user, who must have one of ``roles`` (else 403)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown web roles {sorted(unknown)}; known: {', '.join(ROLES)}")

    async def dependency(user: WebUser = Depends(current_user)) -> WebUser:
        if not user.has(*roles):
            raise HTTPException(403, "Bạn không có quyền xem trang này.")
        return user

    return dependency


# --------------------------------------------------------------------------- CSRF and flash


UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: Forms sent without a signed-in user by design: a bad token there is a 403 even when signed out.
CSRF_OWN_PAGES = ("/login",)


def csrf_token(request: Request) -> str:
    """The CSRF token of the request's session."""
    return request.app.state.codec.csrf_token(request.state.session.sid)


async def csrf_protect(request: Request) -> None:
    """Refuse (403) an unsafe request without the session's CSRF token (form field or header).

    When the session has no signed-in user (the user signed out in another tab, or the session ended), the
    request is treated as "not signed in" (:class:`NotSignedIn`: the sign-in page, then the form's page);
    a signed-in session with a bad token (a forged request) gets the 403."""
    if request.method not in UNSAFE_METHODS:
        return
    token = request.headers.get("x-csrf-token")
    if token is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            token = value if isinstance(value, str) else None
    if not request.app.state.codec.csrf_ok(request.state.session.sid, token):
        if request.url.path not in CSRF_OWN_PAGES:
            # A session with no signed-in user (signed out in another tab: a new session id, so the page's
            # token no longer matches): "not signed in" -- the sign-in page, then back to the form's page.
            await current_user(request)
        raise HTTPException(403, "Biểu mẫu đã hết hạn hoặc không hợp lệ (thiếu mã chống giả mạo); thao tác chưa "
                                 "được thực hiện. Nếu bạn vừa đăng xuất hoặc đăng nhập lại ở thẻ/cửa sổ khác, "
                                 "hãy mở lại trang và làm lại.")


def flash(request: Request, message: str, kind: str = "info") -> None:
    """Show ``message`` once on the next page (kind: info | success | error)."""
    request.state.session.flash.append((kind, message))
    request.state.session_dirty = True


def take_flashes(request: Request) -> list[tuple[str, str]]:
    session = request.state.session
    if not session.flash:
        return []
    out, session.flash = list(session.flash), []
    request.state.session_dirty = True
    return out


# --------------------------------------------------------------------------- navigation and rendering


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation bar, shown to users with one of ``roles``."""

    label: str
    path: str
    roles: tuple[str, ...] = ("staff",)
    order: int = 50


def nav_for(request: Request, user: WebUser | None) -> list[NavItem]:
    if user is None:
        return []
    items: Iterable[NavItem] = request.app.state.nav
    return [n for n in items if user.has(*n.roles)]


def local_time(t: dt.datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """An instant as staff read it, in Hanoi time (``–`` for None)."""
    return t.astimezone(LOCAL_TZ).strftime(fmt) if t else "–"


_COMMITTEE = re.compile(r"^(?:ủy|uỷ) ban nhân dân\s+|^ubnd\s+", re.I)
_COMMUNE_BODY = re.compile(r"^(?:xã|phường|thị trấn)\s", re.I)


def authority(organisation: Any, user: WebUser | None) -> str:
    """The People's Committee the page footer names: the signed-in user's own.

    District staff (and any unit at the organisation's own level): the organisation's name (units.yaml
    ``organisation:``, "Ủy ban nhân dân huyện Gia Lâm"). Commune staff, when the organisation is above the
    communes: "Ủy ban nhân dân cấp xã, huyện Gia Lâm" (units.yaml describes every commune with one set of
    units), or, for an officer tied to their commune (``quytrinh user commune``), that commune's: "Ủy ban
    nhân dân xã Bát Tràng, huyện Gia Lâm". A unit outside the People's Committee
    (``kind: external`` or ``level: any``, e.g. a tax office; a city or province level unit): its own name. Nobody signed in: the
    organisation, with its communes' People's Committees when it has communes. "" when the organisation
    has no name and nobody is signed in.

    >>> from engine.definition import Organisation
    >>> org = Organisation(("district", "commune"), {}, "Ủy ban nhân dân huyện Gia Lâm", ("Xã Bát Tràng",))
    >>> authority(org, None)
    'Ủy ban nhân dân huyện Gia Lâm và các xã, thị trấn'
    """
    name = (getattr(organisation, "name", "") or "").strip()
    communes = getattr(organisation, "communes", ()) or ()
    area = _COMMITTEE.sub("", name, count=1) if _COMMITTEE.match(name) else ""
    if user is None:
        return f"{name} và các xã, thị trấn" if name and communes else name
    if user.unit_kind in ("external", "citizen") or user.unit_level in ("any", "city", "province"):
        return user.unit_full_name or user.unit_name  # not the organisation's People's Committee
    if user.unit_level == "commune" and user.commune and not _COMMUNE_BODY.match(area):
        own = user.commune[:1].lower() + user.commune[1:]  # "Xã Bát Tràng" in a sentence: "xã Bát Tràng"
        return f"Ủy ban nhân dân {own}, {area}" if area else f"Ủy ban nhân dân {own}"
    if user.unit_level == "commune" and not _COMMUNE_BODY.match(area):
        return f"Ủy ban nhân dân cấp xã, {area}" if area else "Ủy ban nhân dân cấp xã"
    if name:
        return name
    level = _LEVELS.get(user.unit_level, "")
    return f"Ủy ban nhân dân {level}" if level else ""


#: The levels of units.yaml, as the footer names them (:func:`authority`).
_LEVELS = {"district": "cấp huyện", "commune": "cấp xã"}


def _authority_of(request: Request, user: WebUser | None) -> str:
    """:func:`authority` for the app's organisation (none known: the user's level alone)."""
    try:
        organisation = app_organisation(request.app)
    except Exception:  # units.yaml unreadable and no unit stored: the footer is no place to say it
        organisation = None
    return authority(organisation, user)


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Any:
    """Render ``template`` with the common context: ``user``, ``nav``, ``csrf_token``, ``csrf_field()``,
    ``flashes``, ``now``, ``request``, ``authority`` (the footer's People's Committee: :func:`authority`)."""
    user = optional_user(request) if hasattr(request.state, "session") else None
    token = csrf_token(request) if hasattr(request.state, "session") else ""
    ctx: dict[str, Any] = {
        "request": request,
        "user": user,
        "nav": nav_for(request, user),
        "csrf_token": token,
        "csrf_field": lambda: Markup('<input type="hidden" name="csrf_token" value="%s">') % token,
        "flashes": take_flashes(request) if hasattr(request.state, "session") else [],
        "now": now_of(request),
        "path": request.url.path,
        "authority": _authority_of(request, user),
    }
    ctx.update(context or {})
    return request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status_code)


#: A form's action address -> the page the form is on (what to open instead of the action's address).
_ACTION_PAGES = (
    (re.compile(r"^/items/(\d+)/[a-z-]+$"), r"/items/\1"),
    (re.compile(r"^/dossiers/([^/]+)/(?:[a-z-]+|apologies/\d+/sign)$"), r"/dossiers/\1"),
    (re.compile(r"^/leader/procedures/([^/]+)/(\d+)/(?:approve|send-back)$"), r"/leader/procedures/\1?version=\2"),
    (re.compile(r"^/author/procedures/([^/]+)/\d+/submit$"), r"/author/procedures/\1"),
    (re.compile(r"^/author/(?:save|check|upload)$"), "/author"),
    (re.compile(r"^/receive$"), "/receive"),
)


def page_of_action(path: str) -> str | None:
    """The page whose form posts to ``path`` (``/items/7/complete`` -> ``/items/7``), None when ``path`` is
    no form action: where to send a browser that opens an action's address, or must sign in again in the
    middle of one."""
    for pattern, page in _ACTION_PAGES:
        if pattern.match(path):
            return pattern.sub(page, path)
    return None


#: The kind of the "flash" that marks a form not acted on because the session had ended: its message is the
#: form's page. base.html renders it as ``<div hidden data-form-not-done data-page="...">`` (not as a message),
#: for static/typed.js, which then fills that form again with what was typed once the user is back on the page.
FORM_NOT_DONE = "form-not-done"


def login_redirect_target(request: Request) -> str:
    """``/login?next=<this page>``; for a form sent while signed out (a session that ended), the form's page:
    after signing in the user is back on it. The action was not done and the server keeps nothing of the form;
    what the user typed comes back from their own browser: the sign-in page carries a :data:`FORM_NOT_DONE`
    marker naming the form's page, and static/typed.js (which kept the typed fields in the tab's
    sessionStorage when the form was sent) fills the form again on that page, once, for the user to check and
    send again."""
    path = request.url.path + (("?" + request.url.query) if request.url.query else "")
    if request.method not in ("GET", "HEAD"):
        page = page_of_action(request.url.path)
        if page is not None and hasattr(request.state, "session"):
            flash(request, page, FORM_NOT_DONE)
        path = page or "/inbox"
    return "/login?next=" + quote(path, safe="")
