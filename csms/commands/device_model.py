"""A 2.0.1 charger's device model: GetBaseReport and GetReport (answered by NotifyReports that
csms.device_model keeps), and GetVariables and SetVariables of many variables, instances and
EVSEs at once, sent in as many messages as the charger's DeviceDataCtrlr.ItemsPerMessage and
BytesPerMessage allow (read from its device model; without them, one message)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import orjson
from ocpp.v201 import call as call201
from pydantic import BaseModel, ConfigDict, Field

from csms.commands.port import (
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    Outcome,
    answered,
    implements,
    request_ids,
)
from csms.commands.security import not_the_password
from csms.device_model import NAME_MAX

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

ITEMS_MAX = 1000  # variables of one command, whatever the charger takes per message
VALUE_MAX = 1000  # an attribute value (the schema's SetVariableData.attributeValue)
ENVELOPE_BYTES = 100  # what a CALL frame adds around its payload
AttributeType = Literal["Actual", "Target", "MinSet", "MaxSet"]


class VariableRef(BaseModel):
    """One variable of one component: of the charger, or of an EVSE or a connector of it."""

    model_config = ConfigDict(extra="forbid")
    component: str = Field(min_length=1, max_length=NAME_MAX)
    component_instance: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    evse_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    connector_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    variable: str = Field(min_length=1, max_length=NAME_MAX)
    variable_instance: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    attribute_type: AttributeType | None = None

    def wire(self) -> dict[str, Any]:
        if self.connector_id is not None and self.evse_id is None:
            raise CommandInputError("a connector is named within its EVSE: give evse_id as well")
        component: dict[str, Any] = {"name": self.component}
        if self.component_instance:
            component["instance"] = self.component_instance
        if self.evse_id is not None:
            component["evse"] = {"id": self.evse_id} | (
                {"connector_id": self.connector_id} if self.connector_id else {}
            )
        variable: dict[str, Any] = {"name": self.variable}
        if self.variable_instance:
            variable["instance"] = self.variable_instance
        item: dict[str, Any] = {"component": component, "variable": variable}
        if self.attribute_type:
            item["attribute_type"] = self.attribute_type
        return item


class VariableValue(VariableRef):
    value: str = Field(max_length=VALUE_MAX)


class GetBaseReport(Command):
    name = "get_base_report"
    report_base: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] = (
        "FullInventory"
    )


class GetReport(Command):
    """The variables that meet all `criteria` (none: all), of the components named (none: all)."""

    name = "get_report"
    criteria: list[Literal["Active", "Available", "Enabled", "Problem"]] = Field(
        default_factory=list, max_length=4
    )
    components: list[VariableRef] = Field(default_factory=list, max_length=ITEMS_MAX)


class GetVariables(Command):
    name = "get_variables"
    variables: list[VariableRef] = Field(min_length=1, max_length=ITEMS_MAX)


class SetVariables(Command):
    name = "set_variables"
    variables: list[VariableValue] = Field(min_length=1, max_length=ITEMS_MAX)


def batches(
    items: list[dict[str, Any]], per_message: int | None, bytes_max: int | None
) -> list[list[dict[str, Any]]]:
    """`items` cut into messages of at most `per_message` items and `bytes_max` bytes each."""
    found: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = ENVELOPE_BYTES
    for item in items:
        item_size = len(orjson.dumps(item)) + 1
        if bytes_max is not None and ENVELOPE_BYTES + item_size > bytes_max:
            raise CommandInputError(
                f"{item['component']['name']}.{item['variable']['name']} alone is more than the"
                f" charger's BytesPerMessage ({bytes_max})"
            )
        full = per_message is not None and len(current) >= per_message
        too_big = bytes_max is not None and size + item_size > bytes_max
        if current and (full or too_big):
            found.append(current)
            current, size = [], ENVELOPE_BYTES
        current.append(item)
        size += item_size
    if current:
        found.append(current)
    return found


async def _in_batches(
    conn: StationConnection,
    store: Store,
    message: str,
    items: list[dict[str, Any]],
    send: Any,
    timeout: float | None,
) -> CommandResult:
    per_message = await store.device_limit(conn.station_id, "ItemsPerMessage", message)
    bytes_max = await store.device_limit(conn.station_id, "BytesPerMessage", message)
    results: list[dict[str, Any]] = []
    for batch in batches(items, per_message, bytes_max):
        results += await send(batch, timeout)
    await store.variables_answered(conn.station_id, results)
    statuses = {str(r.get("attribute_status")) for r in results}
    status = statuses.pop() if len(statuses) == 1 else "Partial"
    return CommandResult(Outcome.ANSWERED, status=status, data={"results": results})


@implements(GetBaseReport, "2.0.1")
async def base_report_201(
    conn: StationConnection, store: Store, command: GetBaseReport, timeout: float | None
) -> CommandResult:
    request = call201.GetBaseReport(request_id=next(request_ids), report_base=command.report_base)
    result = answered(await conn.call(request, timeout))
    result.data["request_id"] = request.request_id
    return result


@implements(GetReport, "2.0.1")
async def report_201(
    conn: StationConnection, store: Store, command: GetReport, timeout: float | None
) -> CommandResult:
    components = []
    for ref in command.components:
        item = ref.wire()
        item.pop("attribute_type", None)
        components.append(item)
    request = call201.GetReport(
        request_id=next(request_ids),
        component_criteria=list(command.criteria) or None,
        component_variable=components or None,
    )
    result = answered(await conn.call(request, timeout))
    result.data["request_id"] = request.request_id
    return result


@implements(GetVariables, "2.0.1")
async def get_201(
    conn: StationConnection, store: Store, command: GetVariables, timeout: float | None
) -> CommandResult:
    async def send(batch: list[dict[str, Any]], timeout: float | None) -> list[dict[str, Any]]:
        reply = await conn.call(call201.GetVariables(get_variable_data=batch), timeout)
        return list(reply.get_variable_result or [])

    items = [ref.wire() for ref in command.variables]
    return await _in_batches(conn, store, "GetVariables", items, send, timeout)


@implements(SetVariables, "2.0.1")
async def set_201(
    conn: StationConnection, store: Store, command: SetVariables, timeout: float | None
) -> CommandResult:
    async def send(batch: list[dict[str, Any]], timeout: float | None) -> list[dict[str, Any]]:
        reply = await conn.call(call201.SetVariables(set_variable_data=batch), timeout)
        answers = list(reply.set_variable_result or [])
        # An accepted value is what the charger holds now: keep it in the answer's words.
        sent = {_key(item): item["attribute_value"] for item in batch}
        return [
            a | {"attribute_value": sent[_key(a)]}
            if a.get("attribute_status") == "Accepted" and _key(a) in sent
            else a
            for a in answers
        ]

    items = []
    for ref in command.variables:
        item = ref.wire() | {"attribute_value": ref.value}
        try:
            not_the_password(f"{ref.component}.{ref.variable}")
        except ValueError as e:
            raise CommandInputError(str(e)) from None
        items.append(item)
    return await _in_batches(conn, store, "SetVariables", items, send, timeout)


def _key(item: dict[str, Any]) -> str:
    """A variable's identity in a request or an answer."""
    return orjson.dumps(
        [item.get("component"), item.get("variable"), item.get("attribute_type") or "Actual"],
        option=orjson.OPT_SORT_KEYS,
    ).decode()
