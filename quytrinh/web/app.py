"""The FastAPI application: ``create_app()``.

Every module ``quytrinh/web/routes_*.py`` that exposes ``router`` (an
``APIRouter``) is included automatically, with the CSRF check of
:func:`quytrinh.web.deps.csrf_protect` on all its unsafe requests unless the
module sets ``OWN_CSRF = True`` (the REST API, which checks it itself). A
module may also expose ``NAV``, a list of :class:`quytrinh.web.deps.NavItem`
shown in the navigation bar to the roles they name.

No traceback ever reaches a user: errors become a Vietnamese error page (or,
under ``/api``, JSON ``{"error", "message", "message_vi", "field"}``: a stable error name, the English and
Vietnamese texts and the request field at fault; see :mod:`quytrinh.web.routes_api`).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import pkgutil
import re
import threading
from http import HTTPStatus
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Callable

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import (
    ActionError,
    DuplicateRequest,
    IllegalAction,
    NotAuthorized,
    NotFound,
    QuytrinhError,
    StaleVersion,
)
from quytrinh.messages import error_message_vi  # the route modules import it from here too
from quytrinh.web import auth
from quytrinh.web.deps import (FORM_NOT_DONE, NavItem, NotSignedIn, flash, local_time, login_redirect_target,
                               page_of_action, render)

HERE = Path(__file__).resolve().parent
log = logging.getLogger("quytrinh.web")

#: Navigation entries of the core pages (other route modules add theirs with ``NAV``).
CORE_NAV = [
    NavItem("Hộp việc", "/inbox", ("staff",), 10),
    NavItem("Tiếp nhận hồ sơ", "/receive", ("one_stop",), 20),
    NavItem("Danh mục thủ tục", "/procedures", ("staff",), 30),
]

#: Vietnamese titles of HTTP error pages.
ERROR_TITLES = {
    400: "Yêu cầu không hợp lệ",
    401: "Cần đăng nhập",
    403: "Không có quyền truy cập",
    404: "Không tìm thấy trang",
    405: "Thao tác không được hỗ trợ",
    409: "Thao tác không thực hiện được",
    422: "Dữ liệu không hợp lệ",
    429: "Thử lại sau",
    500: "Lỗi hệ thống",
}


def error_status(exc: QuytrinhError) -> tuple[int, str]:
    """The HTTP status and error name of an engine error."""
    if isinstance(exc, NotFound):
        return 404, "not_found"
    if isinstance(exc, NotAuthorized):
        return 403, "not_authorized"
    if isinstance(exc, StaleVersion):
        return 409, "stale_version"
    if isinstance(exc, DuplicateRequest):
        return 409, "duplicate_request"
    if isinstance(exc, IllegalAction):
        return 409, "illegal_action"
    if isinstance(exc, ActionError):
        return 422, "invalid_action"
    return 422, "error"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


class SessionMiddleware:
    """Loads the signed session cookie into ``request.state.session`` and writes it back when needed.

    A request without a valid cookie gets a fresh anonymous session (its id
    carries the CSRF token of the sign-in form). The cookie is written when the
    session is new or changed (sign-in, sign-out, flash messages). Requests to
    ``/api`` and ``/static`` get no new session.
    """

    def __init__(self, app: Any, codec: auth.SessionCodec, secure: bool):
        self.app, self.codec, self.secure = app, codec, secure

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie_value = None
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                jar = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:
                    continue
                if auth.SESSION_COOKIE in jar:
                    cookie_value = jar[auth.SESSION_COOKIE].value
        session = self.codec.loads(cookie_value)
        path = scope.get("path", "")
        fresh = session is None
        if session is None:
            session = auth.SessionData.new()
        state = scope.setdefault("state", {})
        state["session"] = session
        state["session_dirty"] = False
        want_cookie = not path.startswith(("/api", "/static"))

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if state.get("session_clear"):
                    headers.append((b"set-cookie", self._cookie("", 0).encode("latin-1")))
                elif want_cookie and (fresh or state.get("session_dirty")):
                    current = state["session"]
                    headers.append((b"set-cookie", self._cookie(self.codec.dumps(current),
                                                                self.codec.max_age).encode("latin-1")))
                headers.extend(_security_headers(path))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _cookie(self, value: str, max_age: int) -> str:
        parts = [f"{auth.SESSION_COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={max_age}"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


class TimingMiddleware:
    """Appends one line per request to a file, to compare the server's own latency with its clients'.

    Enabled by ``$QUYTRINH_TIMING_LOG`` (a file path; ``bench/web.py`` sets it).
    A request line is ``<start, epoch s> <ms in the app> <method> <path> <status>
    <X-Request-Id or ->``; a garbage collection is ``<end, epoch s> <ms> GC
    gen<N> <collected> -``. The time is from the request reaching the app to
    its last body byte handed to the server: what happens before (accepting the
    connection, parsing it, waiting for the event loop) is only in the client's
    figure.
    """

    def __init__(self, app: Any, path: str):
        import gc
        import time
        import weakref

        self.app, self._time = app, time
        self._fh = open(path, "a", encoding="utf-8")
        self._gc: list[str] = []  # filled by the GC callback, written by the next request (never reentrant)
        me = weakref.ref(self)
        started = [0.0]

        def on_gc(phase: str, info: dict) -> None:
            owner = me()
            if owner is None:  # the app is gone: stop listening
                gc.callbacks.remove(on_gc)
            elif phase == "start":
                started[0] = time.perf_counter()
            else:
                owner._gc.append(f"{time.time():.6f} {(time.perf_counter() - started[0]) * 1000:.3f} GC "
                                 f"gen{info.get('generation')} {info.get('collected')} -\n")

        gc.callbacks.append(on_gc)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, w0 = self._time.perf_counter(), self._time.time()
        status = [0]

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            ms = (self._time.perf_counter() - t0) * 1000
            rid = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "-")
            lines, self._gc = self._gc, []
            lines.append(f"{w0:.6f} {ms:.3f} {scope.get('method')} {scope.get('path')} {status[0]} {rid}\n")
            self._fh.write("".join(lines))
            self._fh.flush()


def _security_headers(path: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
    if path != "/docs":  # /docs sets its own policy (its inline script's hash: _install_docs)
        headers.append((b"x-frame-options", b"DENY"))
        policy = b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
        if path.startswith("/documents/"):  # the printable documents carry their own CSS (engine.documents.to_html)
            policy += b"; style-src 'self' 'unsafe-inline'"
        headers.append((b"content-security-policy", policy))
    return headers


def _route_modules() -> list[Any]:
    from quytrinh import web

    mods = []
    for info in sorted(pkgutil.iter_modules(web.__path__), key=lambda m: m.name):
        if info.name.startswith("routes_"):
            mods.append(importlib.import_module(f"quytrinh.web.{info.name}"))
    return mods


def _working_time(minutes: Any, limit: Any = None) -> str:
    """``1 giờ 45 phút làm việc``, ``1 ngày làm việc``: :func:`engine.documents.working_time_text`, as the step
    table, the diagram and the decision's annex say a step's time (``limit``: the procedure's, so that a
    same-day procedure's step reads in hours), without the documents' zero (``01 ngày``): on a page it stands
    beside the remaining time, ``còn 1 ngày làm việc``."""
    from engine.documents import working_time_text

    return working_time_text(int(minutes), limit, padded=False)


def return_label(step: Any) -> str:
    """What the one-stop counter does at a return step, said the same on its button, as the step's kind, as its
    result and in the history: ``Trả kết quả``; for a refusal, ``Trả hồ sơ kèm Phiếu từ chối`` (the counter's,
    with form 03) or ``Trả văn bản từ chối`` (the office's written refusal), never "Trả kết quả" (no result was
    given) nor "Hoàn thành"."""
    if getattr(step, "ends", None) != "refusal":
        return "Trả kết quả"
    return "Trả hồ sơ kèm Phiếu từ chối" if "BM03" in (getattr(step, "produces", None) or ()) else "Trả văn bản từ chối"


def _return_step(defn: Any, step_id: Any) -> Any:
    """The definition's step ``step_id`` when it is a return step (terminal, of kind return), else None."""
    if defn is None or not step_id:
        return None
    step = next((s for s in defn.steps if s.id == step_id), None)
    return step if step is not None and step.kind == "return" and step.terminal else None


def _outcome_text(o: Any, defn: Any = None, step: Any = None) -> str:
    """``{{ outcome | outcome(defn, step_id) }}``: the route's own label where the definition gives one; a return
    step's result as its button says it (:func:`return_label`)."""
    if not o:
        return ""
    returned = _return_step(defn, step)
    if returned is not None:
        return return_label(returned)
    from engine.definition import OUTCOME_LABELS

    return defn.outcome_label(step, o) if defn is not None else OUTCOME_LABELS.get(o, o)


def code_ticks(text: Any) -> Any:
    """``{{ f.message | ticks }}``: a checker's message with its `keys` (``time_limit.source``, ``code``) as
    ``<code>`` (what the reform office types in the YAML), the rest escaped; an unpaired backtick stays."""
    from markupsafe import Markup, escape

    parts = str(text or "").split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: not pairs, nothing to mark
        return escape(text or "")
    return Markup("").join(escape(p) if i % 2 == 0 else Markup("<code>") + escape(p) + Markup("</code>")
                           for i, p in enumerate(parts))


def _make_templates() -> Jinja2Templates:
    from engine.definition import OUTCOME_LABELS, STEP_KIND_LABELS
    from engine.machine import ACTION_LABELS, CHANNEL_LABELS, ITEM_STATE_LABELS, STATUS_LABELS, Status
    from engine.sla import LABELS_VI, Timeliness, describe_remaining

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                             undefined=jinja2.ChainableUndefined)
    env.filters["local"] = local_time
    env.filters["remaining"] = lambda m: describe_remaining(int(m)) if m is not None else "tạm dừng"
    env.filters["working_time"] = _working_time  # a step's allotted time, as the step table says it
    env.filters["timeliness"] = lambda c: LABELS_VI[Timeliness(c)] if c else "Tạm dừng tính thời gian"
    env.filters["status"] = lambda s: STATUS_LABELS[Status(int(s))] if s is not None else ""
    env.filters["channel"] = lambda c: CHANNEL_LABELS.get(c, c)
    env.filters["item_state"] = lambda s: ITEM_STATE_LABELS.get(s, s)
    env.filters["action"] = lambda a: ACTION_LABELS.get(a, a)
    # ``{{ outcome | outcome(defn, step_id) }}``: the route's own label where the definition gives one
    env.filters["outcome"] = _outcome_text
    # ``{{ item.kind | step_kind(step) }}``: the return of a refusal is no "Trả kết quả" (no result was given)
    env.filters["step_kind"] = lambda k, step=None: (
        "Trả cho tổ chức, cá nhân" if k == "return" and getattr(step, "ends", None) == "refusal"
        else STEP_KIND_LABELS.get(k, k))
    # ``{{ e | event_action(defn) }}``: an event's action; the return of a refusal is not "Trả kết quả"
    env.filters["event_action"] = lambda e, defn=None: (
        return_label(_return_step(defn, e.step_id)) if e.action == "return_result"
        and _return_step(defn, e.step_id) is not None else ACTION_LABELS.get(e.action, e.action))
    # a national procedure code (1.001612), not a file stem standing in for a missing one
    env.filters["ticks"] = code_ticks
    env.filters["national_code"] = lambda c: bool(c) and re.fullmatch(r"\d+\.\d+", str(c)) is not None
    return Jinja2Templates(env=env)


