"""HubSimulator: an OCPI 2.2.1/2.3.0 roaming hub on loopback, relaying for simulated eMSPs.

A hub is one OCPI peer of the CPO behind which several parties ("clients") are reached. The
CPO addresses each request with OCPI-to-*: the hub itself for a Broadcast Push (Locations,
Tariffs) or a GET All, the owning client for party-specific data (Sessions, CDRs, command and
charging profile results), or nobody at all for Open Routing (real-time authorization of a
token the CPO does not know: the hub finds its owner). The hub answers a request for a party it
does not know with OCPI 4001 and one for a party that is not CONNECTED with 4003, and every
answer comes back addressed to the CPO from the party that answered it.

The clients are simulated inside the hub: it holds their tokens and keeps, per client, what
reached it, so a test can prove that one eMSP never sees another's Sessions or CDRs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulators.emsp import exchange
from simulators.emsp.app import BASE, METHODS
from simulators.emsp.client import Headers, expectation
from simulators.emsp.exchange import Call, Handler, Reply
from simulators.emsp.receivers import _stored_key
from simulators.emsp.simulator import EmspSimulator
from simulators.emsp.specs import DEFAULT_VERSION, spec
from simulators.emsp.tokens import owns, paginated
from simulators.emsp.versions import ENDPOINTS
from simulators.emsp.wire import FUNCTIONAL, OcpiError, join, now, party_of, same_party

LOG = logging.getLogger("simulators.emsp.hub")
Party = tuple[str, str]

# What a hub offers a CPO: an eMSP's interfaces (the Sender side of charging profiles among
# them: results and ActiveChargingProfile updates come back to it) and its list of clients.
HUB_ENDPOINTS: list[tuple[str, str]] = [*ENDPOINTS, ("hubclientinfo", "SENDER")]
# Data for every eMSP: a CPO pushes changes once, to the hub, which passes them on to all.
BROADCAST = frozenset({"locations", "tariffs"})
CHANGES = frozenset({"PUT", "PATCH", "DELETE"})
STATUSES = ("CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED")
DEFAULT_CLIENTS: tuple[Party, ...] = (("DE", "AAA"), ("DE", "BBB"), ("FR", "CCC"))


@dataclass
class Routed:
    """One request of the CPO's that the hub passed on to a client, and the client's answer."""

    module: str
    method: str
    path: str
    body: Any
    open_routing: bool = False
    ocpi_status: int | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class HubSimulator(EmspSimulator):
    """A roaming hub with simulated eMSPs ("clients") behind it, for a CPO to connect to.

    `tokens` are every client's tokens, each owned by the client its country_code/party_id
    names. `client_status` (CONNECTED by default) decides whether a request reaches a client;
    `push_client_info()` changes it and tells the CPO. What reached each client is in `routed`,
    `sessions_of()` and `cdrs_of()`; `broadcasts` counts Location and Tariff pushes per object;
    `authorizations` says who answered each real-time authorization and whether the CPO used
    Open Routing; violations name the client a request was for (`violations_of()`).
    `as_client()` calls the CPO as one of the clients, through the hub.
    """

    def __init__(
        self,
        country_code: str = "DE",
        party_id: str = "HUB",
        clients: Iterable[Party] = DEFAULT_CLIENTS,
        *,
        name: str = "Hub Simulator",
        version: str = DEFAULT_VERSION,
        tokens: Iterable[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        if not spec(version).routing:
            raise ValueError(f"OCPI {version} has no hubs: use 2.2.1 or 2.3.0")
        self.clients: list[Party] = [(cc.upper(), pid.upper()) for cc, pid in clients]
        if not self.clients:
            raise ValueError("a hub needs at least one client")
        if (country_code.upper(), party_id.upper()) in self.clients:
            raise ValueError("the hub cannot be one of its own clients")
        tokens = list(tokens or [])
        for token in tokens:
            if not any(owns(client, token) for client in self.clients):
                raise ValueError(
                    f"token {token.get('uid')} belongs to {token.get('country_code')}/"
                    f"{token.get('party_id')}, which is not a client of this hub"
                )
        super().__init__(
            country_code, party_id, name=name, version=version, tokens=tokens, **kwargs
        )
        self.client_status: dict[Party, str] = {c: "CONNECTED" for c in self.clients}
        self.client_roles: dict[Party, str] = {c: "EMSP" for c in self.clients}
        self.routed: dict[Party, list[Routed]] = {c: [] for c in self.clients}
        self.broadcasts: Counter[tuple[str, str]] = Counter()
        self._client_sessions: dict[Party, dict[tuple[str, str, str], dict[str, Any]]] = {
            c: {} for c in self.clients
        }
        self._client_cdrs: dict[Party, dict[str, dict[str, Any]]] = {c: {} for c in self.clients}
        self._info_updated: dict[Party, str] = {c: now() for c in self.clients}
        # The status the CPO acknowledged for each client: sending to a client the CPO was
        # told is not CONNECTED breaks OCPI; sending before it was told is merely answered 4003.
        self._told: dict[Party, str] = {}

    # ------------------------------------------------------------------ what the hub offers

    def offered_endpoints(self) -> list[tuple[str, str]]:
        return list(HUB_ENDPOINTS)

    def extra_routes(self) -> list[BaseRoute]:
        base = f"{BASE}/{self.version}"
        return [self._route(f"{base}/hubclientinfo", "hubclientinfo", {"GET": _get_client_info})]

    def _route(self, path: str, module: str, handlers: dict[str, Handler]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await exchange.exchange(self, request, module, handlers)

        return Route(path, endpoint, methods=METHODS)

    def own_credentials(self, token: str) -> dict[str, Any]:
        """2.2.1: the hub reports only itself, as HUB (its clients come by HubClientInfo).
        2.3.0: HUB is no Role any more; `hub_party_id` names the hub and `roles` every party
        reachable through it (C cred §Credentials object)."""
        if self.version == "2.2.1":
            role = {
                "role": "HUB",
                "party_id": self.party_id,
                "country_code": self.country_code,
                "business_details": {"name": self.name},
            }
            return {"token": token, "url": self.versions_url, "roles": [role]}
        roles = [
            {
                "role": self.client_roles[client],
                "party_id": client[1],
                "country_code": client[0],
                "business_details": {"name": f"{client[0]}*{client[1]} via {self.name}"},
            }
            for client in self.clients
        ]
        return {
            "token": token,
            "url": self.versions_url,
            "hub_party_id": f"{self.country_code}{self.party_id}",
            "roles": roles,
        }

    def client_info(self, client: Party) -> dict[str, Any]:
        """The ClientInfo of one client, as the hub publishes and pushes it."""
        return {
            "party_id": client[1],
            "country_code": client[0],
            "role": self.client_roles[client],
            "status": self.client_status[client],
            "last_updated": self._info_updated[client],
        }

    # ------------------------------------------------------------------ what reached whom

    def sessions_of(self, client: Party) -> list[dict[str, Any]]:
        """The Sessions as the client holds them: only those routed to it."""
        return list(self._client_sessions[self._known(client)].values())

    def cdrs_of(self, client: Party) -> list[dict[str, Any]]:
        return list(self._client_cdrs[self._known(client)].values())

    def violations_of(self, client: Party) -> list[Any]:
        known = self._known(client)
        return [v for v in self.violations if v.client is not None and same_party(v.client, known)]

    def tokens_of(self, client: Party) -> list[dict[str, Any]]:
        known = self._known(client)
        return [t for t in self.tokens if owns(known, t)]

    def find_client(self, party: Party | None) -> Party | None:
        """The configured client that `party` names (CiString comparison), or None."""
        return next((c for c in self.clients if same_party(c, party)), None)

    def _known(self, party: Party) -> Party:
        client = self.find_client(party)
        if client is None:
            raise ValueError(f"{'/'.join(party)} is not a client of this hub")
        return client

    # ------------------------------------------------------------------ routing what the CPO sends

    async def handle(self, call: Call, handler: Handler | None) -> Reply:
        """Judge OCPI-to-* the way a hub must: who the request is for, and can it get there."""
        if call.module not in FUNCTIONAL:  # credentials, versions, hubclientinfo: no routing
            return await exchange.handle(call, handler)
        exchange.check_headers(call, receiver_is_us=False)
        target = party_of(call.request.headers, "to")
        expected = self._addressee(call)
        for_hub = expected is not None and same_party(expected, self.party)
        receiver: Party | None
        if target is None:
            if call.module == "tokens" and "uid" in call.params:
                call.open_routing = True  # the hub finds the token's owner itself
            else:
                call.client = self.find_client(expected)
                call.violate(
                    f"OCPI-to-* missing: {call.module} is {'Broadcast Push' if for_hub else 'routed'}"
                    f", so the request must name {'the hub' if for_hub else 'its receiver'}"
                )
            receiver = expected
        elif same_party(target, self.party):
            if expected is not None and not for_hub:
                call.client = self.find_client(expected)
                call.violate(
                    f"{call.module} {call.method} is for {'/'.join(expected)} only: it must be "
                    "routed to that party, not addressed to the hub"
                )
            receiver = self.party
        elif (addressed := self.find_client(target)) is not None:
            receiver = addressed
            call.client = addressed
            if for_hub and call.method in CHANGES:
                call.violate(
                    f"{call.module} changes are a Broadcast Push: OCPI-to-* must be the hub "
                    f"{'/'.join(self.party)}, not one client"
                )
            elif expected is not None and not for_hub and not same_party(expected, addressed):
                call.violate(
                    f"this {call.module} request belongs to {'/'.join(expected)}, "
                    f"yet it was routed to {'/'.join(addressed)}"
                )
        else:
            call.violate(f"OCPI-to {'/'.join(target)} is neither this hub nor one of its clients")
            return Reply(4001, message=f"unknown receiver {'/'.join(target)}")
        call.client = self.find_client(receiver)

        if call.client is not None and self.client_status[call.client] != "CONNECTED":
            status = self.client_status[call.client]
            if self._told.get(call.client, "CONNECTED") != "CONNECTED":
                call.violate(f"sent to {'/'.join(call.client)}, which the CPO was told is {status}")
            call.client = None  # the hub answers, not the client
            return Reply(4003, message=f"{'/'.join(receiver or self.party)} is {status}")
        if call.module in BROADCAST and call.method in CHANGES:
            object_id = call.params.get("location_id") or call.params.get("tariff_id") or ""
            self.broadcasts[(call.module, object_id)] += 1

        reply = await exchange.run(call, handler)
        if call.client is not None:
            self.routed[call.client].append(
                Routed(
                    call.module,
                    call.method,
                    call.path,
                    call.body,
                    call.open_routing,
                    reply.status_code,
                )
            )
            if reply.status_code == 1000:
                self._deliver(call, call.client)
        return reply

    def _addressee(self, call: Call) -> Party | None:
        """Whom a request is for: the hub (Broadcast Push), the client owning its object, or
        None when any receiver will do (a GET) or nobody can tell (an object without owner)."""
        module, method, params = call.module, call.method, call.params
        body = call.body if isinstance(call.body, dict) else {}
        if module in BROADCAST:
            return self.party if method in CHANGES else None
        if module == "tokens":
            if "uid" not in params:
                return None
            return self._token_owner(params["uid"], call.query.get("type", "RFID"))
        if module == "sessions":
            key = _stored_key(
                self.sessions,
                (params["country_code"].upper(), params["party_id"].upper(), params["session_id"]),
            )
            return _owner(body) or _owner(self.sessions.get(key) or {})
        if module == "cdrs":
            if method == "POST":
                return _owner(body)
            return _owner(self.cdrs.get(params.get("cdr_id", "")) or {})
        if module == "commands":
            sent = self.sent_commands.get(params.get("command_id", ""))
            return (sent or {}).get("sender") or self.party
        if module == "chargingprofiles":
            if method == "POST":  # a result, at the response_url a client was given
                request = self.sent_profile_requests.get(params.get("request_id", ""))
                return request["sender"] if request else None
            return self._session_owner(params["session_id"])
        return None

    def _token_owner(self, uid: str, token_type: str) -> Party | None:
        for token in self.tokens:
            if str(token.get("uid", "")).upper() == uid.upper() and token.get("type") == token_type:
                return self.find_client((str(token["country_code"]), str(token["party_id"])))
        return None

    def _session_owner(self, session_id: str) -> Party | None:
        for key, session in self.sessions.items():
            if key[2].upper() == session_id.upper():
                return _owner(session)
        return None

    def _deliver(self, call: Call, client: Party) -> None:
        """Keep the client's own copy of a Session or CDR that reached it."""
        if call.module == "sessions" and call.method in ("PUT", "PATCH"):
            params = call.params
            key = _stored_key(
                self.sessions,
                (params["country_code"].upper(), params["party_id"].upper(), params["session_id"]),
            )
            if key in self.sessions:
                self._client_sessions[client][key] = self.sessions[key]
        elif call.module == "cdrs" and call.method == "POST" and isinstance(call.body, dict):
            self._client_cdrs[client][str(call.body.get("id"))] = call.body

    def note_authorization(self, call: Call, info: dict[str, Any]) -> None:
        self.authorizations.append(
            {
                "uid": call.params.get("uid"),
                "client": call.client,
                "open_routing": call.open_routing,
                "allowed": info.get("allowed"),
                "info": info,
            }
        )

    # ------------------------------------------------------------------ the hub calls the CPO

    def as_client(self, client: Party) -> HubClient:
        """One client calling the CPO through the hub (OCPI-from-* is the client)."""
        return HubClient(self, self._known(client))

    async def push_token(
        self,
        token: dict[str, Any],
        *,
        headers: Headers | None = None,
        sender: Party | None = None,
    ) -> httpx.Response:
        """PUT a token to the CPO under its owner's cc/pid: by the hub itself (a Broadcast
        Push, FROM = the hub) unless `sender` names a client."""
        path = join(str(token["country_code"]), str(token["party_id"]), str(token["uid"]))
        return await self.request(
            "PUT",
            "tokens",
            path,
            params={"type": token.get("type", "RFID")},
            json=token,
            headers=headers,
            sender=sender,
        )

    async def push_client_info(
        self, client: Party, status: str = "CONNECTED", role: str = "EMSP"
    ) -> tuple[int, dict[str, Any]]:
        """Change a client's status and PUT its ClientInfo to the CPO (no routing headers:
        hubclientinfo is a configuration module). Returns (HTTP status, the answer)."""
        if status not in STATUSES:
            raise ValueError(f"status is one of {', '.join(STATUSES)}")
        known = self._known(client)
        self.client_status[known], self.client_roles[known] = status, role
        self._info_updated[known] = now()
        peer = self._require_peer()
        url = join(self.endpoint("hubclientinfo", "RECEIVER"), *known)
        try:
            response, body = await self.client.call(
                "PUT", url, peer.token, module="hubclientinfo", json=self.client_info(known)
            )
        except httpx.HTTPError as exc:
            raise OcpiError(3001, f"PUT {url} failed: {exc!r}") from exc
        if response.status_code < 300 and body is not None and body.get("status_code") == 1000:
            self._told[known] = status
        return response.status_code, body or {}

    async def get_client_info(self, client: Party) -> tuple[int, dict[str, Any]]:
        """GET the ClientInfo the CPO holds for a client (the hub checking the CPO's copy);
        the answer is checked against ClientInfo. Returns (HTTP status, the answer)."""
        known = self._known(client)
        peer = self._require_peer()
        url = join(self.endpoint("hubclientinfo", "RECEIVER"), *known)
        try:
            response, body = await self.client.call(
                "GET",
                url,
                peer.token,
                module="hubclientinfo",
                expect=expectation(self.spec, "hubclientinfo", "GET", "/".join(known)),
            )
        except httpx.HTTPError as exc:
            raise OcpiError(3001, f"GET {url} failed: {exc!r}") from exc
        return response.status_code, body or {}

    def state(self) -> dict[str, Any]:
        clients = [
            self.client_info(c)
            | {
                "sessions": len(self._client_sessions[c]),
                "cdrs": len(self._client_cdrs[c]),
                "routed": len(self.routed[c]),
            }
            for c in self.clients
        ]
        broadcasts = [{"module": m, "id": i, "count": n} for (m, i), n in self.broadcasts.items()]
        return super().state() | {"hub": {"clients": clients, "broadcasts": broadcasts}}


