"""What the platform knows of chargers' certificates: those it issued (with their expiry, for
the warnings) and those each charger said it holds (GetInstalledCertificateIds), with the
writes that keep them, each one database transaction with its event."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Table, Text, UniqueConstraint, delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from csms import clock, upsert
from csms.events import EVENTS_KEY, EventType, hold_event_order, record
from csms.models import BigId, UTCDateTime, utcnow

if TYPE_CHECKING:
    from csms.certificates.authority import Issued
    from csms.store import Store

HASH_FIELDS = ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")


class IssuedCertificate(SQLModel, table=True):
    __tablename__ = "issued_certificates"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(max_length=48, index=True)
    kind: str = Field(max_length=32)  # ChargingStationCertificate | V2GCertificate
    serial: str = Field(max_length=64, index=True, unique=True)  # hexadecimal
    not_after: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    fingerprint: str = Field(max_length=64)  # SHA-256 of the DER, hexadecimal
    pem: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class InstalledCertificate(SQLModel, table=True):
    """One certificate a charger reported holding, by OCPP's CertificateHashData."""

    __tablename__ = "installed_certificates"
    __table_args__ = (UniqueConstraint("station_id", *HASH_FIELDS),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(max_length=48, index=True)
    certificate_type: str = Field(max_length=32)
    hash_algorithm: str = Field(max_length=8)
    issuer_name_hash: str = Field(max_length=128)
    issuer_key_hash: str = Field(max_length=128)
    serial_number: str = Field(max_length=40)
    reported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


INSTALLED: Table = InstalledCertificate.__table__  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def _tx(store: Store) -> AsyncIterator[AsyncSession]:
    """One transaction of the store's database whose events are announced once it commits
    (as the store's own are: the event log's order is held from the start)."""
    async with store.database.begin() as session:
        await hold_event_order(await session.connection())
        yield session
        recorded = list(session.info.pop(EVENTS_KEY, []))
    store.feed.publish(recorded)


async def issued(store: Store, station_id: str, kind: str, certificate: Issued) -> None:
    """A certificate signed for the charger (its serial is random: no two rows meet)."""
    async with _tx(store) as session:
        session.add(
            IssuedCertificate(
                station_id=station_id,
                kind=kind,
                serial=certificate.serial,
                not_after=certificate.not_after,
                fingerprint=certificate.fingerprint,
                pem=certificate.pem,
            )
        )
        await record(
            session,
            station_id,
            EventType.CERTIFICATE_ISSUED,
            kind=kind,
            serial=certificate.serial,
            not_after=clock.iso(certificate.not_after),
        )


async def refused(store: Store, station_id: str, kind: str, reason: str) -> None:
    async with _tx(store) as session:
        await record(session, station_id, EventType.CERTIFICATE_REFUSED, kind=kind, reason=reason)


async def delivered(store: Store, station_id: str, serial: str, status: str | None) -> None:
    """What the charger answered to CertificateSigned (None: no answer, or an error)."""
    async with _tx(store) as session:
        await record(
            session, station_id, EventType.CERTIFICATE_DELIVERED, serial=serial, status=status
        )


async def reported(
    store: Store, station_id: str, types: list[str] | None, chain: list[dict[str, Any]]
) -> None:
    """A GetInstalledCertificateIds answer: the charger holds these of `types` (None: of any
    type), and no others. Each is an upsert on its hash data: two answers stored at once
    both land, the later one's `reported_at` kept (ADR 016)."""
    now = clock.now()
    rows = [
        {"station_id": station_id, "certificate_type": c["certificate_type"], "reported_at": now}
        | {k: str(c["certificate_hash_data"][k]) for k in HASH_FIELDS}
        for c in chain
    ]
    async with _tx(store) as session:
        gone = delete(InstalledCertificate).where(
            col(InstalledCertificate.station_id) == station_id
        )
        if types is not None:
            gone = gone.where(col(InstalledCertificate.certificate_type).in_(types))
        await session.execute(gone)
        for row in sorted(rows, key=lambda r: tuple(r[k] for k in HASH_FIELDS)):
            stmt = upsert.insert(session, INSTALLED).values(row)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["station_id", *HASH_FIELDS],
                    set_={"certificate_type": row["certificate_type"], "reported_at": now},
                )
            )
        await record(
            session,
            station_id,
            EventType.CERTIFICATES_REPORTED,
            types=types,
            certificates=[{k: r[k] for k in ("certificate_type", *HASH_FIELDS)} for r in rows],
        )


async def deleted(store: Store, station_id: str, hash_data: dict[str, str]) -> None:
    """The charger deleted a certificate (DeleteCertificate answered Accepted)."""
    async with _tx(store) as session:
        stmt = delete(InstalledCertificate).where(
            col(InstalledCertificate.station_id) == station_id,
            *(getattr(InstalledCertificate, k) == hash_data[k] for k in HASH_FIELDS),
        )
        await session.execute(stmt)
        await record(session, station_id, EventType.CERTIFICATE_DELETED, **hash_data)


async def issued_list(
    session: AsyncSession,
    station_id: str | None = None,
    expiring_within: timedelta | None = None,
    limit: int = 1000,
) -> list[IssuedCertificate]:
    """Certificates the platform issued, soonest to expire first; with `expiring_within`,
    only those still valid that expire within it (the newest of a charger's replaces an
    older one, so only a charger's newest counts)."""
    stmt = select(IssuedCertificate)
    if station_id is not None:
        stmt = stmt.where(col(IssuedCertificate.station_id) == station_id)
    if expiring_within is not None:
        now = clock.now()
        stmt = stmt.where(
            col(IssuedCertificate.id).in_(_newest()),
            col(IssuedCertificate.not_after) > now,
            col(IssuedCertificate.not_after) <= now + expiring_within,
        )
    stmt = stmt.order_by(col(IssuedCertificate.not_after), col(IssuedCertificate.id)).limit(limit)
    return list((await session.execute(stmt)).scalars())


def _newest() -> Any:
    """The id of each charger's newest certificate of each kind."""
    return select(func.max(IssuedCertificate.id)).group_by(
        col(IssuedCertificate.station_id), col(IssuedCertificate.kind)
    )


async def expiring_count(session: AsyncSession, within: timedelta) -> int:
    now = clock.now()
    stmt = select(func.count()).where(
        col(IssuedCertificate.id).in_(_newest()),
        col(IssuedCertificate.not_after) > now,
        col(IssuedCertificate.not_after) <= now + within,
    )
    return int((await session.execute(stmt)).scalar_one())


async def installed_list(session: AsyncSession, station_id: str) -> list[InstalledCertificate]:
    stmt = (
        select(InstalledCertificate)
        .where(col(InstalledCertificate.station_id) == station_id)
        .order_by(col(InstalledCertificate.certificate_type), col(InstalledCertificate.id))
    )
    return list((await session.execute(stmt)).scalars())
