"""Sessions, SENDER: an eMSP pages through its own drivers' sessions and states their preferences."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select
from starlette.responses import Response

from cpo.locations.store import location_at
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.pagination import paged_response
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module, OcpiRouter
from cpo.sessions.preferences import ChargingPreferences, Preferences, unknown_session
from cpo.sessions.tables import ChargingSession
from cpo.sessions.wire import session_out


def module(
    router: OcpiRouter,
    database: async_sessionmaker[AsyncSession],
    max_limit: int,
    preferences: Preferences,
) -> Module:
    charging = Module("sessions", "SENDER")

    @charging.on("PUT", "/{session_id}/charging_preferences")
    async def prefer(call: Call) -> Response:
        session_id = call.request.path_params["session_id"]
        if len(session_id) > 36:
            raise unknown_session(session_id[:40])
        wanted = call.json(ChargingPreferences)
        return OcpiResponse((await preferences.apply(call.party, session_id, wanted)).value)

    @charging.on("GET")
    async def page(call: Call) -> Response:
        async def build(session: AsyncSession, rows: list[ChargingSession]) -> list[dict[str, Any]]:
            version = call.in_version
            if version != VersionNumber.V2_1_1:
                return [session_out(r.data, version) for r in rows]
            # 2.1.1 embeds each session's Location: each read once per page.
            places = {str(r.location["id"]) for r in rows if r.location}
            at = {place: await location_at(session, place) for place in places}
            return [
                session_out(r.data, version, at.get(str((r.location or {}).get("id"))), r.location)
                for r in rows
            ]

        # Only the caller's own, and only those an eMSP can place (at a Location).
        return await paged_response(
            call.request,
            router.module_url("sessions", call.in_version),
            database,
            select(ChargingSession).where(
                ChargingSession.owner_id == call.party.id,
                col(ChargingSession.location).is_not(None),
            ),
            col(ChargingSession.last_updated),
            ChargingSession.id,
            build,
            max_limit,
            date_from_required=True,  # the spec requires it of Sessions alone
        )

    return charging
