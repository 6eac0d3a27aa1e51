"""Values out of OCPP's range get the CALLERROR each version names, never a normal reply, an
InternalError or a stored value; the leniencies real chargers need still hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.helpers.platform import Platform
from tests.helpers.wire import booted, call, reply

AT = "2026-05-01T10:00:00Z"
LONG_ID = "m" * 37

# The 1.6 spelling of each code where it differs (OCPP-J 1.6 keeps its typos).
SPELLING_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}


def sampled(value: Any = "1200", **extra: Any) -> dict[str, Any]:
    return {"value": value} | extra


def mv16(*values: Any, timestamp: Any = AT) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampledValue": list(values) or [sampled()]}


def mv201(*values: Any, timestamp: Any = AT) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampledValue": list(values) or [{"value": 1200}]}


def status16(connector: Any = 1, status: str = "Available") -> dict[str, Any]:
    return {"connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": AT}


def status201(evse: Any = 1, connector: Any = 1, status: str = "Available") -> dict[str, Any]:
    return {"timestamp": AT, "connectorStatus": status, "evseId": evse, "connectorId": connector}


def start16(**fields: Any) -> dict[str, Any]:
    return {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": AT} | fields


def tx_event(**fields: Any) -> dict[str, Any]:
    return {
        "eventType": "Started",
        "timestamp": AT,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-1"},
        "evse": {"id": 1, "connectorId": 1},
    } | fields


def notify_event(seq_no: Any) -> dict[str, Any]:
    return {
        "generatedAt": AT,
        "seqNo": seq_no,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": AT,
                "trigger": "Delta",
                "actualValue": "Available",
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"},
            }
        ],
    }


Case = tuple[str, dict[str, Any], str]

# Per class of bad input, per version: (action, payload, the code OCPP names for it).
CASES: dict[str, dict[str, list[Case]]] = {
    "negative connector and EVSE ids": {
        "1.6": [
            ("StatusNotification", status16(-1), "PropertyConstraintViolation"),
            (
                "MeterValues",
                {"connectorId": -1, "meterValue": [mv16()]},
                "PropertyConstraintViolation",
            ),
            ("StartTransaction", start16(connectorId=-2), "PropertyConstraintViolation"),
        ],
        "2.0.1": [
            ("StatusNotification", status201(evse=-1), "PropertyConstraintViolation"),
            ("StatusNotification", status201(connector=-1), "PropertyConstraintViolation"),
            ("MeterValues", {"evseId": -1, "meterValue": [mv201()]}, "PropertyConstraintViolation"),
            ("TransactionEvent", tx_event(evse={"id": -1}), "PropertyConstraintViolation"),
        ],
    },
    "unknown status enums": {
        "1.6": [
            ("StatusNotification", status16(status="Exploded"), "PropertyConstraintViolation"),
            ("StatusNotification", status16(status="available"), "PropertyConstraintViolation"),
        ],
        "2.0.1": [
            ("StatusNotification", status201(status="Exploded"), "PropertyConstraintViolation"),
        ],
    },
    "id tokens longer than the version allows": {
        "1.6": [
            ("Authorize", {"idTag": "T" * 21}, "TypeConstraintViolation"),
            ("StartTransaction", start16(idTag="T" * 21), "TypeConstraintViolation"),
        ],
        "2.0.1": [
            (
                "Authorize",
                {"idToken": {"idToken": "T" * 37, "type": "ISO14443"}},
                "TypeConstraintViolation",
            ),
            (
                "TransactionEvent",
                tx_event(idToken={"idToken": "T" * 37, "type": "ISO14443"}),
                "TypeConstraintViolation",
            ),
        ],
    },
    "meter values of the wrong shape": {
        "1.6": [
            ("MeterValues", {"connectorId": 1, "meterValue": []}, "OccurrenceConstraintViolation"),
            ("MeterValues", {"connectorId": 1, "meterValue": "1200"}, "TypeConstraintViolation"),
            (
                "MeterValues",
                {
                    "connectorId": 1,
                    "meterValue": [{"timestamp": AT, "sampledValue": {"value": "1"}}],
                },
                "TypeConstraintViolation",
            ),
            (
                "MeterValues",
                {"connectorId": 1, "meterValue": [mv16(sampled("lots"))]},
                "PropertyConstraintViolation",
            ),
            (
                "MeterValues",
                {"connectorId": 1, "meterValue": [mv16(sampled(1200))]},
                "TypeConstraintViolation",
            ),
            (
                "MeterValues",
                {"connectorId": 1, "meterValue": [mv16(sampled({"wh": 1}))]},
                "TypeConstraintViolation",
            ),
            (
                "MeterValues",
                {"connectorId": 1, "meterValue": [mv16(timestamp=1777629600)]},
                "TypeConstraintViolation",
            ),
            ("MeterValues", {"connectorId": 1, "meterValue": ["1200"]}, "TypeConstraintViolation"),
            (
                "StopTransaction",
                {
                    "transactionId": 1,
                    "meterStop": 10,
                    "timestamp": AT,
                    "transactionData": [{"timestamp": AT, "sampledValue": "1"}],
                },
                "TypeConstraintViolation",
            ),
        ],
        "2.0.1": [
            ("MeterValues", {"evseId": 1, "meterValue": []}, "OccurrenceConstraintViolation"),
            (
                "MeterValues",
                {"evseId": 1, "meterValue": [{"timestamp": AT, "sampledValue": {"value": 1}}]},
                "TypeConstraintViolation",
            ),
            (
                "MeterValues",
                {"evseId": 1, "meterValue": [mv201({"value": "lots"})]},
                "TypeConstraintViolation",
            ),
            (
                "MeterValues",
                {"evseId": 1, "meterValue": [mv201({"value": [1]})]},
                "TypeConstraintViolation",
            ),
            (
                "MeterValues",
                {"evseId": 1, "meterValue": [mv201(timestamp=1777629600)]},
                "TypeConstraintViolation",
            ),
            (
                "TransactionEvent",
                tx_event(meterValue=[{"timestamp": AT, "sampledValue": "1"}]),
                "TypeConstraintViolation",
            ),
        ],
    },
    "integers beyond what OCPP and the database hold": {
        "1.6": [
            ("StatusNotification", status16(2**31), "TypeConstraintViolation"),
            (
                "MeterValues",
                {"connectorId": 1, "transactionId": 2**63, "meterValue": [mv16()]},
                "TypeConstraintViolation",
            ),
            (
                "MeterValues",
                {"connectorId": 10**30, "meterValue": [mv16()]},
                "TypeConstraintViolation",
            ),
            ("StartTransaction", start16(meterStart=2**63), "TypeConstraintViolation"),
            ("StartTransaction", start16(meterStart=2**64), "TypeConstraintViolation"),
            ("StartTransaction", start16(connectorId=2**63 - 1), "TypeConstraintViolation"),
            ("StartTransaction", start16(reservationId=2**40), "TypeConstraintViolation"),
            (
                "StopTransaction",
                {"transactionId": 2**63, "meterStop": 10, "timestamp": AT},
                "TypeConstraintViolation",
            ),
        ],
        "2.0.1": [
            ("StatusNotification", status201(evse=2**40), "TypeConstraintViolation"),
            ("MeterValues", {"evseId": 10**30, "meterValue": [mv201()]}, "TypeConstraintViolation"),
            ("TransactionEvent", tx_event(seqNo=2**63), "TypeConstraintViolation"),
            ("TransactionEvent", tx_event(seqNo=2**31), "TypeConstraintViolation"),
            ("TransactionEvent", tx_event(evse={"id": 2**64}), "TypeConstraintViolation"),
            ("TransactionEvent", tx_event(reservationId=2**63 - 1), "TypeConstraintViolation"),
            ("NotifyEvent", notify_event(2**63), "TypeConstraintViolation"),
        ],
    },
}


async def stored(platform: Platform, station_id: str) -> dict[str, Any]:
    """What the platform holds about a station: its events, connectors and transactions."""
    async with platform.admin() as admin:
        events = (
            await admin.get("/events", params={"station_id": station_id, "limit": 1000})
        ).json()
        station = (await admin.get(f"/stations/{station_id}")).json()
        transactions = (await admin.get(f"/stations/{station_id}/transactions")).json()
    return {
        "events": [(e["type"], e["data"]) for e in events],
        "connectors": station["connectors"],
        "status": station["status"],
        "transactions": transactions,
    }


async def settled(ws: ClientConnection) -> None:
    """Every CALL sent before has been handled: the charger's CALLs are handled in order."""
    assert (await call(ws, "Heartbeat", {}))[0] == 3


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("kind", list(CASES))
async def test_out_of_range_values_get_the_versions_error_and_store_nothing(
    platform: Platform, kind: str, version: str
) -> None:
    station_id = f"CP-RANGE-{version}-{list(CASES).index(kind)}"
    ws = await booted(platform, station_id, version)
    await settled(ws)
    before = await stored(platform, station_id)
    for action, payload, code in CASES[kind][version]:
        expected = SPELLING_16.get(code, code) if version == "1.6" else code
        answer = await call(ws, action, payload)
        assert answer[0] == 4 and answer[2] == expected, (action, payload, answer)
    await settled(ws)
    assert await stored(platform, station_id) == before
    await ws.close()


