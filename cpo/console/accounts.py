"""Console accounts: each operator's name, argon2 password hash and role, kept in the database
so that every node knows them; the CLI adds and removes them (first-time set-up)."""

from __future__ import annotations

import asyncio
import re
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Text, delete, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select

from cpo.console.roles import NAME_MAX, PASSWORD_MAX, PASSWORD_MIN, Role
from cpo.operator_input import Conflict, NotFound
from csms.models import BigId, UTCDateTime, utcnow
from csms.passwords import hash_password, verify_password

_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]*")

# argon2 takes about a tenth of a second and 64 MiB: one check at a time per event loop, so
# that a flood of logins queues instead of taking every core and the memory with it.
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _turn() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if (turn := _turns.get(loop)) is None:
        turn = _turns[loop] = asyncio.Semaphore(1)
    return turn


class ConsoleUser(SQLModel, table=True):
    __tablename__ = "console_users"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    name: str = Field(max_length=NAME_MAX, unique=True)  # lower case (normalise_name)
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    role: str = Field(max_length=16)  # a Role
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ConsoleLogin(SQLModel, table=True):
    """A browser signed in to the console: its cookie names it, the row says whose it is and
    since when. Kept in the database, so that any node takes it, logging out or removing the
    user ends it everywhere, and a stolen database holds no usable cookie (only its digest)."""

    __tablename__ = "console_logins"

    key: str = Field(primary_key=True, max_length=64)  # SHA-256 of the cookie's secret
    user_id: int = Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("console_users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class BadAccount(ValueError):
    """A name, password or role that an account cannot have; the message says why."""


def normalise_name(name: str) -> str:
    return name.strip().lower()


def valid_name(name: str) -> bool:
    """Whether a (normalised) name is one an account can have."""
    return 0 < len(name) <= NAME_MAX and bool(_NAME.fullmatch(name))


def check_name(name: str) -> str:
    """The name as it is stored, or BadAccount."""
    normal = normalise_name(name)
    if not normal:
        raise BadAccount("the user name is empty")
    if len(normal) > NAME_MAX:
        raise BadAccount(f"the user name is longer than {NAME_MAX} characters")
    if not _NAME.fullmatch(normal):
        raise BadAccount(
            "a user name is letters, digits and . _ @ - (starting with a letter or digit)"
        )
    return normal


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise BadAccount(f"the password is shorter than {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise BadAccount(f"the password is longer than {PASSWORD_MAX} characters")
    return password


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BadAccount(f"no role {role!r}: one of {', '.join(r.value for r in Role)}") from None


def user_view(user: ConsoleUser) -> dict[str, Any]:
    """What anyone is shown of an account: never its hash."""
    return user.model_dump(mode="json", exclude={"password_hash", "id"})


async def _hash(password: str) -> str:
    async with _turn():
        return await asyncio.to_thread(hash_password, password)


async def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed (None: no such user, checked all the same)."""
    async with _turn():
        return await asyncio.to_thread(verify_password, password_hash, password)


async def add_user(
    database: async_sessionmaker[AsyncSession], name: str, password: str, role: str
) -> ConsoleUser:
    """A new account (BadAccount for a name, password or role it cannot have; Conflict when
    the name is taken)."""
    user = ConsoleUser(
        name=check_name(name),
        password_hash=await _hash(check_password(password)),
        role=check_role(role).value,
    )
    try:
        async with database.begin() as session:
            session.add(user)
    except IntegrityError as e:  # the unique name: also when two add it at once
        raise Conflict(f"user {user.name} exists already") from e
    return user


async def users(database: async_sessionmaker[AsyncSession]) -> list[ConsoleUser]:
    async with database() as session:
        return list(
            (await session.execute(select(ConsoleUser).order_by(ConsoleUser.name))).scalars()
        )


async def user_named(session: AsyncSession, name: str) -> ConsoleUser | None:
    found = await session.execute(
        select(ConsoleUser).where(ConsoleUser.name == normalise_name(name))
    )
    return found.scalars().first()


async def remove_user(database: async_sessionmaker[AsyncSession], name: str) -> int:
    """Removes the account and ends its logins on every node; how many logins were ended."""
    async with database.begin() as session:
        user = await user_named(session, name)
        if user is None:
            raise NotFound(f"no user {normalise_name(name)}")
        ended = await session.scalar(
            select(func.count()).select_from(ConsoleLogin).where(ConsoleLogin.user_id == user.id)
        )
        # The foreign key cascades too; said here so that no database setting is relied on.
        await session.execute(delete(ConsoleLogin).where(col(ConsoleLogin.user_id) == user.id))
        await session.execute(delete(ConsoleUser).where(col(ConsoleUser.id) == user.id))
        return int(ended or 0)
