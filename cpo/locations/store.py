"""Locations: the operator's sites, joined with live charger state into OCPI objects.

Every change an eMSP can see moves `last_updated` on its level and the levels above, and marks
the object in the outbox for every party with a receiver, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, Table, and_, bindparam, update
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo import locks
from cpo.locations.evse_status import ConnectorState, evse_status
from cpo.locations.tables import Location, LocationEvse
from cpo.locations.v221 import OPERATOR_STATUSES
from cpo.locations.v230 import LocationIn
from cpo.locks import Lock
from cpo.ocpi.responses import timestamp
from cpo.operator_input import Invalid, Upserted, parse
from cpo.our_roles import NotOurs, OurRoles
from cpo.push.outbox import Outbox
from cpo.tariffs.tables import Tariff
from csms import clock
from csms.models import Connector, Station

# The live-status path (every status change) speaks SQLAlchemy Core.
STATIONS: Table = Station.__table__  # type: ignore[attr-defined]
CONNECTORS: Table = Connector.__table__  # type: ignore[attr-defined]
EVSES: Table = LocationEvse.__table__  # type: ignore[attr-defined]
LOCATION_ROWS: Table = Location.__table__  # type: ignore[attr-defined]
_EVSE_STATUS = (
    update(EVSES).where(EVSES.c.id == bindparam("b_id")).values(status=bindparam("b_status"))
)
_EVSE_SHOWN = _EVSE_STATUS.values(last_updated=bindparam("b_at", type_=EVSES.c.last_updated.type))

LOCATION_OWN = {"id", "country_code", "party_id", "publish", "evses", "last_updated"}
EVSE_OWN = {"uid", "status", "last_updated", "station_id", "ocpp_evse_id"}


def same_id(column: Any, ocpi_id: str) -> ColumnElement[bool]:
    """`column` holds `ocpi_id`, a CiString: without regard to case, and with `%` and `_`
    taken as themselves, not as LIKE's wildcards."""
    literal = ocpi_id.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    return col(column).ilike(literal, escape="\\")


LOCATIONS: TypeAdapter[list[LocationIn]] = TypeAdapter(list[LocationIn])


@dataclass(frozen=True)
class LiveStatuses:
    """What some chargers report, as `live_statuses` read it: called with a charger and one of
    its EVSEs, the EVSE's OCPI status."""

    stations: dict[str, tuple[bool, str | None]]  # id → (online, the charger's own status)
    connectors: dict[tuple[str, int], list[ConnectorState]]

    def __call__(self, station_id: str, ocpp_evse_id: int) -> str:
        station = self.stations.get(station_id)
        if station is None:
            return "UNKNOWN"
        online, status = station
        return evse_status(online, status, self.connectors.get((station_id, ocpp_evse_id), []))

    def online(self, station_id: str) -> bool:
        return self.stations.get(station_id, (False, None))[0]


async def live_statuses(session: AsyncSession, station_ids: Iterable[str]) -> LiveStatuses:
    """The OCPI status of any EVSE of these chargers, read with two queries for them all."""
    wanted = sorted(set(station_ids))
    conn = await session.connection()
    stations = {
        station_id: (bool(online), status)
        for station_id, online, status in await conn.execute(
            select_columns(STATIONS.c.id, STATIONS.c.online, STATIONS.c.status).where(
                STATIONS.c.id.in_(wanted)
            )
        )
    }
    connectors: dict[tuple[str, int], list[ConnectorState]] = {}
    rows = await conn.execute(
        select_columns(
            CONNECTORS.c.station_id,
            CONNECTORS.c.evse_id,
            CONNECTORS.c.status,
            CONNECTORS.c.availability,
        ).where(CONNECTORS.c.station_id.in_(wanted))
    )
    for station_id, evse_id, status, availability in rows:
        connectors.setdefault((station_id, evse_id), []).append(
            ConnectorState(status, availability)
        )
    return LiveStatuses(stations, connectors)


def evse_object(evse: LocationEvse) -> dict[str, Any]:
    data = dict(evse.data)
    connectors = data.pop("connectors", [])
    return (
        {"uid": evse.uid, "status": evse.admin_status or evse.status}
        | data
        | {"connectors": connectors, "last_updated": timestamp(evse.last_updated)}
    )


