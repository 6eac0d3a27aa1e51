"""The two OCPP dialects: each version's messages from a charger, and its answers to the CSMS's CALLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.typing import Subprotocol

from simulators.fleet.wire import iso_now

if TYPE_CHECKING:
    from simulators.fleet.charger import _Charger


VENDOR, MODEL, FIRMWARE = "CPO-Sim", "Fleet", "1.0"
POWER_W = 11_000.0


@dataclass(slots=True)
class _Session:
    id_tag: str
    remote_start_id: int | None
    ends_at: float = 0.0
    next_meter: float = 0.0
    last_sample: float = 0.0  # loop time of the last register reading
    transaction_id: Any = None  # 1.6: the CSMS's int; 2.0.1: our string
    seq_no: int = 0


Frame = tuple[str, dict[str, Any]]
Followup = tuple[Any, ...]


def boot_16(
    vendor: str, model: str, serial_number: str | None = None, firmware: str | None = None
) -> Frame:
    """A 1.6 BootNotification; the optional fields left out when None."""
    payload = {"chargePointVendor": vendor, "chargePointModel": model}
    if serial_number is not None:
        payload["chargePointSerialNumber"] = serial_number
    if firmware is not None:
        payload["firmwareVersion"] = firmware
    return "BootNotification", payload


class _Dialect:
    """One OCPP version's message shapes and its answers to the CSMS's CALLs."""

    version = ""
    subprotocol = Subprotocol("")
    busy_status = ""  # connector status while a driver is there
    charging_status: str | None = None  # once the transaction runs (1.6 only)

    def boot(self, ch: _Charger, reason: str) -> Frame:
        raise NotImplementedError

    def status(self, ch: _Charger) -> Frame:
        raise NotImplementedError

    def authorize(self, id_tag: str) -> Frame:
        raise NotImplementedError

    def authorized(self, reply: dict[str, Any]) -> str:
        raise NotImplementedError

    def start(self, ch: _Charger, s: _Session) -> Frame:
        raise NotImplementedError

    def started(self, reply: dict[str, Any], s: _Session) -> str:
        """The token's status in the start's answer; notes the transaction id the CSMS gives."""
        raise NotImplementedError

    def meter(self, ch: _Charger, s: _Session | None, trigger: bool = False) -> Frame:
        raise NotImplementedError

    def stop(self, ch: _Charger, s: _Session, reason: str) -> Frame:
        raise NotImplementedError

    def answer(self, ch: _Charger, action: str, p: dict[str, Any]) -> dict[str, Any] | None:
        """The CALLRESULT payload for a CSMS CALL (None: answer NotImplemented)."""
        raise NotImplementedError

    @staticmethod
    def remote_stop(ch: _Charger, transaction_id: Any) -> dict[str, Any]:
        """A remote stop of the session this charger runs (either version's id)."""
        s = ch.session
        ok = s is not None and s.transaction_id == transaction_id
        if ok:
            ch.followups.append(("stop", "Remote"))
        return {"status": "Accepted" if ok else "Rejected"}


class _V16(_Dialect):
    version = "1.6"
    subprotocol = Subprotocol("ocpp1.6")
    busy_status = "Preparing"
    charging_status = "Charging"
    REASONS = {"ImmediateReset": "HardReset"}
    TRIGGERS = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})

    def boot(self, ch: _Charger, reason: str) -> Frame:
        return boot_16(VENDOR, MODEL, ch.id[-25:], FIRMWARE)

    def status(self, ch: _Charger) -> Frame:
        return "StatusNotification", {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": ch.status,
            "timestamp": iso_now(),
        }

    def authorize(self, id_tag: str) -> Frame:
        return "Authorize", {"idTag": id_tag}

    def authorized(self, reply: dict[str, Any]) -> str:
        return str((reply.get("idTagInfo") or {}).get("status"))

    def start(self, ch: _Charger, s: _Session) -> Frame:
        return "StartTransaction", {
            "connectorId": 1,
            "idTag": s.id_tag,
            "meterStart": int(ch.meter_wh),
            "timestamp": iso_now(),
        }

    def started(self, reply: dict[str, Any], s: _Session) -> str:
        s.transaction_id = reply.get("transactionId")
        return self.authorized(reply)

    @staticmethod
    def _sample(ch: _Charger, context: str, power: bool) -> dict[str, Any]:
        values = [
            {
                "value": str(int(ch.meter_wh)),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unit": "Wh",
            }
        ]
        if power:
            values.append(
                {
                    "value": f"{POWER_W:.1f}",
                    "context": context,
                    "measurand": "Power.Active.Import",
                    "location": "Outlet",
                    "unit": "W",
                }
            )
        return {"timestamp": iso_now(), "sampledValue": values}

    def meter(self, ch: _Charger, s: _Session | None, trigger: bool = False) -> Frame:
        context = "Trigger" if trigger else "Sample.Periodic"
        payload: dict[str, Any] = {
            "connectorId": 1,
            "meterValue": [self._sample(ch, context, power=s is not None)],
        }
        if s is not None:
            payload["transactionId"] = s.transaction_id
        return "MeterValues", payload

    def stop(self, ch: _Charger, s: _Session, reason: str) -> Frame:
        return "StopTransaction", {
            "transactionId": s.transaction_id,
            "meterStop": int(ch.meter_wh),
            "timestamp": iso_now(),
            "idTag": s.id_tag,
            "reason": self.REASONS.get(reason, reason),
            "transactionData": [self._sample(ch, "Transaction.End", power=False)],
        }

    def answer(self, ch: _Charger, action: str, p: dict[str, Any]) -> dict[str, Any] | None:
        match action:
            case "RemoteStartTransaction":
                ok = ch.can_start() and isinstance(p.get("idTag"), str)
                if ok:
                    ch.followups.append(("start", p["idTag"], None))
                return {"status": "Accepted" if ok else "Rejected"}
            case "RemoteStopTransaction":
                return self.remote_stop(ch, p.get("transactionId"))
            case "Reset":
                ch.followups.append(
                    ("reset", "HardReset" if p.get("type") == "Hard" else "SoftReset")
                )
                return {"status": "Accepted"}
            case "TriggerMessage" | "ExtendedTriggerMessage":
                message = p.get("requestedMessage")
                if message not in self.TRIGGERS:
                    return {"status": "NotImplemented"}
                ch.followups.append(("trigger", message))
                return {"status": "Accepted"}
            case "ChangeAvailability":
                return {"status": ch.change_availability(p.get("type") == "Operative")}
            case "ChangeConfiguration":
                key, value = str(p.get("key", "")), str(p.get("value", ""))
                if key.lower() == "heartbeatinterval":
                    if not value.isdigit():
                        return {"status": "Rejected"}
                    ch.set_heartbeat(float(value))
                    return {"status": "Accepted"}
                return {"status": "NotSupported"}
            case "GetConfiguration":
                known = {
                    "HeartbeatInterval": str(int(ch.heartbeat_interval)),
                    "MeterValueSampleInterval": str(int(ch.fleet.config.meter_interval)),
                    "NumberOfConnectors": "1",
                }
                wanted = p.get("key") or list(known)
                answer: dict[str, Any] = {
                    "configurationKey": [
                        {"key": k, "readonly": k == "NumberOfConnectors", "value": known[k]}
                        for k in wanted
                        if k in known
                    ]
                }
                if unknown := [k for k in wanted if k not in known]:
                    answer["unknownKey"] = unknown
                return answer
            case "UnlockConnector":
                return {"status": "Unlocked"}
            case "GetLocalListVersion":
                return {"listVersion": 0}
            case "GetDiagnostics" | "UpdateFirmware":
                return {}
            case "DataTransfer":
                return {"status": "UnknownVendorId"}
            case "GetCompositeSchedule" | "GetLog" | "SignedUpdateFirmware":
                return {"status": "Rejected"}
            case "GetInstalledCertificateIds" | "DeleteCertificate":
                return {"status": "NotFound"}
            case (
                "SendLocalList" | "CancelReservation" | "ClearCache" | "ClearChargingProfile"
                | "SetChargingProfile" | "ReserveNow" | "CertificateSigned" | "InstallCertificate"
            ):  # fmt: skip
                return {"status": "Accepted"}
        return None


