"""The load generator (`cpo-sim fleet`): valid OCPP on the wire, against the real platform."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from ocpp.messages import get_validator

from simulators.cli import main
from simulators.fleet import Fleet, FleetConfig, Latencies
from simulators.fleet import dialects as fleet_module
from tests.helpers.platform import Platform

BIN = Path(sys.executable).parent
TAGS = ("FLEETTAG1", "FLEETTAG2")


def valid(message_type: int, version: str, action: str, payload: dict[str, Any]) -> None:
    """Raises when payload is not what the OCPP JSON schema of action allows."""
    get_validator(message_type, action, version).validate(payload)


async def fleet_platform(tmp_path: Path) -> Platform:
    p = await Platform(tmp_path, auto_register=True).start()
    async with p.admin() as admin:
        for tag in TAGS:
            response = await admin.post("/tokens", json={"uid": tag})
            assert response.status_code == 201, response.text
    return p


# -- the wire shapes ------------------------------------------------------------------------------


async def test_every_message_the_fleet_sends_is_valid_ocpp() -> None:
    fleet = Fleet(FleetConfig(url="ws://127.0.0.1:9/ocpp", count=2, mix=0.5, seed=1))
    assert {c.ocpp for c in fleet.chargers} == {"1.6", "2.0.1"}
    for charger in fleet.chargers:
        d, version = charger.dialect, charger.ocpp
        frames = [d.boot(charger, "PowerUp"), d.status(charger), d.authorize(charger.id_tag)]
        for status in ("Available", d.busy_status, "Unavailable"):
            charger.status = status
            frames.append(d.status(charger))
        for remote_start_id in (None, 7):
            s = fleet_module._Session(charger.id_tag, remote_start_id)
            frames.append(d.start(charger, s))
            s.transaction_id = s.transaction_id or 1234  # 1.6: the CSMS's number
            frames += [d.meter(charger, s), d.meter(charger, s, trigger=True)]
            for reason in ("Local", "Remote", "PowerLoss", "DeAuthorized"):
                frames.append(d.stop(charger, s, reason))
        frames.append(d.meter(charger, None, trigger=True))
        if isinstance(d, fleet_module._V201):
            frames.append(d.report(charger, 3))
        for action, payload in frames:
            valid(2, version, action, payload)


# What a CSMS may ask; every answer must be a valid CALLRESULT (or, for what the fleet does not
# simulate, a NotImplemented CALLERROR) so that the platform's commands never time out.
ASKED_16: dict[str, dict[str, Any]] = {
    "RemoteStartTransaction": {"idTag": "FLEETTAG1", "connectorId": 1},
    "RemoteStopTransaction": {"transactionId": 99},
    "Reset": {"type": "Soft"},
    "TriggerMessage": {"requestedMessage": "StatusNotification"},
    "ChangeAvailability": {"connectorId": 0, "type": "Operative"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "60"},
    "GetConfiguration": {"key": ["HeartbeatInterval", "NoSuchKey"]},
    "UnlockConnector": {"connectorId": 1},
    "GetLocalListVersion": {},
    "SendLocalList": {"listVersion": 2, "updateType": "Full"},
    "ClearCache": {},
    "DataTransfer": {"vendorId": "acme"},
    "ReserveNow": {
        "connectorId": 1,
        "expiryDate": "2030-01-01T00:00:00Z",
        "idTag": "FLEETTAG1",
        "reservationId": 1,
    },
    "CancelReservation": {"reservationId": 1},
    "GetDiagnostics": {"location": "ftp://example.com/"},
}
ASKED_201: dict[str, dict[str, Any]] = {
    "RequestStartTransaction": {
        "idToken": {"idToken": "FLEETTAG1", "type": "ISO14443"},
        "remoteStartId": 5,
    },
    "RequestStopTransaction": {"transactionId": "nope"},
    "Reset": {"type": "Immediate"},
    "TriggerMessage": {"requestedMessage": "StatusNotification"},
    "ChangeAvailability": {"operationalStatus": "Operative"},
    "GetVariables": {
        "getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nothing"}},
            {"component": {"name": "Nowhere"}, "variable": {"name": "Nothing"}},
        ]
    },
    "SetVariables": {
        "setVariableData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "attributeValue": "60",
            },
            {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "Identity"},
                "attributeValue": "X",
            },
        ]
    },
    "GetBaseReport": {"requestId": 3, "reportBase": "ConfigurationInventory"},
    "GetTransactionStatus": {"transactionId": "abc"},
    "UnlockConnector": {"evseId": 1, "connectorId": 1},
    "GetLocalListVersion": {},
    "SendLocalList": {"versionNumber": 2, "updateType": "Full"},
    "ClearCache": {},
    "DataTransfer": {"vendorId": "acme"},
    "ReserveNow": {
        "id": 1,
        "expiryDateTime": "2030-01-01T00:00:00Z",
        "idToken": {"idToken": "FLEETTAG1", "type": "ISO14443"},
    },
    "CancelReservation": {"reservationId": 1},
    "GetChargingProfiles": {
        "requestId": 1,
        "chargingProfile": {"chargingProfilePurpose": "TxProfile"},
    },
}


async def test_every_answer_to_a_csms_call_is_valid_ocpp() -> None:
    fleet = Fleet(FleetConfig(url="ws://127.0.0.1:9/ocpp", count=2, mix=0.5, seed=1))
    for charger in fleet.chargers:
        charger.online = True  # as if booted: remote starts are accepted
        asked = ASKED_16 if charger.ocpp == "1.6" else ASKED_201
        for action, payload in asked.items():
            valid(2, charger.ocpp, action, payload)  # the test's own requests, first
            answer = charger.dialect.answer(charger, action, payload)
            assert answer is not None, action
            valid(3, charger.ocpp, action, answer)
        assert charger.dialect.answer(charger, "NoSuchAction", {}) is None
        kinds = [f[0] for f in charger.followups]
        assert {"start", "reset", "trigger", "availability"} <= set(kinds)


def test_latency_percentiles_are_within_their_two_percent_buckets() -> None:
    latencies = Latencies()
    for ms in range(1, 1001):
        latencies.add(ms / 1000)
    summary = latencies.summary_ms()
    assert summary["p50"] == pytest.approx(500, rel=0.03)
    assert summary["p99"] == pytest.approx(990, rel=0.03)
    assert summary["max"] == 1000.0


# -- against the platform -------------------------------------------------------------------------


COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("get_configuration", {}),
    ("get_configuration", {"keys": ["HeartbeatInterval"]}),
    ("set_configuration", {"key": "HeartbeatInterval", "value": "1"}),
    ("trigger_message", {"message": "StatusNotification"}),
    ("change_availability", {"operative": True}),
    ("get_local_list_version", {}),
    ("remote_start", {"id_token": TAGS[0], "evse_id": 1}),
]


async def command(platform: Platform, station: str, name: str, body: dict[str, Any]) -> Any:
    async with platform.admin() as admin:
        response = await admin.post(f"/stations/{station}/commands/{name}", json=body)
    assert response.status_code == 200, (station, name, response.text)
    return response.json()


async def test_fleet_boots_beats_and_charges_on_the_platform(tmp_path: Path) -> None:
    platform = await fleet_platform(tmp_path)
    config = FleetConfig(
        url=platform.ws_url,
        count=40,
        mix=0.5,
        connect="simultaneous",
        heartbeat=1.0,
        status_rate=5.0,
        session_rate=10.0,
        session_seconds=1.0,
        meter_interval=0.3,
        id_tags=TAGS,
        seconds=60,
        seed=7,
    )
    fleet = Fleet(config)
    try:
        await fleet.start()
        await fleet.wait_connected(timeout=20)
        # The platform's commands are answered, whichever version the charger speaks.
        for version in ("1.6", "2.0.1"):
            station = next(c.id for c in fleet.chargers if c.ocpp == version)
            for name, body in COMMANDS:
                assert (await command(platform, station, name, body))["outcome"] == "answered"

        def busy(f: Fleet) -> bool:
            heartbeats = f.stats.actions.get("Heartbeat")
            return (
                f.stats.sessions["ended"] >= 12
                and heartbeats is not None
                and heartbeats.results >= 80
            )

        await fleet.wait_until(busy, timeout=20)
    finally:
        summary = await fleet.stop()
        async with platform.admin() as admin:
            transactions = (await admin.get("/transactions", params={"limit": 1000})).json()
        await platform.stop()

    assert summary["chargers"] == {
        "count": 40, "ocpp16": 20, "ocpp201": 20, "connected": 40, "booted": 40, "ever_connected": 40,
    }  # fmt: skip
    assert summary["boots"] == {"Accepted": 40}
    messages = summary["messages"]
    assert messages["calls"] == messages["results"] > 0
    assert (messages["errors"], messages["timeouts"], messages["connection_errors"]) == (0, 0, 0)
    assert summary["errors"] == {}
    for action in ("Heartbeat", "StatusNotification", "Authorize", "StartTransaction",
                   "MeterValues", "StopTransaction", "TransactionEvent"):  # fmt: skip
        assert summary["actions"][action]["results"] > 0, action
    sessions = summary["sessions"]
    assert sessions["refused"] == sessions["failed"] == 0
    # Sessions still open at the end were stopped before the fleet closed its connections.
    assert sessions["started"] == sessions["ended"] >= 12 and sessions["open"] == 0
    assert {"GetBaseReport", "GetVariables", "TriggerMessage"} <= set(summary["server_calls"])

    ended = [t for t in transactions if t["status"] == "ended"]
    assert len(transactions) == len(ended) == sessions["ended"]
    assert {t["station_id"] for t in ended} <= {c.id for c in fleet.chargers}
    versions = {c.id: c.ocpp for c in fleet.chargers}
    assert {versions[t["station_id"]] for t in ended} == {"1.6", "2.0.1"}
    assert all(t["meter_stop_wh"] >= t["meter_start_wh"] for t in ended)


async def test_a_reconnect_storm_ends_with_every_charger_back(tmp_path: Path) -> None:
    platform = await fleet_platform(tmp_path)
    config = FleetConfig(
        url=platform.ws_url,
        count=40,
        mix=0.5,
        connect="staggered",
        connect_rate=200,
        heartbeat=0.5,
        disconnect_rate=5.0,
        reconnect_delay=(0.1, 0.3),
        reboot_chance=0.5,
        seconds=60,
        seed=11,
    )
    fleet = Fleet(config)
    try:
        await fleet.start()
        await fleet.wait_connected(timeout=20)
        await fleet.wait_until(lambda f: f.stats.reconnects >= 3, timeout=20)
        dropped = fleet.storm()
        assert dropped >= 30
        # Every charger the storm dropped comes back (random drops go on meanwhile, so "all
        # 40 online at one instant" is a matter of luck under load, not the property).
        await fleet.wait_until(
            lambda f: f.stats.disconnects.get("storm", 0) == dropped and f.storm_back == dropped,
            timeout=30,
        )
    finally:
        summary = await fleet.stop()
        await platform.stop()

    assert summary["storms"] == 1 and fleet.storm_back == dropped, (fleet.storm_back, dropped)
    # (how many are connected at the stop itself depends on the random drops under way)
    assert summary["chargers"]["ever_connected"] == 40
    assert summary["disconnects"]["random"] >= 3
    assert summary["connects"]["reconnects"] >= dropped + 3
    assert summary["connects"]["failed"] == 0
    # Half the reconnections boot again, the others carry on as they were.
    assert 40 < summary["boots"]["Accepted"] < 40 + summary["connects"]["reconnects"]
    # A CALL in flight when its connection drops is lost with it; nothing is refused.
    assert summary["messages"]["errors"] == summary["messages"]["timeouts"] == 0


async def test_the_ceiling_run_reports_the_rate_the_generator_drives() -> None:
    config = FleetConfig(url="ws://127.0.0.1:9/ocpp", count=50, mix=0.5, seed=3, session_rate=5)
    ceiling = await Fleet.ceiling(config, seconds=1.0)
    assert ceiling["chargers"] == 50
    assert ceiling["rate"] > 0 and ceiling["replies"] > 0 and ceiling["errors"] == 0
    assert ceiling["cores"] > 0 and ceiling["latency_ms"]["p50"] is not None


# -- the command line -----------------------------------------------------------------------------


async def cpo_sim(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "cpo-sim"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return await process.wait(), out.decode(), err.decode()


async def test_cli_prints_a_json_summary_with_the_ceiling(tmp_path: Path) -> None:
    platform = await fleet_platform(tmp_path)
    try:
        code, out, err = await cpo_sim(
            "fleet", "--url", platform.ws_url, "--count", "20", "--mix", "0.5",
            "--connect", "simultaneous", "--heartbeat", "0.5", "--session-rate", "4",
            "--session-seconds", "0.5", "--meter-interval", "0.2", "--id-tag", TAGS[0],
            "--seconds", "2", "--seed", "5", "--json", "--progress",
            "--ceiling", "--ceiling-seconds", "0.5",
        )  # fmt: skip
    finally:
        await platform.stop()
    assert code == 0, err
    summary = json.loads(out)
    assert {
        "config", "seconds", "chargers", "connects", "boots", "disconnects", "storms", "messages",
        "latency_ms", "actions", "server_calls", "sessions", "status_changes", "errors", "cpu",
        "ceiling",
    } <= set(summary)  # fmt: skip
    assert summary["chargers"]["ever_connected"] == 20
    assert summary["config"]["seed"] == 5 and summary["config"]["id_tags"] == [TAGS[0]]
    assert summary["messages"]["errors"] == 0 and summary["messages"]["rate"] > 0
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert summary["ceiling"]["rate"] > 0
    assert "msg/s" in err and "connected" in err  # the progress line


async def test_cli_exits_1_when_most_chargers_cannot_connect(platform: Platform) -> None:
    # This platform knows none of them (no auto-registration): every upgrade is refused, 404.
    code, out, err = await cpo_sim(
        "fleet", "--url", platform.ws_url, "--count", "5", "--seconds", "1", "--json"
    )
    assert code == 1, err
    summary = json.loads(out)
    assert summary["chargers"]["ever_connected"] == 0
    assert summary["connects"]["failed_other"] >= 5 and summary["connects"]["refused_load"] == 0
    assert summary["connects"]["reasons"] == {"HTTP 404": summary["connects"]["failed_other"]}
    assert "could not connect" in err


def test_cli_exits_2_on_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--count", "20001"], ["--seconds", "3601"], ["--mix", "2"], ["--connect", "x"]):
        with pytest.raises(SystemExit) as exited:
            main(["fleet", "--url", "ws://127.0.0.1:9/ocpp", *bad])
        assert exited.value.code == 2
    assert (
        main(["fleet", "--url", "ws://127.0.0.1:9/ocpp", "--seconds", "2", "--storm-at", "5"]) == 2
    )
    assert main(["fleet"]) == 2  # neither --url nor --ceiling
    assert "storm_at" in capsys.readouterr().err
