"""Fixtures of the web tests: the app on the test database (SQLite or PostgreSQL), clients, a live server.

``web`` is the seeded ``runtime`` of tests/conftest.py with a password
(:data:`PASSWORD`) for every member of staff, and an app whose clock the test
controls (``web.clock.advance(minutes=...)``). ``live_server`` runs the real
app under uvicorn in a thread on a free loopback port, against the same
database.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import pytest

from tests.conftest import STAFF, T0, Runtime

PASSWORD = "matkhau-Thu-123"
SECRET = "test-secret-key-for-quytrinh-web"
_HASH: list[str] = []


class Clock:
    """A controllable clock for the app (starts at T0, a Tuesday 08:00 in Hanoi)."""

    def __init__(self, start: dt.datetime = T0):
        self.t = start
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.t

    def advance(self, **kw: float) -> dt.datetime:
        with self._lock:
            self.t = self.t + dt.timedelta(**kw)
            return self.t


@dataclass
class Web:
    runtime: Runtime
    app: object
    clock: Clock

    @property
    def store(self):
        return self.runtime.db


def set_all_passwords(store, password: str = PASSWORD) -> None:
    """Give every user the same Argon2 hash of ``password`` (hashed once per session: it is slow on purpose)."""
    from sqlalchemy import update

    from engine.store import User
    from quytrinh.web.auth import hash_password

    if not _HASH:
        _HASH.append(hash_password(password))
    with store.write() as s:
        s.execute(update(User).values(password_hash=_HASH[0]))


@pytest.fixture
def web(runtime) -> Iterator[Web]:
    from quytrinh.web.app import create_app

    set_all_passwords(runtime.db)
    clock = Clock()
    app = create_app(runtime.url, now=clock, secret=SECRET)
    yield Web(runtime, app, clock)
    app.state.store.dispose()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    """Sign ``client`` in through the login form; returns the response of the POST (a 303 on success)."""
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
                       follow_redirects=False)


def signed_in_page(browser, base_url: str, username: str, **context):
    """A new browser page (its own context) signed in as ``username`` through the login form, on the inbox."""
    ctx = browser.new_context(base_url=base_url, locale="vi-VN", **context)
    page = ctx.new_page()
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/inbox$"))
    return page


@pytest.fixture
def client_for(web):
    """``client_for("motcua")``: a TestClient signed in as that user."""
    from fastapi.testclient import TestClient

    clients = []

    def make(username: str | None = None):
        c = TestClient(web.app, raise_server_exceptions=False)
        clients.append(c)
        if username:
            r = sign_in(c, username)
            assert r.status_code == 303, r.text[:500]
        return c

    yield make
    for c in clients:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    web: Web


@pytest.fixture
def live_server(web) -> Iterator[LiveServer]:
    """The app under a real uvicorn server in a thread, on a free loopback port."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(web.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", web)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


ALL_STAFF = tuple(STAFF)


# --------------------------------------------------------------------------- browser

CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by scripts/system-deps.sh
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS_ENV = "QUYTRINH_WEB_SCREENSHOTS"  # a folder: keep the screenshots there


@pytest.fixture
def browser():
    """Headless Debian chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page, tmp_path, name: str, full_page: bool = True) -> None:
    """Screenshot a page into ``tmp_path`` (and into ``$QUYTRINH_WEB_SCREENSHOTS`` when set)."""
    import shutil
    from pathlib import Path

    path = Path(tmp_path) / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    keep = os.environ.get(SHOTS_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
