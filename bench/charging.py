"""Chargers in a transaction, for the benchmarks that load the transaction path: the idTags the
platform accepts, the calls that start a charge, and the CALL frames a charging charger sends.

A charger here boots, reports its connector Charging (1.6) / Occupied (2.0.1), starts a
transaction with its own idTag, then sends meter values whose Energy.Active.Import.Register
rises with the power it reports (about 11 kW), as a real 1.6 MeterValues / 2.0.1
TransactionEvent(Updated) carries them, timestamped by the wall clock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection

from bench.harness import Frame, Prepare, ServerFailed, call, iso

VERSIONS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
POWER_W = 11_000.0
# The charger's messages in turn, for `mix="mixed"`: mostly meter values, now and then a
# Heartbeat and a StatusNotification (Charging <-> SuspendedEV, as a car pauses and resumes).
MIXED = ("meter", "heartbeat", "meter", "status")


def id_tag(number: int) -> str:
    return f"BENCH{number:06d}"


@contextlib.asynccontextmanager
async def accepted_tags(admin: httpx.AsyncClient, chargers: int, kind: str) -> AsyncIterator[None]:
    """Makes the platform accept `id_tag(n)` for every charger, for the block's length.

    kind "emsp": an eMSP (the simulator, in this process) registers and lists them as its
    tokens with whitelist ALLOWED, which the platform pulls; every transaction then becomes an
    OCPI Session, built and priced on every meter value (not pushed: the chargers stand at no
    Location). kind "local": the operator's own tokens (admin API); every transaction becomes
    a Session for the operator's books, built and priced the same way, for no eMSP.
    """
    if kind == "local":
        for n in range(chargers):
            response = await admin.post("/tokens", json={"uid": id_tag(n)})
            if response.status_code >= 300:
                raise ServerFailed(f"adding a token: {response.text[:300]}")
        yield
        return
    from simulators.emsp import EmspSimulator
    from simulators.emsp.state import make_token

    tokens = [make_token(id_tag(n), party_id="BEN", whitelist="ALLOWED") for n in range(chargers)]
    invitation = (await admin.post("/parties/invitations", json={"name": "bench"})).json()
    async with EmspSimulator(party_id="BEN", tokens=tokens, page_limit=1000) as emsp:
        await emsp.register(invitation["versions_url"], invitation["token"])
        party = (await admin.get("/parties")).json()[0]
        pulled = await admin.post(f"/parties/{party['id']}/tokens/pull", params={"full": "true"})
        if pulled.status_code >= 300:
            raise ServerFailed(f"pulling the eMSP's tokens: {pulled.text[:300]}")
        yield


def charging(version: str, mix: str = "meter") -> Prepare:
    """A `harness.run_load` preparation: boot (2.0.1; 1.6 chargers are booted by the harness),
    connector status, a transaction started with the charger's idTag; then frames of `mix`
    ("meter": meter values only; "mixed": MIXED in turn)."""

    async def prepare(ws: ClientConnection, number: int) -> Frame:
        started = time.time()
        start_wh = 1000.0 * (number % 50)
        if version == "2.0.1":
            transaction = await _start_201(ws, number, started, start_wh)
        else:
            transaction = await _start_16(ws, number, started, start_wh)
        meter = _meter_16 if version == "1.6" else _meter_201
        status = _status_16 if version == "1.6" else _status_201
        kinds = MIXED if mix == "mixed" else ("meter",)
        sent = 0

        def frame(message_id: str) -> str:
            nonlocal sent
            kind = kinds[sent % len(kinds)]
            sent += 1
            now = time.time()
            if kind == "heartbeat":
                return f'[2,"{message_id}","Heartbeat",{{}}]'
            if kind == "status":
                paused = sent % (2 * len(kinds)) == 0
                return _frame(message_id, *status(now, "SuspendedEV" if paused else "Charging"))
            wh = start_wh + POWER_W * (now - started) / 3600
            power = POWER_W + 10 * (sent % 7)
            return _frame(message_id, *meter(transaction, sent, now, wh, power))

        return frame

    return prepare


def _frame(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([2, message_id, action, payload]).decode()


# -- OCPP 1.6 -----------------------------------------------------------------------------


async def _start_16(ws: ClientConnection, number: int, at: float, start_wh: float) -> Any:
    await call(ws, *_status_16(at, "Charging"))
    reply = await call(
        ws,
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": id_tag(number),
            "meterStart": int(start_wh),
            "timestamp": iso(at),
        },
    )
    if reply.get("idTagInfo", {}).get("status") != "Accepted":
        raise ServerFailed(f"StartTransaction not accepted: {reply}")
    return reply["transactionId"]


def _status_16(at: float, status: str) -> tuple[str, dict[str, Any]]:
    return "StatusNotification", {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": status,
        "timestamp": iso(at),
    }


def _sampled_16(wh: float, power: float, context: str) -> list[dict[str, Any]]:
    return [
        {
            "value": f"{wh:.1f}",
            "context": context,
            "format": "Raw",
            "measurand": "Energy.Active.Import.Register",
            "location": "Outlet",
            "unit": "Wh",
        },
        {
            "value": f"{power:.1f}",
            "context": context,
            "format": "Raw",
            "measurand": "Power.Active.Import",
            "location": "Outlet",
            "unit": "W",
        },
    ]


def _meter_16(
    transaction: Any, seq: int, at: float, wh: float, power: float
) -> tuple[str, dict[str, Any]]:
    return "MeterValues", {
        "connectorId": 1,
        "transactionId": transaction,
        "meterValue": [
            {"timestamp": iso(at), "sampledValue": _sampled_16(wh, power, "Sample.Periodic")}
        ],
    }


# -- OCPP 2.0.1 ---------------------------------------------------------------------------


async def _start_201(ws: ClientConnection, number: int, at: float, start_wh: float) -> Any:
    boot = await call(
        ws,
        "BootNotification",
        {"chargingStation": {"model": "M", "vendorName": "B"}, "reason": "PowerUp"},
    )
    if boot.get("status") != "Accepted":
        raise ServerFailed(f"BootNotification not accepted: {boot}")
    await call(ws, *_status_201(at, "Charging"))
    transaction = f"T{number:06d}-{int(at)}"
    reply = await call(
        ws,
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": iso(at),
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": transaction, "chargingState": "Charging"},
            "idToken": {"idToken": id_tag(number), "type": "ISO14443"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {
                    "timestamp": iso(at),
                    "sampledValue": [
                        {
                            "value": start_wh,
                            "context": "Transaction.Begin",
                            "measurand": "Energy.Active.Import.Register",
                            "location": "Outlet",
                            "unitOfMeasure": {"unit": "Wh"},
                        }
                    ],
                }
            ],
        },
    )
    if reply.get("idTokenInfo", {}).get("status") != "Accepted":
        raise ServerFailed(f"TransactionEvent(Started) not accepted: {reply}")
    return transaction


def _status_201(at: float, status: str) -> tuple[str, dict[str, Any]]:
    # 2.0.1 has no Charging/SuspendedEV connector status: the connector stays Occupied.
    return "StatusNotification", {
        "timestamp": iso(at),
        "connectorStatus": "Occupied",
        "evseId": 1,
        "connectorId": 1,
    }


def _meter_201(
    transaction: Any, seq: int, at: float, wh: float, power: float
) -> tuple[str, dict[str, Any]]:
    return "TransactionEvent", {
        "eventType": "Updated",
        "timestamp": iso(at),
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": transaction, "chargingState": "Charging"},
        "meterValue": [
            {
                "timestamp": iso(at),
                "sampledValue": [
                    {
                        "value": round(wh, 1),
                        "context": "Sample.Periodic",
                        "measurand": "Energy.Active.Import.Register",
                        "location": "Outlet",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                    {
                        "value": power,
                        "context": "Sample.Periodic",
                        "measurand": "Power.Active.Import",
                        "location": "Outlet",
                        "unitOfMeasure": {"unit": "W"},
                    },
                ],
            }
        ],
    }
