"""The actions' hot path: plain DB-API statements on the store's pooled connections.

A staff action reads one dossier with its work items and writes a handful of
rows (the version bump, the items, the events, the outbox). Through the ORM
each statement costs about 150 microseconds of Python; through the driver's
own cursor it costs a few. :mod:`engine.services` therefore runs its actions
(receive, claim, complete, sign, return, supplementation, withdrawal, stop)
on a :class:`Tx`, and keeps the ORM for everything else.

The rows written here are exactly what SQLAlchemy would write, so the ORM,
the reports and Alembic read them unchanged:

* instants are bound as UTC; on SQLite in SQLAlchemy's text form
  ``YYYY-MM-DD HH:MM:SS.ffffff`` (so they sort and compare in SQL), on
  PostgreSQL as aware datetimes; a naive datetime is refused;
* JSON columns are bound as :func:`engine.store.json_text` text (``None`` as
  JSON ``null``, as SQLAlchemy's ``JSON`` type does with the store's
  serializer) and read back as Python values;
* driver errors are raised as SQLAlchemy's exceptions (``IntegrityError``,
  ``OperationalError``...), so callers catch one family of errors.

Statements are written once with ``?`` placeholders; the PostgreSQL form
(``%s``) is derived once and cached.

On PostgreSQL the transaction runs in psycopg's pipeline mode: statements are
sent without waiting, and the client waits only where it reads a result (rows,
a row count, new ids) and at the commit. An action then costs four or five
round trips to the server instead of ten.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from engine.store import Store, UTCDateTime, as_store, json_text, json_value, utc

UTC = dt.timezone.utc


# --------------------------------------------------------------------------- rows


class Row(dict):
    """A row read by :class:`Tx`: a dict of column values, also readable as attributes."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Table:
    """What :class:`Tx` needs to know of one table: its columns and which are instants or JSON."""

    def __init__(self, name: str):
        table = SQLModel.metadata.tables[name]
        self.name = name
        self.columns: tuple[str, ...] = tuple(c.name for c in table.columns)
        self.instants = frozenset(c.name for c in table.columns if isinstance(c.type, UTCDateTime))
        self.json = frozenset(c.name for c in table.columns if isinstance(c.type, sa.JSON))
        self.select_list = ", ".join(f"{name}.{c}" for c in self.columns)
        self._inserts: dict[tuple[Any, ...], str] = {}
        self._updates: dict[tuple[str, ...], str] = {}
        self._binders: dict[tuple[bool, tuple[str, ...]], tuple[Any, ...]] = {}

    def binders(self, pg: bool, columns: tuple[str, ...]) -> tuple[Any, ...]:
        """Per column, the function that turns a Python value into a parameter (None: as is)."""
        key = (pg, columns)
        found = self._binders.get(key)
        if found is None:
            instant = _bind_instant_pg if pg else _bind_instant_sqlite
            found = self._binders[key] = tuple(
                instant if c in self.instants else json_text if c in self.json else None for c in columns)
        return found

    def insert_sql(self, columns: tuple[str, ...], rows: int = 1) -> str:
        key = (*columns, rows)
        sql = self._inserts.get(key)
        if sql is None:
            one = f"({', '.join('?' for _ in columns)})"
            sql = self._inserts[key] = (f"INSERT INTO {self.name} ({', '.join(columns)}) "
                                        f"VALUES {', '.join(one for _ in range(rows))}")
        return sql

    def update_sql(self, columns: tuple[str, ...], where: str = "id = ?") -> str:
        key = (*columns, where)
        sql = self._updates.get(key)
        if sql is None:
            sql = self._updates[key] = (f"UPDATE {self.name} SET {', '.join(f'{c} = ?' for c in columns)} "
                                        f"WHERE {where}")
        return sql


_TABLES: dict[str, Table] = {}


def table(name: str) -> Table:
    t = _TABLES.get(name)
    if t is None:
        t = _TABLES[name] = Table(name)
    return t


# --------------------------------------------------------------------------- values


