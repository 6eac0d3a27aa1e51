"""Serving OCPI: every request authenticated to one party, checked, answered in an envelope, logged.

Modules plug in as `Module`s (identifier, role, the versions they serve, handlers per path and
method). Each enabled version is served at /ocpi/{version}/; its details list exactly the
modules plugged in for it, and a handler learns the version it was called in (`Call.version`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cpo import logs, metrics
from cpo.body_limit import BodyTooLarge
from cpo.hubs.clients import through
from cpo.ocpi.headers import (
    CORRELATION_ID,
    FROM_COUNTRY,
    FROM_PARTY,
    REQUEST_ID,
    TO_COUNTRY,
    TO_PARTY,
    PartyRef,
    new_id,
    routing,
    usable_id,
)
from cpo.ocpi.models import VersionNumber, newest_first, problems_of
from cpo.ocpi.requestlog import RequestLog
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.status import OcpiError, Status, invalid, not_allowed, not_found, unauthorized
from cpo.parties import Caller, Parties
from cpo.tables import Party, PartyState

log = logging.getLogger("cpo.ocpi")

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Call:
    """One authenticated OCPI request, as a module handler sees it."""

    request: Request
    caller: Caller
    request_id: str
    correlation_id: str
    body: bytes
    sender: PartyRef | None = None  # the caller's role on functional modules
    addressed: PartyRef | None = None  # our role it called (OCPI-to-*) on functional modules
    # The version in the URL called; None only at /ocpi/versions, which is in none.
    version: VersionNumber | None = None

    @property
    def party(self) -> Party:
        return self.caller.party

    @property
    def in_version(self) -> VersionNumber:
        """The version called: every module but the versions list is served in one."""
        if self.version is None:
            raise RuntimeError("the versions list is in no version")
        return self.version

    def json_value(self) -> Any:
        """The body as JSON; not JSON is HTTP 400."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise OcpiError(Status.CLIENT_ERROR, "the body is not valid JSON", http=400) from None

    def json(self, model: type[M]) -> M:
        """The body as `model`: not JSON is HTTP 400; JSON that does not fit is OCPI 2001."""
        return self.validate(model, self.json_value())

    @staticmethod
    def validate(model: type[M], value: Any) -> M:
        try:
            return model.model_validate(value)
        except ValidationError as e:
            problems = problems_of(e)
            summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
            raise invalid(f"invalid {model.__name__}: {summary}", data=problems) from None


Handler = Callable[[Call], Awaitable[Response]]


@dataclass
class Module:
    identifier: str
    role: str  # SENDER | RECEIVER
    handlers: dict[str, dict[str, Handler]] = field(default_factory=dict)  # path -> method -> fn
    functional: bool = True
    # The versions whose shapes this module's handlers speak (served where also enabled).
    versions: frozenset[VersionNumber] = frozenset(VersionNumber)

    def serves(self, version: VersionNumber) -> bool:
        return version in self.versions

    def on(self, method: str, path: str = "") -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers.setdefault(path, {})[method] = fn
            return fn

        return register


# Token A opens only these: the rest waits until the party has registered.
REGISTRATION_MODULES = {"versions", "details", "credentials", "unknown"}


