"""Leases in the database: work that one process of the cluster does at a time (ADR 017).

A lease is a row of `leases`: its name, its holder, when it expires and a fencing token that
grows each time the lease is taken. Every time is the database's clock, never a node's: the
nodes compare their claims against one clock, so a node whose clock is off can neither take
a lease early nor keep one late.

The holder renews the lease inside the transaction of each unit of work, on the condition
that it still holds that token (`renew`). A holder that lost the lease (it stalled past the
expiry and another took it) renews nothing, and its transaction rolls back: what it did under
the old token never commits. On PostgreSQL the renewal also locks the row until the work
commits, so a takeover waits for the work in flight and then finds the lease renewed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Table, bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from cpo.tables import Lease
from csms import upsert

log = logging.getLogger("cpo.leases")

LEASES: Table = Lease.__table__  # type: ignore[attr-defined]


class Lost(Exception):
    """Raised inside a unit of work whose holder no longer holds its lease: it rolls back."""

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"{holder} no longer holds the lease {name!r}")
        self.name = name
        self.holder = holder


class _Clock(FunctionElement[datetime]):
    """The database's clock, `seconds` from now, in UTC without a zone (as UTCDateTime keeps
    times), so that it compares with the stored times on either database."""

    type = DateTime()
    inherit_cache = True
    name = "clock"


@compiles(_Clock, "postgresql")
def _postgresql_clock(element: _Clock, compiler: Any, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"((now() AT TIME ZONE 'UTC') + make_interval(secs => {seconds}))"


@compiles(_Clock, "sqlite")
def _sqlite_clock(element: _Clock, compiler: Any, **kw: Any) -> str:
    # Microseconds written out as SQLAlchemy writes them, so text comparisons order times.
    seconds = compiler.process(element.clauses, **kw)
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', {seconds} || ' seconds') || '000')"


def clock(seconds: float = 0.0) -> _Clock:
    return _Clock(bindparam(None, float(seconds), type_=Float))


async def acquire(session: AsyncSession, name: str, holder: str, ttl: float) -> int | None:
    """Takes the lease if it is free, expired or this holder's already, for `ttl` seconds: its
    new fencing token; None while another holds it. One statement: of several nodes taking
    it at once, one wins and the others find it held (the row's lock orders them)."""
    insert = upsert.insert(session, LEASES)
    statement = (
        insert.values(name=name, holder=holder, token=1, expires_at=clock(ttl))
        .on_conflict_do_update(
            index_elements=[LEASES.c.name],
            set_={"holder": holder, "token": LEASES.c.token + 1, "expires_at": clock(ttl)},
            where=or_(LEASES.c.expires_at <= clock(), LEASES.c.holder == holder),
        )
        .returning(LEASES.c.token)
    )
    token: int | None = (await session.execute(statement)).scalar_one_or_none()
    return token


async def renew(session: AsyncSession, name: str, holder: str, token: int, ttl: float) -> bool:
    """Extends the lease by `ttl` seconds if this holder still holds it under `token`; in the
    transaction of the work it fences, which commits only if this returned True."""
    result = await session.execute(
        update(LEASES)
        .where(LEASES.c.name == name, LEASES.c.holder == holder, LEASES.c.token == token)
        .values(expires_at=clock(ttl))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, name: str, holder: str, token: int | None = None) -> bool:
    """Lets the lease expire now, if this holder holds it (under `token`, if given): another
    takes it at once instead of after its expiry. Whether it was held."""
    statement = update(LEASES).where(LEASES.c.name == name, LEASES.c.holder == holder)
    if token is not None:
        statement = statement.where(LEASES.c.token == token)
    result = await session.execute(statement.values(expires_at=clock()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def take_turn(session: AsyncSession, name: str, holder: str, every: float) -> bool:
    """For a job the cluster runs once every `every` seconds, whichever node asks: whether it
    is this node's turn now (the last turn is `every` seconds old; this one starts). The first
    ask ever starts the clock and is nobody's turn, as a job first runs one period after it
    starts on one node."""
    insert = upsert.insert(session, LEASES)
    statement = (
        insert.values(name=name, holder=holder, token=0, expires_at=clock(every))
        .on_conflict_do_update(
            index_elements=[LEASES.c.name],
            set_={"holder": holder, "token": LEASES.c.token + 1, "expires_at": clock(every)},
            where=LEASES.c.expires_at <= clock(),
        )
        .returning(LEASES.c.token)
    )
    token: int | None = (await session.execute(statement)).scalar_one_or_none()
    return bool(token)  # 0: the row was made just now


class Holding:
    """One process's hold on a named lease: taken while free (`acquire`), renewed inside each
    unit of work (`renew`, the fence), released on a graceful stop so another takes over at once."""

    def __init__(
        self, database: async_sessionmaker[AsyncSession], name: str, holder: str, ttl: float
    ) -> None:
        self.database = database
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.token: int | None = None

    @property
    def held(self) -> bool:
        return self.token is not None

    async def acquire(self) -> bool:
        """Takes the lease if it is free or expired; whether this process holds it now."""
        async with self.database.begin() as session:
            self.token = await acquire(session, self.name, self.holder, self.ttl)
        if self.token is not None:
            log.info("%s holds the lease %r (token %d)", self.holder, self.name, self.token)
        return self.token is not None

    async def renew(self, session: AsyncSession) -> None:
        """In the transaction of a unit of work: extends the lease, or raises Lost (the
        transaction must roll back) when another process took it meanwhile."""
        if self.token is None:
            raise Lost(self.name, self.holder)
        if not await renew(session, self.name, self.holder, self.token, self.ttl):
            self.token = None
            raise Lost(self.name, self.holder)

    def lost(self) -> None:
        """Forgets the token: a unit of work found the lease gone (or could not tell)."""
        self.token = None

    async def release(self) -> None:
        """Hands the lease over at once, if this process holds it."""
        token, self.token = self.token, None
        if token is None:
            return
        async with self.database.begin() as session:
            await release(session, self.name, self.holder, token)
        log.info("%s released the lease %r", self.holder, self.name)
