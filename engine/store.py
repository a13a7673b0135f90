"""The database: SQLModel tables, engines, migrations and small repository helpers.

The database is the source of truth for every dossier, work item and event.
SQLite (WAL mode) is the default; PostgreSQL is the production database. The
schema is created and upgraded by Alembic (``engine/migrations``), never by
``create_all`` outside tests.

Conventions
-----------
* Every instant is stored in UTC and comes back timezone-aware, on SQLite too
  (:class:`UTCDateTime`).
* Durations are integers of working minutes.
* Enumerations are stored as short strings (``open``, ``nearly_due`` ...), the
  dossier status as its national code (1-10), so reports can group on them.
* ``events`` is append-only: nothing in quytrinh updates or deletes an event.
* Write transactions on SQLite start with ``BEGIN IMMEDIATE`` (see
  :meth:`Store.write`), so two writers serialize instead of failing on a stale
  snapshot; optimistic locking (``version`` columns) then decides who wins.

The database URL comes from ``$QUYTRINH_DATABASE_URL``; without it, SQLite at
``var/quytrinh.db`` of the project's folder, found as the catalogue is
(:func:`default_database_path`). Plain ``postgresql://`` URLs are rewritten to
use psycopg 3. A command that creates a new SQLite file says so once on stderr
(:func:`init_db`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import unicodedata

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

URL_ENV = "QUYTRINH_DATABASE_URL"
#: The default database file, under the project's folder (see :func:`default_database_path`).
DEFAULT_DATABASE = Path("var") / "quytrinh.db"
#: The folder of this source tree: a checkout (with ``pyproject.toml`` and ``procedures_yaml``) when the
#: project is installed editable (``make setup``), ``site-packages`` when it is installed as a package.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def default_database_path(cwd: Path | None = None, source_root: Path = SOURCE_ROOT) -> Path:
    """The SQLite file used when ``$QUYTRINH_DATABASE_URL`` is not set, absolute.

    The same rule as the catalogue (:func:`engine.definition.default_root`): ``var/quytrinh.db`` of the
    current folder when it holds ``procedures_yaml`` (a project folder: the checkout ``make run`` runs in,
    or another one with its own catalogue); else that of the checkout this code runs from (an editable
    install), so that ``.venv/bin/quytrinh tasks`` run from any other folder opens the database of the
    checkout's ``make run``; else, for an installed package (no checkout), ``var/quytrinh.db`` of the
    current folder.
    """
    cwd = Path.cwd() if cwd is None else cwd
    if (cwd / "procedures_yaml").is_dir():
        return cwd / DEFAULT_DATABASE
    if (source_root / "pyproject.toml").is_file() and (source_root / "procedures_yaml").is_dir():
        return source_root / DEFAULT_DATABASE
    return cwd / DEFAULT_DATABASE


def default_url() -> str:
    """The SQLite URL of :func:`default_database_path`."""
    return f"sqlite:///{default_database_path()}"

UTC = dt.timezone.utc


# --------------------------------------------------------------------------- types


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware instant, stored in UTC on every database.

    Binding a naive datetime is an error (it would be ambiguous). On SQLite,
    which has no time zones, the UTC wall time is stored and UTC is attached
    again when reading.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; every instant must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC (raises ValueError on a naive datetime)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; every instant must be timezone-aware")
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- JSON columns

#: Dataclasses and unknown types go to :func:`_json_default` (as json.dumps(default=...) would treat
#: them), int keys become strings (as json.dumps does).
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_default(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def json_text(value: Any) -> str:
    """The text a JSON column stores for ``value`` (``None`` as ``null``), on every path.

    orjson: an action writes half a dozen JSON values (clocks, event data,
    outbox payloads), each ~0.3 us instead of ~1.9 us with ``json``. Compact
    separators and UTF-8 text (Vietnamese stays readable in the database);
    instants in ISO 8601 with their offset, as ``isoformat()`` writes them.
    The ORM's engines use it too (:func:`make_engine`), so a row is the same
    whichever path wrote it.
    """
    return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()


#: A JSON column's text (str or bytes) as Python values.
json_value = orjson.loads


def _now_field(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json_field(default: Any = None, **kw: Any) -> Any:
    if default is None:
        return Field(default=None, sa_type=sa.JSON, **kw)
    return Field(default_factory=lambda: json.loads(json.dumps(default)), sa_type=sa.JSON, **kw)


# --------------------------------------------------------------------------- tables

#: Work item states.
ITEM_OPEN = "open"          # waiting for someone of the unit (or for the citizen / a machine)
ITEM_CLAIMED = "claimed"    # taken by one user
ITEM_DONE = "done"          # completed with an outcome
ITEM_CANCELLED = "cancelled"  # closed without an outcome (withdrawal, stop)
OPEN_ITEM_STATES = (ITEM_OPEN, ITEM_CLAIMED)

#: Outbox states.
OUTBOX_PENDING = "pending"
OUTBOX_CLAIMED = "claimed"
OUTBOX_DONE = "done"
OUTBOX_FAILED = "failed"    # gave up (no retry instant): needs an operator
#: Nothing was left to do (an automated step whose work item was cancelled: the dossier was withdrawn or
#: stopped): final like done, never claimed again, not a failure, not put back by ``retry_failed``
#: (workflows.flows.skip_outbox). The column is free text (no constraint): no migration.
OUTBOX_SKIPPED = "skipped"


class UnitRow(SQLModel, table=True):
    """An organisational unit, loaded from ``units.yaml``."""

    __tablename__ = "units"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=300)
    short: str = Field(default="", max_length=200)
    level: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    roles: dict = _json_field({})  # role id -> Vietnamese title
    #: The unit it was merged into (units.yaml ``merged_into``; migration 0010): it no longer exists, and
    #: its work opens there (engine.services resolves chains). None for a unit that exists.
    merged_into: str | None = Field(default=None, max_length=64)


def username_key(username: str) -> str:
    """The form in which usernames are compared: Unicode NFC, case folded (``An``, ``AN`` and ``an`` are one
    name; so are ``Đức`` and ``đức``). Computed here, not by the database's ``lower()``, which folds only
    ASCII on SQLite (and depends on the collation on PostgreSQL).

    >>> username_key("Nguyen.An") == username_key("nguyen.an")
    True
    """
    return unicodedata.normalize("NFC", username).casefold()


class User(SQLModel, table=True):
    """A member of staff: one unit, one role in it.

    Usernames are case-insensitive: every lookup by name compares :attr:`username_key`
    (:func:`username_key` of the name), which is unique (migration 0014), so no two accounts differ only
    by case; :attr:`username` keeps the spelling the account was created with, for display and history.
    """

    __tablename__ = "users"
    __table_args__ = (sa.Index("ux_users_username_key", "username_key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    #: :func:`username_key` of :attr:`username`, set whenever the row is written through the ORM (never by hand).
    username_key: str = Field(default="", max_length=256, sa_column_kwargs={"server_default": ""})
    full_name: str = Field(default="", max_length=200)
    unit_id: str = Field(foreign_key="units.id", max_length=64, index=True)
    role: str = Field(max_length=64)
    password_hash: str | None = Field(default=None, max_length=300)
    active: bool = Field(default=True)
    #: Raised when the account is deactivated: web sessions and API tokens issued before carry the
    #: old value in their credential mark, so re-enabling the account does not revive them.
    credential_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: The commune a member of a commune-level unit works for, as units.yaml's ``communes:`` writes it:
    #: they see and act on that commune's dossiers only (and on those of no commune). '' for district staff,
    #: and for an account not tied to a commune (migration 0015).
    commune: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    created_at: dt.datetime = _now_field()


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _keep_username_key(mapper: Any, connection: Any, target: User) -> None:
    target.username_key = username_key(target.username)


class DefinitionVersion(SQLModel, table=True):
    """A published version of a procedure definition (expanded, as YAML).

    Dossiers pin the version in force when they were received; running
    dossiers keep their version when a new one is published.
    """

    __tablename__ = "definition_versions"
    __table_args__ = (sa.UniqueConstraint("procedure_code", "version", name="uq_definition_versions_code_version"),)

    id: int | None = Field(default=None, primary_key=True)
    procedure_code: str = Field(max_length=64, index=True)
    version: int
    name: str = Field(max_length=1000)
    level: str = Field(max_length=32)
    status: str = Field(max_length=32)
    content: str = Field(sa_type=sa.Text)  # the expanded definition as YAML
    content_hash: str = Field(max_length=64)
    source: str = Field(default="", max_length=500)
    published_at: dt.datetime = _now_field()
    published_by: str = Field(default="", max_length=64)


class Dossier(SQLModel, table=True):
    """One dossier (hồ sơ) of one procedure, from registration to the return of the result."""

    __tablename__ = "dossiers"
    # The registration ledger and the counter's repeat check read a period of registrations (migration
    # 0006); form 01 and the ledger count a book's entries before a dossier on ix_dossiers_ledger_book
    # (migration 0011). Both are written once per dossier, when it is registered (their columns never change).
    # A book's entry numbers are unique (migration 0012): the next one is read on this index at registration.
    __table_args__ = (sa.Index("ix_dossiers_registered_at", "registered_at"),
                      sa.Index("ix_dossiers_ledger_book", "ledger_book", "registered_at", "id"),
                      sa.Index("ux_dossiers_ledger_no", "ledger_book", "ledger_year", "ledger_no", unique=True))

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)  # never changes
    procedure_code: str = Field(max_length=64, index=True)
    definition_id: int = Field(foreign_key="definition_versions.id")
    definition_version: int
    channel: str = Field(max_length=16)  # counter | online | post
    applicant: str = Field(max_length=300)
    applicant_contact: str = Field(default="", max_length=300)
    commune: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})  # of a commune-level dossier
    #: The book of the Sổ theo dõi hồ sơ the dossier is entered in (:func:`ledger_book_key`): the one-stop unit
    #: that registered it, and for a commune-level dossier its commune. Set at registration, never changed.
    ledger_book: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})
    #: The year of the book (of registration, Hanoi time) and the dossier's number in it ("Số thứ tự"), given
    #: at registration as the book's last number plus one and never changed: what form 01 printed stays true.
    #: Empty only for a row written by other means than the services (a bulk load): its number is then counted.
    ledger_year: int | None = Field(default=None)
    ledger_no: int | None = Field(default=None)
    status: int = Field(index=True)  # national status code 1-10 (engine.machine.Status)
    result: str | None = Field(default=None, max_length=16)  # result | refusal
    registered_at: dt.datetime = _now_field()
    received_at: dt.datetime | None = _now_field(default=None)  # receipt of the complete dossier
    clock_started_at: dt.datetime | None = _now_field(default=None)  # = received_at, or the restart
    due_at: dt.datetime | None = _now_field(default=None)  # appointment (ngày hẹn trả)
    original_due_at: dt.datetime | None = _now_field(default=None)  # as printed on the first receipt
    paused_at: dt.datetime | None = _now_field(default=None)  # set while a citizen step is open
    paused_minutes: int = Field(default=0)  # working minutes paused so far
    clock_policy: str = Field(default="pause", max_length=16)  # supplement_clock, recorded at receipt
    clock_restarts: int = Field(default=0)
    supplements: int = Field(default=0)  # supplement requests so far
    finished_at: dt.datetime | None = _now_field(default=None)  # processing done (status 9)
    closed_at: dt.datetime | None = _now_field(default=None)  # returned, refused, withdrawn, stopped
    timeliness: str | None = Field(default=None, max_length=16)
    route_counts: dict = _json_field({})  # "step.outcome" -> times taken (bounded rework)
    joins: dict = _json_field({})  # split key -> {"join": step, "expected": n, "arrived": [...]}
    clock: dict | None = _json_field()  # engine.sla.Clock.as_dict() once received
    version: int = Field(default=1)
    updated_at: dt.datetime = _now_field()


#: Between the one-stop unit and the commune in :attr:`Dossier.ledger_book` (unit ids never hold it).
LEDGER_BOOK_SEP = "/"


def ledger_book_key(one_stop_unit: str | None, commune: str = "", level: str = "") -> str:
    """The book (sổ theo dõi hồ sơ) a new dossier is entered in: the id of the one-stop unit that registers
    it (its procedure's reception unit, or that unit's successor when it was merged), followed for a
    commune-level procedure (``level``) naming its commune by ``/`` and the commune as units.yaml writes it:
    each commune's one-stop unit keeps its own book, though units.yaml describes them all as one unit.
    ``bp_mot_cua``, ``xa_mot_cua/Xã Bát Tràng``. The year is not part of it: a book is a key and a year
    of registration (engine.documents.book_number)."""
    key = one_stop_unit or ""
    commune = (commune or "").strip()
    return f"{key}{LEDGER_BOOK_SEP}{commune}" if commune and level == "commune" else key


def split_ledger_book(key: str) -> tuple[str, str]:
    """(one-stop unit id, commune or "") of a :func:`ledger_book_key`."""
    unit, _, commune = (key or "").partition(LEDGER_BOOK_SEP)
    return unit, commune


class WorkItem(SQLModel, table=True):
    """One opening of one step for one dossier: the unit of work in an inbox."""

    __tablename__ = "work_items"

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossiers.id", index=True)
    step_id: str = Field(max_length=64)
    step_name: str = Field(max_length=1000)
    kind: str = Field(max_length=16)  # human | citizen | automated | sign | return
    # No index on unit_id or assignee_id: no query needs one (the inbox goes through state),
    # and each index is one more page every action writes (migration 0003).
    unit_id: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=64)
    assignee_id: int | None = Field(default=None, foreign_key="users.id")
    state: str = Field(max_length=16, index=True)  # open | claimed | done | cancelled
    outcome: str | None = Field(default=None, max_length=64)
    opened_at: dt.datetime = _now_field()
    claimed_at: dt.datetime | None = _now_field(default=None)
    closed_at: dt.datetime | None = _now_field(default=None)
    due_at: dt.datetime | None = _now_field(default=None)
    allotted_minutes: int | None = Field(default=None)
    spent_minutes: int | None = Field(default=None)  # working minutes, pauses excluded
    paused_minutes: int = Field(default=0)  # dossier pauses while this item was open
    timeliness: str | None = Field(default=None, max_length=16)
    branch: str = Field(default="", max_length=200)  # parallel-branch path, "" outside splits
    attempt: int = Field(default=1)  # how many times this step was opened for the dossier
    clock: dict | None = _json_field()  # engine.sla.Clock.as_dict() of a timed step


class Event(SQLModel, table=True):
    """One entry of a dossier's history. Append-only.

    The process-control sheet (form 05) is a view of these.
    """

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossiers.id", index=True)
    work_item_id: int | None = Field(default=None, foreign_key="work_items.id")
    at: dt.datetime = _now_field()
    actor: str = Field(max_length=64)  # username, or "system"
    actor_unit: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=32)
    step_id: str | None = Field(default=None, max_length=64)
    from_status: int | None = Field(default=None)
    to_status: int | None = Field(default=None)
    to_steps: list = _json_field([])  # steps opened by this action
    outcome: str | None = Field(default=None, max_length=64)
    comment: str = Field(default="", sa_type=sa.Text)
    data: dict = _json_field({})


class OutboxItem(SQLModel, table=True):
    """Machine work caused by an action, written in the action's transaction.

    Workers claim items with a lease (:func:`engine.services.claim_outbox`); an
    item whose lease expired is claimed again; a done item never is.
    """

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    dossier_id: int | None = Field(default=None, foreign_key="dossiers.id", index=True)
    work_item_id: int | None = Field(default=None, foreign_key="work_items.id")
    payload: dict = _json_field({})
    idempotency_key: str = Field(max_length=200, unique=True)
    state: str = Field(default=OUTBOX_PENDING, max_length=16, index=True)
    available_at: dt.datetime = _now_field()
    attempts: int = Field(default=0)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: dt.datetime | None = _now_field(default=None)
    created_at: dt.datetime = _now_field()
    completed_at: dt.datetime | None = _now_field(default=None)
    result: dict | None = _json_field()
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class LoginFailure(SQLModel, table=True):
    """Consecutive failed sign-ins of one username from one client address (quytrinh.web.auth.LoginThrottle).

    In the database, so every web process (``quytrinh serve --workers N``) and a
    restart see the same count.
    """

    __tablename__ = "login_failures"

    key: str = Field(primary_key=True, max_length=400)  # lower-cased username, a newline, the client address
    count: int
    last_at: dt.datetime = _now_field()


class EndedSession(SQLModel, table=True):
    """A web session its user signed out of (``/logout``): its cookie no longer signs anyone in.

    The session cookie is signed, not stored, so a copy of it (a shared computer, a proxy's log) would
    otherwise sign in again until it expires. Only the sessions ended within their lifetime (12 hours)
    matter; older rows are removed at the next sign-out. In the database, so every web process
    (``quytrinh serve --workers N``) refuses the cookie.
    """

    __tablename__ = "ended_sessions"

    sid: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(index=True)
    ended_at: dt.datetime = _now_field()


class RequestRecord(SQLModel, table=True):
    """An idempotency key and the result of the first request that used it."""

    __tablename__ = "requests"

    key: str = Field(primary_key=True, max_length=200)
    action: str = Field(max_length=32)
    request_hash: str = Field(max_length=64)
    result: dict = _json_field({})
    actor: str = Field(max_length=64)
    at: dt.datetime = _now_field()


class Apology(SQLModel, table=True):
    """A drafted apology and new appointment (form 04) for a dossier that will be late."""

    __tablename__ = "apologies"
    __table_args__ = (sa.UniqueConstraint("dossier_id", "due_at", name="uq_apologies_dossier_due"),)

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossiers.id", index=True)
    due_at: dt.datetime = _now_field()  # the appointment that cannot be kept
    proposed_due_at: dt.datetime = _now_field()
    needed_minutes: int  # working minutes still needed when drafted
    remaining_minutes: int  # working minutes left before due_at when drafted
    reason: str = Field(default="", sa_type=sa.Text)  # to be written by the officer
    state: str = Field(default="draft", max_length=16)  # draft | signed | sent
    drafted_at: dt.datetime = _now_field()
    signed_at: dt.datetime | None = _now_field(default=None)  # when the unit's head signed it: the apology made
    unit_id: str | None = Field(default=None, max_length=64)  # unit that holds the dossier


@event.listens_for(Event, "before_update")
@event.listens_for(Event, "before_delete")
def _events_are_append_only(mapper: Any, connection: Any, target: Event) -> None:
    raise RuntimeError(f"events are append-only: event {target.id} may not be changed or deleted")


# ---- the approval workflow of definitions (engine.approval reads and writes them)


class DefinitionDraft(SQLModel, table=True):
    """One version of a procedure definition on its way to approval (the text as authored)."""

    __tablename__ = "definition_drafts"
    __table_args__ = (
        sa.UniqueConstraint("procedure_code", "number", name="uq_definition_drafts_code_number"),
        # One open (draft or submitted) version per procedure, whatever the race between two saves.
        sa.Index("uq_definition_drafts_one_open", "procedure_code", unique=True,
                 sqlite_where=sa.text("status IN ('draft', 'submitted')"),
                 postgresql_where=sa.text("status IN ('draft', 'submitted')")),
    )

    id: int | None = Field(default=None, primary_key=True)
    procedure_code: str = Field(max_length=64, index=True)
    number: int  # version number of the draft, per procedure
    status: str = Field(max_length=16)  # draft | submitted | approved
    name: str = Field(max_length=1000)
    level: str = Field(max_length=32)
    text: str = Field(sa_type=sa.Text)  # the YAML as written (extends/with kept)
    text_hash: str = Field(max_length=64)
    findings: list = Field(default_factory=list, sa_type=sa.JSON)  # Finding.to_dict() of the last save
    errors: int = Field(default=0)
    warnings: int = Field(default=0)
    base_version: int | None = Field(default=None)  # published version in force when the draft was made
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(max_length=64)
    submitted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    submitted_by: str | None = Field(default=None, max_length=64)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=64)
    decision_number: str | None = Field(default=None, max_length=100)
    decision_date: dt.date | None = Field(default=None)
    comment: str = Field(default="", sa_type=sa.Text)  # the last send-back comment
    published_id: int | None = Field(default=None, foreign_key="definition_versions.id")
    published_version: int | None = Field(default=None)
    row_version: int = Field(default=1)


class DefinitionReview(SQLModel, table=True):
    """One step of a draft's history. Append-only."""

    __tablename__ = "definition_reviews"

    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(foreign_key="definition_drafts.id", index=True)
    procedure_code: str = Field(max_length=64, index=True)
    number: int
    action: str = Field(max_length=16)  # create | save | submit | approve | send_back
    actor: str = Field(max_length=64)
    at: dt.datetime = Field(sa_type=UTCDateTime)
    comment: str = Field(default="", sa_type=sa.Text)
    decision_number: str | None = Field(default=None, max_length=100)
    decision_date: dt.date | None = Field(default=None)


TABLES = ("units", "users", "definition_versions", "dossiers", "work_items", "events", "outbox",
          "requests", "apologies", "definition_drafts", "definition_reviews", "login_failures", "ended_sessions")


# --------------------------------------------------------------------------- engines


def database_url(url: str | None = None) -> str:
    """The database URL to use: ``url``, else ``$QUYTRINH_DATABASE_URL``, else the SQLite default
    (:func:`default_url`).

    ``postgresql://`` and ``postgres://`` are rewritten to ``postgresql+psycopg://``.
    """
    url = url or os.environ.get(URL_ENV) or default_url()
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_path(url: str) -> Path | None:
    u = sa.engine.make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


#: SQLite page size of a new database file. Every action dirties about 16
#: pages (the dossier, its work items, an event, outbox items and their
#: indexes), and a WAL commit copies each whole page: 2 KiB pages write half
#: the bytes of the 4 KiB default for the same rows, which made the engine's
#: statements ~20% faster with the longer checkpoint interval below (bench/engine.py,
#: peer "sql": 126 -> 100 us a transition; 1 KiB pages were no faster, and
#: put a dossier row close to overflowing its page).
SQLITE_PAGE_SIZE = 2048
#: WAL frames between automatic checkpoints (SQLite's default is 1,000). A
#: checkpoint copies each page written since the last one back to the database
#: and syncs it; with 8,000 frames (16 MiB of WAL) a page rewritten by many
#: actions in a row is copied once, not once per 1,000 frames.
SQLITE_WAL_AUTOCHECKPOINT = 8000


def make_engine(url: str | None = None, **kw: Any) -> Engine:
    """A SQLAlchemy engine for the URL (see :func:`database_url`), not migrated.

    SQLite gets WAL mode, foreign keys, a 30 s busy timeout and explicit
    transaction control (so :meth:`Store.write` can ``BEGIN IMMEDIATE``); the
    folder of the database file is created when missing.
    """
    url = database_url(url)
    path = _sqlite_path(url)
    kw.setdefault("json_serializer", json_text)
    kw.setdefault("json_deserializer", json_value)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        kw.setdefault("connect_args", {}).setdefault("timeout", 30)
        # Pooled: closing the last connection of a WAL database checkpoints it
        # (about 1 ms), which a pool avoids on every action.
        engine = sa.create_engine(url, **kw)
        _configure_sqlite(engine)
        _ping_when_idle(engine)
        return engine
    engine = sa.create_engine(url, **kw)
    _ping_when_idle(engine)
    return engine


#: Seconds a pooled connection may rest before it is pinged at its next checkout.
#: SQLAlchemy's ``pool_pre_ping`` pings at every checkout: on PostgreSQL about
#: 140 us (a round trip through psycopg), a seventh of a whole action. A
#: connection used moments ago is almost surely alive; one that rested (the
#: server may have restarted meanwhile) is pinged, and replaced if dead. A
#: connection that died within the window fails the one action that gets it
#: (rolled back, nothing written), and the pool then drops every connection it
#: held (a lost connection usually means the server restarted).
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine) -> None:
    import time

    monotonic = time.monotonic

    @event.listens_for(engine, "connect")
    def _fresh(dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = monotonic()

    @event.listens_for(engine, "checkin")
    def _rest(dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # dead, and so most likely its siblings (the server restarted): the pool
            # discards every connection it holds (not only this one) and connects again
            raise sa.exc.InvalidatePoolError(f"pooled connection failed its ping: {exc}") from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:  # pragma: no cover - trivial
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # takes effect only on a new, empty file
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("quytrinh_begin")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "immediate" else "BEGIN")


class Store:
    """The database an application works with: an engine and its sessions.

    ``Store(url)`` does not migrate; use :func:`init_db` for that.
    """

    def __init__(self, url_or_engine: str | Engine | None = None):
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        else:
            self.engine = make_engine(url_or_engine)
        self.url = self.engine.url.render_as_string(hide_password=False)
        self.dialect = self.engine.dialect.name
        self._write_engine = self.engine.execution_options(quytrinh_begin="immediate")

    def __repr__(self) -> str:
        return f"Store({self.engine.url!r})"

    def session(self) -> Session:
        """A session for reading (and writing where SQLite's deferred locking is acceptable)."""
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on any error.

        On SQLite it starts with ``BEGIN IMMEDIATE``: concurrent writers wait
        for each other (up to the busy timeout) instead of failing later.
        """
        with Session(self._write_engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


_STORES: dict[str, Store] = {}


def as_store(db: "Store | Engine | str | None") -> Store:
    """A :class:`Store` for a store, an engine or a URL (None: the configured URL).

    Stores made from URLs are kept, one per URL per process, so that passing a
    URL does not open a new connection pool on every call.
    """
    if isinstance(db, Store):
        return db
    if isinstance(db, Engine):
        return Store(db)
    url = database_url(db)
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = Store(url)
    return store


# --------------------------------------------------------------------------- migrations

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Any:
    """An Alembic ``Config`` for our migrations (no ini file): script location and URL set in code."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run Alembic ``upgrade`` to ``revision`` on the engine's database."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


#: The newest migration in engine/migrations/versions (a test keeps it in step with Alembic's head).
HEAD_REVISION = "0015"


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None when it was never migrated)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("select version_num from alembic_version")).scalar()


