"""Commands, RECEIVER: an eMSP asks; the answer says at once whether the platform will try."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.responses import Response

from cpo.commands import v211, v221, v230
from cpo.commands.remote import RemoteCommands, unknown_place
from cpo.commands.remote import Response as CommandResponse
from cpo.commands.v221 import CommandIn, CommandType
from cpo.ocpi.models import VersionNumber, Wire
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module
from cpo.ocpi.status import OcpiError, Status
from cpo.tokens.wire import own_role

# The commands of each version, and the requests that ask for them.
REQUESTS: dict[VersionNumber, dict[str, type[Wire]]] = {
    version: {str(name): model for name, model in requests.items()}
    for version, requests in (
        (VersionNumber.V2_1_1, v211.REQUESTS),
        (VersionNumber.V2_2_1, v221.REQUESTS),
        (VersionNumber.V2_3_0, v230.REQUESTS),
    )
}
# Where CommandType is an open enum, a command we do not know is one we do not support.
OPEN = {VersionNumber.V2_3_0}


def module(remote: RemoteCommands) -> Module:
    commands = Module("commands", "RECEIVER")

    @commands.on("POST", "/{command}")
    async def receive(call: Call) -> Response:
        name = call.request.path_params["command"].upper()
        version = call.in_version
        requests = REQUESTS[version]
        if name not in requests and version in OPEN:
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
        request = call.json(requests[name])
        if isinstance(request, v211.CommandRequest):
            try:
                stored = v211.request_in(v211.CommandType(name), request, *own_role(call.party))
            except ValidationError:  # an id 2.1.1 allows and no object here has
                raise unknown_place("location or EVSE") from None
            request = v221.REQUESTS[kind].model_validate(stored)
        assert isinstance(request, CommandIn)
        answer = (await remote.receive(call.party, kind, request)).to_json()
        return OcpiResponse(
            v211.response_out(answer) if version == VersionNumber.V2_1_1 else answer
        )

    return commands
