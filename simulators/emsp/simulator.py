"""EmspSimulator: an OCPI eMSP on loopback that records and checks what a CPO sends it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from types import ModuleType, TracebackType
from typing import Any, Self, TypeVar

import httpx
from starlette.routing import BaseRoute

from simulators.emsp import credentials, exchange, versions
from simulators.emsp.app import BASE, build_app
from simulators.emsp.client import Headers, OcpiClient, expectation
from simulators.emsp.server import LoopbackServer
from simulators.emsp.specs import CPO_ROLES, DEFAULT_VERSION, Spec, spec
from simulators.emsp.state import CpoPeer, Faults, Received, Violation
from simulators.emsp.validation import problems as problems_of
from simulators.emsp.wire import OcpiError, TokenEncoding, join, new_id, new_token

LOG = logging.getLogger("simulators.emsp")
T = TypeVar("T")
# The interface role we call on a CPO when the caller does not say which.
CPO_ROLE = CPO_ROLES


class EmspSimulator:
    """A scriptable eMSP peer: HTTP server, OCPI client, and conformance checker in one.

    It speaks one OCPI `version` (2.1.1, 2.2.1 or 2.3.0): its versions, details, credentials,
    headers and token encoding follow it, and everything is checked against that version.
    Everything received lands in `received`; everything that breaks OCPI (in requests
    and in the answers to our own calls) lands in `violations`. `authorize_answers` (uid ->
    AllowedType) and `fault()` change how it answers; `required_endpoints` says which CPO
    endpoints a registration needs ((module, role), role None for any).
    """

    def __init__(
        self,
        country_code: str = "NL",
        party_id: str = "EMS",
        name: str = "eMSP Simulator",
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Iterable[dict[str, Any]] | None = None,
        token_encoding: TokenEncoding | None = None,
        strict_encoding: bool = False,
        page_limit: int = 50,
        public_url: str | None = None,
        timeout: float = 10.0,
        trailing_slash: bool = False,
        version: str = DEFAULT_VERSION,
    ) -> None:
        self.spec: Spec = spec(version)
        token_encoding = token_encoding or self.spec.encoding
        if token_encoding not in ("base64", "raw"):
            raise ValueError("token_encoding is 'base64' or 'raw'")
        self.country_code, self.party_id, self.name = country_code, party_id, name
        self.token_encoding: TokenEncoding = token_encoding
        self.strict_encoding = strict_encoding
        self.page_limit = page_limit
        self.public_url = public_url.rstrip("/") if public_url else None
        # Like an eMSP on a web framework that wants a trailing slash: every URL it hands out
        # ends with one, and a path without one is answered 307 to it (`redirected` keeps them).
        self.trailing_slash = trailing_slash
        self.redirected: list[str] = []

        self.tokens: list[dict[str, Any]] = list(tokens or [])
        self.authorize_answers: dict[str, str] = {}
        self.authorizations: list[dict[str, Any]] = []
        self.locations: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.sessions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.tariffs: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.cdrs: dict[str, dict[str, Any]] = {}
        self.sent_commands: dict[str, dict[str, Any]] = {}
        self.command_results: dict[str, dict[str, Any]] = {}
        # ChargingProfiles: each request sent (by the id in its response_url), the result the
        # CPO posted for it, and every ActiveChargingProfile it PUT, by session id.
        self.sent_profile_requests: dict[str, dict[str, Any]] = {}
        self.profile_results: dict[str, dict[str, Any]] = {}
        self.active_profiles: dict[str, list[dict[str, Any]]] = {}
        self.received: list[Received] = []
        # (module, method, path) of each request a slow fault held before answering.
        self.held: list[tuple[str, str, str]] = []
        self.violations: list[Violation] = []
        # OCPI makes pulling Locations mandatory, but a CPO may register before it serves
        # them; tests that hold a CPO to it add ("locations", "SENDER").
        self.required_endpoints: set[tuple[str, str | None]] = {("credentials", None)}
        self.cpo: CpoPeer | None = None
        self.client = OcpiClient(self, timeout)

        self._invites: set[str] = set()  # tokens A we handed out
        self._incoming: str | None = None  # the token the registered CPO calls us with
        self._pending: dict[str, set[str]] = {}  # tokens B on offer -> modules called with them
        self._faults = Faults()
        self._changed = asyncio.Condition()
        self._server = LoopbackServer(build_app(self), host, port)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Self:
        await self._server.up()
        LOG.info("eMSP simulator %s listening at %s", "/".join(self.party), self.versions_url)
        return self

    async def stop(self) -> None:
        await self._server.down()
        await self.client.close()

    async def down(self) -> None:
        """Stop listening (connections are refused) but keep all state and the port."""
        await self._server.down()

    async def up(self) -> None:
        await self._server.up()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ identity and URLs

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def models(self) -> ModuleType:
        """The validation models of the version spoken (models, models_v211, models_v230)."""
        return self.spec.models

    @property
    def party(self) -> tuple[str, str]:
        return self.country_code, self.party_id

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url
        host = self._server.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self._server.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.url}{BASE}/versions{self._slash}"

    @property
    def details_url(self) -> str:
        return f"{self.url}{BASE}/{self.version}{self._slash}"

    def module_url(self, module: str) -> str:
        return f"{self.url}{BASE}/{self.version}/{module}{self._slash}"

    @property
    def _slash(self) -> str:
        return "/" if self.trailing_slash else ""

    def offered_endpoints(self) -> list[tuple[str, str]]:
        """(module, role) our version details publish."""
        return list(versions.ENDPOINTS)

    def extra_routes(self) -> list[BaseRoute]:
        """Routes beyond an eMSP's own (a hub adds its modules here)."""
        return []

    async def handle(self, call: exchange.Call, handler: exchange.Handler | None) -> exchange.Reply:
        """An authenticated request: check its headers and run its handler."""
        return await exchange.handle(call, handler)

    def note_authorization(self, call: exchange.Call, info: dict[str, Any]) -> None:
        self.authorizations.append(info)

    def own_credentials(self, token: str) -> dict[str, Any]:
        """Our Credentials object in the version spoken (2.1.1: one party at the top level)."""
        if not self.spec.roles:
            return {
                "token": token,
                "url": self.versions_url,
                "business_details": {"name": self.name},
                "party_id": self.party_id,
                "country_code": self.country_code,
            }
        role = {
            "role": "EMSP",
            "party_id": self.party_id,
            "country_code": self.country_code,
            "business_details": {"name": self.name},
        }
        return {"token": token, "url": self.versions_url, "roles": [role]}

    # ------------------------------------------------------------------ registration

    @property
    def registered(self) -> bool:
        return self.cpo is not None and self._incoming is not None

    def invite(self) -> str:
        """A fresh token A for a CPO to register with (CPO-initiated handshake)."""
        token = new_token()
        self._invites.add(token)
        return token

    async def register(self, versions_url: str, token_a: str) -> dict[str, Any]:
        """eMSP-initiated handshake with the CPO; returns the CPO's Credentials (OcpiError)."""
        return await credentials.register(self, versions_url, token_a)

    async def update_credentials(self) -> dict[str, Any]:
        return await credentials.update(self)

    async def unregister(self) -> None:
        await credentials.unregister(self)

    async def get_credentials(self) -> dict[str, Any]:
        return await credentials.fetch(self)

    def missing_endpoints(self, endpoints: dict[tuple[str, str], str]) -> list[str]:
        missing = []
        for module, role in sorted(self.required_endpoints, key=str):
            if not any(m == module and role in (None, r) for m, r in endpoints):
                missing.append(f"{module} {role or ''}".strip())
        return missing

    def _accept_peer(self, peer: CpoPeer, incoming: str) -> None:
        self.cpo, self._incoming = peer, incoming
        LOG.info("registered with CPO %s at %s", peer.party(), peer.versions_url)

    def _forget_peer(self) -> None:
        self.cpo, self._incoming = None, None
        LOG.info("unregistered")

    def _require_peer(self) -> CpoPeer:
        if self.cpo is None:
            raise OcpiError(2000, "not registered with a CPO")
        return self.cpo

    def _known_tokens(self) -> set[str]:
        known = self._invites | self._pending.keys()
        return known | {self._incoming} if self._incoming else known

    def _token_used(self, token: str, module: str) -> None:
        if token in self._pending:
            self._pending[token].add(module)

    # ------------------------------------------------------------------ calling the CPO

    def endpoint(self, module: str, role: str | None = None) -> str:
        peer = self._require_peer()
        wanted = role or CPO_ROLE.get(module, "SENDER")
        if (module, wanted) in peer.endpoints:
            return peer.endpoints[(module, wanted)]
        if role is None:
            for (m, _), url in peer.endpoints.items():
                if m == module:
                    return url
        raise OcpiError(2000, f"the CPO offers no {module} {wanted} endpoint")

    async def request(
        self,
        method: str,
        module: str,
        path: str = "",
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        role: str | None = None,
        headers: Headers | None = None,
        sender: tuple[str, str] | None = None,
        to: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """Call the CPO's module with our token and routing headers; the answer is checked.

        `sender`: the party in OCPI-from-* (a hub's client; we by default). `to`: the CPO role
        addressed (OCPI-to-*), when it has several; its first by default. `headers` replace
        the ones we would send, a None value drops one: for tests of bad routing headers."""
        peer = self._require_peer()
        response, _ = await self.client.call(
            method.upper(),
            join(self.endpoint(module, role), path),
            peer.token,
            module=module,
            json=json,
            params=params,
            to=to or peer.party(),
            expect=expectation(self.spec, module, method.upper(), path),
            sender=sender,
            headers=headers,
        )
        return response

    async def fetch_all(
        self,
        module: str,
        params: dict[str, Any] | None = None,
        *,
        headers: Headers | None = None,
        sender: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every object of a CPO list, following Link; pagination faults become violations."""
        peer = self._require_peer()
        return await self.client.fetch_all(
            self.endpoint(module),
            peer.token,
            module,
            dict(params or {}),
            peer.party(),
            sender=sender,
            headers=headers,
        )

    async def send_command(
        self,
        command: str,
        body: dict[str, Any],
        *,
        headers: Headers | None = None,
        sender: tuple[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """POST a command with a fresh response_url; the CommandResult lands in command_results."""
        command = command.upper()
        command_id = new_id().replace("-", "")
        payload = {**body, "response_url": f"{self.module_url('commands')}/{command_id}"}
        for problem in self.spec.command_problems(command, payload):
            LOG.warning("sending a command that is not valid OCPI %s: %s", self.version, problem)
        self.sent_commands[command_id] = {"command": command, "body": payload, "sender": sender}
        response = await self.request(
            "POST", "commands", command, json=payload, headers=headers, sender=sender
        )
        return response.status_code, answer_of(response)

    async def send_charging_profile(
        self,
        method: str,
        session_id: str,
        profile: dict[str, Any] | None = None,
        duration: int | None = None,
        *,
        headers: Headers | None = None,
        sender: tuple[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], str]:
        """One call of the CPO's chargingprofiles RECEIVER with a fresh response_url: PUT sets
        `profile`, GET asks for the ActiveChargingProfile of the next `duration` seconds,
        DELETE clears. Returns the HTTP status, the OCPI answer and the request's id, under
        which its result lands in `profile_results` (await it with `profile_result`).
        `sender`, `headers`: as `request` takes them (a hub's client asks)."""
        method = method.upper()
        request_id = new_id().replace("-", "")
        response_url = f"{self.module_url('chargingprofiles')}/results/{request_id}"
        self.sent_profile_requests[request_id] = {
            "method": method,
            "session_id": session_id,
            "sender": sender,
        }
        params: dict[str, Any] | None = None
        body: dict[str, Any] | None = None
        if method == "PUT":
            body = {"charging_profile": profile or {}, "response_url": response_url}
            for problem in problems_of(self.models.SetChargingProfile, body):
                LOG.warning("sending a SetChargingProfile that is not valid OCPI: %s", problem)
        else:
            params = {"response_url": response_url}
            if method == "GET":
                params["duration"] = duration
        response = await self.request(
            method,
            "chargingprofiles",
            session_id,
            params=params,
            json=body,
            headers=headers,
            sender=sender,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return response.status_code, answer if isinstance(answer, dict) else {}, request_id

    async def profile_result(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The result the CPO posted for a charging-profile request (TimeoutError)."""
        await self.wait_for(
            lambda r: (
                r.module == "chargingprofiles"
                and r.method == "POST"
                and r.path.endswith(f"/results/{request_id}")
            ),
            timeout,
        )
        return self.profile_results[request_id]

    async def active_profile(
        self, session_id: str, count: int = 1, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The `count`th ActiveChargingProfile the CPO PUT for the session (TimeoutError)."""
        seen = 0

        def nth(r: Received) -> bool:
            nonlocal seen
            if r.module == "chargingprofiles" and r.method == "PUT" and r.ocpi_status == 1000:
                seen += r.path.rstrip("/").endswith(f"/{session_id}")
            return seen >= count

        await self.wait_for(nth, timeout)
        return self.active_profiles[session_id][count - 1]

    # ------------------------------------------------------------------ faults

    def fault(
        self,
        kind: str,
        *,
        count: int | None = None,
        delay: float = 0.0,
        modules: Iterable[str] | None = None,
    ) -> None:
        """Misbehave on the next `count` requests (every one when None) to `modules` (all)."""
        self._faults.add(kind, count, delay, modules)

    def clear_faults(self) -> None:
        self._faults.clear()

    # ------------------------------------------------------------------ records

    def violate(self, violation: Violation) -> None:
        self.violations.append(violation)
        LOG.warning(
            "VIOLATION %s %s %s: %s",
            violation.module,
            violation.method,
            violation.path,
            violation.message,
        )

    async def _record(self, received: Received) -> None:
        LOG.info(
            "%s %s -> HTTP %s, OCPI %s",
            received.method,
            received.path,
            received.status,
            received.ocpi_status,
        )
        async with self._changed:
            self.received.append(received)
            self._changed.notify_all()

    async def _hold(self, module: str, method: str, path: str) -> None:
        async with self._changed:
            self.held.append((module, method, path))
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 10.0
    ) -> Received:
        """The first request, received already or yet to come, that matches (TimeoutError)."""
        return await self._first(self.received, predicate, timeout)

    async def wait_until_held(self, module: str, timeout: float = 10.0) -> tuple[str, str, str]:
        """The first request to `module` that a slow fault holds (it is being answered
        slowly now, or was): (module, method, path). TimeoutError when none comes."""
        return await self._first(self.held, lambda held: held[0] == module, timeout)

    async def _first(self, items: list[T], predicate: Callable[[T], bool], timeout: float) -> T:
        async with asyncio.timeout(timeout), self._changed:
            checked = 0
            while True:
                for item in items[checked:]:
                    if predicate(item):
                        return item
                checked = len(items)
                await self._changed.wait()

    def state(self) -> dict[str, Any]:
        """Everything the simulator holds, as JSON for /_sim/state."""
        return {
            "party": {"country_code": self.country_code, "party_id": self.party_id},
            "version": self.version,
            "versions_url": self.versions_url,
            "registered": self.registered,
            "cpo": self.cpo.to_json() if self.cpo else None,
            "locations": list(self.locations.values()),
            "sessions": list(self.sessions.values()),
            "cdrs": list(self.cdrs.values()),
            "tariffs": list(self.tariffs.values()),
            "tokens": self.tokens,
            "authorize_answers": self.authorize_answers,
            "sent_commands": self.sent_commands,
            "command_results": self.command_results,
            "sent_profile_requests": self.sent_profile_requests,
            "profile_results": self.profile_results,
            "active_profiles": self.active_profiles,
            "faults": [
                {
                    "kind": f.kind,
                    "count": f.count,
                    "delay": f.delay,
                    "modules": sorted(f.modules) if f.modules is not None else None,
                }
                for f in self._faults.active
            ],
        }


def answer_of(response: httpx.Response) -> dict[str, Any]:
    """The OCPI envelope of a response, {} when it is not a JSON object."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
