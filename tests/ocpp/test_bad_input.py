"""Bad input from a charger gets the answer OCPP names, is logged, and harms no one else."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.helpers.platform import Platform
from tests.helpers.wire import BOOT16, BOOT201, booted, call, open_raw, reply


@pytest.mark.parametrize(
    ("version", "code"), [("1.6", "FormationViolation"), ("2.0.1", "RpcFrameworkError")]
)
async def test_malformed_json_is_answered_with_id_minus_one(
    platform: Platform, version: str, code: str
) -> None:
    ws = await booted(platform, f"CP-JSON-{version}", version)
    await ws.send('[2, "1", "Heartbeat", {')
    frame = await reply(ws, "-1")
    assert frame[0] == 4 and frame[2] == code
    assert (await call(ws, "Heartbeat", {}))[0] == 3  # the connection lives on
    await ws.close()


@pytest.mark.parametrize(
    ("version", "code"), [("1.6", "ProtocolError"), ("2.0.1", "RpcFrameworkError")]
)
async def test_frames_that_are_not_ocpp_messages(
    platform: Platform, version: str, code: str
) -> None:
    ws = await booted(platform, f"CP-SHAPE-{version}", version)
    for bad in (
        '{"not": "an array"}',
        "[]",
        '[2, "x1"]',
        '[2, "x2", "Heartbeat", "payload"]',
        '[2, 7, "Heartbeat", {}]',
    ):
        await ws.send(bad)
        frame = json.loads(await ws.recv())
        assert frame[0] == 4 and frame[2] == code, (bad, frame)
    await ws.close()


@pytest.mark.parametrize(
    ("version", "code"), [("1.6", "ProtocolError"), ("2.0.1", "MessageTypeNotSupported")]
)
async def test_unknown_message_type_id(platform: Platform, version: str, code: str) -> None:
    ws = await booted(platform, f"CP-TYPE-{version}", version)
    await ws.send('[9, "m1", "Heartbeat", {}]')
    assert await reply(ws, "m1") == [4, "m1", code, "message type 9 is not supported", {}]
    await ws.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_unknown_action_is_not_implemented_and_known_unhandled_is_not_supported(
    platform: Platform, version: str
) -> None:
    ws = await booted(platform, f"CP-ACT-{version}", version)
    assert (await call(ws, "MakeCoffee", {}))[2] == "NotImplemented"
    known_unhandled = "ClearCache"  # a CSMS's CALL, sent the wrong way
    assert (await call(ws, known_unhandled, {}))[2] == "NotSupported"
    await ws.close()


async def test_schema_violations_in_16_use_16_spellings(platform: Platform) -> None:
    ws = await booted(platform, "CP-SCHEMA16")
    missing = await call(ws, "BootNotification", {"chargePointVendor": "V"})
    assert missing[2] == "ProtocolError"
    extra = await call(ws, "BootNotification", BOOT16 | {"colour": "red"})
    assert extra[2] == "FormationViolation"
    wrong_type = await call(
        ws,
        "StartTransaction",
        {"connectorId": "one", "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"},
    )
    assert wrong_type[2] == "TypeConstraintViolation"
    too_long = await call(ws, "Authorize", {"idTag": 12})
    assert too_long[2] == "TypeConstraintViolation"
    # A status report that skips schema validation (real chargers bend it) still needs its fields.
    assert (await call(ws, "StatusNotification", {"status": "Available"}))[2] == "ProtocolError"
    await ws.close()


async def test_schema_violations_in_201(platform: Platform) -> None:
    ws = await booted(platform, "CP-SCHEMA201", "2.0.1")
    extra = await call(ws, "BootNotification", BOOT201 | {"colour": "red"})
    assert extra[2] == "FormatViolation"
    missing = await call(ws, "TransactionEvent", {"eventType": "Started"})
    assert missing[2] == "ProtocolError"
    await ws.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_calls_before_an_accepted_boot_get_security_error(
    platform: Platform, version: str
) -> None:
    await platform.add_station(f"CP-EARLY-{version}")
    async with await open_raw(platform.ws_url, f"CP-EARLY-{version}", [f"ocpp{version}"]) as ws:
        assert (await call(ws, "Heartbeat", {}))[2] == "SecurityError"
        boot = await call(ws, "BootNotification", BOOT16 if version == "1.6" else BOOT201)
        assert boot[2]["status"] == "Accepted"
        assert (await call(ws, "Heartbeat", {}))[0] == 3


async def test_oversize_frame_closes_the_connection_with_1009(tmp_path) -> None:
    p = await Platform(tmp_path, ws_max_size=4096).start()
    try:
        ws = await booted(p, "CP-BIG")
        bystander = await booted(p, "CP-BYSTANDER")
        await ws.send(
            json.dumps([2, "big", "DataTransfer", {"vendorId": "X", "data": "x" * 10_000}])
        )
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1009
        assert (await call(bystander, "Heartbeat", {}))[0] == 3
        await bystander.close()
    finally:
        await p.stop()


async def test_binary_frames_are_refused(platform: Platform) -> None:
    ws = await booted(platform, "CP-BIN")
    await ws.send(b'[2, "b1", "Heartbeat", {}]')
    frame = await reply(ws, "-1")
    assert frame[2] == "FormationViolation"
    await ws.close()


async def test_a_flood_is_throttled_then_cut_off_and_others_are_unharmed(tmp_path) -> None:
    p = await Platform(tmp_path, rate_limit=5, rate_burst=10).start()
    try:
        flooder = await booted(p, "CP-FLOOD")
        bystander = await booted(p, "CP-CALM")
        for i in range(200):
            try:
                await flooder.send(json.dumps([2, f"f{i}", "Heartbeat", {}]))
            except ConnectionClosed:
                break
        codes = []
        with pytest.raises(ConnectionClosed):
            while True:
                frame = json.loads(await flooder.recv())
                codes.append(frame[0] if frame[0] == 3 else frame[2])
        assert "GenericError" in codes and codes.count(3) <= 12
        assert flooder.close_code == 1008
        assert (await call(bystander, "Heartbeat", {}))[0] == 3
        await bystander.close()
    finally:
        await p.stop()


async def test_bad_frames_are_kept_in_the_message_log(platform: Platform) -> None:
    ws = await booted(platform, "CP-LOG")
    await ws.send("not json at all")
    await reply(ws, "-1")
    await ws.close()
    async with platform.admin() as admin:
        log = (await admin.get("/stations/CP-LOG/messages", params={"limit": 10})).json()
        assert (
            await admin.get("/stations/CP-LOG/messages", params={"limit": "ten"})
        ).status_code == 400
        assert (await admin.get("/stations/NOPE/messages")).status_code == 404
    payloads = [(m["direction"], m["payload"]) for m in log]
    assert ("in", "not json at all") in payloads
    assert any(d == "out" and "FormationViolation" in p for d, p in payloads)
    assert any(m["action"] == "BootNotification" and m["direction"] == "out" for m in log)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_number_string_past_what_int_reads_is_a_type_violation(
    platform: Platform, version: str
) -> None:
    """A lenient handler takes "1" for 1; 5,000 digits are past what Python's int() reads from
    a string (4,300), and are answered as a wrong type, not left unanswered."""
    ws = await booted(platform, f"CP-DIGITS-{version}", version)
    huge = "1" * 5000
    payload = (
        {"connectorId": huge, "errorCode": "NoError", "status": "Available"}
        if version == "1.6"
        else {
            "timestamp": "2026-12-04T10:00:00Z",
            "connectorStatus": "Available",
            "evseId": huge,
            "connectorId": 1,
        }
    )
    frame = await call(ws, "StatusNotification", payload)
    assert frame[0] == 4, frame
    assert frame[2] == "TypeConstraintViolation", frame
    assert (await call(ws, "Heartbeat", {}))[0] == 3  # the connection lives on
    await ws.close()
