"""Locations, SENDER: eMSPs page through our sites, or fetch one Location, EVSE or Connector."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.responses import Response

from cpo.locations.store import Locations, location_object
from cpo.locations.tables import Location
from cpo.locations.wire import location_out, locations_out
from cpo.ocpi.models_v211 import NotIn211
from cpo.ocpi.pagination import paged_response
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module, OcpiRouter
from cpo.ocpi.status import Status, not_found


def module(router: OcpiRouter, locations: Locations, max_limit: int) -> Module:
    sender = Module("locations", "SENDER")

    @sender.on("GET")
    async def page(call: Call) -> Response:
        async def build(session: AsyncSession, rows: list[Location]) -> list[dict[str, Any]]:
            evses = await locations.evses_of(session, [r.id for r in rows if r.id is not None])
            stored = [location_object(r, evses[r.id]) for r in rows if r.id is not None]
            return locations_out(stored, call.in_version)

        return await paged_response(
            call.request,
            router.module_url("locations", call.in_version),
            locations.database,
            select(Location),
            col(Location.last_updated),
            Location.id,
            build,
            max_limit,
        )

    async def find(call: Call) -> dict:  # type: ignore[type-arg]
        """The Location in the caller's version: its EVSEs and Connectors are taken from it."""
        location_id = call.request.path_params["location_id"]
        found = await locations.location(location_id)
        try:
            if found is not None:
                return location_out(found, call.in_version)
        except NotIn211:
            pass  # not published: unknown to a 2.1.1 party
        raise not_found(f"no location {location_id!r}", Status.UNKNOWN_LOCATION)

    @sender.on("GET", "/{location_id}")
    async def one(call: Call) -> Response:
        return OcpiResponse(await find(call))

    @sender.on("GET", "/{location_id}/{evse_uid}")
    async def evse(call: Call) -> Response:
        return OcpiResponse(_evse(await find(call), call.request.path_params["evse_uid"]))

    @sender.on("GET", "/{location_id}/{evse_uid}/{connector_id}")
    async def connector(call: Call) -> Response:
        found = _evse(await find(call), call.request.path_params["evse_uid"])
        wanted = call.request.path_params["connector_id"]
        for c in found["connectors"]:
            if c["id"].upper() == wanted.upper():
                return OcpiResponse(c)
        raise not_found(
            f"no connector {wanted!r} on EVSE {found['uid']!r}", Status.UNKNOWN_LOCATION
        )

    return sender


def _evse(location: dict, uid: str) -> dict:  # type: ignore[type-arg]
    for e in location.get("evses", []):
        if e["uid"].upper() == uid.upper():
            return e  # type: ignore[no-any-return]
    raise not_found(f"no EVSE {uid!r} at location {location['id']!r}", Status.UNKNOWN_LOCATION)
