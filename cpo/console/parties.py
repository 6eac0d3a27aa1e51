"""The Parties pages: every eMSP with its state, version, roles, last contact and the health of
its pushes per module; one party with its pushes and its OCPI request log; and the operator's
actions on a party (retry refused pushes, resync, suspend, resume), which are the admin API's
own (cpo.ocpi_side.OcpiSide)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from cpo.admin.openapi import ID_MAX
from cpo.console.logins import Login
from cpo.ocpi_side import OcpiSide
from cpo.operator_input import Conflict, NotFound
from cpo.parties import party_view
from cpo.push import outbox
from cpo.tables import Party, PartyState

if TYPE_CHECKING:
    from cpo.console.routes import Console

REQUESTS_PAGE = 50
FAILED_SHOWN = 50


async def _retry(ocpi_side: OcpiSide, party_id: int) -> str:
    count = await ocpi_side.retry_pushes(party_id)
    return f"{count} refused push{'es' if count != 1 else ''} due again."


async def _resync(ocpi_side: OcpiSide, party_id: int) -> str:
    count = await ocpi_side.resync(party_id)
    return f"Every Location and Tariff marked to be sent again ({count} in all)."


async def _suspend(ocpi_side: OcpiSide, party_id: int) -> str:
    await ocpi_side.suspend(party_id)
    return "Suspended: no traffic with this party until it is resumed."


async def _resume(ocpi_side: OcpiSide, party_id: int) -> str:
    await ocpi_side.resume(party_id)
    return "Resumed: what waited for the party is sent."


# The actions, as the admin API's POST /parties/{id}/retry|resync|suspend|resume.
ACTIONS: dict[str, Callable[[OcpiSide, int], Awaitable[str]]] = {
    "retry": _retry,
    "resync": _resync,
    "suspend": _suspend,
    "resume": _resume,
}


@dataclass
class PartyRow:
    party: dict[str, Any]  # party_view: what the admin API shows of it
    modules: dict[str, dict[str, Any]]  # outbox.modules: pending, failed, oldest per module
    last_contact: datetime | None
    outcome: dict[str, Any] | None = None
    actions: list[str] = field(default_factory=list)


def _actions(party: Party) -> list[str]:
    """What an operator may do with the party in its state."""
    behind_hub = party.hub_id is not None  # the hub gets the broadcast: nothing to resync
    if party.state == PartyState.REGISTERED:
        return ["retry", "suspend"] if behind_hub else ["retry", "resync", "suspend"]
    if party.state == PartyState.SUSPENDED:
        return ["retry", "resume"] if behind_hub else ["retry", "resync", "resume"]
    return []


async def _rows(console: Console, parties: list[Party]) -> list[PartyRow]:
    ids = [p.id for p in parties if p.id is not None]
    async with console.reads() as session:
        health = await outbox.modules(session, ids)
    rows = []
    for party in parties:
        assert party.id is not None
        newest = await console.ocpi_side.log.query(party.id, 1)
        rows.append(
            PartyRow(
                party_view(party),
                health.get(party.id, {}),
                newest[0].created_at if newest else None,
                actions=_actions(party),
            )
        )
    return rows


async def parties_page(console: Console, request: Request, login: Login) -> Response:
    rows = await _rows(console, await console.ocpi_side.parties.all())
    return console.render(request, login, "parties.html", rows=rows)


def _party_id(request: Request) -> int:
    party_id = int(request.path_params["party_id"])
    if not 1 <= party_id <= ID_MAX:  # no row has such an id, and the database cannot be asked
        raise NotFound(f"no party {party_id}")
    return party_id


def _cursor(request: Request) -> tuple[int | None, str | None]:
    raw = request.query_params.get("before", "")
    if not raw:
        return None, None
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw), None
    return None, "That is not a place in the log: the newest requests are shown."


async def _party_data(console: Console, request: Request, party_id: int) -> dict[str, Any]:
    party = await console.ocpi_side.party(party_id)
    (row,) = await _rows(console, [party])
    async with console.reads() as session:
        push = await outbox.summary(session, party_id)
    before, problem = _cursor(request)
    found = await console.ocpi_side.log.query(party_id, REQUESTS_PAGE + 1, before)
    return {
        "row": row,
        "push": push,
        "failed_shown": FAILED_SHOWN,
        "requests": found[:REQUESTS_PAGE],
        "older": found[REQUESTS_PAGE - 1].id if len(found) > REQUESTS_PAGE else None,
        "paged": before is not None,
        "cursor_problem": problem,
    }


async def party_page(console: Console, request: Request, login: Login) -> Response:
    try:
        data = await _party_data(console, request, _party_id(request))
    except NotFound:
        return console.error(
            request, login, 404, f"There is no party {request.path_params['party_id']}."
        )
    return console.render(request, login, "party.html", **data)


async def party_action(
    console: Console, request: Request, login: Login, form: dict[str, str]
) -> Response:
    """An action from the Parties page (answered with the party's row, with htmx) or from the
    party's page (answered with that page); its outcome shows beside the buttons."""
    action = ACTIONS.get(request.path_params["action"])
    if action is None:
        return console.error(request, login, 404, "There is no such action on a party.")
    try:
        party_id = _party_id(request)
        await console.ocpi_side.party(party_id)
    except NotFound:
        return console.error(
            request, login, 404, f"There is no party {request.path_params['party_id']}."
        )
    status = 200
    try:
        outcome = {"ok": True, "said": await action(console.ocpi_side, party_id)}
    except Conflict as e:  # not registered, or not in a state the action applies to
        status, outcome = 409, {"ok": False, "said": f"Not done: {e}."}
    outcome["action"] = request.path_params["action"]
    if form.get("view") == "page":
        data = await _party_data(console, request, party_id)
        data["row"].outcome = outcome
        return console.render(request, login, "party.html", status=status, **data)
    rows = await _rows(console, await console.ocpi_side.parties.all())
    for row in rows:
        if row.party["id"] == party_id:
            row.outcome = outcome
            if request.headers.get("hx-request") == "true":
                return console.render(request, login, "_party_row.html", status=status, row=row)
    return console.render(request, login, "parties.html", status=status, rows=rows)
