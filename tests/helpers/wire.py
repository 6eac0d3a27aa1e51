"""A bare OCPP-J peer for tests that need to send what no well-behaved charger would."""

from __future__ import annotations

import base64
import itertools
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect

if TYPE_CHECKING:
    from tests.helpers.platform import Platform

_ids = itertools.count(1)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def open_raw(
    ws_url: str,
    station_id: str,
    subprotocols: list[str] | None = None,
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> ClientConnection:
    return await connect(
        f"{ws_url}/{quote(station_id, safe='')}",
        subprotocols=subprotocols if subprotocols is not None else ["ocpp1.6"],  # type: ignore[arg-type]
        additional_headers=headers or {},
        **{"open_timeout": 10} | kw,
    )


async def call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    """Send a CALL and return the reply frame (CALLRESULT or CALLERROR) with the same id."""
    message_id = str(next(_ids))
    await ws.send(json.dumps([2, message_id, action, payload]))
    return await reply(ws, message_id)


async def reply(ws: ClientConnection, message_id: str) -> list[Any]:
    while True:
        frame = json.loads(await ws.recv(decode=True))
        if frame[0] in (3, 4) and frame[1] == message_id:
            return frame  # type: ignore[no-any-return]
        if frame[0] == 2:  # the CSMS asking something (TriggerMessage ...): answer politely
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))


BOOT16 = {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"}
BOOT201 = {
    "chargingStation": {"vendorName": "TestVendor", "model": "TestModel"},
    "reason": "PowerUp",
}


async def booted(platform: Platform, station_id: str, version: str = "1.6") -> ClientConnection:
    """A registered charger on a raw socket, its BootNotification accepted."""
    await platform.add_station(station_id)
    ws = await open_raw(platform.ws_url, station_id, [f"ocpp{version}"])
    answer = await call(ws, "BootNotification", BOOT16 if version == "1.6" else BOOT201)
    assert answer[2]["status"] == "Accepted"
    return ws


def mv(ts: str, wh: float, unit: str = "Wh", context: str = "Sample.Periodic") -> dict[str, Any]:
    return {
        "timestamp": ts,
        "sampledValue": [
            {
                "value": str(wh),
                "unit": unit,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
            }
        ],
    }


async def start16(ws: Any, body: dict[str, Any]) -> int:
    """A 1.6 StartTransaction; the transactionId the platform gave."""
    return int((await call(ws, "StartTransaction", body))[2]["transactionId"])


async def charge16(
    ws: Any, id_tag: str, start: str, start_wh: float, stop: str, stop_wh: float
) -> int:
    """A whole 1.6 transaction on connector 1 at these charger times (Start, then Stop, both
    answered); its transactionId."""
    tx = await start16(
        ws, {"connectorId": 1, "idTag": id_tag, "meterStart": start_wh, "timestamp": start}
    )
    stopped = await call(
        ws, "StopTransaction", {"transactionId": tx, "meterStop": stop_wh, "timestamp": stop}
    )
    assert stopped[0] == 3, stopped
    return tx


def tx_event(kind: str, seq: int, ts: str, wh: float | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventType": kind,
        "timestamp": ts,
        "triggerReason": {
            "Started": "Authorized",
            "Updated": "MeterValuePeriodic",
            "Ended": "StopAuthorized",
        }[kind],
        "seqNo": seq,
        "transactionInfo": {"transactionId": "tx-ooo-1"} | extra.pop("info", {}),
    }
    if wh is not None:
        context = {
            "Started": "Transaction.Begin",
            "Updated": "Sample.Periodic",
            "Ended": "Transaction.End",
        }[kind]
        body["meterValue"] = [
            {
                "timestamp": ts,
                "sampledValue": [
                    {"value": wh, "context": context, "unitOfMeasure": {"unit": "kWh"}}
                ],
            }
        ]
    return body | extra


def typed(value: Any) -> Any:
    """`value` with every type spelled out (1, 1.0 and True are equal, and must not be), to
    compare payloads exactly."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    return (type(value).__name__, value)
