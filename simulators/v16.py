"""OCPP 1.6J wire side of the simulator: outgoing messages and answers to central system CALLs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from simulators.common import Reading, SimTransaction, iso, utc_now

if TYPE_CHECKING:
    from simulators.charge_point import ChargePointSimulator

REASONS = {
    "EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other", "PowerLoss",
    "Reboot", "Remote", "SoftReset", "UnlockCommand", "DeAuthorized",
}  # fmt: skip
# 2.0.1 stop reasons a caller may use on a 1.6 charger.
FROM_201 = {"ImmediateReset": "HardReset", "StoppedByEV": "EVDisconnected", "Timeout": "Other"}
READ_ONLY = {
    "NumberOfConnectors", "SupportedFeatureProfiles", "ReserveConnectorZeroSupported",
    "GetConfigurationMaxKeys", "SecurityProfile",
}  # fmt: skip
WRITE_ONLY = {"AuthorizationKey"}
INTEGER_KEYS = {
    "HeartbeatInterval", "ConnectionTimeOut", "MeterValueSampleInterval",
    "ClockAlignedDataInterval", "TransactionMessageAttempts",
    "TransactionMessageRetryInterval", "WebSocketPingInterval", "ResetRetries",
}  # fmt: skip
TRIGGERABLE = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"}
MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


def default_configuration(sim: ChargePointSimulator) -> dict[str, str]:
    return {
        "HeartbeatInterval": str(sim.heartbeat_interval),
        "ConnectionTimeOut": "60",
        "MeterValueSampleInterval": "60",
        "MeterValuesSampledData": MEASURANDS,
        "StopTxnSampledData": "Energy.Active.Import.Register",
        "ClockAlignedDataInterval": "0",
        "NumberOfConnectors": str(len(sim.evse_ids)),
        "AuthorizeRemoteTxRequests": "false",
        "LocalAuthorizeOffline": "false",
        "LocalPreAuthorize": "false",
        "AuthorizationCacheEnabled": "false",
        "StopTransactionOnEVSideDisconnect": "true",
        "StopTransactionOnInvalidId": "false",
        "UnlockConnectorOnEVSideDisconnect": "true",
        "TransactionMessageAttempts": "3",
        "TransactionMessageRetryInterval": "60",
        "WebSocketPingInterval": "20",
        "ResetRetries": "1",
        "SupportedFeatureProfiles": "Core,RemoteTrigger,Reservation",
        "ReserveConnectorZeroSupported": "false",
        "GetConfigurationMaxKeys": "50",
        "SecurityProfile": "1" if sim.password else "0",
        "AuthorizationKey": "",
    }


def _sampled(value: float, measurand: str, unit: str, context: str) -> dict[str, Any]:
    return {
        "value": str(int(value)) if unit == "Wh" else f"{value:.1f}",
        "context": context,
        "measurand": measurand,
        "location": "EV" if measurand == "SoC" else "Outlet",
        "unit": unit,
    }


def _meter_value(reading: Reading, context: str, full: bool) -> dict[str, Any]:
    values = [_sampled(reading.energy_wh, "Energy.Active.Import.Register", "Wh", context)]
    if full:
        values += [
            _sampled(reading.power_w, "Power.Active.Import", "W", context),
            _sampled(reading.current_a, "Current.Import", "A", context),
            _sampled(reading.voltage_v, "Voltage", "V", context),
        ]
        if reading.soc is not None:
            values.append(_sampled(reading.soc, "SoC", "Percent", context))
    return {"timestamp": iso(reading.timestamp), "sampled_value": values}


class ChargePoint16(ChargePoint):
    """One live 1.6 connection of a ChargePointSimulator."""

    def __init__(self, sim: ChargePointSimulator, connection: Any) -> None:
        super().__init__(sim.id, connection, response_timeout=sim.response_timeout)
        self.sim = sim
        # What on_* decided for a CALL id, for its after_* hook to act on.
        self._decided: dict[str, tuple[str, Any]] = {}

    # ---------------------------------------------------------------- outgoing

    async def boot(self, reason: str) -> str:
        sim = self.sim
        result = await sim._request(
            call.BootNotification(
                charge_point_model=sim.model,
                charge_point_vendor=sim.vendor,
                charge_point_serial_number=sim.serial,
                firmware_version=sim.firmware,
            )
        )
        if result.interval > 0:
            sim.heartbeat_interval = result.interval
            sim.configuration["HeartbeatInterval"] = str(result.interval)
        return str(result.status)

    async def heartbeat(self) -> str:
        return str((await self.sim._request(call.Heartbeat())).current_time)

    async def status(self, evse_id: int, status: str, error_code: str) -> None:
        await self.sim._request(
            call.StatusNotification(
                connector_id=evse_id, error_code=error_code, status=status, timestamp=iso(utc_now())
            )
        )

    async def authorize(self, id_tag: str, token_type: str) -> str:
        result = await self.sim._request(call.Authorize(id_tag=id_tag))
        return str(result.id_tag_info["status"])

    async def start(
        self,
        evse_id: int,
        id_tag: str,
        reading: Reading,
        remote_start_id: int | None,
        reservation_id: int | None,
        token_type: str,
    ) -> SimTransaction:
        result = await self.sim._request(
            call.StartTransaction(
                connector_id=evse_id,
                id_tag=id_tag,
                meter_start=reading.energy_wh,
                timestamp=iso(reading.timestamp),
                reservation_id=reservation_id,
            )
        )
        return SimTransaction(
            transaction_id=str(result.transaction_id),
            evse_id=evse_id,
            id_tag=id_tag,
            meter_start_wh=reading.energy_wh,
            status=str(result.id_tag_info["status"]),
            started_at=reading.timestamp,
            remote_start_id=remote_start_id,
        )

    async def meter(
        self, evse_id: int, reading: Reading, tx: SimTransaction | None, context: str
    ) -> None:
        await self.sim._request(
            call.MeterValues(
                connector_id=evse_id,
                transaction_id=int(tx.transaction_id) if tx else None,
                meter_value=[_meter_value(reading, context, full=tx is not None)],
            )
        )

    async def stop(
        self, tx: SimTransaction, reading: Reading, reason: str, id_tag: str | None
    ) -> str | None:
        result = await self.sim._request(
            call.StopTransaction(
                meter_stop=reading.energy_wh,
                timestamp=iso(reading.timestamp),
                transaction_id=int(tx.transaction_id),
                reason=reason if reason in REASONS else FROM_201.get(reason, "Other"),
                id_tag=id_tag or tx.id_tag,
                transaction_data=[_meter_value(reading, "Transaction.End", full=False)],
            )
        )
        return str(result.id_tag_info["status"]) if result.id_tag_info else None

    # ---------------------------------------------------------------- CALLs from the CSMS
    # Follow-up CALLs go through after_* hooks that spawn tasks: awaiting a CALL inside an
    # on_* handler would block the receive loop that has to deliver its reply.

    def _decide(self, uid: str, action: str, default: str, data: Any = None) -> str:
        status = self.sim._answer(action, default)
        self._decided[uid] = (status, data)
        return status

    def _decision(self, uid: str) -> tuple[str | None, Any]:
        return self._decided.pop(uid, (None, None))

    @on(Action.remote_start_transaction)
    def on_remote_start(
        self, id_tag: str, call_unique_id: str, connector_id: int | None = None, **_: Any
    ) -> call_result.RemoteStartTransaction:
        evse = connector_id or self.sim._free_evse(id_tag) or 1
        ok = self.sim._can_start(evse, id_tag)
        status = self._decide(
            call_unique_id, "RemoteStartTransaction", "Accepted" if ok else "Rejected", evse
        )
        return call_result.RemoteStartTransaction(status=status)

    @after(Action.remote_start_transaction)
    def after_remote_start(self, id_tag: str, call_unique_id: str, **_: Any) -> None:
        status, evse = self._decision(call_unique_id)
        if status == "Accepted":
            check = self.sim.configuration.get("AuthorizeRemoteTxRequests") == "true"
            self.sim._spawn(self.sim._remote_start(evse, id_tag, None, "ISO14443", check))

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(
        self, transaction_id: int, call_unique_id: str, **_: Any
    ) -> call_result.RemoteStopTransaction:
        evse = await self.sim._find_tx(str(transaction_id))
        status = self._decide(
            call_unique_id,
            "RemoteStopTransaction",
            "Rejected" if evse is None else "Accepted",
            evse,
        )
        return call_result.RemoteStopTransaction(status=status)

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, call_unique_id: str, **_: Any) -> None:
        status, evse = self._decision(call_unique_id)
        if status == "Accepted" and evse is not None:
            self.sim._spawn(self.sim._finish(evse, "Remote"))

    @on(Action.unlock_connector)
    def on_unlock(
        self, connector_id: int, call_unique_id: str, **_: Any
    ) -> call_result.UnlockConnector:
        known = connector_id in self.sim.evse_ids
        status = self._decide(
            call_unique_id, "UnlockConnector", "Unlocked" if known else "NotSupported", connector_id
        )
        return call_result.UnlockConnector(status=status)

    @after(Action.unlock_connector)
    def after_unlock(self, call_unique_id: str, **_: Any) -> None:
        status, evse = self._decision(call_unique_id)
        # 1.6: unlocking a connector in use ends its transaction.
        if status == "Unlocked" and evse in self.sim.transactions:
            self.sim._spawn(self.sim._finish(evse, "UnlockCommand"))

    @on(Action.reset)
    def on_reset(self, type: str, call_unique_id: str, **_: Any) -> call_result.Reset:
        return call_result.Reset(status=self._decide(call_unique_id, "Reset", "Accepted", type))

    @after(Action.reset)
    def after_reset(self, call_unique_id: str, **_: Any) -> None:
        status, kind = self._decision(call_unique_id)
        if status == "Accepted":
            reason = "HardReset" if kind == "Hard" else "SoftReset"
            self.sim._spawn(self.sim._reboot(reason, "RemoteReset"))

    @on(Action.change_availability)
    def on_change_availability(
        self, connector_id: int, type: str, call_unique_id: str, **_: Any
    ) -> call_result.ChangeAvailability:
        sim = self.sim
        evses = sim.evse_ids if connector_id == 0 else [connector_id]
        if connector_id != 0 and connector_id not in sim.evse_ids:
            default = "Rejected"
        elif type == "Inoperative" and any(e in sim.transactions for e in evses):
            default = "Scheduled"
        else:
            default = "Accepted"
        status = self._decide(call_unique_id, "ChangeAvailability", default, (evses, type))
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status in ("Accepted", "Scheduled"):
            evses, kind = data
            self.sim._spawn(self.sim._set_availability(evses, kind == "Operative"))

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        call_unique_id: str,
        **_: Any,
    ) -> call_result.ReserveNow:
        sim = self.sim
        default = sim._reservation_status(connector_id, reservation_id)
        status = self._decide(call_unique_id, "ReserveNow", default, connector_id)
        if status == "Accepted":
            sim.reservations[reservation_id] = {
                "evse_id": connector_id, "id_tag": id_tag, "expiry": expiry_date,
            }  # fmt: skip
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    def after_reserve_now(self, call_unique_id: str, **_: Any) -> None:
        status, evse = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self.sim.status(evse, "Reserved"))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(
        self, reservation_id: int, call_unique_id: str, **_: Any
    ) -> call_result.CancelReservation:
        sim = self.sim
        known = sim.reservations.get(reservation_id)
        status = self._decide(
            call_unique_id, "CancelReservation", "Accepted" if known else "Rejected",
            known["evse_id"] if known else None,
        )  # fmt: skip
        if status == "Accepted":
            sim.reservations.pop(reservation_id, None)
        return call_result.CancelReservation(status=status)

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, call_unique_id: str, **_: Any) -> None:
        status, evse = self._decision(call_unique_id)
        if status == "Accepted" and evse is not None and evse not in self.sim.transactions:
            self.sim._spawn(self.sim.status(evse, self.sim._idle_status(evse)))

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, call_unique_id: str, connector_id: int | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        default = "Accepted" if requested_message in TRIGGERABLE else "NotImplemented"
        evses = [connector_id] if connector_id else self.sim.evse_ids
        status = self._decide(call_unique_id, "TriggerMessage", default, (requested_message, evses))
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self.sim._trigger(*data))

    @on(Action.get_configuration)
    def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        conf = self.sim.configuration
        names = {k.lower(): k for k in conf if k not in WRITE_ONLY}
        wanted = key or list(names.values())
        known = [names[k.lower()] for k in wanted if k.lower() in names]
        unknown = [k for k in wanted if k.lower() not in names]
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k in READ_ONLY, "value": conf[k]} for k in known
            ],
            unknown_key=unknown or None,
        )

    @on(Action.change_configuration)
    def on_change_configuration(
        self, key: str, value: str, **_: Any
    ) -> call_result.ChangeConfiguration:
        sim = self.sim
        name = next((k for k in sim.configuration if k.lower() == key.lower()), None)
        if name is None:
            default = "NotSupported"
        elif name in READ_ONLY or not _valid(name, value, sim.configuration[name]):
            default = "Rejected"
        else:
            default = "Accepted"
        status = sim._answer("ChangeConfiguration", default)
        if status == "Accepted" and name is not None:
            sim.configuration[name] = value
            if name == "HeartbeatInterval":
                sim.heartbeat_interval = int(value)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        return call_result.ClearCache(status=self.sim._answer("ClearCache", "Accepted"))

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status=self.sim._answer("DataTransfer", "UnknownVendorId"))


def _valid(name: str, value: str, current: str) -> bool:
    if name in INTEGER_KEYS:
        return value.isdigit()
    if current in ("true", "false"):
        return value.lower() in ("true", "false")
    return True