def _system_clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def create_app(database_url: str | None = None, *, now: Callable[[], dt.datetime] | dt.datetime | None = None,
               catalogue_root: str | Path | None = None, secret: str | None = None) -> FastAPI:
    """The quytrinh web app.

    Parameters
    ----------
    database_url : str or None
        The database (default ``$QUYTRINH_DATABASE_URL``, else the project's SQLite ``var/quytrinh.db``,
        :func:`engine.store.default_database_path`);
        migrated to head when it is not.
    now : callable, datetime or None
        The clock: a function returning an aware instant, or a fixed instant (tests). Default: the wall clock.
    catalogue_root : path or None
        The ``procedures_yaml`` folder (default :func:`engine.definition.default_root`).
    secret : str or None
        The signing key (default :func:`quytrinh.web.auth.load_secret`).

    Returns
    -------
    FastAPI
        Ready to serve (``uvicorn`` or ``TestClient``).
    """
    from engine.definition import default_root
    from engine.store import init_db

    if isinstance(now, dt.datetime):
        fixed = now
        clock: Callable[[], dt.datetime] = lambda: fixed
    else:
        clock = now or _system_clock
    app = FastAPI(
        title="quytrinh API",
        description="Giải quyết hồ sơ thủ tục hành chính theo quy trình nội bộ. "
                    "Đăng nhập: POST /api/auth/token, rồi gửi `Authorization: Bearer <token>`.",
        version="1",
        docs_url=None,  # served by _install_docs, from the app's own copy of Swagger UI
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.store = init_db(database_url)
    app.state.clock = clock
    app.state.catalogue_root = Path(catalogue_root) if catalogue_root else default_root()
    _check_units(app)
    app.state.codec = auth.SessionCodec(secret or auth.load_secret())
    app.state.throttle = auth.LoginThrottle(app.state.store)
    app.state.user_cache = {}
    app.state.templates = _make_templates()
    nav = list(CORE_NAV)

    from fastapi import Depends

    from quytrinh.web.deps import csrf_protect

    for module in _route_modules():
        router = getattr(module, "router", None)
        if router is None:
            continue
        deps = [] if getattr(module, "OWN_CSRF", False) else [Depends(csrf_protect)]
        app.include_router(router, dependencies=deps)
        nav.extend(getattr(module, "NAV", []))
    app.state.nav = sorted(nav, key=lambda n: (n.order, n.label))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _install_docs(app)

    secure = os.environ.get("QUYTRINH_SECURE_COOKIES", "") in ("1", "true", "yes")
    app.add_middleware(SessionMiddleware, codec=app.state.codec, secure=secure)
    if os.environ.get("QUYTRINH_TIMING_LOG"):
        app.add_middleware(TimingMiddleware, path=os.environ["QUYTRINH_TIMING_LOG"])
    _install_error_handlers(app)
    return app


#: Where the app serves Swagger UI's assets (the ``fastapi-offline`` package's copy of swagger-ui-dist 5).
DOCS_ASSETS = "/docs-assets"


def _install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI, its script and style served by the app itself (:data:`DOCS_ASSETS`), not by a
    CDN: a government network that reaches nothing outside still shows the API's operations. The page gets
    its own Content-Security-Policy: every script, style, image and request from the app's origin only (the
    online validator's badge is off), the one inline script allowed by its hash."""
    import base64
    import hashlib
    from importlib.resources import files

    from fastapi.openapi.docs import get_swagger_ui_html

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> Response:
        root = request.scope.get("root_path", "") or ""
        page = get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} — tài liệu API",
                                   swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}/static/favicon.svg", oauth2_redirect_url=None,
                                   swagger_ui_parameters={"validatorUrl": None})
        html = bytes(page.body).decode()
        inline = re.findall(r"<script>(.*?)</script>", html, re.S)
        hashes = " ".join("'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
                          for s in inline)
        policy = (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
                  "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'")
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={"content-security-policy": policy, "x-frame-options": "DENY"})


