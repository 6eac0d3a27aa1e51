"""The Commands module's wire objects: what an eMSP may ask of a charger, with its response_url."""

from __future__ import annotations

import enum
from typing import Annotated

from cpo.ocpi.models import URL, DateTime, Wire, cistring
from cpo.tokens.v221 import Token

Id36 = Annotated[str, cistring(36)]


class CommandType(enum.StrEnum):
    CANCEL_RESERVATION = "CANCEL_RESERVATION"
    RESERVE_NOW = "RESERVE_NOW"
    START_SESSION = "START_SESSION"
    STOP_SESSION = "STOP_SESSION"
    UNLOCK_CONNECTOR = "UNLOCK_CONNECTOR"


class CommandIn(Wire):
    response_url: URL


class StartSessionIn(CommandIn):
    token: Token
    location_id: Id36
    evse_uid: Id36 | None = None
    connector_id: Id36 | None = None
    authorization_reference: Id36 | None = None


class StopSessionIn(CommandIn):
    session_id: Id36


class UnlockConnectorIn(CommandIn):
    location_id: Id36
    evse_uid: Id36
    connector_id: Id36


class ReserveNowIn(CommandIn):
    token: Token
    expiry_date: DateTime
    reservation_id: Id36
    location_id: Id36
    evse_uid: Id36 | None = None
    authorization_reference: Id36 | None = None


class CancelReservationIn(CommandIn):
    reservation_id: Id36


REQUESTS: dict[CommandType, type[CommandIn]] = {
    CommandType.START_SESSION: StartSessionIn,
    CommandType.STOP_SESSION: StopSessionIn,
    CommandType.UNLOCK_CONNECTOR: UnlockConnectorIn,
    CommandType.RESERVE_NOW: ReserveNowIn,
    CommandType.CANCEL_RESERVATION: CancelReservationIn,
}
