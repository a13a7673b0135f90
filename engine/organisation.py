"""The organisation a process works with: the catalogue's units.yaml, else the one the database stores.

The reform office edits ``units.yaml``; a mistake there (a mistyped ``merged_into``, a role a successor
lacks, a YAML slip) must not stop the one-stop counter and the staff. Every command, the web app and the
worker work on the units the database stores: the last correct ``units.yaml`` that ``quytrinh publish``
or a command read into it (``engine.services.seed_organisation``). While units.yaml has problems, what
serves dossiers, work items, reports and forms goes on with those units (:func:`current_organisation`
returns them, with the file's problems for the caller to say once); what changes the organisation or
publishes refuses with the problems and changes nothing. A database that stores no unit yet (a fresh
installation) has nothing to go on with: the problems are raised, as before.

The database stores the units (their names, levels, kinds, roles and ``merged_into``), not the
organisation's name, levels or communes: those are read from the file when they themselves are readable
(:func:`engine.definition.units_file_header`), else left empty.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.definition import Organisation, Unit, load_units, units_file_header
from engine.errors import DefinitionError

__all__ = ["units_file", "catalogue_communes", "stored_units", "stored_organisation", "current_organisation"]


def units_file() -> Path:
    """The catalogue's ``units.yaml`` (:func:`engine.calendar.catalogue_dir`), which may not exist."""
    from engine.calendar import catalogue_dir

    return catalogue_dir() / "units.yaml"


def catalogue_communes() -> tuple[str, ...]:
    """The communes of the catalogue's units.yaml (``communes:``); from a units.yaml with problems, those its
    ``communes:`` still lists when that list is readable (:func:`engine.definition.units_file_header`; the
    command or page said once that units.yaml has problems); none when there is no such file."""
    path = units_file()
    if not path.is_file():
        return ()
    try:
        return load_units(str(path)).communes
    except DefinitionError:
        return units_file_header(path).communes


def stored_units(db: Any) -> dict[str, Unit]:
    """The units the database stores (table ``units``), by id; empty when it stores none."""
    import sqlalchemy as sa

    from engine.store import UnitRow, as_store

    table = UnitRow.__table__  # type: ignore[attr-defined]
    with as_store(db).engine.connect() as conn:
        rows = list(conn.execute(sa.select(table).order_by(table.c.id)))
    return {r.id: Unit(r.id, r.name, r.level, r.kind, dict(r.roles or {}), r.short or "", None,
                       r.merged_into or "") for r in rows}


def stored_organisation(db: Any, path: str | os.PathLike | None = None) -> Organisation | None:
    """The organisation the database stores: its units, with the name, levels and communes that can still be
    read from ``path`` (default :func:`units_file`); None when the database stores no unit."""
    units = stored_units(db)
    if not units:
        return None
    header = units_file_header(path or units_file())
    levels = header.levels or tuple(dict.fromkeys(u.level for u in units.values() if u.level != "any"))
    return Organisation(levels, units, header.name, header.communes, "database")


def current_organisation(db: Any, path: str | os.PathLike | None = None
                         ) -> tuple[Organisation | None, DefinitionError | None]:
    """The organisation to work with, and the problems of ``units.yaml`` when it is not the file's.

    Parameters
    ----------
    db
        The database (a store, or what :func:`engine.store.as_store` takes).
    path
        The ``units.yaml`` (default :func:`units_file`).

    Returns
    -------
    (Organisation or None, DefinitionError or None)
        The file's organisation and None; (None, None) when there is no such file; the organisation the
        database stores and the file's problems when :func:`engine.definition.load_units` refuses it.

    Raises
    ------
    DefinitionError
        The file's problems, when the database stores no unit to go on with.
    """
    p = Path(path) if path is not None else units_file()
    if not p.is_file():
        return None, None
    try:
        return load_units(str(p)), None
    except DefinitionError as exc:
        stored = stored_organisation(db, p)
        if stored is None:
            raise
        return stored, exc
