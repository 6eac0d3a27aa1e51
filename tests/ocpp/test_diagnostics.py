"""Files the operator asks a charger for: OCPP 1.6 GetDiagnostics, GetLog (1.6 security
extension and 2.0.1). The charger is given a URL of the platform's own with a one-time secret,
uploads there by HTTP, reports its progress, and the operator lists and downloads the file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.charge_point import ChargePointSimulator
from tests.helpers.browser import add_user, client, logged_in
from tests.helpers.platform import VERSIONS, Platform, command, online
from tests.helpers.processes import BIN, run

LIMIT = 4096  # CPO_UPLOAD_MAX_BYTES of these tests


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(tmp_path, upload_max_bytes=LIMIT, ocpp_response_timeout=2.0).start()
    try:
        yield p
    finally:
        await p.stop()


async def uploads_of(platform: Platform, station_id: str) -> list[dict[str, Any]]:
    async with platform.admin() as admin:
        response = await admin.get(f"/stations/{station_id}/uploads")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def download(platform: Platform, upload_id: int) -> httpx.Response:
    async with platform.admin() as admin:
        return await admin.get(f"/uploads/{upload_id}")


def location_sent(sim: ChargePointSimulator, action: str) -> str:
    payload = next(p for a, p in reversed(sim.received_calls) if a == action)
    if action == "GetDiagnostics":
        return str(payload["location"])
    return str(payload["log"]["remoteLocation"])


async def test_1_6_diagnostics_are_uploaded_to_the_platform_and_downloaded(
    platform: Platform,
) -> None:
    events = platform.events()
    sim = await online(platform, "CP-DIAG-16", "1.6")
    status, result = await command(
        platform, sim.id, "get_diagnostics", {"start_time": "2026-01-01T00:00:00Z"}
    )
    assert status == 200, result
    upload_id = result["data"]["upload_id"]
    assert result["data"]["file_name"] == f"{sim.id}-diagnostics.log"
    location = location_sent(sim, "GetDiagnostics")
    assert location.startswith(f"{platform.url}/uploads/{upload_id}/")

    await events.wait("UploadReceived", lambda e: e.data["upload_id"] == upload_id)
    await events.wait(
        "DiagnosticsStatusChanged",
        lambda e: e.data["status"] == "Uploaded" and e.data.get("upload_id") == upload_id,
    )
    response = await download(platform, upload_id)
    assert response.status_code == 200
    assert response.content == sim.log_content
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="{sim.id}-diagnostics.log"'
    )
    [row] = await uploads_of(platform, sim.id)
    assert row["id"] == upload_id and row["kind"] == "Diagnostics"
    assert (row["status"], row["size"]) == ("Uploaded", len(sim.log_content))
    assert row["received_at"] is not None and row["requested_at"] is not None
    assert sim.upload_results == [200]
    await sim.close()


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("version", VERSIONS)
async def test_get_log_is_uploaded_and_its_notifications_name_the_upload(
    platform: Platform, version: str, method: str
) -> None:
    events = platform.events()
    sim = await online(platform, f"CP-LOG-{version}-{method}", version)
    sim.upload_method = method
    status, result = await command(platform, sim.id, "get_log", {"log_type": "SecurityLog"})
    assert (status, result["status"]) == (200, "Accepted"), result
    upload_id = result["data"]["upload_id"]
    [(_, request)] = [(a, p) for a, p in sim.received_calls if a == "GetLog"]
    assert request["requestId"] == upload_id and request["logType"] == "SecurityLog"
    assert location_sent(sim, "GetLog").startswith(f"{platform.url}/uploads/{upload_id}/")

    await events.wait(
        "LogStatusChanged",
        lambda e: e.data["status"] == "Uploaded" and e.data.get("upload_id") == upload_id,
    )
    response = await download(platform, upload_id)
    assert response.status_code == 200 and response.content == sim.log_content
    assert response.headers["content-type"].startswith("text/plain")
    [row] = await uploads_of(platform, sim.id)
    assert (row["kind"], row["status"], row["size"]) == (
        "SecurityLog",
        "Uploaded",
        len(sim.log_content),
    )
    assert row["file_name"] == f"{sim.id}-SecurityLog.log"
    await sim.close()


async def test_get_diagnostics_does_not_exist_in_2_0_1(platform: Platform) -> None:
    sim = await online(platform, "CP-DIAG-201", "2.0.1")
    status, result = await command(platform, sim.id, "get_diagnostics", {})
    assert status == 422 and result["outcome"] == "invalid"
    assert "OCPP 2.0.1" in result["detail"]
    assert not [a for a, _ in sim.received_calls if a == "GetDiagnostics"]
    await sim.close()


async def test_an_upload_slot_takes_one_file_within_bounds_from_its_secret_holder(
    platform: Platform,
) -> None:
    """Wrong secret, unknown slot, a body over the bound (announced or not), a second upload:
    all refused, and only the one good upload is stored."""
    sim = await online(platform, "CP-SLOT", "2.0.1")
    sim.upload_method = None  # it accepts, and leaves the uploading to this test
    status, result = await command(platform, sim.id, "get_log", {})
    assert status == 200, result
    upload_id = result["data"]["upload_id"]
    location = location_sent(sim, "GetLog")
    secret = location.rsplit("/", 1)[1]
    good = b"the log\n" * 10

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1024 + 2):
            yield b"x" * 1024

    async with httpx.AsyncClient() as client:
        base = f"{platform.url}/uploads"
        assert (await client.put(f"{base}/{upload_id}/{secret}x", content=good)).status_code == 404
        assert (
            await client.put(f"{base}/{upload_id + 1}/{secret}", content=good)
        ).status_code == 404
        assert (await client.put(location, content=b"x" * (LIMIT + 1))).status_code == 413
        assert (await client.put(location, content=chunks())).status_code == 413
        big = {"file": ("big.log", b"x" * (LIMIT + 1), "text/plain")}
        assert (await client.post(location, files=big)).status_code == 413
        two = {"a": ("a.log", b"a"), "b": ("b.log", b"b")}
        assert (await client.post(location, files=two)).status_code == 400
        [row] = await uploads_of(platform, sim.id)
        assert (row["size"], row["received_at"]) == (None, None)
        assert (await download(platform, upload_id)).status_code == 404

        assert (await client.put(location, content=good)).status_code == 200
        assert (await client.put(location, content=b"again")).status_code == 404
        assert (await client.post(location, files={"f": ("b", b"again")})).status_code == 404

    response = await download(platform, upload_id)
    assert response.content == good
    [row] = await uploads_of(platform, sim.id)
    assert row["size"] == len(good)
    await sim.close()


@pytest.mark.parametrize(
    ("name", "action", "answer", "recorded"),
    [
        ("get_log", "GetLog", "Rejected", "Rejected"),
        # A 1.6 charger with no diagnostics to send answers without a file name.
        ("get_diagnostics", "GetDiagnostics", "NoFile", "NoFile"),
    ],
)
async def test_a_refused_request_closes_its_slot(
    platform: Platform, name: str, action: str, answer: str, recorded: str
) -> None:
    sim = await online(platform, f"CP-REFUSE-{action}", "1.6")
    sim.answers[action] = answer
    status, _ = await command(platform, sim.id, name, {})
    assert status == 200
    async with httpx.AsyncClient() as client:
        response = await client.put(location_sent(sim, action), content=b"late")
    assert response.status_code == 404
    [row] = await uploads_of(platform, sim.id)
    assert (row["status"], row["size"]) == (recorded, None)
    await sim.close()


async def test_an_expired_slot_takes_nothing(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, upload_slot_hours=1e-9).start()
    try:
        sim = await online(platform, "CP-EXPIRED", "2.0.1")
        sim.upload_method = None
        status, result = await command(platform, sim.id, "get_log", {})
        assert status == 200, result
        async with httpx.AsyncClient() as client:
            response = await client.put(location_sent(sim, "GetLog"), content=b"late")
        assert response.status_code == 404
        await sim.close()
    finally:
        await platform.stop()


async def test_the_cli_lists_and_writes_uploads(platform: Platform, tmp_path: Path) -> None:
    events = platform.events()
    sim = await online(platform, "CP-CLI-LOG", "2.0.1")
    status, result = await command(platform, sim.id, "get_log", {})
    assert status == 200, result
    upload_id = result["data"]["upload_id"]
    await events.wait("UploadReceived", lambda e: e.data["upload_id"] == upload_id)

    env = platform.cli_env()
    code, out, err = await run(str(BIN / "cpo"), "upload", "list", sim.id, env=env)
    assert code == 0, err
    assert f"#{upload_id}" in out and f"{len(sim.log_content)} bytes" in out
    target = tmp_path / "got.log"
    code, out, err = await run(
        str(BIN / "cpo"), "upload", "get", str(upload_id), str(target), env=env
    )
    assert code == 0, err
    assert target.read_bytes() == sim.log_content
    await sim.close()


async def test_the_console_asks_for_a_log_and_offers_the_file(platform: Platform) -> None:
    await add_user(platform, "olga", "operator")
    events = platform.events()
    sim = await online(platform, "CP-CONSOLE-LOG", "2.0.1")
    page_url = f"/console/stations/{sim.id}"
    async with client(platform) as http:
        token = await logged_in(http, "olga")
        page = await http.get(page_url)
        for name in ("get_diagnostics", "get_log"):
            assert f"/commands/{name}" in page.text
        form = {"csrf_token": token, "log_type": "DiagnosticsLog", "oldest": "", "latest": ""}
        asked = await http.post(f"{page_url}/commands/get_log", data=form)
        assert asked.status_code == 200 and "Accepted" in asked.text
        received = await events.wait("UploadReceived")
        link = f"{page_url}/uploads/{received.data['upload_id']}"
        assert link in (await http.get(page_url)).text
        got = await http.get(link)
        assert got.status_code == 200 and got.content == sim.log_content
        assert got.headers["content-disposition"].startswith("attachment;")
        assert (
            await http.get(f"/console/stations/CP-OTHER/uploads/{received.data['upload_id']}")
        ).status_code == 404
    await sim.close()


async def test_files_past_their_retention_are_removed(platform: Platform) -> None:
    events = platform.events()
    sim = await online(platform, "CP-OLD-LOG", "2.0.1")
    status, result = await command(platform, sim.id, "get_log", {})
    assert status == 200, result
    upload_id = result["data"]["upload_id"]
    await events.wait("UploadReceived", lambda e: e.data["upload_id"] == upload_id)
    store = platform.csms.store
    assert await store.forget_uploads(timedelta(days=1)) == 0
    assert await store.forget_uploads(timedelta(0)) == 1
    assert await uploads_of(platform, sim.id) == []
    assert (await download(platform, upload_id)).status_code == 404
    await sim.close()
