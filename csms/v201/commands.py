"""The command port in OCPP 2.0.1 terms."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call
from ocpp.v201.enums import MessageTriggerEnumType

from csms import clock
from csms.commands import (
    CancelReservation,
    ChangeAvailability,
    ClearChargingLimit,
    Command,
    CommandInputError,
    CommandResult,
    GetConfiguration,
    GetLocalListVersion,
    RemoteStart,
    RemoteStop,
    Reserve,
    Reset,
    SendLocalList,
    SetChargingLimit,
    SetConfiguration,
    TriggerMessage,
    Unlock,
    answered,
    running_transaction,
    schedule_seconds,
    transaction_to_stop,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

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

NAME_MAX = 50  # ComponentType.name, VariableType.name
_request_ids = itertools.count(1)


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


def _token(token: str, kind: str) -> dict[str, str]:
    return {"id_token": token, "type": kind}


def _tx_profile(command: SetChargingLimit, transaction_id: str) -> dict[str, Any]:
    start = clock.now()
    schedule: dict[str, Any] = {
        "id": command.profile_id,
        "charging_rate_unit": "W",
        "start_schedule": clock.iso(start),
        # At most one digit of fraction, says the schema.
        "charging_schedule_period": [{"start_period": 0, "limit": round(command.limit_w, 1)}],
    }
    if (duration := schedule_seconds(command.until, start)) is not None:
        schedule["duration"] = duration
    return {
        "id": command.profile_id,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
        "transaction_id": transaction_id,
        "charging_schedule": [schedule],
    }


async def run(
    conn: StationConnection, store: Store, command: Command, timeout: float | None
) -> CommandResult:
    match command:
        case RemoteStart():
            reply = await conn.call(
                call.RequestStartTransaction(
                    id_token=_token(command.id_token, command.token_type),
                    remote_start_id=command.remote_start_id
                    if command.remote_start_id is not None
                    else next(_request_ids),
                    evse_id=command.evse_id,
                    group_id_token=_token(command.group_id, "Central")
                    if command.group_id
                    else None,
                ),
                timeout,
            )
        case RemoteStop():
            tx_id = await transaction_to_stop(store, conn.station_id, command)
            reply = await conn.call(call.RequestStopTransaction(transaction_id=tx_id), timeout)
        case Unlock():
            reply = await conn.call(
                call.UnlockConnector(evse_id=command.evse_id, connector_id=command.connector_id),
                timeout,
            )
        case Reserve():
            reply = await conn.call(
                call.ReserveNow(
                    id=command.reservation_id,
                    expiry_date_time=clock.iso(command.expires_at),
                    id_token=_token(command.id_token, command.token_type),
                    evse_id=command.evse_id or None,
                    group_id_token=_token(command.group_id, "Central")
                    if command.group_id
                    else None,
                ),
                timeout,
            )
        case CancelReservation():
            reply = await conn.call(
                call.CancelReservation(reservation_id=command.reservation_id), timeout
            )
        case Reset():
            kind = "Immediate" if command.type in ("Hard", "Immediate") else "OnIdle"
            reply = await conn.call(call.Reset(type=kind, evse_id=command.evse_id), timeout)
        case ChangeAvailability():
            status = "Operative" if command.operative else "Inoperative"
            evse = {"id": command.evse_id} if command.evse_id else None
            reply = await conn.call(
                call.ChangeAvailability(operational_status=status, evse=evse), timeout
            )
            if reply.status in ("Accepted", "Scheduled"):
                await store.availability(conn.station_id, command.evse_id, command.operative)
        case TriggerMessage():
            if command.message not in {m.value for m in MessageTriggerEnumType}:
                raise CommandInputError(f"OCPP 2.0.1 cannot trigger {command.message!r}")
            evse = {"id": command.evse_id} if command.evse_id else None
            reply = await conn.call(
                call.TriggerMessage(requested_message=command.message, evse=evse), timeout
            )
        case GetConfiguration():
            if not command.keys:
                reply = await conn.call(
                    call.GetBaseReport(
                        request_id=next(_request_ids), report_base="ConfigurationInventory"
                    ),
                    timeout,
                )
                return answered(reply)
            reply = await conn.call(
                call.GetVariables(get_variable_data=[_variable(k) for k in command.keys]), timeout
            )
            return answered(reply, status="Accepted")
        case SetConfiguration():
            item = _variable(command.key) | {"attribute_value": command.value}
            reply = await conn.call(call.SetVariables(set_variable_data=[item]), timeout)
            results = reply.set_variable_result or [{}]
            return answered(reply, status=str(results[0].get("attribute_status")))
        case SendLocalList():
            entries = []
            for entry in command.entries:
                entry_data: dict[str, Any] = {"id_token": _token(entry.id_token, entry.token_type)}
                if entry.status is not None:
                    info: dict[str, Any] = {"status": entry.status}
                    if entry.expires_at is not None:
                        info["cache_expiry_date_time"] = clock.iso(entry.expires_at)
                    if entry.group_id:
                        info["group_id_token"] = _token(entry.group_id, "Central")
                    entry_data["id_token_info"] = info
                entries.append(entry_data)
            reply = await conn.call(
                call.SendLocalList(
                    version_number=command.version,
                    update_type=command.update_type,
                    local_authorization_list=entries or None,
                ),
                timeout,
            )
        case GetLocalListVersion():
            reply = await conn.call(call.GetLocalListVersion(), timeout)
            return answered(reply, status="Accepted")
        case SetChargingLimit():
            tx_id = await running_transaction(
                store, conn.station_id, command.transaction_id, command.evse_id
            )
            reply = await conn.call(
                call.SetChargingProfile(
                    evse_id=command.evse_id, charging_profile=_tx_profile(command, tx_id)
                ),
                timeout,
            )
        case ClearChargingLimit():
            reply = await conn.call(
                call.ClearChargingProfile(
                    charging_profile_criteria={
                        "evse_id": command.evse_id,
                        "charging_profile_purpose": "TxProfile",
                    }
                ),
                timeout,
            )
        case _:
            raise CommandInputError(f"{command.name} is not supported for OCPP 2.0.1")
    return answered(reply)
