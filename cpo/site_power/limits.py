"""Site power limits kept and applied: the operator's limit for a Location, and the loop that
spreads it over the chargers charging there whenever a transaction starts or ends there or the
limit changes.

Each charger gets its share as a ChargePointMaxProfile (1.6) / ChargingStationMaxProfile
(2.0.1) on EVSE 0, through the command port's `set_charging_profile`: the sum of the shares of
its EVSEs at the Location (ADR 029 says why this purpose). An accepted profile is kept with the
others each charger should hold (csms.charging_profiles), which is where the operator reads it.

Several nodes: each node reacts to the transactions of its own chargers, and the operator's
change on whichever node took it. One Location is recomputed by one node at a time: an asyncio
lock on the node, and on PostgreSQL an advisory lock (cpo.locks SITE_POWER) held while the state
is read and the profiles are sent. The later of two recomputes reads what the earlier saw and
more, and sends last, so a charger ends with the share of the latest state (ADR 016)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo import locks
from cpo.feed_follower import FeedFollower
from cpo.locations.store import same_id
from cpo.locations.tables import Location, LocationEvse
from cpo.operator_input import NotFound
from cpo.site_power.allocation import allocate
from cpo.site_power.tables import SitePowerLimit
from csms import clock, upsert
from csms.charging_profiles import HeldProfile
from csms.commands import Commands
from csms.commands.port import INT32_MAX
from csms.commands.smart_charging import (
    ChargingProfile,
    ClearChargingProfile,
    SchedulePeriod,
    SetChargingProfile,
)
from csms.events import EventFeed, EventType
from csms.models import Transaction, TransactionStatus

log = logging.getLogger("cpo.site_power")

# The profile a site limit puts on each charger: one id and stack level of its own, so it
# replaces only itself. An operator's own StationMax at a higher stack level wins over it.
SITE_PROFILE_ID = INT32_MAX - 29
SITE_STACK_LEVEL = 1
LIMIT_MAX_W = 100_000_000  # 100 MW: more than any site's grid connection
WAKE_ON = {EventType.TRANSACTION_STARTED, EventType.TRANSACTION_ENDED}
LIMITS: Table = SitePowerLimit.__table__  # type: ignore[attr-defined]


class PowerLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit_w: int = Field(ge=0, le=LIMIT_MAX_W, description="The Location's limit in W")


class SitePower(FeedFollower):
    loop_name = "site-power"

    def __init__(
        self, database: async_sessionmaker[AsyncSession], commands: Commands, feed: EventFeed
    ) -> None:
        super().__init__(feed)
        self.database = database
        self.commands = commands
        self._turns: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    # -- the operator's limit ---------------------------------------------------------------

    async def set(self, location_ocpi_id: str, given: PowerLimitIn) -> dict[str, Any]:
        location = await self._location(location_ocpi_id)
        row = {"location_id": location, "limit_w": given.limit_w, "updated_at": clock.now()}
        async with self.database.begin() as session:
            stmt = upsert.insert(session, LIMITS).values(row)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["location_id"],
                    set_={"limit_w": stmt.excluded.limit_w, "updated_at": stmt.excluded.updated_at},
                )
            )
        await self.recompute(location)
        return await self.get(location_ocpi_id)

    async def get(self, location_ocpi_id: str) -> dict[str, Any]:
        location = await self._location(location_ocpi_id)
        async with self.database() as session:
            limit = await session.get(SitePowerLimit, location)
            if limit is None:
                raise NotFound(f"location {location_ocpi_id} has no power limit")
            stations = sorted({e.station_id for e in await _evses(session, location)})
            held = await _held(session, stations)
        return {
            "location_id": location_ocpi_id,
            "limit_w": limit.limit_w,
            "updated_at": clock.iso(limit.updated_at),
            "chargers": [{"station_id": s, "limit_w": held.get(s)} for s in stations],
        }

    async def delete(self, location_ocpi_id: str) -> None:
        """The limit goes, and with it the profiles it put on the Location's chargers."""
        location = await self._location(location_ocpi_id)
        async with self.database.begin() as session:
            gone = await session.execute(
                delete(SitePowerLimit).where(col(SitePowerLimit.location_id) == location)
            )
            if not gone.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"location {location_ocpi_id} has no power limit")
        await self.recompute(location)

    async def _location(self, ocpi_id: str) -> int:
        async with self.database() as session:
            found = (
                await session.execute(
                    select(col(Location.id)).where(same_id(Location.ocpi_id, ocpi_id))
                )
            ).scalar()
        if found is None:
            raise NotFound(f"no location {ocpi_id}")
        return int(found)

    # -- spreading it -----------------------------------------------------------------------

    async def recompute(self, location: int) -> dict[str, int]:
        """Sends each charger at the Location its share as things stand; the shares sent
        (station id -> W). Without a limit, clears the profiles a limit put there."""
        async with self._turn(location):
            async with self.database() as session:
                limit = await session.get(SitePowerLimit, location)
                evses = await _evses(session, location)
                charging = await _charging(session, evses)
                stations = sorted({e.station_id for e in evses})
                held = await _held(session, stations)
            if limit is None:
                await asyncio.gather(*(self._clear(station_id) for station_id in held))
                return {}
            maxima = {(e.station_id, e.ocpp_evse_id): _max_power_w(e) for e in evses}
            shares = allocate(limit.limit_w, {k: maxima[k] for k in maxima if k in charging})
            per_station = {s: 0 for s in stations}
            for (station_id, _), share in shares.items():
                per_station[station_id] += share
            # One charger after another would make a large site wait for its slowest ones.
            await asyncio.gather(
                *(
                    self._send(station_id, share)
                    for station_id, share in per_station.items()
                    if held.get(station_id) != share  # one that holds its share is left be
                )
            )
            return per_station

    @contextlib.asynccontextmanager
    async def _turn(self, location: int) -> AsyncIterator[None]:
        async with self._turns[location]:
            if self.database.kw["bind"].dialect.name != "postgresql":
                yield  # one node on SQLite: the asyncio lock is all it takes
                return
            async with self.database.begin() as session:
                await locks.hold(session, locks.Lock.SITE_POWER, location)
                yield

    async def _send(self, station_id: str, limit_w: int) -> None:
        profile = ChargingProfile(
            id=SITE_PROFILE_ID,
            stack_level=SITE_STACK_LEVEL,
            purpose="StationMax",
            kind="Absolute",
            unit="W",
            starts_at=clock.now(),
            periods=[SchedulePeriod(start_period=0, limit=limit_w)],
        )
        result = await self.commands.run(station_id, SetChargingProfile(evse_id=0, profile=profile))
        if not result.accepted:
            log.warning(
                "site power: %s not set to %d W (%s %s)",
                station_id,
                limit_w,
                result.outcome,
                result.status or result.error_description or "",
            )

    async def _clear(self, station_id: str) -> None:
        result = await self.commands.run(station_id, ClearChargingProfile(id=SITE_PROFILE_ID))
        if not result.accepted and result.status != "Unknown":
            log.warning("site power: %s keeps its site limit (%s)", station_id, result.outcome)

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        """Each change recomputes in a task of its own: a Location whose chargers are slow to
        answer holds up only its own later recomputes (they queue on its lock, in order)."""
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            if event.type in WAKE_ON and not event.data.get("unmatched"):
                self.spawn(self._transaction_changed(event.station_id, event.data.get("evse_id")))

    async def _transaction_changed(self, station_id: str, evse_id: int | None) -> None:
        try:
            await self._recompute_at(station_id, evse_id)
        except Exception:
            log.exception("site power: cannot recompute after a transaction on %s", station_id)

    async def _recompute_at(self, station_id: str, evse_id: int | None) -> None:
        async with self.database() as session:
            found = (
                await session.execute(
                    select(col(LocationEvse.location_id)).where(
                        col(LocationEvse.station_id) == station_id,
                        col(LocationEvse.ocpp_evse_id) == (evse_id or 1),
                    )
                )
            ).scalar()
            if found is None or await session.get(SitePowerLimit, found) is None:
                return
        await self.recompute(int(found))


