"""The platform's database schema: Alembic migrations, applied at start under a lock.

Several nodes may start at once on one PostgreSQL database: each migrates while holding a
session-level advisory lock, so one migrates and the others then find the schema at head. A
node never serves a schema its code does not match: after migrating, the database must be at
the code's head; a database a newer node has migrated already is refused (`SchemaTooNew`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from csms.db import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# The advisory lock key that migrations are run under on PostgreSQL ("cpom" in ASCII).
MIGRATION_LOCK = 0x63706F6D


class SchemaTooNew(Exception):
    """The database was migrated by newer code than this node's."""

    def __init__(self, revision: str, head: str) -> None:
        super().__init__(
            f"the database schema is at {revision}, newer than this code ({head}); upgrade this node"
        )
        self.revision, self.head = revision, head


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, url: str, target: str) -> str:
    """Upgrades to `target` on `connection` (env.py migrates on the connection it is handed);
    the revision reached."""
    config = alembic_config(url)
    config.attributes["connection"] = connection
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head() or "base"
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError:
            raise SchemaTooNew(current, head) from None
    command.upgrade(config, target)
    reached = MigrationContext.configure(connection).get_current_revision()
    wanted = head if target == "head" else target
    if reached != wanted:  # a downgrade is never made here: only a newer database is ahead
        raise SchemaTooNew(reached or "base", head)
    return wanted


async def migrate(url: str, target: str = "head") -> str:
    """Brings the schema to the newest revision (or `target`). On PostgreSQL, under a
    session-level advisory lock held for the whole upgrade, so that nodes starting together
    migrate one after the other; raises SchemaTooNew when the database is ahead of this code.
    Returns the revision the database is at."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            locking = connection.dialect.name == "postgresql"
            if locking:
                await connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK)))
                await connection.commit()  # the lock outlives the transaction that took it
            revision = await connection.run_sync(_upgrade, url, target)
            await connection.commit()
            if locking:  # after a failure, closing the connection (dispose) releases it
                await connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK)))
                await connection.commit()
    finally:
        await engine.dispose()
    return revision
