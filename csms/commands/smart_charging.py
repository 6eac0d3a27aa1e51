"""Charging limits: SetChargingLimit caps one transaction's power with a TxProfile of one period
at stack level 0, ClearChargingLimit takes it off."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import BaseModel, ConfigDict, Field, model_validator

from csms import clock
from csms.commands.port import (
    ID_MAX,
    INT32_MAX,
    LIMIT_MAX_W,
    Command,
    CommandInputError,
    CommandResult,
    answered,
    implements,
    request_ids,
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


# -- charging profiles of every purpose and kind (1.6 Smart Charging, 2.0.1 block K) ---------


class SchedulePeriod(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_period: int = Field(ge=0, le=INT32_MAX, description="Seconds from the schedule's start")
    limit: float = Field(ge=0, le=LIMIT_MAX_W, allow_inf_nan=False)
    number_phases: int | None = Field(default=None, ge=1, le=3)


class ChargingProfile(BaseModel):
    """A charging profile in version-neutral terms: 1.6 ChargePointMaxProfile is 2.0.1
    ChargingStationMaxProfile (`StationMax` here); a TxProfile names the platform's
    transaction."""

    model_config = ConfigDict(extra="forbid")
    id: int = Field(ge=0, le=INT32_MAX)
    stack_level: int = Field(default=0, ge=0, le=INT32_MAX)
    purpose: Literal["StationMax", "TxDefault", "Tx"]
    kind: Literal["Absolute", "Recurring", "Relative"] = "Absolute"
    recurrency: Literal["Daily", "Weekly"] | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    unit: Literal["W", "A"] = "W"
    starts_at: datetime | None = Field(default=None, description="Absolute and Recurring")
    duration: int | None = Field(default=None, ge=1, le=INT32_MAX, description="Seconds")
    min_rate: float | None = Field(default=None, ge=0, le=LIMIT_MAX_W, allow_inf_nan=False)
    periods: list[SchedulePeriod] = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _coherent(self) -> ChargingProfile:
        starts = [p.start_period for p in self.periods]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("periods start at 0 and each later than the one before")
        if (self.kind == "Recurring") != (self.recurrency is not None):
            raise ValueError("a Recurring profile, and only one, names its recurrency")
        if self.kind == "Relative" and self.starts_at is not None:
            raise ValueError("a Relative profile starts when charging does: no starts_at")
        if self.purpose != "Tx" and self.transaction_id is not None:
            raise ValueError("only a Tx profile names a transaction")
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise ValueError("valid_from must come before valid_to")
        return self


PURPOSES = {
    "1.6": {
        "StationMax": "ChargePointMaxProfile",
        "TxDefault": "TxDefaultProfile",
        "Tx": "TxProfile",
    },
    "2.0.1": {
        "StationMax": "ChargingStationMaxProfile",
        "TxDefault": "TxDefaultProfile",
        "Tx": "TxProfile",
    },
}


class SetChargingProfile(Command):
    name = "set_charging_profile"
    evse_id: int = Field(ge=0, le=INT32_MAX, description="0: the whole charger (StationMax)")
    profile: ChargingProfile

    @model_validator(mode="after")
    def _tx_names_its_transaction(self) -> SetChargingProfile:
        if self.profile.purpose == "Tx" and self.profile.transaction_id is None:
            raise ValueError("a Tx profile names its transaction_id")
        return self


class ClearChargingProfile(Command):
    """Clears the profile with this id, or every one that meets all criteria given."""

    name = "clear_charging_profile"
    id: int | None = Field(default=None, ge=0, le=INT32_MAX)
    evse_id: int | None = Field(default=None, ge=0, le=INT32_MAX)
    purpose: Literal["StationMax", "TxDefault", "Tx"] | None = None
    stack_level: int | None = Field(default=None, ge=0, le=INT32_MAX)


class GetChargingProfiles(Command):
    """What the charger holds (2.0.1: ReportChargingProfiles, kept as events)."""

    name = "get_charging_profiles"
    evse_id: int | None = Field(default=None, ge=0, le=INT32_MAX)
    purpose: Literal["StationMax", "TxDefault", "Tx"] | None = None
    ids: list[int] = Field(default_factory=list, max_length=100)


class GetCompositeSchedule(Command):
    """The schedule the charger will follow on an EVSE for the next `duration` seconds."""

    name = "get_composite_schedule"
    evse_id: int = Field(ge=0, le=INT32_MAX)
    duration: int = Field(ge=1, le=7 * 24 * 3600)
    unit: Literal["W", "A"] | None = None


async def schedule_of(
    store: Store, station_id: str, profile: ChargingProfile, version: str
) -> tuple[dict[str, Any], str | None]:
    """The profile's schedule in `version`'s words, and the charger's id of its transaction."""
    tx_id = None
    if profile.transaction_id is not None:
        tx_id = await running_transaction(store, station_id, profile.transaction_id)
    periods = []
    for period in profile.periods:
        item: dict[str, Any] = {
            "start_period": period.start_period,
            "limit": round(period.limit, 1),
        }
        if period.number_phases is not None:
            item["number_phases"] = period.number_phases
        periods.append(item)
    schedule: dict[str, Any] = {
        "charging_rate_unit": profile.unit,
        "charging_schedule_period": periods,
    }
    if profile.starts_at is not None:
        schedule["start_schedule"] = clock.iso(profile.starts_at)
    if profile.duration is not None:
        schedule["duration"] = profile.duration
    if profile.min_rate is not None:
        schedule["min_charging_rate"] = round(profile.min_rate, 1)
    return schedule, tx_id


