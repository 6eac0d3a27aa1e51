"""What a 2.0.1 charger watches and tells by itself (block N): variable monitors
(SetVariableMonitoring, ClearVariableMonitoring), which of them are active (SetMonitoringBase,
SetMonitoringLevel), GetMonitoringReport (answered by NotifyMonitoringReports, kept as events,
as the NotifyEvents the monitors trigger are), and CustomerInformation (what the charger holds
of a customer, reported by NotifyCustomerInformation or cleared)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ocpp.v201 import call as call201
from pydantic import ConfigDict, Field, model_validator

from csms.commands.device_model import ITEMS_MAX, VariableRef, batches
from csms.commands.port import (
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    Outcome,
    TokenType,
    answered,
    id_token,
    implements,
    request_ids,
    sends,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

Criterion = Literal["ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring"]
IDENTIFIER_MAX = 64  # CustomerInformation's customerIdentifier


class Monitor(VariableRef):
    """A monitor on one variable: a threshold, a change (Delta) or a period, with the severity
    (0 most severe .. 9) its events are told with."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned"]
    value: float = Field(allow_inf_nan=False, ge=-1e9, le=1e9)
    severity: int = Field(ge=0, le=9)
    id: int | None = Field(default=None, ge=0, le=INT32_MAX, description="To replace a monitor")
    transaction: bool | None = Field(default=None, description="Only during a transaction")


class SetVariableMonitoring(Command):
    name = "set_variable_monitoring"
    monitors: list[Monitor] = Field(min_length=1, max_length=ITEMS_MAX)


class ClearVariableMonitoring(Command):
    name = "clear_variable_monitoring"
    ids: list[int] = Field(min_length=1, max_length=ITEMS_MAX)


class SetMonitoringBase(Command):
    name = "set_monitoring_base"
    base: Literal["All", "FactoryDefault", "HardWiredOnly"]


class SetMonitoringLevel(Command):
    """Events of monitors with a severity above (less severe than) `severity` are not told."""

    name = "set_monitoring_level"
    severity: int = Field(ge=0, le=9)


class GetMonitoringReport(Command):
    name = "get_monitoring_report"
    criteria: list[Criterion] = Field(default_factory=list, max_length=3)
    components: list[VariableRef] = Field(default_factory=list, max_length=ITEMS_MAX)


class CustomerInformation(Command):
    """What the charger holds of one customer: reported (NotifyCustomerInformation, kept as
    events), cleared, or both. The customer is named by exactly one of its id token, an
    identifier, or (not offered here) a certificate."""

    name = "customer_information"
    report: bool = True
    clear: bool = False
    id_token: str | None = Field(default=None, min_length=1, max_length=36)
    token_type: TokenType = "ISO14443"
    customer_identifier: str | None = Field(default=None, min_length=1, max_length=IDENTIFIER_MAX)

    @model_validator(mode="after")
    def _one_customer(self) -> CustomerInformation:
        if (self.id_token is None) == (self.customer_identifier is None):
            raise ValueError("name the customer by id_token or customer_identifier")
        if not (self.report or self.clear):
            raise ValueError("ask for a report, a clear, or both")
        return self


@implements(SetVariableMonitoring, "2.0.1")
async def set_monitoring_201(
    conn: StationConnection, store: Store, command: SetVariableMonitoring, timeout: float | None
) -> CommandResult:
    items: list[dict[str, Any]] = []
    for monitor in command.monitors:
        item = monitor.wire() | {
            "type": monitor.type,
            "value": monitor.value,
            "severity": monitor.severity,
        }
        item.pop("attribute_type", None)
        if monitor.id is not None:
            item["id"] = monitor.id
        if monitor.transaction is not None:
            item["transaction"] = monitor.transaction
        items.append(item)
    per_message = await store.device_limit(
        conn.station_id, "ItemsPerMessage", "SetVariableMonitoring"
    )
    bytes_max = await store.device_limit(
        conn.station_id, "BytesPerMessage", "SetVariableMonitoring"
    )
    results: list[dict[str, Any]] = []
    for batch in batches(items, per_message, bytes_max):
        reply = await conn.call(call201.SetVariableMonitoring(set_monitoring_data=batch), timeout)
        results += list(reply.set_monitoring_result or [])
    statuses = {str(r.get("status")) for r in results}
    status = statuses.pop() if len(statuses) == 1 else "Partial"
    return CommandResult(Outcome.ANSWERED, status=status, data={"results": results})


@implements(ClearVariableMonitoring, "2.0.1")
async def clear_monitoring_201(
    conn: StationConnection, store: Store, command: ClearVariableMonitoring, timeout: float | None
) -> CommandResult:
    reply = await conn.call(call201.ClearVariableMonitoring(id=command.ids), timeout)
    results = list(reply.clear_monitoring_result or [])
    statuses = {str(r.get("status")) for r in results}
    status = statuses.pop() if len(statuses) == 1 else "Partial"
    return CommandResult(Outcome.ANSWERED, status=status, data={"results": results})


sends(SetMonitoringBase, "2.0.1", lambda c: call201.SetMonitoringBase(monitoring_base=c.base))
sends(SetMonitoringLevel, "2.0.1", lambda c: call201.SetMonitoringLevel(severity=c.severity))


@implements(GetMonitoringReport, "2.0.1")
async def monitoring_report_201(
    conn: StationConnection, store: Store, command: GetMonitoringReport, timeout: float | None
) -> CommandResult:
    components = []
    for ref in command.components:
        item = ref.wire()
        item.pop("attribute_type", None)
        components.append(item)
    request = call201.GetMonitoringReport(
        request_id=next(request_ids),
        component_variable=components or None,
        monitoring_criteria=list(command.criteria) or None,
    )
    result = answered(await conn.call(request, timeout))
    result.data["request_id"] = request.request_id
    return result


@implements(CustomerInformation, "2.0.1")
async def customer_201(
    conn: StationConnection, store: Store, command: CustomerInformation, timeout: float | None
) -> CommandResult:
    if command.id_token is not None and len(command.id_token) > 36:
        raise CommandInputError("an id token has at most 36 characters")
    request = call201.CustomerInformation(
        request_id=next(request_ids),
        report=command.report,
        clear=command.clear,
        id_token=id_token(command.id_token, command.token_type) if command.id_token else None,
        customer_identifier=command.customer_identifier,
    )
    result = answered(await conn.call(request, timeout))
    result.data["request_id"] = request.request_id
    return result
