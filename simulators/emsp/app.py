"""The eMSP simulator's Starlette app: its whole OCPI surface in one routing table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from simulators.emsp import (
    charging_profiles,
    commands,
    credentials,
    inspection,
    receivers,
    tokens,
    versions,
)
from simulators.emsp.exchange import Handler, exchange, not_found

if TYPE_CHECKING:
    from simulators.emsp.simulator import EmspSimulator

BASE = "/ocpi/emsp"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
OBJECT = "{country_code}/{party_id}"
PROFILES = "chargingprofiles"


def build_app(sim: EmspSimulator) -> ASGIApp:
    V = f"{BASE}/{sim.version}"  # noqa: N806
    tariff = receivers.TARIFF_PATCHABLE if sim.spec.tariff_patch else receivers.TARIFF

    def ocpi(path: str, module: str, handlers: Mapping[str, Handler]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await exchange(sim, request, module, handlers)

        return Route(path, endpoint, methods=METHODS)

    async def unknown(request: Request) -> Response:
        return await not_found(sim, request)

    location = f"{V}/locations/{OBJECT}/{{location_id}}"
    routes: list[BaseRoute] = [
        ocpi(f"{BASE}/versions", "versions", {"GET": versions.get_versions}),
        ocpi(V, "details", {"GET": versions.get_details}),
        ocpi(f"{V}/credentials", "credentials", credentials.HANDLERS),
        ocpi(location, "locations", receivers.LOCATION),
        ocpi(f"{location}/{{evse_uid}}", "locations", receivers.LOCATION),
        ocpi(f"{location}/{{evse_uid}}/{{connector_id}}", "locations", receivers.LOCATION),
        ocpi(f"{V}/sessions/{OBJECT}/{{session_id}}", "sessions", receivers.SESSION),
        ocpi(f"{V}/cdrs", "cdrs", receivers.CDRS),
        ocpi(f"{V}/cdrs/{{cdr_id:path}}", "cdrs", receivers.CDR_BY_ID),
        ocpi(f"{V}/tariffs/{OBJECT}/{{tariff_id}}", "tariffs", tariff),
        ocpi(f"{V}/tokens", "tokens", tokens.TOKENS),
        ocpi(f"{V}/tokens/{{uid:path}}/authorize", "tokens", tokens.AUTHORIZE),
        ocpi(f"{V}/commands/{{command_id}}", "commands", commands.RESULT),
        *sim.extra_routes(),
        *(
            [
                ocpi(f"{V}/{PROFILES}/results/{{request_id}}", PROFILES, charging_profiles.RESULT),
                ocpi(f"{V}/{PROFILES}/{{session_id}}", PROFILES, charging_profiles.ACTIVE),
            ]
            if sim.spec.roles  # no such module in 2.1.1
            else []
        ),
        *inspection.routes(sim),
        Route("/{rest:path}", unknown, methods=METHODS),
    ]
    return StripTrailingSlash(Starlette(routes=routes), sim)


class StripTrailingSlash:
    """Accept `…/locations/` like `…/locations` (the spec's URL joins are loose about slashes).

    With `trailing_slash` on, a path without one is redirected (307) to the path with one, as
    a web framework that routes on slashes does."""

    def __init__(self, app: ASGIApp, sim: EmspSimulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope, path=path.rstrip("/") or "/")
        elif scope["type"] == "http" and self.sim.trailing_slash and path.startswith(BASE):
            raw = scope.get("raw_path") or path.encode()
            query = scope.get("query_string", b"")
            target = f"{self.sim.url}{raw.decode()}/" + (f"?{query.decode()}" if query else "")
            self.sim.redirected.append(path)
            await RedirectResponse(target, 307)(scope, receive, send)
            return
        await self.app(scope, receive, send)