def profile_fields(profile: ChargingProfile, version: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "stack_level": profile.stack_level,
        "charging_profile_purpose": PURPOSES[version][profile.purpose],
        "charging_profile_kind": profile.kind,
    }
    if profile.recurrency:
        fields["recurrency_kind"] = profile.recurrency
    if profile.valid_from:
        fields["valid_from"] = clock.iso(profile.valid_from)
    if profile.valid_to:
        fields["valid_to"] = clock.iso(profile.valid_to)
    return fields


async def _held(
    store: Store, station_id: str, command: SetChargingProfile, result: CommandResult
) -> CommandResult:
    if result.accepted:
        await store.profile_held(
            station_id, command.evse_id, command.profile.model_dump(mode="json")
        )
    return result


@implements(SetChargingProfile, "1.6")
async def set_profile_16(
    conn: StationConnection, store: Store, command: SetChargingProfile, timeout: float | None
) -> CommandResult:
    profile = command.profile
    if profile.purpose == "StationMax" and command.evse_id != 0:
        raise CommandInputError("a ChargePointMaxProfile is set on connector 0")
    schedule, tx_id = await schedule_of(store, conn.station_id, profile, "1.6")
    if tx_id is not None and not (tx_id.isdigit() and int(tx_id) <= INT32_MAX):
        raise CommandInputError(f"an OCPP 1.6 transaction id is a number, not {tx_id!r}")
    body = profile_fields(profile, "1.6") | {
        "charging_profile_id": profile.id,
        "charging_schedule": schedule,
    }
    if tx_id is not None:
        body["transaction_id"] = int(tx_id)
    request = call16.SetChargingProfile(connector_id=command.evse_id, cs_charging_profiles=body)
    return await _held(store, conn.station_id, command, answered(await conn.call(request, timeout)))


@implements(SetChargingProfile, "2.0.1")
async def set_profile_201(
    conn: StationConnection, store: Store, command: SetChargingProfile, timeout: float | None
) -> CommandResult:
    profile = command.profile
    if profile.purpose == "StationMax" and command.evse_id != 0:
        raise CommandInputError("a ChargingStationMaxProfile is set on EVSE 0")
    schedule, tx_id = await schedule_of(store, conn.station_id, profile, "2.0.1")
    body = profile_fields(profile, "2.0.1") | {
        "id": profile.id,
        "charging_schedule": [{"id": profile.id} | schedule],
    }
    if tx_id is not None:
        body["transaction_id"] = tx_id
    request = call201.SetChargingProfile(evse_id=command.evse_id, charging_profile=body)
    return await _held(store, conn.station_id, command, answered(await conn.call(request, timeout)))


@implements(ClearChargingProfile, "1.6")
async def clear_profile_16(
    conn: StationConnection, store: Store, command: ClearChargingProfile, timeout: float | None
) -> CommandResult:
    request = call16.ClearChargingProfile(
        id=command.id,
        connector_id=command.evse_id,
        charging_profile_purpose=PURPOSES["1.6"][command.purpose] if command.purpose else None,
        stack_level=command.stack_level,
    )
    result = answered(await conn.call(request, timeout))
    if result.accepted:
        await store.profiles_cleared(conn.station_id, **command.model_dump())
    return result


@implements(ClearChargingProfile, "2.0.1")
async def clear_profile_201(
    conn: StationConnection, store: Store, command: ClearChargingProfile, timeout: float | None
) -> CommandResult:
    criteria: dict[str, Any] = {}
    if command.evse_id is not None:
        criteria["evse_id"] = command.evse_id
    if command.purpose:
        criteria["charging_profile_purpose"] = PURPOSES["2.0.1"][command.purpose]
    if command.stack_level is not None:
        criteria["stack_level"] = command.stack_level
    request = call201.ClearChargingProfile(
        charging_profile_id=command.id, charging_profile_criteria=criteria or None
    )
    result = answered(await conn.call(request, timeout))
    if result.accepted:
        await store.profiles_cleared(conn.station_id, **command.model_dump())
    return result


@implements(GetChargingProfiles, "2.0.1")
async def get_profiles_201(
    conn: StationConnection, store: Store, command: GetChargingProfiles, timeout: float | None
) -> CommandResult:
    criterion: dict[str, Any] = {}
    if command.purpose:
        criterion["charging_profile_purpose"] = PURPOSES["2.0.1"][command.purpose]
    if command.ids:
        criterion["charging_profile_id"] = command.ids
    request = call201.GetChargingProfiles(
        request_id=next(request_ids), charging_profile=criterion, evse_id=command.evse_id
    )
    result = answered(await conn.call(request, timeout))
    result.data["request_id"] = request.request_id
    return result


sends(
    GetCompositeSchedule,
    "1.6",
    lambda c: call16.GetCompositeSchedule(
        connector_id=c.evse_id, duration=c.duration, charging_rate_unit=c.unit
    ),
)
sends(
    GetCompositeSchedule,
    "2.0.1",
    lambda c: call201.GetCompositeSchedule(
        duration=c.duration, evse_id=c.evse_id, charging_rate_unit=c.unit
    ),
)
