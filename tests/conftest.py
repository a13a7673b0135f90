"""Shared fixtures: a fresh, migrated database per test, on SQLite or PostgreSQL.

Database tests use :func:`db_url` (a fresh, empty database), :func:`db` (empty,
migrated) or :func:`runtime` (migrated and seeded). When
``$QUYTRINH_TEST_DATABASE_URL`` is set (``make test`` sets it for its second
run), ``db_url`` is a new PostgreSQL schema in that database (``search_path``
set in the URL, so subprocesses see the same schema), dropped afterwards, and
``db`` / ``runtime`` use one such schema per test module, migrated and seeded
once and reset (TRUNCATE + seed rows) before each test. Schemas left behind by
killed runs are dropped when they are more than two hours old. Otherwise each
test gets a temporary SQLite file copied from a template migrated (and seeded)
once per session.

Markers: ``sqlite_only`` (deselected on the PostgreSQL run).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

TEST_URL_ENV = "QUYTRINH_TEST_DATABASE_URL"
SCHEMA_PREFIX = "qt_"
STALE_SCHEMA_SECONDS = 2 * 3600
REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: only meaningful on SQLite (deselected on the PostgreSQL run)")
    # The diagrams' on-disk cache (engine.render, $QUYTRINH_DIAGRAM_CACHE): a fresh folder per run, which the
    # CLI and app subprocesses inherit, so no test reads what an earlier run or the user's own commands drew.
    if not os.environ.get("QUYTRINH_DIAGRAM_CACHE"):
        import tempfile

        config._quytrinh_diagram_cache = tempfile.mkdtemp(prefix="quytrinh-diagrams-")  # type: ignore[attr-defined]
        os.environ["QUYTRINH_DIAGRAM_CACHE"] = config._quytrinh_diagram_cache  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = getattr(config, "_quytrinh_diagram_cache", None)
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("QUYTRINH_DIAGRAM_CACHE", None)


def pg_base_url() -> str | None:
    """The PostgreSQL URL of this run (psycopg 3 driver), or None on the SQLite run."""
    url = os.environ.get(TEST_URL_ENV)
    if not url:
        return None
    from engine.store import database_url

    return database_url(url)


def _admin_engine(base: str):
    import sqlalchemy as sa

    return sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture(autouse=True)
def _fresh_unit_successors():
    """Every test reads the merged units (units.merged_into) of its own database: the staff actions keep them
    per process for 30 s, and the PostgreSQL leg reuses one schema per module, reset between tests by a
    TRUNCATE the cache does not see."""
    from engine import services as sv

    sv.forget_unit_successors()
    yield
    sv.forget_unit_successors()


def with_merge(text: str, unit: str, successor: str) -> str:
    """units.yaml's ``text`` with ``merged_into: successor`` added to ``unit``."""
    start = text.index(f"  - id: {unit}\n")
    end = text.index("\n", text.index("    kind:", start)) + 1
    return text[:end] + f"    merged_into: {successor}\n" + text[end:]


def merged_units(db, folder: Path, unit: str, successor: str) -> Path:
    """The shipped units.yaml with ``unit`` merged into ``successor`` (:func:`with_merge`), written to
    ``folder``/units.yaml and stored in ``db`` as any command stores it; the file's path."""
    from engine import services as sv
    from engine.definition import load_units

    path = folder / "units.yaml"
    path.write_text(with_merge((REPO / "procedures_yaml" / "units.yaml").read_text(encoding="utf-8"), unit,
                               successor), encoding="utf-8")
    sv.seed_organisation(db, load_units(path))
    return path


