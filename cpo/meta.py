"""Facts the server keeps in the meta table for the CLI and the other nodes, written as upserts.

Several nodes may start at once and the CLI writes beside a running server, so a fact is never
read and then written: it is inserted with ON CONFLICT (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms.models import Meta

META: Table = Meta.__table__  # type: ignore[attr-defined]

# The base URL the server serves under, as it hands it to peers; the CLI's invitations and
# registrations use it, so they name the port and host the server is actually on.
PUBLIC_URL = "cpo.public_url"


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(META)


async def read(session: AsyncSession, key: str) -> str | None:
    return (await session.execute(select(META.c.value).where(META.c.key == key))).scalar()


async def write(session: AsyncSession, key: str, value: str) -> None:
    """Sets the fact, whoever set it before."""
    statement = _insert(session).values(key=key, value=value)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[META.c.key], set_={"value": value})
    )


async def add(session: AsyncSession, key: str, value: str) -> bool:
    """Sets the fact only where none is set; whether this call set it."""
    statement = _insert(session).values(key=key, value=value)
    result = await session.execute(statement.on_conflict_do_nothing(index_elements=[META.c.key]))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_public_url(database: async_sessionmaker[AsyncSession], url: str) -> None:
    async with database.begin() as session:
        await write(session, PUBLIC_URL, url)


async def public_url(database: async_sessionmaker[AsyncSession]) -> str | None:
    """The base URL the server recorded at its last start; None before any start."""
    async with database() as session:
        return await read(session, PUBLIC_URL)
