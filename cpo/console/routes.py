"""The console under /console/: its routes, the login in front of every page, the CSRF and
role checks in front of every action, and the live stream the pages listen to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cpo.cdrs.report import CdrReport
from cpo.console import (
    accounts,
    catalogue,
    cdrs,
    firmware,
    messages,
    parties,
    sessions,
    stations,
    tokens,
    users,
)
from cpo.console.forms import CSRF_FIELD, CSRF_HEADER, BadForm, read_form, sent_token
from cpo.console.guard import PATH, Guard, Refused, client_address, shared_secret
from cpo.console.live import Changes, EventStream
from cpo.console.logins import Login, Logins
from cpo.console.roles import NAME_MAX, PASSWORD_MAX, Role
from cpo.console.uploads import Upload, read_upload
from cpo.console.view import SECURITY_HEADERS, STATIC, View
from cpo.firmware.campaigns import Campaigns
from cpo.ocpi_side import OcpiSide
from cpo.settings import Settings
from cpo.site_power.limits import SitePower
from cpo.stations import Stations
from csms.service import Csms

Page = Callable[["Console", Request, Login], Awaitable[Response]]
Action = Callable[["Console", Request, Login, dict[str, str]], Awaitable[Response]]
Uploaded = Callable[["Console", Request, Login, Upload | BadForm], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]

NAV = [
    ("Stations", f"{PATH}/stations"),
    ("Sessions", f"{PATH}/sessions"),
    ("CDRs", f"{PATH}/cdrs"),
    ("Parties", f"{PATH}/parties"),
    ("Locations", f"{PATH}/locations"),
    ("Tariffs", f"{PATH}/tariffs"),
    ("Tokens", f"{PATH}/tokens"),
    ("Messages", f"{PATH}/messages"),
    ("Firmware", f"{PATH}/firmware"),
]
HOME = f"{PATH}/stations"
WRONG = "Wrong user name or password."


class Console:
    def __init__(
        self,
        settings: Settings,
        database: async_sessionmaker[AsyncSession],
        readers: async_sessionmaker[AsyncSession] | None,
        csms: Csms,
        stations: Stations,
        ocpi_side: OcpiSide,
        site_power: SitePower,
        firmware: Campaigns,
    ) -> None:
        self.settings = settings
        self.site_power = site_power
        self.database = database
        # Pages only read: on SQLite, on the reading connections, never queued behind writes.
        self.reads = readers or database
        self.csms = csms
        self.stations = stations
        self.ocpi_side = ocpi_side
        self.firmware = firmware
        self.report = CdrReport(self.reads)
        self.logins = Logins(
            database,
            idle=timedelta(minutes=settings.console_session_minutes),
            longest=timedelta(hours=settings.console_session_max_hours),
            reads=self.reads,
        )
        self.guard = Guard(self.logins, settings.base_url)
        self.view = View()
        self.changes = Changes(self.reads, csms.store.feed)

    async def start(self) -> None:
        self.guard.use_secret(await shared_secret(self.database, self.settings.console_secret))

    async def stop(self) -> None:
        """Ends the live streams: the server waits for every open response before it stops."""
        await self.changes.close()

    # -- rendering --------------------------------------------------------------------------

    def render(
        self, request: Request, login: Login, template: str, *, status: int = 200, **data: Any
    ) -> Response:
        context = {
            "login": login,
            "csrf": self.guard.csrf_token(login),
            "csrf_field": CSRF_FIELD,
            "nav": NAV,
            "here": request.url.path,
            "can_act": login.role.can_act,
            "is_admin": login.role is Role.ADMIN,
            "base": PATH,
        }
        return self.view.render(template, context | data, status)

    def error(self, request: Request, login: Login | None, status: int, message: str) -> Response:
        if login is None or _htmx(request):
            return self.view.render("_error.html", {"message": message}, status)
        return self.render(request, login, "error.html", status=status, message=message)

    def to_login(self, request: Request) -> Response:
        if _htmx(request):  # htmx follows this header instead of swapping the answer in
            return Response(status_code=401, headers={"HX-Redirect": f"{PATH}/"})
        target = f"{PATH}/"
        if request.method == "GET" and request.url.path != f"{PATH}/":
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target += f"?next={quote(here, safe='')}"
        return RedirectResponse(target, 303, headers=SECURITY_HEADERS)

    # -- the guards in front of pages and actions -------------------------------------------

    def page(self, handler: Page, role: Role | None = None) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            login = await self.guard.login(request)
            if login is None:
                return self.to_login(request)
            if role is Role.ADMIN and login.role is not Role.ADMIN:
                return self.error(request, login, 403, "Only an administrator may see this page.")
            return await handler(self, request, login)

        return endpoint

    def action(self, handler: Action) -> Endpoint:
        """A POST that changes something: a live login, a form that can be read, the login's
        CSRF token and a page of ours as its origin, and a role that may act."""

        async def endpoint(request: Request) -> Response:
            login = await self.guard.login(request)
            if login is None:
                return self.to_login(request)
            refusal = await self._check_post(request, login)
            if isinstance(refusal, Response):
                return refusal
            form = refusal
            if not login.role.can_act:
                return self.error(
                    request, login, 403, f"A {login.role.value} sees everything but cannot act."
                )
            return await handler(self, request, login, form)

        return endpoint

    def upload(self, handler: Uploaded) -> Endpoint:
        """A POST that carries a file (multipart/form-data): as `action`, but the CSRF token is
        looked for among the upload's fields once it is read (within its bound), and a file
        that cannot be taken is the handler's to tell next to its field."""

        async def endpoint(request: Request) -> Response:
            # The body is read (within its bound) before any refusal: a server that answers
            # and closes while the browser is still sending makes the kernel reset the
            # connection, and the browser may lose the answer with it.
            try:
                upload: Upload | BadForm = await read_upload(request, self.settings.max_body_bytes)
            except BadForm as e:
                upload = e
            login = await self.guard.login(request)
            if login is None:
                return self.to_login(request)
            try:
                self.guard.check_origin(request)
            except Refused as e:
                return self.error(request, login, e.status, e.reason)
            if not login.role.can_act:
                return self.error(
                    request, login, 403, f"A {login.role.value} sees everything but cannot act."
                )
            if isinstance(upload, BadForm):
                # Nothing is done with it: what was wrong is said next to the field.
                return await handler(self, request, login, upload)
            expected = self.guard.csrf_token(login)
            try:
                self.guard.check_post(request, sent_token(request, upload.fields), expected)
            except Refused as e:
                return self.error(request, login, e.status, e.reason)
            return await handler(self, request, login, upload)

        return endpoint

    async def _check_post(self, request: Request, login: Login) -> dict[str, str] | Response:
        """The POST's form, or the answer that refuses it: 403 without the login's CSRF token
        or from another origin (whatever its body), else the form's own problem."""
        expected = self.guard.csrf_token(login)
        try:
            form = await read_form(request)
        except BadForm as e:
            try:
                self.guard.check_post(request, request.headers.get(CSRF_HEADER), expected)
            except Refused as r:
                return self.error(request, login, r.status, r.reason)
            return self.error(request, login, e.status, e.message)
        try:
            self.guard.check_post(request, sent_token(request, form), expected)
        except Refused as e:
            return self.error(request, login, e.status, e.reason)
        return form

    # -- logging in and out -----------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        """The login form, or the stations for a browser that is logged in."""
        if await self.guard.login(request) is not None:
            return RedirectResponse(_next(request.query_params.get("next")), 303)
        return self._login_form(request, next=request.query_params.get("next", ""))

    def _login_form(
        self,
        request: Request,
        status: int = 200,
        username: str = "",
        errors: dict[str, str] | None = None,
        next: str = "",
    ) -> Response:
        token, cookie = self.guard.form_token(request)
        response = self.view.render(
            "login.html",
            {
                "csrf": token,
                "csrf_field": CSRF_FIELD,
                "username": username[:NAME_MAX],
                "errors": errors or {},
                "next": next if _safe_next(next) else "",
                "base": PATH,
                "name_max": NAME_MAX,
                "password_max": PASSWORD_MAX,
            },
            status,
        )
        self.guard.keep_form_token(response, request, cookie)
        return response

    async def log_in(self, request: Request) -> Response:
        try:
            form = await read_form(request)
        except BadForm as e:
            return self._login_form(request, e.status, errors={"form": e.message})
        username, password = form.get("username", ""), form.get("password", "")
        next = form.get("next", "")

        def again(status: int, errors: dict[str, str]) -> Response:
            return self._login_form(request, status, username, errors, next)

        token, cookie = self.guard.form_token(request)
        try:
            # A browser that has no form cookie yet did not come from our form.
            self.guard.check_post(request, form.get(CSRF_FIELD), None if cookie else token)
        except Refused as e:
            return again(e.status, {"form": "The login form was out of date: try again."})
        errors: dict[str, str] = {}
        if not username.strip():
            errors["username"] = "Enter your user name."
        elif len(username) > NAME_MAX:
            errors["username"] = f"A user name has at most {NAME_MAX} characters."
        if not password:
            errors["password"] = "Enter your password."
        elif len(password) > PASSWORD_MAX:
            errors["password"] = f"A password has at most {PASSWORD_MAX} characters."
        if errors:
            return again(400, errors)
        name, address = accounts.normalise_name(username), client_address(request)
        if held := self.guard.held_off(name, address):
            return again(429, {"form": f"Too many failed logins: try again in {int(held) + 1} s."})
        user = None
        if accounts.valid_name(name):  # anything else names no one, and is not looked up
            async with self.reads() as session:
                user = await accounts.user_named(session, name)
        if not await accounts.password_matches(user.password_hash if user else None, password):
            self.guard.failed(name, address)
            return again(401, {"form": WRONG})
        assert user is not None
        login = await self.logins.start(user)
        if login is None:
            return again(401, {"form": WRONG})
        self.guard.succeeded(name, address)
        await self.logins.sweep()
        response = RedirectResponse(_next(next), 303, headers=SECURITY_HEADERS)
        self.guard.keep_login(response, request, login)
        return response

    async def log_out(self, request: Request) -> Response:
        login = await self.guard.login(request)
        response = RedirectResponse(f"{PATH}/", 303, headers=SECURITY_HEADERS)
        if login is None:
            self.guard.drop_login(response)
            return response
        refusal = await self._check_post(request, login)
        if isinstance(refusal, Response):
            return refusal
        await self.logins.end(login.secret)
        self.guard.drop_login(response)
        return response

    # -- live updates -----------------------------------------------------------------------

    async def events(self, request: Request) -> Response:
        login = await self.guard.login(request)
        if login is None:
            return Response("log in first", 401, media_type="text/plain")

        async def still_allowed() -> bool:
            return await self.logins.find(login.secret) is not None

        # Listening before the answer's headers go: the page refreshes its live parts once
        # the stream is open (console.js), and every change from then on is told.
        return EventStream(self.changes, await self.changes.listen(), still_allowed)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/login", self.log_in, methods=["POST"]),
            Route("/logout", self.log_out, methods=["POST"]),
            Route("/events", self.events, methods=["GET"]),
            Route("/stations", self.page(stations.stations_page), methods=["GET"]),
            Route("/stations/{station_id}", self.page(stations.station_page), methods=["GET"]),
            Route(
                "/stations/{station_id}/uploads/{upload_id:int}",
                self.page(stations.upload_file),
                methods=["GET"],
            ),
            Route(
                "/stations/{station_id}/commands/{name}",
                self.action(stations.command),
                methods=["POST"],
            ),
            Route(
                "/stations/{station_id}/provisioning",
                self.action(stations.provision),
                methods=["POST"],
            ),
            Route("/sessions", self.page(sessions.sessions_page), methods=["GET"]),
            Route("/cdrs", self.page(cdrs.cdrs_page), methods=["GET"]),
            Route("/cdrs.csv", self.page(cdrs.cdrs_csv), methods=["GET"]),
            Route("/cdrs/{cdr_id}", self.page(cdrs.cdr_page), methods=["GET"]),
            Route("/parties", self.page(parties.parties_page), methods=["GET"]),
            Route("/parties/{party_id:int}", self.page(parties.party_page), methods=["GET"]),
            Route(
                "/parties/{party_id:int}/{action}",
                self.action(parties.party_action),
                methods=["POST"],
            ),
            Route("/locations", self.page(catalogue.locations_page), methods=["GET"]),
            Route("/locations/import", self.upload(catalogue.import_locations), methods=["POST"]),
            Route(
                "/locations/{location_id}/power-limit",
                self.action(catalogue.power_limit),
                methods=["POST"],
            ),
            Route("/tariffs", self.page(catalogue.tariffs_page), methods=["GET"]),
            Route("/tariffs/import", self.upload(catalogue.import_tariffs), methods=["POST"]),
            Route("/tokens", self.page(tokens.tokens_page), methods=["GET"]),
            Route("/messages", self.page(messages.messages_page), methods=["GET"]),
            Route("/firmware", self.page(firmware.campaigns_page), methods=["GET"]),
            Route("/firmware", self.action(firmware.start_campaign), methods=["POST"]),
            Route(
                "/firmware/{campaign_id:int}", self.page(firmware.campaign_page), methods=["GET"]
            ),
            Route(
                "/firmware/{campaign_id:int}/cancel",
                self.action(firmware.cancel_campaign),
                methods=["POST"],
            ),
            Route("/users", self.page(users.users_page, role=Role.ADMIN), methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _safe_next(target: str | None) -> bool:
    """Only a page of the console: never another site (//evil, /\\evil) after a login."""
    return bool(
        target
        and len(target) <= 500
        and target.startswith(f"{PATH}/")
        and "//" not in target
        and "\\" not in target
        and not any(ord(c) < 32 for c in target)
    )


def _next(target: str | None) -> str:
    return target if target and _safe_next(target) else HOME
