"""Chargers coming and going: the lookups, connects, boots and disconnects of many chargers
written together (group commit, `csms.writer`), each state change with its event.

After a restart or an outage every charger reconnects and boots at once. One transaction per
connect and per boot, through the ORM, made that a queue of thousands of small transactions on
the one SQLite connection; here each group of pending chargers is a few Core statements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, false, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from csms.events import EVENTS_KEY, Announcement, EventType, hold_event_order
from csms.models import Event, Station, Transaction, TransactionStatus

if TYPE_CHECKING:
    from csms.store import BootInfo

_S = Station.__table__.c  # type: ignore[attr-defined]
_T = Transaction.__table__.c  # type: ignore[attr-defined]
_INSERT_STATION = insert(Station.__table__)  # type: ignore[attr-defined]
_INSERT_EVENT = insert(Event.__table__)  # type: ignore[attr-defined]
# A connection's write applies only if no younger connection has written already: the
# connects of one charger on two nodes may reach the database in either order.
_CONNECT = (
    update(Station.__table__)  # type: ignore[attr-defined]
    .where(
        _S.id == bindparam("station"),
        or_(_S.connection_epoch.is_(None), _S.connection_epoch < bindparam("epoch")),
    )
    .values(online=True, ocpp_version=bindparam("version"), connected_at=bindparam("at"))
    .values(last_seen=bindparam("at"), connection_epoch=bindparam("epoch"))
)
_BOOT_FIELDS = (
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
)
_BOOT = (
    update(Station.__table__)  # type: ignore[attr-defined]
    .where(_S.id == bindparam("station"))
    .values({name: bindparam(name) for name in _BOOT_FIELDS})
    .values(last_seen=bindparam("at"))
)
_FIRST_ACCEPT = (
    update(Station.__table__)  # type: ignore[attr-defined]
    .where(_S.id == bindparam("station"), _S.accepted_at.is_(None))
    .values(accepted_at=bindparam("at"))
)
# Only the connection that holds the station marks it offline: the late close of a socket that
# a newer connection replaced (on this node or another) changes nothing.
_DISCONNECT = (
    update(Station.__table__)  # type: ignore[attr-defined]
    .where(_S.id == bindparam("station"), _S.connection_epoch == bindparam("epoch"))
    .values(online=False, disconnected_at=bindparam("at"), last_seen=bindparam("last_seen"))
)


@dataclass(frozen=True, slots=True)
class Login:
    """What the OCPP endpoint needs of a known charger before it accepts its socket."""

    password_hash: str | None
    pending_password_hash: str | None = None  # a new password it was asked to take
    security_profile: int = 1  # the lowest it may connect with (csms.security_profiles)


@dataclass(frozen=True, slots=True)
class Presence:
    """A connected charger as its connection needs it."""

    accepted: bool  # whether the platform ever accepted its BootNotification
    energy_unit_override: str | None


@dataclass(frozen=True, slots=True)
class Connect:
    station_id: str
    ocpp_version: str
    auto_register: bool
    at: datetime
    epoch: int  # the connection's (csms.registry), larger than any before it


@dataclass(frozen=True, slots=True)
class Boot:
    station_id: str
    info: BootInfo
    at: datetime


@dataclass(frozen=True, slots=True)
class Disconnect:
    station_id: str
    reason: str
    at: datetime
    epoch: int


Change = Connect | Boot | Disconnect


class Lookups:
    """Many chargers' logins read in one query (a `csms.writer.Batch`): None for unknown ones."""

    async def apply(self, session: AsyncSession, items: list[str]) -> list[Login | None]:
        conn = await session.connection()
        rows = await conn.execute(
            select(_S.id, _S.password_hash, _S.pending_password_hash, _S.security_profile).where(
                _S.id.in_(set(items))
            )
        )
        found = {
            row.id: Login(row.password_hash, row.pending_password_hash, row.security_profile)
            for row in rows
        }
        return [found.get(station_id) for station_id in items]


