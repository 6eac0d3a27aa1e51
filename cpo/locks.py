"""Advisory locks that serialise a few rare writers on PostgreSQL (no-ops on SQLite, which
takes one writer at a time): held until the transaction that took them ends (ADR 016)."""

from __future__ import annotations

import enum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


class Lock(enum.IntEnum):
    """The first key of each lock (the second names the party or object, or is 0)."""

    CATALOGUE = 1  # an operator's writes of Locations and Tariffs
    RESERVATION = 2  # one party's reservations, by the eMSP's reservation id
    ROLES = 3  # registrations: a role is checked free and taken in one turn
    SITE_POWER = 4  # one Location's power shares: recomputed and sent in one turn


async def hold(session: AsyncSession, lock: Lock, key: int = 0) -> None:
    """Waits for and takes `lock` (for `key`) until this transaction commits or rolls back."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(select(func.pg_advisory_xact_lock(int(lock), key)))
