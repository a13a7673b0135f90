"""The actions on dossiers, used alike by the CLI, the web app and the Prefect flows.

Every action is one database transaction that

1. checks the idempotency key (a repeated request returns the first result and
   changes nothing; the same key with a different request raises
   :class:`DuplicateRequest`),
2. loads the dossier and checks the actor may act (unit and role; a work item
   claimed by someone else raises :class:`NotAuthorized`),
3. applies the pure state machine (:mod:`engine.machine`),
4. bumps the dossier's version with ``UPDATE ... WHERE id = ? AND version = ?``
   (optimistic locking: a stale writer raises :class:`StaleVersion` and changes
   nothing; of two concurrent writers exactly one wins, on SQLite and PostgreSQL),
5. writes the work items, the events and the machine work it causes (the
   outbox) — all or nothing.

Nothing here reads the wall clock: every function takes ``now``.

The ``db`` argument of every function is a :class:`engine.store.Store` (or an
Engine, or a URL): the function opens and commits its own transaction. A
:class:`sqlmodel.Session` is accepted too: the function then works inside the
caller's transaction and only flushes (the caller commits or rolls back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from engine import machine, rawdb, sla
from engine.definition import (
    NO_SUCCESSOR_KINDS,
    STORED_DEFINITIONS,
    STORED_LOCK,
    Definition,
    Organisation,
    commune_key,
    definition_to_data,
    dump_yaml,
    resolve_successor,
    stored_definition,
)
from engine.errors import (
    ActionError,
    DuplicateRequest,
    IllegalAction,
    NotAuthorized,
    NotFound,
    QuytrinhError,
    StaleVersion,
)
from engine.graph import forward_graph, result_terminals, step_minutes
from engine.machine import Status
from engine.store import (
    ITEM_CLAIMED,
    OPEN_ITEM_STATES,
    OUTBOX_CLAIMED,
    OUTBOX_DONE,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    Apology,
    DefinitionVersion,
    Dossier,
    Event,
    OutboxItem,
    RequestRecord,
    Store,
    UnitRow,
    User,
    WorkItem,
    as_store,
    json_value,
    ledger_book_key,
    username_key,
    utc,
)

SYSTEM_USERNAME = "system"

#: Test hook: when set to an action name, the action sleeps this long (seconds,
#: ``QUYTRINH_TEST_PAUSE_SECONDS``) inside its transaction after its first
#: write. Used to kill a process mid-action in the reliability tests.
PAUSE_HOOK_ENV = "QUYTRINH_TEST_PAUSE_IN"


# --------------------------------------------------------------------------- actors


@dataclass(frozen=True)
class Actor:
    """Who acts: a member of staff (unit and role), or the system (flows, the portal)."""

    username: str
    unit: str | None
    role: str | None
    user_id: int | None = None
    full_name: str = ""
    #: The commune a commune's officer works for (:attr:`engine.store.User.commune`): they act only on that
    #: commune's dossiers (and on those of no commune). '' : not tied to a commune.
    commune: str = ""

    @property
    def is_system(self) -> bool:
        return self.username == SYSTEM_USERNAME and self.user_id is None

    def __str__(self) -> str:
        if self.is_system:
            return "system"
        return f"user '{self.username}' ({self.unit}/{self.role})"


#: The machine actor: runs automated steps, records online submissions and supplements.
SYSTEM = Actor(SYSTEM_USERNAME, None, "system")


def find_user(s: Session, username: str, *, lock: bool = False) -> User | None:
    """The row of the user named ``username``, whatever its case (``An`` finds ``an``: usernames are
    case-insensitive, :func:`engine.store.username_key`), or None. ``lock``: locked for update (PostgreSQL)."""
    if not username:  # (a row written around the ORM has the key '': no name finds it)
        return None
    stmt = select(User).where(User.username_key == username_key(username))
    return s.exec(stmt.with_for_update() if lock else stmt).first()


def get_actor(db: Any, username: str) -> Actor:
    """The actor of an existing, active user (``system`` gives :data:`SYSTEM`). The name is matched whatever
    its case (``An`` is the account ``an``); the actor carries the spelling the account was created with.

    Raises
    ------
    NotFound
        When no active user has that name.
    """
    if username_key(username) == SYSTEM_USERNAME:
        return SYSTEM
    with _reading(db) as s:
        user = find_user(s, username)
        if user is None:
            raise NotFound(f"user '{username}' does not exist (add it with: quytrinh user add {username} "
                           f"--unit UNIT --role ROLE)")
        if not user.active:
            raise NotFound(f"user '{username}' is deactivated (enable it again with: quytrinh user enable {username})")
        return Actor(user.username, user.unit_id, user.role, user.id, user.full_name, user.commune or "")


#: The acting user's row, read inside every action's transaction. On PostgreSQL it is share-locked
#: (``FOR SHARE``) until the action commits: :func:`deactivate_user` and :func:`move_user` lock the row
#: for update first, so a change of the account waits for the user's actions under way, and an action
#: that has to wait for a change reads the row as the change left it (READ COMMITTED reads the newest
#: version of a row it waited for). SQLite serializes writers (``BEGIN IMMEDIATE``): the row read there
#: is the one every other writer left.
_ACTOR_SQL = "SELECT username, unit_id, role, active, full_name, commune FROM users WHERE id = ?"
_ACTOR_SQL_PG = _ACTOR_SQL + " FOR SHARE"


def _acting(tx: rawdb.Tx, action: str, actor: Actor) -> Any:
    """Read (PostgreSQL: and share-lock) the row of ``actor`` in the action's transaction ``tx``; a function
    that returns the actor as that row says (its unit and role now), or raises when the account was
    deactivated or deleted since ``actor`` was read (``get_actor``, a web session).

    In PostgreSQL's pipeline the statement goes down with the action's first read, whose answer brings
    this one's: call the function after that read, and the check costs no round trip of its own. The
    system acts without a row.
    """
    if actor.user_id is None:
        return lambda: actor
    cur = tx.execute(_ACTOR_SQL_PG if tx.pg else _ACTOR_SQL, (actor.user_id,))
    row = cur.fetchone() if tx.pipeline is None else None  # (a shared cursor: read it before the next statement)

    def who() -> Actor:
        found = row if tx.pipeline is None else cur.fetchone()
        if found is None:
            raise NotFound(f"{action}: user '{actor.username}' does not exist")
        username, unit, role, active, full_name, commune = found
        if not active:
            raise NotAuthorized(f"{action}: user '{username}' is deactivated (enable it again with: "
                                f"quytrinh user enable {username})")
        if (username, unit, role, commune) == (actor.username, actor.unit, actor.role, actor.commune):
            return actor
        return Actor(username, unit, role, actor.user_id, full_name or "", commune or "")  # changed since read
    return who


def seed_organisation(db: Any, organisation: Organisation) -> int:
    """Insert or update the units of ``organisation`` (from units.yaml), with the unit each merged one was
    merged into (``merged_into``): from then on, work that opens at a merged unit opens at its successor.

    Returns
    -------
    int
        The number of units written.
    """
    with _transaction(db) as s:
        existing = {row.id: row for row in s.exec(select(UnitRow)).all()}
        for unit in organisation.units.values():
            row = existing.get(unit.id)
            if row is None:
                row = UnitRow(id=unit.id, name=unit.name, level=unit.level, kind=unit.kind)
            row.name, row.short, row.level, row.kind = unit.name, unit.short, unit.level, unit.kind
            row.roles = dict(unit.roles)
            row.merged_into = unit.merged_into or None
            s.add(row)
    forget_unit_successors()
    return len(organisation.units)


# --------------------------------------------------------------------------- merged units

#: Seconds a process keeps the merged units it read (:func:`unit_successors`) before reading them again. A
#: staff action resolves the unit of each step it opens with a dict lookup, not a query; a merge recorded by
#: another process (``quytrinh publish`` while ``quytrinh serve`` runs) reaches this one within this time.
SUCCESSORS_TTL_SECONDS = 30.0

#: Per database (its connection pool): (when read, merged unit -> the unit that now does its work).
_SUCCESSORS: "weakref.WeakKeyDictionary[Any, tuple[float, dict[str, str]]]" = weakref.WeakKeyDictionary()
_SUCCESSORS_LOCK = threading.Lock()
_SUCCESSORS_SQL = "SELECT id, merged_into FROM units WHERE merged_into IS NOT NULL"


def _pool_of(db: Any) -> Any:
    """The connection pool of ``db``: one per database in a process (a store, its engines and sessions share it)."""
    if isinstance(db, Store):
        return db.engine.pool
    if isinstance(db, Session):
        return db.get_bind().pool
    if isinstance(db, Engine):
        return db.pool
    return as_store(db).engine.pool


def _successors_from(rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    direct = {uid: merged for uid, merged in rows if merged}
    return {uid: resolve_successor(uid, direct) or uid for uid in direct}


def unit_successors(db: Any, tx: rawdb.Tx | None = None, *, fresh: bool = False) -> Mapping[str, str]:
    """Every merged unit of ``db`` and the unit that now does its work (``merged_into`` chains resolved).

    Read from the ``units`` table at most every :data:`SUCCESSORS_TTL_SECONDS` per process and database
    (through ``tx`` when given, inside the caller's transaction); :func:`seed_organisation` forgets what
    was read. ``fresh`` reads the table now (and keeps what it read for the next callers): the worker
    delivers each notice with what is stored at that moment, since a notice sent to a merged unit's
    people would not reach those who now do its work. Do not change the mapping returned.
    """
    pool = _pool_of(db)
    found = _SUCCESSORS.get(pool)
    now = time.monotonic()
    if not fresh and found is not None and now - found[0] < SUCCESSORS_TTL_SECONDS:
        return found[1]
    if tx is not None:
        resolved = _successors_from(tx.execute(_SUCCESSORS_SQL).fetchall())
    else:
        with rawdb.read(db) as rtx:
            resolved = _successors_from(rtx.execute(_SUCCESSORS_SQL).fetchall())
    with _SUCCESSORS_LOCK:
        _SUCCESSORS[pool] = (now, resolved)
    return resolved


def forget_unit_successors() -> None:
    """Forget the merged units every database of this process was read to have (they are read again at the
    next action). :func:`seed_organisation` calls it; so should code that changes ``units.merged_into``
    another way."""
    with _SUCCESSORS_LOCK:
        _SUCCESSORS.clear()


#: Argon2id with the OWASP-recommended minimum (19 MiB, 2 passes, 1 lane): about 20 ms a check.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (``$argon2id$...``)."""
    return _HASHER.hash(password)


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``: an Argon2 hash, or a legacy PBKDF2-SHA256 one.

    Legacy hashes look like ``pbkdf2_sha256$iterations$salt$hash`` (what early
    builds stored); :func:`password_needs_upgrade` says to replace them.
    """
    import hmac

    if not stored:
        return False
    if stored.startswith("$argon2"):
        try:
            return _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    try:
        _, iterations, salt, digest = stored.split("$")
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def password_needs_upgrade(stored: str | None) -> bool:
    """Whether a (verified) hash should be replaced by a fresh Argon2id hash."""
    if not stored or not stored.startswith("$argon2"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def add_user(db: Any, username: str, *, unit: str, role: str, now: dt.datetime, full_name: str = "",
             password: str | None = None, commune: str = "") -> Actor:
    """Add a member of staff.

    Usernames are case-insensitive: a name that differs from an existing one only by case (``An`` when
    ``an`` exists) is taken. The spelling given is kept for display.

    ``commune``: for staff of a commune-level unit, the commune they work for, as units.yaml's
    ``communes:`` writes it (the caller checks the name against that list): they then see and act on that
    commune's dossiers only (:func:`_same_commune`).

    Raises
    ------
    NotFound
        When the unit is not in the database (seed units.yaml first).
    ActionError
        When the role is not one of the unit's roles, the username is taken (whatever its case), or a
        commune is given for a unit that is not of the commune level.
    """
    import sqlalchemy as sa

    commune = " ".join(commune.split())
    if (not username or username_key(username) == SYSTEM_USERNAME
            or not username.replace(".", "").replace("_", "").replace("-", "").isalnum()):
        raise ActionError(f"'{username}' is not a valid username (letters, digits, . _ -; not 'system')")
    try:
        with _transaction(db) as s:
            _commune_fits(_unit_and_role(s, unit, role), commune)
            _name_free(s, username)
            user = User(username=username, full_name=full_name, unit_id=unit, role=role, created_at=now,
                        password_hash=hash_password(password) if password else None, commune=commune)
            s.add(user)
            s.flush()
            return Actor(user.username, user.unit_id, user.role, user.id, user.full_name, user.commune)
    except sa.exc.IntegrityError:  # added meanwhile by another process (the unique index on username_key)
        if isinstance(db, Session):
            raise
        with _reading(db) as s:
            _name_free(s, username)
        raise


def _name_free(s: Session, username: str) -> None:
    """Refuse (ActionError) a username that an account has already, whatever its case."""
    taken = find_user(s, username)
    if taken is None:
        return
    if taken.username == username:
        raise ActionError(f"user '{username}' already exists")
    raise ActionError(f"user '{username}' already exists as '{taken.username}' (usernames are case-insensitive)")


@dataclass(frozen=True)
class ReleasedItem:
    """A work item given back to its unit because its holder left it (deactivated or moved)."""

    item_id: int
    dossier_code: str
    step_name: str
    unit: str = ""                  # the unit whose queue it went back to (kept: the unit it is at)
    merged_from: str | None = None  # the merged unit it was at: it went to that unit's successor instead


@dataclass(frozen=True)
class UserChange:
    """What :func:`deactivate_user`, :func:`reactivate_user` or :func:`move_user` did."""

    username: str
    full_name: str
    unit: str
    role: str
    active: bool
    released: list[ReleasedItem] = field(default_factory=list)
    #: (move) items the user holds at a unit merged into their new unit, with their role: still theirs
    kept: list[ReleasedItem] = field(default_factory=list)


def _unit_and_role(s: Session, unit: str, role: str) -> UnitRow:
    """The unit row, when ``unit`` exists, was not merged into another, and has ``role`` (else NotFound /
    ActionError naming the choices)."""
    row = s.get(UnitRow, unit)
    if row is None:
        known = ", ".join(sorted(r.id for r in s.exec(select(UnitRow)))) or "none (seed units.yaml first)"
        raise NotFound(f"unit '{unit}' does not exist; known units: {known}")
    if row.merged_into:
        successor = _merged_units(s).get(unit, row.merged_into)
        raise ActionError(f"unit '{unit}' was merged into '{successor}'; its staff belong to '{successor}' "
                          f"(quytrinh user move USER --unit {successor} --role ROLE)")
    if role not in row.roles:
        raise ActionError(f"unit '{unit}' has no role '{role}'; its roles: {', '.join(sorted(row.roles))}")
    return row


def _commune_fits(unit: UnitRow, commune: str) -> None:
    """Refuse (ActionError) a commune for an account of a unit that is not of the commune level."""
    if commune and unit.level != "commune":
        raise ActionError(f"unit '{unit.id}' is of the {unit.level} level; only staff of a commune-level unit "
                          f"work for a commune")


def set_user_commune(db: Any, username: str, commune: str, *, now: dt.datetime,
                     calendar: Any = None) -> UserChange:
    """Tie a commune's officer to the commune they work for (``commune``; '' unties them).

    From then on they see and act on that commune's dossiers only; the work items they held on dossiers of
    another commune go back to their unit's queue (each with a "release" event saying why). As
    :func:`move_user`, it waits for the user's actions under way.

    Raises
    ------
    NotFound
        When there is no such user.
    ActionError
        When the user's unit is not of the commune level (and ``commune`` is not ''), or the user already
        works for that commune and holds no work of another.
    """
    commune = " ".join(commune.split())
    with _transaction(db) as s:
        user = _user_row(s, username)
        username = user.username  # as the account spells it
        unit = s.get(UnitRow, user.unit_id)
        if unit is not None:
            _commune_fits(unit, commune)
        changed = (user.commune or "") != commune
        if changed:
            user.commune = commune
            s.add(user)
        uid, name, active = user.id, user.full_name or user.username, user.active
        unit_id, role = user.unit_id, user.role
    elsewhere: set[int] = set()
    if commune:
        with _reading(db) as s:
            held = s.exec(select(WorkItem.id, Dossier.commune).join(Dossier, Dossier.id == WorkItem.dossier_id)  # type: ignore[arg-type]
                          .where(WorkItem.assignee_id == uid, WorkItem.state == ITEM_CLAIMED)).all()
        elsewhere = {i for i, of in held if of and commune_key(of) != commune_key(commune)}
    released = _release_held(db, uid, f"{name} làm việc cho {commune}", now=now, calendar=calendar,
                             keep=lambda item: item.id not in elsewhere) if elsewhere else []
    if not changed and not released:
        raise ActionError(f"user '{username}' already works for {commune or 'no commune'}")
    return UserChange(username, name, unit_id, role, active, released)


def _own_commune(action: str, actor: Actor, defn: Definition, commune: str) -> str:
    """The commune of a dossier ``actor`` registers: for an officer tied to a commune, a commune-level
    procedure's dossier is of their commune (theirs when none is given); another commune is refused
    (NotAuthorized)."""
    if not actor.commune or defn.level != "commune":
        return commune
    if not commune.strip():
        return actor.commune
    if commune_key(commune) != commune_key(actor.commune):
        raise NotAuthorized(f"{action}: {actor} works for {actor.commune}; they may not register a dossier "
                            f"of {commune.strip()}")
    return actor.commune  # as the account writes it (units.yaml's spelling)


def _same_commune(action: str, actor: Actor, d: Any) -> None:
    """Refuse (NotAuthorized) an officer tied to a commune acting on a dossier of another commune."""
    if actor.commune and d.commune and commune_key(actor.commune) != commune_key(d.commune):
        raise NotAuthorized(f"{action}: {actor} works for {actor.commune}; dossier {d.code} is of {d.commune}")


def _merged_units(s: Session) -> dict[str, str]:
    """Every merged unit and the unit that now does its work, read now (not the actions' cache)."""
    return _successors_from(s.exec(select(UnitRow.id, UnitRow.merged_into)
                                   .where(UnitRow.merged_into.is_not(None))).all())  # type: ignore[union-attr]


def _user_row(s: Session, username: str) -> User:
    """The user's row, locked for update (PostgreSQL) until the transaction ends: the actions of the user
    under way (which share-lock it, :func:`_acting`) commit first, and those that come later wait for the
    change and see it."""
    user = find_user(s, username, lock=True)
    if user is None:
        raise NotFound(f"user '{username}' does not exist (see: quytrinh user list)")
    return user


def deactivate_user(db: Any, username: str, *, now: dt.datetime, calendar: Any = None) -> UserChange:
    """Deactivate an account (a member of staff who left): nothing of theirs goes on.

    They can no longer sign in or act; their web sessions and API tokens end
    at once and stay ended if the account is enabled again (the credential
    epoch is raised); the work items they held go back to their unit's queue,
    each with a "release" event saying why, and the unit is told.

    Against the user's own actions it is all or nothing, on SQLite and
    PostgreSQL: the account's row is locked first, so an action of theirs
    under way (which share-locks it) commits before the deactivation, and
    what it claimed is given back; an action that comes later is refused
    (``NotAuthorized``: the user is deactivated) and changes nothing.

    Run again on a deactivated account that still holds work (a run stopped
    between the deactivation and the last release), it gives that work back.

    Raises
    ------
    NotFound
        When there is no such user.
    ActionError
        When the account is already deactivated and holds no work.
    """
    with _transaction(db) as s:
        user = _user_row(s, username)
        username = user.username  # as the account spells it
        was_active = user.active
        if was_active:
            user.active = False
            user.credential_epoch = (user.credential_epoch or 0) + 1
            s.add(user)
        if _PAUSE_IN is not None:
            _pause_hook("disable", s)  # tests: the account changed, not committed yet
        uid, name, unit, role = user.id, user.full_name or user.username, user.unit_id, user.role
    released = _release_held(db, uid, f"tài khoản của {name} đã ngừng hoạt động", now=now, calendar=calendar)
    if not was_active and not released:
        raise ActionError(f"user '{username}' is already deactivated")
    return UserChange(username, name, unit, role, False, released)


def reactivate_user(db: Any, username: str) -> UserChange:
    """Enable a deactivated account again (sessions and tokens from before stay ended).

    Raises
    ------
    NotFound, ActionError (the account is active)
    """
    with _transaction(db) as s:
        user = _user_row(s, username)
        username = user.username  # as the account spells it
        if user.active:
            raise ActionError(f"user '{username}' is active")
        _unit_and_role(s, user.unit_id, user.role)  # the unit may have lost the role meanwhile
        user.active = True
        s.add(user)
        return UserChange(username, user.full_name or user.username, user.unit_id, user.role, True)


def move_user(db: Any, username: str, *, unit: str, role: str, now: dt.datetime,
              calendar: Any = None) -> UserChange:
    """Move a member of staff to another unit or role (a transfer, a promotion).

    From then on they see and act on the work of their new unit and role; the
    work items they held that it is not go back to their old unit's queue
    (each with a "release" event saying why). Their sign-in stays valid.

    As :func:`deactivate_user`, it waits for the user's actions under way (the
    work they claim is given back with the rest); their later actions are
    authorized by the new unit and role.

    Run again for a user already there who still holds work of another unit
    or role (a run stopped before the last release), it gives that work back.

    Raises
    ------
    NotFound
        When the user or the unit does not exist.
    ActionError
        When the unit has no such role, or the user is already there and holds no other work.
    """
    with _transaction(db) as s:
        user = _user_row(s, username)
        username = user.username  # as the account spells it
        moved = (user.unit_id, user.role) != (unit, role)
        row = _unit_and_role(s, unit, role)
        if moved:
            user.unit_id, user.role = unit, role
            if row.level != "commune":  # a commune's officer moved to the district works for no commune
                user.commune = ""
            s.add(user)
        if _PAUSE_IN is not None:
            _pause_hook("move", s)  # tests: the account changed, not committed yet
        uid, name, active = user.id, user.full_name or user.username, user.active
        title = (row.roles or {}).get(role, role)
        where = row.short or row.name
        merged = _merged_units(s)
    # Work of a unit merged into the new one is the new unit's work (quytrinh unit transfer moves it there, and
    # keeps it with its holder): moving the staff of a merged unit first keeps their work with them.
    def keep(item: Any) -> bool:
        return (merged.get(item.unit_id, item.unit_id), item.role) == (unit, role)

    released = _release_held(db, uid, f"{name} đã chuyển sang {where} ({title})", now=now, calendar=calendar,
                             keep=keep)
    if not moved and not released:
        raise ActionError(f"user '{username}' is already {unit}/{role}")
    with _reading(db) as s:
        held = s.exec(select(WorkItem, Dossier.code)
                      .join(Dossier, Dossier.id == WorkItem.dossier_id)  # type: ignore[arg-type]
                      .where(WorkItem.assignee_id == uid, WorkItem.state == ITEM_CLAIMED,
                             WorkItem.unit_id != unit).order_by(WorkItem.id)).all()
    kept = [ReleasedItem(it.id, code, it.step_name, it.unit_id) for it, code in held  # type: ignore[arg-type]
            if it.unit_id in merged and keep(it)]
    return UserChange(username, name, unit, role, active, released, kept)


def _release_held(db: Any, user_id: int | None, reason: str, *, now: dt.datetime, calendar: Any,
                  keep: Any = None) -> list[ReleasedItem]:
    """Give back to their units the work items ``user_id`` holds (but those ``keep`` says), one action each;
    ``reason`` (lower case) says why, in the events.

    An item at a merged unit goes back to the queue of the unit that does its work now (the end of the
    ``merged_into`` chain), as :func:`transfer_unit_work` would move it, with a ``transfer`` event saying
    so: nobody works in the merged unit's queue any more.

    Called after the account's change committed: the user's actions that were under way then committed
    before it (:func:`_user_row` waited for them), and later ones were refused, so what the user holds is
    what is read here (it is read again until nothing new is left: one more read, a safety net).
    """
    with _reading(db) as s:
        rows = {r.id: r for r in s.exec(select(UnitRow)).all()}
    successors = _successors_from([(r.id, r.merged_into) for r in rows.values()])
    out: list[ReleasedItem] = []
    tried: set[int] = set()
    while True:
        with rawdb.read(db) as tx:
            held = [it for it in tx.fetch(_ITEMS, f"SELECT {_ITEMS.select_list} FROM work_items "
                                                  f"WHERE state = ? AND assignee_id = ? ORDER BY id",
                                          (ITEM_CLAIMED, user_id))
                    if it.id not in tried and (keep is None or not keep(it))]
        if not held:
            return out
        tried.update(it.id for it in held)
        for it in held:
            dest = rows.get(successors.get(it.unit_id, ""))
            if dest is None or (it.role and it.role not in (dest.roles or {})):
                out += _release_each(db, user_id, [it], f"Trả về đơn vị: {reason}", now=now, calendar=calendar)
                continue
            why = f"{reason[:1].upper()}{reason[1:]}; {_merge_reason(rows, it.unit_id)}"
            for attempt in (1, 2):
                try:
                    moved = _transfer_item(db, it.id, it.unit_id, dest, dest.short or dest.name, why, now,
                                           give_back=user_id)
                except StaleVersion:  # pragma: no cover - another action on the dossier at that very moment
                    if attempt == 2:
                        raise
                    continue
                if moved is not None:
                    out.append(ReleasedItem(it.id, moved.dossier_code, it.step_name, dest.id, it.unit_id))
                break


def _release_each(db: Any, user_id: int | None, held: list[Any], why: str, *, now: dt.datetime,
                  calendar: Any) -> list[ReleasedItem]:
    """Release each of ``held`` (rows as read) by the system, with ``why``, if ``user_id`` still holds it."""
    class NotHeld(Exception):
        pass

    def still_theirs(tx: rawdb.Tx, it: Any, who: Actor) -> None:
        if it.assignee_id != user_id:
            raise NotHeld

    out = []
    for item in held:
        for attempt in (1, 2):
            try:
                res = _item_action(db, "release", SYSTEM, item.id,
                                   lambda it, defn, item_id=item.id: machine.Assign(item_id, None, why),
                                   now=now, expected_version=None, idempotency_key=None, params={},
                                   calendar=calendar, authorize=still_theirs)
            except (IllegalAction, NotHeld):  # closed or given to someone else meanwhile: not theirs to give back
                break
            except StaleVersion:  # pragma: no cover - another action on the dossier at that very moment
                if attempt == 2:
                    raise
                continue
            out.append(ReleasedItem(item.id, res.dossier_code, item.step_name, item.unit_id))
            break
    return out


# --------------------------------------------------------------------------- merged units: moving their work


@dataclass(frozen=True)
class TransferredItem:
    """A work item moved to another unit by :func:`transfer_unit_work`."""

    item_id: int
    dossier_code: str
    step_name: str
    holder: str | None = None     # username who keeps it: a member of the new unit with the step's role
    returned: str | None = None   # username whose claim ended: the item waits in the new unit's queue


@dataclass(frozen=True)
class UnitTransfer:
    """What :func:`transfer_unit_work` did."""

    unit: str
    unit_name: str
    successor: str
    successor_name: str
    merged: bool   # ``unit`` was merged into ``successor`` (units.yaml), rather than named with ``to``
    moved: list[TransferredItem] = field(default_factory=list)
    apologies: list[int] = field(default_factory=list)   # draft apologies (form 04) moved to the new unit's head
    left: list[int] = field(default_factory=list)   # items opened meanwhile for a role the new unit lacks


def _transfer_target(rows: Mapping[str, UnitRow], unit: str, to: str | None) -> tuple[UnitRow, UnitRow, bool]:
    """The unit, the unit its work goes to, and whether that is its merged_into (else ``to``); raises when
    either does not exist, there is no successor, ``to`` is not the successor units.yaml gives, or the
    successor cannot take the work."""
    successors = _successors_from([(r.id, r.merged_into) for r in rows.values()])
    src = rows.get(unit)
    if src is None:
        merged = sorted(successors)
        raise NotFound(f"transfer: unit '{unit}' does not exist; "
                       + _closest_unit(unit, rows, f"merged units: {', '.join(merged)}" if merged else
                                       "no unit was merged into another (units.yaml merged_into)"))
    if src.kind in NO_SUCCESSOR_KINDS:
        raise ActionError(f"transfer: unit '{unit}' is a partner agency or the applicant (kind {src.kind}); only "
                          f"the work of a unit of the administration (one_stop, office, leadership or clerk) is "
                          f"transferred")
    if to is None:
        if not src.merged_into:
            raise ActionError(f"transfer: unit '{unit}' was not merged into another unit (units.yaml gives it no "
                              f"merged_into); write merged_into in units.yaml and run quytrinh publish, or name the "
                              f"unit that takes its work with --to")
        to = successors[unit]
        if to not in rows:
            raise NotFound(f"transfer: unit '{unit}' was merged into '{to}', which does not exist; "
                           f"known units: {', '.join(sorted(rows))}")
    else:
        if to not in rows:
            able = sorted(r.id for r in rows.values() if r.id != unit and not r.merged_into
                          and r.kind not in NO_SUCCESSOR_KINDS and r.level == src.level)
            raise NotFound(f"transfer: unit '{to}' does not exist; "
                           + _closest_unit(to, rows, f"units that can take the work of '{unit}': "
                                                     f"{', '.join(able) or 'none'}"))
        if to == unit:
            raise ActionError(f"transfer: unit '{unit}' cannot take over its own work; name another unit with --to")
        if rows[to].merged_into:
            raise ActionError(f"transfer: unit '{to}' was itself merged into '{successors[to]}'; "
                              f"transfer to '{successors[to]}'")
        if src.merged_into and successors[unit] != to:
            # Later steps of its dossiers open at the successor: the open ones must go there too.
            raise ActionError(f"transfer: unit '{unit}' was merged into '{successors[unit]}' (units.yaml), not "
                              f"'{to}'; its work goes to '{successors[unit]}': leave out --to, or change merged_into "
                              f"in units.yaml and run quytrinh publish")
    dest = rows[to]
    if dest.kind in NO_SUCCESSOR_KINDS:
        raise ActionError(f"transfer: unit '{to}' is of kind {dest.kind}; the work of '{unit}' may only go to a unit "
                          f"of the administration (one_stop, office, leadership or clerk)")
    if dest.level != src.level:
        raise ActionError(f"transfer: unit '{to}' is of level '{dest.level}', not '{src.level}' as '{unit}'; "
                          f"the work goes to a unit of the same level")
    return src, dest, to == successors.get(unit)


def _closest_unit(unit: str, rows: Mapping[str, UnitRow], otherwise: str) -> str:
    """``did you mean 'x'?`` for the unit id closest to ``unit`` (as the linter judges it), else ``otherwise``."""
    from engine.lint import closest_unit

    best = closest_unit(unit, rows)
    return f"did you mean '{best}'?" if best else otherwise


def _merge_reason(rows: Mapping[str, UnitRow], unit: str) -> str:
    """``Phòng A đã hợp nhất vào Phòng B[, rồi vào Phòng C]``: the ``merged_into`` chain of ``unit``."""
    chain = [unit]
    while rows[chain[-1]].merged_into and rows[chain[-1]].merged_into in rows and len(chain) <= len(rows):
        chain.append(rows[chain[-1]].merged_into)  # type: ignore[arg-type]
    names = [rows[u].short or rows[u].name for u in chain]
    return f"{names[0]} đã hợp nhất vào {names[1]}" + "".join(f", rồi vào {n}" for n in names[2:])


def _open_at_unit(tx: rawdb.Tx, unit: str) -> list[Any]:
    """The open (or claimed) work items at ``unit``, in id order."""
    return tx.fetch(_ITEMS, f"SELECT {_ITEMS.select_list} FROM work_items WHERE unit_id = ? "
                            f"AND state IN ({', '.join(repr(st) for st in OPEN_ITEM_STATES)}) ORDER BY id", (unit,))


def transfer_unit_work(db: Any, unit: str, *, to: str | None = None, now: dt.datetime) -> UnitTransfer:
    """Move every open work item of ``unit`` to the unit that took over its work: ``to``, else the end of
    its ``merged_into`` chain (units.yaml, seeded by :func:`seed_organisation`).

    Each item moves in its own transaction, as an action would (the dossier's version is bumped): its unit
    changes, its step, role, opening, due instant and clock do not (the SLA clock runs on); a ``transfer``
    event by the system says why, and the new unit is told (``notify_unit``). A claimed item keeps its
    holder when they are now an active member of the new unit with the step's role (``quytrinh user move``
    first); otherwise it goes back to the new unit's queue. Draft apologies (form 04) of open dossiers that
    ``unit``'s head was to sign go to the new unit's head, who is told. Run again, it moves what is left (an
    interrupted run, or work opened meanwhile by a process that had not seen the merge yet); with nothing left
    it moves nothing.

    Raises
    ------
    NotFound
        When ``unit``, ``to`` or the unit ``unit`` was merged into does not exist.
    ActionError
        When ``unit`` has no successor (no merged_into and no ``to``), was merged into another unit than
        ``to`` (its dossiers' next steps open at its successor: its open work goes there too), is a partner
        agency or the applicant, ``to`` is ``unit`` or was itself merged, the successor is a partner agency
        (``external``) or the applicant (``citizen``), of another level, or lacks the role of an open item.
        Nothing is changed then.
    """
    now = utc(now)
    with _reading(db) as s:
        rows = {r.id: r for r in s.exec(select(UnitRow)).all()}
    src, dest, merged = _transfer_target(rows, unit, to)
    with rawdb.read(db) as tx:
        waiting = _open_at_unit(tx, unit)
    missing: dict[str, list[int]] = {}
    for it in waiting:
        if it.role and it.role not in (dest.roles or {}):
            missing.setdefault(it.role, []).append(it.id)
    if missing:
        need = "; ".join(f"'{role}' (work items {', '.join(map(str, ids))})" for role, ids in sorted(missing.items()))
        raise ActionError(f"transfer: unit '{dest.id}' lacks roles that open work of '{unit}' needs: {need}; "
                          f"add them to '{dest.id}' in units.yaml and run quytrinh publish")
    src_name, dest_name = src.short or src.name, dest.short or dest.name
    if merged:
        why = _merge_reason(rows, unit)
    else:
        why = f"Công việc đang mở của {src_name} được giao cho {dest_name}"
    done = UnitTransfer(unit, src_name, dest.id, dest_name, merged)
    tried: set[int] = set()
    while True:
        with rawdb.read(db) as tx:
            todo = [it for it in _open_at_unit(tx, unit) if it.id not in tried]
        if not todo:
            break
        for it in todo:
            tried.add(it.id)
            if it.role and it.role not in (dest.roles or {}):
                done.left.append(it.id)
                continue
            for attempt in (1, 2):
                try:
                    moved = _transfer_item(db, it.id, src.id, dest, dest_name, why, now)
                except StaleVersion:  # pragma: no cover - an action on the dossier at that very moment
                    if attempt == 2:
                        raise
                    continue
                if moved is not None:
                    done.moved.append(moved)
                break
    done.apologies.extend(_transfer_apologies(db, src.id, dest, dest_name, why, now))
    return done


def _transfer_item(db: Any, item_id: int, unit: str, dest: UnitRow, dest_name: str, why: str,
                   now: dt.datetime, give_back: int | None = None) -> TransferredItem | None:
    """Move one open work item of ``unit`` to ``dest`` (one transaction); None when it is no longer open there.

    ``give_back``: the user whose work the system gives back (disabled or moved): the item moves only if they
    still hold it, and goes to ``dest``'s queue."""
    with rawdb.write(db) as tx:
        d, items, _ = _load_rows(tx, item_id=item_id, action="transfer")
        it = items[item_id]
        if it.state not in OPEN_ITEM_STATES or it.unit_id != unit:
            return None  # done, cancelled or moved meanwhile
        if give_back is not None and (it.state != ITEM_CLAIMED or it.assignee_id != give_back):
            return None  # given to someone else meanwhile: not theirs to give back
        holder = None
        if it.state == ITEM_CLAIMED and it.assignee_id is not None:
            # share-locked (PostgreSQL): a disable or move of the holder waits for this transfer, then gives back
            # the item it kept for them
            found = tx.fetch(_USERS, f"SELECT {_USERS.select_list} FROM users WHERE id = ?"
                                     + (" FOR SHARE" if tx.pg else ""), (it.assignee_id,))
            holder = found[0] if found else None
        keep = (give_back is None and holder is not None and holder.active and holder.unit_id == dest.id
                and holder.role == it.role)
        bumped = tx.update_row_later(_DOSSIERS, {"version": d.version + 1, "updated_at": now}, "id = ? AND version = ?",
                                     (d.id, d.version))
        if bumped() != 1:  # pragma: no cover - PostgreSQL: another action committed first
            raise StaleVersion(f"transfer: dossier {d.code} changed since version {d.version} (another action won); "
                               f"run the transfer again")
        if _PAUSE_IN is not None:
            _pause_hook("transfer", tx)  # tests: a run killed part-way
        changes: dict[str, Any] = {"unit_id": dest.id}
        if it.state == ITEM_CLAIMED and not keep:
            changes.update(state="open", assignee_id=None, claimed_at=None)
        tx.update_row(_ITEMS, changes, "id = ?", (item_id,))
        name = (holder.full_name or holder.username) if holder is not None else ""
        comment = why  # (the history shows the unit it went to beside the event's name)
        if keep:
            comment += f"; {name} tiếp tục xử lý"
        elif holder is not None:
            comment += f"; việc {name} đang giữ trả về hàng chờ của {dest_name}"
        returned = holder.id if holder is not None and not keep else None
        tx.insert_rows(_EVENTS, [{
            "dossier_id": d.id, "work_item_id": item_id, "at": now, "actor": SYSTEM_USERNAME, "actor_unit": None,
            "action": "transfer", "step_id": it.step_id, "from_status": d.status, "to_status": d.status,
            "to_steps": [], "outcome": None, "comment": comment,
            "data": {"from_unit": unit, "to_unit": dest.id, "from": returned,
                     "holder": holder.id if keep else None}}])  # type: ignore[union-attr]
        version = d.version + 1
        base = {"dossier_code": d.code, "procedure_code": d.procedure_code,
                "definition_version": d.definition_version, "action": "transfer"}
        # The new unit is told (as of an item given back to it); the former holder is not, as when the system
        # gives back the work of a user disabled or moved (the worker has no message for it).
        effects = [("notify_unit", {"step": it.step_id, "unit": dest.id, "role": it.role,
                                    "due_at": it.due_at.isoformat() if it.due_at else None,
                                    "reason": "transferred", "from_unit": unit,
                                    "holder": holder.username if keep else None, **base})]  # type: ignore[union-attr]
        tx.insert_rows(_OUTBOX, [{
            "kind": kind, "dossier_id": d.id, "work_item_id": item_id, "payload": payload,
            "idempotency_key": f"{d.code}:v{version}:{i}:{kind}", "state": OUTBOX_PENDING, "available_at": now,
            "attempts": 0, "lease_owner": None, "lease_until": None, "created_at": now, "completed_at": None,
            "result": None, "last_error": None} for i, (kind, payload) in enumerate(effects)])
        kept = holder.username if keep else None  # type: ignore[union-attr]
        return TransferredItem(item_id, d.code, it.step_name, kept,
                               holder.username if holder is not None and not keep else None)


def _head_told(notices: Sequence[OutboxItem], apology_id: int, dest: str, successors: Mapping[str, str]) -> bool:
    """Whether one of a dossier's ``notify_unit_head`` outbox items (``notices``) tells ``dest``'s head about
    the draft apology ``apology_id`` (reason ``apology_drafted``): delivered to ``dest``'s head (its result's
    ``to``, ``unit/role``), or still to deliver to a unit that is ``dest`` or merged into it (the worker
    delivers a merged unit's notice to its successor, as the timer's notice of a draft made after the merge was
    stored). A notice delivered to another head (the draft made and told before the merge was stored) or
    failed does not count."""
    for o in notices:
        p = o.payload or {}
        if p.get("reason") != "apology_drafted" or p.get("apology") != apology_id:
            continue
        if o.state == OUTBOX_DONE:
            if str((o.result or {}).get("to") or "").split("/")[0] == dest:
                return True
        elif o.state in (OUTBOX_PENDING, OUTBOX_CLAIMED) and successors.get(p.get("unit"), p.get("unit")) == dest:
            return True
    return False


def _transfer_apologies(db: Any, unit: str, dest: UnitRow, dest_name: str, why: str, now: dt.datetime) -> list[int]:
    """Give the draft apologies of open dossiers that ``unit``'s head was to sign to ``dest``'s head
    (an event each, and the head told as when the timer drafts one: ``notify_unit_head``, reason
    ``apology_drafted``, unless a notice of the draft already told them or is on its way to them:
    :func:`_head_told`); their ids."""
    moved: list[int] = []
    head = _head_role(dest.roles or {})
    with _transaction(db) as s:
        drafts = s.exec(select(Apology, Dossier).join(Dossier, Dossier.id == Apology.dossier_id)  # type: ignore[arg-type]
                        .where(Apology.unit_id == unit, Apology.state == "draft",
                               Dossier.closed_at.is_(None), Dossier.finished_at.is_(None))  # type: ignore[union-attr]
                        .order_by(Apology.id)).all()
        successors = _merged_units(s) if drafts else {}
        notices: dict[int, list[OutboxItem]] = {}
        if drafts:
            for o in s.exec(select(OutboxItem).where(
                    OutboxItem.kind == "notify_unit_head",
                    OutboxItem.dossier_id.in_({d.id for _, d in drafts}))).all():  # type: ignore[union-attr]
                notices.setdefault(o.dossier_id, []).append(o)  # type: ignore[arg-type]
        for ap, d in drafts:
            ap.unit_id = dest.id
            s.add(ap)
            s.add(Event(dossier_id=d.id, at=now, actor=SYSTEM_USERNAME, action="transfer", from_status=d.status,
                        to_status=d.status, comment=f"Phiếu xin lỗi (mẫu 04, dự thảo) do lãnh đạo {dest_name} ký. "
                                                    f"{why}",
                        data={"from_unit": unit, "to_unit": dest.id, "apology": ap.id}))
            moved.append(ap.id)  # type: ignore[arg-type]
            if _head_told(notices.get(d.id, []), ap.id, dest.id, successors):  # type: ignore[arg-type]
                continue  # told once is enough: no second notice of the same draft
            s.add(OutboxItem(kind="notify_unit_head", dossier_id=d.id, work_item_id=None,
                             payload={"reason": "apology_drafted", "apology": ap.id,
                                      "due_at": utc(ap.due_at).isoformat(),
                                      "proposed_due_at": utc(ap.proposed_due_at).isoformat(),
                                      "from_unit": unit, "dossier_code": d.code, "procedure_code": d.procedure_code,
                                      "unit": dest.id, "role": head},
                             idempotency_key=f"transfer:apology:{ap.id}:{dest.id}:head", state=OUTBOX_PENDING,
                             available_at=now, created_at=now))
    return moved


# --------------------------------------------------------------------------- definitions

#: The cache of :func:`definition_of` (shared with the reports: one parse per version per process).
_DEF_CACHE, _DEF_LOCK = STORED_DEFINITIONS, STORED_LOCK


def _content_of(defn: Definition) -> str:
    return dump_yaml(definition_to_data(defn))


def publish_definition(db: Any, defn: Definition, *, now: dt.datetime, by: str = "") -> DefinitionVersion:
    """Store ``defn`` (expanded) as the procedure's newest version, unless it is unchanged.

    Versions are numbered 1, 2, ... per procedure code in publication order.
    Dossiers pin the newest version when they are registered and keep it
    when a newer one is published.

    Returns
    -------
    DefinitionVersion
        The new row, or the newest existing one when its content is identical.
    """
    content = _content_of(defn)
    digest = hashlib.sha256(content.encode()).hexdigest()
    with _transaction(db) as s:
        latest = _latest_version(s, defn.key)
        if latest is not None and latest.content_hash == digest:
            return latest
        row = DefinitionVersion(procedure_code=defn.key, version=(latest.version + 1) if latest else 1,
                                name=defn.name, level=defn.level, status=defn.status, content=content,
                                content_hash=digest, source=defn.source, published_at=now, published_by=by)
        s.add(row)
        s.flush()
        return row


def _latest_version(s: Session, code: str) -> DefinitionVersion | None:
    return s.exec(select(DefinitionVersion).where(DefinitionVersion.procedure_code == code)
                  .order_by(DefinitionVersion.version.desc())).first()


def definition_of(row: DefinitionVersion) -> Definition:
    """The :class:`Definition` stored in a version row (cached: :func:`engine.definition.stored_definition`)."""
    return stored_definition(row)


def current_definition(db: Any, code: str) -> tuple[DefinitionVersion, Definition]:
    """The newest published version of a procedure.

    Raises
    ------
    NotFound
        When the procedure was never published.
    """
    with _reading(db) as s:
        row = _latest_version(s, code)
        if row is None:
            raise NotFound(f"procedure '{code}' is not published (publish it with publish_definition, "
                           f"or `quytrinh dossier receive` from a catalogue that holds it)")
        return row, definition_of(row)


# --------------------------------------------------------------------------- transactions


def _default_calendar() -> Any:
    from engine.calendar import WorkCalendar

    return WorkCalendar.default()


@contextmanager
def _transaction(db: Any) -> Iterator[Session]:
    if isinstance(db, Session):
        yield db
        db.flush()
        return
    store = as_store(db)
    with store.write() as s:
        yield s


@contextmanager
def _reading(db: Any) -> Iterator[Session]:
    if isinstance(db, Session):
        yield db
        return
    store = as_store(db)
    with store.session() as s:
        yield s


#: The action the test hook pauses in, read once: the tests set it in a child process's environment
#: (``os.environ.get`` costs a few microseconds per action).
_PAUSE_IN = os.environ.get(PAUSE_HOOK_ENV) or None


def _pause_hook(action: str, tx: rawdb.Tx | Session) -> None:
    import time

    if _PAUSE_IN == action:
        # the writes so far reach the database (and hold its locks) before the pause
        tx.flush() if isinstance(tx, Session) else tx.sync()
        marker = os.environ.get("QUYTRINH_TEST_PAUSE_MARKER")
        if marker:
            with open(marker, "w") as fh:
                fh.write("paused\n")
        time.sleep(float(os.environ.get("QUYTRINH_TEST_PAUSE_SECONDS", "30")))


def _request_hash(action: str, params: dict[str, Any]) -> str:
    text = json.dumps({"action": action, **params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ActionResult:
    """What an action did, as returned to the caller (and replayed for a repeated request)."""

    action: str
    dossier_id: int
    dossier_code: str
    version: int
    status: int
    item_id: int | None = None
    opened: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    outbox: list[int] = field(default_factory=list)
    replayed: bool = False

    @property
    def status_label(self) -> str:
        return Status(self.status).label

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("replayed")
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], replayed: bool = False) -> "ActionResult":
        return cls(**data, replayed=replayed)


def _idempotent(db: Any, action: str, actor: Actor, key: str | None, params: dict[str, Any],
                now: dt.datetime, body: Any) -> ActionResult:
    """Run ``body(tx)`` (a :class:`engine.rawdb.Tx`) once per idempotency key (see the module docstring)."""
    if key is None:
        with rawdb.write(db) as tx:
            return body(tx)
    digest = _request_hash(action, {**params, "actor": actor.username})
    for attempt in (1, 2):
        try:
            with rawdb.write(db) as tx:
                found = tx.fetch(_REQUESTS, f"SELECT {_REQUESTS.select_list} FROM requests WHERE key = ?", (key,))
                if found:
                    rec = found[0]
                    if rec.request_hash != digest:
                        raise DuplicateRequest(
                            f"idempotency key '{key}' was already used by {rec.actor} for a different "
                            f"request ({rec.action} at {rec.at.isoformat()}); use a new key")
                    return ActionResult.from_dict(rec.result, replayed=True)
                # Claim the key first: a concurrent twin blocks here, then sees the record.
                values = {"key": key, "action": action, "request_hash": digest, "result": {},
                          "actor": actor.username, "at": now}
                tx.execute(_REQUESTS.insert_sql(tuple(values)), tx.bind(_REQUESTS, values))
                result = body(tx)
                tx.update_row(_REQUESTS, {"result": result.as_dict()}, "key = ?", (key,))
                return result
        except IntegrityError:
            # A concurrent twin committed the same key first: the next attempt replays its
            # result. Any other integrity error is not ours to hide.
            if isinstance(db, Session):
                raise
            with _reading(db) as s:
                twin = s.get(RequestRecord, key) is not None
            if not twin:
                raise
            if attempt == 2:  # pragma: no cover - the twin's record exists, so attempt 2 replays it
                raise StaleVersion(f"idempotency key '{key}' is being used by a concurrent request; retry") from None
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- loading and saving


def dossier_missing(ref: int | str) -> NotFound:
    """The error of a dossier that does not exist (by id or code ``ref``). The web app and the API answer it
    too for a dossier that the user may not see: a probe cannot tell one from the other."""
    return NotFound(f"dossier '{ref}' does not exist")


def item_missing(action: str, item_id: int) -> NotFound:
    """The error of ``action`` on a work item that does not exist (see :func:`dossier_missing`)."""
    return NotFound(f"{action}: work item {item_id} does not exist")


def apology_missing(apology_id: int) -> NotFound:
    """The error of an apology (form 04) that does not exist (see :func:`dossier_missing`)."""
    return NotFound(f"apology {apology_id} does not exist")


def _find_dossier(s: Session, ref: int | str, *, lock: bool = False) -> Dossier:
    stmt = select(Dossier)
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        stmt = stmt.where(sa.or_(Dossier.id == int(ref), Dossier.code == str(ref)))
    else:
        stmt = stmt.where(Dossier.code == ref)
    row = s.exec(stmt).first()
    if row is None:
        raise dossier_missing(ref)
    return row


_STATUS = {int(s): s for s in Status}


def _state_of(d: Any, items: Sequence[Any]) -> machine.DossierState:
    """The machine's view of a dossier and its work items (rows as loaded by :func:`_load_rows`)."""
    return machine.DossierState(
        status=_STATUS[d["status"]], channel=d["channel"], registered_at=d["registered_at"],
        received_at=d["received_at"], clock_started_at=d["clock_started_at"], due_at=d["due_at"],
        original_due_at=d["original_due_at"], paused_at=d["paused_at"], paused_minutes=d["paused_minutes"],
        clock_policy=d["clock_policy"], clock_restarts=d["clock_restarts"], supplements=d["supplements"],
        finished_at=d["finished_at"], closed_at=d["closed_at"], result=d["result"], timeliness=d["timeliness"],
        route_counts=dict(d["route_counts"] or {}), joins=json.loads(json.dumps(d["joins"])) if d["joins"] else {},
        clock=d["clock"],
        items=[machine.ItemState(
            key=w["id"], step=w["step_id"], state=w["state"], opened_at=w["opened_at"], due_at=w["due_at"],
            allotted=w["allotted_minutes"], assignee=w["assignee_id"], claimed_at=w["claimed_at"],
            closed_at=w["closed_at"], outcome=w["outcome"], spent=w["spent_minutes"], paused=w["paused_minutes"],
            timeliness=w["timeliness"], branch=w["branch"], attempt=w["attempt"], clock=w["clock"]) for w in items],
    )


_DOSSIER_FIELDS = ("status", "received_at", "clock_started_at", "due_at", "original_due_at", "paused_at",
                   "paused_minutes", "clock_policy", "clock_restarts", "supplements", "finished_at",
                   "closed_at", "result", "timeliness", "route_counts", "joins", "clock")


def _dossier_values(state: machine.DossierState) -> dict[str, Any]:
    values = {f: getattr(state, f) for f in _DOSSIER_FIELDS}
    values["status"] = int(state.status)
    return values


#: ItemState field -> work_items column, for what the machine may change.
_ITEM_FIELDS = (("state", "state"), ("outcome", "outcome"), ("assignee", "assignee_id"),
                ("claimed_at", "claimed_at"), ("closed_at", "closed_at"), ("due_at", "due_at"),
                ("allotted", "allotted_minutes"), ("spent", "spent_minutes"), ("paused", "paused_minutes"),
                ("timeliness", "timeliness"), ("branch", "branch"), ("attempt", "attempt"), ("clock", "clock"))


_DOSSIERS, _ITEMS, _EVENTS, _OUTBOX, _REQUESTS = (
    rawdb.table(n) for n in ("dossiers", "work_items", "events", "outbox", "requests"))


class _SystemEvent(machine.MachineEvent):
    """An event of an action that the system records (:func:`_save`): what the rules did along with it."""


_SYSTEM_ACTOR = {"actor": SYSTEM_USERNAME, "actor_unit": None}


def _save(tx: rawdb.Tx, action: str, actor: Actor, d: Any, items: dict[int, Any], defn: Definition,
          tr: machine.Transition, now: dt.datetime, *, expected_version: int | None,
          acted_on: int | None, successors: Mapping[str, str], fresh: bool = False,
          moved: Mapping[int, str] | None = None) -> ActionResult:
    """Write a transition: the version bump first (the lock), then items, events and outbox.

    ``d`` and ``items`` are the rows as loaded (attribute access by column
    name). Only the work items the transition changed are updated; new ones,
    the events and the outbox items are inserted. A new item of a step whose
    unit was merged opens at its successor (``successors``, from
    :func:`unit_successors`), and the outbox tells the unit an item is at.
    ``moved``: existing items (by id) that go to another unit with this
    transition (a release at a merged unit: :func:`release`). An event of
    :class:`_SystemEvent` is the system's (what the rules did with the action).
    """
    if not fresh:
        version = d.version if expected_version is None else expected_version
        # Only the columns that changed: an index whose column is not set is not touched (SQLite
        # writes each page an action dirties to the WAL; pages are most of a commit's cost).
        state = tr.state
        changed = {f: v for f in _DOSSIER_FIELDS if (v := getattr(state, f)) != d[f]}
        if "status" in changed:
            changed["status"] = int(state.status)
        # Read after the next statements were sent (PostgreSQL pipelines them); nothing commits unless 1.
        bumped = tx.update_row_later(_DOSSIERS, {**changed, "version": version + 1, "updated_at": now},
                                     "id = ? AND version = ?", (d.id, version))
        new_version = version + 1
    else:
        bumped, new_version = None, d.version
    if _PAUSE_IN is not None:
        _pause_hook(action, tx)  # tests: die here, after the first write of the transaction
    steps = machine.steps_by_id(defn)
    key_to_id: dict[int, int] = {}
    unit_of: dict[int, str | None] = {}  # machine item key -> the unit the item is (or opens) at
    new_keys, new_rows = [], []
    for it in tr.state.items:
        step = steps[it.step]
        if it.key < 0:
            unit = unit_of[it.key] = successors.get(step.unit, step.unit)  # type: ignore[arg-type]
            values = {col: getattr(it, f) for f, col in _ITEM_FIELDS}
            values.update(dossier_id=d.id, step_id=it.step, step_name=step.name, kind=step.kind,
                          unit_id=unit, role=step.role, opened_at=it.opened_at)
            new_keys.append(it.key)
            new_rows.append(values)
        else:
            key_to_id[it.key] = it.key
            row = items[it.key]
            unit_of[it.key] = row["unit_id"]  # (moved to a successor by a transfer: not its step's unit)
            if it.state == row["state"] and it.state not in OPEN_ITEM_STATES:
                continue  # closed before this action: the machine never changes a closed item
            changed = {col: v for f, col in _ITEM_FIELDS if (v := getattr(it, f)) != row[col]}
            if moved and it.key in moved:
                changed["unit_id"] = unit_of[it.key] = moved[it.key]
            if changed:
                tx.update_row_later(_ITEMS, changed, "id = ?", (it.key,))
    if new_rows:  # the new items' ids (their events and outbox items name them)
        key_to_id.update(zip(new_keys, tx.insert_rows(_ITEMS, new_rows)))
    if bumped is not None and bumped() != 1:
        raise StaleVersion(f"{action}: dossier {d.code} changed since version {version} "
                           f"(another action won); reload it and try again")
    event_ids = tx.insert_rows_later(_EVENTS, [
        {"dossier_id": d.id, "work_item_id": key_to_id.get(ev.item) if ev.item is not None else None,
         "at": now, **(_SYSTEM_ACTOR if isinstance(ev, _SystemEvent) else
                        {"actor": actor.username, "actor_unit": actor.unit}), "action": ev.action, "step_id": ev.step,
         "from_status": ev.from_status, "to_status": ev.to_status, "to_steps": list(ev.to_steps),
         "outcome": ev.outcome, "comment": ev.comment, "data": ev.data}
        for ev in tr.events])
    outbox_rows = []
    for i, eff in enumerate(tr.effects):
        item_id = key_to_id.get(eff.item) if eff.item is not None else None
        # an effect on an item concerns the unit the item is at (the machine names its step's unit)
        unit = unit_of[eff.item] if item_id is not None else eff.payload.get("unit")
        if unit is None and eff.kind == "produce_form":
            # form 02 (of the applicant's step, which has no unit) and the stop notice: the one-stop unit's
            unit = _start_unit(defn, successors)
        payload = {**eff.payload, "dossier_code": d.code, "procedure_code": d.procedure_code,
                   "definition_version": d.definition_version, "unit": unit, "action": action}
        outbox_rows.append({
            "kind": eff.kind, "dossier_id": d.id, "work_item_id": item_id, "payload": payload,
            "idempotency_key": f"{d.code}:v{new_version}:{i}:{eff.kind}", "state": OUTBOX_PENDING,
            "available_at": now, "attempts": 0, "lease_owner": None, "lease_until": None, "created_at": now,
            "completed_at": None, "result": None, "last_error": None})
    outbox_ids = tx.insert_rows_later(_OUTBOX, outbox_rows)
    return ActionResult(action=action, dossier_id=d.id, dossier_code=d.code, version=new_version,
                        status=int(tr.state.status), item_id=key_to_id.get(acted_on) if acted_on else None,
                        opened=[key_to_id[k] for k in tr.opened], events=event_ids(), outbox=outbox_ids())


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


def _load(s: Session, ref: int | str) -> tuple[Dossier, dict[int, WorkItem], Definition]:
    d = _find_dossier(s, ref)
    rows = s.exec(select(WorkItem).where(WorkItem.dossier_id == d.id).order_by(WorkItem.id)).all()
    row = s.get(DefinitionVersion, d.definition_id)
    assert row is not None
    return d, {w.id: w for w in rows}, definition_of(row)  # type: ignore[misc]


def _definition_by_hash(tx: rawdb.Tx, definition_id: int, content_hash: str) -> Definition:
    with _DEF_LOCK:
        cached = _DEF_CACHE.get((definition_id, content_hash))
    if cached is not None:
        return cached
    rows = tx.execute("SELECT id, procedure_code, version, content_hash, content FROM definition_versions "
                      "WHERE id = ?", (definition_id,)).fetchall()
    assert rows, definition_id
    return definition_of(rawdb.Row(zip(("id", "procedure_code", "version", "content_hash", "content"), rows[0])))


#: A dossier's work items, each with the dossier and its definition's hash, found by one of the items
#: (one statement, so one snapshot on PostgreSQL too).
_ITEMS_OF_ITEM_SQL = (f"SELECT {_ITEMS.select_list}, {_DOSSIERS.select_list}, definition_versions.content_hash "
                      f"FROM work_items JOIN dossiers ON dossiers.id = work_items.dossier_id "
                      f"JOIN definition_versions ON definition_versions.id = dossiers.definition_id "
                      f"WHERE work_items.dossier_id = (SELECT dossier_id FROM work_items WHERE id = ?) "
                      f"ORDER BY work_items.id")
_N_ITEM_COLUMNS = len(_ITEMS.columns)
_ITEMS_OF_DOSSIER_SQL = f"SELECT {_ITEMS.select_list} FROM work_items WHERE dossier_id = ? ORDER BY id"
_DOSSIER_SQL = (f"SELECT {_DOSSIERS.select_list}, definition_versions.content_hash FROM dossiers "
                f"JOIN definition_versions ON definition_versions.id = dossiers.definition_id WHERE ")


def _load_rows(tx: rawdb.Tx, *, item_id: int | None = None, ref: int | str | None = None,
               action: str = "") -> tuple[Any, dict[int, Any], Definition]:
    """What an action needs: the dossier (by one of its work items, or by id/code), its work
    items by id, and its definition (two queries; the definition comes from the cache)."""
    extra = ("definition_hash",)
    if item_id is not None:
        found = tx.execute(_ITEMS_OF_ITEM_SQL, (item_id,)).fetchall()
        if not found:
            raise item_missing(action, item_id)
        n = _N_ITEM_COLUMNS
        rows = [tx.decode(_ITEMS, _ITEMS.columns, values[:n]) for values in found]
        d = tx.decode(_DOSSIERS, _DOSSIERS.columns + extra, found[0][n:])
    else:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            found = tx.fetch(_DOSSIERS, _DOSSIER_SQL + "(dossiers.id = ? OR dossiers.code = ?) ORDER BY dossiers.id",
                             (int(ref), str(ref)), extra)
        else:
            found = tx.fetch(_DOSSIERS, _DOSSIER_SQL + "dossiers.code = ?", (ref,), extra)
        if not found:
            raise dossier_missing(ref)
        d = found[0]
        rows = tx.fetch(_ITEMS, _ITEMS_OF_DOSSIER_SQL, (d.id,))
    return d, {w.id: w for w in rows}, _definition_by_hash(tx, d.definition_id, d.definition_hash)


def _check_version(action: str, d: Any, expected: int | None) -> None:
    if expected is not None and expected != d.version:
        raise StaleVersion(f"{action}: dossier {d.code} is at version {d.version}, not {expected} "
                           f"(it changed since you read it); reload it and try again")


# --------------------------------------------------------------------------- authorization


def _start_unit(defn: Definition, successors: Mapping[str, str]) -> str | None:
    """The one-stop unit of a dossier: its definition's reception unit, or that unit's successor if merged."""
    unit = defn.start.unit
    return successors.get(unit, unit) if unit else unit


def _may_act_on_item(action: str, actor: Actor, item: WorkItem, defn: Definition,
                     successors: Mapping[str, str]) -> None:
    """Raise NotAuthorized unless ``actor`` may act on ``item``."""
    if item.kind == "automated":
        if actor.is_system:
            return
        raise NotAuthorized(f"{action}: work item {item.id} (step '{item.step_id}') is an automated step; "
                            f"only the system completes it")
    if item.kind == "citizen":
        one_stop = _start_unit(defn, successors)
        if actor.is_system or actor.unit == one_stop:
            return
        what = "financial obligations" if defn.step(item.step_id).financial else "supplement"
        raise NotAuthorized(f"{action}: {actor} may not record the applicant's {what} for work item "
                            f"{item.id}; the one-stop unit '{one_stop}' does")
    if actor.is_system:
        raise NotAuthorized(f"{action}: work item {item.id} (step '{item.step_id}') is staff work "
                            f"of {item.unit_id}/{item.role}; the system may not do it")
    if (actor.unit != item.unit_id or actor.role != item.role) and not holds_merged_work(actor, item, successors):
        raise NotAuthorized(f"{action}: {actor} may not act on work item {item.id} (step '{item.step_id}'); "
                            f"it belongs to {item.unit_id}/{item.role}")
    if item.assignee_id is not None and item.assignee_id != actor.user_id:
        raise NotAuthorized(f"{action}: work item {item.id} (step '{item.step_id}') is claimed by another "
                            f"user (id {item.assignee_id})")


def holds_merged_work(actor: Actor, item: Any, successors: Mapping[str, str]) -> bool:
    """Whether ``actor`` holds ``item``, a claimed work item still at a unit merged into the actor's unit
    (units.yaml ``merged_into``, chains resolved; ``successors`` as :func:`unit_successors` gives them), with
    the item's role: a member of the merged unit moved to its successor (``quytrinh user move``) before
    ``quytrinh unit transfer`` ran. The item is the successor's work already, and stays theirs (the transfer
    keeps it with them): they act on it as on their own unit's. Nobody else gains anything: not the
    successor's other staff, not its head, not the holder in another role."""
    return (actor.user_id is not None and item.state == ITEM_CLAIMED and item.assignee_id == actor.user_id
            and item.unit_id in successors and successors[item.unit_id] == actor.unit and item.role == actor.role)


def _may_act_on_dossier(action: str, actor: Actor, defn: Definition, *, system_ok: bool,
                        successors: Mapping[str, str]) -> None:
    one_stop = _start_unit(defn, successors)
    if actor.is_system:
        if system_ok:
            return
        raise NotAuthorized(f"{action}: only staff of the one-stop unit '{one_stop}' may do this")
    if actor.unit != one_stop:
        raise NotAuthorized(f"{action}: {actor} may not {action} this dossier; the one-stop unit "
                            f"'{one_stop}' does")


# --------------------------------------------------------------------------- actions


def submit(db: Any, actor: Actor, procedure_code: str, *, applicant: str, now: dt.datetime,
           channel: str = "online", contact: str = "", commune: str = "", idempotency_key: str | None = None,
           calendar: Any = None) -> ActionResult:
    """Register a dossier (status 1): the reception step opens at the one-stop unit.

    The legal clock starts only when the reception step is completed with its
    accepting outcome. The actor is the system (portal) or one-stop staff.
    ``commune``: the commune whose People's Committee a commune-level dossier
    belongs to (its forms are headed by it).

    Raises
    ------
    NotFound, NotAuthorized, IllegalAction, DuplicateRequest
    """
    now = utc(now)
    params = {"procedure": procedure_code, "applicant": applicant, "channel": channel, "contact": contact}
    if commune:  # (only when given: a request made before communes were recorded keeps its hash)
        params["commune"] = commune

    def body(tx: rawdb.Tx) -> ActionResult:
        acting = _acting(tx, "submit", actor)  # (answered with the next read)
        row, defn = _published(tx, procedure_code)
        who = acting()
        successors = unit_successors(db, tx)
        _may_act_on_dossier("submit", who, defn, system_ok=True, successors=successors)
        if who.is_system is False and who.role != defn.start.role:
            raise NotAuthorized(f"submit: {who} may not register dossiers; {_start_unit(defn, successors)}/"
                                f"{defn.start.role} does")
        cal = calendar or _default_calendar()
        tr = machine.register(defn, channel, now, cal)
        of = _own_commune("submit", who, defn, commune)
        d = _new_dossier(tx, row, defn, tr, applicant, contact, now, of, _start_unit(defn, successors))
        return _save(tx, "submit", who, d, {}, defn, tr, now, expected_version=None, acted_on=None,
                     successors=successors, fresh=True)

    return _idempotent(db, "submit", actor, idempotency_key, params, now, body)


_NEW_DOSSIER_COLUMNS = ("procedure_code", "definition_id", "definition_version", "channel", "applicant",
                        "applicant_contact", "commune", "ledger_book", "ledger_year", "registered_at", "version",
                        "updated_at", *_DOSSIER_FIELDS)
#: The dossier's number in its book: the book's last one plus one (on ux_dossiers_ledger_no; the
#: parameters are the book and the year, after the columns').
_NEXT_LEDGER_NO = "(SELECT coalesce(max(ledger_no), 0) + 1 FROM dossiers WHERE ledger_book = ? AND ledger_year = ?)"
#: INSERT a dossier with its final code, ``<procedure>-<yyyymmdd>-<id, 6 digits>``, and its number in its
#: book, in one statement: the id is taken first (SQLite: max + 1 under the BEGIN IMMEDIATE write lock, which
#: also makes the book's number the next one; PostgreSQL: the sequence, and the number under the book's lock,
#: :func:`_lock_book`).
_NEW_DOSSIER_SQL = {
    False: (f"INSERT INTO dossiers (id, code, {', '.join(_NEW_DOSSIER_COLUMNS)}, ledger_no) "
            f"SELECT n.id, ? || printf('%06d', n.id), {', '.join('?' for _ in _NEW_DOSSIER_COLUMNS)}, "
            f"{_NEXT_LEDGER_NO} FROM (SELECT coalesce(max(id), 0) + 1 AS id FROM dossiers) AS n"),
    True: (f"INSERT INTO dossiers (id, code, {', '.join(_NEW_DOSSIER_COLUMNS)}, ledger_no) "
           f"SELECT n.id, ? || right('00000' || n.id::text, greatest(6, length(n.id::text))), "
           f"{', '.join('?' for _ in _NEW_DOSSIER_COLUMNS)}, {_NEXT_LEDGER_NO} "
           f"FROM (SELECT nextval(pg_get_serial_sequence('dossiers', 'id')) AS id) AS n"),
}


def _lock_book(tx: rawdb.Tx, book: str, year: int) -> None:
    """PostgreSQL: wait for the registrations of the same book and year in other transactions to end (a
    transaction-scoped advisory lock on the book), so that the next number read is the book's last plus one
    for this registration alone. Sent down the pipeline without waiting: the INSERT after it runs once the
    lock is held, and (READ COMMITTED) sees the numbers committed before. SQLite's BEGIN IMMEDIATE already
    lets one writer at a time."""
    if tx.pg:
        digest = hashlib.blake2b(f"quytrinh:ledger:{book}:{year}".encode(), digest_size=8).digest()
        tx.execute("SELECT pg_advisory_xact_lock(?)", (int.from_bytes(digest, "big", signed=True),))


#: The longest procedure part of a dossier's code. A code is ``<prefix>-YYYYMMDD-NNNNNN`` (the id has six
#: digits or more) in a 64-character column: 40 leaves room for ids up to 14 digits.
CODE_PREFIX_MAX = 40


def code_prefix(key: str) -> str:
    """The procedure part of its dossiers' codes: its key (national code, else the slug it is known by),
    cut to :data:`CODE_PREFIX_MAX` characters at a word (hyphen) when longer. The code stays unique (the
    id ends it) and says which procedure at a glance; ``dossiers.procedure_code`` holds the whole key."""
    if len(key) <= CODE_PREFIX_MAX:
        return key
    cut = key[:CODE_PREFIX_MAX + 1]
    at = cut.rfind("-")
    cut = cut[:at] if at >= CODE_PREFIX_MAX // 2 else key[:CODE_PREFIX_MAX]
    return cut.rstrip("-.") or key[:CODE_PREFIX_MAX]


def _published(tx: rawdb.Tx, code: str) -> tuple[Any, Definition]:
    """The newest published version of a procedure (its row's id and version) and its definition."""
    found = tx.execute("SELECT id, version, content_hash FROM definition_versions WHERE procedure_code = ? "
                       "ORDER BY version DESC LIMIT 1", (code,)).fetchall()
    if not found:
        raise NotFound(f"procedure '{code}' is not published (publish it with publish_definition, "
                       f"or `quytrinh dossier receive` from a catalogue that holds it)")
    row = rawdb.Row(zip(("id", "version", "content_hash"), found[0]))
    return row, _definition_by_hash(tx, row.id, row.content_hash)


def _new_dossier(tx: rawdb.Tx, row: Any, defn: Definition, tr: machine.Transition, applicant: str,
                 contact: str, now: dt.datetime, commune: str, one_stop: str | None) -> Any:
    """INSERT the dossier, entered in the book of ``one_stop`` (the unit registering it; for a commune-level
    procedure, that commune's book): :func:`engine.store.ledger_book_key`."""
    if not applicant.strip():
        raise ActionError("the applicant's name is empty")
    if len(commune.strip()) > 200:
        raise ActionError("the commune's name is longer than 200 characters")
    local = now.astimezone(dt.timezone(dt.timedelta(hours=7)))
    prefix = f"{code_prefix(defn.key)}-{local:%Y%m%d}-"
    book = ledger_book_key(one_stop, commune, defn.level)
    values = dict(procedure_code=defn.key, definition_id=row.id, definition_version=row.version,
                  channel=tr.state.channel, applicant=applicant.strip(), applicant_contact=contact,
                  commune=commune.strip(), ledger_book=book, ledger_year=local.year,
                  registered_at=now, version=1, updated_at=now, **_dossier_values(tr.state))
    _lock_book(tx, book, local.year)
    dossier_id = tx.insert(_NEW_DOSSIER_SQL[tx.pg], [prefix, *tx.bind(_DOSSIERS, values), book, local.year])
    return _NewDossier(dossier_id, f"{prefix}{dossier_id:06d}", defn.key, row.version, 1)


@dataclass(frozen=True)
class _NewDossier:
    """What :func:`_save` reads of a dossier just inserted."""

    id: int
    code: str
    procedure_code: str
    definition_version: int
    version: int


def receive(db: Any, actor: Actor, procedure_code: str, *, applicant: str, now: dt.datetime,
            channel: str = "counter", decision: str = "accept", comment: str = "", contact: str = "",
            commune: str = "", idempotency_key: str | None = None, calendar: Any = None) -> ActionResult:
    """Receive a dossier at the one-stop unit and decide on it at once.

    ``decision`` is one of the start step's outcomes: typically ``accept``
    (receipt, form 01, the clock starts), ``supplement`` (form 02: the
    applicant completes the dossier first) or ``refuse`` (form 03, give the
    reason in ``comment``). ``commune``: as for :func:`submit`.

    Raises
    ------
    NotFound
        When the procedure was never published.
    NotAuthorized
        When the actor is not staff of the reception step's unit and role.
    IllegalAction
        When the decision is not an outcome of the reception step.
    DuplicateRequest
    """
    now = utc(now)
    params = {"procedure": procedure_code, "applicant": applicant, "channel": channel, "decision": decision,
              "comment": comment, "contact": contact}
    if commune:  # (only when given: a request made before communes were recorded keeps its hash)
        params["commune"] = commune

    def body(tx: rawdb.Tx) -> ActionResult:
        acting = _acting(tx, "receive", actor)  # (answered with the next read)
        row, defn = _published(tx, procedure_code)
        who = acting()
        start = defn.start
        successors = unit_successors(db, tx)
        one_stop = _start_unit(defn, successors)
        if who.is_system or who.unit != one_stop or who.role != start.role:
            raise NotAuthorized(f"receive: {who} may not receive dossiers of {defn.key}; "
                                f"{one_stop}/{start.role} does")
        of = _own_commune("receive", who, defn, commune)
        _check_reason("receive", defn, start.id, decision, comment)
        cal = calendar or _default_calendar()
        tr = machine.register(defn, channel, now, cal)
        start_key = tr.opened[0]
        tr.state.items[0].assignee = actor.user_id
        tr2 = machine.apply(defn, tr.state, machine.Complete(start_key, decision, actor.user_id, comment), now, cal)
        tr2.events = tr.events + tr2.events
        # The reception step was opened and done at the counter by this officer: nobody is told it opened.
        tr2.effects = [e for e in tr.effects if not (e.kind == "notify_unit" and e.item == start_key)] + tr2.effects
        tr2.opened = tr.opened + tr2.opened
        d = _new_dossier(tx, row, defn, tr2, applicant, contact, now, of, one_stop)
        return _save(tx, "receive", who, d, {}, defn, tr2, now, expected_version=None, acted_on=start_key,
                     successors=successors, fresh=True)

    return _idempotent(db, "receive", actor, idempotency_key, params, now, body)


def reason_needed(defn: Definition, step_id: str, outcome: str | None) -> str | None:
    """What the comment of completing ``step_id`` with ``outcome`` must say, when it must say something.

    ``"supplement"``: the route asks the applicant to supplement (a citizen step that is not the
    financial obligations): the comment is what to supplement, printed on form 02 (the applicant is
    guided once, in writing). ``"refuse"``: the outcome ``refuse``: the comment is the reason
    (form 03 at the counter, the written reply later). ``"rework"``: a bounded route back (``max``: the
    head's ``rework``, the signer's ``reject``): the comment is why and what to redo, for the officer who
    does the step again. ``None`` otherwise.
    """
    if outcome == "refuse":
        return "refuse"
    steps = machine.steps_by_id(defn)  # built once per definition (this runs on every completion)
    step = steps.get(step_id)
    for r in step.routes if step is not None else ():
        if r.outcome == outcome:
            for t in r.targets:
                target = steps.get(t)
                if target is not None and target.paused and not target.financial:
                    return "supplement"
            if r.max is not None:
                return "rework"
    return None


_REASONS = {"refuse": "a refusal needs its reason (comment), printed on form 03 or in the written reply",
            "supplement": "asking the applicant to supplement needs what to supplement (comment), printed on form 02",
            "rework": "sending the dossier back needs why and what to redo (comment), for the officer who redoes the step"}


def _check_reason(action: str, defn: Definition, step_id: str, outcome: str | None, comment: str | None) -> None:
    need = reason_needed(defn, step_id, outcome)
    if need is not None and not (comment or "").strip():
        raise ActionError(f"{action}: {_REASONS[need]}")


def _item_action(db: Any, action: str, actor: Actor, item_id: int, make: Any, *, now: dt.datetime,
                 expected_version: int | None, idempotency_key: str | None, params: dict[str, Any],
                 calendar: Any, check: Any = None, authorize: Any = None, after: Any = None,
                 assigning_unit: str | None = None) -> ActionResult:
    """Run ``make``'s command on a work item in one transaction. ``after(tx, item, tr, successors)``, when
    given, may add to the machine's transition (``tr``) and returns the items it moves to another unit
    (id -> unit, as :func:`_save` takes ``moved``). A completion gives a staff step it opens again back to
    its earlier holder (:func:`_hand_back`), except at ``assigning_unit``, whose items the caller assigns."""
    now = utc(now)

    def body(tx: rawdb.Tx) -> ActionResult:
        acting = _acting(tx, action, actor)  # (answered with the next read)
        d, items, defn = _load_rows(tx, item_id=item_id, action=action)
        who = acting()
        item = items[item_id]
        successors = unit_successors(db, tx)
        if item.state in OPEN_ITEM_STATES:  # a closed item: let the machine say why
            _same_commune(action, who, d)
            if authorize is None:
                _may_act_on_item(action, who, item, defn, successors)
            else:
                authorize(tx, item, who)
        if check is not None:
            check(item, defn)
        _check_version(action, d, expected_version)
        command = make(item, defn)
        if isinstance(command, machine.Complete) and item.state in OPEN_ITEM_STATES:
            _check_reason(action, defn, item.step_id, command.outcome, command.comment)
        tr = machine.apply(defn, _state_of(d, list(items.values())), command, now,
                           calendar or _default_calendar())
        if isinstance(command, machine.Complete):
            _hand_back(tx, defn, items, item, tr, successors, now, calendar or _default_calendar(),
                       skip_unit=assigning_unit)
        moved = after(tx, item, tr, successors) if after is not None else None
        return _save(tx, action, who, d, items, defn, tr, now, expected_version=expected_version or d.version,
                     acted_on=item_id, successors=successors, moved=moved)

    return _idempotent(db, action, actor, idempotency_key, {"item": item_id, "expected": expected_version, **params},
                       now, body)


def claim(db: Any, actor: Actor, item_id: int, *, now: dt.datetime, expected_version: int | None = None,
          idempotency_key: str | None = None, calendar: Any = None) -> ActionResult:
    """Take an open work item of the actor's unit and role.

    Raises
    ------
    NotFound, NotAuthorized, IllegalAction, StaleVersion, DuplicateRequest
    """
    return _item_action(db, "claim", actor, item_id, lambda it, defn: machine.Claim(item_id, actor.user_id or 0),
                        now=now, expected_version=expected_version, idempotency_key=idempotency_key,
                        params={}, calendar=calendar)


_UNITS, _USERS = rawdb.table("units"), rawdb.table("users")
_ASSIGNEE_SQL = {pg: f"SELECT {_USERS.select_list} FROM users WHERE username_key = ?" + (" FOR SHARE" if pg else "")
                 for pg in (False, True)}
_HOLDER_SQL = {pg: f"SELECT {_USERS.select_list} FROM users WHERE id = ?" + (" FOR SHARE" if pg else "")
               for pg in (False, True)}


def _hand_back(tx: rawdb.Tx, defn: Definition, items: Mapping[int, Any], done: Any, tr: machine.Transition,
               successors: Mapping[str, str], now: dt.datetime, calendar: Any,
               skip_unit: str | None = None) -> None:
    """The work item ``done`` was just completed in ``tr``: a staff step it opens again goes back, claimed, to
    the officer who held that step before, when they still are an active member of its unit with its role,
    as one-stop practice has it (the officer in charge, chuyên viên thụ lý, goes on with the dossier): after
    the applicant's step (a supplement, or the financial obligations), to who asked for it; after a check
    that sends the dossier back (rework), to who did the step the first time. Otherwise the step is open to
    its unit, as any step. ``tr`` gets the system's ``assign`` event and the officer's notice. A step opened
    for the first time costs nothing here (no earlier holder: no query). Items opening at ``skip_unit`` are
    left open (:func:`complete_and_assign`: the head names their officer)."""
    for key in list(tr.opened):
        opened = next((it for it in tr.state.items if it.key == key), None)
        if opened is None:
            continue
        step = defn.step(opened.step)
        if step.kind in ("citizen", "automated", "return") or step.id == defn.start.id:
            continue  # (the counter's steps: whoever is at the counter takes the applicant)
        before = [w for w in items.values() if w.step_id == opened.step and w.assignee_id is not None]
        if not before:
            continue
        last = max(before, key=lambda w: w.id)
        unit = successors.get(step.unit, step.unit)  # type: ignore[arg-type]
        if last.unit_id != unit or unit == skip_unit:
            continue
        found = tx.fetch(_USERS, _HOLDER_SQL[tx.pg], (last.assignee_id,))
        if not found or not found[0].active or found[0].unit_id != unit or found[0].role != step.role:
            continue
        if done.kind == "citizen":
            waited = "nghĩa vụ tài chính" if defn.step(done.step_id).financial else "bổ sung hồ sơ"
            why = f"Giao lại cho người đã xử lý bước này trước khi chờ {waited}"
        else:
            why = "Giao lại cho người đã xử lý bước này lần trước (hồ sơ được trả lại để xử lý lại)"
        more = machine.apply(defn, tr.state, machine.Assign(key, last.assignee_id, comment=why), now, calendar)
        tr.state = more.state
        tr.events.extend(_SystemEvent(**vars(ev)) for ev in more.events)
        tr.effects.extend(more.effects)


def _may_manage_item(tx: rawdb.Tx, action: str, actor: Actor, item: Any) -> None:
    """Raise NotAuthorized unless ``actor`` heads the unit that ``item`` belongs to."""
    found = (tx.fetch(_UNITS, f"SELECT {_UNITS.select_list} FROM units WHERE id = ?", (item.unit_id,))
             if item.unit_id else [])
    head = _head_role(found[0].roles or {}) if found else None
    if actor.is_system or head is None or actor.unit != item.unit_id or actor.role != head:
        who = f"the head ({head}) of {item.unit_id}" if head else "no one (its unit has no head)"
        raise NotAuthorized(f"{action}: {actor} may not {action} work item {item.id} (step '{item.step_id}'); "
                            f"{who} does")


def assign(db: Any, actor: Actor, item_id: int, *, to: str, now: dt.datetime, expected_version: int | None = None,
           idempotency_key: str | None = None, calendar: Any = None) -> ActionResult:
    """The head of a work item's unit gives it (open, or claimed by someone else) to ``to``.

    ``to`` is the username of an active member of the item's unit with the
    item's role; the item is then claimed in their name (a received dossier
    moves on to processing, as with a claim). The event records who held it
    before and who holds it now.

    Raises
    ------
    NotFound
        When the work item or the user does not exist.
    NotAuthorized
        When the actor is not the head of the item's unit.
    ActionError
        When the user is deactivated, or not of the item's unit and role.
    IllegalAction, StaleVersion, DuplicateRequest
    """
    target: list[int] = []

    def authorize(tx: rawdb.Tx, item: Any, who: Actor) -> None:
        _may_manage_item(tx, "assign", who, item)
        # share-locked (PostgreSQL) as the actor's row is: the officer's account cannot be disabled or moved
        # away before this assignment commits (it would be given work no one sees)
        found = tx.fetch(_USERS, _ASSIGNEE_SQL[tx.pg], (username_key(to),))
        if not found:
            raise NotFound(f"assign: user '{to}' does not exist")
        user = found[0]
        if not user.active:
            raise ActionError(f"assign: user '{to}' is deactivated")
        if user.unit_id != item.unit_id or user.role != item.role:
            raise ActionError(f"assign: user '{to}' ({user.unit_id}/{user.role}) may not do work item {item.id} "
                              f"(step '{item.step_id}'); it is work of {item.unit_id}/{item.role}")
        target.append(user.id)

    def make(item: Any, defn: Definition) -> machine.Assign:
        # a closed item is not authorized (nobody may act on it): the machine refuses it before using the user
        return machine.Assign(item_id, target[0] if target else 0)

    return _item_action(db, "assign", actor, item_id, make, now=now, expected_version=expected_version,
                        # the account as its lookup matches it: 'An' and 'an' name one officer, so one request
                        idempotency_key=idempotency_key, params={"to": username_key(to)}, calendar=calendar,
                        authorize=authorize)


def complete_and_assign(db: Any, actor: Actor, item_id: int, *, outcome: str | None, to: str, now: dt.datetime,
                        comment: str = "", expected_version: int | None = None, idempotency_key: str | None = None,
                        calendar: Any = None, strict: bool = True) -> tuple[ActionResult, list[ActionResult]]:
    """Complete a step and give what it opens in the actor's own unit to ``to``, in one transaction.

    What a unit's head does at a "phân công" step: the step is done and the
    next one (the appraisal, say) goes to a named officer at once. Either both
    happen or neither: a refused assignment leaves the step open.

    Returns
    -------
    (ActionResult, list[ActionResult])
        The completion, then one assignment per item it opened in the actor's unit.

    With ``strict=False`` an outcome that opens nothing of the actor's unit
    for the officer's role (the head signed, and the result goes to the
    office) just completes the step, and the list is empty: the web form
    offers the officer before the outcome is chosen.

    Raises
    ------
    What :func:`complete` and :func:`assign` raise; ActionError (``strict``)
    when the completion opens nothing of the actor's unit for the officer.
    """
    def run(s: Any) -> tuple[ActionResult, list[ActionResult]]:
        done = complete(s, actor, item_id, outcome=outcome, comment=comment, now=now,
                        expected_version=expected_version, idempotency_key=idempotency_key, calendar=calendar,
                        assigning_unit=actor.unit)  # the head names its officer: no hand-back there first
        target = find_user(s, to)
        role = target.role if target is not None else None
        # what the completion opened in the actor's unit for the officer's role (several roles: theirs only)
        ours = [w for w in (s.get(WorkItem, i) for i in done.opened)
                if w is not None and w.unit_id == actor.unit and (role is None or w.role == role)]
        if not ours:
            if not strict:
                return done, []
            raise ActionError(f"complete: work item {item_id} opens no step of {actor.unit} to give to '{to}'")
        given, version = [], done.version
        for n, w in enumerate(ours):
            key = f"{idempotency_key}:assign:{n}" if idempotency_key else None
            res = assign(s, actor, w.id, to=to, now=now, expected_version=version, idempotency_key=key,
                         calendar=calendar)
            given.append(res)
            version = res.version
        return done, given

    if isinstance(db, Session):
        return run(db)
    with as_store(db).write() as s:
        return run(s)


def unit_head_role(db: Any, unit_id: str | None) -> str | None:
    """The role of ``unit_id``'s head (who assigns its work and is told about its timers), if any."""
    if not unit_id:
        return None
    with _reading(db) as s:
        unit = s.get(UnitRow, unit_id)
    return _head_role(unit.roles or {}) if unit is not None else None


def assignable_users(db: Any, unit_id: str, role: str) -> list[tuple[str, str]]:
    """(username, full name) of the active members of ``unit_id`` with ``role``, by name: who may get its work."""
    with _reading(db) as s:
        users = s.exec(select(User).where(User.unit_id == unit_id, User.role == role, User.active == True)  # noqa: E712
                       .order_by(User.full_name, User.username)).all()
    return [(u.username, u.full_name or u.username) for u in users]


def release(db: Any, actor: Actor, item_id: int, *, now: dt.datetime, expected_version: int | None = None,
            idempotency_key: str | None = None, calendar: Any = None) -> ActionResult:
    """Give a claimed work item back to its unit: by the user who holds it, or by the head of its unit.

    An item at a merged unit (units.yaml ``merged_into``, chains resolved) goes to the queue of the unit
    that does its work now, as when the system gives it back (:func:`_release_held`) or
    :func:`transfer_unit_work` moves it: nobody works in the merged unit's queue any more (new work opens at
    the successor; the transfer would move it there). Whoever releases it (its holder, moved to the
    successor or still of the merged unit, or the merged unit's head), in the same transaction: the
    ``release`` event, then a ``transfer`` event by the system (``from_unit``, ``to_unit``, ``from``: the
    holder, ``holder`` None), and the successor is told as by the transfer (``notify_unit``, reason
    ``transferred``, ``from_unit``) instead of the merged unit being told it was given back. When the
    successor lacks the step's role (the transfer would refuse), it stays in the merged unit's queue.

    Raises
    ------
    NotFound, NotAuthorized, IllegalAction (not claimed), StaleVersion, DuplicateRequest
    """
    def authorize(tx: rawdb.Tx, item: Any, who: Actor) -> None:
        if who.user_id is not None and item.assignee_id == who.user_id:
            return  # its holder
        if item.assignee_id is None and who.unit == item.unit_id and who.role == item.role:
            return  # one who could claim it: the machine says it is not claimed
        _may_manage_item(tx, "release", who, item)

    return _item_action(db, "release", actor, item_id, lambda it, defn: machine.Assign(item_id, None),
                        now=now, expected_version=expected_version, idempotency_key=idempotency_key,
                        params={}, calendar=calendar, authorize=authorize, after=_released_to_successor)


def _released_to_successor(tx: rawdb.Tx, item: Any, tr: machine.Transition,
                           successors: Mapping[str, str]) -> dict[int, str] | None:
    """For :func:`release`: an item released at a merged unit goes to its successor's queue (the moves for
    :func:`_save`); ``tr`` gets the system's ``transfer`` event and the successor's notice."""
    unit = item.unit_id
    if unit not in successors:
        return None
    rows = {r.id: r for r in tx.fetch(_UNITS, f"SELECT {_UNITS.select_list} FROM units")}
    dest = rows.get(successors[unit])
    if dest is None or (item.role and item.role not in (dest.roles or {})):
        return None  # (as _release_held: the transfer names the missing role)
    dest_name = dest.short or dest.name
    status = int(tr.state.status)
    tr.events.append(_SystemEvent(
        "transfer", item.id, item.step_id, status, status,
        comment=f"{_merge_reason(rows, unit)}; việc được trả lại về hàng chờ của {dest_name}",
        data={"from_unit": unit, "to_unit": dest.id, "from": item.assignee_id, "holder": None}))
    for eff in tr.effects:
        if eff.kind == "notify_unit" and eff.item == item.id:  # the machine's "released" notice
            eff.payload = {**eff.payload, "unit": dest.id, "reason": "transferred", "from_unit": unit,
                           "holder": None}
    return {item.id: dest.id}


def complete(db: Any, actor: Actor, item_id: int, *, outcome: str | None, now: dt.datetime, comment: str = "",
             expected_version: int | None = None, idempotency_key: str | None = None,
             calendar: Any = None, assigning_unit: str | None = None) -> ActionResult:
    """Complete a work item with one of its step's outcomes (opening the route's targets).

    Covers consulting in parallel (a route with several targets), signing (a
    ``sign`` step), asking for supplementation (a route to a citizen step),
    recording a supplement (completing the citizen step) and returning the
    result (a terminal return step). A staff step opened again (sent back
    for rework, or after the applicant's step) goes back to the officer who
    held it before, while they still may act on it; except at
    ``assigning_unit`` (:func:`complete_and_assign`: the head names the
    officer there), where it stays open to the unit.

    Raises
    ------
    NotFound
        When the work item does not exist.
    NotAuthorized
        When the actor's unit or role is not the item's, or it is claimed by another user.
    IllegalAction
        When the item is closed, the outcome is not one of the step's, or a bounded route is exhausted.
    StaleVersion
        When ``expected_version`` is not the dossier's version, or a concurrent action won.
    DuplicateRequest
        When the idempotency key was used for a different request.
    """
    return _item_action(db, "complete", actor, item_id,
                        lambda it, defn: machine.Complete(item_id, outcome, actor.user_id, comment),
                        now=now, expected_version=expected_version, idempotency_key=idempotency_key,
                        params={"outcome": outcome, "comment": comment}, calendar=calendar,
                        assigning_unit=assigning_unit)


def _kind_check(action: str, kinds: tuple[str, ...]) -> Any:
    def check(item: WorkItem, defn: Definition) -> None:
        if item.kind not in kinds:
            raise IllegalAction(f"{action}: work item {item.id} is step '{item.step_id}' of kind {item.kind}; "
                                f"{action} applies to {' or '.join(kinds)} steps (use complete)")
    return check


def sign(db: Any, actor: Actor, item_id: int, *, now: dt.datetime, outcome: str = "approve", comment: str = "",
         expected_version: int | None = None, idempotency_key: str | None = None,
         calendar: Any = None) -> ActionResult:
    """Sign (approve) or reject at a ``sign`` step. See :func:`complete` for the errors."""
    return _item_action(db, "sign", actor, item_id,
                        lambda it, defn: machine.Complete(item_id, outcome, actor.user_id, comment),
                        now=now, expected_version=expected_version, idempotency_key=idempotency_key,
                        params={"outcome": outcome, "comment": comment}, calendar=calendar,
                        check=_kind_check("sign", ("sign",)))


def return_result(db: Any, actor: Actor, item_id: int, *, now: dt.datetime, comment: str = "",
                  expected_version: int | None = None, idempotency_key: str | None = None,
                  calendar: Any = None) -> ActionResult:
    """Hand the result (or the reasoned refusal) back at a terminal return step: the dossier closes."""
    def check(item: WorkItem, defn: Definition) -> None:
        _kind_check("return_result", ("return",))(item, defn)
        if not defn.step(item.step_id).terminal:
            raise IllegalAction(f"return_result: step '{item.step_id}' is not a terminal return step")
    return _item_action(db, "return_result", actor, item_id,
                        lambda it, defn: machine.Complete(item_id, None, actor.user_id, comment),
                        now=now, expected_version=expected_version, idempotency_key=idempotency_key,
                        params={"comment": comment}, calendar=calendar, check=check)


def request_supplement(db: Any, actor: Actor, item_id: int, *, now: dt.datetime, comment: str = "",
                       expected_version: int | None = None, idempotency_key: str | None = None,
                       calendar: Any = None) -> ActionResult:
    """Ask the applicant to supplement (form 02) from a step whose route leads to a citizen step.

    The clock pauses (per the procedure's supplement_clock).

    Raises
    ------
    IllegalAction
        When no outcome of the item's step leads to a citizen step (and the errors of :func:`complete`).
    """
    def make(item: WorkItem, defn: Definition) -> machine.Complete:
        step = defn.step(item.step_id)
        for r in step.routes:
            if any(defn.step(t).paused and not defn.step(t).financial for t in r.targets):
                return machine.Complete(item_id, r.outcome, actor.user_id, comment)
        raise IllegalAction(f"request_supplement: step '{step.id}' (work item {item_id}) has no route to a "
                            f"supplementation step; its outcomes are {', '.join(r.outcome for r in step.routes) or 'none'}")
    return _item_action(db, "request_supplement", actor, item_id, make, now=now,
                        expected_version=expected_version, idempotency_key=idempotency_key,
                        params={"comment": comment}, calendar=calendar)


def supplement_received(db: Any, actor: Actor, dossier: int | str, *, now: dt.datetime, comment: str = "",
                        expected_version: int | None = None, idempotency_key: str | None = None,
                        calendar: Any = None) -> ActionResult:
    """Record that the applicant supplemented: the open citizen step completes, the clock resumes or restarts.

    Raises
    ------
    IllegalAction
        When the dossier waits for no supplement (one waiting for the financial
        obligations takes :func:`financial_done`).
    NotAuthorized
        When the actor is neither the system nor staff of the one-stop unit.
    """
    return _citizen_done(db, "supplement_received", actor, dossier, financial=False, now=now, comment=comment,
                         expected_version=expected_version, idempotency_key=idempotency_key, calendar=calendar)


def financial_done(db: Any, actor: Actor, dossier: int | str, *, now: dt.datetime, comment: str = "",
                   expected_version: int | None = None, idempotency_key: str | None = None,
                   calendar: Any = None) -> ActionResult:
    """Record that the applicant fulfilled the financial obligations (status 6 ends): the clock resumes.

    The open citizen step with ``pause_reason: financial`` completes with its
    first outcome; the clock resumes (it never restarts after a financial pause).

    Raises
    ------
    IllegalAction
        When the dossier waits for no financial obligation.
    NotAuthorized
        When the actor is neither the system nor staff of the one-stop unit.
    """
    return _citizen_done(db, "financial_done", actor, dossier, financial=True, now=now, comment=comment,
                         expected_version=expected_version, idempotency_key=idempotency_key, calendar=calendar)


def _citizen_done(db: Any, action: str, actor: Actor, dossier: int | str, *, financial: bool, now: dt.datetime,
                  comment: str, expected_version: int | None, idempotency_key: str | None,
                  calendar: Any) -> ActionResult:
    """Complete the dossier's open citizen step of one kind (supplementation, or the financial obligations)."""
    now = utc(now)

    def body(tx: rawdb.Tx) -> ActionResult:
        acting = _acting(tx, action, actor)  # (answered with the next read)
        d, items, defn = _load_rows(tx, ref=dossier)
        who = acting()
        waiting = [w for w in items.values() if w.kind == "citizen" and w.state in OPEN_ITEM_STATES]
        matching = [w for w in waiting if defn.step(w.step_id).financial == financial]
        if not matching:
            state = _state_of(d, list(items.values()))
            if waiting and financial:
                message = (f"dossier {d.code} waits for a supplement (step '{waiting[0].step_id}'), not for "
                           f"the financial obligations; record it with supplement_received")
            elif waiting:
                message = (f"dossier {d.code} waits for the financial obligations (step '{waiting[0].step_id}'), "
                           f"not for a supplement; record it with financial_done")
            else:
                message = f"dossier {d.code} waits for no {'financial obligation' if financial else 'supplement'}"
            raise machine._illegal(action, state, message, machine.allowed_actions(defn, state))
        item = matching[0]
        successors = unit_successors(db, tx)
        _may_act_on_item(action, who, item, defn, successors)
        _same_commune(action, who, d)
        _check_version(action, d, expected_version)
        step = defn.step(item.step_id)
        outcome = step.routes[0].outcome if step.routes else None
        tr = machine.apply(defn, _state_of(d, list(items.values())),
                           machine.Complete(item.id, outcome, actor.user_id, comment), now,  # type: ignore[arg-type]
                           calendar or _default_calendar())
        _hand_back(tx, defn, items, item, tr, successors, now, calendar or _default_calendar())
        return _save(tx, action, who, d, items, defn, tr, now,
                     expected_version=expected_version or d.version, acted_on=item.id, successors=successors)

    return _idempotent(db, action, actor, idempotency_key,
                       {"dossier": str(dossier), "comment": comment, "expected": expected_version}, now, body)


def _dossier_action(db: Any, action: str, actor: Actor, dossier: int | str, make: Any, *, now: dt.datetime,
                    comment: str, expected_version: int | None, idempotency_key: str | None,
                    calendar: Any, system_ok: bool) -> ActionResult:
    now = utc(now)

    def body(tx: rawdb.Tx) -> ActionResult:
        acting = _acting(tx, action, actor)  # (answered with the next read)
        d, items, defn = _load_rows(tx, ref=dossier)
        who = acting()
        successors = unit_successors(db, tx)
        _may_act_on_dossier(action, who, defn, system_ok=system_ok, successors=successors)
        _same_commune(action, who, d)
        _check_version(action, d, expected_version)
        tr = machine.apply(defn, _state_of(d, list(items.values())), make(), now, calendar or _default_calendar())
        return _save(tx, action, who, d, items, defn, tr, now, expected_version=expected_version or d.version,
                     acted_on=None, successors=successors)

    return _idempotent(db, action, actor, idempotency_key,
                       {"dossier": str(dossier), "comment": comment, "expected": expected_version}, now, body)


def withdraw(db: Any, actor: Actor, dossier: int | str, *, now: dt.datetime, comment: str = "",
             expected_version: int | None = None, idempotency_key: str | None = None,
             calendar: Any = None) -> ActionResult:
    """The applicant withdraws the dossier (status 7); open work items are cancelled.

    Recorded by the one-stop unit, or by the system for a request made on the portal.

    Raises
    ------
    ActionError
        When the comment is empty: it records the applicant's written request (number, date, reason),
        which the withdrawal rests on.
    """
    def make() -> machine.Withdraw:  # checked once the actor may act: who may not is told so first
        if not (comment or "").strip():
            raise ActionError("withdraw: record the applicant's written request (comment: its number, date and "
                              "reason)")
        return machine.Withdraw(comment)

    return _dossier_action(db, "withdraw", actor, dossier, make, now=now,
                           comment=comment, expected_version=expected_version, idempotency_key=idempotency_key,
                           calendar=calendar, system_ok=True)


def stop(db: Any, actor: Actor, dossier: int | str, *, now: dt.datetime, reason: str,
         expected_version: int | None = None, idempotency_key: str | None = None,
         calendar: Any = None) -> ActionResult:
    """Stop processing the dossier (status 8) with a reason; open work items are cancelled.

    Raises
    ------
    ActionError
        When the reason is empty (it goes on the stop notice).
    """
    if not reason.strip():
        raise ActionError("stop: give the reason (it is printed on the notice to the applicant)")
    return _dossier_action(db, "stop", actor, dossier, lambda: machine.Stop(reason), now=now, comment=reason,
                           expected_version=expected_version, idempotency_key=idempotency_key,
                           calendar=calendar, system_ok=False)


# --------------------------------------------------------------------------- outbox


def claim_outbox(db: Any, *, worker: str, limit: int, now: dt.datetime,
                 lease: dt.timedelta = dt.timedelta(minutes=5)) -> list[OutboxItem]:
    """Claim up to ``limit`` outbox items for ``worker`` until ``now + lease``.

    Claimable: pending items available at ``now``, and claimed items whose
    lease expired (their worker died). Done, skipped and failed items never are. Safe
    under concurrent workers: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
    conditional UPDATE on SQLite (whose writers are serialized).

    Returns
    -------
    list[OutboxItem]
        Detached rows, oldest first, with ``attempts`` already counted.
    """
    now = utc(now)
    until = now + lease
    claimable = sa.or_(
        sa.and_(OutboxItem.state == OUTBOX_PENDING, OutboxItem.available_at <= now),
        sa.and_(OutboxItem.state == OUTBOX_CLAIMED, OutboxItem.lease_until < now),
    )
    with _transaction(db) as s:
        stmt = select(OutboxItem.id).where(claimable).order_by(OutboxItem.id).limit(limit)
        if s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(s.exec(stmt).all())
        won: list[int] = []
        for oid in ids:
            res = s.execute(sa.update(OutboxItem).where(OutboxItem.id == oid, claimable)
                            .values(state=OUTBOX_CLAIMED, lease_owner=worker, lease_until=until,
                                    attempts=OutboxItem.attempts + 1)
                            .execution_options(synchronize_session=False))
            if res.rowcount == 1:
                won.append(oid)
        if not won:
            return []
        rows = list(s.exec(select(OutboxItem).where(OutboxItem.id.in_(won)).order_by(OutboxItem.id)  # type: ignore[union-attr]
                           .execution_options(populate_existing=True)).all())
        for r in rows:
            s.expunge(r)
        return rows


def renew_outbox_lease(db: Any, item_ids: list[int], *, worker: str, now: dt.datetime,
                       lease: dt.timedelta = dt.timedelta(minutes=5)) -> list[int]:
    """Extend to ``now + lease`` the lease of those of ``item_ids`` that ``worker`` still holds; their ids.

    A drain renews its batch's leases as it goes, so that the items it has not reached yet (the ones before
    them took long: retries of a slow delivery) are not claimed by another drain meanwhile: their attempts
    would be counted twice. An item whose lease expired and that another worker claimed is not among those
    returned; one whose lease expired and that nobody claimed yet is renewed (it was still ours).
    """
    if not item_ids:
        return []
    until = utc(now) + lease
    with _transaction(db) as s:
        held = sa.and_(OutboxItem.id.in_(item_ids), OutboxItem.state == OUTBOX_CLAIMED,  # type: ignore[union-attr]
                       OutboxItem.lease_owner == worker)
        s.execute(sa.update(OutboxItem).where(held).values(lease_until=until)
                  .execution_options(synchronize_session=False))
        return sorted(s.exec(select(OutboxItem.id).where(held)).all())


def _finish_outbox(db: Any, action: str, item_id: int, worker: str, values: dict[str, Any]) -> OutboxItem:
    with _transaction(db) as s:
        res = s.execute(sa.update(OutboxItem)
                        .where(OutboxItem.id == item_id, OutboxItem.state == OUTBOX_CLAIMED,
                               OutboxItem.lease_owner == worker)
                        .values(**values).execution_options(synchronize_session=False))
        row = s.exec(select(OutboxItem).where(OutboxItem.id == item_id)
                     .execution_options(populate_existing=True)).first()
        if row is None:
            raise NotFound(f"{action}: outbox item {item_id} does not exist")
        if res.rowcount != 1:
            raise StaleVersion(f"{action}: outbox item {item_id} is not claimed by worker '{worker}' "
                               f"(state {row.state}, lease owner {row.lease_owner}); its lease was lost")
        s.expunge(row)
        return row


def complete_outbox(db: Any, item_id: int, *, worker: str, now: dt.datetime,
                    result: dict[str, Any] | None = None) -> OutboxItem:
    """Mark a claimed outbox item done (it is never claimed again).

    Raises
    ------
    NotFound
        When the item does not exist.
    StaleVersion
        When ``worker`` no longer holds it (its lease expired and another worker claimed it).
    """
    return _finish_outbox(db, "complete_outbox", item_id, worker, {
        "state": OUTBOX_DONE, "completed_at": utc(now), "result": _jsonable(result or {}),
        "lease_until": None, "last_error": None})


def fail_outbox(db: Any, item_id: int, *, worker: str, now: dt.datetime, error: str,
                retry_at: dt.datetime | None) -> OutboxItem:
    """Record a failed attempt: retried from ``retry_at``, or given up (state ``failed``) when it is None.

    Raises
    ------
    NotFound, StaleVersion
        As :func:`complete_outbox`.
    """
    values: dict[str, Any] = {"last_error": error[:4000], "lease_owner": None, "lease_until": None}
    if retry_at is None:
        values.update(state=OUTBOX_FAILED, completed_at=utc(now))
    else:
        values.update(state=OUTBOX_PENDING, available_at=utc(retry_at))
    return _finish_outbox(db, "fail_outbox", item_id, worker, values)


# --------------------------------------------------------------------------- timers


@dataclass
class SweepResult:
    """What one :func:`sweep_timers` run changed."""

    checked: int = 0          # open timed work items looked at
    nearly_due: int = 0       # items that turned nearly due
    overdue: int = 0          # items that turned overdue
    dossiers_overdue: int = 0  # dossiers that turned overdue
    apologies: int = 0        # form 04 drafts written
    notifications: int = 0    # outbox items written

    @property
    def changed(self) -> int:
        return self.nearly_due + self.overdue + self.dossiers_overdue + self.apologies


_TAILS: dict[int, tuple[Definition, dict[str, int]]] = {}


def _tails(defn: Definition) -> dict[str, int]:
    """For each step, the longest chain of durations after it to a result (cached per definition)."""
    cached = _TAILS.get(id(defn))
    if cached is not None and cached[0] is defn:
        return cached[1]
    import networkx as nx  # only here: a CLI command that never sweeps need not import it

    dag = forward_graph(defn)  # citizen steps count 0; steps after them still count
    tail: dict[str, int] = {}
    if nx.is_directed_acyclic_graph(dag):
        ends = {s.id for s in result_terminals(defn)} & set(dag.nodes)
        useful = set(ends)
        for e in ends:
            useful |= nx.ancestors(dag, e)
        for n in reversed(list(nx.topological_sort(dag))):
            if n not in useful:
                continue
            succ = [tail[m] + step_minutes(dag.nodes[m]["step"]) for m in dag.successors(n) if m in tail]
            tail[n] = max(succ) if succ else 0
    with _DEF_LOCK:
        if len(_TAILS) > 1000:
            _TAILS.clear()
        _TAILS[id(defn)] = (defn, tail)
    return tail


def remaining_need(defn: Definition, open_items: Sequence[tuple[str, int]]) -> int:
    """Working minutes still needed to reach a result: the "cannot make it" estimate.

    For each open step: what is left of its allotted time plus the longest
    chain of durations from it to a terminal step that returns a result (over
    the forward graph: bounded rework loops left out, citizen steps count 0); the
    largest over the open steps (parallel branches run side by side).

    Parameters
    ----------
    defn : Definition
    open_items : sequence of (step id, working minutes left of its allotment, >= 0)
    """
    tail = _tails(defn)
    need = 0
    for step_id, left in open_items:
        need = max(need, max(0, left) + tail.get(step_id, 0))
    return need


#: Dossiers per write transaction of a sweep: a catch-up after a downtime (thousands of dossiers with
#: something due) writes a few hundred dossiers' changes with a dozen set-based statements, instead of a
#: transaction of ~11 statements per dossier. A transaction holds SQLite's write lock (and, on
#: PostgreSQL, its dossiers' row locks) for ~20 ms on SQLite and ~60 ms on PostgreSQL at this size
#: (bench/engine.py, catch-up section): a staff action waits at most that.
SWEEP_CHUNK = 200
#: Rows per multi-row INSERT (SQLite binds at most 32,766 parameters a statement; events have 13 columns).
_INSERT_ROWS = 500


def sweep_timers(db: Any, *, now: dt.datetime, calendar: Any = None,
                 policy: sla.SlaPolicy = sla.DEFAULT_SLA_POLICY,
                 apology_lead_minutes: int = 480, chunk: int = SWEEP_CHUNK) -> SweepResult:
    """Fire the SLA timers due at ``now``: timeliness of open items, overdue dossiers, apologies.

    * an open timed work item whose class (not_due / nearly_due / overdue, per
      :func:`engine.sla.timeliness_open`) changed gets the new class stored, an
      event, and (nearly due, overdue) a ``notify_unit_head`` outbox item;
    * a received dossier past its appointment turns ``overdue`` (event + outbox);
    * from ``apology_lead_minutes`` working minutes (one working day) before a
      dossier's appointment, if it cannot make it — the working minutes still
      needed (:func:`remaining_need`) exceed the working minutes left — a
      form 04 draft is written (reason left for the officer; proposed new date
      ``now + needed`` in working time), with an event and a notification to
      the head of the unit that holds the dossier.

    Dossiers waiting for the citizen (clock paused) are skipped. Idempotent: a
    second run at the same ``now`` changes nothing. A late run (the worker was
    down) catches up: classes are computed for ``now``, whatever was missed.
    No dossier version is bumped (timers do not conflict with staff actions).

    One read (:func:`_sweep_candidates`: the open dossiers' timed items, clocks
    and apologies, in two statements) finds the dossiers that have something
    to do at ``now``, with the same computations as the writing step; only
    those are written, ``chunk`` dossiers per write transaction
    (:func:`_sweep_chunk`, which reads them again under it and writes with
    set-based statements). A sweep where nothing is due writes nothing; a
    sweep stopped part-way has committed whole chunks, and the next one does
    the rest.

    Returns
    -------
    SweepResult
    """
    now = utc(now)
    cal = calendar or _default_calendar()
    result = SweepResult()
    with rawdb.read(db) as tx:
        ids = _sweep_candidates(tx, now, cal, policy, apology_lead_minutes, result)
        if _PAUSE_IN is not None:
            _pause_hook("sweep:read", tx)  # tests: a staff action between the read and the writes
    if not ids:
        return result
    with _reading(db) as s:
        units = s.exec(select(UnitRow)).all()
    heads = {u.id: _head_role(u.roles) for u in units}
    successors = _successors_from([(u.id, u.merged_into) for u in units])
    chunk = max(1, chunk)
    for index, start in enumerate(range(0, len(ids), chunk)):
        with rawdb.write(db) as tx:
            _sweep_chunk(tx, ids[start:start + chunk], now, cal, policy, apology_lead_minutes, result, heads,
                         successors)
            if _PAUSE_IN is not None:
                _pause_hook(f"sweep:{index}", tx)  # tests: a sweep killed (or raced) in its chunk ``index``
    return result


#: The open dossiers not waiting for the citizen, each with its open work items (one row per item; one
#: row with NULL item columns for a dossier without any), in dossier then item order.
_SWEEP_SQL = ("SELECT dossiers.id, dossiers.received_at, dossiers.due_at, dossiers.finished_at, "
              "dossiers.timeliness, dossiers.clock, dossiers.definition_id, definition_versions.content_hash, "
              "work_items.id, work_items.step_id, work_items.timeliness, work_items.clock "
              "FROM dossiers JOIN definition_versions ON definition_versions.id = dossiers.definition_id "
              "LEFT JOIN work_items ON work_items.dossier_id = dossiers.id "
              f"AND work_items.state IN ({', '.join(repr(st) for st in OPEN_ITEM_STATES)}) "
              "WHERE dossiers.closed_at IS NULL AND dossiers.paused_at IS NULL "
              "ORDER BY dossiers.id, work_items.id")
#: The apologies of those dossiers (few: drafted only near or past an appointment).
_SWEEP_APOLOGIES_SQL = ("SELECT apologies.dossier_id, apologies.id, apologies.due_at, apologies.proposed_due_at "
                        "FROM apologies JOIN dossiers ON dossiers.id = apologies.dossier_id "
                        "WHERE dossiers.closed_at IS NULL AND dossiers.paused_at IS NULL "
                        "ORDER BY apologies.dossier_id, apologies.id")


def _sweep_candidates(tx: rawdb.Tx, now: dt.datetime, cal: Any, policy: sla.SlaPolicy, lead: int,
                      result: SweepResult) -> list[int]:
    """The ids of the open dossiers on which :func:`_sweep_dossier` would change something at ``now``.

    The same tests as :func:`_sweep_dossier`, on rows read at once: an open timed item whose class at
    ``now`` is not the stored one; a received dossier past its appointment not yet marked overdue; a
    dossier in its apology window (or past the date its last apology gave) that cannot make it and has
    no apology for that appointment yet. Counts the timed items in ``result.checked``.
    """
    rows = tx.execute(_SWEEP_SQL).fetchall()
    if not rows:
        return []
    read_instant = tx.read_instant
    apologies: dict[int, list[tuple[Any, Any]]] = {}
    for dossier_id, _, due_at, proposed in tx.execute(_SWEEP_APOLOGIES_SQL).fetchall():
        apologies.setdefault(dossier_id, []).append((read_instant(due_at), read_instant(proposed)))

    def clock_of(value: Any) -> sla.Clock | None:
        if value is not None and not tx.pg:
            value = json_value(value)
        return machine.load_clock(value)

    out: list[int] = []
    n = len(rows)
    i = 0
    while i < n:
        first = rows[i]
        dossier_id = first[0]
        j = i
        left_by_item: list[tuple[str, int]] = []
        changes = False
        while j < n and rows[j][0] == dossier_id:
            _, _, _, _, _, _, _, _, item_id, step_id, stored, raw_clock = rows[j]
            j += 1
            if item_id is None:
                continue
            clock = clock_of(raw_clock)
            if clock is None or clock.paused:
                continue
            result.checked += 1
            cls = str(sla.timeliness_open(clock, cal, now, policy, sla.Scope.STEP))
            left_by_item.append((step_id, max(0, clock.remaining(cal, now))))
            if cls != (stored or "not_due"):
                changes = True
        i = j
        if changes or _dossier_timer_due(tx, first, left_by_item, apologies.get(dossier_id, ()), now, cal,
                                         policy, lead, clock_of):
            out.append(dossier_id)
    return out


def _dossier_timer_due(tx: rawdb.Tx, row: Sequence[Any], left_by_item: list[tuple[str, int]],
                       apologies: Sequence[tuple[dt.datetime, dt.datetime]], now: dt.datetime, cal: Any,
                       policy: sla.SlaPolicy, lead: int, clock_of: Any) -> bool:
    """Whether :func:`_sweep_dossier` would mark the dossier of ``row`` overdue or draft its apology."""
    _, received_at, due_at, finished_at, timeliness, raw_clock, definition_id, content_hash = row[:8]
    if received_at is None or due_at is None or finished_at is not None:
        return False
    dclock = clock_of(raw_clock)
    if dclock is None:
        return False
    due_at = tx.read_instant(due_at)
    if timeliness != "overdue" and str(sla.timeliness_open(dclock, cal, now, policy, sla.Scope.DOSSIER)) == "overdue":
        return True
    left = cal.elapsed(now, due_at)
    if left > lead:
        return False
    promised = due_at
    if apologies and utc(apologies[-1][1]) > promised:
        promised = utc(apologies[-1][1])
        left = cal.elapsed(now, promised)
        if left > 0:
            return False
    need = remaining_need(_definition_by_hash(tx, definition_id, content_hash), left_by_item)
    if need <= max(0, left):
        return False
    return not any(a_due == promised for a_due, _ in apologies)


#: The roles that head a unit, in order of preference: who is told about timers and signs its apologies.
HEAD_ROLES = ("head", "chairman", "vice_chairman")


def _head_role(roles: dict[str, str]) -> str | None:
    """The role of a unit's head (who is told about timers), if the unit has one."""
    for role in HEAD_ROLES:
        if role in roles:
            return role
    return None


def _answerable_unit(defn: Definition, items: Sequence[WorkItem], heads: Mapping[str, str | None],
                     successors: Mapping[str, str] | None = None) -> str | None:
    """The unit answerable for a dossier's timers (told when it is overdue, drafting the apology).

    The unit of the first open work item whose unit has a head; when the open work is only at units
    without one (a partner agency consulted in parallel, a commune People's Committee), the unit with a
    head that the procedure gives the most working time: the office in charge of the dossier, which can
    chase the partner (None when no unit of the procedure has a head). A merged unit counts as its
    successor (``successors``).
    """
    for w in items:
        if heads.get(w.unit_id):
            return w.unit_id
    successors = successors or {}
    minutes: dict[str, int] = {}
    for step in defn.steps:
        unit = successors.get(step.unit, step.unit) if step.unit else None
        if unit and heads.get(unit) and not step.paused:
            minutes[unit] = minutes.get(unit, 0) + (step.duration or 0)
    return max(minutes, key=lambda u: minutes[u]) if minutes else None


_APOLOGIES = rawdb.table("apologies")
_OPEN_STATES_SQL = ", ".join(repr(st) for st in OPEN_ITEM_STATES)


@dataclass
class _SweepPlan:
    """What the sweep would write on one dossier of a chunk, as read under the chunk's transaction."""

    id: int
    code: str
    procedure_code: str
    status: int
    due_at: dt.datetime | None
    timeliness: str | None
    defn: Definition
    items: list[Any]                  # its open work items, by id
    changes: list[tuple[Any, str]]    # (item, new class) of the items whose class changed
    overdue: bool                     # the dossier turns overdue
    apology: tuple[dt.datetime, dt.datetime, int, int] | None  # see _apology_due
    holder: list[str | None] = field(default_factory=list)  # the answerable unit, once computed


def _member(tx: rawdb.Tx, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """``column <this>`` tests that the column is one of ``ids``: the SQL and its parameters.

    PostgreSQL: one array parameter (psycopg turns each ``%s`` of a statement into ``$n`` in Python, and
    does not cache statements that long: a list of placeholders cost more CPU than the rest of the chunk).
    """
    if tx.pg:
        return "= ANY(?::bigint[])", [list(ids)]
    return f"IN ({', '.join('?' for _ in ids)})", list(ids)


_UNNEST_SQL: dict[tuple[str, tuple[str, ...], str], str] = {}


def _insert_many(tx: rawdb.Tx, t: rawdb.Table, rows: list[dict[str, Any]], tail: str = "") -> list[Any]:
    """Multi-row INSERTs of ``rows`` (each with the same columns) into ``t``, ``tail`` appended (an ON CONFLICT
    clause, a RETURNING list); the rows RETURNING gave, if asked for.

    SQLite: ``INSERT ... VALUES (...), (...)``, ``_INSERT_ROWS`` rows a statement. PostgreSQL: one
    ``INSERT ... SELECT ... FROM unnest(<one array per column>)`` (see :func:`_member`; JSON sent as text and
    cast back, so the column stores the same text as a one-row INSERT).
    """
    if not rows:
        return []
    columns = tuple(rows[0])
    if tx.pg:
        key = (t.name, columns, tail)
        sql = _UNNEST_SQL.get(key)
        if sql is None:
            table = SQLModel.metadata.tables[t.name]
            arrays = ", ".join("?::timestamptz[]" if c in t.instants
                               else "?::bigint[]" if isinstance(table.columns[c].type, sa.Integer)
                               else "?::text[]" for c in columns)
            values = ", ".join(f"{c}::json" if c in t.json else c for c in columns)
            names = ", ".join(columns)
            sql = _UNNEST_SQL[key] = (f"INSERT INTO {t.name} ({names}) SELECT {values} "
                                      f"FROM unnest({arrays}) AS u({names}){tail}")
        bound = [tx.bind(t, r) for r in rows]
        cur = tx.execute(sql, [[r[i] for r in bound] for i in range(len(columns))])
        return cur.fetchall() if "RETURNING" in tail else []
    out: list[Any] = []
    for start in range(0, len(rows), _INSERT_ROWS):
        part = rows[start:start + _INSERT_ROWS]
        params = [v for r in part for v in tx.bind(t, r)]
        cur = tx.execute(t.insert_sql(columns, len(part)) + tail, params)
        if "RETURNING" in tail:
            out.extend(cur.fetchall())
    return out


def _sweep_chunk(tx: rawdb.Tx, ids: Sequence[int], now: dt.datetime, cal: Any, policy: sla.SlaPolicy, lead: int,
                 result: SweepResult, heads: Mapping[str, str | None], successors: Mapping[str, str]) -> None:
    """Write what the timers change at ``now`` on the dossiers ``ids`` (ascending), in the transaction ``tx``.

    The dossiers are read again under the transaction (locked on PostgreSQL, in id order, as a staff action
    locks its dossier before its work items: a staff action on one of them waits for this transaction, or
    committed before it and is seen), with their open work items, apologies and the timer notifications
    already written. Then, set-based: one guarded UPDATE per (stored class, new class) pair of the work items
    (``WHERE`` the item is still open with the class read: an item a staff action closed or a concurrent
    sweep changed meanwhile gets nothing), one for the dossiers turning overdue, one INSERT of the apologies
    (``ON CONFLICT DO NOTHING`` on the one-per-appointment key), and multi-row INSERTs of the events and the
    outbox items (the timer keys are unique: a notification is written once). Only the rows an UPDATE or
    INSERT returned get their events and notifications, in dossier order and, within a dossier, as
    :func:`sweep_timers` has always written them (items by id, then the dossier, then its apology).
    """
    member, chunk_params = _member(tx, ids)
    lock = " FOR UPDATE OF dossiers" if tx.pg else ""
    dossiers = tx.execute(
        "SELECT dossiers.id, dossiers.code, dossiers.procedure_code, dossiers.status, dossiers.received_at, "
        "dossiers.due_at, dossiers.finished_at, dossiers.timeliness, dossiers.clock, dossiers.definition_id, "
        "definition_versions.content_hash FROM dossiers "
        "JOIN definition_versions ON definition_versions.id = dossiers.definition_id "
        f"WHERE dossiers.id {member} AND dossiers.closed_at IS NULL AND dossiers.paused_at IS NULL "
        f"ORDER BY dossiers.id{lock}", chunk_params).fetchall()
    if not dossiers:
        return
    items: dict[int, list[Any]] = {}
    for item_id, dossier_id, step_id, unit_id, state, stored, raw_clock, due_at in tx.execute(
            f"SELECT id, dossier_id, step_id, unit_id, state, timeliness, clock, due_at FROM work_items "
            f"WHERE dossier_id {member} ORDER BY id", chunk_params).fetchall():
        # (the state is not in the WHERE: the planner would take its index, and read every open item)
        if state in OPEN_ITEM_STATES:
            if raw_clock is not None and not tx.pg:
                raw_clock = json_value(raw_clock)
            items.setdefault(dossier_id, []).append(rawdb.Row(
                id=item_id, step_id=step_id, unit_id=unit_id, timeliness=stored, clock=raw_clock,
                due_at=tx.read_instant(due_at)))
    apologies: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for dossier_id, due_at, proposed in tx.execute(
            f"SELECT dossier_id, due_at, proposed_due_at FROM apologies WHERE dossier_id {member} "
            "ORDER BY dossier_id, id", chunk_params).fetchall():
        apologies.setdefault(dossier_id, []).append((tx.read_instant(due_at), tx.read_instant(proposed)))
    written = {key for (key,) in tx.execute(
        f"SELECT idempotency_key FROM outbox WHERE dossier_id {member} AND idempotency_key LIKE 'timer:%'",
        chunk_params).fetchall()}

    # What each dossier would get, computed as the one-transaction-per-dossier sweep did.
    item_changes: dict[tuple[str | None, str], list[int]] = {}  # (stored, new) class -> item ids
    plans: list[_SweepPlan] = []
    for (dossier_id, code, procedure_code, status, received_at, due_at, finished_at, timeliness, raw_clock,
         definition_id, content_hash) in dossiers:
        defn = _definition_by_hash(tx, definition_id, content_hash)
        open_items = items.get(dossier_id, [])
        changes = []
        left_by_item: list[tuple[str, int]] = []
        for w in open_items:
            clock = machine.load_clock(w.clock)
            if clock is None or clock.paused:
                continue
            cls = str(sla.timeliness_open(clock, cal, now, policy, sla.Scope.STEP))
            left_by_item.append((w.step_id, max(0, clock.remaining(cal, now))))
            if cls != (w.timeliness or "not_due"):
                changes.append((w, cls))
                item_changes.setdefault((w.timeliness, cls), []).append(w.id)
        overdue, apology = False, None
        due_at = tx.read_instant(due_at)
        dclock = None
        if received_at is not None and due_at is not None and finished_at is None:
            dclock = machine.load_clock(raw_clock if tx.pg or raw_clock is None else json_value(raw_clock))
        if dclock is not None:
            dcls = str(sla.timeliness_open(dclock, cal, now, policy, sla.Scope.DOSSIER))
            overdue = dcls == "overdue" and timeliness != "overdue"
            apology = _apology_due(defn, due_at, apologies.get(dossier_id, []), left_by_item, now, cal, lead)
        plans.append(_SweepPlan(dossier_id, code, procedure_code, status, due_at, timeliness, defn, open_items,
                                changes, overdue, apology))

    # The guarded writes: what they return is what changed.
    changed_items: set[int] = set()
    for (stored, cls), item_ids in item_changes.items():
        guard = "timeliness IS NULL" if stored is None else "timeliness = ?"
        for start in range(0, len(item_ids), _INSERT_ROWS):
            part, params = _member(tx, item_ids[start:start + _INSERT_ROWS])
            params = [cls, *params] + ([] if stored is None else [stored])
            changed_items.update(r[0] for r in tx.execute(
                f"UPDATE work_items SET timeliness = ? WHERE id {part} "
                f"AND state IN ({_OPEN_STATES_SQL}) AND {guard} RETURNING id", params).fetchall())
    overdue_ids = [p.id for p in plans if p.overdue]
    overdue_done: set[int] = set()
    if overdue_ids:
        part, params = _member(tx, overdue_ids)
        overdue_done = {r[0] for r in tx.execute(
            f"UPDATE dossiers SET timeliness = 'overdue' WHERE id {part} AND closed_at IS NULL "
            "AND (timeliness IS NULL OR timeliness != 'overdue') RETURNING id", params).fetchall()}

    def holder(p: _SweepPlan) -> str | None:
        if not p.holder:  # computed when a notice or an apology needs it
            p.holder.append(_answerable_unit(p.defn, p.items, heads, successors))
        return p.holder[0]

    apology_rows = []
    for p in plans:
        if p.apology is not None:
            promised, proposed, need, left = p.apology
            apology_rows.append({"dossier_id": p.id, "due_at": promised, "proposed_due_at": proposed,
                                 "needed_minutes": need, "remaining_minutes": left, "reason": "", "state": "draft",
                                 "drafted_at": now, "signed_at": None, "unit_id": holder(p)})
    apology_ids = {dossier_id: apology_id for apology_id, dossier_id in _insert_many(
        tx, _APOLOGIES, apology_rows, " ON CONFLICT (dossier_id, due_at) DO NOTHING RETURNING id, dossier_id")}

    events: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []

    def note(p: _SweepPlan, kind: str, key: str, payload: dict[str, Any], item_id: int | None,
             unit: str | None) -> None:
        if key in written:  # (a notification is written once, e.g. an item nearly due again after a restart)
            return
        written.add(key)
        outbox.append({"kind": kind, "dossier_id": p.id, "work_item_id": item_id,
                       "payload": {**payload, "dossier_code": p.code, "procedure_code": p.procedure_code, "unit": unit,
                                   "role": heads.get(unit) if unit else None},
                       "idempotency_key": key, "state": OUTBOX_PENDING, "available_at": now, "attempts": 0,
                       "lease_owner": None, "lease_until": None, "created_at": now, "completed_at": None,
                       "result": None, "last_error": None})

    def event(p: _SweepPlan, item_id: int | None, action: str, step_id: str | None, data: dict[str, Any]) -> None:
        events.append({"dossier_id": p.id, "work_item_id": item_id, "at": now, "actor": SYSTEM_USERNAME,
                       "actor_unit": None, "action": action, "step_id": step_id, "from_status": p.status,
                       "to_status": p.status, "to_steps": [], "outcome": None, "comment": "", "data": data})

    for p in plans:
        for w, cls in p.changes:
            if w.id not in changed_items:
                continue
            item_due = w.due_at.isoformat() if w.due_at else None
            event(p, w.id, "timeliness", w.step_id, {"from": w.timeliness, "to": cls, "due_at": item_due})
            if cls == "nearly_due":
                result.nearly_due += 1
            elif cls == "overdue":
                result.overdue += 1
            if cls in ("nearly_due", "overdue"):  # a unit without a head (a partner agency): the dossier's office
                told = w.unit_id if heads.get(w.unit_id) else holder(p)
                note(p, "notify_unit_head", f"timer:item:{w.id}:{cls}", {
                    "reason": cls, "step": w.step_id, "work_item": w.id, "step_unit": w.unit_id,
                    "due_at": item_due}, w.id, told)
        if p.id in overdue_done and p.due_at is not None:
            due = p.due_at.isoformat()
            result.dossiers_overdue += 1
            event(p, None, "timeliness", None, {"from": p.timeliness, "to": "overdue", "due_at": due})
            note(p, "notify_unit_head", f"timer:dossier:{p.id}:{due}:overdue",
                 {"reason": "dossier_overdue", "due_at": due}, None, holder(p))
        apology_id = apology_ids.get(p.id)
        if apology_id is not None and p.apology is not None:
            promised, proposed, need, left = p.apology
            result.apologies += 1
            event(p, None, "apology", None, {"due_at": promised.isoformat(), "proposed_due_at": proposed.isoformat(),
                                             "needed_minutes": need, "remaining_minutes": left,
                                             "apology": apology_id})
            note(p, "produce_form", f"timer:apology:{apology_id}:form", {
                "form": "BM04", "apology": apology_id, "proposed_due_at": proposed.isoformat()}, None, holder(p))
            note(p, "notify_unit_head", f"timer:apology:{apology_id}:head", {
                "reason": "apology_drafted", "apology": apology_id, "due_at": promised.isoformat(),
                "proposed_due_at": proposed.isoformat()}, None, holder(p))
    _insert_many(tx, _EVENTS, events)
    result.notifications += len(_insert_many(tx, _OUTBOX, outbox,
                                             " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"))


def _apology_due(defn: Definition, due_at: dt.datetime, apologies: Sequence[tuple[dt.datetime, dt.datetime]],
                 left_by_item: list[tuple[str, int]], now: dt.datetime, cal: Any,
                 lead: int) -> tuple[dt.datetime, dt.datetime, int, int] | None:
    """The apology (form 04) a dossier due at ``due_at`` needs at ``now``: (the appointment it cannot keep, the
    proposed new one, the working minutes needed, those left), or None.

    From ``lead`` working minutes (one working day) before the appointment, if it cannot be kept. After an
    apology the appointment is the new date it gave (unless a pause has moved the dossier's own past it); when
    that date has come and the dossier is still open, another apology is drafted. (Not before: the new date was
    "now + what is still needed", an estimate that would say "cannot make it" again a minute later, since no
    work is assumed done meanwhile.) None when the apology for that appointment exists (``apologies``: the
    dossier's (due_at, proposed_due_at), in id order).
    """
    left = cal.elapsed(now, due_at)
    if left > lead:  # (an apology's date is later still)
        return None
    promised = due_at
    if apologies and utc(apologies[-1][1]) > promised:
        promised = utc(apologies[-1][1])
        left = cal.elapsed(now, promised)
        if left > 0:
            return None
    need = remaining_need(defn, left_by_item)
    if need <= max(0, left):
        return None
    if any(a_due == promised for a_due, _ in apologies):
        return None
    return promised, cal.add(now, need), need, left


def apology_signer(successors: Mapping[str, str], unit_id: str | None) -> str | None:
    """The unit whose head signs an apology (form 04) drafted for ``unit_id``: that unit, or, when it was
    merged into another (units.yaml ``merged_into``; ``successors`` as :func:`unit_successors` gives them),
    the unit that now does its work, whether or not ``quytrinh unit transfer`` has moved the draft yet."""
    return successors.get(unit_id, unit_id) if unit_id else unit_id


@dataclass(frozen=True)
class ApologyToSign:
    """A draft apology (form 04) waiting for its signature: :func:`apologies_to_sign`."""

    apology_id: int
    dossier_code: str
    procedure_code: str
    applicant: str
    due_at: dt.datetime           # the appointment that cannot be kept
    proposed_due_at: dt.datetime  # the new one the timer proposes
    drafted_at: dt.datetime
    unit_id: str | None           # the unit it was drafted for (a merged unit's until the transfer)
    signer_unit: str | None       # the unit whose head signs it now


def apologies_to_sign(db: Any, *, unit: str | None = None, commune: str | None = None) -> list[ApologyToSign]:
    """The draft apologies of open dossiers, the earliest missed appointment first: those ``unit``'s head signs
    (every unit's when None). A draft of a unit merged into ``unit`` is listed for ``unit`` (its head signs it,
    before ``quytrinh unit transfer`` as after), and none for the merged unit. ``commune``: only those of that
    commune's dossiers and of dossiers of no commune (a commune chairman's, :attr:`Actor.commune`)."""
    with _reading(db) as s:
        successors = _merged_units(s)
        rows = s.exec(select(Apology, Dossier).join(Dossier, Dossier.id == Apology.dossier_id)  # type: ignore[arg-type]
                      .where(Apology.state == "draft", Dossier.closed_at.is_(None),  # type: ignore[union-attr]
                             Dossier.finished_at.is_(None))  # type: ignore[union-attr]
                      .order_by(Apology.due_at, Apology.id)).all()
    out = []
    for ap, d in rows:
        if commune and d.commune and commune_key(d.commune) != commune_key(commune):
            continue
        signer = apology_signer(successors, ap.unit_id)
        if unit is None or signer == unit:
            out.append(ApologyToSign(ap.id, d.code, d.procedure_code, d.applicant,  # type: ignore[arg-type]
                                     utc(ap.due_at), utc(ap.proposed_due_at), utc(ap.drafted_at), ap.unit_id, signer))
    return out


def sign_apology(db: Any, actor: Actor, apology_id: int, *, reason: str, now: dt.datetime,
                 proposed_due_at: dt.datetime | None = None, calendar: Any = None) -> Apology:
    """The head of the unit answerable for a late dossier signs its apology (form 04).

    The timer sweep drafts the apology with a proposed new appointment; the
    head writes the reason, confirms the date or gives a later one, and signs.
    The applicant is told the new appointment (``notify_citizen``), and the
    reports count the apology from then on (a draft nobody signed is not an
    apology made). One transaction; a refused call changes nothing.

    Raises
    ------
    NotFound
        When there is no such apology.
    NotAuthorized
        When the actor is not the head of the apology's unit, or, when that unit was merged into another
        (units.yaml ``merged_into``), of the unit that now does its work (:func:`apology_signer`; the merged
        unit's former head is refused too: form 04 is a letter issued in the signing unit's name and seal,
        and that unit no longer exists). Signed, the apology is the signing unit's (``unit_id``), and the
        ``apology_signed`` event records the unit it was drafted for (``from_unit``, ``to_unit``).
    ActionError
        When the reason is empty, the apology is not a draft any more, the
        dossier is finished or closed (withdrawn, stopped), or the new
        appointment is before the proposed one (the time the rest of the work
        needs), not after ``now``, or not at the end of a working minute (an
        appointment falls in office hours: 17:00, not 22:00 or a Sunday).
    """
    now = utc(now)
    reason = (reason or "").strip()
    cal = calendar or _default_calendar()
    with _transaction(db) as s:
        if actor.user_id is not None:  # the head's account as it is now, share-locked (see _acting)
            me = s.exec(select(User).where(User.id == actor.user_id).with_for_update(read=True)).first()
            if me is None:
                raise NotFound(f"sign_apology: user '{actor.username}' does not exist")
            if not me.active:
                raise NotAuthorized(f"sign_apology: user '{me.username}' is deactivated (enable it again with: "
                                    f"quytrinh user enable {me.username})")
            actor = Actor(me.username, me.unit_id, me.role, me.id, me.full_name or "", me.commune or "")
        ap = s.exec(select(Apology).where(Apology.id == apology_id).with_for_update()).first()
        if ap is None:
            raise apology_missing(apology_id)
        d = s.get(Dossier, ap.dossier_id)
        code = d.code if d is not None else str(ap.dossier_id)
        # A unit merged into another (units.yaml merged_into, read now) no longer signs: its successor's head
        # does, from the moment the merge is stored, before and after quytrinh unit transfer.
        signer = apology_signer(_merged_units(s), ap.unit_id)
        unit = s.get(UnitRow, signer) if signer else None
        head = _head_role(unit.roles or {}) if unit is not None else None
        if actor.is_system or head is None or actor.unit != signer or actor.role != head:
            if signer != ap.unit_id:
                raise NotAuthorized(f"sign_apology: {actor} may not sign the apology of dossier {code}; "
                                    f"{ap.unit_id} was merged into {signer}: the head ({head or 'none'}) of "
                                    f"{signer} does")
            raise NotAuthorized(f"sign_apology: {actor} may not sign the apology of dossier {code}; "
                                f"the head ({head or 'none'}) of {ap.unit_id} does")
        if d is not None:
            _same_commune("sign_apology", actor, d)
        if not reason:
            raise ActionError("sign_apology: write the reason for the delay (it is printed on form 04)")
        if ap.state != "draft":
            raise ActionError(f"sign_apology: the apology of dossier {code} is already {ap.state}")
        if d is None or d.finished_at is not None:
            raise ActionError(f"sign_apology: dossier {code} is finished; no apology is needed")
        if d.closed_at is not None:
            raise ActionError(f"sign_apology: dossier {code} is closed (withdrawn or stopped); no apology is needed")
        proposed = utc(ap.proposed_due_at)
        new = utc(proposed_due_at) if proposed_due_at is not None else proposed
        if new < proposed or new <= now:
            raise ActionError(f"sign_apology: the new appointment {new.isoformat()} must be no earlier than the "
                              f"proposed one ({proposed.isoformat()}), which gives the rest of the work its time, "
                              "and after now")
        if cal.elapsed(new - dt.timedelta(minutes=1), new) != 1:
            raise ActionError(f"sign_apology: the new appointment {new.isoformat()} is outside office hours; "
                              "give the end of a working hour (e.g. 17:00 of a working day)")
        drafted_for = ap.unit_id
        # signed, it is the signing unit's letter (form 04 names it); a draft of a merged unit becomes its successor's
        ap.reason, ap.proposed_due_at, ap.state, ap.signed_at, ap.unit_id = reason, new, "signed", now, signer
        s.add(ap)
        data = {"apology": ap.id, "due_at": utc(ap.due_at).isoformat(), "proposed_due_at": new.isoformat()}
        if drafted_for != signer:
            data.update(from_unit=drafted_for, to_unit=signer)
        s.add(Event(dossier_id=d.id, at=now, actor=actor.username, actor_unit=actor.unit, action="apology_signed",
                    from_status=d.status, to_status=d.status, comment=reason, data=data))
        s.add(OutboxItem(kind="notify_citizen", dossier_id=d.id,
                         payload={"reason": "apology", "apology": ap.id, "proposed_due_at": new.isoformat(),
                                  "dossier_code": d.code, "procedure_code": d.procedure_code, "unit": ap.unit_id},
                         idempotency_key=f"apology:{ap.id}:signed", state=OUTBOX_PENDING, available_at=now,
                         created_at=now))
        s.flush()
        return ap


# --------------------------------------------------------------------------- queries


def waiting_for_applicant(store: Any, unit: str | None) -> list[dict[str, Any]]:
    """Dossiers that wait for the applicant (a supplement, or the financial obligations), oldest wait first:
    those received by the one-stop unit ``unit`` (every unit's when None).

    Each is ``{"item", "dossier", "procedure", "financial", "asked"}``: the open citizen work item, the
    dossier, the procedure's name, whether it is the financial obligations, and what was asked (the
    comment of the action that opened the wait: what to supplement, printed on form 02; may be empty).
    The one-stop officer's /inbox panel, and ``quytrinh tasks --waiting``.

    Three statements whatever the number of waiting dossiers: the open citizen items with their dossiers,
    the definition versions they use (each read once, not once per row), and the commented events of the
    waiting dossiers as plain columns, read once in order (:func:`_asked_of`).
    """
    with as_store(store).session() as s:
        rows = s.exec(select(WorkItem, Dossier)
                      .join(Dossier, Dossier.id == WorkItem.dossier_id)  # type: ignore[arg-type]
                      .where(WorkItem.kind == "citizen", WorkItem.state.in_(OPEN_ITEM_STATES))  # type: ignore[attr-defined]
                      .order_by(WorkItem.opened_at, WorkItem.id)).all()  # type: ignore[arg-type]
        if not rows:
            return []
        versions = {v.id: v for v in s.exec(select(DefinitionVersion).where(
            DefinitionVersion.id.in_(sorted({d.definition_id for _, d in rows})))).all()}  # type: ignore[union-attr]
        successors = unit_successors(store) if unit is not None else {}
        out = []
        for w, d in rows:
            v = versions[d.definition_id]
            defn = definition_of(v)
            if unit is None or _start_unit(defn, successors) == unit:
                step = defn.steps_by_id().get(w.step_id)
                out.append({"item": w, "dossier": d, "procedure": v.name,
                            "financial": step is not None and step.financial, "asked": ""})
        if out:
            asked = _asked_of(s, [r["dossier"].id for r in out])
            for r in out:
                r["asked"] = asked.get((r["item"].dossier_id, r["item"].step_id), "")
    return out


def _asked_of(s: Any, dossier_ids: list[int]) -> dict[tuple[int, str], str]:
    """What was asked of the applicant: (dossier id, step id) -> the comment of the latest commented event
    of the dossier that opened the step (what to supplement, the financial obligations' notice).

    One statement of three plain columns (no ORM entities), one pass over its rows in event order.
    """
    asked: dict[tuple[int, str], str] = {}
    for dossier_id, to_steps, comment in s.exec(
            select(Event.dossier_id, Event.to_steps, Event.comment)
            .where(Event.dossier_id.in_(dossier_ids), Event.comment != "")  # type: ignore[attr-defined]
            .order_by(Event.id)):  # type: ignore[arg-type]
        for step_id in to_steps or ():
            asked[(dossier_id, step_id)] = comment
    return asked


@dataclass
class TaskRow:
    """One open work item as an inbox lists it."""

    item_id: int
    dossier_id: int
    dossier_code: str
    procedure_code: str
    applicant: str
    step_id: str
    step_name: str
    kind: str
    unit_id: str | None
    role: str | None
    assignee: str | None
    state: str
    opened_at: dt.datetime
    due_at: dt.datetime | None
    remaining_minutes: int | None
    timeliness: str | None  # live class at ``now``: not_due | nearly_due | overdue (None: paused / untimed)
    dossier_version: int
    paused: bool = False


#: The inbox query: open items with their dossier and assignee, oldest due first (no due instant last).
#: The clock comes as its JSON text (json.loads on text beats the driver's JSON loader on every dialect).
_TASKS_SQL = ("SELECT w.id, w.dossier_id, d.code, d.procedure_code, d.applicant, w.step_id, w.step_name, w.kind, "
              "w.unit_id, w.role, a.username, w.state, w.opened_at, w.due_at, CAST(w.clock AS TEXT), d.version "
              "FROM work_items w JOIN dossiers d ON d.id = w.dossier_id "
              "LEFT OUTER JOIN users a ON a.id = w.assignee_id "
              "WHERE w.state IN ('open', 'claimed'){where} "
              "ORDER BY w.due_at IS NULL, w.due_at, w.id")


def tasks_query(tx: rawdb.Tx, *, unit: str | None = None, user: str | None = None, commune: str | None = None,
                limit: int | None = None) -> tuple[str, list[Any]]:
    """The inbox statement :func:`list_tasks` runs, and its parameters (looks the user up)."""
    where: list[str] = []
    params: list[Any] = []
    if unit:
        where.append("w.unit_id = ?")
        params.append(unit)
    if user:
        u = tx.execute("SELECT id, unit_id, role, commune FROM users WHERE username_key = ?",
                       (username_key(user),)).fetchone()
        if u is None:
            raise NotFound(f"user '{user}' does not exist")
        where.append("(w.assignee_id = ? OR (w.assignee_id IS NULL AND w.unit_id = ? AND w.role = ?))")
        params.extend(u[:3])
        commune = commune or u[3]
    if commune:  # an officer of a commune: that commune's dossiers, and those of no commune
        where.append("(d.commune = '' OR d.commune = ?)")
        params.append(commune)
    sql = _TASKS_SQL.format(where="".join(f" AND {c}" for c in where))
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


def list_tasks(db: Any, *, now: dt.datetime, unit: str | None = None, user: str | None = None,
               commune: str | None = None, overdue: bool = False, calendar: Any = None,
               policy: sla.SlaPolicy = sla.DEFAULT_SLA_POLICY, limit: int | None = None) -> list[TaskRow]:
    """Open work items, oldest due first (items without a due instant last; ties by item id).

    One query over the needed columns (the work item, its dossier, the
    assignee's name), ordered (and limited) by the database; the live
    remaining time and class are computed for the returned rows only.

    Parameters
    ----------
    unit : str or None
        Only items of this unit.
    user : str or None
        Only items this user may act on: claimed by them, or unclaimed in their unit and role; for an
        officer tied to a commune, on that commune's dossiers (and those of no commune).
    commune : str or None
        Only items of this commune's dossiers and of those of no commune (as units.yaml writes it; the
        user's own when ``user`` is given and this is not).
    overdue : bool
        Only items overdue at ``now``.
    limit : int or None
        At most this many rows, the first in that order (None: all).

    Raises
    ------
    NotFound
        When ``user`` does not exist.
    """
    now = utc(now)
    cal = calendar or _default_calendar()
    with rawdb.read(db) as tx:
        rows = tx.execute(*tasks_query(tx, unit=unit, user=user, commune=commune,
                                       limit=None if overdue else limit)).fetchall()
        read_instant = tx.read_instant
    out: list[TaskRow] = []
    load, classify = sla.Clock.from_dict, sla.classify_open
    for (item_id, dossier_id, code, procedure_code, applicant, step_id, step_name, kind, unit_id, role,
         username, state, opened_at, due_at, clock_text, version) in rows:
        data = json_value(clock_text) if clock_text is not None else None
        clock = load(data) if data else None  # as machine.load_clock
        remaining = cls = None
        paused = kind == "citizen"
        if clock is not None:
            if clock.paused:
                paused = True
            else:
                # sla.timeliness_open(clock, cal, now, policy, Scope.STEP), sharing its two calendar walks
                allotted, spent = clock.limit(cal, now), clock.spent(cal, now)
                remaining = allotted - spent
                cls = str(classify(allotted, spent, policy))
        if overdue and cls != "overdue":
            continue
        out.append(TaskRow(item_id, dossier_id, code, procedure_code, applicant, step_id, step_name, kind,
                           unit_id, role, username, state, read_instant(opened_at), read_instant(due_at),
                           remaining, cls, version, paused=paused))
        if limit is not None and len(out) >= limit:
            break
    return out


@dataclass
class SheetRow:
    """One step of the process-control sheet (form 05)."""

    item_id: int
    step_id: str
    step_name: str
    kind: str
    unit_id: str | None
    role: str | None
    assignee: str | None
    state: str
    outcome: str | None
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    due_at: dt.datetime | None
    allotted_minutes: int | None
    spent_minutes: int | None
    timeliness: str | None


@dataclass
class DossierSheet:
    """A dossier with its work items and events: what ``quytrinh dossier show`` prints."""

    dossier: Dossier
    definition: Definition
    rows: list[SheetRow]
    events: list[Event]
    apologies: list[Apology]
    timeliness: str | None = None  # the dossier's class: live at ``now`` while open, else as stored
    usernames: dict[int, str] = field(default_factory=dict)  # user id -> username (who an event names)


def dossier_sheet(db: Any, dossier: int | str, *, now: dt.datetime | None = None, calendar: Any = None) -> DossierSheet:
    """The process-control sheet of a dossier: each step's allotted and spent working time and timeliness.

    For open items, ``spent_minutes`` and ``timeliness`` are computed at ``now``
    (when given).

    Raises
    ------
    NotFound
    """
    with _reading(db) as s:
        d, items, defn = _load(s, dossier)
        events = list(s.exec(select(Event).where(Event.dossier_id == d.id).order_by(Event.id)).all())
        apologies = [a for a in s.exec(select(Apology).where(Apology.dossier_id == d.id).order_by(Apology.id)).all()
                     if a.state != "draft" or (d.finished_at is None and d.closed_at is None)]  # moot once over
        users = {u.id: u.username for u in s.exec(select(User)).all()}
    cal = calendar or (_default_calendar() if now is not None else None)
    rows = []
    for w in items.values():
        spent, cls = w.spent_minutes, w.timeliness
        if w.state in OPEN_ITEM_STATES and now is not None:
            clock = machine.load_clock(w.clock)
            if clock is not None:
                spent = clock.spent(cal, utc(now))
                cls = None if clock.paused else str(sla.timeliness_open(clock, cal, utc(now)))
        rows.append(SheetRow(w.id, w.step_id, w.step_name, w.kind, w.unit_id, w.role,  # type: ignore[arg-type]
                             users.get(w.assignee_id), w.state, w.outcome, w.opened_at, w.closed_at, w.due_at,
                             w.allotted_minutes, spent, cls))
    dcls = d.timeliness
    dclock = machine.load_clock(d.clock)
    if now is not None and dclock is not None and not dclock.closed and d.paused_at is None:
        dcls = str(sla.timeliness_open(dclock, cal, utc(now), scope=sla.Scope.DOSSIER))
    return DossierSheet(d, defn, rows, events, apologies, dcls, users)


__all__ = [
    "Actor", "SYSTEM", "ActionResult", "SweepResult", "TaskRow", "SheetRow", "DossierSheet",
    "get_actor", "seed_organisation", "add_user", "hash_password", "check_password",
    "unit_successors", "forget_unit_successors", "holds_merged_work", "transfer_unit_work", "UnitTransfer",
    "TransferredItem",
    "publish_definition", "current_definition", "definition_of",
    "submit", "receive", "claim", "complete", "sign", "return_result", "request_supplement",
    "supplement_received", "financial_done", "withdraw", "stop", "sign_apology",
    "apology_signer", "apologies_to_sign", "ApologyToSign",
    "claim_outbox", "complete_outbox", "fail_outbox", "sweep_timers", "remaining_need",
    "list_tasks", "dossier_sheet", "reason_needed", "HEAD_ROLES",
    "QuytrinhError", "ActionError", "IllegalAction", "StaleVersion", "NotAuthorized", "DuplicateRequest",
    "NotFound", "Store",
]
