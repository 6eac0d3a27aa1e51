"""Boot answered Pending while the platform provisions a charger (2.0.1 B02, 1.6 Pending), then
Accepted; a key the charger refuses keeps it Pending, and a Pending charger may send nothing but
BootNotification."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cpo import cli
from simulators.charge_point import CallErrorReceived, ChargePointSimulator
from tests.helpers.browser import add_user, client, logged_in
from tests.helpers.platform import VERSIONS, EventWaiter, Platform, command

PASSWORD = "charger-secret-1"
# Known to both versions (2.0.1: SampledDataCtrlr.TxUpdatedInterval) and not the heartbeat,
# which each accepted boot sets anew.
KEY = "MeterValueSampleInterval"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(
        tmp_path, boot_pending="new", boot_retry_interval=30, status_trigger_delay=60
    ).start()
    try:
        yield p
    finally:
        await p.stop()


async def put(platform: Platform, path: str, value: str, status: int = 200) -> Any:
    async with platform.admin() as admin:
        response = await admin.put(path, json={"value": value})
    assert response.status_code == status, response.text
    return response.json()


async def get(platform: Platform, path: str) -> Any:
    async with platform.admin() as admin:
        response = await admin.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def charger(platform: Platform, station_id: str, version: str) -> ChargePointSimulator:
    await platform.add_station(station_id, PASSWORD)
    sim = ChargePointSimulator(
        id=station_id, url=platform.ws_url, ocpp=version, password=PASSWORD, evses=1
    )
    await sim.connect()
    return sim


async def accepted(events: EventWaiter, sim: ChargePointSimulator) -> None:
    """The boot the platform triggered once it provisioned the charger was accepted."""
    await events.wait("StationBooted")
    await sim.wait_idle()  # the charger's own side of that boot
    assert sim.registration == "Accepted"


def sample_interval(sim: ChargePointSimulator) -> str:
    if sim.ocpp == "1.6":
        return sim.configuration[KEY]
    return sim.variables[("SampledDataCtrlr", "TxUpdatedInterval")]


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_b_02_cold_boot_pending(platform: Platform, version: str) -> None:
    """First boot: Pending with the retry interval; the platform sets the provisioning set,
    asks the charger to boot again (TriggerMessage) and accepts that boot."""
    await put(platform, f"/provisioning/{KEY}", "15")
    events = platform.events()
    sim = await charger(platform, f"CP-BP{version}", version)
    try:
        assert await sim.boot() == "Pending"
        done = await events.wait("StationProvisioned")
        assert done.data["ok"] is True and done.data["results"] == {KEY: "Accepted"}
        await accepted(events, sim)
        assert sample_interval(sim) == "15"
        await sim.status(1, "Available")  # accepted now: its messages are taken

        station = await get(platform, f"/stations/{sim.id}")
        assert station["boot_status"] == "Accepted" and station["accepted_at"]
        view = await get(platform, f"/stations/{sim.id}/provisioning")
        assert view["wanted"] == {KEY: "15"}
        assert [(r["key"], r["value"], r["status"]) for r in view["results"]] == [
            (KEY, "15", "Accepted")
        ]
        # Booting again with the same set: accepted at once.
        assert await sim.reboot() == "Accepted"
    finally:
        events.close()
        await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_changed_provisioning_set_makes_the_next_boot_pending(
    platform: Platform, version: str
) -> None:
    events = platform.events()
    sim = await charger(platform, f"CP-BC{version}", version)
    try:
        assert await sim.boot() == "Pending"  # new, with nothing to set: provisioned at once
        await accepted(events, sim)
        await put(platform, f"/stations/{sim.id}/provisioning/{KEY}", "20")
        assert await sim.reboot() == "Pending"
        await events.wait("StationProvisioned", lambda e: e.data["ok"])
        await accepted(events, sim)
        assert sample_interval(sim) == "20"
    finally:
        events.close()
        await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_refused_key_keeps_the_charger_pending_and_its_messages_refused(
    platform: Platform, version: str
) -> None:
    """The charger refuses a key: it stays Pending, the operator sees which key and why, and
    until it is accepted it may send nothing but BootNotification (SecurityError)."""
    await put(platform, f"/provisioning/{KEY}", "15")
    events = platform.events()
    sim = await charger(platform, f"CP-BR{version}", version)
    sim.answers["ChangeConfiguration" if version == "1.6" else "SetVariables"] = "Rejected"
    try:
        assert await sim.boot() == "Pending"
        done = await events.wait("StationProvisioned")
        assert done.data["ok"] is False and done.data["results"] == {KEY: "Rejected"}

        view = await get(platform, f"/stations/{sim.id}/provisioning")
        assert view["boot_status"] == "Pending"
        assert KEY in view["reason"] and "Rejected" in view["reason"]
        assert view["results"][0]["status"] == "Rejected"
        assert (await get(platform, "/stations"))[0]["boot_status"] == "Pending"
        for send in (lambda: sim.status(1, "Available"), sim.heartbeat):
            with pytest.raises(CallErrorReceived) as refused:
                await send()
            assert refused.value.code == "SecurityError"

        # The platform configures a Pending charger, but starts nothing on it.
        status, answer = await command(
            platform, sim.id, "remote_start", {"id_token": "04A1B2C3", "evse_id": 1}
        )
        assert status == 422 and "Pending" in answer["detail"], answer
        assert "RemoteStartTransaction" not in dict(sim.received_calls)
        assert "RequestStartTransaction" not in dict(sim.received_calls)

        # Back without booting (a new socket replaces the old one): still Pending.
        back = ChargePointSimulator(
            id=sim.id, url=platform.ws_url, ocpp=version, password=PASSWORD, evses=1
        )
        await back.connect()
        await sim.close()
        sim = back
        with pytest.raises(CallErrorReceived):
            await sim.heartbeat()

        # The charger takes the key now; its next boot (after the interval) is provisioned.
        assert await sim.boot() == "Pending"
        await events.wait("StationProvisioned", lambda e: e.data["ok"])
        await accepted(events, sim)
        await sim.heartbeat()
    finally:
        events.close()
        await sim.close()


async def test_always_provisions_at_every_boot(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, boot_pending="always", status_trigger_delay=60).start()
    events = platform.events()
    sim = await charger(platform, "CP-BA", "2.0.1")
    try:
        for _ in range(2):
            assert await sim.reboot() == "Pending"
            await events.wait("StationProvisioned")
            await accepted(events, sim)
    finally:
        events.close()
        await sim.close()
        await platform.stop()


async def test_never_is_todays_behaviour(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, status_trigger_delay=60).start()
    sim = await charger(platform, "CP-BN", "1.6")
    try:
        await put(platform, f"/provisioning/{KEY}", "15")
        assert await sim.boot() == "Accepted"
        assert (await get(platform, f"/stations/{sim.id}"))["boot_status"] is None
    finally:
        await sim.close()
        await platform.stop()


async def test_bad_provisioning_items_are_problem_documents(platform: Platform) -> None:
    events = platform.events()
    sim = await charger(platform, "CP-BB", "2.0.1")
    try:
        await put(platform, f"/provisioning/{KEY}", "x" * 501, 422)  # 1.6 takes 500
        await put(platform, f"/provisioning/{KEY}", "x" * 1001, 422)
        await put(platform, "/provisioning/AuthorizationKey", "0123456789abcdef", 422)
        await put(platform, "/stations/NOBODY/provisioning/HeartbeatInterval", "60", 404)
        assert await sim.boot() == "Pending"
        await accepted(events, sim)
        # Now a 2.0.1 charger: its keys are Component.Variable, its values up to 1000.
        problem = await put(platform, f"/stations/{sim.id}/provisioning/NoSuchKey", "1", 422)
        assert problem["title"] == "invalid provisioning item"
        assert "Component.Variable" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["path", "key"]
        await put(platform, f"/stations/{sim.id}/provisioning/OCPPCommCtrlr.X", "x" * 700)
        async with platform.admin() as admin:
            gone = await admin.delete(f"/stations/{sim.id}/provisioning/OCPPCommCtrlr.X")
            assert gone.status_code == 204
            again = await admin.delete(f"/stations/{sim.id}/provisioning/OCPPCommCtrlr.X")
            assert again.status_code == 404
    finally:
        events.close()
        await sim.close()


async def test_the_operator_manages_the_set_from_the_command_line(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in platform.cli_env().items():
        monkeypatch.setenv(name, value)
    await platform.add_station("CP-CLI")

    async def cpo(*argv: str) -> int:
        # The CLI is synchronous: off the loop that serves the platform it asks.
        return await asyncio.to_thread(cli.main, list(argv))

    assert await cpo("provision", "set", KEY, "15") == 0
    assert await cpo("provision", "set", KEY, "25", "--station", "CP-CLI") == 0
    assert await cpo("provision", "set", KEY, "x" * 501) == 1  # a 422, said on stderr
    capsys.readouterr()
    assert await cpo("provision", "show", "--station", "CP-CLI", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["wanted"] == {KEY: "25"} and shown["boot_status"] is None
    assert await cpo("provision", "remove", KEY, "--station", "CP-CLI") == 0
    assert await cpo("provision", "show") == 0
    assert f"{KEY:<50} 15" in capsys.readouterr().out


async def test_the_console_shows_a_pending_charger_and_why_and_sets_keys(
    platform: Platform,
) -> None:
    await put(platform, f"/provisioning/{KEY}", "15")
    await add_user(platform, "olga", "operator")
    events = platform.events()
    sim = await charger(platform, "CP-BCON", "1.6")
    sim.answers["ChangeConfiguration"] = "Rejected"
    try:
        assert await sim.boot() == "Pending"
        await events.wait("StationProvisioned")
        async with client(platform) as http:
            token = await logged_in(http, "olga")
            page = await http.get("/console/stations/CP-BCON")
            assert page.status_code == 200
            assert "Pending" in page.text and f"refused: {KEY} (Rejected)" in page.text
            assert "<h2>Provisioning</h2>" in page.text
            form = "/console/stations/CP-BCON/provisioning"
            too_long = {"csrf_token": token, "key": KEY, "value": "9" * 501}
            refused = await http.post(form, data=too_long)
            assert refused.status_code == 422 and "at most 500 characters" in refused.text
            done = await http.post(form, data={"csrf_token": token, "key": KEY, "value": "45"})
            assert done.status_code == 200 and f"{KEY} = 45" in done.text
        view = await get(platform, "/stations/CP-BCON/provisioning")
        assert view["wanted"] == {KEY: "45"}
    finally:
        events.close()
        await sim.close()
