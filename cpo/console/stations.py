"""The Stations pages: every charger with its state, filtered and searched; one charger with its
connectors, its transaction under way, its last OCPP frames, the files it uploaded and the
commands an operator sends it through the command port."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select
from starlette.requests import Request
from starlette.responses import Response

from cpo.admin.api import attachment
from cpo.console.forms import (
    command_fields,
    plain,
    problems,
    profile_command_fields,
    profile_problems,
)
from cpo.console.logins import Login
from cpo.console.paging import SEARCH_MAX, like
from cpo.locations.tables import Location, LocationEvse
from cpo.operator_input import NotFound
from csms import clock, device_model, uploads
from csms.certificates import records
from csms.commands import COMMANDS, Command, CommandResult, Outcome
from csms.models import Connector, Station, Transaction, TransactionStatus
from csms.provisioning import InvalidItem, check_item
from csms.service import IDENTITY_MAX

if TYPE_CHECKING:
    from cpo.console.routes import Console

# The version-neutral connector states (csms.models.Connector.status).
STATUSES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
SHOWN_MAX = 500  # stations on one page; the filters narrow a larger network
MESSAGES_SHOWN = 30
# The commands the station page offers; any other the command port knows is taken the same way.
OFFERED = (
    "reset",
    "unlock",
    "remote_start",
    "remote_stop",
    "change_availability",
    "get_configuration",
    "get_diagnostics",
    "get_log",
)
UPLOADS_SHOWN = 10
CERTIFICATES_SHOWN = 20

# Variables of a 2.0.1 charger's device model its page shows (the admin API and CLI have all).
DEVICE_MODEL_SHOWN = 300


@dataclass(frozen=True)
class Filters:
    online: bool | None = None
    status: str | None = None
    location: str | None = None
    search: str = ""

    @classmethod
    def of(cls, request: Request) -> Filters:
        """What the page was asked for; a value it cannot mean is taken as no filter."""
        q = request.query_params
        online = {"yes": True, "no": False}.get(q.get("online", ""))
        status = q.get("status") if q.get("status") in STATUSES else None
        location = plain(q.get("location") or "").strip()[:36] or None
        return cls(online, status, location, plain(q.get("q") or "").strip()[:SEARCH_MAX])

    @property
    def any(self) -> bool:
        return self.online is not None or bool(self.status or self.location or self.search)


@dataclass
class StationRow:
    station: Station
    connectors: list[Connector] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)


async def station_rows(session: AsyncSession, filters: Filters) -> tuple[list[StationRow], int]:
    """The stations the filters keep (at most SHOWN_MAX, by id), with their connectors and
    Locations, and how many the filters keep in all."""
    where: list[Any] = []
    if filters.online is not None:
        where.append(col(Station.online) == filters.online)
    if filters.search:
        pattern = like(filters.search)
        where.append(
            or_(
                *(
                    col(c).ilike(pattern, escape="\\")
                    for c in (Station.id, Station.vendor, Station.model, Station.serial_number)
                )
            )
        )
    if filters.status:
        where.append(
            or_(
                col(Station.status) == filters.status,
                col(Station.id).in_(
                    select(Connector.station_id).where(Connector.status == filters.status)
                ),
            )
        )
    if filters.location:
        where.append(
            col(Station.id).in_(
                select(LocationEvse.station_id)
                .join(Location, col(Location.id) == col(LocationEvse.location_id))
                .where(Location.ocpi_id == filters.location)
            )
        )
    total = await session.scalar(select(func.count()).select_from(Station).where(*where))
    stations = list(
        (
            await session.execute(
                select(Station).where(*where).order_by(col(Station.id)).limit(SHOWN_MAX)
            )
        ).scalars()
    )
    rows = {s.id: StationRow(s) for s in stations}
    if rows:
        ids = list(rows)
        for connector in (
            await session.execute(
                select(Connector)
                .where(col(Connector.station_id).in_(ids))
                .order_by(col(Connector.evse_id), col(Connector.connector_id))
            )
        ).scalars():
            rows[connector.station_id].connectors.append(connector)
        named: dict[str, set[str]] = defaultdict(set)
        for station_id, ocpi_id in await session.execute(
            select(LocationEvse.station_id, Location.ocpi_id)
            .join(Location, col(Location.id) == col(LocationEvse.location_id))
            .where(col(LocationEvse.station_id).in_(ids))
        ):
            named[station_id].add(ocpi_id)
        for station_id, found in named.items():
            rows[station_id].locations = sorted(found)
    return list(rows.values()), int(total or 0)


async def location_ids(session: AsyncSession) -> list[str]:
    return list(
        (await session.execute(select(Location.ocpi_id).order_by(col(Location.ocpi_id)))).scalars()
    )


async def stations_page(console: Console, request: Request, login: Login) -> Response:
    filters = Filters.of(request)
    async with console.reads() as session:
        rows, total = await station_rows(session, filters)
        locations = (
            await location_ids(session) if request.query_params.get("part") != "rows" else []
        )
    data: dict[str, Any] = {
        "rows": rows,
        "total": total,
        "shown_max": SHOWN_MAX,
        "filters": filters,
    }
    if request.query_params.get("part") == "rows":
        return console.render(request, login, "_station_rows.html", **data)
    return console.render(
        request, login, "stations.html", statuses=STATUSES, locations=locations, **data
    )


# The form for any command of the command port: its name, and its arguments as JSON, judged
# by the command's model as the admin API judges its body (the forms above are for the usual).
ANY_COMMAND = "any"
ARGUMENTS = "arguments"


def _known_form(station_id: str) -> None:
    """NotFound for an id no station can have (too long, control characters), before the
    database is asked."""
    if len(station_id) > IDENTITY_MAX or plain(station_id) != station_id:
        raise NotFound(f"no station {station_id!r}")


async def _station(console: Console, station_id: str) -> dict[str, Any]:
    _known_form(station_id)
    station, connectors = await console.stations.get(station_id)
    async with console.reads() as session:
        active = list(
            (
                await session.execute(
                    select(Transaction)
                    .where(
                        Transaction.station_id == station_id,
                        Transaction.status == TransactionStatus.ACTIVE,
                    )
                    .order_by(col(Transaction.id).desc())
                )
            ).scalars()
        )
        model = await device_model.variables_of(session, station_id, limit=DEVICE_MODEL_SHOWN)
        issued = await records.issued_list(session, station_id, limit=CERTIFICATES_SHOWN)
        installed = await records.installed_list(session, station_id)
    files = await uploads.of_station(console.csms.store.database, station_id, UPLOADS_SHOWN)
    provisioning = console.csms.provisioning
    answers = {r.key: r for r in await provisioning.results(station_id)}
    wanted = await provisioning.wanted(station_id, station.ocpp_version or "")
    return {
        "boot": await provisioning.state(station_id),
        "provisioning": [(key, value, answers.get(key)) for key, value in wanted.items()],
        "station": station,
        "connectors": connectors,
        "active": active,
        "model": model,
        "uploads": files,
        "issued_certificates": issued[::-1],  # the longest valid first
        "installed_certificates": installed,
        "expiring_before": clock.now() + timedelta(days=console.settings.certificate_warn_days),
        "commands": sorted(COMMANDS),
    }


async def station_page(console: Console, request: Request, login: Login) -> Response:
    station_id = request.path_params["station_id"]
    part = request.query_params.get("part")
    try:
        if part == "messages":
            _known_form(station_id)
            await console.stations.get(station_id)
            return console.render(
                request, login, "_messages.html", messages=await _messages(console, station_id)
            )
        data = await _station(console, station_id)
    except NotFound:
        return console.error(request, login, 404, f"There is no station {station_id}.")
    if part == "live":
        return console.render(request, login, "_station_live.html", **data)
    return console.render(
        request,
        login,
        "station.html",
        messages=await _messages(console, station_id),
        outcome=None,
        **data,
    )


async def upload_file(console: Console, request: Request, login: Login) -> Response:
    """A file the station uploaded, as an attachment."""
    found = await uploads.file(console.csms.store.database, request.path_params["upload_id"])
    if found is None or found[0].station_id != request.path_params["station_id"]:
        return console.error(request, login, 404, "There is no such file.")
    info, content = found
    return Response(
        content,
        media_type=info.content_type or "application/octet-stream",
        headers={"Content-Disposition": attachment(info.file_name or f"upload-{info.id}")},
    )


async def _messages(console: Console, station_id: str) -> list[Any]:
    return list(await console.csms.message_log.query(station_id, MESSAGES_SHOWN))


def _said(result: CommandResult) -> tuple[bool, str]:
    """Whether it went well, and what happened in words."""
    if result.outcome is Outcome.ANSWERED:
        return result.accepted, f"The charger answered: {result.status or 'no status'}."
    said = {
        Outcome.OFFLINE: "The charger is offline: nothing was sent.",
        Outcome.TIMEOUT: "The charger did not answer in time.",
        Outcome.CALL_ERROR: f"The charger answered with an error: {result.error_code}.",
        Outcome.INVALID: "The command does not fit this charger.",
    }[result.outcome]
    return False, said


def _parsed(
    model: type[Command], name: str, form: dict[str, str]
) -> tuple[Command | None, dict[str, str]]:
    """The command the form makes, or each field's problem."""
    if ARGUMENTS in form:  # the form for any command: its arguments as a JSON object
        try:
            given = json.loads(form[ARGUMENTS] or "{}")
        except ValueError as e:
            return None, {ARGUMENTS: f"not JSON: {e}"}
        if not isinstance(given, dict):
            return None, {ARGUMENTS: 'a JSON object, like {"evse_id": 1}'}
        try:
            return model.model_validate(given), {}
        except ValidationError as e:
            return None, problems(e)
    if name != "set_charging_profile":
        try:
            return model.model_validate(command_fields(model, form)), {}
        except ValidationError as e:
            return None, problems(e)
    # A profile and its periods, written as lines of text.
    fields, unread = profile_command_fields(form)
    if unread:
        return None, unread
    try:
        return model.model_validate(fields), {}
    except ValidationError as e:
        return None, profile_problems(e)


