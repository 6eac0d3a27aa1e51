"""What a charger shows its driver: 2.0.1 display messages (block O: SetDisplayMessage,
GetDisplayMessages answered by NotifyDisplayMessages and kept as events, ClearDisplayMessage);
the running cost of a transaction (2.0.1 block I, CostUpdated); and on 1.6, the prices and costs
of the Open Charge Alliance's "Using OCPP 1.6 for California Pricing Requirements" (DataTransfer,
vendorId org.openchargealliance.costmsg)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field

from csms import clock
from csms.commands.port import (
    ID_MAX,
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    answered,
    implements,
    request_ids,
    running_transaction,
    sends,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

Priority = Literal["AlwaysFront", "InFront", "NormalCycle"]
State = Literal["Charging", "Faulted", "Idle"]
CONTENT_MAX = 512  # MessageContentType.content


class SetDisplayMessage(Command):
    name = "set_display_message"
    id: int = Field(ge=0, le=INT32_MAX, description="The message's id; the same id replaces it")
    content: str = Field(min_length=1, max_length=CONTENT_MAX)
    format: Literal["ASCII", "HTML", "URI", "UTF8"] = "UTF8"
    language: str | None = Field(default=None, min_length=2, max_length=8)
    priority: Priority = "NormalCycle"
    state: State | None = Field(default=None, description="Shown only in this state")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    transaction_id: int | None = Field(
        default=None, ge=1, le=ID_MAX, description="Shown during this transaction only"
    )


class GetDisplayMessages(Command):
    name = "get_display_messages"
    ids: list[int] = Field(default_factory=list, max_length=100)
    priority: Priority | None = None
    state: State | None = None


class ClearDisplayMessage(Command):
    name = "clear_display_message"
    id: int = Field(ge=0, le=INT32_MAX)


class PriceMessage(Command):
    """A California Pricing message to a 1.6 charger: SetUserPrice (the price text for an
    idTag, before it charges), RunningCost (during the transaction), FinalCost (at its end).
    The charger answers Accepted, or UnknownVendorId / UnknownMessageId when it knows no such
    messages."""

    name = "price_message"
    message_id: Literal["SetUserPrice", "RunningCost", "FinalCost"]
    data: dict[str, Any] = Field(
        description="The message's JSON object, as the OCA document has it"
    )


class CostUpdated(Command):
    """Tells the charger what a running transaction costs so far, to show the driver."""

    name = "cost_updated"
    transaction_id: int = Field(ge=1, le=ID_MAX, description="The platform's transaction id")
    total_cost: float = Field(ge=0, le=1_000_000, allow_inf_nan=False)


@implements(SetDisplayMessage, "2.0.1")
async def set_201(
    conn: StationConnection, store: Store, command: SetDisplayMessage, timeout: float | None
) -> CommandResult:
    if command.starts_at and command.ends_at and command.starts_at >= command.ends_at:
        raise CommandInputError("the message would end before it starts")
    content = {"format": command.format, "content": command.content}
    if command.language:
        content["language"] = command.language
    message: dict[str, object] = {
        "id": command.id,
        "priority": command.priority,
        "message": content,
    }
    if command.state:
        message["state"] = command.state
    if command.starts_at:
        message["start_date_time"] = clock.iso(command.starts_at)
    if command.ends_at:
        message["end_date_time"] = clock.iso(command.ends_at)
    if command.transaction_id is not None:
        message["transaction_id"] = await running_transaction(
            store, conn.station_id, command.transaction_id
        )
    return answered(await conn.call(call201.SetDisplayMessage(message=message), timeout))


@implements(GetDisplayMessages, "2.0.1")
async def get_201(
    conn: StationConnection, store: Store, command: GetDisplayMessages, timeout: float | None
) -> CommandResult:
    request = call201.GetDisplayMessages(
        request_id=next(request_ids),
        id=command.ids or None,
        priority=command.priority,
        state=command.state,
    )
    result = answered(await conn.call(request, timeout))
    result.data["request_id"] = request.request_id
    return result


sends(ClearDisplayMessage, "2.0.1", lambda c: call201.ClearDisplayMessage(id=c.id))


@implements(CostUpdated, "2.0.1")
async def cost_201(
    conn: StationConnection, store: Store, command: CostUpdated, timeout: float | None
) -> CommandResult:
    tx_id = await running_transaction(store, conn.station_id, command.transaction_id)
    request = call201.CostUpdated(total_cost=round(command.total_cost, 2), transaction_id=tx_id)
    # CostUpdated's answer is empty: that it came is all it says.
    return answered(await conn.call(request, timeout), status="Accepted")


COSTMSG_VENDOR = "org.openchargealliance.costmsg"

sends(
    PriceMessage,
    "1.6",
    # 1.6 DataTransfer data is a string: the message's JSON, written as the document spells it.
    lambda c: call16.DataTransfer(
        vendor_id=COSTMSG_VENDOR, message_id=c.message_id, data=orjson.dumps(c.data).decode()
    ),
)