def init_db(url: str | None = None) -> Store:
    """Open the database at ``url`` (see :func:`database_url`) and upgrade its schema to head.

    A database already at :data:`HEAD_REVISION` is not touched (Alembic is not
    even loaded), so opening it costs one query.

    A SQLite file that did not exist is created; that is said once on stderr, with its absolute path
    (:data:`CREATED_MESSAGE`), so that a command run from an unexpected folder never silently shows an
    empty system.

    Returns
    -------
    Store
        Ready to use.
    """
    path = _sqlite_path(database_url(url))
    new_file = path is not None and not path.exists()
    store = Store(url)
    if current_revision(store.engine) != HEAD_REVISION:
        migrate(store.engine)
    if new_file and path is not None and path.exists():
        _say_created(path.resolve())
    return store


#: What a command says on stderr when it created a new SQLite database file.
CREATED_MESSAGE = "Đã tạo cơ sở dữ liệu mới: {path}"
_ANNOUNCED: set[Path] = set()


def _say_created(path: Path) -> None:
    if path not in _ANNOUNCED:
        _ANNOUNCED.add(path)
        print(CREATED_MESSAGE.format(path=path), file=sys.stderr, flush=True)


def create_schema(engine: Engine) -> None:
    """Create the tables straight from the models (tests only; the application migrates)."""
    SQLModel.metadata.create_all(engine)


# --------------------------------------------------------------------------- dumps


def dump(db: Store | Engine) -> list[str]:
    """Every row of every quytrinh table, deterministically ordered (for before/after comparisons).

    On SQLite this is ``iterdump()`` (the whole file, schema included); on
    other databases each table is selected ordered by its primary key.
    """
    store = as_store(db) if not isinstance(db, Store) else db
    if store.dialect == "sqlite":
        raw = store.engine.raw_connection()
        try:
            return list(raw.driver_connection.iterdump())
        finally:
            raw.close()
    lines: list[str] = []
    with store.engine.connect() as conn:
        for name in TABLES:
            table = SQLModel.metadata.tables[name]
            order = list(table.primary_key.columns)
            for row in conn.execute(sa.select(table).order_by(*order)):
                lines.append(f"{name}: {tuple(row)!r}")
        version = conn.execute(sa.text("select version_num from alembic_version")).all() \
            if sa.inspect(conn).has_table("alembic_version") else []
        lines.extend(f"alembic_version: {tuple(r)!r}" for r in version)
    return lines