class _V201(_Dialect):
    version = "2.0.1"
    subprotocol = Subprotocol("ocpp2.0.1")
    busy_status = "Occupied"
    TRIGGERS = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})
    STOPS = {  # stoppedReason -> triggerReason
        "Local": "StopAuthorized",
        "Remote": "RemoteStop",
        "PowerLoss": "AbnormalCondition",
        "ImmediateReset": "ResetCommand",
        "DeAuthorized": "Deauthorized",
    }

    def boot(self, ch: _Charger, reason: str) -> Frame:
        return "BootNotification", {
            "chargingStation": {
                "model": MODEL,
                "vendorName": VENDOR,
                "serialNumber": ch.id[-25:],
                "firmwareVersion": FIRMWARE,
            },
            "reason": reason,
        }

    def status(self, ch: _Charger) -> Frame:
        return "StatusNotification", {
            "timestamp": iso_now(),
            "connectorStatus": ch.status,
            "evseId": 1,
            "connectorId": 1,
        }

    def authorize(self, id_tag: str) -> Frame:
        return "Authorize", {"idToken": {"idToken": id_tag, "type": "ISO14443"}}

    def authorized(self, reply: dict[str, Any]) -> str:
        return str((reply.get("idTokenInfo") or {}).get("status"))

    @staticmethod
    def _sample(ch: _Charger, context: str, power: bool) -> dict[str, Any]:
        values: list[dict[str, Any]] = [
            {
                "value": int(ch.meter_wh),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unitOfMeasure": {"unit": "Wh"},
            }
        ]
        if power:
            values.append(
                {
                    "value": POWER_W,
                    "context": context,
                    "measurand": "Power.Active.Import",
                    "location": "Outlet",
                    "unitOfMeasure": {"unit": "W"},
                }
            )
        return {"timestamp": iso_now(), "sampledValue": values}

    def _event(self, s: _Session, kind: str, trigger: str, info: dict[str, Any]) -> dict[str, Any]:
        seq_no, s.seq_no = s.seq_no, s.seq_no + 1
        return {
            "eventType": kind,
            "timestamp": iso_now(),
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": s.transaction_id} | info,
        }

    def start(self, ch: _Charger, s: _Session) -> Frame:
        s.transaction_id = ch.draws.uuid()
        info: dict[str, Any] = {"chargingState": "Charging"}
        if s.remote_start_id is not None:
            info["remoteStartId"] = s.remote_start_id
        trigger = "Authorized" if s.remote_start_id is None else "RemoteStart"
        return "TransactionEvent", self._event(s, "Started", trigger, info) | {
            "idToken": {"idToken": s.id_tag, "type": "ISO14443"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [self._sample(ch, "Transaction.Begin", power=False)],
        }

    def started(self, reply: dict[str, Any], s: _Session) -> str:
        info = reply.get("idTokenInfo")
        return str(info.get("status")) if isinstance(info, dict) else "Accepted"

    def meter(self, ch: _Charger, s: _Session | None, trigger: bool = False) -> Frame:
        context = "Trigger" if trigger else "Sample.Periodic"
        if s is None:
            return "MeterValues", {
                "evseId": 1,
                "meterValue": [self._sample(ch, context, power=False)],
            }
        reason = "Trigger" if trigger else "MeterValuePeriodic"
        return "TransactionEvent", self._event(
            s, "Updated", reason, {"chargingState": "Charging"}
        ) | {"meterValue": [self._sample(ch, context, power=True)]}

    def stop(self, ch: _Charger, s: _Session, reason: str) -> Frame:
        trigger = self.STOPS.get(reason, "AbnormalCondition")
        info = {"chargingState": "EVConnected", "stoppedReason": reason}
        payload = self._event(s, "Ended", trigger, info) | {
            "meterValue": [self._sample(ch, "Transaction.End", power=False)]
        }
        if trigger == "StopAuthorized":
            payload["idToken"] = {"idToken": s.id_tag, "type": "ISO14443"}
        return "TransactionEvent", payload

    def report(self, ch: _Charger, request_id: int) -> Frame:
        def item(
            component: dict[str, Any], variable: str, value: str, kind: str, mutability: str
        ) -> dict[str, Any]:
            return {
                "component": component,
                "variable": {"name": variable},
                "variableAttribute": [{"type": "Actual", "value": value, "mutability": mutability}],
                "variableCharacteristics": {"dataType": kind, "supportsMonitoring": False},
            }

        return "NotifyReport", {
            "requestId": request_id,
            "generatedAt": iso_now(),
            "seqNo": 0,
            "tbc": False,
            "reportData": [
                item(
                    {"name": "OCPPCommCtrlr"},
                    "HeartbeatInterval",
                    str(int(ch.heartbeat_interval)),
                    "integer",
                    "ReadWrite",
                ),
                item(
                    {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "AvailabilityState",
                    ch.status,
                    "OptionList",
                    "ReadOnly",
                ),
            ],
        }

    def variables(self, ch: _Charger) -> dict[tuple[str, str], str]:
        return {
            ("OCPPCommCtrlr", "HeartbeatInterval"): str(int(ch.heartbeat_interval)),
            ("SampledDataCtrlr", "TxUpdatedInterval"): str(int(ch.fleet.config.meter_interval)),
            ("SecurityCtrlr", "Identity"): ch.id,
        }

    def _variable_result(
        self, item: dict[str, Any], known: dict[tuple[str, str], str], status: str | None
    ) -> dict[str, Any]:
        component, variable = item.get("component") or {}, item.get("variable") or {}
        key = (component.get("name"), variable.get("name"))
        result: dict[str, Any] = {"component": component, "variable": variable}
        if "attributeType" in item:
            result["attributeType"] = item["attributeType"]
        if key not in known:
            components = {c for c, _ in known}
            status = "UnknownVariable" if key[0] in components else "UnknownComponent"
        result["attributeStatus"] = status or "Accepted"
        return result

    def answer(self, ch: _Charger, action: str, p: dict[str, Any]) -> dict[str, Any] | None:
        match action:
            case "RequestStartTransaction":
                token = (p.get("idToken") or {}).get("idToken")
                ok = ch.can_start() and isinstance(token, str)
                if ok:
                    ch.followups.append(("start", token, p.get("remoteStartId")))
                return {"status": "Accepted" if ok else "Rejected"}
            case "RequestStopTransaction":
                return self.remote_stop(ch, p.get("transactionId"))
            case "Reset":
                if p.get("type") == "OnIdle" and ch.session is not None:
                    return {"status": "Scheduled"}
                ch.followups.append(("reset", "ImmediateReset"))
                return {"status": "Accepted"}
            case "TriggerMessage":
                message = p.get("requestedMessage")
                if message == "TransactionEvent" and ch.session is not None:
                    message = "MeterValues"
                if message not in self.TRIGGERS:
                    return {
                        "status": "NotImplemented" if message != "TransactionEvent" else "Rejected"
                    }
                ch.followups.append(("trigger", message))
                return {"status": "Accepted"}
            case "ChangeAvailability":
                return {"status": ch.change_availability(p.get("operationalStatus") == "Operative")}
            case "GetVariables":
                known = self.variables(ch)
                results = []
                for item in p.get("getVariableData") or []:
                    result = self._variable_result(item, known, None)
                    key = (result["component"].get("name"), result["variable"].get("name"))
                    if result["attributeStatus"] == "Accepted":
                        result["attributeValue"] = known[key]
                    results.append(result)
                return {"getVariableResult": results}
            case "SetVariables":
                known = self.variables(ch)
                results = []
                for item in p.get("setVariableData") or []:
                    value = str(item.get("attributeValue", ""))
                    result = self._variable_result(item, known, "Rejected")
                    key = (result["component"].get("name"), result["variable"].get("name"))
                    if key == ("OCPPCommCtrlr", "HeartbeatInterval") and value.isdigit():
                        ch.set_heartbeat(float(value))
                        result["attributeStatus"] = "Accepted"
                    results.append(result)
                return {"setVariableResult": results}
            case "GetBaseReport":
                ch.followups.append(("report", p.get("requestId", 0)))
                return {"status": "Accepted"}
            case "GetReport" | "GetMonitoringReport" | "SetMonitoringBase":
                return {"status": "NotSupported"}
            case "GetTransactionStatus":
                s, asked = ch.session, p.get("transactionId")
                mine = s is not None and asked is not None and s.transaction_id == asked
                # An open transaction here ends with its own TransactionEvent, soon to be sent.
                answer: dict[str, Any] = {"messagesInQueue": mine}
                if asked is not None:
                    answer["ongoingIndicator"] = mine
                return answer
            case "UnlockConnector":
                busy = ch.session is not None
                return {"status": "OngoingAuthorizedTransaction" if busy else "Unlocked"}
            case "GetLocalListVersion":
                return {"versionNumber": 0}
            case "DataTransfer":
                return {"status": "UnknownVendorId"}
            case "GetInstalledCertificateIds" | "DeleteCertificate":
                return {"status": "NotFound"}
            case (
                "GetLog" | "UpdateFirmware" | "PublishFirmware" | "CustomerInformation"
                | "GetCompositeSchedule" | "SetNetworkProfile" | "SetDisplayMessage"
                | "SetMonitoringLevel"
            ):  # fmt: skip
                return {"status": "Rejected"}
            case "GetChargingProfiles":
                return {"status": "NoProfiles"}
            case "ClearChargingProfile" | "ClearDisplayMessage" | "GetDisplayMessages":
                return {"status": "Unknown"}
            case "UnpublishFirmware":
                return {"status": "NoFirmware"}
            case "CostUpdated":
                return {}
            case (
                "SendLocalList" | "CancelReservation" | "ClearCache" | "SetChargingProfile"
                | "ReserveNow" | "CertificateSigned" | "InstallCertificate"
            ):  # fmt: skip
                return {"status": "Accepted"}
        return None


V16, V201 = _V16(), _V201()
