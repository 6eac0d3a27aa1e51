"""Connectors: their status reports, their discovery, and their availability."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from csms import clock, metrics
from csms.events import EventType, NewEvents, event_data, hold_event_order, record
from csms.many_rows import ManyRows
from csms.models import Connector, Station
from csms.store.base import CONNECTOR_ROW_BYTES, StoreBase

# 1.6 connector states folded into the version-neutral (2.0.1) connector status.
_NEUTRAL_STATUS = {
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
}


def neutral_status(status: str) -> str:
    return _NEUTRAL_STATUS.get(status, status)


@dataclass(slots=True)
class StatusReport:
    evse_id: int  # 0 = the station as a whole
    connector_id: int
    status: str  # as the charger said it
    timestamp: datetime
    clock_suspect: bool = False
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None


@dataclass(slots=True)
class StatusWrite:
    station_id: str
    report: StatusReport
    within_budget: bool  # past the charger's budget, a report that adds or changes nothing goes


@dataclass(slots=True)
class _Current:
    """A connector's or a station's status as the batch has it so far."""

    status: str | None
    status_at: datetime | None
    new: bool = False  # not stored yet: inserted by this batch


_C = Connector.__table__.c  # type: ignore[attr-defined]
_S = Station.__table__.c  # type: ignore[attr-defined]
_INSERT_CONNECTORS = ManyRows(insert(Connector.__table__))  # type: ignore[attr-defined]
_UPDATE_CONNECTORS = ManyRows(
    update(Connector.__table__).where(  # type: ignore[attr-defined]
        (_C.station_id == bindparam("b_station"))
        & (_C.evse_id == bindparam("b_evse"))
        & (_C.connector_id == bindparam("b_connector"))
    )
)  # SET: the columns the rows give
_UPDATE_STATIONS = ManyRows(
    update(Station.__table__).where(_S.id == bindparam("b_station"))  # type: ignore[attr-defined]
)


class StatusBatch:
    """Status reports of many chargers in one go (Core, not the ORM): the connectors and
    stations they name read in one query each (locked on PostgreSQL, in key order, so a
    report is applied to the status it was checked against), then one UPDATE, one INSERT of
    new connectors and one of events for them all. A report older than the one applied
    (chargers replay stale ones) changes nothing."""

    async def apply(self, session: AsyncSession, items: list[StatusWrite]) -> list[bool]:
        conn = await session.connection()
        await hold_event_order(conn)  # before any row lock
        keys = {_connector_key(i) for i in items if i.report.evse_id}
        connectors = await self._current(
            conn,
            select(_C.station_id, _C.evse_id, _C.connector_id, _C.status, _C.status_at)
            .where(tuple_(_C.station_id, _C.evse_id, _C.connector_id).in_(keys))
            .order_by(_C.station_id, _C.evse_id, _C.connector_id),
            keys,
        )
        whole = {i.station_id for i in items if not i.report.evse_id}
        stations = await self._current(
            conn,
            select(_S.id, _S.status, _S.status_at).where(_S.id.in_(whole)).order_by(_S.id),
            whole,
        )
        now = clock.now()
        rows: dict[tuple[str, int, int], dict[str, Any]] = {}
        station_rows: dict[str, dict[str, Any]] = {}
        events = NewEvents(session, now)
        results: list[bool] = []
        for item in items:
            report = item.report
            status = neutral_status(report.status)
            facts: dict[str, Any] = {
                "status": status,
                "error_code": report.error_code,
                "info": report.info,
                "vendor_error_code": report.vendor_error_code,
                "timestamp": report.timestamp,
                "clock_suspect": report.clock_suspect or None,
            }
            if report.evse_id == 0:
                station = stations.get((item.station_id,))
                if station is None:
                    raise LookupError(f"no station {item.station_id!r}")
                if station.status_at and report.timestamp < station.status_at:
                    results.append(False)
                    continue
                previous = station.status
                station.status, station.status_at = status, report.timestamp
                station_rows[item.station_id] = {
                    "b_station": item.station_id,
                    "status": status,
                    "error_code": report.error_code,
                    "status_at": report.timestamp,
                }
                data = {"previous": previous, **facts}
                kind = EventType.STATION_STATUS_CHANGED
            else:
                key = _connector_key(item)
                current = connectors.get(key)
                if not item.within_budget and (current is None or current.status == status):
                    metrics.stored_cut("status", "budget").inc()
                    results.append(False)
                    continue
                if current is None:
                    current = connectors[key] = _Current(None, None, new=True)
                elif current.status_at and report.timestamp < current.status_at:
                    results.append(False)
                    continue
                previous = current.status
                current.status, current.status_at = status, report.timestamp
                detail = report.status if status != report.status else None
                rows[key] = {
                    "status": status,
                    "status_detail": detail,
                    "error_code": report.error_code,
                    "info": report.info,
                    "vendor_error_code": report.vendor_error_code,
                    "status_at": report.timestamp,
                    "updated_at": now,
                }
                data = {
                    "evse_id": report.evse_id,
                    "connector_id": report.connector_id,
                    "detail": detail,
                    "previous": previous,
                    **facts,
                }
                kind = EventType.CONNECTOR_STATUS_CHANGED
            events.add(item.station_id, kind.value, event_data(data))
            results.append(True)
        if inserts := [
            {"station_id": k[0], "evse_id": k[1], "connector_id": k[2], **row}
            for k, row in rows.items()
            if connectors[k].new
        ]:
            await _INSERT_CONNECTORS.execute(conn, inserts)
        if updates := [
            {"b_station": k[0], "b_evse": k[1], "b_connector": k[2], **row}
            for k, row in rows.items()
            if not connectors[k].new
        ]:
            await _UPDATE_CONNECTORS.execute(conn, updates)
        if station_rows:
            await _UPDATE_STATIONS.execute(conn, list(station_rows.values()))
        await events.insert(conn)
        return results

    @staticmethod
    async def _current(conn: Any, query: Any, asked: set[Any]) -> dict[tuple[Any, ...], _Current]:
        """Each asked row's key (its columns but the last two) and status. On PostgreSQL the
        rows stay locked until the transaction ends: a report of the same connector through
        another node waits, then is checked against what this one wrote."""
        if not asked:
            return {}
        found = await conn.execute(query.with_for_update())
        return {tuple(r[:-2]): _Current(r[-2], r[-1]) for r in found}


_STATUSES = StatusBatch()


def _connector_key(item: StatusWrite) -> tuple[str, int, int]:
    return (item.station_id, item.report.evse_id, item.report.connector_id)


class Connectors(StoreBase):
    """Each connector's status and availability, with its events."""

    async def status(self, station_id: str, report: StatusReport) -> bool:
        """Apply a status report unless a newer one was applied already (chargers replay
        stale ones); with the other chargers' reports of the moment, in one transaction."""
        within_budget = self.budget.spend(station_id, CONNECTOR_ROW_BYTES)
        return await self.writer.write(_STATUSES, StatusWrite(station_id, report, within_budget))

    async def discover(self, station_id: str, evse_id: int, connector_id: int) -> None:
        """An EVSE/connector the charger reported (NotifyReport) without a status yet."""
        if not self.budget.spend(station_id, CONNECTOR_ROW_BYTES):
            metrics.stored_cut("connectors", "budget").inc()
            return
        async with self._tx() as session:
            if await session.get(Connector, (station_id, evse_id, connector_id)) is None:
                session.add(
                    Connector(
                        station_id=station_id,
                        evse_id=evse_id,
                        connector_id=connector_id,
                        updated_at=clock.now(),
                    )
                )

    async def availability(
        self, station_id: str, evse_id: int, operative: bool, connector_id: int | None = None
    ) -> None:
        """Remember an accepted ChangeAvailability (it survives the charger's reboots): of the
        whole charger (EVSE 0), an EVSE, or one connector of it."""
        value = "Operative" if operative else "Inoperative"
        async with self._tx() as session:
            stmt = update(Connector).where(col(Connector.station_id) == station_id)
            if evse_id:
                stmt = stmt.where(col(Connector.evse_id) == evse_id)
            if evse_id and connector_id:
                stmt = stmt.where(col(Connector.connector_id) == connector_id)
            await session.execute(stmt.values(availability=value, updated_at=clock.now()))
            await record(
                session,
                station_id,
                EventType.AVAILABILITY_CHANGED,
                evse_id=evse_id,
                availability=value,
            )