def catalogue_with(tmp_path: Path, units_text: str) -> Path:
    """A catalogue folder (``tmp_path``/catalogue) with ``units_text`` as its units.yaml and the repository's
    calendar: what the CLI reads through ``QUYTRINH_CATALOGUE_DIR``."""
    folder = tmp_path / "catalogue"
    folder.mkdir(exist_ok=True)
    (folder / "units.yaml").write_text(units_text, encoding="utf-8")
    (folder / "calendar.yaml").write_text((REPO / "procedures_yaml" / "calendar.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    return folder


def cli_in(monkeypatch: pytest.MonkeyPatch, url: str, catalogue: Path):
    """The ``quytrinh`` CLI run in this process (Typer's runner) on the database ``url`` with the catalogue
    folder ``catalogue`` (its units.yaml and calendar.yaml), no ``QUYTRINH_USER``, on a wide terminal:
    ``invoke(*args)`` returns what it printed and asserts it exited 0."""
    from typer.testing import CliRunner

    from quytrinh.cli import app

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", url)
    monkeypatch.setenv("QUYTRINH_CATALOGUE_DIR", str(catalogue))
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def console(url: str, catalogue: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    """The installed ``quytrinh`` command, as staff run it, on the database ``url`` with the catalogue folder
    ``catalogue`` (no ``QUYTRINH_USER``): its errors printed on stderr, exit 1."""
    import subprocess
    import sys

    env = {**os.environ, "QUYTRINH_DATABASE_URL": url, "QUYTRINH_CATALOGUE_DIR": str(catalogue)}
    env.pop("QUYTRINH_USER", None)
    return subprocess.run([str(Path(sys.executable).parent / "quytrinh"), *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="session")
def _pg_cleanup() -> Iterator[None]:
    """Drop test schemas abandoned by killed runs (old enough not to belong to a live run)."""
    base = pg_base_url()
    if base is not None:
        import sqlalchemy as sa

        eng = _admin_engine(base)
        with eng.connect() as conn:
            names = [r[0] for r in conn.execute(sa.text(
                "select nspname from pg_namespace where starts_with(nspname, :prefix)"), {"prefix": SCHEMA_PREFIX})]
            for name in names:
                m = re.match(r"^qt_(\d+)_[0-9a-f]+$", name)
                if m and time.time() - int(m.group(1)) > STALE_SCHEMA_SECONDS:
                    conn.exec_driver_sql(f'drop schema if exists "{name}" cascade')
        eng.dispose()
    yield


@contextmanager
def fresh_database_url(folder: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in ``folder``, or a new PostgreSQL schema (dropped after)."""
    base = pg_base_url()
    if base is None:
        yield f"sqlite:///{folder / 'quytrinh-test.db'}"
        return
    schema = f"{SCHEMA_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:10]}"
    eng = _admin_engine(base)
    with eng.connect() as conn:
        conn.exec_driver_sql(f'create schema "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with eng.connect() as conn:
            conn.exec_driver_sql(f'drop schema if exists "{schema}" cascade')
        eng.dispose()


@pytest.fixture
def db_url(tmp_path: Path, _pg_cleanup: None) -> Iterator[str]:
    """The URL of a fresh, empty database for this test (not migrated)."""
    with fresh_database_url(tmp_path) as url:
        yield url


def _sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def _freeze(store, path: Path) -> Path:
    """Checkpoint a SQLite database into its main file, close it, and return the file (a template)."""
    with store.engine.connect() as conn:
        conn.exec_driver_sql("pragma wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory) -> Path:
    """SQLite only: a database migrated once by Alembic, copied for each test (a file copy is ~1 ms)."""
    from engine.store import init_db

    path = tmp_path_factory.mktemp("template") / "migrated.db"
    return _freeze(init_db(f"sqlite:///{path}"), path)


def _open_fresh(db_url: str, template: Path):
    """Migrate ``db_url``: Alembic on PostgreSQL, a copy of the migrated template on SQLite."""
    import shutil

    from engine.store import Store, init_db

    path = _sqlite_path(db_url)
    if path is None:
        return init_db(db_url)
    shutil.copyfile(template, path)
    return Store(db_url)


@pytest.fixture(scope="module")
def _pg_module(tmp_path_factory, _pg_cleanup, catalogue, calendar):
    """PostgreSQL only: one schema per test module, migrated by Alembic and seeded once.

    Each test starts from it after :func:`_pg_reset` (TRUNCATE, then the seed
    rows again), which costs a few milliseconds instead of a migration.
    """
    import sqlalchemy as sa
    from sqlmodel import SQLModel

    from engine.store import init_db

    with fresh_database_url(tmp_path_factory.mktemp("pg")) as url:
        store = init_db(url)
        rt = seed_runtime(store, url, catalogue, calendar)
        with store.engine.connect() as conn:
            seed = {name: [dict(r._mapping) for r in conn.execute(sa.select(SQLModel.metadata.tables[name]))]
                    for name in SEED_TABLES}
        try:
            yield url, store, seed, rt.actors
        finally:
            store.dispose()


#: Tables the runtime seed fills, in foreign-key order.
SEED_TABLES = ("units", "definition_versions", "users")


def _pg_reset(store, seed: dict | None) -> None:
    """Empty every table (identities restarted); put the seed rows back when given."""
    from sqlmodel import SQLModel

    from engine.store import TABLES

    with store.engine.begin() as conn:
        conn.exec_driver_sql("truncate " + ", ".join(TABLES) + " restart identity cascade")
        for name in SEED_TABLES if seed else ():
            if seed[name]:
                conn.execute(SQLModel.metadata.tables[name].insert(), seed[name])
            if name != "units":
                conn.exec_driver_sql(f"select setval(pg_get_serial_sequence('{name}', 'id'), "
                                     f"coalesce(max(id), 1), max(id) is not null) from {name}")


@pytest.fixture
def db(request):
    """A :class:`engine.store.Store` on an empty database migrated to head (a fresh copy or a reset schema)."""
    if pg_base_url() is not None:
        url, store, _, _ = request.getfixturevalue("_pg_module")
        _pg_reset(store, None)
        yield store
        return
    url = request.getfixturevalue("db_url")
    store = _open_fresh(url, request.getfixturevalue("_migrated_template"))
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture(scope="session")
def catalogue():
    """The units, templates and the :data:`PROCEDURES` of the repository's catalogue, loaded once.

    Tests derive durations and limits from these definitions rather than
    copying them: the catalogue's authors may tune them.
    """
    from engine.definition import load_catalogue

    root = REPO / "procedures_yaml"
    files = [sorted(root.rglob(f"{code}-*.yaml"))[0] for code in PROCEDURES]
    cat = load_catalogue(files)
    assert not cat.problems, "\n".join(str(p) for p in cat.problems)
    assert [d.code for d in cat.definitions] == list(PROCEDURES)
    return cat


@pytest.fixture(scope="session")
def calendar():
    """The catalogue's working-time calendar."""
    from engine.calendar import WorkCalendar

    return WorkCalendar.from_file(REPO / "procedures_yaml" / "calendar.yaml")


#: A Tuesday 08:00 in Hanoi (a working day), as UTC.
T0 = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone.utc)

#: The procedures the runtime tests run end to end.
PROCEDURES = ("1.001612", "1.013225", "1.001193")

#: Staff created by the ``runtime`` fixture: username -> (unit, role).
STAFF = {
    "motcua": ("bp_mot_cua", "staff"),
    "motcua2": ("bp_mot_cua", "staff"),
    "tckh_head": ("phong_tckh", "head"),
    "tckh_cv": ("phong_tckh", "staff"),
    "tckh_cv2": ("phong_tckh", "staff"),
    "qldt_head": ("phong_qldt", "head"),
    "qldt_cv": ("phong_qldt", "staff"),
    "xa_dat": ("ubnd_xa_noi_co_dat", "staff"),
    "ld_pct": ("lanh_dao_ubnd", "vice_chairman"),
    "vanthu": ("van_phong", "clerk"),
    "xa_motcua": ("xa_mot_cua", "staff"),
    "xa_tuphap": ("xa_tu_phap", "staff"),
    "xa_ct": ("xa_lanh_dao", "chairman"),
}


@dataclass
class Runtime:
    """A seeded database: units, the catalogue's definitions published, staff users."""

    db: object
    url: str
    calendar: object
    actors: dict = field(default_factory=dict)
    now: dt.datetime = T0

    def actor(self, username: str):
        return self.actors[username]


def seed_runtime(db, url: str, catalogue, calendar) -> Runtime:
    """Seed a migrated database with units.yaml, :data:`PROCEDURES` and :data:`STAFF`."""
    from engine import services as sv

    with db.write() as s:  # one transaction: the services accept a caller's session
        sv.seed_organisation(s, catalogue.organisation)
        for code in PROCEDURES:
            sv.publish_definition(s, catalogue.find(code), now=T0, by="test")
        actors = {name: sv.add_user(s, name, unit=unit, role=role, now=T0, full_name=name)
                  for name, (unit, role) in STAFF.items()}
    return Runtime(db=db, url=url, calendar=calendar, actors=actors)


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory, catalogue, calendar) -> tuple[Path, dict]:
    """SQLite only: a migrated and seeded database, and its actors, copied for each test."""
    from engine.store import init_db

    path = tmp_path_factory.mktemp("template") / "seeded.db"
    url = f"sqlite:///{path}"
    store = init_db(url)
    rt = seed_runtime(store, url, catalogue, calendar)
    return _freeze(store, path), rt.actors


@pytest.fixture
def runtime(catalogue, calendar, request) -> Iterator[Runtime]:
    """A migrated database seeded with units.yaml, the catalogue's procedures and :data:`STAFF`.

    SQLite: a copy of a seeded template file. PostgreSQL: the module's schema,
    reset to the seed. ``runtime.url`` reaches the same database from a subprocess.
    """
    if pg_base_url() is not None:
        url, store, seed, actors = request.getfixturevalue("_pg_module")
        _pg_reset(store, seed)
        yield Runtime(db=store, url=url, calendar=calendar, actors=dict(actors))
        return
    url = request.getfixturevalue("db_url")
    template, actors = request.getfixturevalue("_seeded_template")
    store = _open_fresh(url, template)
    try:
        yield Runtime(db=store, url=url, calendar=calendar, actors=dict(actors))
    finally:
        store.dispose()


@pytest.fixture
def dot_calls(monkeypatch):
    """The formats ``dot`` is run for from now on (engine.render._pipe counted), the diagram cache emptied first."""
    import engine.render as er

    calls: list[str] = []
    real = er._pipe

    def counted(source: str, fmt: str) -> bytes:
        calls.append(fmt)
        return real(source, fmt)

    er.clear_cache()
    monkeypatch.setattr(er, "_pipe", counted)
    yield calls
    er.clear_cache()