def _check_units(app: FastAPI) -> None:
    """At start-up, log once when the catalogue's units.yaml has problems: the app then works with the units
    the database stores (:func:`quytrinh.web.deps.app_organisation`). With none stored either (a fresh
    installation; ``quytrinh serve`` refuses to start then), the problems are logged and the pages that need
    the organisation say so."""
    from engine.errors import QuytrinhError
    from quytrinh.web.deps import app_organisation

    try:
        app_organisation(app)
    except QuytrinhError as exc:
        log.warning("%s", exc)


def warm_up(app: FastAPI) -> None:
    """Do at start-up what the first requests would otherwise pay for: compile every template, load the
    modules and the work calendar the pages use, parse every published definition and load the leader's
    catalogue.

    ``engine.services.definition_of`` parses a version's stored YAML on its first use in a process (10-40 ms
    each); the procedures list, the leader's catalogue, the reports and the reception form need them all, so
    the first of these pages after a start paid for the whole catalogue (seconds). The leader's catalogue
    (``routes_leader.catalogue_rows``: the catalogue files and the published versions, linted) is cached the
    same way. A definition or a catalogue that fails here is logged and left to its page, which says what is
    wrong as before: the server starts anyway.
    """
    import importlib
    import time
    from types import SimpleNamespace

    env = app.state.templates.env
    for name in env.list_templates(filter_func=lambda n: n.endswith(".html")):
        env.get_template(name)
    for module in ("engine.sla", "engine.machine", "engine.calendar", "sqlmodel", "engine.documents",
                   "engine.reports"):
        importlib.import_module(module)
    from engine.calendar import WorkCalendar

    WorkCalendar.default()

    started = time.perf_counter()
    parsed = _parse_published_definitions(app.state.store)
    leader = ", the leader's catalogue loaded"
    from engine.approval import UnitsFileError

    try:
        from quytrinh.web.routes_leader import catalogue_rows

        catalogue_rows(SimpleNamespace(app=app))  # it reads only request.app (the store, the catalogue root)
    except UnitsFileError:  # the reform office's mistake, already logged once, located: no traceback
        leader = ""
        log.warning("warm-up: the leader's catalogue was not loaded: units.yaml has problems (logged above); "
                    "the leader's and the reform office's pages say so until it is mended")
    except Exception:
        leader = ""
        log.warning("warm-up: the leader's catalogue could not be loaded; its page will say why", exc_info=True)
    log.info("warm-up: %d published definitions parsed%s in %.1f s", parsed, leader, time.perf_counter() - started)


