"""OCPP 2.0.1 wire side of the simulator: outgoing messages and answers to CSMS CALLs."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotSupportedError, OccurenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from simulators import certificates
from simulators.adapter import MEASURANDS, Adapter
from simulators.common import (
    SIGNING_METHOD,
    Reading,
    SimTransaction,
    iso,
    ocmf,
    public_key,
    status_201,
    utc_now,
)

if TYPE_CHECKING:
    from simulators.charge_point import ChargePointSimulator

Key = tuple[str, str]

STOPPED_REASONS = {
    "DeAuthorized", "EmergencyStop", "EnergyLimitReached", "EVDisconnected", "GroundFault",
    "ImmediateReset", "Local", "LocalOutOfCredit", "MasterPass", "Other", "OvercurrentFault",
    "PowerLoss", "PowerQuality", "Reboot", "Remote", "SOCLimitReached", "StoppedByEV",
    "TimeLimitReached", "Timeout",
}  # fmt: skip
# 1.6 stop reasons a caller may use on a 2.0.1 station.
FROM_16 = {"HardReset": "ImmediateReset", "SoftReset": "ImmediateReset", "UnlockCommand": "Other"}
# Why a station ends a transaction, seen from its trigger side.
TRIGGERS = {
    "Local": "StopAuthorized",
    "MasterPass": "StopAuthorized",
    "Remote": "RemoteStop",
    "EVDisconnected": "EVCommunicationLost",
    "ImmediateReset": "ResetCommand",
    "Reboot": "ResetCommand",
    "DeAuthorized": "Deauthorized",
    "EnergyLimitReached": "EnergyLimitReached",
    "SOCLimitReached": "EnergyLimitReached",
    "TimeLimitReached": "TimeLimitReached",
    "Timeout": "EVConnectTimeout",
    "StoppedByEV": "ChargingStateChanged",
}
READ_ONLY: set[Key] = {("SecurityCtrlr", "SecurityProfile"), ("SecurityCtrlr", "Identity")}
WRITE_ONLY: set[Key] = {("SecurityCtrlr", "BasicAuthPassword")}
TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "TransactionEvent",
        "SignChargingStationCertificate",
        "SignV2GCertificate",
    }
)


def default_variables(sim: ChargePointSimulator) -> dict[Key, str]:
    return {
        ("OCPPCommCtrlr", "HeartbeatInterval"): str(sim.heartbeat_interval),
        ("OCPPCommCtrlr", "MessageTimeout"): str(int(sim.response_timeout)),
        ("OCPPCommCtrlr", "NetworkConfigurationPriority"): "0",
        ("SampledDataCtrlr", "TxUpdatedInterval"): "60",
        ("SampledDataCtrlr", "TxUpdatedMeasurands"): MEASURANDS,
        ("SampledDataCtrlr", "TxEndedMeasurands"): "Energy.Active.Import.Register",
        ("TxCtrlr", "TxStartPoint"): "Authorized",
        ("TxCtrlr", "TxStopPoint"): "Authorized",
        ("TxCtrlr", "EVConnectionTimeOut"): "60",
        ("TxCtrlr", "StopTxOnInvalidId"): "false",
        ("AuthCtrlr", "AuthorizeRemoteStart"): "false",
        ("AuthCtrlr", "LocalAuthorizeOffline"): "false",
        ("AuthCtrlr", "MasterPassGroupId"): "",
        ("ReservationCtrlr", "Enabled"): "true",
        ("SecurityCtrlr", "SecurityProfile"): "1" if sim.password else "0",
        ("SecurityCtrlr", "Identity"): sim.id,
        ("SecurityCtrlr", "BasicAuthPassword"): "",
    }


def _data_type(value: str) -> str:
    if value in ("true", "false"):
        return "boolean"
    return "integer" if value.isdigit() else "string"


class ChargePoint201(Adapter, ChargePoint):
    """One live 2.0.1 connection of a ChargePointSimulator."""

    triggerable = TRIGGERABLE

    # ---------------------------------------------------------------- outgoing

    async def boot(self, reason: str) -> str:
        sim = self.sim
        station = {
            "model": sim.model,
            "vendor_name": sim.vendor,
            "serial_number": sim.serial,
            "firmware_version": sim.firmware,
        }
        result = await sim._request(call.BootNotification(charging_station=station, reason=reason))
        # Pending or Rejected: the interval is when to boot again, not a heartbeat interval.
        if result.interval > 0 and result.status == "Accepted":
            sim.heartbeat_interval = result.interval
            sim.variables[("OCPPCommCtrlr", "HeartbeatInterval")] = str(result.interval)
        return str(result.status)

    async def firmware_status(self, status: str, request_id: int | None, signed: bool) -> None:
        await self.sim._request(
            call.FirmwareStatusNotification(status=status, request_id=request_id)
        )

    async def status(self, evse_id: int, status: str, error_code: str) -> None:
        # 2.0.1 has no error code here; faults travel as NotifyEvent, which we do not model.
        await self.sim._request(
            call.StatusNotification(
                timestamp=iso(utc_now()),
                connector_status=status_201(status),
                evse_id=evse_id,
                connector_id=1,
            )
        )

    async def sign_certificate(self, csr: str, kind: str | None) -> str:
        result = await self.sim._request(call.SignCertificate(csr=csr, certificate_type=kind))
        return str(result.status)

    async def authorize(self, id_tag: str, token_type: str) -> str:
        result = await self.sim._request(
            call.Authorize(id_token={"id_token": id_tag, "type": token_type})
        )
        self.sim.id_tag_infos[id_tag.upper()] = result.id_token_info
        return str(result.id_token_info["status"])

    async def start(
        self, tx: SimTransaction, reading: Reading, reservation_id: int | None
    ) -> SimTransaction:
        tx_id, remote_start_id = str(uuid.uuid4()), tx.remote_start_id
        result = await self.sim._request(
            call.TransactionEvent(
                event_type="Started",
                timestamp=iso(reading.timestamp),
                trigger_reason="RemoteStart" if remote_start_id is not None else "Authorized",
                seq_no=0,
                transaction_info={
                    "transaction_id": tx_id,
                    "charging_state": "Charging",
                    "remote_start_id": remote_start_id,
                },
                id_token={"id_token": tx.id_tag, "type": tx.id_token_type},
                evse={"id": tx.evse_id, "connector_id": 1},
                meter_value=[self.register_value(tx, reading, "Transaction.Begin")],
                reservation_id=reservation_id,
            )
        )
        info = result.id_token_info
        status = str(info["status"]) if info else "Accepted"
        if info:
            self.sim.id_tag_infos[tx.id_tag.upper()] = info
        return dataclasses.replace(tx, transaction_id=tx_id, status=status, seq_no=1)

    async def meter(
        self, evse_id: int, reading: Reading, tx: SimTransaction | None, context: str
    ) -> None:
        if tx is None:
            payload: Any = call.MeterValues(
                evse_id=evse_id, meter_value=[self.meter_value(reading, context, full=False)]
            )
        else:
            seq_no, tx.seq_no = tx.seq_no, tx.seq_no + 1
            payload = call.TransactionEvent(
                event_type="Updated",
                timestamp=iso(reading.timestamp),
                trigger_reason="MeterValuePeriodic" if context == "Sample.Periodic" else "Trigger",
                seq_no=seq_no,
                transaction_info={
                    "transaction_id": tx.transaction_id,
                    "charging_state": "Charging",
                },
                meter_value=[self.meter_value(reading, context, full=True)],
            )
        await self.sim._request(payload)

    async def stop(
        self, tx: SimTransaction, reading: Reading, reason: str, id_tag: str | None
    ) -> str | None:
        stopped = reason if reason in STOPPED_REASONS else FROM_16.get(reason, "Other")
        trigger = (
            "UnlockCommand"
            if reason == "UnlockCommand"
            else TRIGGERS.get(stopped, "AbnormalCondition")
        )
        seq_no, tx.seq_no = tx.seq_no, tx.seq_no + 1
        token = id_tag or tx.id_tag if trigger == "StopAuthorized" else None
        result = await self.sim._request(
            call.TransactionEvent(
                event_type="Ended",
                timestamp=iso(reading.timestamp),
                trigger_reason=trigger,
                seq_no=seq_no,
                transaction_info={
                    "transaction_id": tx.transaction_id,
                    "charging_state": "Idle" if stopped == "EVDisconnected" else "EVConnected",
                    "stopped_reason": stopped,
                },
                id_token={"id_token": token, "type": tx.id_token_type} if token else None,
                meter_value=[self.register_value(tx, reading, "Transaction.End")],
            )
        )
        info = result.id_token_info
        return str(info["status"]) if info else None

    @staticmethod
    def sampled(value: float, measurand: str, unit: str, context: str) -> dict[str, Any]:
        return {
            "value": int(value) if unit == "Wh" else value,
            "context": context,
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unit_of_measure": {"unit": unit},
        }

    def register_value(self, tx: SimTransaction, reading: Reading, context: str) -> dict[str, Any]:
        """The register reading that opens or closes a transaction, with its signature if signed."""
        value = self.meter_value(reading, context, full=False)
        sim = self.sim
        if sim.signed:
            record = ocmf(sim.id, sim.serial, tx.id_tag, reading, context == "Transaction.Begin")
            value["sampled_value"][0]["signed_meter_value"] = {
                "signed_meter_data": record,
                "signing_method": SIGNING_METHOD,
                "encoding_method": "OCMF",
                "public_key": public_key(sim.id),
            }
        return value

    async def report(self, request_id: int, wanted: set[Key] | None = None) -> None:
        """NotifyReport of every variable, or of those `wanted` ((component, None) for all of a
        component's)."""
        variables = self.sim.variables
        data = []
        for (component, variable), value in variables.items():
            key = (component, variable)
            if wanted is not None and key not in wanted and (component, None) not in wanted:
                continue
            attribute: dict[str, Any] = {"type": "Actual"}
            if key in WRITE_ONLY:
                attribute["mutability"] = "WriteOnly"
            else:
                attribute["value"] = value
                attribute["mutability"] = "ReadOnly" if key in READ_ONLY else "ReadWrite"
            data.append(
                {
                    "component": {"name": component},
                    "variable": {"name": variable},
                    "variable_attribute": [attribute],
                    "variable_characteristics": {
                        "data_type": _data_type(value),
                        "supports_monitoring": False,
                    },
                }
            )
        await self.sim._request(
            call.NotifyReport(
                request_id=request_id,
                generated_at=iso(utc_now()),
                seq_no=0,
                report_data=data,
                tbc=False,
            )
        )

    # ---------------------------------------------------------------- CALLs from the CSMS
    # Those answered alike in 1.6 are in Adapter.

    def _evses(self, evse: dict[str, Any] | None) -> list[int]:
        return [evse["id"]] if evse and evse.get("id") else self.sim.evse_ids

    @on(Action.request_start_transaction)
    def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        call_unique_id: str,
        evse_id: int | None = None,
        **_: Any,
    ) -> call_result.RequestStartTransaction:
        tag = id_token["id_token"]
        status = self._decide_start(call_unique_id, "RequestStartTransaction", evse_id, tag)
        return call_result.RequestStartTransaction(status=status)

    @after(Action.request_start_transaction)
    def after_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, call_unique_id: str, **_: Any
    ) -> None:
        check = self.sim.variables.get(("AuthCtrlr", "AuthorizeRemoteStart")) == "true"
        tag, kind = id_token["id_token"], id_token["type"]
        self._start_if_accepted(call_unique_id, tag, remote_start_id, kind, check)

    @on(Action.request_stop_transaction)
    async def on_request_stop(
        self, transaction_id: str, call_unique_id: str, **_: Any
    ) -> call_result.RequestStopTransaction:
        status = await self._decide_stop(call_unique_id, "RequestStopTransaction", transaction_id)
        return call_result.RequestStopTransaction(status=status)

    @after(Action.request_stop_transaction)
    def after_request_stop(self, call_unique_id: str, **_: Any) -> None:
        self._stop_if_accepted(call_unique_id)

    @on(Action.unlock_connector)
    def on_unlock(self, evse_id: int, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        sim = self.sim
        if evse_id not in sim.evse_ids or connector_id != 1:
            default = "UnknownConnector"
        elif evse_id in sim.transactions:
            default = "OngoingAuthorizedTransaction"
        else:
            default = "Unlocked"
        return call_result.UnlockConnector(status=sim._answer("UnlockConnector", default))

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        if not self.sim.local_list_supported:
            # 2.0.1 has no NotSupported status here: a station without the feature says so in a CALLERROR.
            raise NotSupportedError(description="this station keeps no local authorization list")
        entries = [
            (e["id_token"]["id_token"], (e.get("id_token_info") or {}).get("status"))
            for e in local_authorization_list or []
        ]
        return call_result.SendLocalList(
            status=self.sim._local_list(version_number, update_type, entries)
        )

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        sim, profile = self.sim, charging_profile
        if not sim.smart_charging_supported:
            # A station without the SmartCharging functional block knows no such message.
            raise NotSupportedError(description="this station does no smart charging")
        status = sim._set_profile(
            evse_id,
            profile["charging_profile_purpose"],
            profile.get("transaction_id"),
            profile["id"],
            profile["charging_schedule"][0],
            profile,
        )
        return call_result.SetChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, **_: Any
    ) -> call_result.GetCompositeSchedule:
        limit = self.sim._composite(evse_id)
        if limit is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        schedule = {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": iso(utc_now()),
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": limit}],
        }
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(
        self, request_id: int, call_unique_id: str, evse_id: int | None = None, **_: Any
    ) -> call_result.GetChargingProfiles:
        found = [(e, p) for (e, _), p in self.sim.profiles.items() if evse_id in (None, e)]
        status = self._decide(
            call_unique_id, "GetChargingProfiles", "Accepted" if found else "NoProfiles",
            (request_id, found),
        )  # fmt: skip
        return call_result.GetChargingProfiles(status=status)

    @after(Action.get_charging_profiles)
    def after_get_charging_profiles(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status != "Accepted":
            return
        request_id, found = data
        for n, (evse, profile) in enumerate(found):
            report = call.ReportChargingProfiles(
                request_id=request_id,
                charging_limit_source="CSO",
                evse_id=evse,
                charging_profile=[profile],
                tbc=n < len(found) - 1,
            )
            self.sim._spawn(self.sim._request(report))

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        if not self.sim.smart_charging_supported:
            raise NotSupportedError(description="this station does no smart charging")
        criteria = charging_profile_criteria or {}
        status = self.sim._clear_limits(
            criteria.get("evse_id"), charging_profile_id, criteria.get("charging_profile_purpose")
        )
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(version_number=self.sim.local_list_version)

    @on(Action.update_firmware)
    def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], call_unique_id: str, **_: Any
    ) -> call_result.UpdateFirmware:
        signed = "signature" in firmware
        data = (firmware["location"], request_id, signed)
        status = self._decide(call_unique_id, "UpdateFirmware", "Accepted", data)
        return call_result.UpdateFirmware(status=status)

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        status, (location, request_id, signed) = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self.sim._update_firmware(location, request_id, signed))

    @on(Action.publish_firmware)
    def on_publish_firmware(
        self, location: str, checksum: str, request_id: int, call_unique_id: str, **_: Any
    ) -> call_result.PublishFirmware:
        status = self._decide(
            call_unique_id, "PublishFirmware", "Accepted", (location, checksum, request_id)
        )
        return call_result.PublishFirmware(status=status)

    @after(Action.publish_firmware)
    def after_publish_firmware(self, call_unique_id: str, **_: Any) -> None:
        status, (location, checksum, request_id) = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self._publish(location, checksum, request_id))

    async def _publish(self, location: str, checksum: str, request_id: int) -> None:
        """A local controller: fetch, check the MD5, serve (at URLs of its own)."""
        for status in ("Downloading", "Downloaded", "ChecksumVerified"):
            await self.sim._request(
                call.PublishFirmwareStatusNotification(status=status, request_id=request_id)
            )
        name = location.rstrip("/").rsplit("/", 1)[-1] or "image"
        served = [f"http://lc.local/firmware/{name}", f"ftp://lc.local/firmware/{name}"]
        self.sim.published[checksum] = served
        await self.sim._request(
            call.PublishFirmwareStatusNotification(
                status="Published", location=served, request_id=request_id
            )
        )

    @on(Action.unpublish_firmware)
    def on_unpublish_firmware(self, checksum: str, **_: Any) -> call_result.UnpublishFirmware:
        known = self.sim.published.pop(checksum, None) is not None
        return call_result.UnpublishFirmware(status="Unpublished" if known else "NoFirmware")

    @on(Action.reset)
    def on_reset(
        self, type: str, call_unique_id: str, evse_id: int | None = None, **_: Any
    ) -> call_result.Reset:
        sim = self.sim
        busy = evse_id in sim.transactions if evse_id else bool(sim.transactions)
        if evse_id and evse_id not in sim.evse_ids:
            default = "Rejected"
        elif type == "OnIdle" and busy:
            default = "Scheduled"
        else:
            default = "Accepted"
        status = self._decide(call_unique_id, "Reset", default, evse_id)
        if status == "Scheduled" and not evse_id:
            sim._reset_when_idle = True
        return call_result.Reset(status=status)

    @after(Action.reset)
    def after_reset(self, call_unique_id: str, **_: Any) -> None:
        status, evse = self._decision(call_unique_id)
        sim = self.sim
        if status != "Accepted":
            return
        if evse:
            # Resetting one EVSE ends its transaction but keeps the station online.
            if evse in sim.transactions:
                sim._spawn(sim._finish(evse, "ImmediateReset"))
        else:
            sim._spawn(sim._reboot("ImmediateReset", "RemoteReset"))

    @on(Action.change_availability)
    def on_change_availability(
        self,
        operational_status: str,
        call_unique_id: str,
        evse: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ChangeAvailability:
        evses = self._evses(evse)
        status = self._decide_availability(call_unique_id, evses, operational_status)
        return call_result.ChangeAvailability(status=status)

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        call_unique_id: str,
        evse_id: int | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        tag = id_token["id_token"]
        evse = evse_id or self.sim._free_evse(tag)
        status = self._reserve(call_unique_id, id, evse, tag, expiry_date_time)
        return call_result.ReserveNow(status=status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
        self, certificate_type: list[str] | None = None, **_: Any
    ) -> call_result.GetInstalledCertificateIds:
        roots = self.sim.certificates.roots
        chain = [
            {"certificate_type": kind, "certificate_hash_data": certificates.hash_data(pem)}
            for kind, pems in roots.items()
            if certificate_type is None or kind in certificate_type
            for pem in pems
        ]
        status = self.sim._answer("GetInstalledCertificateIds", "Accepted" if chain else "NotFound")
        return call_result.GetInstalledCertificateIds(
            status=status, certificate_hash_data_chain=chain or None
        )

    @on(Action.trigger_message)
    def on_trigger_message(
        self,
        requested_message: str,
        call_unique_id: str,
        evse: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.TriggerMessage:
        evses = self._evses(evse)
        status = self._decide_trigger(call_unique_id, requested_message, evses)
        return call_result.TriggerMessage(status=status)

    def _within_items_per_message(self, items: list[dict[str, Any]]) -> None:
        """A real charger refuses a request with more items than its ItemsPerMessage says."""
        most = self.sim.variables.get(("DeviceDataCtrlr", "ItemsPerMessage"))
        if most is not None and len(items) > int(most):
            raise OccurenceConstraintViolationError(
                description=f"{len(items)} items, ItemsPerMessage is {most}"
            )

    @on(Action.get_report)
    def on_get_report(
        self,
        request_id: int,
        call_unique_id: str,
        component_variable: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.GetReport:
        wanted: set[Key] | None = None
        if component_variable:
            wanted = {
                (item["component"]["name"], (item.get("variable") or {}).get("name"))
                for item in component_variable
            }
            matching = [
                key for key in self.sim.variables if key in wanted or (key[0], None) in wanted
            ]
            if not matching:
                return call_result.GetReport(status="EmptyResultSet")
        status = self._decide(call_unique_id, "GetReport", "Accepted", (request_id, wanted))
        return call_result.GetReport(status=status)

    @after(Action.get_report)
    def after_get_report(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self.report(*data))

    @on(Action.get_variables)
    def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        self._within_items_per_message(get_variable_data)
        variables = self.sim.variables
        results = []
        for item in get_variable_data:
            key = (item["component"]["name"], item["variable"]["name"])
            kind = item.get("attribute_type", "Actual")
            result = {"component": item["component"], "variable": item["variable"]}
            if "attribute_type" in item:
                result["attribute_type"] = kind
            status = _lookup(variables, key)
            if status == "Accepted" and kind != "Actual":
                status = "NotSupportedAttributeType"
            elif status == "Accepted" and key in WRITE_ONLY:
                status = "Rejected"
            if status == "Accepted":
                result["attribute_value"] = variables[key]
            result["attribute_status"] = status
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariables:
        self._within_items_per_message(set_variable_data)
        sim = self.sim
        results = []
        for item in set_variable_data:
            key = (item["component"]["name"], item["variable"]["name"])
            kind = item.get("attribute_type", "Actual")
            value = str(item["attribute_value"])
            status = _lookup(sim.variables, key)
            if status == "Accepted" and kind != "Actual":
                status = "NotSupportedAttributeType"
            elif status == "Accepted" and (
                key in READ_ONLY or not _valid(value, sim.variables[key])
            ):
                status = "Rejected"
            status = sim._answer("SetVariables", status) if status == "Accepted" else status
            if status == "Accepted":
                sim.variables[key] = value
                if key == ("OCPPCommCtrlr", "HeartbeatInterval"):
                    sim.heartbeat_interval = int(value)
                if key == ("SecurityCtrlr", "BasicAuthPassword"):
                    sim.password = value  # the Basic auth password of its next connection
            result = {"component": item["component"], "variable": item["variable"]}
            if "attribute_type" in item:
                result["attribute_type"] = kind
            result["attribute_status"] = status
            results.append(result)
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    def on_get_base_report(
        self, request_id: int, call_unique_id: str, **_: Any
    ) -> call_result.GetBaseReport:
        status = self._decide(call_unique_id, "GetBaseReport", "Accepted", request_id)
        return call_result.GetBaseReport(status=status)

    @after(Action.get_base_report)
    def after_get_base_report(self, call_unique_id: str, **_: Any) -> None:
        status, request_id = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self.report(request_id))

    @on(Action.set_display_message)
    def on_set_display_message(
        self, message: dict[str, Any], **_: Any
    ) -> call_result.SetDisplayMessage:
        status = self.sim._answer("SetDisplayMessage", "Accepted")
        if status == "Accepted":
            self.sim.display_messages[message["id"]] = message
        return call_result.SetDisplayMessage(status=status)

    @on(Action.get_display_messages)
    def on_get_display_messages(
        self,
        request_id: int,
        call_unique_id: str,
        id: list[int] | None = None,
        priority: str | None = None,
        state: str | None = None,
        **_: Any,
    ) -> call_result.GetDisplayMessages:
        found = [
            m
            for i, m in self.sim.display_messages.items()
            if (not id or i in id)
            and priority in (None, m.get("priority"))
            and state in (None, m.get("state"))
        ]
        status = self._decide(
            call_unique_id, "GetDisplayMessages", "Accepted" if found else "Unknown",
            (request_id, found),
        )  # fmt: skip
        return call_result.GetDisplayMessages(status=status)

    @after(Action.get_display_messages)
    def after_get_display_messages(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status == "Accepted":
            request_id, found = data
            notify = call.NotifyDisplayMessages(request_id=request_id, message_info=found)
            self.sim._spawn(self.sim._request(notify))

    @on(Action.clear_display_message)
    def on_clear_display_message(self, id: int, **_: Any) -> call_result.ClearDisplayMessage:
        known = self.sim.display_messages.pop(id, None) is not None
        status = self.sim._answer("ClearDisplayMessage", "Accepted" if known else "Unknown")
        return call_result.ClearDisplayMessage(status=status)

    @on(Action.set_variable_monitoring)
    def on_set_variable_monitoring(
        self, set_monitoring_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariableMonitoring:
        self._within_items_per_message(set_monitoring_data)
        sim, results = self.sim, []
        for item in set_monitoring_data:
            key = (item["component"]["name"], item["variable"]["name"])
            status = _lookup(sim.variables, key)
            result: dict[str, Any] = {
                "type": item["type"],
                "severity": item["severity"],
                "component": item["component"],
                "variable": item["variable"],
            }
            if status == "Accepted":
                monitor_id = item.get("id", max(sim.monitors, default=0) + 1)
                sim.monitors[monitor_id] = item | {"id": monitor_id}
                result["id"] = monitor_id
            result["status"] = status
            results.append(result)
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    @on(Action.clear_variable_monitoring)
    def on_clear_variable_monitoring(
        self, id: list[int], **_: Any
    ) -> call_result.ClearVariableMonitoring:
        results = [
            {"id": i, "status": "Accepted" if self.sim.monitors.pop(i, None) else "NotFound"}
            for i in id
        ]
        return call_result.ClearVariableMonitoring(clear_monitoring_result=results)

    @on(Action.set_monitoring_base)
    def on_set_monitoring_base(
        self, monitoring_base: str, **_: Any
    ) -> call_result.SetMonitoringBase:
        self.sim.monitoring["base"] = monitoring_base
        return call_result.SetMonitoringBase(
            status=self.sim._answer("SetMonitoringBase", "Accepted")
        )

    @on(Action.set_monitoring_level)
    def on_set_monitoring_level(self, severity: int, **_: Any) -> call_result.SetMonitoringLevel:
        self.sim.monitoring["level"] = severity
        status = self.sim._answer("SetMonitoringLevel", "Accepted")
        return call_result.SetMonitoringLevel(status=status)

    @on(Action.get_monitoring_report)
    def on_get_monitoring_report(
        self, request_id: int, call_unique_id: str, **_: Any
    ) -> call_result.GetMonitoringReport:
        found = list(self.sim.monitors.values())
        default = "Accepted" if found else "EmptyResultSet"
        status = self._decide(call_unique_id, "GetMonitoringReport", default, (request_id, found))
        return call_result.GetMonitoringReport(status=status)

    @after(Action.get_monitoring_report)
    def after_get_monitoring_report(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status != "Accepted":
            return
        request_id, found = data
        monitors = [
            {
                "component": m["component"],
                "variable": m["variable"],
                "variable_monitoring": [
                    {
                        "id": m["id"],
                        "transaction": bool(m.get("transaction", False)),
                        "value": m["value"],
                        "type": m["type"],
                        "severity": m["severity"],
                    }
                ],
            }
            for m in found
        ]
        notify = call.NotifyMonitoringReport(
            request_id=request_id, seq_no=0, generated_at=iso(utc_now()), monitor=monitors
        )
        self.sim._spawn(self.sim._request(notify))

    @on(Action.customer_information)
    def on_customer_information(
        self,
        request_id: int,
        report: bool,
        clear: bool,
        call_unique_id: str,
        id_token: dict[str, Any] | None = None,
        customer_identifier: str | None = None,
        **_: Any,
    ) -> call_result.CustomerInformation:
        who = customer_identifier or (id_token or {}).get("id_token", "")
        status = self._decide(
            call_unique_id, "CustomerInformation", "Accepted", (request_id, who, report, clear)
        )
        return call_result.CustomerInformation(status=status)

    @after(Action.customer_information)
    def after_customer_information(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status != "Accepted":
            return
        request_id, who, report, clear = data
        held = self.sim.customers.get(who, "")
        if clear:
            self.sim.customers.pop(who, None)
        if report:
            notify = call.NotifyCustomerInformation(
                data=held or "no data", seq_no=0, generated_at=iso(utc_now()), request_id=request_id
            )
            self.sim._spawn(self.sim._request(notify))

    @on(Action.set_network_profile)
    def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> call_result.SetNetworkProfile:
        status = self.sim._answer("SetNetworkProfile", "Accepted")
        if status == "Accepted":
            self.sim.network_profiles[configuration_slot] = connection_data
        return call_result.SetNetworkProfile(status=status)

    @on(Action.cost_updated)
    def on_cost_updated(
        self, total_cost: float, transaction_id: str, **_: Any
    ) -> call_result.CostUpdated:
        self.sim.costs[transaction_id] = total_cost
        return call_result.CostUpdated()

    @on(Action.get_transaction_status)
    def on_get_transaction_status(
        self, transaction_id: str | None = None, **_: Any
    ) -> call_result.GetTransactionStatus:
        # Nothing is ever queued: the simulator is either online or not sending at all.
        ongoing = None if transaction_id is None else self.sim._tx_evse(transaction_id) is not None
        return call_result.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=ongoing)


def _lookup(variables: dict[Key, str], key: Key) -> str:
    if key in variables:
        return "Accepted"
    if any(component == key[0] for component, _ in variables):
        return "UnknownVariable"
    return "UnknownComponent"


def _valid(value: str, current: str) -> bool:
    if current in ("true", "false"):
        return value.lower() in ("true", "false")
    if current.isdigit():
        return value.isdigit()
    return True
