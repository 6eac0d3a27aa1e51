"""Commands, RECEIVER: an eMSP asks; the answer says at once whether the platform will try."""

from __future__ import annotations

from starlette.responses import Response

from cpo.commands import v221, v230
from cpo.commands.remote import RemoteCommands
from cpo.commands.remote import Response as CommandResponse
from cpo.commands.v221 import CommandIn, CommandType
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module
from cpo.ocpi.status import OcpiError, Status

# The commands of each version, and the requests that ask for them.
REQUESTS: dict[VersionNumber, dict[CommandType, type[CommandIn]]] = {
    VersionNumber.V2_2_1: v221.REQUESTS,
    VersionNumber.V2_3_0: v230.REQUESTS,
}
# Where CommandType is an open enum, a command we do not know is one we do not support.
OPEN = {VersionNumber.V2_3_0}


def module(remote: RemoteCommands) -> Module:
    commands = Module("commands", "RECEIVER")

    @commands.on("POST", "/{command}")
    async def receive(call: Call) -> Response:
        name = call.request.path_params["command"].upper()
        requests = REQUESTS[call.in_version]
        if name not in requests and call.in_version in OPEN:
            return OcpiResponse(
                CommandResponse("NOT_SUPPORTED", f"no command {name[:40]!r} here").to_json()
            )
        if name not in requests:
            raise OcpiError(
                Status.INVALID_PARAMETERS,
                f"no command {name[:40]!r}: one of {', '.join(requests)}",
                http=404,
            )
        kind = CommandType(name)
        request = call.json(requests[kind])
        return OcpiResponse((await remote.receive(call.party, kind, request)).to_json())

    return commands