def warm_up_decision(app: FastAPI) -> threading.Thread:
    """Draw the draft decision's annex (``/documents/decision``, HTML, each level the catalogue has) in a
    background thread, started after :func:`warm_up` by :func:`create_served_app`; returns the thread
    (also ``app.state.decision_warm_up``).

    The first view of that page after a start drew every diagram: 34-41 s at load 5-7 on the first start
    ever (an empty on-disk cache of the diagrams), ~2 s at each later start (reading them back from it).
    Here it is drawn at a lower priority (``engine.render.background``: its ``dot`` processes niced, one
    at a time), so that it neither delays the start nor slows staff pages; the drawings stay in the
    process's memory and on disk. A leader who opens the page meanwhile draws what is not drawn yet, at the
    normal priority, and waits for the drawing under way (``engine.render._pipe``) instead of making it
    again. A level without procedures or a catalogue that fails is logged and left to the page."""
    thread = threading.Thread(target=_draw_decisions, args=(app,), name="quytrinh-warm-decision", daemon=True)
    app.state.decision_warm_up = thread
    thread.start()
    return thread


def _draw_decisions(app: FastAPI) -> None:
    """The HTML of each level first (the page shows it), then the PNG pictures of its Word file."""
    import time

    from engine.approval import for_decision
    from engine.documents import AnnexDiagrams, DocumentError, cached_catalogue, render_decision, select_procedures
    from engine.render import background
    from quytrinh.web.routes_documents import LEVELS

    drawn = []
    for level, _ in LEVELS:
        started = time.perf_counter()
        try:
            cat, _notes = for_decision(app.state.store, cached_catalogue(app.state.catalogue_root), level=level)
            try:
                defs = select_procedures(cat, level=level)
            except DocumentError:  # no procedure of this level without a decision: nothing to draw
                continue
            with background():
                render_decision(cat, level=level, fmt="html")
        except Exception:
            log.warning("warm-up: the %s draft decision could not be drawn; its page will say why", level,
                        exc_info=True)
            continue
        drawn.append((level, defs, cat.organisation))
        log.info("warm-up: the %s draft decision drawn (%d procedures) in %.1f s", level, len(defs),
                 time.perf_counter() - started)
    for level, defs, org in drawn:  # the Word file's pictures: the file itself (0.7 s, 16 MB) is not kept
        started = time.perf_counter()
        try:
            with background():
                AnnexDiagrams(defs, org).prefetch("png")
        except Exception:
            log.warning("warm-up: the pictures of the %s draft decision's Word file could not be drawn", level,
                        exc_info=True)
            continue
        log.info("warm-up: the pictures of the %s draft decision's Word file drawn in %.1f s", level,
                 time.perf_counter() - started)