def location_object(location: Location, evses: list[LocationEvse]) -> dict[str, Any]:
    """The Location as an eMSP holds it: its last_updated is its own or its newest EVSE's,
    whichever is later (the spec: "this Location or one of its EVSEs or Connectors")."""
    newest = max([location.last_updated, *(e.last_updated for e in evses)])
    return (
        {
            "country_code": location.country_code,
            "party_id": location.party_id,
            "id": location.ocpi_id,
            "publish": location.publish,
        }
        | location.data
        | {
            "evses": [evse_object(e) for e in evses],
            "last_updated": timestamp(newest),
        }
    )


async def location_at(session: AsyncSession, ocpi_id: str) -> dict[str, Any] | None:
    """The Location as stored (2.2.1's shape, EVSEs and all), or None."""
    found = await Locations._location_row(session, ocpi_id)
    if found is None:
        return None
    assert found.id is not None
    return location_object(found, (await Locations.evses_of(session, [found.id]))[found.id])


class Locations:
    def __init__(
        self, database: async_sessionmaker[AsyncSession], outbox: Outbox, roles: OurRoles
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.roles = roles  # each Location is one's; the default's where it names none

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    async def evses_of(
        session: AsyncSession, location_ids: list[int]
    ) -> dict[int, list[LocationEvse]]:
        by_location: dict[int, list[LocationEvse]] = {i: [] for i in location_ids}
        if location_ids:
            rows = await session.execute(
                select(LocationEvse)
                .where(col(LocationEvse.location_id).in_(location_ids))
                .order_by(col(LocationEvse.id))
            )
            for evse in rows.scalars():
                by_location[evse.location_id].append(evse)
        return by_location

    async def location(self, ocpi_id: str) -> dict[str, Any] | None:
        async with self.database() as session:
            return await location_at(session, ocpi_id)

    @staticmethod
    async def _location_row(session: AsyncSession, ocpi_id: str) -> Location | None:
        rows = await session.execute(select(Location).where(same_id(Location.ocpi_id, ocpi_id)))
        return rows.scalars().first()

    async def unassigned(self) -> list[dict[str, Any]]:
        """Charger EVSEs and connectors that reported in but stand at no Location yet."""
        async with self.database() as session:
            rows = await session.execute(
                select(Connector)
                .outerjoin(
                    LocationEvse,
                    and_(
                        col(LocationEvse.station_id) == col(Connector.station_id),
                        col(LocationEvse.ocpp_evse_id) == col(Connector.evse_id),
                    ),
                )
                .where(col(LocationEvse.id).is_(None), col(Connector.evse_id) > 0)
                .order_by(
                    col(Connector.station_id), col(Connector.evse_id), col(Connector.connector_id)
                )
            )
            return [
                {
                    "station_id": c.station_id,
                    "ocpp_evse_id": c.evse_id,
                    "connector_id": c.connector_id,
                    "status": c.status,
                }
                for c in rows.scalars()
            ]

    # -- writing ----------------------------------------------------------------------------

    async def upsert(self, raw: Any) -> list[Upserted]:
        """Creates or updates Locations (one object or a list): all of them, or none."""
        items: list[LocationIn] = parse(LOCATIONS, raw if isinstance(raw, list) else [raw])
        problems: list[dict[str, Any]] = []
        done: list[Upserted] = []
        async with self.database.begin() as session:
            # Read, compared and written whole: one catalogue write at a time.
            await locks.hold(session, Lock.CATALOGUE)
            parties = await self.outbox.receivers(session, "locations")
            known_tariffs = set(
                (
                    await session.execute(
                        select(Tariff.ocpi_id).where(col(Tariff.deleted).is_(False))
                    )
                ).scalars()
            )
            # The live status of every charger EVSE named, read at once (not two queries each).
            status_of = await live_statuses(
                session, {e.station_id for item in items for e in item.evses or []}
            )
            for n, item in enumerate(items):
                prefix = f"{n}." if isinstance(raw, list) else ""
                for evse in item.evses or []:
                    for connector in evse.connectors:
                        for tariff_id in connector.tariff_ids or []:
                            if tariff_id not in known_tariffs:
                                problems.append(
                                    {
                                        "field": f"{prefix}evses.{evse.uid}.connectors.{connector.id}.tariff_ids",
                                        "problem": f"no tariff {tariff_id!r}: import or create it first",
                                    }
                                )
                result = await self._upsert_location(session, item, prefix, problems, status_of)
                if result and result.changed:
                    # The Location and its EVSEs written before the outbox row is locked: the
                    # projection takes them in this order too (refresh_stations, ADR 016).
                    await session.flush()
                    await self.outbox.mark(session, parties, "location", result.id)
                if result:
                    done.append(result)
            if problems:
                raise Invalid(problems)  # rolls the whole transaction back
        self.outbox.wake()
        return done

    async def _upsert_location(
        self,
        session: AsyncSession,
        item: LocationIn,
        prefix: str,
        problems: list[dict[str, Any]],
        status_of: Callable[[str, int], str],
    ) -> Upserted | None:
        now = clock.now()
        data = item.model_dump(mode="json", exclude_none=True, exclude=LOCATION_OWN)
        try:
            owner = self.roles.owner(item.country_code, item.party_id)
        except NotOurs as e:
            problems.append({"field": f"{prefix}party_id", "problem": str(e)})
            return None
        cc, pid = owner.country_code, owner.party_id
        location = await self._location_row(session, item.id)
        created = location is None
        if location is None:
            location = Location(
                ocpi_id=item.id,
                country_code=cc,
                party_id=pid,
                publish=item.publish,
                data=data,
                last_updated=now,
            )
            session.add(location)
            await session.flush()
            changed = True
        else:
            changed = (
                location.data,
                location.publish,
                location.country_code,
                location.party_id,
            ) != (data, item.publish, cc, pid)
            location.data, location.publish, location.country_code, location.party_id = (
                data,
                item.publish,
                cc,
                pid,
            )
        assert location.id is not None
        current = {e.uid: e for e in (await self.evses_of(session, [location.id]))[location.id]}
        given = set()
        status_ignored = []
        for evse in item.evses or []:
            given.add(evse.uid)
            row = current.get(evse.uid)
            if row is None:
                row = (
                    (
                        await session.execute(
                            select(LocationEvse).where(LocationEvse.uid == evse.uid)
                        )
                    )
                    .scalars()
                    .first()
                )
                if row is not None:
                    problems.append(
                        {
                            "field": f"{prefix}evses.{evse.uid}",
                            "problem": f"EVSE uid {evse.uid!r} belongs to another location",
                        }
                    )
                    continue
            taken = (
                (
                    await session.execute(
                        select(LocationEvse).where(
                            LocationEvse.station_id == evse.station_id,
                            LocationEvse.ocpp_evse_id == evse.ocpp_evse_id,
                            LocationEvse.uid != evse.uid,
                        )
                    )
                )
                .scalars()
                .first()
            )
            if taken is not None:
                problems.append(
                    {
                        "field": f"{prefix}evses.{evse.uid}.station_id",
                        "problem": f"EVSE {evse.ocpp_evse_id} of station {evse.station_id!r} is bound already to EVSE {taken.uid!r}",
                    }
                )
                continue
            old_connectors = {c["id"]: c for c in (row.data.get("connectors", []) if row else [])}
            connectors = []
            for connector in evse.connectors:
                fields = connector.model_dump(
                    mode="json", exclude_none=True, exclude={"last_updated"}
                )
                before = dict(old_connectors.get(connector.id, {}))
                stamp = before.pop("last_updated", None)
                connectors.append(
                    fields
                    | {"last_updated": stamp if before == fields and stamp else timestamp(now)}
                )
            evse_data = evse.model_dump(
                mode="json", exclude_none=True, exclude=EVSE_OWN | {"connectors"}
            ) | {"connectors": connectors}
            # A file as an eMSP receives it carries each EVSE's live status (OCPI requires it):
            # only an operator's PLANNED or REMOVED is taken; the rest is the charger's to say.
            admin_status = None
            if evse.status in OPERATOR_STATUSES:
                admin_status = evse.status.value
            elif evse.status is not None:
                status_ignored.append(evse.uid)
            if row is None:
                status = status_of(evse.station_id, evse.ocpp_evse_id)
                session.add(
                    LocationEvse(
                        location_id=location.id, uid=evse.uid, station_id=evse.station_id,
                        ocpp_evse_id=evse.ocpp_evse_id, admin_status=admin_status,
                        status=status, data=evse_data, last_updated=now,
                    )
                )  # fmt: skip
                changed = True
            elif (row.data, row.admin_status, row.station_id, row.ocpp_evse_id) != (
                evse_data,
                admin_status,
                evse.station_id,
                evse.ocpp_evse_id,
            ):
                rebound = (row.station_id, row.ocpp_evse_id) != (evse.station_id, evse.ocpp_evse_id)
                row.data, row.admin_status = evse_data, admin_status
                row.station_id, row.ocpp_evse_id = evse.station_id, evse.ocpp_evse_id
                if rebound:
                    row.status = status_of(evse.station_id, evse.ocpp_evse_id)
                row.last_updated = now
                changed = True
        # OCPI never deletes an EVSE: one the operator leaves out is retired as REMOVED. It
        # keeps only the parking links to places the Location still has (an EVSEParking must
        # name one of its Location's parking_places).
        parking_ids = {p.id.upper() for p in item.parking_places or []}
        for uid, row in current.items():
            if uid in given:
                continue
            links = row.data.get("parking", [])
            kept = [link for link in links if link["parking_id"].upper() in parking_ids]
            if kept != links:
                row.data = {k: v for k, v in row.data.items() if k != "parking"} | (
                    {"parking": kept} if kept else {}
                )
                row.last_updated = now
                changed = True
            if row.admin_status != "REMOVED":
                row.admin_status, row.last_updated = "REMOVED", now
                changed = True
        if changed:
            location.last_updated = now
        return Upserted(location.ocpi_id, created, changed, status_ignored)

    async def set_publish(self, ocpi_id: str, publish: bool) -> Upserted | None:
        async with self.database.begin() as session:
            await locks.hold(session, Lock.CATALOGUE)
            location = await self._location_row(session, ocpi_id)
            if location is None:
                return None
            changed = location.publish != publish
            if changed:
                location.publish, location.last_updated = publish, clock.now()
                if not publish:
                    location.data.pop("publish_allowed_to", None)
                await session.flush()  # the Location before the outbox row, as above
                parties = await self.outbox.receivers(session, "locations")
                await self.outbox.mark(session, parties, "location", location.ocpi_id)
        self.outbox.wake()
        return Upserted(location.ocpi_id, False, changed)

    # -- live status ------------------------------------------------------------------------

    async def refresh_stations(self, session: AsyncSession, station_ids: set[str]) -> int:
        """Re-derives the status of every EVSE bound to these chargers; marks what changed."""
        if not station_ids:
            return 0
        conn = await session.connection()
        rows = await conn.execute(
            select_columns(
                EVSES.c.id,
                EVSES.c.location_id,
                EVSES.c.uid,
                EVSES.c.station_id,
                EVSES.c.ocpp_evse_id,
                EVSES.c.admin_status,
                EVSES.c.status,
                LOCATION_ROWS.c.ocpi_id,
            )
            .join(LOCATION_ROWS, LOCATION_ROWS.c.id == EVSES.c.location_id)
            .where(EVSES.c.station_id.in_(sorted(station_ids)))
        )
        evses = rows.all()
        if not evses:
            return 0
        changed: dict[str, list[str]] = {}
        hidden: list[dict[str, object]] = []  # PLANNED / REMOVED hide the live status
        shown: list[dict[str, object]] = []
        locations: set[int] = set()
        now = clock.now()
        status_of = await live_statuses(session, station_ids)
        for evse in evses:
            status = status_of(evse.station_id, evse.ocpp_evse_id)
            if status == evse.status:
                continue
            if evse.admin_status:
                hidden.append({"b_id": evse.id, "b_status": status})
                continue
            shown.append({"b_id": evse.id, "b_status": status, "b_at": now})
            locations.add(evse.location_id)
            changed.setdefault(evse.ocpi_id, []).append(evse.uid)
        # Rows in the order an operator's write takes them (Location, its EVSEs, the outbox):
        # on PostgreSQL the two wait for each other rather than deadlock (ADR 016).
        if shown:
            await conn.execute(
                update(LOCATION_ROWS)
                .where(LOCATION_ROWS.c.id.in_(sorted(locations)))
                .values(last_updated=now)
            )
        if hidden:
            await conn.execute(_EVSE_STATUS, hidden)
        if shown:
            await conn.execute(_EVSE_SHOWN, shown)
            parties = await self.outbox.receivers(session, "locations")
            await self.outbox.mark_each(session, parties, "location", changed, scope="status")
        return sum(len(u) for u in changed.values())
