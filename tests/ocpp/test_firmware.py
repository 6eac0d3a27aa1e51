"""Firmware updates: UpdateFirmware on 1.6 (plain and SignedUpdateFirmware) and 2.0.1, and
campaigns over many chargers that follow each to Installed, retry failures and reach chargers
that come online later."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from cpo.firmware.campaigns import Campaigns
from cpo.firmware.tables import FirmwareTarget
from cpo.schema import migrate
from csms.db import make_database, make_engine, make_reader
from csms.events import EventFeed
from simulators.charge_point import ChargePointSimulator
from tests.helpers.cluster import until
from tests.helpers.firmware import reported
from tests.helpers.platform import VERSIONS, Platform, command, online, post
from tests.helpers.processes import BIN, run
from tests.helpers.sqlite_lock import write_lock_held

IMAGE = "https://firmware.example.com/sim-2.0.0.bin"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
PASSWORD = "charger-secret-1"  # what tests.helpers.platform.online gives the charger


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(tmp_path, ocpp_response_timeout=2.0).start()
    try:
        yield p
    finally:
        await p.stop()


async def campaign(platform: Platform, campaign_id: int) -> dict[str, Any]:
    async with platform.admin() as admin:
        response = await admin.get(f"/firmware/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def charger(view: dict[str, Any], station_id: str) -> dict[str, Any]:
    return next(c for c in view["chargers"] if c["station_id"] == station_id)


def statuses(row: dict[str, Any]) -> list[str]:
    return [step["status"] for step in row["history"]]


@pytest.mark.parametrize("version", VERSIONS)
async def test_update_firmware_command_runs_the_update(platform: Platform, version: str) -> None:
    sim = await online(platform, "FW1", version)
    events = platform.events()
    code, answer = await command(platform, "FW1", "update_firmware", {"location": IMAGE})
    assert code == 200, answer
    assert answer["status"] == "Accepted"
    await events.wait("FirmwareStatusChanged", lambda e: e.data.get("status") == "Installed")
    action, payload = next(c for c in sim.received_calls if c[0] == "UpdateFirmware")
    location = payload["location"] if version == "1.6" else payload["firmware"]["location"]
    assert location == IMAGE
    assert sim.firmware == "sim-2.0.0.bin"
    await sim.close()


async def test_signed_update_on_16_is_signed_update_firmware(platform: Platform) -> None:
    sim = await online(platform, "FW1", "1.6")
    events = platform.events()
    body = {"location": IMAGE, "signing_certificate": CERTIFICATE, "signature": "c2ln"}
    code, answer = await command(platform, "FW1", "update_firmware", body)
    assert code == 200 and answer["status"] == "Accepted", answer
    event = await events.wait(
        "FirmwareStatusChanged", lambda e: e.data.get("status") == "SignatureVerified"
    )
    assert event.data["request_id"] == answer["data"]["request_id"]
    assert [c[0] for c in sim.received_calls].count("SignedUpdateFirmware") == 1
    await sim.close()


async def test_campaign_installs_on_both_versions_in_order(platform: Platform) -> None:
    sims = {
        "FW16": await online(platform, "FW16", "1.6"),
        "FW201": await online(platform, "FW201", "2.0.1"),
    }
    events = platform.events()
    created = await post(
        platform, "/firmware/campaigns", {"location": IMAGE, "stations": list(sims)}, 201
    )
    for station_id in sims:
        await reported(platform, events, station_id, "Installed")
    view = await campaign(platform, created["id"])
    for station_id in sims:
        row = charger(view, station_id)
        assert row["state"] == "installed"
        assert statuses(row) == [
            "Sent", "Accepted", "Downloading", "Downloaded", "Installing", "Installed",
        ]  # fmt: skip
        assert row["firmware_version"] == "sim-2.0.0.bin"
        times = [step["at"] for step in row["history"][2:]]  # the charger's, as it sent them
        assert times == sorted(times)
    assert view["states"] == {"installed": 2}
    async with platform.admin() as admin:
        listed = (await admin.get("/firmware/campaigns")).json()
    assert [c["id"] for c in listed] == [created["id"]]
    for sim in sims.values():
        await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_failed_download_is_retried_and_recorded(platform: Platform, version: str) -> None:
    sim = await online(platform, "FW1", version)
    sim.firmware_failures = ["DownloadFailed"]
    events = platform.events()
    body = {"location": IMAGE, "stations": ["FW1"], "attempts": 2, "attempt_interval": 0}
    created = await post(platform, "/firmware/campaigns", body, 201)
    await reported(platform, events, "FW1", "DownloadFailed")
    await reported(platform, events, "FW1", "Installed")
    row = charger(await campaign(platform, created["id"]), "FW1")
    assert row["state"] == "installed" and row["attempts"] == 2
    assert statuses(row) == [
        "Sent", "Accepted", "Downloading", "DownloadFailed",
        "Sent", "Accepted", "Downloading", "Downloaded", "Installing", "Installed",
    ]  # fmt: skip
    await sim.close()


async def test_failure_on_the_last_attempt_fails_the_charger(platform: Platform) -> None:
    sim = await online(platform, "FW1", "2.0.1")
    sim.firmware_failures = ["InstallationFailed"]
    events = platform.events()
    body = {"location": IMAGE, "stations": ["FW1"], "attempts": 1}
    created = await post(platform, "/firmware/campaigns", body, 201)
    await reported(platform, events, "FW1", "InstallationFailed")
    row = charger(await campaign(platform, created["id"]), "FW1")
    assert row["state"] == "failed"
    assert statuses(row)[-1] == "InstallationFailed"
    await sim.close()


async def test_tc_l_03_publish_firmware_on_a_local_controller(platform: Platform) -> None:
    sim = await online(platform, "LC1", "2.0.1")
    events = platform.events()
    checksum = "9E107D9D372BB6826BD81D3542A419D6"
    body = {"location": IMAGE, "checksum": checksum}
    code, answer = await command(platform, "LC1", "publish_firmware", body)
    assert code == 200 and answer["status"] == "Accepted", answer
    published = await events.wait(
        "FirmwarePublishStatusChanged", lambda e: e.data.get("status") == "Published"
    )
    assert published.data["request_id"] == answer["data"]["request_id"]
    assert published.data["locations"] == sim.published[checksum.lower()]
    action, payload = next(c for c in sim.received_calls if c[0] == "PublishFirmware")
    assert (payload["location"], payload["checksum"]) == (IMAGE, checksum.lower())
    # L04: unpublished once; then the controller serves nothing with that checksum.
    for expected in ("Unpublished", "NoFirmware"):
        code, answer = await command(platform, "LC1", "unpublish_firmware", {"checksum": checksum})
        assert (code, answer["status"]) == (200, expected), answer
    await sim.close()


@pytest.mark.parametrize(
    ("version", "name", "body"),
    [
        ("2.0.1", "publish_firmware", {"location": IMAGE, "checksum": "not-an-md5"}),
        ("2.0.1", "publish_firmware", {"location": "file:///etc/passwd", "checksum": "0" * 32}),
        (
            "2.0.1",
            "publish_firmware",
            {"location": IMAGE, "checksum": "0" * 32, "signature": "c2ln"},
        ),
        ("2.0.1", "unpublish_firmware", {"checksum": "0" * 33}),
        ("1.6", "publish_firmware", {"location": IMAGE, "checksum": "0" * 32}),
    ],
)
async def test_bad_publish_firmware_is_refused(
    platform: Platform, version: str, name: str, body: dict[str, Any]
) -> None:
    sim = await online(platform, "LC1", version)
    code, problem = await command(platform, "LC1", name, body)
    assert code == 422 and problem["detail"], problem
    assert not any(c[0] in ("PublishFirmware", "UnpublishFirmware") for c in sim.received_calls)
    await sim.close()


async def test_a_charger_silent_after_it_took_the_update_is_tried_again(tmp_path: Path) -> None:
    p = await Platform(tmp_path, ocpp_response_timeout=2.0, firmware_silence=0.5).start()
    try:
        sim = await online(p, "FW1", "2.0.1")
        sim.firmware_failures = ["Silent"]
        events = p.events()
        body = {"location": IMAGE, "stations": ["FW1"], "attempts": 2, "attempt_interval": 3600}
        created = await post(p, "/firmware/campaigns", body, 201)
        await reported(p, events, "FW1", "Downloading")

        async def given_up() -> dict[str, Any] | None:
            row = charger(await campaign(p, created["id"]), "FW1")
            return row if row["state"] != "updating" else None

        # Nothing announces a silence: the campaigns' own loop finds it.
        row = await until(given_up, what="the silent charger's attempt to end")
        assert row["state"] == "retry" and row["next_attempt_at"]
        assert statuses(row) == ["Sent", "Accepted", "Downloading", "NoReport"]
        assert "no status" in row["history"][-1]["detail"]
        await sim.close()
    finally:
        await p.stop()


async def test_a_cancelled_campaign_lets_its_chargers_go(platform: Platform) -> None:
    sims = [await online(platform, f"FW{i}", "2.0.1") for i in (1, 2)]
    sims[0].firmware_failures = ["Silent"]
    sims[1].answers["UpdateFirmware"] = "Rejected"
    events = platform.events()
    body = {"location": IMAGE, "stations": ["FW1", "FW2"], "attempts": 3, "attempt_interval": 3600}
    created = await post(platform, "/firmware/campaigns", body, 201)
    await reported(platform, events, "FW1", "Downloading")
    firmware = platform.state.firmware
    while charger(await campaign(platform, created["id"]), "FW2")["state"] != "retry":
        await firmware.step()
        await asyncio.gather(*firmware._tasks)
    env = platform.cli_env()
    code, out, err = await run(str(BIN / "cpo"), "firmware", "cancel", str(created["id"]), env=env)
    assert code == 0 and "2 chargers left it" in out, out + err
    view = await campaign(platform, created["id"])
    assert view["states"] == {"cancelled": 2}
    assert all(statuses(row)[-1] == "Cancelled" for row in view["chargers"])
    # Free for another campaign at once; cancelling twice, or what does not exist, says so.
    again = await post(platform, "/firmware/campaigns", body | {"stations": ["FW1"]}, 201)
    assert again["id"] != created["id"]
    async with platform.admin() as admin:
        twice = await admin.post(f"/firmware/campaigns/{created['id']}/cancel")
        missing = await admin.post("/firmware/campaigns/999999/cancel")
    assert twice.status_code == 200 and twice.json()["states"] == {"cancelled": 2}
    assert missing.status_code == 404 and missing.json()["title"]
    for sim in sims:
        await sim.close()


async def test_refused_update_is_recorded_and_retried(platform: Platform) -> None:
    sim = await online(platform, "FW1", "2.0.1")
    sim.answers["UpdateFirmware"] = "Rejected"
    body = {"location": IMAGE, "stations": ["FW1"], "attempts": 2, "attempt_interval": 3600}
    created = await post(platform, "/firmware/campaigns", body, 201)
    # A refusal brings no notification to wait for: wait for the send itself.
    firmware = platform.state.firmware
    while not any(c[0] == "UpdateFirmware" for c in sim.received_calls) or firmware._tasks:
        await firmware.step()
        await asyncio.gather(*firmware._tasks)
    row = charger(await campaign(platform, created["id"]), "FW1")
    assert row["state"] == "retry" and row["next_attempt_at"]
    assert statuses(row) == ["Sent", "Rejected"]
    # A step whose list of due targets was read before that send ended (on the read
    # connections, or on another node) comes to it now: it is not due for an hour.
    async with firmware.database() as session:
        target_id = (
            await session.execute(
                select(FirmwareTarget.id).where(FirmwareTarget.station_id == "FW1")
            )
        ).scalar_one()
    await firmware._attempt(target_id)
    assert [c[0] for c in sim.received_calls].count("UpdateFirmware") == 1
    row = charger(await campaign(platform, created["id"]), "FW1")
    assert row["state"] == "retry" and statuses(row) == ["Sent", "Rejected"]
    await sim.close()


async def test_offline_charger_gets_the_update_when_it_connects(platform: Platform) -> None:
    await platform.add_station("FW1", password=PASSWORD)
    body = {"location": IMAGE, "stations": ["FW1"], "attempt_interval": 3600}
    created = await post(platform, "/firmware/campaigns", body, 201)
    events = platform.events()
    sim = ChargePointSimulator(id="FW1", url=platform.ws_url, ocpp="2.0.1", password=PASSWORD)
    await sim.connect()
    assert await sim.boot() == "Accepted"
    await reported(platform, events, "FW1", "Installed")
    row = charger(await campaign(platform, created["id"]), "FW1")
    assert row["state"] == "installed"
    assert statuses(row)[-1] == "Installed"
    await sim.close()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"location": IMAGE, "stations": []}, 422),
        ({"location": IMAGE, "stations": ["NOPE"]}, 404),
        ({"location": "not a url", "stations": ["FW1"]}, 422),
        ({"location": "file:///etc/passwd", "stations": ["FW1"]}, 422),
        ({"location": IMAGE, "stations": ["FW1"], "retries": -1}, 422),
        ({"location": IMAGE, "stations": ["FW1"], "signature": "c2ln"}, 422),
        ({"location": IMAGE, "stations": ["FW1"], "attempts": 0}, 422),
    ],
)
async def test_bad_campaign_is_refused(
    platform: Platform, body: dict[str, Any], status: int
) -> None:
    await platform.add_station("FW1")
    async with platform.admin() as admin:
        response = await admin.post("/firmware/campaigns", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_charger_is_in_one_active_campaign_at_most(platform: Platform) -> None:
    await platform.add_station("FW1")
    await post(platform, "/firmware/campaigns", {"location": IMAGE, "stations": ["FW1"]}, 201)
    async with platform.admin() as admin:
        response = await admin.post(
            "/firmware/campaigns", json={"location": IMAGE, "stations": ["FW1"]}
        )
        assert response.status_code == 409, response.text
        assert (await admin.get("/firmware/campaigns/999")).status_code == 404


async def test_bad_update_firmware_command_is_refused(platform: Platform) -> None:
    sim = await online(platform, "FW1", "1.6")
    code, _ = await command(platform, "FW1", "update_firmware", {"location": "nowhere"})
    assert code == 422
    code, _ = await command(platform, "FW1", "update_firmware", {"location": IMAGE, "retries": -1})
    assert code == 422
    await sim.close()


async def test_the_cli_starts_lists_and_shows_a_campaign(platform: Platform) -> None:
    sim = await online(platform, "CP-FW-CLI", "2.0.1")
    waiter = platform.events()
    env = platform.cli_env()
    image = "https://firmware.example/cp-2.0.bin"
    code, out, err = await run(str(BIN / "cpo"), "firmware", "start", image, sim.id, env=env)
    assert code == 0 and "started on 1 chargers" in out, err
    await reported(platform, waiter, sim.id, "Installed")
    code, out, err = await run(str(BIN / "cpo"), "firmware", "list", env=env)
    assert code == 0 and image in out and "installed" in out, out + err
    code, out, err = await run(str(BIN / "cpo"), "firmware", "show", "1", env=env)
    assert code == 0 and sim.id in out and "Installed" in out, out + err
    await sim.close()


async def test_a_campaign_step_with_nothing_to_do_takes_no_write_lock(tmp_path: Path) -> None:
    # SQLite takes one writer at a time, and every transaction on the write engine takes the
    # lock: the checks each step makes (new events? silent chargers? targets due?) read on
    # the read connections, so with no campaign a step never waits for (or holds off) the
    # chargers' writes. Another process holds the write lock through the second step.
    url = f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"
    await migrate(url)
    engine = make_engine(url)
    reader = make_reader(engine)
    assert reader is not None
    campaigns = Campaigns(
        make_database(engine),
        None,  # type: ignore[arg-type]  # no campaign: nothing is sent
        EventFeed(),
        readers=make_database(reader),
    )
    try:
        await campaigns.step()  # the first makes its cursor (a write)
        async with write_lock_held(tmp_path / "csms.db"):
            # Bounded so that a step that waits for the lock fails here instead of hanging.
            await asyncio.wait_for(campaigns.step(), 10)
    finally:
        await engine.dispose()
        await reader.dispose()
