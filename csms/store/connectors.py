"""Connectors: their status reports, their discovery, and their availability."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from csms import clock, metrics
from csms.events import EventType, record
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


class Connectors(StoreBase):
    """Each connector's status and availability, with its events."""

    async def status(self, station_id: str, report: StatusReport) -> bool:
        """Apply a status report unless a newer one was applied already (chargers replay stale ones)."""
        status = neutral_status(report.status)
        detail = report.status if status != report.status else None
        # Past the budget, a report that would add a connector or change nothing is dropped.
        within_budget = self.budget.spend(station_id, CONNECTOR_ROW_BYTES)
        facts = {
            "status": status,
            "error_code": report.error_code,
            "info": report.info,
            "vendor_error_code": report.vendor_error_code,
            "timestamp": report.timestamp,
            "clock_suspect": report.clock_suspect or None,
        }

        async def write(session: AsyncSession) -> bool:
            # The group's reports flush together (one UPDATE and one INSERT for them all), not
            # before each lookup: a charger has one CALL in flight, so no two reports of one
            # connector share a group.
            with session.no_autoflush:
                if report.evse_id == 0:
                    station = await session.get(Station, station_id)
                    assert station is not None
                    if station.status_at and report.timestamp < station.status_at:
                        return False
                    previous = station.status
                    station.status, station.error_code, station.status_at = (
                        status,
                        report.error_code,
                        report.timestamp,
                    )
                    await record(
                        session,
                        station_id,
                        EventType.STATION_STATUS_CHANGED,
                        previous=previous,
                        **facts,
                    )
                    return True
                connector = await session.get(
                    Connector, (station_id, report.evse_id, report.connector_id)
                )
                if not within_budget and (connector is None or connector.status == status):
                    metrics.stored_cut("status", "budget").inc()
                    return False
                if connector is None:
                    connector = Connector(
                        station_id=station_id,
                        evse_id=report.evse_id,
                        connector_id=report.connector_id,
                    )
                    session.add(connector)
                elif connector.status_at and report.timestamp < connector.status_at:
                    return False
                previous = connector.status
                connector.status, connector.status_detail = status, detail
                connector.error_code, connector.info = report.error_code, report.info
                connector.vendor_error_code = report.vendor_error_code
                connector.status_at, connector.updated_at = report.timestamp, clock.now()
                await record(
                    session,
                    station_id,
                    EventType.CONNECTOR_STATUS_CHANGED,
                    evse_id=report.evse_id,
                    connector_id=report.connector_id,
                    detail=detail,
                    previous=previous,
                    **facts,
                )
                return True

        # With the other chargers' writes of the moment, in one transaction (group commit).
        return bool(await self.writer.run(write))

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
