"""The console's plain lists, newest or alphabetical first: CDRs, Parties, Locations, Tariffs,
Tokens, the OCPP message log and (for administrators) the console's users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response

from cpo.console import accounts
from cpo.console.forms import plain
from cpo.console.logins import Login
from cpo.models import Cdr, ChargingSession, Location, LocationEvse, OcpiToken, Party, Tariff
from cpo.parties import party_view
from csms.models import LocalToken, MessageLogEntry

if TYPE_CHECKING:
    from cpo.console.routes import Console

SHOWN_MAX = 200


async def cdrs_page(console: Console, request: Request, login: Login) -> Response:
    async with console.reads() as session:
        rows = (
            await session.execute(
                select(Cdr, ChargingSession.ocpi_id)
                .join(ChargingSession, col(ChargingSession.id) == col(Cdr.session_id), isouter=True)
                .order_by(col(Cdr.id).desc())
                .limit(SHOWN_MAX)
            )
        ).all()
        parties = {p.id: p for p in (await session.execute(select(Party))).scalars()}
    cdrs = [
        {
            "cdr": cdr,
            "session": session_id,
            "emsp": (parties[cdr.owner_id].name or f"party {cdr.owner_id}")
            if cdr.owner_id in parties
            else "operator",
        }
        for cdr, session_id in rows
    ]
    return console.render(request, login, "cdrs.html", cdrs=cdrs, shown_max=SHOWN_MAX)


async def parties_page(console: Console, request: Request, login: Login) -> Response:
    async with console.reads() as session:
        parties = [
            party_view(p)
            for p in (await session.execute(select(Party).order_by(col(Party.id)))).scalars()
        ]
    return console.render(request, login, "parties.html", parties=parties)


async def locations_page(console: Console, request: Request, login: Login) -> Response:
    async with console.reads() as session:
        locations = list(
            (
                await session.execute(
                    select(Location).order_by(col(Location.ocpi_id)).limit(SHOWN_MAX)
                )
            ).scalars()
        )
        evses: dict[int, list[LocationEvse]] = {}
        for evse in (
            await session.execute(
                select(LocationEvse)
                .where(col(LocationEvse.location_id).in_([loc.id for loc in locations]))
                .order_by(col(LocationEvse.uid))
            )
        ).scalars():
            evses.setdefault(evse.location_id, []).append(evse)
    rows = [{"location": loc, "evses": evses.get(loc.id or 0, [])} for loc in locations]
    return console.render(request, login, "locations.html", rows=rows, shown_max=SHOWN_MAX)


async def tariffs_page(console: Console, request: Request, login: Login) -> Response:
    async with console.reads() as session:
        tariffs = list(
            (
                await session.execute(
                    select(Tariff)
                    .where(col(Tariff.deleted).is_(False))
                    .order_by(col(Tariff.ocpi_id))
                    .limit(SHOWN_MAX)
                )
            ).scalars()
        )
    return console.render(request, login, "tariffs.html", tariffs=tariffs, shown_max=SHOWN_MAX)


async def tokens_page(console: Console, request: Request, login: Login) -> Response:
    async with console.reads() as session:
        local = list(
            (
                await session.execute(
                    select(LocalToken).order_by(col(LocalToken.uid)).limit(SHOWN_MAX)
                )
            ).scalars()
        )
        emsps = (
            await session.execute(
                select(OcpiToken, Party.name)
                .join(Party, col(Party.id) == col(OcpiToken.owner_id), isouter=True)
                .order_by(col(OcpiToken.last_updated).desc())
                .limit(SHOWN_MAX)
            )
        ).all()
    return console.render(
        request, login, "tokens.html", local=local, emsps=emsps, shown_max=SHOWN_MAX
    )


async def messages_page(console: Console, request: Request, login: Login) -> Response:
    """The OCPP message log of every charger, newest first (?station= for one)."""
    station = plain(request.query_params.get("station") or "").strip()[:48]
    stmt = select(MessageLogEntry).order_by(col(MessageLogEntry.id).desc()).limit(SHOWN_MAX)
    if station:
        stmt = stmt.where(MessageLogEntry.station_id == station)
    async with console.reads() as session:
        messages = list((await session.execute(stmt)).scalars())
    return console.render(
        request, login, "messages.html", messages=messages, station=station, shown_max=SHOWN_MAX
    )


async def users_page(console: Console, request: Request, login: Login) -> Response:
    users = [accounts.user_view(u) for u in await accounts.users(console.reads)]
    return console.render(request, login, "users.html", users=users)
