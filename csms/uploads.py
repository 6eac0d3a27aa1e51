"""Files chargers upload when asked (GetDiagnostics, GetLog): the one-time slots they upload
to, and what the operator reads of them.

A slot is an id and a secret; the charger is given both in one URL. The secret is kept as its
SHA-256 (it is random and long: a slow hash would add nothing) and compared in constant time.
The first upload spends it; an expired, spent or unknown slot, or a wrong secret, are refused
alike. The file is kept in the database, so that every node serves it. Writes are the Store's
(state and event in one transaction); reads are here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from csms import clock
from csms.models import Upload

DIAGNOSTICS = "Diagnostics"  # 1.6 GetDiagnostics: the charger's own choice of files
LOG_TYPES = ("DiagnosticsLog", "SecurityLog")  # GetLog (1.6 security, 2.0.1)
# Statuses after which a charger sends nothing more about an upload.
FINAL = frozenset({"Uploaded", "UploadFailed", "UploadFailure", "BadMessage",
                   "NotSupportedOperation", "PermissionDenied", "Rejected", "NoFile"})  # fmt: skip


def new_secret() -> tuple[str, str]:
    """A slot's secret, and its hash as stored."""
    secret = secrets.token_urlsafe(32)
    return secret, secret_hash(secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """What the operator sees of an upload (not the file itself)."""

    id: int
    station_id: str
    kind: str
    requested_at: datetime
    expires_at: datetime
    status: str
    file_name: str | None
    content_type: str | None
    size: int | None
    received_at: datetime | None


_INFO: tuple[Any, ...] = (
    col(Upload.id),
    col(Upload.station_id),
    col(Upload.kind),
    col(Upload.requested_at),
    col(Upload.expires_at),
    col(Upload.status),
    col(Upload.file_name),
    col(Upload.content_type),
    col(Upload.size),
    col(Upload.received_at),
)


async def slot_open(
    database: async_sessionmaker[AsyncSession], upload_id: int, secret: str
) -> bool:
    """Whether an upload to this slot with this secret would be taken now."""
    async with database() as session:
        row = (
            await session.execute(
                select(
                    col(Upload.secret_hash), col(Upload.expires_at), col(Upload.received_at)
                ).where(col(Upload.id) == upload_id)
            )
        ).first()
    stored = row[0] if row is not None and row[0] is not None else ""
    # Compared even for an unknown slot, so that the time taken tells nothing.
    matches = hmac.compare_digest(secret_hash(secret), stored.rjust(64, "-"))
    return bool(matches and row is not None and row[2] is None and row[1] > clock.now())


async def of_station(
    database: async_sessionmaker[AsyncSession], station_id: str, limit: int = 100
) -> list[UploadInfo]:
    """The station's uploads, newest first."""
    async with database() as session:
        rows = await session.execute(
            select(*_INFO)
            .where(col(Upload.station_id) == station_id)
            .order_by(col(Upload.id).desc())
            .limit(limit)
        )
        return [_info(row) for row in rows]


async def file(
    database: async_sessionmaker[AsyncSession], upload_id: int
) -> tuple[UploadInfo, bytes] | None:
    """A received upload and its bytes; None when there is no such upload or nothing came."""
    async with database() as session:
        row = (
            await session.execute(
                select(*_INFO, col(Upload.content)).where(col(Upload.id) == upload_id)
            )
        ).first()
    if row is None or row[-1] is None:
        return None
    return _info(row), bytes(row[-1])


def _info(row: Any) -> UploadInfo:
    return UploadInfo(*row[: len(_INFO)])
