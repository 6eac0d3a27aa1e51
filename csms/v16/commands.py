"""The command port in OCPP 1.6 terms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v16 import call
from ocpp.v16.enums import MessageTrigger

from csms import clock
from csms.commands import (
    INT32_MAX,
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

ID_TAG_MAX = 20
KEY_MAX, VALUE_MAX = 50, 500  # ChangeConfiguration's CiString50 key and CiString500 value


def _id_tag(token: str) -> str:
    if len(token) > ID_TAG_MAX:
        raise CommandInputError(f"an OCPP 1.6 idTag has at most {ID_TAG_MAX} characters")
    return token


def _key(key: str) -> str:
    if len(key) > KEY_MAX:
        raise CommandInputError(f"an OCPP 1.6 configuration key has at most {KEY_MAX} characters")
    return key


def _tx_profile(command: SetChargingLimit, transaction_id: str) -> dict[str, Any]:
    start = clock.now()
    schedule: dict[str, Any] = {
        "charging_rate_unit": "W",
        # The schema takes limits in steps of 0.1.
        "charging_schedule_period": [{"start_period": 0, "limit": round(command.limit_w, 1)}],
        "start_schedule": clock.iso(start),
    }
    if (duration := schedule_seconds(command.until, start)) is not None:
        schedule["duration"] = duration
    return {
        "charging_profile_id": command.profile_id,
        "transaction_id": int(transaction_id),
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": schedule,
    }


async def run(
    conn: StationConnection, store: Store, command: Command, timeout: float | None
) -> CommandResult:
    match command:
        case RemoteStart():
            # Always name the connector: some chargers reject a start without one (digest quirk 13).
            reply = await conn.call(
                call.RemoteStartTransaction(
                    id_tag=_id_tag(command.id_token), connector_id=command.evse_id or 1
                ),
                timeout,
            )
        case RemoteStop():
            tx_id = await transaction_to_stop(store, conn.station_id, command)
            if not (tx_id.isascii() and tx_id.isdigit()) or int(tx_id) > INT32_MAX:
                raise CommandInputError(f"an OCPP 1.6 transaction id is a number, not {tx_id!r}")
            reply = await conn.call(call.RemoteStopTransaction(transaction_id=int(tx_id)), timeout)
        case Unlock():
            if command.connector_id != 1:
                raise CommandInputError(
                    "an OCPP 1.6 charger's connector N is EVSE N: name it as evse_id, connector_id 1"
                )
            reply = await conn.call(call.UnlockConnector(connector_id=command.evse_id), timeout)
        case Reserve():
            reply = await conn.call(
                call.ReserveNow(
                    connector_id=command.evse_id or 0,
                    expiry_date=clock.iso(command.expires_at),
                    id_tag=_id_tag(command.id_token),
                    reservation_id=command.reservation_id,
                    parent_id_tag=command.group_id[:ID_TAG_MAX] if command.group_id else None,
                ),
                timeout,
            )
        case CancelReservation():
            reply = await conn.call(
                call.CancelReservation(reservation_id=command.reservation_id), timeout
            )
        case Reset():
            if command.evse_id is not None:
                raise CommandInputError("OCPP 1.6 resets the whole charger: leave evse_id out")
            kind = "Hard" if command.type in ("Hard", "Immediate") else "Soft"
            reply = await conn.call(call.Reset(type=kind), timeout)
        case ChangeAvailability():
            kind = "Operative" if command.operative else "Inoperative"
            reply = await conn.call(
                call.ChangeAvailability(connector_id=command.evse_id, type=kind), timeout
            )
            if reply.status in ("Accepted", "Scheduled"):
                await store.availability(conn.station_id, command.evse_id, command.operative)
        case TriggerMessage():
            if command.message not in {m.value for m in MessageTrigger}:
                raise CommandInputError(f"OCPP 1.6 cannot trigger {command.message!r}")
            reply = await conn.call(
                call.TriggerMessage(
                    requested_message=command.message, connector_id=command.evse_id
                ),
                timeout,
            )
        case GetConfiguration():
            for key in command.keys:
                _key(key)
            reply = await conn.call(call.GetConfiguration(key=command.keys or None), timeout)
            return answered(reply, status="Accepted")
        case SetConfiguration():
            if len(command.value) > VALUE_MAX:
                raise CommandInputError(f"an OCPP 1.6 value has at most {VALUE_MAX} characters")
            reply = await conn.call(
                call.ChangeConfiguration(key=_key(command.key), value=command.value), timeout
            )
        case SendLocalList():
            entries = []
            for entry in command.entries:
                item: dict[str, Any] = {"id_tag": _id_tag(entry.id_token)}
                if entry.status is not None:
                    info: dict[str, Any] = {"status": entry.status}
                    if entry.expires_at is not None:
                        info["expiry_date"] = clock.iso(entry.expires_at)
                    if entry.group_id:
                        info["parent_id_tag"] = entry.group_id[:ID_TAG_MAX]
                    item["id_tag_info"] = info
                entries.append(item)
            reply = await conn.call(
                call.SendLocalList(
                    list_version=command.version,
                    update_type=command.update_type,
                    local_authorization_list=entries,
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
                    connector_id=command.evse_id, cs_charging_profiles=_tx_profile(command, tx_id)
                ),
                timeout,
            )
        case ClearChargingLimit():
            reply = await conn.call(
                call.ClearChargingProfile(
                    connector_id=command.evse_id, charging_profile_purpose="TxProfile"
                ),
                timeout,
            )
        case _:
            raise CommandInputError(f"{command.name} is not supported for OCPP 1.6")
    return answered(reply)