async def command(
    console: Console, request: Request, login: Login, form: dict[str, str]
) -> Response:
    """Sends a command from the station page as the admin API sends one: the command port's
    model judges the fields, the command port runs it, and the page shows the outcome."""
    station_id, name = request.path_params["station_id"], request.path_params["name"]
    if name == ANY_COMMAND:
        name = form.get("command", "")
    model = COMMANDS.get(name)
    if model is None:
        return console.error(request, login, 404, f"There is no command {name}.")
    try:
        _known_form(station_id)
        await console.stations.get(station_id)
    except NotFound:
        return console.error(request, login, 404, f"There is no station {station_id}.")
    outcome: dict[str, Any]
    status = 200
    parsed, wrong = _parsed(model, name, form)
    if parsed is None:
        status = 422
        outcome = {"ok": False, "said": "Nothing was sent:", "problems": wrong, "data": None}
    else:
        result = await console.csms.commands.run(station_id, parsed)
        ok, said = _said(result)
        outcome = {
            "ok": ok,
            "said": said,
            "detail": result.error_description,
            "problems": {},
            # What the charger said besides its status (a configuration, a list version).
            "data": {k: v for k, v in result.data.items() if k != "status"} or None,
        }
    outcome["command"] = name
    return await _answered(console, request, login, station_id, status, outcome)


