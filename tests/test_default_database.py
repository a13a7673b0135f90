"""The default database: found as the catalogue is, and a new SQLite file is said once.

Without ``$QUYTRINH_DATABASE_URL`` every command opens ``var/quytrinh.db`` of the project's folder: the
current folder when it holds ``procedures_yaml``, else the checkout the code runs from (an editable
install, as ``make setup`` makes), else (an installed package) the current folder. A command that creates
a new SQLite file says so on stderr with its path, so a command run from an unexpected folder never
silently shows an empty system (fresh-machine audit, finding 4).

The checkout cases run the real CLI from a copy of the source tree (so the repository's own
``var/quytrinh.db`` is never touched).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import store as st
from engine.definition import default_root

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.sqlite_only  # the SQLite default itself


def _created(path: Path) -> str:
    return st.CREATED_MESSAGE.format(path=path) + "\n"


def test_without_a_project_folder_here_the_checkouts_database_is_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv(st.URL_ENV, raising=False)
    monkeypatch.delenv("QUYTRINH_CATALOGUE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no procedures_yaml here
    assert st.database_url() == f"sqlite:///{REPO / 'var' / 'quytrinh.db'}"
    # the catalogue's rule: both come from the same folder
    assert st.default_database_path().parent.parent == default_root().parent == REPO

    (tmp_path / "procedures_yaml").mkdir()  # a project folder: its own catalogue, its own database
    assert st.database_url() == f"sqlite:///{tmp_path / 'var' / 'quytrinh.db'}"
    assert st.default_database_path().parent.parent == default_root().parent == tmp_path

    monkeypatch.setenv(st.URL_ENV, "postgresql://p@h/y")  # the variable overrides everything
    assert st.database_url() == "postgresql+psycopg://p@h/y"


def test_an_installed_package_defaults_to_the_current_folder(tmp_path):
    """No checkout around the code (site-packages): ``var/quytrinh.db`` of the folder the command runs in."""
    site, here = tmp_path / "site-packages", tmp_path / "elsewhere"
    shutil.copytree(REPO / "engine", site / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUYTRINH_")}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-c", "import engine.store as s; print(s.__file__); print(s.database_url())"],
                          cwd=here, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    where, url = done.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(site.resolve())
    assert url == f"sqlite:///{here.resolve() / 'var' / 'quytrinh.db'}"


def test_init_db_says_once_that_it_created_a_new_file(tmp_path, monkeypatch, capfd):
    (tmp_path / "procedures_yaml").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(st.URL_ENV, raising=False)
    path = tmp_path / "var" / "quytrinh.db"
    capfd.readouterr()
    store = st.init_db()
    assert path.is_file()
    assert capfd.readouterr().err == _created(path)
    store.dispose()
    st.init_db().dispose()  # the file exists: nothing to say
    assert capfd.readouterr().err == ""


def _checkout(tmp_path: Path) -> Path:
    """A copy of the checkout: the packages, pyproject.toml and the catalogue, no database."""
    co = tmp_path / "checkout"
    for name in ("engine", "workflows", "quytrinh", "procedures_yaml"):
        shutil.copytree(REPO / name, co / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", co / "pyproject.toml")
    return co


def _quytrinh(co: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUYTRINH_", "PREFECT_"))}
    env["PYTHONPATH"] = str(co)
    return subprocess.run([sys.executable, "-m", "quytrinh.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_command_run_from_another_folder_opens_the_checkouts_database(tmp_path):
    co, elsewhere = _checkout(tmp_path), tmp_path / "elsewhere"
    elsewhere.mkdir()
    database = co / "var" / "quytrinh.db"

    first = _quytrinh(co, co, "tasks")  # as `make run` does, in the checkout: a new database, said once
    assert first.returncode == 0, first.stderr
    assert first.stderr == _created(database)
    assert "Không có công việc nào." in first.stdout

    added = _quytrinh(co, elsewhere, "user", "add", "an", "--unit", "bp_mot_cua", "--role", "staff",
                      "--name", "Nguyễn Văn An")
    assert added.returncode == 0, added.stderr
    assert added.stderr == ""  # the same database: nothing created
    listed = _quytrinh(co, co, "user", "list")
    assert "Nguyễn Văn An" in listed.stdout
    assert not (elsewhere / "var").exists()


def test_a_new_database_named_by_the_variable_is_said_too(tmp_path):
    co = _checkout(tmp_path)
    database = tmp_path / "other" / "q.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUYTRINH_", "PREFECT_"))}
    env.update(PYTHONPATH=str(co), QUYTRINH_DATABASE_URL=f"sqlite:///{database}")
    runs = [subprocess.run([sys.executable, "-m", "quytrinh.cli", "tasks"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert [r.stderr for r in runs] == [_created(database), ""]