async def _evses(session: AsyncSession, location: int) -> list[LocationEvse]:
    rows = await session.execute(
        select(LocationEvse)
        .where(col(LocationEvse.location_id) == location, col(LocationEvse.admin_status).is_(None))
        .order_by(col(LocationEvse.id))
    )
    return list(rows.scalars())


async def _charging(session: AsyncSession, evses: list[LocationEvse]) -> set[tuple[str, int]]:
    """The (charger, EVSE) pairs of `evses` with a transaction running."""
    stations = {e.station_id for e in evses}
    if not stations:
        return set()
    rows = await session.execute(
        select(col(Transaction.station_id), col(Transaction.evse_id)).where(
            col(Transaction.station_id).in_(stations),
            col(Transaction.status) == TransactionStatus.ACTIVE,
        )
    )
    return {(s, e or 1) for s, e in rows}


async def _held(session: AsyncSession, stations: list[str]) -> dict[str, float]:
    """The site limit (W) each charger accepted last and holds, as far as the platform knows."""
    rows = await session.execute(
        select(HeldProfile).where(
            col(HeldProfile.station_id).in_(stations),
            col(HeldProfile.profile_id) == SITE_PROFILE_ID,
        )
    )
    return {h.station_id: h.profile["periods"][0]["limit"] for h in rows.scalars()}


def _max_power_w(evse: LocationEvse) -> int | None:
    """The most an EVSE can draw: its strongest connector's max_electric_power, if given."""
    powers = [
        int(c["max_electric_power"])
        for c in evse.data.get("connectors") or []
        if isinstance(c.get("max_electric_power"), int | float)
    ]
    return max(powers) if powers else None
