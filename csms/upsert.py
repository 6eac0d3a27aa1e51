"""INSERT ... ON CONFLICT in the dialect of the database in use (SQLite and PostgreSQL spell it alike)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def insert(bind: AsyncSession | AsyncConnection, table: Table) -> Any:
    """An INSERT into `table` that offers `on_conflict_do_nothing` / `on_conflict_do_update`."""
    dialect = bind.dialect if isinstance(bind, AsyncConnection) else bind.get_bind().dialect
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
