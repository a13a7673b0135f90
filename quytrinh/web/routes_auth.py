"""Sign-in and sign-out (``/login``, ``/logout``) and the home redirect."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from quytrinh.web import auth
from quytrinh.web.deps import now_of, optional_user, render, store_of

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths are followed after sign-in (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/inbox"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def authenticate(request: Request, username: str, password: str) -> tuple[Any, float]:
    """Check a username and password with throttling.

    Returns
    -------
    (user, retry_after)
        ``(engine.store.User, 0)`` on success; ``(None, seconds)`` when refused
        (seconds > 0: too many failures, wait that long before the next try).
    """
    from engine.services import find_user

    throttle: auth.LoginThrottle = request.app.state.throttle
    now = now_of(request)
    client = client_address(request)
    wait = throttle.retry_after(username, client, now)
    if wait > 0:
        return None, wait
    store = store_of(request)
    with store.session() as s:
        user = find_user(s, username)  # usernames are case-insensitive: ``An`` signs in to ``an``
    checked = user is not None and user.active and bool(user.password_hash)
    ok = checked and auth.verify_password(password, user.password_hash)
    if not ok:
        if not checked:  # no such user, a disabled one, one without a password: spend the time of a real check,
            auth.verify_password(password, _DUMMY_HASH)  # so that the answer's time does not tell them apart
        throttle.failed(username, client, now)
        return None, 0.0
    throttle.succeeded(username, client)
    if auth.needs_upgrade(user.password_hash):  # the session or token is bound to the hash now stored
        user.password_hash = auth.set_password(store, user.username, password)
    return user, 0.0


def credential_mark(request: Request, user: Any) -> str:
    """The credential mark a new session or token of ``user`` (an ``engine.store.User``) carries."""
    return request.app.state.codec.credential_mark(user.id, auth.credential_stamp(user.password_hash,
                                                                                  user.credential_epoch))


_DUMMY_HASH = auth.hash_password("quytrinh-dummy-password")


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """Browsers ask for it on pages without an icon link (the printable documents)."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/inbox" if optional_user(request) else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    if optional_user(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": next, "username": ""})


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("")) -> Response:
    username = username.strip()
    user, wait = authenticate(request, username, password)
    if user is None:
        if wait > 0:
            seconds = math.ceil(wait)
            msg = (f"Đăng nhập sai nhiều lần. Hãy thử lại sau {seconds} giây.")
            resp = render(request, "login.html", {"next": next, "username": username, "error": msg},
                          status_code=429)
            resp.headers["Retry-After"] = str(seconds)
            return resp
        return render(request, "login.html", {"next": next, "username": username,
                                              "error": "Tên đăng nhập hoặc mật khẩu không đúng."}, status_code=401)
    # A new session id at sign-in (no session fixation); the CSRF token changes with it.
    # The session is bound to the stored password hash: a password change ends it (deps.optional_user).
    request.state.session = auth.SessionData.new(user.id, credential_mark(request, user))
    request.state.session_dirty = True
    return RedirectResponse(_safe_next(next), status_code=303)


@router.get("/logout")
def logout_page(request: Request) -> Response:
    """``/logout`` typed or followed as a link (a bookmark, a link in a message): sign-out is a POST (a link
    on another site must not sign anyone out), so this page asks, with the button; signed out already, the
    sign-in page."""
    if optional_user(request) is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "logout.html")


@router.post("/logout")
def logout(request: Request) -> Response:
    """Sign out: the cookie is cleared, and the session is recorded as ended (``engine.store.EndedSession``),
    so that a copy of its cookie signs no one in, in any web process (this one at once, the others once
    their cached row of the user is read again: ``deps.USER_CACHE_SECONDS``)."""
    session = request.state.session
    if session.user_id is not None:
        end_session(request, session.sid, session.user_id)
    request.state.session_clear = True
    return RedirectResponse("/login", status_code=303)


def end_session(request: Request, sid: str, user_id: int) -> None:
    """Record session ``sid`` of ``user_id`` as signed out of; forget the sessions ended longer ago than a
    session lasts (their cookies have expired anyway)."""
    import datetime as dt

    from sqlmodel import delete

    from engine.store import EndedSession

    now = dt.datetime.now(dt.timezone.utc)
    with store_of(request).write() as s:
        s.exec(delete(EndedSession).where(
            EndedSession.ended_at < now - dt.timedelta(seconds=request.app.state.codec.max_age)))
        if s.get(EndedSession, sid) is None:
            s.add(EndedSession(sid=sid, user_id=user_id, ended_at=now))
    request.app.state.user_cache.pop(user_id, None)
