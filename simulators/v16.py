"""OCPP 1.6J wire side of the simulator: outgoing messages and answers to central system CALLs."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from simulators import certificates
from simulators.adapter import MEASURANDS, Adapter
from simulators.common import Reading, SimTransaction, iso, ocmf, utc_now

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
    "GetConfigurationMaxKeys", "ChargeProfileMaxStackLevel",
    "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
    "MaxChargingProfilesInstalled",
}  # fmt: skip
WRITE_ONLY = {"AuthorizationKey"}
COSTMSG = "org.openchargealliance.costmsg"  # the OCA's California Pricing messages
INTEGER_KEYS = {
    "HeartbeatInterval", "ConnectionTimeOut", "MeterValueSampleInterval",
    "ClockAlignedDataInterval", "TransactionMessageAttempts",
    "TransactionMessageRetryInterval", "WebSocketPingInterval", "ResetRetries",
}  # fmt: skip
TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "SignChargePointCertificate",
    }
)


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
        "SupportedFeatureProfiles": "Core,RemoteTrigger,Reservation,SmartCharging",
        "ChargeProfileMaxStackLevel": "0",
        "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "ChargingScheduleMaxPeriods": "1",
        "MaxChargingProfilesInstalled": str(len(sim.evse_ids)),
        "ReserveConnectorZeroSupported": "false",
        "GetConfigurationMaxKeys": "50",
        "SecurityProfile": "1" if sim.password else "0",
        "AuthorizationKey": "",
    }


class ChargePoint16(Adapter, ChargePoint):
    """One live 1.6 connection of a ChargePointSimulator."""

    triggerable = TRIGGERABLE

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
        # Pending or Rejected: the interval is when to boot again, not a heartbeat interval.
        if result.interval > 0 and result.status == "Accepted":
            sim.heartbeat_interval = result.interval
            sim.configuration["HeartbeatInterval"] = str(result.interval)
        return str(result.status)

    async def firmware_status(self, status: str, request_id: int | None, signed: bool) -> None:
        if signed:
            await self.sim._request(
                call.SignedFirmwareStatusNotification(status=status, request_id=request_id)
            )
        else:
            await self.sim._request(call.FirmwareStatusNotification(status=status))

    async def sign_certificate(self, csr: str, kind: str | None) -> str:
        return str((await self.sim._request(call.SignCertificate(csr=csr))).status)

    async def status(self, evse_id: int, status: str, error_code: str) -> None:
        await self.sim._request(
            call.StatusNotification(
                connector_id=evse_id, error_code=error_code, status=status, timestamp=iso(utc_now())
            )
        )

    async def authorize(self, id_tag: str, token_type: str) -> str:
        result = await self.sim._request(call.Authorize(id_tag=id_tag))
        self.sim.id_tag_infos[id_tag.upper()] = result.id_tag_info
        return str(result.id_tag_info["status"])

    async def start(
        self, tx: SimTransaction, reading: Reading, reservation_id: int | None
    ) -> SimTransaction:
        result = await self.sim._request(
            call.StartTransaction(
                connector_id=tx.evse_id,
                id_tag=tx.id_tag,
                meter_start=reading.energy_wh,
                timestamp=iso(reading.timestamp),
                reservation_id=reservation_id,
            )
        )
        status = str(result.id_tag_info["status"])
        self.sim.id_tag_infos[tx.id_tag.upper()] = result.id_tag_info
        tx = dataclasses.replace(tx, transaction_id=str(result.transaction_id), status=status)
        if self.sim.signed:
            # StartTransaction has no room for samples: signing meters send the opening reading
            # in a MeterValues of its own.
            await self.sim._request(
                call.MeterValues(
                    connector_id=tx.evse_id,
                    transaction_id=int(tx.transaction_id),
                    meter_value=[self.register_value(tx, reading, "Transaction.Begin")],
                )
            )
        return tx

    async def meter(
        self, evse_id: int, reading: Reading, tx: SimTransaction | None, context: str
    ) -> None:
        await self.sim._request(
            call.MeterValues(
                connector_id=evse_id,
                transaction_id=int(tx.transaction_id) if tx else None,
                meter_value=[self.meter_value(reading, context, full=tx is not None)],
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
                transaction_data=[self.register_value(tx, reading, "Transaction.End")],
            )
        )
        return str(result.id_tag_info["status"]) if result.id_tag_info else None

    @staticmethod
    def sampled(value: float, measurand: str, unit: str, context: str) -> dict[str, Any]:
        return {
            "value": str(int(value)) if unit == "Wh" else f"{value:.1f}",
            "context": context,
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unit": unit,
        }

    def register_value(self, tx: SimTransaction, reading: Reading, context: str) -> dict[str, Any]:
        """The register reading that opens or closes a transaction; signed, a second value."""
        value = self.meter_value(reading, context, full=False)
        sim = self.sim
        if sim.signed:
            record = ocmf(sim.id, sim.serial, tx.id_tag, reading, context == "Transaction.Begin")
            value["sampled_value"].append(
                self.sampled(0, "Energy.Active.Import.Register", "Wh", context)
                | {"value": record, "format": "SignedData"}
            )
        return value

    # ---------------------------------------------------------------- CALLs from the CSMS
    # Those answered alike in 2.0.1 are in Adapter.

    @on(Action.remote_start_transaction)
    def on_remote_start(
        self, id_tag: str, call_unique_id: str, connector_id: int | None = None, **_: Any
    ) -> call_result.RemoteStartTransaction:
        status = self._decide_start(call_unique_id, "RemoteStartTransaction", connector_id, id_tag)
        return call_result.RemoteStartTransaction(status=status)

    @after(Action.remote_start_transaction)
    def after_remote_start(self, id_tag: str, call_unique_id: str, **_: Any) -> None:
        check = self.sim.configuration.get("AuthorizeRemoteTxRequests") == "true"
        self._start_if_accepted(call_unique_id, id_tag, None, "ISO14443", check)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(
        self, transaction_id: int, call_unique_id: str, **_: Any
    ) -> call_result.RemoteStopTransaction:
        tx_id = str(transaction_id)
        status = await self._decide_stop(call_unique_id, "RemoteStopTransaction", tx_id)
        return call_result.RemoteStopTransaction(status=status)

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, call_unique_id: str, **_: Any) -> None:
        self._stop_if_accepted(call_unique_id)

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

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        entries = [
            (e["id_tag"], (e.get("id_tag_info") or {}).get("status"))
            for e in local_authorization_list or []
        ]
        return call_result.SendLocalList(
            status=self.sim._local_list(list_version, update_type, entries)
        )

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        sim = self.sim
        return call_result.GetLocalListVersion(
            list_version=sim.local_list_version if sim.local_list_supported else -1
        )

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        sim, profile = self.sim, cs_charging_profiles
        if not sim.smart_charging_supported:
            raise NotSupportedError(description="this charge point does no smart charging")
        tx_id = profile.get("transaction_id")
        status = sim._set_profile(
            connector_id,
            profile["charging_profile_purpose"],
            None if tx_id is None else str(tx_id),
            profile["charging_profile_id"],
            profile["charging_schedule"],
            profile,
        )
        return call_result.SetChargingProfile(status=status)

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None, **_: Any
    ) -> call_result.DataTransfer:
        """The California Pricing messages (vendor org.openchargealliance.costmsg) shown to the
        driver, kept as they came; any other vendor's is unknown here."""
        sim = self.sim
        if vendor_id != COSTMSG or not sim.knows_costmsg:
            return call_result.DataTransfer(status="UnknownVendorId")
        sim.price_messages.append((message_id or "", json.loads(data or "{}")))
        return call_result.DataTransfer(status=sim._answer("DataTransfer", "Accepted"))

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, **_: Any
    ) -> call_result.GetCompositeSchedule:
        limit = self.sim._composite(connector_id)
        if limit is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        schedule = {
            "charging_rate_unit": "W",
            "duration": duration,
            "start_schedule": iso(utc_now()),
            "charging_schedule_period": [{"start_period": 0, "limit": limit}],
        }
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=iso(utc_now()),
            charging_schedule=schedule,
        )

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        if not self.sim.smart_charging_supported:
            raise NotSupportedError(description="this charge point does no smart charging")
        status = self.sim._clear_limits(connector_id, id, charging_profile_purpose)
        return call_result.ClearChargingProfile(status=status)

    @on(Action.update_firmware)
    def on_update_firmware(
        self, location: str, call_unique_id: str, **_: Any
    ) -> call_result.UpdateFirmware:
        # A 1.6 charger answers with an empty object: it cannot refuse.
        self._decide(call_unique_id, "UpdateFirmware", "Accepted", (location, None))
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        _, (location, request_id) = self._decision(call_unique_id)
        self.sim._spawn(self.sim._update_firmware(location, request_id, signed=False))

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], call_unique_id: str, **_: Any
    ) -> call_result.SignedUpdateFirmware:
        data = (firmware["location"], request_id)
        status = self._decide(call_unique_id, "SignedUpdateFirmware", "Accepted", data)
        return call_result.SignedUpdateFirmware(status=status)

    @after(Action.signed_update_firmware)
    def after_signed_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        status, (location, request_id) = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self.sim._update_firmware(location, request_id, signed=True))

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
        evses = self.sim.evse_ids if connector_id == 0 else [connector_id]
        status = self._decide_availability(call_unique_id, evses, type)
        return call_result.ChangeAvailability(status=status)

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
        status = self._reserve(call_unique_id, reservation_id, connector_id, id_tag, expiry_date)
        return call_result.ReserveNow(status=status)

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, call_unique_id: str, connector_id: int | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        evses = [connector_id] if connector_id else self.sim.evse_ids
        status = self._decide_trigger(call_unique_id, requested_message, evses)
        return call_result.TriggerMessage(status=status)

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(
        self, requested_message: str, call_unique_id: str, connector_id: int | None = None, **_: Any
    ) -> call_result.ExtendedTriggerMessage:
        evses = [connector_id] if connector_id else self.sim.evse_ids
        status = self._decide_trigger(call_unique_id, requested_message, evses)
        return call_result.ExtendedTriggerMessage(status=status)

    @after(Action.extended_trigger_message)
    def after_extended_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        self.after_trigger_message(call_unique_id)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
        self, certificate_type: str, **_: Any
    ) -> call_result.GetInstalledCertificateIds:
        pems = self.sim.certificates.roots.get(certificate_type, [])
        status = self.sim._answer("GetInstalledCertificateIds", "Accepted" if pems else "NotFound")
        return call_result.GetInstalledCertificateIds(
            status=status,
            certificate_hash_data=[certificates.hash_data(p) for p in pems]
            if status == "Accepted"
            else None,
        )

    @on(Action.get_diagnostics)
    def on_get_diagnostics(
        self, location: str, call_unique_id: str, **_: Any
    ) -> call_result.GetDiagnostics:
        # "NoFile": a charger with no diagnostics to send answers without a file name.
        status = self._decide(call_unique_id, "GetDiagnostics", "Accepted", location)
        name = f"{self.sim.id}-diagnostics.log" if status == "Accepted" else None
        return call_result.GetDiagnostics(file_name=name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, call_unique_id: str, **_: Any) -> None:
        status, location = self._decision(call_unique_id)
        if status != "Accepted":
            return

        async def notify(upload_status: str) -> None:
            await self.sim._request(call.DiagnosticsStatusNotification(status=upload_status))

        name = f"{self.sim.id}-diagnostics.log"
        self.sim._spawn(self.sim._upload(location, name, notify, failed="UploadFailed"))

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
            if name == "AuthorizationKey":
                sim.password = value  # the Basic auth password of its next connection
        return call_result.ChangeConfiguration(status=status)


def _valid(name: str, value: str, current: str) -> bool:
    if name == "SecurityProfile":  # 1.6 security whitepaper: only ever raised, up to 3
        return value in ("1", "2", "3") and int(value) > int(current or 0)
    if name in INTEGER_KEYS:
        return value.isdigit()
    if current in ("true", "false"):
        return value.lower() in ("true", "false")
    return True
