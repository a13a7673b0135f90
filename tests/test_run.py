"""`quytrinh run --smoke`: what `make run` starts really starts, and stops cleanly."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.sqlite_only
def test_run_smoke_validates_renders_seeds_and_starts_every_service(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "QUYTRINH_"))}
    env["QUYTRINH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'var' / 'quytrinh.db'}"
    out = tmp_path / "diagrams"
    # --catalogue is what the worker and the web app read too: a copy whose unit has another name
    # (each of them reads units.yaml into the database; the shipped one would put the old name back).
    catalogue = tmp_path / "catalogue"
    shutil.copytree(REPO / "procedures_yaml", catalogue)
    units = catalogue / "units.yaml"
    text = units.read_text(encoding="utf-8")
    assert text.count('name: "Phòng Tài chính – Kế hoạch"') == 1
    units.write_text(text.replace('name: "Phòng Tài chính – Kế hoạch"', 'name: "Phòng Tài chính – Kế hoạch (mới)"'),
                     encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "quytrinh.cli", "run", "--smoke",
         "--catalogue", str(catalogue), "--out", str(out),
         "--port", str(_free_port()), "--prefect-port", str(_free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "1. Kiểm tra danh mục" in result.stdout and ": 0 lỗi, " in result.stdout
    shipped = sorted(p.relative_to(REPO / "diagrams") for p in (REPO / "diagrams").rglob("*.svg"))
    drawn = sorted(p.relative_to(out) for p in out.rglob("*.svg"))
    assert drawn == shipped and len(drawn) == 91
    assert "Prefect: http://127.0.0.1:" in result.stdout
    assert "Ứng dụng web: http://127.0.0.1:" in result.stdout
    assert "Đăng nhập bằng một trong các tài khoản mẫu" in result.stdout
    assert "Mọi thành phần đã trả lời" in result.stdout
    assert (tmp_path / "var" / "quytrinh.db").exists()
    with sqlite3.connect(tmp_path / "var" / "quytrinh.db") as conn:
        name = conn.execute("select name from units where id = 'phong_tckh'").fetchone()[0]
    assert name == "Phòng Tài chính – Kế hoạch (mới)"
    # Everything it started is stopped: the ports are free again.
    for line in result.stdout.splitlines():
        if "http://127.0.0.1:" in line:
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0].split(" ")[0])
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", port)) != 0, line


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "QUYTRINH_"))}
    env["QUYTRINH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'var' / 'quytrinh.db'}"
    return env


@pytest.mark.parametrize("option", ["--port", "--prefect-port"])
def test_run_refuses_a_port_another_program_holds_naming_it(tmp_path, option):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        ports = {"--port": str(_free_port()), "--prefect-port": str(_free_port())}
        ports[option] = str(taken)
        result = subprocess.run(
            [sys.executable, "-m", "quytrinh.cli", "run", "--smoke",
             "--catalogue", str(REPO / "procedures_yaml"), "--out", str(tmp_path / "diagrams"),
             "--port", ports["--port"], "--prefect-port", ports["--prefect-port"]],
            cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"Cổng {taken} " in lines[0] and "--port" in lines[0] and "--prefect-port" in lines[0], lines[0]
    assert "1. Kiểm tra danh mục" not in result.stdout  # refused before doing anything
    assert not (tmp_path / "diagrams").exists()


def test_wait_http_wants_our_sign_in_page_not_whoever_answers():
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from quytrinh.commands.run import OUR_PAGE, _wait_http

    class Other(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<title>someone else</title>")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/login"
        assert not _wait_http(url, 5, expect=OUR_PAGE)
        assert _wait_http(url, 5)
    finally:
        server.shutdown()
        server.server_close()


def test_make_run_passes_the_ports_it_is_given_and_nothing_else_by_default():
    """`make run PORT=… PREFECT_PORT=… HOST=…` as README says (`make -n`: the commands, none run)."""
    def last(*args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # under make test
        out = subprocess.run(["make", "-n", "--no-print-directory", "run", *args], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    assert last() == ".venv/bin/quytrinh run"
    assert last("PORT=8080", "PREFECT_PORT=4300", "HOST=0.0.0.0") == (
        ".venv/bin/quytrinh run --host 0.0.0.0 --port 8080 --prefect-port 4300")


def test_run_with_an_external_prefect_that_does_not_answer_stops_before_doing_anything(tmp_path):
    env = _env(tmp_path)
    down = _free_port()
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{down}/api"
    result = subprocess.run(
        [sys.executable, "-m", "quytrinh.cli", "run", "--smoke",
         "--catalogue", str(REPO / "procedures_yaml"), "--out", str(tmp_path / "diagrams"),
         "--port", str(_free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"quytrinh: Không có gì trả lời ở http://127.0.0.1:{down}/api"), lines[0]
    assert "máy chủ Prefect chưa chạy" in lines[0] and lines[0].endswith("chạy một máy chủ Prefect cục bộ."), lines[0]
    assert result.stdout == ""  # no step reported done: nothing validated, drawn, published or seeded
    assert not (tmp_path / "diagrams").exists() and not (tmp_path / "var" / "quytrinh.db").exists()


def test_run_with_an_api_url_where_something_else_answers_says_it_is_not_prefect(tmp_path):
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = _env(tmp_path)
        url = f"http://127.0.0.1:{server.server_address[1]}"  # a web server, not Prefect (and no /api)
        env["PREFECT_API_URL"] = url
        result = subprocess.run(
            [sys.executable, "-m", "quytrinh.cli", "run", "--smoke",
             "--catalogue", str(REPO / "procedures_yaml"), "--out", str(tmp_path / "diagrams"),
             "--port", str(_free_port())],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
    finally:
        server.shutdown()
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and result.stdout == "", result.stdout + result.stderr
    assert lines[0].startswith(f"quytrinh: Có máy chủ trả lời ở {url} nhưng đó không phải API Prefect"), lines[0]
    assert "http://MÁY:4200/api" in lines[0]


def _with_password(url: str) -> str:
    """``url`` with a password in it (PostgreSQL; a server that trusts the test user ignores it)."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.password:
        return url
    return parsed.set(password="s3cret").render_as_string(hide_password=False)


