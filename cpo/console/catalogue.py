"""The Locations and Tariffs pages: each list searched on the server a page at a time, and the
import of an OCPI Location or Tariff file (one object or a list) from the browser, judged and
stored by the same code as `cpo location import` and the admin API (cpo.locations.store, cpo.tariffs.store): all of
the file or none of it, with the same list of problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Table, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response

from cpo.console.forms import BadForm, problems
from cpo.console.logins import Login
from cpo.console.paging import Pager, like, rows_page, search_term
from cpo.console.uploads import FILE_FIELD, Upload
from cpo.locations.store import Locations
from cpo.locations.tables import Location, LocationEvse
from cpo.operator_input import Invalid, NotFound, Upserted
from cpo.site_power.limits import PowerLimitIn
from cpo.site_power.tables import SitePowerLimit
from cpo.tariffs.tables import Tariff

if TYPE_CHECKING:
    from cpo.console.routes import Console

PAGE = 50
LOCATIONS: Table = Location.__table__  # type: ignore[attr-defined]
TARIFFS: Table = Tariff.__table__  # type: ignore[attr-defined]


def _matches(pattern: str, *columns: Any) -> Any:
    return or_(*(c.ilike(pattern, escape="\\") for c in columns))


async def location_rows(
    session: AsyncSession, term: str, pager: Pager
) -> tuple[list[dict[str, Any]], int]:
    """The Locations whose id, name, address or city, or one of whose EVSEs' uid or charger,
    holds `term` (all without one), by id: one page of them with their EVSEs, and how many."""
    where = []
    if term:
        pattern = like(term)
        data = LOCATIONS.c.data
        where.append(
            or_(
                _matches(
                    pattern,
                    col(Location.ocpi_id),
                    data["name"].as_string(),
                    data["address"].as_string(),
                    data["city"].as_string(),
                ),
                col(Location.id).in_(
                    select(LocationEvse.location_id).where(
                        _matches(pattern, col(LocationEvse.uid), col(LocationEvse.station_id))
                    )
                ),
            )
        )
    locations, total = await rows_page(session, Location, where, col(Location.ocpi_id), pager)
    evses = await Locations.evses_of(session, [loc.id for loc in locations if loc.id is not None])
    ids = [loc.id for loc in locations if loc.id is not None]
    limits = {
        row.location_id: row.limit_w
        for row in (
            await session.execute(
                select(SitePowerLimit).where(col(SitePowerLimit.location_id).in_(ids))
            )
        ).scalars()
    }
    rows = [
        {
            "location": loc,
            "evses": evses.get(loc.id or 0, []),
            "power_limit": limits.get(loc.id or 0),
        }
        for loc in locations
    ]
    return rows, total


async def tariff_rows(session: AsyncSession, term: str, pager: Pager) -> tuple[list[Tariff], int]:
    """The Tariffs (not deleted) whose id or currency holds `term`, by id: a page, how many."""
    where: list[Any] = [col(Tariff.deleted).is_(False)]
    if term:
        where.append(
            _matches(like(term), col(Tariff.ocpi_id), TARIFFS.c.data["currency"].as_string())
        )
    return await rows_page(session, Tariff, where, col(Tariff.ocpi_id), pager)


async def _page(
    console: Console,
    request: Request,
    login: Login,
    kind: str,
    imported: dict[str, Any] | None = None,
    status: int = 200,
    limited: dict[str, Any] | None = None,
) -> Response:
    term = search_term(request)
    pager = Pager.of(request, PAGE, {"q": term})
    rows: list[Any]
    async with console.reads() as session:
        if kind == "location":
            rows, total = await location_rows(session, term, pager)
        else:
            rows, total = await tariff_rows(session, term, pager)
    return console.render(
        request,
        login,
        f"{kind}s.html",
        status=status,
        rows=rows,
        term=term,
        paged=pager.counted(total),
        imported=imported,
        outcome=limited,
        file_field=FILE_FIELD,
        our_roles=console.ocpi_side.roles.view(),
    )


async def locations_page(console: Console, request: Request, login: Login) -> Response:
    return await _page(console, request, login, "location")


async def tariffs_page(console: Console, request: Request, login: Login) -> Response:
    return await _page(console, request, login, "tariff")


def _done(kind: str, done: list[Upserted]) -> dict[str, Any]:
    """What the CLI prints of a good import: each object, and the EVSE statuses not taken."""
    return {
        "ok": True,
        "lines": [
            f"{kind} {d.id}: {'created' if d.created else 'updated' if d.changed else 'unchanged'}"
            for d in done
        ],
        "status_ignored": [uid for d in done for uid in d.status_ignored],
    }


async def _import(
    console: Console, request: Request, login: Login, upload: Upload | BadForm, kind: str
) -> Response:
    """The file stored whole (as `cpo location|tariff import` and the admin API do),
    or its problems next to the upload field and nothing stored."""
    if isinstance(upload, BadForm):
        said = {"ok": False, "said": upload.message}
        return await _page(console, request, login, kind, said, upload.status)
    if upload.content is None:
        said = {"ok": False, "said": f"Choose a JSON file of OCPI {kind.title()}s to import."}
        return await _page(console, request, login, kind, said, 400)
    try:
        raw = orjson.loads(upload.content)
    except orjson.JSONDecodeError as e:
        said = {"ok": False, "said": f"{upload.filename} is not JSON: {e}. Nothing imported."}
        return await _page(console, request, login, kind, said, 400)
    try:
        if kind == "location":
            done = await console.ocpi_side.locations.upsert(raw)
        else:
            done = await console.ocpi_side.tariffs.upsert(raw)
    except Invalid as e:
        said = {
            "ok": False,
            "said": f"Nothing imported from {upload.filename}: {len(e.problems)} problem(s).",
            "problems": e.problems,
        }
        return await _page(console, request, login, kind, said, 422)
    return await _page(console, request, login, kind, _done(kind, done))


async def import_locations(
    console: Console, request: Request, login: Login, upload: Upload | BadForm
) -> Response:
    return await _import(console, request, login, upload, "location")


async def import_tariffs(
    console: Console, request: Request, login: Login, upload: Upload | BadForm
) -> Response:
    return await _import(console, request, login, upload, "tariff")


async def power_limit(
    console: Console, request: Request, login: Login, form: dict[str, str]
) -> Response:
    """Sets a Location's power limit from its row of the Locations page (an empty field lifts
    it), as `cpo location power-limit` and the admin API do."""
    location_id = request.path_params["location_id"]
    given = form.get("limit_w", "").strip()
    outcome: dict[str, Any] = {"command": "power_limit", "problems": {}, "data": None}
    status = 200
    try:
        if given:
            limit = await console.site_power.set(
                location_id, PowerLimitIn.model_validate({"limit_w": given})
            )
            shares = ", ".join(
                f"{c['station_id']} {c['limit_w']:g} W"
                for c in limit["chargers"]
                if c["limit_w"] is not None
            )
            outcome |= {"ok": True, "said": f"Limited to {limit['limit_w']} W.", "detail": shares}
        else:
            await console.site_power.delete(location_id)
            outcome |= {"ok": True, "said": "The limit is lifted."}
    except ValidationError as e:
        status = 422
        outcome |= {"ok": False, "said": "Nothing was changed:", "problems": problems(e)}
    except NotFound as e:
        status = 404
        outcome |= {"ok": False, "said": f"{str(e).capitalize()}."}
    if request.headers.get("hx-request") == "true":
        return console.render(request, login, "_outcome.html", status=status, outcome=outcome)
    return await _page(console, request, login, "location", status=status, limited=outcome)
