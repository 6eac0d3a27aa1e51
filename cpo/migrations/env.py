"""Alembic environment: migrates on the connection cpo.database hands it (which holds the
migration lock on PostgreSQL), or writes SQL in offline mode."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import cpo.console.accounts  # noqa: F401  (registers the tables on SQLModel.metadata)
import cpo.models  # noqa: F401
import csms.models  # noqa: F401

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run through cpo.database.migrate (cpo migrate)")
    _run(connection)
