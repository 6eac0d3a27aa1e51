"""Commands, RECEIVER: an eMSP asks; the answer says at once whether the platform will try."""

from __future__ import annotations

from starlette.responses import Response

from cpo.commands.remote import RemoteCommands
from cpo.commands.v221 import REQUESTS, CommandType
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module
from cpo.ocpi.status import OcpiError, Status


def module(remote: RemoteCommands) -> Module:
    commands = Module("commands", "RECEIVER")

    @commands.on("POST", "/{command}")
    async def receive(call: Call) -> Response:
        name = call.request.path_params["command"].upper()
        if name not in CommandType.__members__:
            raise OcpiError(
                Status.INVALID_PARAMETERS,
                f"no command {name[:40]!r}: one of {', '.join(CommandType)}",
                http=404,
            )
        kind = CommandType(name)
        request = call.json(REQUESTS[kind])
        return OcpiResponse((await remote.receive(call.party, kind, request)).to_json())

    return commands
