"""OCPI 2.1.1 Commands objects (mod_commands): what a 2.1.1 eMSP may ask of a charger, and the
converters between them and the stored 2.2.1 requests, responses and results.

What 2.1.1 differs in: no CANCEL_RESERVATION; StartSession has no connector_id or
authorization_reference, ReserveNow no authorization_reference and an **int** reservation_id;
location and EVSE ids are string(39); the Token is the 2.1.1 Token. The answer has no timeout or
message, and the asynchronous answer POSTed to response_url is the same CommandResponse
`{result}` (2.2.1 sends a CommandResult), so the 2.2.1 CommandResultType is mapped to the
nearest CommandResponseType (RESULTS)."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import StrictInt

from cpo.commands.v221 import REQUESTS as REQUESTS_221
from cpo.commands.v221 import CommandType as CommandType221
from cpo.ocpi.models import URL, Wire
from cpo.ocpi.models_v211 import DateTime, string
from cpo.tokens.v211 import Token, token_in

__all__ = [
    "REQUESTS",
    "RESULTS",
    "CommandRequest",
    "CommandResponse",
    "CommandResponseType",
    "CommandType",
    "ReserveNow",
    "StartSession",
    "StopSession",
    "UnlockConnector",
    "request_in",
    "response_out",
    "result_out",
]

Id36 = Annotated[str, string(36, 1)]
Id39 = Annotated[str, string(39, 1)]


class CommandType(enum.StrEnum):
    RESERVE_NOW = "RESERVE_NOW"
    START_SESSION = "START_SESSION"
    STOP_SESSION = "STOP_SESSION"
    UNLOCK_CONNECTOR = "UNLOCK_CONNECTOR"


class CommandResponseType(enum.StrEnum):
    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    ACCEPTED = "ACCEPTED"
    TIMEOUT = "TIMEOUT"
    UNKNOWN_SESSION = "UNKNOWN_SESSION"


class CommandResponse(Wire):
    result: CommandResponseType


class CommandRequest(Wire):
    response_url: URL


class StartSession(CommandRequest):
    token: Token
    location_id: Id39
    evse_uid: Id39 | None = None


class StopSession(CommandRequest):
    session_id: Id36


class UnlockConnector(CommandRequest):
    location_id: Id39
    evse_uid: Id39
    connector_id: Id36


class ReserveNow(CommandRequest):
    token: Token
    expiry_date: DateTime
    reservation_id: StrictInt  # "42" is refused: 2.1.1 says int, 2.2.1 a string
    location_id: Id39
    evse_uid: Id39 | None = None


REQUESTS: dict[CommandType, type[CommandRequest]] = {
    CommandType.START_SESSION: StartSession,
    CommandType.STOP_SESSION: StopSession,
    CommandType.UNLOCK_CONNECTOR: UnlockConnector,
    CommandType.RESERVE_NOW: ReserveNow,
}

# 2.2.1 CommandResultType -> the 2.1.1 CommandResponseType POSTed to response_url. What
# 2.1.1 cannot say (the EVSE is occupied or inoperative, the reservation is unknown or was
# cancelled, the charger failed) is a refusal: REJECTED.
RESULTS: dict[str, CommandResponseType] = {
    "ACCEPTED": CommandResponseType.ACCEPTED,
    "CANCELED_RESERVATION": CommandResponseType.REJECTED,
    "EVSE_OCCUPIED": CommandResponseType.REJECTED,
    "EVSE_INOPERATIVE": CommandResponseType.REJECTED,
    "FAILED": CommandResponseType.REJECTED,
    "NOT_SUPPORTED": CommandResponseType.NOT_SUPPORTED,
    "REJECTED": CommandResponseType.REJECTED,
    "TIMEOUT": CommandResponseType.TIMEOUT,
    "UNKNOWN_RESERVATION": CommandResponseType.REJECTED,
}


def request_in(
    command: CommandType, request: CommandRequest, country_code: str, party_id: str
) -> dict[str, Any]:
    """A 2.1.1 command request as the platform stores it (the 2.2.1 request): its token stored
    as the eMSP's (country_code, party_id), reservation_id as a string.

    Raises pydantic's ValidationError when a value 2.1.1 allows does not fit 2.2.1: a
    location_id or evse_uid of 37 to 39 characters (no such object here)."""
    if not isinstance(request, REQUESTS[command]):
        raise TypeError(f"{command} takes a {REQUESTS[command].__name__}")
    stored = request.wire()
    token = getattr(request, "token", None)
    if isinstance(token, Token):
        stored["token"] = token_in(token, country_code, party_id)
    if isinstance(request, ReserveNow):
        stored["reservation_id"] = str(request.reservation_id)
    return REQUESTS_221[CommandType221(command.value)].model_validate(stored).wire()


def response_out(stored: dict[str, Any]) -> dict[str, Any]:
    """A 2.2.1 CommandResponse `{result, timeout, message}` as 2.1.1 answers: `{result}`. Its
    four values (ACCEPTED, NOT_SUPPORTED, REJECTED, UNKNOWN_SESSION) are all in 2.1.1."""
    return CommandResponse.model_validate({"result": stored["result"]}).wire()


def result_out(stored: dict[str, Any]) -> dict[str, Any]:
    """A 2.2.1 CommandResult `{result, message}` as the 2.1.1 CommandResponse `{result}` POSTed
    to the response_url, mapped by RESULTS."""
    return CommandResponse(result=RESULTS[stored["result"]]).wire()
