"""What a database command of the CLI loads and writes before it does its work.

Each command is a fresh process: what it imports and what it writes on the way
to its own work is paid by every run (docs/runtime.md, "How fast the CLI starts").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent


def _modules_after(db_url: str, *args: str, modules: tuple[str, ...]) -> tuple[list[str], str]:
    """Run ``quytrinh ARGS`` in a fresh interpreter; which of ``modules`` it imported, and its output.

    On PostgreSQL (the suite's other leg) its driver, psycopg, is left out of ``modules``: it is needed there.
    """
    if db_url.startswith("postgresql"):
        modules = tuple(m for m in modules if m != "psycopg")
    code = ("import sys\nfrom quytrinh.cli import main\nsys.argv = ['quytrinh', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            f"print('LOADED', ' '.join(m for m in {modules!r} if m in sys.modules))\n")
    env = {**os.environ, "QUYTRINH_DATABASE_URL": db_url}
    env.pop("QUYTRINH_USER", None)
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out, _, loaded = done.stdout.rpartition("LOADED")
    return loaded.split(), out


def test_a_command_that_needs_no_action_and_no_working_time_imports_neither(runtime):
    # `holidays` (~50 ms, and ~60 ms more for its first country) is imported by the first working-time computation;
    # the services (networkx, psycopg, argon2 through them) by a command that acts or lists work, not to check units.
    loaded, out = _modules_after(runtime.url, "user", "list",
                                 modules=("holidays", "engine.services", "engine.rawdb", "networkx", "psycopg"))
    assert "tckh_cv\t" in out
    assert loaded == []
    loaded, out = _modules_after(runtime.url, "dossier", "receive", "1.001612", "--applicant", "Trần Văn Bình",
                                 "--as", "motcua", "--now", "2026-03-10T08:00", modules=("holidays",))
    assert loaded == ["holidays"] and "Ngày hẹn trả kết quả:" in out


def test_units_are_written_only_when_units_yaml_differs_from_the_database(runtime, monkeypatch):
    import sqlalchemy as sa

    import engine.services as sv
    from quytrinh.cli import app

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    monkeypatch.chdir(REPO)
    seeded = []
    seed = sv.seed_organisation
    monkeypatch.setattr(sv, "seed_organisation", lambda db, org: seeded.append(org) or seed(db, org))

    def user_list() -> str:
        result = CliRunner().invoke(app, ["user", "list", "--unit", "phong_tckh"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "tckh_head" in user_list()
    assert seeded == []  # the runtime's database holds units.yaml as it is: nothing to write
    with runtime.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE units SET name = 'Phòng cũ', roles = :roles WHERE id = 'phong_tckh'"),
                     {"roles": '{"head": "Trưởng phòng"}'})
    assert "tckh_head" in user_list()
    assert len(seeded) == 1
    with runtime.db.engine.connect() as conn:
        name, roles = conn.execute(sa.text("SELECT name, roles FROM units WHERE id = 'phong_tckh'")).one()
    unit = seeded[0].units["phong_tckh"]
    assert name == unit.name != "Phòng cũ"  # written back as units.yaml says
    assert (roles if isinstance(roles, dict) else json.loads(roles)) == dict(unit.roles)
    user_list()
    assert len(seeded) == 1


def test_report_imports_neither_the_services_nor_networkx_nor_psycopg(runtime):
    # The report reads the database and each version's field and lead unit (engine.reports._version_facts):
    # no action, no graph, no PostgreSQL driver.
    loaded, out = _modules_after(runtime.url, "report", "--from", "2026-03-01", "--to", "2026-03-31", "--by", "unit",
                                 "--now", "2026-03-31T17:00",
                                 modules=("engine.services", "engine.rawdb", "networkx", "psycopg", "argon2"))
    assert "Tổng cộng" in out
    assert loaded == []


def test_commands_that_act_or_list_work_import_neither_the_web_app_nor_networkx_nor_the_pg_driver(runtime):
    """The web app (fastapi, ~0.3 s) was imported by `tasks --waiting`; networkx (~0.1 s) and psycopg (~0.1 s,
    with ctypes) by every command that loads the services, even on SQLite."""
    heavy = ("fastapi", "quytrinh.web", "networkx", "psycopg")
    for args in (("tasks", "--waiting"), ("tasks", "--unit", "phong_tckh"),
                 ("dossier", "receive", "1.001612", "--applicant", "Trần Văn Bình", "--as", "motcua",
                  "--now", "2026-03-10T08:00")):
        loaded, out = _modules_after(runtime.url, *args, modules=heavy)
        assert loaded == [], (args, loaded)
    assert "Ngày hẹn trả kết quả:" in out
