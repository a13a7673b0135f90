"""Alembic environment of quytrinh (no alembic.ini: see engine.store.alembic_config).

Run programmatically by :func:`engine.store.migrate` / :func:`engine.store.init_db`,
which pass an open connection in ``config.attributes["connection"]``. Used from
the ``alembic`` command line, build the config with ``engine.store.alembic_config``.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import engine.store  # noqa: F401  (registers the tables on SQLModel.metadata)
from engine.store import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