def _parse_published_definitions(store: Any) -> int:
    """Parse the newest published version of every procedure once (``engine.services.definition_of`` keeps
    them; older versions, which only their own dossiers' pages need, are parsed when first needed, so the
    start-up does not grow with the history of versions); how many parsed."""
    import sqlalchemy as sa
    from sqlmodel import select

    from engine.services import definition_of
    from engine.store import DefinitionVersion

    newest = (select(DefinitionVersion.procedure_code, sa.func.max(DefinitionVersion.version).label("version"))
              .group_by(DefinitionVersion.procedure_code).subquery())
    with store.session() as s:
        rows = s.exec(select(DefinitionVersion).join(
            newest, sa.and_(DefinitionVersion.procedure_code == newest.c.procedure_code,
                            DefinitionVersion.version == newest.c.version)).order_by(DefinitionVersion.id)).all()
    parsed = 0
    for row in rows:
        try:
            definition_of(row)
            parsed += 1
        except Exception:
            log.warning("warm-up: published version %s v%s could not be parsed", row.procedure_code, row.version,
                        exc_info=True)
    return parsed


def create_served_app() -> FastAPI:
    """The app as ``quytrinh serve`` runs it (uvicorn's factory, once per worker process).

    :func:`create_app` with the default settings, :func:`warm_up`, then the
    start-up heap (about 150,000 objects: the framework, SQLAlchemy, the
    catalogue) is moved out of the garbage collector's reach with
    :func:`gc.freeze`. Without it, every full collection walks that heap while
    holding the GIL, and stalls every request in flight for 100 ms or more.
    Last, the draft decision starts being drawn in the background
    (:func:`warm_up_decision`): the server does not wait for it. ``$QUYTRINH_WARM_DECISION=off`` leaves
    it out (a benchmark of the staff pages, or a worker process of several that need not each draw it).
    """
    import gc

    app = create_app()
    warm_up(app)
    gc.collect()
    gc.freeze()
    if os.environ.get(WARM_DECISION_ENV, "").strip().lower() not in ("off", "0", "no", "false"):
        warm_up_decision(app)
    return app