class OcpiRouter:
    def __init__(
        self,
        base_url: str,
        own: PartyRef,
        parties: Parties,
        log: RequestLog,
        versions: Iterable[VersionNumber] = (VersionNumber.V2_2_1,),
        ours: Iterable[PartyRef] = (),
    ) -> None:
        """`own`: our default role; `ours`: every role of ours a peer may address (`own` alone
        when none are given)."""
        self.base_url = base_url.rstrip("/")
        self.own = own
        self.ours = list(ours) or [own]
        self.parties = parties
        self.log = log
        self.versions = newest_first(versions)  # the first is the one a peer is offered first
        self.modules: list[Module] = []

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    def details_url(self, version: VersionNumber) -> str:
        return f"{self.base_url}/ocpi/{version}/details"

    def module_url(self, identifier: str, version: VersionNumber) -> str:
        return f"{self.base_url}/ocpi/{version}/{identifier}"

    def add(self, module: Module) -> None:
        self.modules.append(module)

    def endpoints(self, version: VersionNumber) -> list[dict[str, str]]:
        """The modules served in `version`, as its details list them (2.1.1 has no roles)."""
        return [
            {"identifier": m.identifier}
            | ({} if version == VersionNumber.V2_1_1 else {"role": m.role})
            | {"url": self.module_url(m.identifier, version)}
            for m in self.modules
            if m.identifier not in ("versions", "details") and m.serves(version)
        ]

    def routes(self) -> list[BaseRoute]:
        """Routes to mount at /ocpi; anything else under it is an enveloped 404."""
        routes: list[BaseRoute] = []
        for module in self.modules:
            for path, handlers in module.handlers.items():
                if module.identifier == "versions":
                    routes.append(
                        Route("/versions", self.endpoint(module, handlers, None), methods=METHODS)
                    )
                    continue
                for version in self.versions:
                    if module.serves(version):
                        url = f"/{version}/{module.identifier}{path}"
                        routes.append(
                            Route(url, self.endpoint(module, handlers, version), methods=METHODS)
                        )
        routes.append(Route("/{rest:path}", self.unknown, methods=METHODS))
        return routes

    def endpoint(
        self, module: Module, handlers: dict[str, Handler], version: VersionNumber | None
    ) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return await self.serve(request, module, handlers, version)

        return serve

    async def serve(
        self,
        request: Request,
        module: Module,
        handlers: dict[str, Handler],
        version: VersionNumber | None = None,
    ) -> Response:
        started = time.perf_counter()
        request_id = usable_id(request.headers.get(REQUEST_ID)) or new_id()
        correlation_id = usable_id(request.headers.get(CORRELATION_ID)) or new_id()
        body = b""
        caller: Caller | None = None
        headers = {REQUEST_ID: request_id, CORRELATION_ID: correlation_id}
        try:
            # Credentials before the body: a stranger's body is never read.
            caller = await self.parties.authenticate(request.headers.get("authorization"), version)
            self.admit(caller, module)
            assert caller is not None
            logs.about_party(caller.party.id)
            if request.method in ("POST", "PUT", "PATCH"):
                body = await request.body()
            handler = handlers.get(request.method)
            if handler is None:
                raise not_allowed(f"{request.method} is not served at {request.url.path}")
            call = Call(request, caller, request_id, correlation_id, body, version=version)
            if module.functional:
                call.addressed = self.addressed(request)
                answered = await self.attribute(call)
                if version is not None and version.routed:
                    headers |= routing(call.addressed, answered)
            response = await handler(call)
        except OcpiError as e:
            response = OcpiResponse(e.data, e.status, e.message, e.http)
        except BodyTooLarge as e:
            response = OcpiResponse(None, Status.CLIENT_ERROR, str(e), 413)
        except Exception:
            log.exception("OCPI %s %s failed", request.method, request.url.path)
            response = OcpiResponse(
                None,
                Status.SERVER_ERROR,
                "the platform failed to handle this request; it is logged",
                500,
            )
        response.headers.update(headers)
        elapsed = time.perf_counter() - started
        status = getattr(response, "ocpi_status", None)
        metrics.observe("in", module.identifier, status, elapsed)
        self.log.append(
            party_id=caller.party.id if caller else None,
            direction="in",
            method=request.method,
            url=str(request.url),
            http_status=response.status_code,
            ocpi_status=status,
            request_id=request_id,
            correlation_id=correlation_id,
            duration_ms=elapsed * 1000,
            request_body=body,
            response_body=bytes(response.body),
        )
        return response

    def admit(self, caller: Caller | None, module: Module) -> None:
        if caller is None:
            raise unauthorized()
        state = caller.party.state
        if state == PartyState.SUSPENDED:
            raise unauthorized("this party is suspended by the operator")
        if (
            state in (PartyState.INVITED, PartyState.REGISTERING)
            and module.identifier not in REGISTRATION_MODULES
        ):
            raise unauthorized("a registration token only opens versions, details and credentials")

    def addressed(self, request: Request) -> PartyRef:
        """Our role a request is for: the one OCPI-to-* names (compared without regard to
        case), the default when it names none; one of another party is refused."""
        to_cc, to_pid = request.headers.get(TO_COUNTRY), request.headers.get(TO_PARTY)
        if not (to_cc or to_pid):
            return self.own
        wanted = PartyRef(to_cc or "", to_pid or "")
        found = next((ref for ref in self.ours if ref.same(wanted)), None)
        if found is None:
            raise invalid(
                f"{TO_COUNTRY}/{TO_PARTY} name {to_cc}/{to_pid}, not this platform"
                f" ({', '.join(map(str, self.ours))})",
                http=400,
            )
        return found

    async def attribute(self, call: Call) -> PartyRef:
        """Whose request this is (`call.caller` and `call.sender` say it): the caller's, or
        through a hub the party it relays for. Whom the answer's OCPI-to-* names."""
        if call.party.hub_party is None:
            call.sender = self.sender(call.request, call.party)
            return call.sender
        call.caller, call.sender, answered = await self.behind_hub(call.request, call.caller)
        logs.about_party(call.party.id)
        return answered

    async def behind_hub(
        self, request: Request, caller: Caller
    ) -> tuple[Caller, PartyRef, PartyRef]:
        """A hub relays for many: the request is the party's that OCPI-from-* names, which the
        hub must have said it relays for (HubClientInfo, or its 2.3.0 roles). A Broadcast Push
        names the hub itself; the URL's country_code/party_id then name the object's owner
        (a URL that names none: the hub asks on its own account).
        The caller as that party, its role, and whom the answer is to."""
        hub = caller.party
        assert hub.id is not None and hub.hub is not None
        cc, pid = request.headers.get(FROM_COUNTRY), request.headers.get(FROM_PARTY)
        if not cc or not pid:
            raise invalid(
                f"send {FROM_COUNTRY} and {FROM_PARTY}: a hub relays for many parties", http=400
            )
        given = named = PartyRef(cc, pid)
        if given.same(hub.hub):
            params = request.path_params
            if "country_code" not in params or "party_id" not in params:
                return caller, given, given  # the hub on its own account
            named = PartyRef(params["country_code"], params["party_id"])
        client = await self.parties.client_of(hub.id, named)
        if client is None:
            raise invalid(
                f"{named} is not a party this hub relays for (no HubClientInfo names it)",
                http=400,
            )
        if client.state == PartyState.SUSPENDED:
            raise unauthorized(f"{named} is suspended by the operator (or reached directly)")
        if client.state != PartyState.REGISTERED:
            raise unauthorized(f"{named} is {client.state} here")
        # As it is reached: through the hub (its origins, for a response_url, are the hub's).
        return Caller(through(client, hub), caller.token, caller.encoding), named, given

    def sender(self, request: Request, party: Party) -> PartyRef:
        """The caller's role from OCPI-from-*, which must be its own."""
        cc, pid = request.headers.get(FROM_COUNTRY), request.headers.get(FROM_PARTY)
        if cc or pid:
            ref = PartyRef(cc or "", pid or "")
            if not party.has_role(ref.country_code, ref.party_id):
                raise invalid(
                    f"{FROM_COUNTRY}/{FROM_PARTY} name {ref}, which is not a role you registered",
                    http=400,
                )
            return ref
        distinct = {
            (str(r["country_code"]).upper(), str(r["party_id"]).upper()) for r in party.roles
        }
        if len(distinct) != 1:
            raise invalid(
                f"send {FROM_COUNTRY} and {FROM_PARTY}: you registered several roles", http=400
            )
        ((country_code, party_id),) = distinct
        return PartyRef(country_code, party_id)

    async def unknown(self, request: Request) -> Response:
        segments = [s for s in request.url.path.split("/") if s][1:]  # after "ocpi"
        if segments and segments[0] not in self.versions and segments[0][:1].isdigit():
            error = not_found(
                f"OCPI version {segments[0]} is not served here; see {self.versions_url}",
                Status.UNSUPPORTED_VERSION,
            )
        else:
            error = not_found(f"no OCPI endpoint at {request.url.path}; see {self.versions_url}")
        module = Module("unknown", "", functional=False)

        async def answer(call: Call) -> Response:
            raise error

        return await self.serve(request, module, {m: answer for m in METHODS})
