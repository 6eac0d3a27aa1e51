"""The operator's own tokens (its staff's, its fleet's): a charger accepts them on the operator's
word, never an eMSP's, and they are in every charger's local list."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.operator_input import Conflict, NotFound
from csms.authorization import normalise_uid
from csms.models import LocalToken


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uid: str = Field(min_length=1, max_length=36)
    type: str = Field(default="RFID", max_length=16)
    status: Literal["Accepted", "Blocked", "Expired"] = "Accepted"
    expires_at: datetime | None = None


class OperatorTokens:
    def __init__(self, database: async_sessionmaker[AsyncSession]) -> None:
        self.database = database

    async def add(self, data: TokenIn) -> LocalToken:
        token = LocalToken(
            uid=normalise_uid(data.uid),
            type=data.type,
            status=data.status,
            expires_at=data.expires_at,
        )
        try:
            async with self.database.begin() as session:
                session.add(token)
        except IntegrityError as e:
            raise Conflict(f"token {data.uid} ({data.type}) exists already") from e
        return token

    async def all(self) -> list[LocalToken]:
        async with self.database() as session:
            return list(
                (await session.execute(select(LocalToken).order_by(LocalToken.uid))).scalars()
            )

    async def delete(self, uid: str, type: str = "RFID") -> None:
        async with self.database.begin() as session:
            result = await session.execute(
                delete(LocalToken).where(
                    col(LocalToken.uid) == normalise_uid(uid), col(LocalToken.type) == type
                )
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"no token {uid} ({type})")