#: Set to ``off`` (or ``0``), the served app does not draw the draft decision in the background at start.
WARM_DECISION_ENV = "QUYTRINH_WARM_DECISION"


def _error_page(request: Request, status: int, message: str) -> Response:
    title = ERROR_TITLES.get(status, "Lỗi")
    # A refused form (an old page's token, say): a way back to the form's page, opened afresh.
    back = page_of_action(request.url.path) if request.method not in ("GET", "HEAD") else None
    if back is not None and hasattr(request.state, "session"):
        # what the user typed (kept in the tab by static/typed.js) is filled in again on the form's page
        flash(request, back, FORM_NOT_DONE)
    try:
        return render(request, "error.html", {"status": status, "title": title, "message": message, "back": back},
                      status_code=status)
    except Exception:  # the error page itself failed: plain text, still no traceback
        log.exception("error page failed")
        return Response(f"{status} {title}", status_code=status, media_type="text/plain; charset=utf-8")


def _api_error(status: int, code: str, message: str, message_vi: str, field: str | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    """An API error body: ``{"error", "message", "message_vi", "field"}`` (``quytrinh.web.routes_api.ErrorOut``)."""
    return JSONResponse({"error": code, "message": message, "message_vi": message_vi, "field": field},
                        status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _is_api(request):
            from quytrinh.web.routes_api import status_text_vi

            return _api_error(401, "not_authenticated", "sign in first: POST /api/auth/token", status_text_vi(401),
                              "Authorization", {"WWW-Authenticate": "Bearer"})
        if request.method not in ("GET", "HEAD") and hasattr(request.state, "session"):
            flash(request, "Bạn cần đăng nhập: thao tác vừa gửi chưa được thực hiện; sau khi đăng nhập, hãy làm lại.",
                  "error")
        return RedirectResponse(login_redirect_target(request), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            from quytrinh.web.routes_api import STATUS_NAMES, ApiError, status_text_vi

            if isinstance(exc, ApiError):
                return _api_error(exc.status_code, exc.code, str(exc.detail), exc.message_vi, exc.field, exc.headers)
            return _api_error(exc.status_code, STATUS_NAMES.get(exc.status_code, "error"), str(exc.detail),
                              status_text_vi(exc.status_code, request.method), None, getattr(exc, "headers", None))
        # A route's own Vietnamese detail ("Không có công việc này.") is shown; Starlette's English phrase
        # ("Not Found" for an unknown address) is not.
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = ""
        own = isinstance(exc.detail, str) and exc.detail and exc.detail != phrase
        detail = exc.detail if own else \
            "Trang hoặc hồ sơ bạn tìm không có." if exc.status_code == 404 else ERROR_TITLES.get(exc.status_code, "")
        if exc.status_code == 405:
            page = page_of_action(request.url.path) if request.method in ("GET", "HEAD") else None
            if page is not None:  # a form's action address opened (reloaded, bookmarked): the form's page
                return RedirectResponse(page, status_code=303)
            detail = "Thao tác này không được hỗ trợ ở địa chỉ này."
        resp = _error_page(request, exc.status_code, detail)
        for k, v in (getattr(exc, "headers", None) or {}).items():
            resp.headers[k] = v
        return resp

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            from quytrinh.web.routes_api import validation_field, validation_text_vi

            errors = list(exc.errors())
            problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors)
            return _api_error(422, "invalid", problems, validation_text_vi(errors),
                              validation_field(errors[0].get("loc", ())) if errors else None)
        if request.method in ("GET", "HEAD"):  # nothing was typed: the address itself is wrong (/items/abc)
            return _error_page(request, 404, "Địa chỉ trang không đúng (có thể đã gõ nhầm hoặc chép thiếu): "
                                             "không có trang hoặc hồ sơ nào ở địa chỉ này.")
        return _error_page(request, 422, "Dữ liệu gửi lên không hợp lệ hoặc thiếu. Hãy quay lại và kiểm tra các ô đã nhập.")

    @app.exception_handler(QuytrinhError)
    async def engine_error(request: Request, exc: QuytrinhError) -> Response:
        status, name = error_status(exc)
        if _is_api(request):
            from quytrinh.web.routes_api import client_key_text, engine_field, engine_text_vi

            return _api_error(status, name, client_key_text(str(exc)), engine_text_vi(exc), engine_field(exc))
        return _error_page(request, status, error_message_vi(exc))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if _is_api(request):  # (its body is pinned by tests/web/test_security.py: the two keys only)
            return JSONResponse({"error": "internal", "message": "internal server error (logged)"}, status_code=500)
        return _error_page(request, 500, "Hệ thống gặp lỗi khi xử lý yêu cầu. Lỗi đã được ghi lại; "
                                         "hồ sơ không bị thay đổi nếu thao tác chưa hoàn tất. Hãy thử lại sau.")
