"""Reservations: ReserveNow (of the charger, an EVSE, or in 2.0.1 any connector of a type) and
CancelReservation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field

from csms import clock
from csms.commands.port import (
    ID_TAG_MAX,
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    TokenType,
    answered,
    id_tag,
    id_token,
    implements,
    sends,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

# OCPP 2.0.1 ConnectorEnumType: the kind of connector a reservation may ask for.
ConnectorType = Literal[
    "cCCS1", "cCCS2", "cChaoJi", "cG105", "cGBT", "cTesla", "cType1", "cType2",
    "s309-1P-16A", "s309-1P-32A", "s309-3P-16A", "s309-3P-32A", "sBS1361", "sCEE-7-7",
    "sType2", "sType3", "OppCharge", "Other1PhMax16A", "Other1PhOver16A", "Other3Ph", "Pan",
    "wInductive", "wResonant", "Undetermined", "Unknown",
]  # fmt: skip


class Reserve(Command):
    name = "reserve"
    reservation_id: int = Field(ge=0, le=INT32_MAX)
    expires_at: datetime
    id_token: str = Field(min_length=1, max_length=36)
    token_type: TokenType = "ISO14443"
    evse_id: int | None = Field(default=None, ge=0, le=INT32_MAX)
    connector_type: ConnectorType | None = Field(
        default=None, description="Any connector of this type (2.0.1)"
    )
    group_id: str | None = Field(default=None, max_length=36)


class CancelReservation(Command):
    name = "cancel_reservation"
    reservation_id: int = Field(ge=0, le=INT32_MAX)


@implements(Reserve, "1.6")
async def reserve_16(
    conn: StationConnection, store: Store, command: Reserve, timeout: float | None
) -> CommandResult:
    if command.connector_type is not None:
        raise CommandInputError("OCPP 1.6 reserves a connector, not a type: name the evse_id")
    request = call16.ReserveNow(
        connector_id=command.evse_id or 0,
        expiry_date=clock.iso(command.expires_at),
        id_tag=id_tag(command.id_token),
        reservation_id=command.reservation_id,
        parent_id_tag=command.group_id[:ID_TAG_MAX] if command.group_id else None,
    )
    return answered(await conn.call(request, timeout))


@implements(Reserve, "2.0.1")
async def reserve_201(
    conn: StationConnection, store: Store, command: Reserve, timeout: float | None
) -> CommandResult:
    request = call201.ReserveNow(
        id=command.reservation_id,
        expiry_date_time=clock.iso(command.expires_at),
        id_token=id_token(command.id_token, command.token_type),
        connector_type=command.connector_type,
        evse_id=command.evse_id or None,
        group_id_token=id_token(command.group_id, "Central") if command.group_id else None,
    )
    return answered(await conn.call(request, timeout))


sends(CancelReservation, "1.6", lambda c: call16.CancelReservation(reservation_id=c.reservation_id))
sends(
    CancelReservation, "2.0.1", lambda c: call201.CancelReservation(reservation_id=c.reservation_id)
)
