"""The Firmware pages: the firmware campaigns with how many chargers are in each state, a form
that starts one, and one campaign charger by charger with a button that cancels it; the
campaigns are the admin API's own (cpo.firmware.campaigns)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cpo.admin.openapi import ID_MAX
from cpo.console.forms import plain, problems
from cpo.console.guard import PATH
from cpo.console.logins import Login
from cpo.console.view import SECURITY_HEADERS
from cpo.firmware.campaigns import CampaignIn
from cpo.firmware.tables import FINAL, TargetState
from cpo.operator_input import Conflict, NotFound
from csms.service import IDENTITY_MAX

if TYPE_CHECKING:
    from cpo.console.routes import Console

STATES = [s.value for s in TargetState]
SHOWN_MAX = 200  # campaigns on the page, the newest
# The form's fields, as CampaignIn names them; any other field of the form is ignored.
FIELDS = ("location", "attempts", "attempt_interval", "signing_certificate", "signature")
SEPARATORS = re.compile(r"[\s,;]+")


def _stations(text: str) -> list[str]:
    """The chargers of the form's text: ids separated by commas, spaces or lines."""
    return [s for s in SEPARATORS.split(text) if s]


def _campaign_in(form: dict[str, str]) -> CampaignIn | dict[str, str]:
    """The form as the admin API's model takes it (empty fields left out: the model's default
    applies; the rest as typed, for the model to judge as it judges the admin API's JSON), or
    what is wrong with it, field by field. NotFound for a station id no station can have (too
    long, control characters): the database is not asked."""
    fields: dict[str, Any] = {}
    found: dict[str, str] = {}
    for name in FIELDS:
        value = form.get(name, "").replace("\r\n", "\n").strip()
        if not value:
            continue
        fields[name] = value
        # Text a charger is sent is text (PostgreSQL stores no NUL); a certificate has lines.
        text = value.replace("\n", "") if name == "signing_certificate" else value
        if plain(text) != text:
            found[name] = "It must not contain control characters."
    stations = _stations(form.get("stations", ""))
    if odd := [s for s in stations if len(s) > IDENTITY_MAX or plain(s) != s]:
        raise NotFound(f"no such station: {', '.join(repr(s[:IDENTITY_MAX]) for s in odd[:5])}")
    try:
        spec = CampaignIn.model_validate(fields | {"stations": stations})
    except ValidationError as e:
        # A problem of no one field (a certificate without its signature) is the form's.
        said = {
            name or "form": text.removeprefix("Value error, ") for name, text in problems(e).items()
        }
        return said | found
    return found or spec


def _sentence(error: Exception) -> str:
    """NotFound's or Conflict's message as the page says it ("no such station: X" → "No such
    station: X.")."""
    text = str(error)
    return f"{text[:1].upper()}{text[1:]}."


async def _campaigns_data(console: Console) -> dict[str, Any]:
    campaigns = list(reversed(await console.firmware.all()))  # newest first
    return {
        "campaigns": campaigns[:SHOWN_MAX],
        "total": len(campaigns),
        "shown_max": SHOWN_MAX,
        "states": STATES,
    }


async def campaigns_page(console: Console, request: Request, login: Login) -> Response:
    return console.render(
        request,
        login,
        "firmware.html",
        form={},
        problems={},
        said=None,
        **await _campaigns_data(console),
    )


async def start_campaign(
    console: Console, request: Request, login: Login, form: dict[str, str]
) -> Response:
    """Starts a campaign from the Firmware page's form and goes to its page; what is wrong with
    the form (a bad URL, an unknown charger, one already in a campaign) shows next to it."""
    status = 422
    try:
        spec = _campaign_in(form)
        if isinstance(spec, CampaignIn):
            campaign_id = await console.firmware.create(spec)
            return RedirectResponse(f"{PATH}/firmware/{campaign_id}", 303, headers=SECURITY_HEADERS)
        found = spec
    except NotFound as e:  # a charger the platform does not know
        found = {"stations": _sentence(e)}
    except Conflict as e:  # a charger already in an active campaign
        status, found = 409, {"stations": _sentence(e)}
    return console.render(
        request,
        login,
        "firmware.html",
        status=status,
        form={k: v for k, v in form.items() if k in (*FIELDS, "stations")},
        problems=found,
        said="Nothing was started: what is wrong is told next to its field.",
        **await _campaigns_data(console),
    )


def _campaign_id(request: Request) -> int:
    campaign_id = int(request.path_params["campaign_id"])
    if not 1 <= campaign_id <= ID_MAX:  # no row has such an id, and the database cannot be asked
        raise NotFound(f"no campaign {campaign_id}")
    return campaign_id


def _render_campaign(
    console: Console,
    request: Request,
    login: Login,
    campaign: dict[str, Any],
    outcome: dict[str, Any] | None = None,
) -> Response:
    return console.render(
        request,
        login,
        "firmware_campaign.html",
        campaign=campaign,
        states=STATES,
        under_way=any(c["state"] not in FINAL for c in campaign["chargers"]),
        outcome=outcome,
    )


async def campaign_page(console: Console, request: Request, login: Login) -> Response:
    try:
        campaign = await console.firmware.get(_campaign_id(request))
    except NotFound:
        return console.error(
            request, login, 404, f"There is no campaign {request.path_params['campaign_id']}."
        )
    return _render_campaign(console, request, login, campaign)


async def cancel_campaign(
    console: Console, request: Request, login: Login, form: dict[str, str]
) -> Response:
    """Cancels a campaign as `cpo firmware cancel` does; its page shows how many chargers left."""
    try:
        campaign_id = _campaign_id(request)
        left = await console.firmware.cancel(campaign_id)
        campaign = await console.firmware.get(campaign_id)
    except NotFound:
        return console.error(
            request, login, 404, f"There is no campaign {request.path_params['campaign_id']}."
        )
    if left:
        said = f"Cancelled: {left} charger{'s' if left != 1 else ''} left the campaign."
    else:
        said = "Nothing to cancel: every charger of the campaign was done already."
    return _render_campaign(console, request, login, campaign, {"ok": bool(left), "said": said})
