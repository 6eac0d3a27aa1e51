"""What the operator does to a charger's state: Reset, ChangeAvailability (of the charger, an
EVSE or, in 2.0.1, one connector), TriggerMessage and UnlockConnector."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ocpp.v16 import call as call16
from ocpp.v16.enums import MessageTrigger
from ocpp.v201 import call as call201
from ocpp.v201.enums import MessageTriggerEnumType
from pydantic import Field

from csms.commands.port import (
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    answered,
    implements,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store


class Reset(Command):
    name = "reset"
    # Immediate = 1.6 Hard, OnIdle = 1.6 Soft; either spelling is taken.
    type: Literal["Immediate", "OnIdle", "Hard", "Soft"] = "OnIdle"
    evse_id: int | None = Field(default=None, ge=1, le=INT32_MAX)


class ChangeAvailability(Command):
    name = "change_availability"
    evse_id: int = Field(default=0, ge=0, le=INT32_MAX, description="0 = the whole charger")
    connector_id: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="One connector of the EVSE (2.0.1)"
    )
    operative: bool


class TriggerMessage(Command):
    name = "trigger_message"
    message: str = Field(
        min_length=1, max_length=64, examples=["StatusNotification", "Heartbeat", "MeterValues"]
    )
    evse_id: int | None = Field(default=None, ge=0, le=INT32_MAX)


class Unlock(Command):
    name = "unlock"
    evse_id: int = Field(ge=1, le=INT32_MAX)
    connector_id: int = Field(default=1, ge=1, le=INT32_MAX)


def _operational(operative: bool) -> str:
    return "Operative" if operative else "Inoperative"


@implements(Reset, "1.6")
async def reset_16(
    conn: StationConnection, store: Store, command: Reset, timeout: float | None
) -> CommandResult:
    if command.evse_id is not None:
        raise CommandInputError("OCPP 1.6 resets the whole charger: leave evse_id out")
    kind = "Hard" if command.type in ("Hard", "Immediate") else "Soft"
    return answered(await conn.call(call16.Reset(type=kind), timeout))


@implements(Reset, "2.0.1")
async def reset_201(
    conn: StationConnection, store: Store, command: Reset, timeout: float | None
) -> CommandResult:
    kind = "Immediate" if command.type in ("Hard", "Immediate") else "OnIdle"
    return answered(await conn.call(call201.Reset(type=kind, evse_id=command.evse_id), timeout))


@implements(ChangeAvailability, "1.6")
async def availability_16(
    conn: StationConnection, store: Store, command: ChangeAvailability, timeout: float | None
) -> CommandResult:
    if command.connector_id is not None:
        raise CommandInputError(
            "an OCPP 1.6 charger's connector N is EVSE N: name it as evse_id, no connector_id"
        )
    request = call16.ChangeAvailability(
        connector_id=command.evse_id, type=_operational(command.operative)
    )
    result = answered(await conn.call(request, timeout))
    if result.accepted:
        await store.availability(conn.station_id, command.evse_id, command.operative)
    return result


@implements(ChangeAvailability, "2.0.1")
async def availability_201(
    conn: StationConnection, store: Store, command: ChangeAvailability, timeout: float | None
) -> CommandResult:
    if command.connector_id is not None and not command.evse_id:
        raise CommandInputError("a connector is named within its EVSE: give evse_id as well")
    evse = None
    if command.evse_id:
        evse = {"id": command.evse_id}
        if command.connector_id is not None:
            evse["connector_id"] = command.connector_id
    request = call201.ChangeAvailability(
        operational_status=_operational(command.operative), evse=evse
    )
    result = answered(await conn.call(request, timeout))
    if result.accepted:
        await store.availability(
            conn.station_id, command.evse_id, command.operative, command.connector_id
        )
    return result


@implements(TriggerMessage, "1.6")
async def trigger_16(
    conn: StationConnection, store: Store, command: TriggerMessage, timeout: float | None
) -> CommandResult:
    if command.message not in {m.value for m in MessageTrigger}:
        raise CommandInputError(f"OCPP 1.6 cannot trigger {command.message!r}")
    request = call16.TriggerMessage(requested_message=command.message, connector_id=command.evse_id)
    return answered(await conn.call(request, timeout))


@implements(TriggerMessage, "2.0.1")
async def trigger_201(
    conn: StationConnection, store: Store, command: TriggerMessage, timeout: float | None
) -> CommandResult:
    if command.message not in {m.value for m in MessageTriggerEnumType}:
        raise CommandInputError(f"OCPP 2.0.1 cannot trigger {command.message!r}")
    evse = {"id": command.evse_id} if command.evse_id else None
    request = call201.TriggerMessage(requested_message=command.message, evse=evse)
    return answered(await conn.call(request, timeout))


@implements(Unlock, "1.6")
async def unlock_16(
    conn: StationConnection, store: Store, command: Unlock, timeout: float | None
) -> CommandResult:
    if command.connector_id != 1:
        raise CommandInputError(
            "an OCPP 1.6 charger's connector N is EVSE N: name it as evse_id, connector_id 1"
        )
    return answered(await conn.call(call16.UnlockConnector(connector_id=command.evse_id), timeout))


@implements(Unlock, "2.0.1")
async def unlock_201(
    conn: StationConnection, store: Store, command: Unlock, timeout: float | None
) -> CommandResult:
    request = call201.UnlockConnector(evse_id=command.evse_id, connector_id=command.connector_id)
    return answered(await conn.call(request, timeout))