def _usernames(url: str) -> set[str]:
    from sqlmodel import select

    from engine.store import Store, User

    store = Store(url)
    try:
        with store.session() as s:
            return {u.username for u in s.exec(select(User)).all()}
    finally:
        store.dispose()


def test_the_database_step_hides_the_password_and_seeds_demo_accounts_only_on_the_embedded_default(
        db_url, catalogue, monkeypatch, capsys):
    from quytrinh.commands.run import _database

    url = _with_password(db_url)
    postgres = url.startswith("postgresql")
    monkeypatch.setenv("QUYTRINH_DATABASE_URL", url)
    _, users, why = _database(catalogue, False)  # --no-demo
    out = capsys.readouterr().out
    assert users == [] and why and _usernames(db_url) == set()
    assert out.startswith("3. Cơ sở dữ liệu: ") and f"{len(catalogue.definitions)} quy trình đã nạp" in out
    assert "s3cret" not in out and ("***@" in out) == postgres, out
    assert "không tạo tài khoản mẫu" in out
    _, users, why = _database(catalogue, None)  # the default: demo accounts on SQLite only
    out = capsys.readouterr().out
    if postgres:
        assert users == [] and _usernames(db_url) == set()
        assert "không tạo tài khoản mẫu (cơ sở dữ liệu PostgreSQL; --demo để tạo)" in out, out
        _, users, why = _database(catalogue, True)  # --demo
    assert why == "" and {"motcua", "admin", "caicach"} <= {u[0] for u in users} == _usernames(db_url)


def test_the_demo_seeding_lists_accounts_it_did_not_create_as_kept_not_as_demo123(db, catalogue):
    import datetime as dt

    from engine import services as sv
    from quytrinh.web.auth import verify_password
    from quytrinh.web.demo import DEMO_PASSWORD, seed_demo

    now = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone.utc)
    sv.seed_organisation(db, catalogue.organisation)
    sv.add_user(db, "motcua", unit="bp_mot_cua", role="staff", now=now)  # no password
    sv.add_user(db, "admin", unit="van_phong", role="head", now=now, password="pw12345")
    accounts = seed_demo(db, catalogue, now)
    by_name = {name: password for name, password, _ in accounts}
    assert by_name["motcua"] == "" and by_name["admin"] is None  # no password; another password
    assert by_name["caicach"] == by_name["tckh_ld"] == DEMO_PASSWORD
    assert seed_demo(db, catalogue, now) == accounts  # again: the accounts it made earlier still say demo123
    from quytrinh.commands.run import accounts_lines

    lines = accounts_lines(accounts, False)
    assert not any(line.split()[:1] in (["motcua"], ["admin"]) for line in lines), lines
    assert "   Đã có từ trước, giữ nguyên mật khẩu riêng, không phải demo123: admin; " \
           "đặt lại: quytrinh user password TÊN" in lines
    assert "   Đã có từ trước nhưng chưa có mật khẩu, chưa đăng nhập được: motcua; " \
           "đặt mật khẩu: quytrinh user password TÊN" in lines
    assert any(line.split()[:3] == ["caicach", "mật", "khẩu"] for line in lines)
    from sqlmodel import select

    from engine.store import User

    with db.session() as s:
        admin = s.exec(select(User).where(User.username == "admin")).one()
    assert verify_password("pw12345", admin.password_hash)  # left as it was
