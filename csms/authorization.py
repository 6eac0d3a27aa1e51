"""The authorization port: "may this id token charge here?", answered by whoever the platform plugs in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from csms import clock
from csms.models import LocalToken


class AuthStatus(StrEnum):
    """Version-neutral outcome; each OCPP version maps it to its own IdTagInfo / IdTokenInfo status."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    NO_CREDIT = "NoCredit"
    NOT_ALLOWED = "NotAllowed"
    UNKNOWN = "Unknown"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    station_id: str
    id_token: str
    token_type: str | None = None  # 2.0.1 IdTokenEnumType; None for 1.6
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    status: AuthStatus
    expires_at: datetime | None = None
    group_id: str | None = None
    # Kept with the transaction for the Session and CDR (OCPI authorization_reference).
    reference: str | None = None
    # What a 2.0.1 charger shows the driver (the price, EU price transparency), and in what
    # language (ISO 639-1); 1.6 answers have no room for it.
    personal_message: str | None = None
    language: str | None = None


class Authorizer(Protocol):
    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult: ...


def normalise_uid(uid: str) -> str:
    """id tags are case-insensitive (CiString); compare them upper-cased."""
    return uid.strip().upper()


class LocalAuthorizer:
    """Answers from the operator's own token list; unknown tokens are Invalid."""

    def __init__(self, database: async_sessionmaker[AsyncSession]) -> None:
        self._database = database

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        uid = normalise_uid(request.id_token)
        async with self._database() as session:
            rows = (
                await session.execute(select(LocalToken).where(LocalToken.uid == uid))
            ).scalars()
            token = next(iter(rows), None)
        if token is None:
            return AuthorizationResult(AuthStatus.INVALID)
        if token.expires_at is not None and token.expires_at <= clock.now():
            return AuthorizationResult(AuthStatus.EXPIRED, expires_at=token.expires_at)
        return AuthorizationResult(AuthStatus(token.status), expires_at=token.expires_at)
