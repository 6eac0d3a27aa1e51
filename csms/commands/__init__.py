"""The version-neutral command port: what the platform can ask of a charger, one module per
command family (each saying how its commands read in OCPP 1.6 and 2.0.1), and typed outcomes.

`port.py` holds the port and its runner; `COMMANDS` (by name) is what the admin API, the CLI,
the console and the relay between nodes offer and rebuild."""

from __future__ import annotations

from csms.commands.certificates import (
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
    RenewCertificate,
)
from csms.commands.configuration import GetConfiguration, SetConfiguration
from csms.commands.control import ChangeAvailability, Reset, TriggerMessage, Unlock
from csms.commands.device_model import GetBaseReport, GetReport, GetVariables, SetVariables
from csms.commands.diagnostics import GetDiagnostics, GetLog
from csms.commands.display import (
    ClearDisplayMessage,
    CostUpdated,
    GetDisplayMessages,
    PriceMessage,
    SetDisplayMessage,
)
from csms.commands.firmware import PublishFirmware, UnpublishFirmware, UpdateFirmware
from csms.commands.local_list import ClearCache, GetLocalListVersion, LocalListEntry, SendLocalList
from csms.commands.monitoring import (
    ClearVariableMonitoring,
    CustomerInformation,
    GetMonitoringReport,
    SetMonitoringBase,
    SetMonitoringLevel,
    SetVariableMonitoring,
)
from csms.commands.port import (
    IMPLEMENTATIONS,
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    Commands,
    Outcome,
    TokenType,
    running_transaction,
    schedule_seconds,
)
from csms.commands.reservations import CancelReservation, Reserve
from csms.commands.security import SetNetworkProfile, SetPassword, UpgradeSecurityProfile
from csms.commands.smart_charging import ClearChargingLimit, SetChargingLimit
from csms.commands.transactions import GetTransactionStatus, RemoteStart, RemoteStop

COMMANDS: dict[str, type[Command]] = {command.name: command for command, _ in IMPLEMENTATIONS}

__all__ = [
    "RenewCertificate",
    "InstallCertificate",
    "GetInstalledCertificateIds",
    "DeleteCertificate",
    "COMMANDS",
    "CancelReservation",
    "ChangeAvailability",
    "ClearCache",
    "ClearChargingLimit",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "Command",
    "CommandInputError",
    "CommandResult",
    "Commands",
    "CostUpdated",
    "CustomerInformation",
    "GetBaseReport",
    "GetConfiguration",
    "GetDisplayMessages",
    "GetDiagnostics",
    "GetLog",
    "GetLocalListVersion",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "INT32_MAX",
    "LocalListEntry",
    "Outcome",
    "PriceMessage",
    "PublishFirmware",
    "RemoteStart",
    "RemoteStop",
    "Reserve",
    "Reset",
    "SendLocalList",
    "UnpublishFirmware",
    "SetChargingLimit",
    "SetConfiguration",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetPassword",
    "SetVariableMonitoring",
    "SetVariables",
    "TokenType",
    "TriggerMessage",
    "Unlock",
    "UpdateFirmware",
    "UpgradeSecurityProfile",
    "running_transaction",
    "schedule_seconds",
]