def _aware_utc(value: dt.datetime) -> dt.datetime:
    """As :class:`engine.store.UTCDateTime` binds: UTC, a naive datetime refused."""
    if value.__class__ is dt.datetime and value.tzinfo is UTC:
        return value
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return utc(value)


#: Instants bound and read on SQLite, by value: an action binds the same ``now`` into several rows,
#: and reads the same instants of a dossier's items again at its next action. Bounded.
_SQLITE_TEXT: dict[dt.datetime, str] = {}
_SQLITE_INSTANT: dict[str, dt.datetime] = {}
_CACHE_MAX = 4096


def _bind_instant_sqlite(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    value = _aware_utc(value)
    text = _SQLITE_TEXT.get(value)
    if text is None:
        text = value.replace(tzinfo=None).isoformat(" ", "microseconds")
        if len(_SQLITE_TEXT) >= _CACHE_MAX:
            _SQLITE_TEXT.clear()
        _SQLITE_TEXT[value] = text
    return text


def _bind_instant_pg(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _aware_utc(value)


def _read_instant_sqlite(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    instant = _SQLITE_INSTANT.get(value)
    if instant is None:
        instant = dt.datetime.fromisoformat(value).replace(tzinfo=UTC)
        if len(_SQLITE_INSTANT) >= _CACHE_MAX:
            _SQLITE_INSTANT.clear()
        _SQLITE_INSTANT[value] = instant
    return instant


def _read_instant_pg(value: Any) -> dt.datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


#: JSON text as stored (instants and other values as their text).
dump_json = json_text


# --------------------------------------------------------------------------- the transaction


class Tx:
    """One transaction on a DB-API connection, with quytrinh's value conventions.

    Not made directly: use :func:`write`.
    """

    __slots__ = ("conn", "cur", "pg", "dbapi", "pipeline", "read_instant")

    _PG_SQL: dict[str, str] = {}

    def __init__(self, conn: Any, pg: bool, dbapi: Any, pipeline: Any = None):
        self.conn = conn
        self.cur = conn.cursor()
        self.pg = pg
        self.dbapi = dbapi
        self.pipeline = pipeline
        #: A stored instant (as the driver returns it) as an aware UTC datetime.
        self.read_instant = _read_instant_pg if pg else _read_instant_sqlite

    # -- statements

    def _sql(self, sql: str) -> str:
        if not self.pg:
            return sql
        pg = self._PG_SQL.get(sql)
        if pg is None:
            pg = self._PG_SQL[sql] = sql.replace("%", "%%").replace("?", "%s")
        return pg

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; the cursor (driver errors become SQLAlchemy's).

        In a pipeline every statement gets its own cursor, which holds its
        result until it is read.
        """
        cur = self.cur if self.pipeline is None else self.conn.cursor()
        try:
            cur.execute(self._sql(sql), params)
        except self.dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, self.dbapi.Error) from exc
        return cur

    def sync(self) -> None:
        """Send what the pipeline holds and wait for it (nothing to do outside a pipeline)."""
        if self.pipeline is not None:
            self.pipeline.sync()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an UPDATE or DELETE; the number of rows it changed."""
        return self.execute(sql, params).rowcount

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        """Run an INSERT into a table with an integer ``id``; the new row's id."""
        if self.pg:
            return self.execute(sql + " RETURNING id", params).fetchone()[0]
        return self.execute(sql, params).lastrowid

    def fetch(self, t: Table, sql: str, params: Sequence[Any] = (), extra: Sequence[str] = ()) -> list[Row]:
        """Rows of ``SELECT <t's columns>[, extra...] ...`` as :class:`Row` (instants and JSON decoded)."""
        names = t.columns + tuple(extra)
        return [self.decode(t, names, values) for values in self.execute(sql, params).fetchall()]

    def decode(self, t: Table, names: Sequence[str], values: Sequence[Any]) -> Row:
        """One row of ``t`` (``values`` for ``names``) with its instants and JSON decoded."""
        row = Row(zip(names, values))
        read_instant = self.read_instant
        for c in t.instants:
            row[c] = read_instant(row[c])
        if not self.pg:
            for c in t.json:
                v = row[c]
                if v is not None:
                    row[c] = json_value(v)
        return row

    # -- values

    def bind(self, t: Table, values: dict[str, Any]) -> list[Any]:
        """``values`` (column -> Python value) as parameters for the columns in their order."""
        return [v if f is None else f(v) for f, v in zip(t.binders(self.pg, tuple(values)), values.values())]

    def insert_row(self, t: Table, values: dict[str, Any]) -> int:
        """INSERT ``values`` into ``t``; the new id."""
        return self.insert(t.insert_sql(tuple(values)), self.bind(t, values))

    def insert_rows(self, t: Table, rows: list[dict[str, Any]]) -> list[int]:
        """INSERT ``rows`` (each with the same columns) into ``t``; their new ids, in order."""
        return self.insert_rows_later(t, rows)()

    def insert_rows_later(self, t: Table, rows: list[dict[str, Any]]) -> Any:
        """:meth:`insert_rows`, but the ids are read later: a function that returns them.

        SQLite: one statement; the ids follow from the last one, since the
        table's rowids are assigned in order under the transaction's write
        lock. PostgreSQL: the statements go down the pipeline with the ones
        that follow, and the ids come back with them.
        """
        if not rows:
            return lambda: []
        columns = tuple(rows[0])
        if not self.pg:
            params = [v for r in rows for v in self.bind(t, r)]
            last = self.execute(t.insert_sql(columns, len(rows)), params).lastrowid
            new_ids = list(range(last - len(rows) + 1, last + 1))
            return lambda: new_ids
        sql = self._sql(t.insert_sql(columns)) + " RETURNING id"
        cur = self.conn.cursor()
        try:
            if len(rows) == 1:
                cur.execute(sql, self.bind(t, rows[0]))
            else:
                cur.executemany(sql, [self.bind(t, r) for r in rows], returning=True)
        except self.dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, rows, exc, self.dbapi.Error) from exc

        def ids() -> list[int]:
            out = []
            try:
                while True:
                    out.append(cur.fetchone()[0])
                    if not cur.nextset():
                        return out
            except self.dbapi.Error as exc:
                raise sa.exc.DBAPIError.instance(sql, rows, exc, self.dbapi.Error) from exc
        return ids

    def update_row(self, t: Table, values: dict[str, Any], where: str, params: Sequence[Any]) -> int:
        """UPDATE ``t`` SET ``values`` WHERE ``where``; the number of rows changed."""
        return self.run(t.update_sql(tuple(values), where), [*self.bind(t, values), *params])

    def update_row_later(self, t: Table, values: dict[str, Any], where: str, params: Sequence[Any]) -> Any:
        """:meth:`update_row`, but the number of rows changed is read later: a function that returns it.

        In a pipeline the statement is sent with the ones that follow instead of
        waiting for its own answer.
        """
        cur = self.execute(t.update_sql(tuple(values), where), [*self.bind(t, values), *params])
        if self.pipeline is not None:
            def later() -> int:
                if cur.pgresult is None:  # its answer has not been read yet
                    self.sync()
                return cur.rowcount
            return later
        count = cur.rowcount
        return lambda: count


@contextmanager
def write(db: Any) -> Iterator[Tx]:
    """A write transaction on ``db`` (a Store, an engine, a URL, or a Session whose transaction to join).

    With a store it takes a pooled connection, begins (``BEGIN IMMEDIATE`` on
    SQLite: writers queue instead of failing later), commits when the block
    ends and rolls back on any error. With a session it works inside the
    session's transaction and neither commits nor rolls back.
    """
    if isinstance(db, Session):
        conn = db.connection()
        pg = conn.dialect.name == "postgresql"
        yield Tx(conn.connection.driver_connection, pg, conn.dialect.dbapi)
        return
    store: Store = as_store(db)
    engine = store.engine
    pg = engine.dialect.name == "postgresql"
    dbapi = engine.dialect.dbapi
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        try:
            if pg:
                # BEGIN and COMMIT are our own statements, sent down the pipeline with the others
                # (psycopg's implicit BEGIN would wait for its own answer).
                conn.autocommit = True
                try:
                    with conn.pipeline() as pipeline:
                        tx = Tx(conn, pg, dbapi, pipeline)
                        tx.execute("BEGIN")
                        yield tx
                        tx.execute("COMMIT")
                finally:
                    try:
                        if conn.info.transaction_status != _pg_idle():  # an error came back: no commit ran
                            conn.execute("ROLLBACK")
                        conn.autocommit = False
                    except dbapi.Error:  # pragma: no cover - the connection is broken: drop it from the pool
                        raw.invalidate()
            else:
                tx = Tx(conn, pg, dbapi)
                tx.execute("BEGIN IMMEDIATE")
                yield tx
                conn.execute("COMMIT")
        except dbapi.Error as exc:  # raised where a pipeline's result was read, or by the commit
            _lost(engine, raw, conn, exc)
            _rollback(raw, conn, pg, dbapi)
            raise sa.exc.DBAPIError.instance("", (), exc, dbapi.Error) from exc
        except BaseException as exc:
            _lost(engine, raw, conn, getattr(exc, "orig", None))
            _rollback(raw, conn, pg, dbapi)
            raise
    finally:
        raw.close()


@contextmanager
def read(db: Any) -> Iterator[Tx]:
    """Reads outside a transaction on ``db`` (or inside a Session's): each statement sees the latest commit.

    No BEGIN and no ROLLBACK: on PostgreSQL that is two round trips fewer per
    read, which is what the inbox query pays most for.
    """
    if isinstance(db, Session):
        conn = db.connection()
        yield Tx(conn.connection.driver_connection, conn.dialect.name == "postgresql", conn.dialect.dbapi)
        return
    engine = as_store(db).engine
    pg = engine.dialect.name == "postgresql"
    dbapi = engine.dialect.dbapi
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        if pg:
            conn.autocommit = True
        try:
            yield Tx(conn, pg, dbapi)
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance("", (), exc, dbapi.Error) from exc
        finally:
            if pg:
                try:
                    conn.autocommit = False
                except dbapi.Error:  # pragma: no cover - the connection is broken: drop it from the pool
                    raw.invalidate()
    finally:
        raw.close()


_PG_IDLE: Any = None


def _pg_idle() -> Any:
    """psycopg's IDLE transaction status, imported at the first PostgreSQL write (psycopg and ctypes cost
    about 0.1 s to import, which a SQLite process, a CLI command say, need not pay)."""
    global _PG_IDLE
    if _PG_IDLE is None:
        from psycopg.pq import TransactionStatus

        _PG_IDLE = TransactionStatus.IDLE
    return _PG_IDLE


def _lost(engine: Any, raw: Any, conn: Any, exc: Any) -> None:
    """When ``exc`` (a driver error on ``conn``) says the connection was lost, drop every connection of the pool.

    A lost connection usually means the server restarted: its siblings resting
    in the pool are as dead, and each would fail an action of its own. As
    SQLAlchemy does for its own statements, the pool is invalidated (its
    connections are replaced as they are next checked out).
    """
    if exc is None or not isinstance(exc, engine.dialect.dbapi.Error):
        return
    try:
        lost = engine.dialect.is_disconnect(exc, conn, None)
    except Exception:  # pragma: no cover - a dialect that cannot tell
        lost = False
    if lost:
        engine.pool._invalidate(raw, exc)  # SQLAlchemy's own pool-wide invalidation (by timestamp)


def _rollback(raw: Any, conn: Any, pg: bool, dbapi: Any) -> None:
    if raw.dbapi_connection is None:  # already invalidated (its connection was lost): nothing to roll back
        return
    try:
        if pg:
            conn.rollback()
        elif conn.in_transaction:
            conn.execute("ROLLBACK")
    except dbapi.Error:  # pragma: no cover - the connection is broken: the pool must not hand it out again
        raw.invalidate()
