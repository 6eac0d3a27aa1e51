"""Who may connect, with which OCPP version, and what the platform answers on the upgrade."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import REGISTRY
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers.platform import Platform
from tests.helpers.wire import BOOT16, BOOT201, basic, call, open_raw


async def test_unknown_charger_is_refused_with_404(platform: Platform) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await open_raw(platform.ws_url, "NOBODY")
    assert refused.value.response.status_code == 404


async def test_unknown_charger_is_registered_when_auto_register_is_on(tmp_path) -> None:
    p = await Platform(tmp_path, auto_register=True).start()
    try:
        async with await open_raw(p.ws_url, "NEWCOMER") as ws:
            assert (await call(ws, "BootNotification", BOOT16))[2]["status"] == "Accepted"
        async with p.admin() as admin:
            station = (await admin.get("/stations/NEWCOMER")).json()
        assert station["vendor"] == "TestVendor"
    finally:
        await p.stop()


async def test_wrong_or_missing_password_is_refused_with_401(platform: Platform) -> None:
    await platform.add_station("CP-PW", password="correct-horse-battery")
    for headers in (
        {},
        basic("CP-PW", "wrong-password"),
        basic("OTHER", "correct-horse-battery"),
        {"Authorization": "Basic !!notbase64"},
    ):
        with pytest.raises(InvalidStatus) as refused:
            await open_raw(platform.ws_url, "CP-PW", headers=headers)
        assert refused.value.response.status_code == 401
        assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic")
    async with await open_raw(
        platform.ws_url, "CP-PW", headers=basic("CP-PW", "correct-horse-battery")
    ) as ws:
        assert (await call(ws, "BootNotification", BOOT16))[2]["status"] == "Accepted"


async def test_the_chargers_order_of_subprotocols_decides(platform: Platform) -> None:
    await platform.add_station("CP-V")
    async with await open_raw(platform.ws_url, "CP-V", ["ocpp1.6", "ocpp2.0.1"]) as ws:
        assert ws.subprotocol == "ocpp1.6"
    async with await open_raw(platform.ws_url, "CP-V", ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        assert (await call(ws, "BootNotification", BOOT201))[2]["status"] == "Accepted"


async def test_no_common_subprotocol_completes_the_handshake_then_closes(
    platform: Platform,
) -> None:
    await platform.add_station("CP-OLD")
    ws = await open_raw(platform.ws_url, "CP-OLD", ["ocpp1.5"])
    assert ws.subprotocol is None
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 1002


async def test_percent_encoded_identities(platform: Platform) -> None:
    for station_id in ("RDAM 123", "Zürich-7"):
        await platform.add_station(station_id)
        async with await open_raw(platform.ws_url, station_id) as ws:
            assert (await call(ws, "BootNotification", BOOT16))[2]["status"] == "Accepted"
    async with platform.admin() as admin:
        listed = {s["id"] for s in (await admin.get("/stations")).json()}
    assert {"RDAM 123", "Zürich-7"} <= listed


async def test_a_second_connection_replaces_the_first(platform: Platform) -> None:
    await platform.add_station("CP-DUP")
    events = platform.events()
    first = await open_raw(platform.ws_url, "CP-DUP")
    await call(first, "BootNotification", BOOT16)
    second = await open_raw(platform.ws_url, "CP-DUP")
    with pytest.raises(ConnectionClosed):
        while True:
            await first.recv()
    assert first.close_code == 1000
    assert (await call(second, "Heartbeat", {}))[0] == 3
    async with platform.admin() as admin:
        station = (await admin.get("/stations/CP-DUP")).json()
    assert station["online"] is True and station["connected"] is True
    await second.close()
    gone = await events.wait("StationDisconnected", lambda e: e.station_id == "CP-DUP")
    assert gone.station_id == "CP-DUP"
    async with platform.admin() as admin:
        assert (await admin.get("/stations/CP-DUP")).json()["online"] is False


async def test_a_charger_that_rebooted_before_may_reconnect_without_booting(
    platform: Platform,
) -> None:
    await platform.add_station("CP-RE")
    async with await open_raw(platform.ws_url, "CP-RE") as ws:
        await call(ws, "BootNotification", BOOT16)
    async with await open_raw(platform.ws_url, "CP-RE") as ws:
        assert (await call(ws, "Heartbeat", {}))[0] == 3


async def test_health_metrics_and_admin_auth(platform: Platform) -> None:
    await platform.add_station("CP-M")
    async with await open_raw(platform.ws_url, "CP-M") as ws:
        await call(ws, "BootNotification", BOOT16)
        async with httpx.AsyncClient(base_url=platform.url) as http:
            health = await http.get("/health")
            assert health.status_code == 200 and health.json()["chargers_connected"] == 1
            metrics = (await http.get("/metrics")).text
            assert 'cpo_ocpp_connected_chargers{ocpp_version="1.6"}' in metrics
            assert (
                'cpo_ocpp_messages_total{action="BootNotification",direction="in",result="ok"}'
                in metrics
            )
            assert "cpo_ocpp_handler_seconds_bucket" in metrics
    async with platform.admin(token="wrong") as admin:
        denied = await admin.get("/stations")
    assert denied.status_code == 401
    assert denied.headers["content-type"] == "application/problem+json"
    async with httpx.AsyncClient(base_url=platform.url) as http:
        assert (await http.get("/admin/api/stations")).status_code == 401
        document = (await http.get("/admin/api/openapi.json")).json()
    assert "/stations/{station_id}/commands/{name}" in document["paths"]


async def test_dead_connection_is_noticed_by_ping(tmp_path) -> None:
    p = await Platform(tmp_path, ws_ping_interval=0.2, ws_ping_timeout=0.3).start()
    try:
        await p.add_station("CP-DEAD")
        events = p.events()
        # A charger whose link died: it never answers the server's pings.
        ws = await open_raw(p.ws_url, "CP-DEAD", ping_interval=None)
        await call(ws, "BootNotification", BOOT16)
        ws.protocol.send_pong = lambda data=b"": None  # type: ignore[method-assign]
        original = ws.protocol.receive_data

        def swallow_pings(data: bytes) -> None:
            # Drop everything the server sends, as a half-open TCP connection would.
            return None

        ws.protocol.receive_data = swallow_pings  # type: ignore[method-assign]
        gone = await events.wait(
            "StationDisconnected", lambda e: e.station_id == "CP-DEAD", timeout=10
        )
        assert gone.station_id == "CP-DEAD"
        ws.protocol.receive_data = original  # type: ignore[method-assign]
        ws.transport.abort()
        await asyncio.wait_for(ws.wait_closed(), 5)
    finally:
        await p.stop()


async def test_compression_is_negotiated_without_context_takeover(platform: Platform) -> None:
    """permessage-deflate, which OCPP 2.0.1 requires a CSMS to support, with each message
    compressed on its own: an idle connection keeps no compressor (ADR 010)."""
    await platform.add_station("CP-Z")
    async with await open_raw(platform.ws_url, "CP-Z") as ws:
        assert ws.response is not None
        offer = ws.response.headers["Sec-WebSocket-Extensions"]
        assert offer.startswith("permessage-deflate")
        assert "server_no_context_takeover" in offer and "client_no_context_takeover" in offer
        for _ in range(3):  # messages after the first are compressed afresh, and still read
            assert (await call(ws, "BootNotification", BOOT16))[2]["status"] == "Accepted"


def password_checks(result: str) -> float:
    return REGISTRY.get_sample_value("cpo_ocpp_password_checks_total", {"result": result}) or 0.0


async def guess(platform: Platform, station_id: str, address: str) -> int:
    """One handshake with a wrong password from `address`; the HTTP status it was refused with."""
    with pytest.raises(InvalidStatus) as refused:
        await open_raw(
            platform.ws_url,
            station_id,
            headers=basic(station_id, "not-the-password"),
            local_addr=(address, 0),
            open_timeout=60,
        )
    return refused.value.response.status_code


async def test_a_flood_of_wrong_passwords_keeps_neither_the_right_charger_out_nor_others_waiting(
    platform: Platform,
) -> None:
    targets = ["CP-RIGHT", *(f"CP-GUESSED-{n}" for n in range(9))]
    for station_id in targets:
        await platform.add_station(station_id, password="the-right-password-16")
    await platform.add_station("CP-BUSY")
    busy = await open_raw(platform.ws_url, "CP-BUSY", local_addr=("127.0.0.4", 0))
    assert (await call(busy, "BootNotification", BOOT16))[2]["status"] == "Accepted"
    argon2_before = password_checks("ok") + password_checks("failed")

    # 300 wrong passwords at once from one address, spread over ten stations (the right
    # charger's among them); the right charger comes from another address meanwhile.
    attack = [
        asyncio.create_task(guess(platform, targets[n % len(targets)], "127.0.0.2"))
        for n in range(300)
    ]
    async with asyncio.timeout(8):  # a deadline, not a measure of speed
        async with await open_raw(
            platform.ws_url,
            "CP-RIGHT",
            headers=basic("CP-RIGHT", "the-right-password-16"),
            local_addr=("127.0.0.3", 0),
        ) as right:
            assert (await call(right, "BootNotification", BOOT16))[2]["status"] == "Accepted"
        for _ in range(3):
            assert (await call(busy, "Heartbeat", {}))[0] == 3
    refusals = await asyncio.gather(*attack)
    await busy.close()

    assert set(refusals) <= {401, 429} and refusals.count(429) > 250
    # The back-off refused most guesses before argon2 ran: a few checks, not 300.
    assert password_checks("ok") + password_checks("failed") - argon2_before < 30


async def test_a_charger_whose_password_was_right_gets_in_from_a_refused_address(
    platform: Platform,
) -> None:
    await platform.add_station("CP-NAT", password="the-right-password-16")
    behind_nat = basic("CP-NAT", "the-right-password-16")
    async with await open_raw(platform.ws_url, "CP-NAT", headers=behind_nat) as ws:
        assert (await call(ws, "BootNotification", BOOT16))[2]["status"] == "Accepted"
    # Another charger behind the same address keeps failing until the address is refused.
    refusals = [await guess(platform, "CP-NAT", "127.0.0.1") for _ in range(7)]
    assert refusals[:5] == [401] * 5 and refusals[-1] == 429
    async with await open_raw(platform.ws_url, "CP-NAT", headers=behind_nat) as ws:
        assert (await call(ws, "Heartbeat", {}))[0] == 3
