"""A charger's settings: GetConfiguration and SetConfiguration, as 1.6 keys or 2.0.1
Component.Variable (the 1.6 keys operators know are found where 2.0.1 keeps them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field, field_validator

from csms.commands.port import (
    Command,
    CommandInputError,
    CommandResult,
    answered,
    implements,
    request_ids,
)
from csms.commands.security import not_the_password

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

KEY_MAX, VALUE_MAX = 50, 500  # 1.6 ChangeConfiguration's CiString50 key and CiString500 value
NAME_MAX = 50  # 2.0.1 ComponentType.name, VariableType.name

# 1.6 configuration keys that operators know, and where 2.0.1 keeps them.
ALIASES = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "WebSocketPingInterval": ("OCPPCommCtrlr", "WebSocketPingInterval"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval"),
    "AuthorizeRemoteTxRequests": ("AuthCtrlr", "AuthorizeRemoteStart"),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline"),
    "LocalPreAuthorize": ("AuthCtrlr", "LocalPreAuthorize"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
    "StopTransactionOnInvalidId": ("TxCtrlr", "StopTxOnInvalidId"),
}


class GetConfiguration(Command):
    name = "get_configuration"
    keys: list[Annotated[str, Field(min_length=1, max_length=101)]] = Field(
        default_factory=list, max_length=100, description="1.6 keys or 2.0.1 Component.Variable"
    )


class SetConfiguration(Command):
    name = "set_configuration"
    key: str = Field(min_length=1, max_length=101)
    value: str = Field(max_length=1000)

    @field_validator("key")
    @classmethod
    def _not_the_password(cls, key: str) -> str:
        not_the_password(key)
        return key


def _key(key: str) -> str:
    if len(key) > KEY_MAX:
        raise CommandInputError(f"an OCPP 1.6 configuration key has at most {KEY_MAX} characters")
    return key


def _variable(key: str) -> dict[str, dict[str, str]]:
    if key in ALIASES:
        component, variable = ALIASES[key]
    elif "." in key:
        component, variable = key.split(".", 1)
    else:
        raise CommandInputError(f"{key!r}: name a 2.0.1 variable as Component.Variable")
    if len(component) > NAME_MAX or len(variable) > NAME_MAX:
        raise CommandInputError(
            f"2.0.1 component and variable names have at most {NAME_MAX} characters"
        )
    return {"component": {"name": component}, "variable": {"name": variable}}


@implements(GetConfiguration, "1.6")
async def get_16(
    conn: StationConnection, store: Store, command: GetConfiguration, timeout: float | None
) -> CommandResult:
    keys = [_key(key) for key in command.keys]
    reply = await conn.call(call16.GetConfiguration(key=keys or None), timeout)
    return answered(reply, status="Accepted")


@implements(GetConfiguration, "2.0.1")
async def get_201(
    conn: StationConnection, store: Store, command: GetConfiguration, timeout: float | None
) -> CommandResult:
    if not command.keys:
        request = call201.GetBaseReport(
            request_id=next(request_ids), report_base="ConfigurationInventory"
        )
        return answered(await conn.call(request, timeout))
    wanted = [_variable(k) for k in command.keys]
    reply = await conn.call(call201.GetVariables(get_variable_data=wanted), timeout)
    return answered(reply, status="Accepted")


@implements(SetConfiguration, "1.6")
async def set_16(
    conn: StationConnection, store: Store, command: SetConfiguration, timeout: float | None
) -> CommandResult:
    if len(command.value) > VALUE_MAX:
        raise CommandInputError(f"an OCPP 1.6 value has at most {VALUE_MAX} characters")
    request = call16.ChangeConfiguration(key=_key(command.key), value=command.value)
    return answered(await conn.call(request, timeout))


@implements(SetConfiguration, "2.0.1")
async def set_201(
    conn: StationConnection, store: Store, command: SetConfiguration, timeout: float | None
) -> CommandResult:
    item = _variable(command.key) | {"attribute_value": command.value}
    reply = await conn.call(call201.SetVariables(set_variable_data=[item]), timeout)
    results = reply.set_variable_result or [{}]
    return answered(reply, status=str(results[0].get("attribute_status")))
