"""Charging limits: SetChargingLimit caps one transaction's power with a TxProfile of one period
at stack level 0, ClearChargingLimit takes it off."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field

from csms import clock
from csms.commands.port import (
    ID_MAX,
    INT32_MAX,
    LIMIT_MAX_W,
    Command,
    CommandResult,
    answered,
    implements,
    running_transaction,
    schedule_seconds,
    sends,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store


class SetChargingLimit(Command):
    """Cap one transaction's power: a TxProfile of one period at stack level 0."""

    name = "set_charging_limit"
    evse_id: int = Field(ge=1, le=INT32_MAX)
    transaction_id: int = Field(ge=1, le=ID_MAX, description="The platform's transaction id")
    limit_w: float = Field(gt=0, le=LIMIT_MAX_W, allow_inf_nan=False)
    until: datetime | None = Field(default=None, description="End of the limit; None = open-ended")
    # A profile with the same id (2.0.1), or the same purpose and stack level (1.6), replaces
    # the one the charger holds, so a new limit on the same transaction overrides the last.
    profile_id: int = Field(default=1, ge=0, le=INT32_MAX)


class ClearChargingLimit(Command):
    name = "clear_charging_limit"
    evse_id: int = Field(ge=1, le=INT32_MAX)


def _schedule(command: SetChargingLimit) -> dict[str, Any]:
    """The one-period schedule both versions share (their own keys added by each)."""
    start = clock.now()
    schedule: dict[str, Any] = {
        "charging_rate_unit": "W",
        "start_schedule": clock.iso(start),
        # At most one digit of fraction, say the schemas.
        "charging_schedule_period": [{"start_period": 0, "limit": round(command.limit_w, 1)}],
    }
    if (duration := schedule_seconds(command.until, start)) is not None:
        schedule["duration"] = duration
    return schedule


def _profile(command: SetChargingLimit) -> dict[str, Any]:
    return {
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
    }


@implements(SetChargingLimit, "1.6")
async def set_16(
    conn: StationConnection, store: Store, command: SetChargingLimit, timeout: float | None
) -> CommandResult:
    tx_id = await running_transaction(
        store, conn.station_id, command.transaction_id, command.evse_id
    )
    profile = _profile(command) | {
        "charging_profile_id": command.profile_id,
        "transaction_id": int(tx_id),
        "charging_schedule": _schedule(command),
    }
    request = call16.SetChargingProfile(connector_id=command.evse_id, cs_charging_profiles=profile)
    return answered(await conn.call(request, timeout))


@implements(SetChargingLimit, "2.0.1")
async def set_201(
    conn: StationConnection, store: Store, command: SetChargingLimit, timeout: float | None
) -> CommandResult:
    tx_id = await running_transaction(
        store, conn.station_id, command.transaction_id, command.evse_id
    )
    profile = _profile(command) | {
        "id": command.profile_id,
        "transaction_id": tx_id,
        "charging_schedule": [{"id": command.profile_id} | _schedule(command)],
    }
    request = call201.SetChargingProfile(evse_id=command.evse_id, charging_profile=profile)
    return answered(await conn.call(request, timeout))


sends(
    ClearChargingLimit,
    "1.6",
    lambda c: call16.ClearChargingProfile(
        connector_id=c.evse_id, charging_profile_purpose="TxProfile"
    ),
)
sends(
    ClearChargingLimit,
    "2.0.1",
    lambda c: call201.ClearChargingProfile(
        charging_profile_criteria={"evse_id": c.evse_id, "charging_profile_purpose": "TxProfile"}
    ),
)
