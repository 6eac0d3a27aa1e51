"""Alembic environment: migrates on the connection cpo.schema hands it (which holds the
migration lock on PostgreSQL), or writes SQL in offline mode."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import cpo.cdrs.tables  # noqa: F401
import cpo.charging_profiles.tables  # noqa: F401
import cpo.commands.tables  # noqa: F401
import cpo.console.accounts  # noqa: F401  (registers the tables on SQLModel.metadata)
import cpo.firmware.tables  # noqa: F401
import cpo.locations.tables  # noqa: F401
import cpo.push.tables  # noqa: F401
import cpo.sessions.tables  # noqa: F401
import cpo.site_power.tables  # noqa: F401
import cpo.tables  # noqa: F401
import cpo.tariffs.tables  # noqa: F401
import cpo.tokens.tables  # noqa: F401
import csms.certificates.records  # noqa: F401
import csms.charging_profiles  # noqa: F401
import csms.device_model  # noqa: F401
import csms.models  # noqa: F401
import csms.provisioning  # noqa: F401

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
        raise RuntimeError("migrations run through cpo.schema.migrate (cpo migrate)")
    _run(connection)
