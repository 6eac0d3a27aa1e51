"""One incoming OCPI request from end to end: faults, token, JSON, headers, handler, envelope, record."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulators.emsp.state import Received, Violation
from simulators.emsp.wire import (
    FUNCTIONAL,
    envelope,
    new_id,
    party_of,
    read_authorization,
    routing_headers,
    same_party,
)

if TYPE_CHECKING:
    from simulators.emsp.simulator import EmspSimulator

LOG = logging.getLogger("simulators.emsp")
# Modules token A may be used on: everything a peer needs to register, nothing more.
OPEN_TO_TOKEN_A = frozenset({"versions", "details", "credentials"})
GARBAGE = b"<html><body>502 Bad Gateway (not JSON)</body></html>"


@dataclass
class Reply:
    """What a handler answers: an OCPI status code, data, and the HTTP status that goes with it."""

    status_code: int = 1000
    data: Any = None
    http: int = 200
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Call:
    """One authenticated request as a handler sees it."""

    sim: EmspSimulator
    request: Request
    module: str
    token: str | None = None
    body: Any = None
    # Behind a hub: the client this request is for, who answers it and whose violations these are.
    client: tuple[str, str] | None = None
    open_routing: bool = False  # behind a hub: no OCPI-to-*, the hub found the receiver

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def params(self) -> Mapping[str, str]:
        return self.request.path_params

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    @property
    def with_token_a(self) -> bool:
        return self.token is not None and self.token in self.sim._invites

    def violate(self, message: str) -> None:
        self.sim.violate(
            Violation(self.module, self.method, self.path, message, self.body, client=self.client)
        )

    def reject(self, *messages: str, status_code: int = 2001, http: int = 200) -> Reply:
        """Record each message as a violation and refuse the request with one reply."""
        for message in messages:
            self.violate(message)
        return Reply(status_code, http=http, message="; ".join(messages)[:500])


Handler = Callable[[Call], Awaitable[Reply]]


async def exchange(
    sim: EmspSimulator, request: Request, module: str, handlers: Mapping[str, Handler]
) -> Response:
    call = Call(sim, request, module)
    try:
        reply = await _answer(call, handlers)
    except Exception as exc:  # a simulator bug must still answer in OCPI terms
        LOG.exception("%s %s failed", request.method, request.url.path)
        reply = Reply(3000, http=500, message=f"simulator error: {exc!r}")
    return await _respond(call, reply)


async def not_found(sim: EmspSimulator, request: Request) -> Response:
    """A URL the simulator never advertised: 404 in OCPI terms, and worth a violation."""
    call = Call(sim, request, "unknown")
    call.violate("no such endpoint on this eMSP")
    return await _respond(call, Reply(2000, http=404, message="no such endpoint"))


async def _respond(call: Call, reply: Reply) -> Response:
    request = call.request
    response = render(call, reply)
    await call.sim._record(
        Received(
            method=request.method,
            path=request.url.path,
            module=call.module,
            query=dict(request.query_params),
            headers=dict(request.headers),
            body=call.body,
            status=reply.http,
            ocpi_status=None if reply.raw is not None else reply.status_code,
        )
    )
    return response


async def _answer(call: Call, handlers: Mapping[str, Handler]) -> Reply:
    sim, request = call.sim, call.request
    delay, failure = sim._faults.take(call.module)
    if delay:
        await sim._hold(call.module, request.method, request.url.path)
        await sim._server.pause(delay)
    if failure is not None:
        return _fault(failure)

    found = read_authorization(request.headers.get("authorization"), sim._known_tokens())
    if found is None:
        form = "raw" if sim.version == "2.1.1" else "base64"
        return Reply(
            2000, http=401, message=f"Authorization: Token <{form} token> missing or unknown"
        )
    call.token, encoding = found
    if call.with_token_a and call.module not in OPEN_TO_TOKEN_A:
        return Reply(2000, http=401, message="token A only opens versions, details and credentials")
    if encoding != sim.token_encoding:
        if sim.strict_encoding:
            return Reply(2000, http=401, message=f"token must be sent {sim.token_encoding}")
        if encoding == "raw":
            call.violate(
                f"Authorization token sent raw; OCPI {sim.version} sends it Base64-encoded"
            )
    sim._token_used(call.token, call.module)

    raw = await request.body()
    if raw:
        try:
            call.body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            call.violate(f"request body is not valid JSON: {raw[:80]!r}")
            return Reply(2001, http=400, message="request body is not valid JSON")
        if "application/json" not in request.headers.get("content-type", ""):
            call.violate("a request with a body must have Content-Type: application/json")
    return await sim.handle(call, handlers.get(request.method))


async def handle(call: Call, handler: Handler | None) -> Reply:
    """A direct peer's request once authenticated: its headers checked, then its handler."""
    check_headers(call)
    return await run(call, handler)


