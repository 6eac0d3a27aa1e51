"""The admin API's bearer token: random, stored only as its SHA-256, checked in constant time.

A SHA-256 suffices where a password would need argon2: the token is 256 random bits, so there
is nothing to guess from its hash, and every admin request checks it cheaply.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo import meta
from cpo.ocpi.tokens import new_token

KEY = "cpo.admin_token.sha256"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def first_token(database: async_sessionmaker[AsyncSession]) -> str | None:
    """A token for a database that holds none, to be shown once; None when one is stored
    already (by an earlier start, `cpo admin-token` or another node starting at once)."""
    token = new_token()
    async with database.begin() as session:
        return token if await meta.add(session, KEY, digest(token)) else None


async def issue(database: async_sessionmaker[AsyncSession]) -> str:
    """A new token; the one before stops working at once, on every node."""
    token = new_token()
    async with database.begin() as session:
        await meta.write(session, KEY, digest(token))
    return token


class AdminToken:
    """Checks a presented bearer token against CPO_ADMIN_TOKEN when it is set, else against
    the stored hash, read at every check so that a token `cpo admin-token` issues works
    without a restart."""

    def __init__(self, database: async_sessionmaker[AsyncSession], configured: str | None) -> None:
        self._database = database
        self._configured = digest(configured) if configured else None

    async def accepts(self, presented: str) -> bool:
        expected = self._configured
        if expected is None:
            async with self._database() as session:
                expected = await meta.read(session, KEY)
        return expected is not None and secrets.compare_digest(digest(presented), expected)