class HubClient:
    """One eMSP behind the hub calling the CPO: OCPI-from-* names it, OCPI-to-* the CPO, and
    the answers must come back addressed to it. `headers` override any header (None drops
    one), for tests of what the CPO does with bad routing headers."""

    def __init__(self, hub: HubSimulator, party: Party) -> None:
        self.hub = hub
        self.party = party

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
    ) -> httpx.Response:
        return await self.hub.request(
            method,
            module,
            path,
            params=params,
            json=json,
            role=role,
            headers=headers,
            sender=self.party,
        )

    async def fetch_all(
        self, module: str, params: dict[str, Any] | None = None, *, headers: Headers | None = None
    ) -> list[dict[str, Any]]:
        return await self.hub.fetch_all(module, params, headers=headers, sender=self.party)

    async def send_command(
        self, command: str, body: dict[str, Any], *, headers: Headers | None = None
    ) -> tuple[int, dict[str, Any]]:
        """A command whose CommandResult must come back routed to this client."""
        return await self.hub.send_command(command, body, headers=headers, sender=self.party)

    async def push_token(
        self, token: dict[str, Any], *, headers: Headers | None = None
    ) -> httpx.Response:
        """PUT a token under the cc/pid it names (its owner's, or, to test the CPO, another's)."""
        return await self.hub.push_token(token, headers=headers, sender=self.party)

    async def set_charging_profile(
        self,
        session_id: str,
        charging_profile: dict[str, Any],
        *,
        headers: Headers | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """PUT a profile on the session; its result lands in the hub's `profile_results`."""
        status, answer, _ = await self.hub.send_charging_profile(
            "PUT", session_id, charging_profile, headers=headers, sender=self.party
        )
        return status, answer

    async def get_active_charging_profile(
        self, session_id: str, duration: int = 3600, *, headers: Headers | None = None
    ) -> tuple[int, dict[str, Any]]:
        status, answer, _ = await self.hub.send_charging_profile(
            "GET", session_id, duration=duration, headers=headers, sender=self.party
        )
        return status, answer

    async def clear_charging_profile(
        self, session_id: str, *, headers: Headers | None = None
    ) -> tuple[int, dict[str, Any]]:
        status, answer, _ = await self.hub.send_charging_profile(
            "DELETE", session_id, headers=headers, sender=self.party
        )
        return status, answer


# ------------------------------------------------------------------ the hub's own interfaces


async def _get_client_info(call: Call) -> Reply:
    """The hub's Sender interface: every ClientInfo, paginated like any OCPI list."""
    hub = call.sim
    assert isinstance(hub, HubSimulator)
    items = [hub.client_info(client) for client in hub.clients]
    return paginated(call, items, hub.module_url("hubclientinfo"))


def _owner(obj: dict[str, Any]) -> Party | None:
    """The eMSP a Session or CDR belongs to: the party of its cdr_token."""
    token = obj.get("cdr_token")
    if not isinstance(token, dict):
        return None
    country, party = token.get("country_code"), token.get("party_id")
    return (country, party) if isinstance(country, str) and isinstance(party, str) else None