class Changes:
    """Connects, boots and disconnects of many chargers (a `csms.writer.Batch`).

    Applied in the order they came, a run of one kind at a time: a charger that disconnects and
    reconnects within one group ends up online. The same rows and events as one transaction
    each would write.
    """

    async def apply(self, session: AsyncSession, items: list[Change]) -> list[Any]:
        conn = await session.connection()
        announced: list[Any] = session.info.setdefault(EVENTS_KEY, [])
        results: list[Any] = []
        for kind, run in groupby(items, key=type):
            changes = list(run)
            if kind is Connect:
                results += await _connect(conn, changes, announced)  # type: ignore[arg-type]
            elif kind is Boot:
                results += await _boot(conn, changes, announced)  # type: ignore[arg-type]
            else:
                results += await _disconnect(conn, changes, announced)  # type: ignore[arg-type]
        return results


async def _connect(
    conn: AsyncConnection, changes: list[Connect], announced: list[Any]
) -> list[Presence]:
    ids = {c.station_id for c in changes}
    rows = await conn.execute(
        select(_S.id, _S.accepted_at, _S.energy_unit_override).where(_S.id.in_(ids))
    )
    known = {
        row.id: Presence(row.accepted_at is not None, row.energy_unit_override) for row in rows
    }
    new: dict[str, Connect] = {}
    for c in changes:
        if c.station_id not in known and c.station_id not in new:
            if not c.auto_register:
                raise LookupError(c.station_id)
            new[c.station_id] = c
    if new:
        await conn.execute(
            _INSERT_STATION,
            [
                {
                    "id": c.station_id,
                    "online": True,
                    "ocpp_version": c.ocpp_version,
                    "connected_at": c.at,
                    "last_seen": c.at,
                    "created_at": c.at,
                    "connection_epoch": c.epoch,
                }
                for c in new.values()
            ],
        )
    await conn.execute(
        _CONNECT,
        [
            {"station": c.station_id, "version": c.ocpp_version, "at": c.at, "epoch": c.epoch}
            for c in changes
        ],
    )
    await _events(
        conn,
        announced,
        [
            (c.at, c.station_id, EventType.STATION_CONNECTED, {"ocpp_version": c.ocpp_version})
            for c in changes
        ],
    )
    return [known.get(c.station_id) or Presence(False, None) for c in changes]


async def _boot(conn: AsyncConnection, changes: list[Boot], announced: list[Any]) -> list[None]:
    params = [
        {"station": b.station_id, "at": b.at}
        | {name: getattr(b.info, name) for name in _BOOT_FIELDS}
        for b in changes
    ]
    await conn.execute(_BOOT, params)
    await conn.execute(_FIRST_ACCEPT, [{"station": b.station_id, "at": b.at} for b in changes])
    # After a reboot the charger's Stop may still come from its offline queue, or never.
    suspect: dict[str, list[int]] = {}
    rows = await conn.execute(
        update(Transaction.__table__)  # type: ignore[attr-defined]
        .where(
            _T.station_id.in_({b.station_id for b in changes}),
            _T.status == TransactionStatus.ACTIVE,
        )
        .values(suspect=True)
        .returning(_T.id, _T.station_id)
    )
    for row in rows:
        suspect.setdefault(row.station_id, []).append(row.id)
    await _events(
        conn,
        announced,
        [
            (
                b.at,
                b.station_id,
                EventType.STATION_BOOTED,
                {
                    "vendor": b.info.vendor,
                    "model": b.info.model,
                    "serial_number": b.info.serial_number,
                    "firmware_version": b.info.firmware_version,
                    "reason": b.info.reason,
                    # A station booting twice in one group: its transactions are named once.
                    "suspect_transactions": suspect.pop(b.station_id, []),
                },
            )
            for b in changes
        ],
    )
    return [None] * len(changes)


