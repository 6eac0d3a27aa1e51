"""Console logins: a browser signed in as a user, from its cookie's secret to the account, with
an idle and an absolute expiry; ended by logging out, by expiry, or with the account."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.console.accounts import ConsoleLogin, ConsoleUser
from cpo.console.roles import Role
from csms import clock

# A login's last request is written at most this often (not on every page and fragment),
# so its idle expiry is exact to within this.
TOUCH_EVERY = timedelta(seconds=30)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Login:
    secret: str  # what the cookie carries (signed)
    user: str
    role: Role


class Logins:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        idle: timedelta,
        longest: timedelta,
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.database = database
        # Every request of a page looks its login up: on SQLite, on the reading connections.
        self.reads = reads or database
        self.idle = idle
        self.longest = longest

    async def start(self, user: ConsoleUser) -> Login | None:
        """A new login for the user; None when the account went meanwhile."""
        secret = secrets.token_urlsafe(32)
        now = clock.now()
        assert user.id is not None
        try:
            async with self.database.begin() as session:
                session.add(
                    ConsoleLogin(key=digest(secret), user_id=user.id, created_at=now, seen_at=now)
                )
        except IntegrityError:  # removed between the password check and now
            return None
        return Login(secret, user.name, Role(user.role))

    async def find(self, secret: str) -> Login | None:
        """The live login the secret names, its last request noted; None when there is none,
        it expired (and is then removed) or its user was removed."""
        key = digest(secret)
        now = clock.now()
        async with self.reads() as session:
            row = (
                await session.execute(
                    select(ConsoleLogin, ConsoleUser)
                    .join(ConsoleUser, col(ConsoleUser.id) == col(ConsoleLogin.user_id))
                    .where(ConsoleLogin.key == key)
                )
            ).first()
        if row is None:
            return None
        login, user = row
        if now - login.seen_at > self.idle or now - login.created_at > self.longest:
            await self.end(secret)
            return None
        if now - login.seen_at > TOUCH_EVERY:
            async with self.database.begin() as session:
                # A plain write of a time: two requests at once both write about the same one.
                await session.execute(
                    update(ConsoleLogin).where(col(ConsoleLogin.key) == key).values(seen_at=now)
                )
        return Login(secret, user.name, Role(user.role))

    async def end(self, secret: str) -> None:
        async with self.database.begin() as session:
            await session.execute(
                delete(ConsoleLogin).where(col(ConsoleLogin.key) == digest(secret))
            )

    async def sweep(self) -> int:
        """Removes the logins that expired without a request to notice it."""
        now = clock.now()
        async with self.database.begin() as session:
            result = await session.execute(
                delete(ConsoleLogin).where(
                    (col(ConsoleLogin.seen_at) < now - self.idle)
                    | (col(ConsoleLogin.created_at) < now - self.longest)
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