async def provision(
    console: Console, request: Request, login: Login, form: dict[str, str]
) -> Response:
    """Sets a key of the station's provisioning set from its page, judged as the admin API
    judges it; the charger takes it at its next Pending boot (CPO_BOOT_PENDING)."""
    station_id = request.path_params["station_id"]
    try:
        _known_form(station_id)
        station, _ = await console.stations.get(station_id)
    except NotFound:
        return console.error(request, login, 404, f"There is no station {station_id}.")
    key, value = form.get("key", "").strip(), form.get("value", "")
    status = 200
    try:
        check_item(key, value, station.ocpp_version)
    except InvalidItem as e:
        status = 422
        outcome = {"ok": False, "said": "Nothing was set:", "problems": {e.field: str(e)}}
    else:
        await console.csms.provisioning.put(station_id, key, value)
        outcome = {
            "ok": True,
            "said": f"{key} = {value}",
            "detail": "the charger takes it at its next Pending boot",
            "problems": {},
        }
    outcome |= {"command": "provision", "data": None}
    return await _answered(console, request, login, station_id, status, outcome)


async def _answered(
    console: Console,
    request: Request,
    login: Login,
    station_id: str,
    status: int,
    outcome: dict[str, Any],
) -> Response:
    """What an action on the station page did: next to its form (htmx), or the whole page."""
    if request.headers.get("hx-request") == "true":
        return console.render(request, login, "_outcome.html", status=status, outcome=outcome)
    data = await _station(console, station_id)
    return console.render(
        request,
        login,
        "station.html",
        status=status,
        messages=await _messages(console, station_id),
        outcome=outcome,
        **data,
    )