@pytest.mark.parametrize(
    ("version", "code"), [("1.6", "ProtocolError"), ("2.0.1", "RpcFrameworkError")]
)
async def test_message_ids_longer_than_36_characters_are_refused(
    platform: Platform, version: str, code: str
) -> None:
    station_id = f"CP-LONGID-{version}"
    ws = await booted(platform, station_id, version)
    await settled(ws)
    before = await stored(platform, station_id)
    payload = status16(1, "Faulted") if version == "1.6" else status201(status="Faulted")
    await ws.send(json.dumps([2, LONG_ID, "StatusNotification", payload]))
    # The id is not one OCPP allows, so the answer cannot carry it either.
    answer = await reply(ws, "-1")
    assert answer[0] == 4 and answer[2] == code
    await settled(ws)
    assert await stored(platform, station_id) == before
    # 36 characters are fine.
    await ws.send(json.dumps([2, "n" * 36, "Heartbeat", {}]))
    assert (await reply(ws, "n" * 36))[0] == 3
    await ws.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_the_leniencies_real_chargers_need_still_hold(
    platform: Platform, version: str
) -> None:
    """Numbers sent as strings, null for an absent field, units and contexts outside the enum
    (Hz, Celcius, an Alfen context), extra Authorize fields, object data in a 1.6 DataTransfer."""
    ws = await booted(platform, f"CP-LENIENT-{version}", version)
    odd = [
        {"value": "50", "measurand": "Frequency", "unit": "Hz", "context": "Sample.Periodic"},
        {"value": "21", "measurand": "Temperature", "unit": "Celcius", "context": "Periodic"},
        {"value": "1200", "phase": None},
    ]
    if version == "1.6":
        accepted: list[tuple[str, dict[str, Any]]] = [
            ("StatusNotification", status16("1") | {"info": "null", "vendorId": None}),
            ("MeterValues", {"connectorId": "1", "meterValue": [mv16(*odd)]}),
            ("Authorize", {"idTag": "TAG1", "idTagType": "RFID"}),
            ("DataTransfer", {"vendorId": "Growatt", "data": {"a": 1}}),
        ]
    else:
        odd_201 = [
            {"value": 50.0, "measurand": "Frequency", "unitOfMeasure": {"unit": "Hz"}},
            {"value": 21, "measurand": "Temperature", "context": "Periodic", "phase": None},
        ]
        accepted = [
            ("StatusNotification", status201(evse="1", connector=1)),
            ("MeterValues", {"evseId": 1, "meterValue": [mv201(*odd_201, {"value": "7.5"})]}),
            ("Authorize", {"idToken": {"idToken": "TAG1", "type": "ISO14443"}, "extra": 1}),
            ("DataTransfer", {"vendorId": "V", "data": {"a": 1}}),
        ]
    for action, payload in accepted:
        answer = await call(ws, action, payload)
        assert answer[0] == 3, (action, answer)
    async with platform.admin() as admin:
        station = (await admin.get(f"/stations/CP-LENIENT-{version}")).json()
    assert [(c["evse_id"], c["status"]) for c in station["connectors"]] == [(1, "Available")]
    await ws.close()
