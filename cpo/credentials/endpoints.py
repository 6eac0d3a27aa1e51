"""Credentials: a peer registers (POST), updates or rotates (PUT), reads (GET) and leaves (DELETE)."""

from __future__ import annotations

from starlette.responses import Response

from cpo.credentials.registration import Registration
from cpo.credentials.wire import CREDENTIALS, credentials_in, credentials_out
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module
from cpo.ocpi.status import not_allowed
from cpo.tables import PartyState


def module(registration: Registration) -> Module:
    # The role is meaningless for credentials; the spec asks for SENDER.
    credentials = Module("credentials", "SENDER", functional=False)

    @credentials.on("GET")
    async def read(call: Call) -> Response:
        ours = registration.own_credentials(call.caller.token)
        return OcpiResponse(credentials_out(ours, call.in_version))

    @credentials.on("POST")
    async def register(call: Call) -> Response:
        if call.party.state != PartyState.INVITED:
            raise not_allowed(
                "already registered: PUT to update the credentials, DELETE to unregister"
            )
        theirs = credentials_in(call.json(CREDENTIALS[call.in_version]))
        ours = await registration.accept(call, theirs)
        return OcpiResponse(credentials_out(ours, call.in_version))

    @credentials.on("PUT")
    async def update(call: Call) -> Response:
        if call.party.state != PartyState.REGISTERED:
            raise not_allowed("not registered: POST your credentials first")
        theirs = credentials_in(call.json(CREDENTIALS[call.in_version]))
        ours = await registration.accept(call, theirs)
        return OcpiResponse(credentials_out(ours, call.in_version))

    @credentials.on("DELETE")
    async def unregister(call: Call) -> Response:
        if call.party.state != PartyState.REGISTERED:
            raise not_allowed("not registered")
        await registration.forget(call.party)
        return OcpiResponse()

    return credentials