async def _disconnect(
    conn: AsyncConnection, changes: list[Disconnect], announced: list[Any]
) -> list[None]:
    # Locked (PostgreSQL; SQLite's writer is alone anyway): a connect of the same charger on
    # another node waits, so the epoch read here is the one the update compares.
    rows = await conn.execute(
        select(_S.id, _S.last_seen, _S.connection_epoch)
        .where(_S.id.in_({d.station_id for d in changes}))
        .with_for_update()
    )
    found = {row.id: row for row in rows}
    last_seen: dict[str, datetime | None] = {i: row.last_seen for i, row in found.items()}
    # A deleted station, or one a younger connection holds: nothing to do.
    gone = [
        d
        for d in changes
        if d.station_id in found and found[d.station_id].connection_epoch == d.epoch
    ]
    if not gone:
        return [None] * len(changes)
    params = []
    for d in gone:
        seen = last_seen[d.station_id]
        last_seen[d.station_id] = seen = d.at if seen is None or seen < d.at else seen
        params.append({"station": d.station_id, "at": d.at, "last_seen": seen, "epoch": d.epoch})
    await conn.execute(_DISCONNECT, params)
    await _events(
        conn,
        announced,
        [(d.at, d.station_id, EventType.STATION_DISCONNECTED, {"reason": d.reason}) for d in gone],
    )
    return [None] * len(changes)


def _left_online(connected_before: datetime) -> Any:
    """Stations recorded online by a connection made before `connected_before`."""
    return (_S.online.is_(True)) & or_(
        _S.connected_at.is_(None), _S.connected_at < connected_before
    )


async def left_online(session: AsyncSession, connected_before: datetime) -> list[str]:
    conn = await session.connection()
    rows = await conn.execute(select(_S.id).where(_left_online(connected_before)))
    return [row.id for row in rows]


async def abandon(
    session: AsyncSession,
    station_ids: list[str],
    connected_before: datetime,
    at: datetime,
    reason: str,
) -> list[str]:
    """Marks offline, each with the event a disconnect records, those of `station_ids` still
    online by a connection made before `connected_before`; the ids marked. In one statement
    with its condition, so a charger that reconnected meanwhile (its connection is younger)
    stays online, whatever the isolation level."""
    condition = _S.id.in_(station_ids) & _left_online(connected_before)
    return await _abandon(session, condition, at, reason)


async def online_epochs(session: AsyncSession) -> dict[str, int | None]:
    """The stations recorded online, each with the epoch of the connection recorded."""
    conn = await session.connection()
    rows = await conn.execute(select(_S.id, _S.connection_epoch).where(_S.online.is_(True)))
    return {row.id: row.connection_epoch for row in rows}


async def abandon_connections(
    session: AsyncSession, epochs: Mapping[str, int | None], at: datetime, reason: str
) -> list[str]:
    """`abandon` for stations whose connection (by its epoch) no live node holds: those still
    online by that very connection are marked, so one that reconnected meanwhile, on any
    node, stays online."""
    held = [(i, e) for i, e in epochs.items() if e is not None]
    unnumbered = [i for i, e in epochs.items() if e is None]
    condition = _S.online.is_(True) & or_(
        tuple_(_S.id, _S.connection_epoch).in_(held) if held else false(),
        and_(_S.id.in_(unnumbered), _S.connection_epoch.is_(None)),
    )
    return await _abandon(session, condition, at, reason)


async def _abandon(session: AsyncSession, condition: Any, at: datetime, reason: str) -> list[str]:
    conn = await session.connection()
    rows = await conn.execute(
        update(Station.__table__)  # type: ignore[attr-defined]
        .where(condition)
        .values(online=False, disconnected_at=at)
        .returning(_S.id)
    )
    gone = [row.id for row in rows]
    if gone:
        await _events(
            conn,
            session.info.setdefault(EVENTS_KEY, []),
            [(at, i, EventType.STATION_DISCONNECTED, {"reason": reason}) for i in gone],
        )
    return gone


async def _events(
    conn: AsyncConnection,
    announced: list[Any],
    events: list[tuple[datetime, str, EventType, dict[str, Any]]],
) -> None:
    """Insert events in one statement, and announce them once the transaction commits."""
    rows = []
    for at, station_id, kind, data in events:
        # As `csms.events.record` stores them: no None values, times in ISO 8601.
        data = {k: v for k, v in data.items() if v is not None} | {"at": at.isoformat()}
        rows.append({"created_at": at, "station_id": station_id, "type": kind.value, "data": data})
        announced.append(Announcement(station_id, kind.value, data))
    await hold_event_order(conn)
    await conn.execute(_INSERT_EVENT, rows)