async def run(call: Call, handler: Handler | None) -> Reply:
    if handler is None:
        call.violate(f"{call.method} is not part of the {call.module} interface")
        return Reply(2000, http=405, message=f"{call.method} not allowed here")
    return await handler(call)


def _fault(kind: str) -> Reply:
    if kind == "http_500":
        return Reply(3000, http=500, message="simulated server error (fault http_500)")
    if kind == "ocpi_3000":
        return Reply(3000, message="simulated server error (fault ocpi_3000)")
    if kind == "refuse":
        return Reply(2000, http=401, message="simulated refusal (fault refuse)")
    return Reply(raw=GARBAGE)


def check_headers(call: Call, *, receiver_is_us: bool = True) -> None:
    """Request ids always; routing headers on functional modules only, FROM one of the CPO's
    roles and (unless a hub judges it) TO this eMSP."""
    if not call.sim.spec.routing:
        return  # 2.1.1 requires neither request ids nor routing headers (extra ones are fine)
    headers = call.request.headers
    version = call.sim.version
    for name in ("X-Request-ID", "X-Correlation-ID"):
        if not headers.get(name):
            call.violate(f"{name} header missing (OCPI {version} requires it on every request)")
    sender, receiver = party_of(headers, "from"), party_of(headers, "to")
    if call.module not in FUNCTIONAL:
        if any(name.lower().startswith(("ocpi-from-", "ocpi-to-")) for name in headers):
            call.violate(f"routing headers must not be sent to {call.module}")
        return
    cpo = call.sim.cpo
    if sender is None:
        call.violate("OCPI-from-country-code / OCPI-from-party-id missing")
    elif cpo is not None and not any(same_party(sender, p) for p in cpo.parties()):
        call.violate(f"OCPI-from {'/'.join(sender)} is none of the CPO's roles {cpo.parties()}")
    if not receiver_is_us:
        return
    if receiver is None:
        call.violate("OCPI-to-country-code / OCPI-to-party-id missing")
    elif not same_party(receiver, call.sim.party):
        call.violate(f"OCPI-to {'/'.join(receiver)} is not this eMSP ({'/'.join(call.sim.party)})")


def render(call: Call, reply: Reply) -> Response:
    sim, headers_in = call.sim, call.request.headers
    headers: dict[str, str] = {}
    if sim.spec.routing:  # 2.1.1 has neither request ids nor routing headers
        headers = {
            "X-Request-ID": headers_in.get("x-request-id") or new_id(),
            "X-Correlation-ID": headers_in.get("x-correlation-id") or new_id(),
        }
        if call.module in FUNCTIONAL:
            to = party_of(headers_in, "from") or (sim.cpo.party() if sim.cpo else None)
            headers |= routing_headers(call.client or sim.party, to)
    headers |= reply.headers
    if reply.raw is not None:
        return Response(reply.raw, reply.http, headers, media_type="application/json")
    body = envelope(reply.status_code, reply.data, reply.message)
    return Response(orjson.dumps(body), reply.http, headers, media_type="application/json")
