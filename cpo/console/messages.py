"""The Messages page: the OCPP message log of every charger (or one), in and out (or one way),
newest first, a page at a time, each frame as pretty JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from cpo.console.forms import plain
from cpo.console.logins import Login
from cpo.console.paging import query_string
from cpo.operator_input import NotFound
from csms.service import IDENTITY_MAX

if TYPE_CHECKING:
    from cpo.console.routes import Console

PAGE = 50
DIRECTIONS = {"in": "from the charger", "out": "to the charger"}
CURSOR_MAX = 1 << 62


async def messages_page(console: Console, request: Request, login: Login) -> Response:
    q = request.query_params
    typed = {
        "station": (q.get("station") or "").strip()[:100],
        "direction": (q.get("direction") or "").strip()[:10],
    }
    problems: dict[str, str] = {}
    station = typed["station"] or None
    if station is not None:
        if len(station) > IDENTITY_MAX or plain(station) != station:
            problems["station"] = f"A station id has at most {IDENTITY_MAX} printable characters."
        else:
            try:
                await console.stations.get(station)
            except NotFound:
                problems["station"] = f"There is no station {station}."
    direction = typed["direction"] or None
    if direction is not None and direction not in DIRECTIONS:
        problems["direction"] = "Choose in (from the charger) or out (to the charger)."
    raw = q.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else None
    if raw and (before is None or not 1 <= before <= CURSOR_MAX):
        problems["before"] = "That is not a place in the log."
    typed = {k: plain(v) for k, v in typed.items()}
    data: dict[str, Any] = {"typed": typed, "problems": problems, "directions": DIRECTIONS}
    if problems:
        return console.render(request, login, "messages.html", status=400, messages=[], **data)
    found = await console.csms.message_log.search(station, direction, PAGE + 1, before)
    messages = found[:PAGE]
    return console.render(
        request,
        login,
        "messages.html",
        messages=messages,
        paged=before is not None,
        newest=f"?{query_string(typed)}".rstrip("?"),
        older=f"?{query_string(typed | {'before': messages[-1].id})}"
        if len(found) > PAGE
        else None,
        **data,
    )
