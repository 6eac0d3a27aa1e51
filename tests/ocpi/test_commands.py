"""Commands end to end: an eMSP starts, stops, unlocks and reserves on simulated chargers of
both versions; every refusal and every charger outcome reaches it in OCPI's terms."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, Received, make_token
from tests.helpers.ocpi import PASSWORD, location, push, register_with
from tests.helpers.platform import Platform, post

APP_UID = "APP-USER-0000-0000-0000-0001"  # longer than a 1.6 idTag: a stand-in is used
CAPABLE = ["REMOTE_START_STOP_CAPABLE", "UNLOCK_CAPABLE", "RESERVABLE", "RFID_READER"]
TARIFF = {
    "id": "CMD-KWH",
    "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": 0.40, "step_size": 1}]}],
}


def site(version: str, capabilities: list[str] = CAPABLE) -> dict[str, Any]:
    """Location CMD-{version}: EVSE E1 on charger CP-{version}, EVSE 1."""
    body = location(
        f"CMD-{version}", [(f"CMD-{version}-E1", f"CP-{version}", 1)], tariff_ids=["CMD-KWH"]
    )
    body["evses"][0]["capabilities"] = capabilities
    body["evses"][0]["evse_id"] = f"NL*CPO*E{version.replace('.', '')}"
    return body


async def platform_with_emsp(
    tmp_path: Path, **settings: Any
) -> contextlib.AbstractAsyncContextManager[tuple[Platform, EmspSimulator]]:
    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[tuple[Platform, EmspSimulator]]:
        platform = await Platform(
            tmp_path,
            push_retry_max=0.2,
            session_update_seconds=0.2,
            ocpp_response_timeout=1.0,
            status_trigger_delay=60,  # no triggered status racing the ones under test
            **settings,
        ).start()
        try:
            async with EmspSimulator(party_id="EMS") as sim:
                await register_with(platform, sim)
                await post(platform, "/tariffs", TARIFF)
                for version in ("1.6", "2.0.1"):
                    await post(platform, "/locations", site(version))
                    await platform.add_station(f"CP-{version}", PASSWORD)
                yield platform, sim
                assert sim.violations == [], sim.violations
        finally:
            await platform.stop()

    return running()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Platform, EmspSimulator]]:
    async with await platform_with_emsp(tmp_path) as both:
        yield both


@contextlib.asynccontextmanager
async def charger(platform: Platform, version: str) -> AsyncIterator[ChargePointSimulator]:
    async with ChargePointSimulator(
        id=f"CP-{version}", url=platform.ws_url, ocpp=version, password=PASSWORD, power_w=11000
    ) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        yield cp


def app_token(uid: str = APP_UID, **kw: Any) -> dict[str, Any]:
    return make_token(uid, type="APP_USER", whitelist="NEVER", **kw)


async def command(emsp: EmspSimulator, name: str, body: dict[str, Any]) -> tuple[int, Any, str]:
    """Sends a command: HTTP status, the OCPI answer, and the id its CommandResult comes with."""
    before = set(emsp.sent_commands)
    status, answer = await emsp.send_command(name, body)
    (command_id,) = set(emsp.sent_commands) - before
    return status, answer, command_id


async def result_of(emsp: EmspSimulator, command_id: str) -> dict[str, Any]:
    found = await emsp.wait_for(
        lambda r: r.module == "commands" and r.method == "POST" and r.path.endswith(command_id)
    )
    return found.body  # type: ignore[no-any-return]


def session_put(location_id: str) -> Any:
    def matches(r: Received) -> bool:
        return (
            r.module == "sessions"
            and r.method == "PUT"
            and (r.body or {}).get("location_id") == location_id
        )

    return matches


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_start_session_charges_and_stop_session_ends_it_with_its_cdr(
    setup: tuple[Platform, EmspSimulator], version: str
) -> None:
    platform, emsp = setup
    async with charger(platform, version) as cp:
        start = {
            "token": app_token(),
            "location_id": f"CMD-{version}",
            "evse_uid": f"CMD-{version}-E1",
            "authorization_reference": "REF-START-1",
        }
        status, answer, command_id = await command(emsp, "START_SESSION", start)
        assert status == 200 and answer["status_code"] == 1000
        assert answer["data"]["result"] == "ACCEPTED" and answer["data"]["timeout"] > 1
        assert (await result_of(emsp, command_id))["result"] == "ACCEPTED"

        put = (await emsp.wait_for(session_put(f"CMD-{version}"))).body
        assert put["auth_method"] == "COMMAND"
        assert put["authorization_reference"] == "REF-START-1"
        assert put["cdr_token"]["uid"] == APP_UID and put["cdr_token"]["type"] == "APP_USER"
        assert put["evse_uid"] == f"CMD-{version}-E1" and put["status"] == "ACTIVE"
        await cp.send_meter_values(1, 900)

        status, answer, stop_id = await command(emsp, "STOP_SESSION", {"session_id": put["id"]})
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await result_of(emsp, stop_id))["result"] == "ACCEPTED"
        cdr = (await emsp.wait_for(lambda r: r.module == "cdrs" and r.method == "POST")).body
    assert cdr["session_id"] == put["id"] and cdr["auth_method"] == "COMMAND"
    assert cdr["authorization_reference"] == "REF-START-1"
    assert cdr["total_energy"] == 2.75 and cdr["total_cost"] == {"excl_vat": 1.1}
    assert emsp.sessions[("NL", "CPO", put["id"])]["status"] == "COMPLETED"


async def test_commands_are_refused_at_once_when_they_cannot_work(
    setup: tuple[Platform, EmspSimulator],
) -> None:
    platform, emsp = setup
    start = {"token": app_token(), "location_id": "CMD-1.6", "evse_uid": "CMD-1.6-E1"}

    # Unknown places: 2003 with a REJECTED CommandResponse. An id is compared as itself,
    # whatever its case: LIKE's wildcards in it match nothing else.
    for wrong in (
        {"location_id": "NOWHERE"},
        {"location_id": "CMD-1.%"},
        {"location_id": "CMD_1.6"},
        {"evse_uid": "NO-SUCH-EVSE"},
        {"connector_id": "9"},
    ):
        _, answer, _ = await command(emsp, "START_SESSION", start | wrong)
        assert answer["status_code"] == 2003 and answer["data"]["result"] == "REJECTED", answer
    # The charger is not connected.
    _, answer, _ = await command(emsp, "START_SESSION", start)
    assert answer["data"]["result"] == "REJECTED"
    assert "offline" in answer["data"]["message"][0]["text"]

    async with charger(platform, "1.6"):
        # Another eMSP's token, and an invalid one.
        foreign = start | {"token": app_token(party_id="XXX")}
        assert (await command(emsp, "START_SESSION", foreign))[1]["data"]["result"] == "REJECTED"
        invalid = start | {"token": app_token(valid=False)}
        assert (await command(emsp, "START_SESSION", invalid))[1]["data"]["result"] == "REJECTED"
        # Sessions that do not exist, reservations that do not stand.
        _, answer, _ = await command(emsp, "STOP_SESSION", {"session_id": "0" * 32})
        assert answer["data"]["result"] == "UNKNOWN_SESSION"
        _, answer, _ = await command(emsp, "CANCEL_RESERVATION", {"reservation_id": "R-NONE"})
        assert answer["data"]["result"] == "REJECTED"
        past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        reserve = {
            "token": app_token(),
            "expiry_date": past,
            "reservation_id": "R-PAST",
            "location_id": "CMD-1.6",
            "evse_uid": "CMD-1.6-E1",
        }
        assert (await command(emsp, "RESERVE_NOW", reserve))[1]["data"]["result"] == "REJECTED"

    # An EVSE that cannot do it: NOT_SUPPORTED.
    await post(platform, "/locations", site("1.6", ["RFID_READER"]))
    _, answer, _ = await command(emsp, "START_SESSION", start)
    assert answer["data"]["result"] == "NOT_SUPPORTED"

    # A response_url elsewhere than the eMSP's own host is refused: no request goes there.
    response = await emsp.request(
        "POST", "commands", "START_SESSION", json=start | {"response_url": "http://10.0.0.1/x"}
    )
    assert response.status_code == 200 and response.json()["status_code"] == 2001
    response = await emsp.request(
        "POST", "commands", "START_SESSION", json=start | {"response_url": "file:///etc/passwd"}
    )
    assert response.json()["status_code"] == 2001
    # Nor on the eMSP's host in another scheme: an origin is scheme, host and port.
    elsewhere = emsp.module_url("commands").replace("http://", "https://", 1) + "/START/1"
    response = await emsp.request(
        "POST", "commands", "START_SESSION", json=start | {"response_url": elsewhere}
    )
    assert response.json()["status_code"] == 2001
    # An unknown command, and a body that is not the command's object.
    response = await emsp.request("POST", "commands", "SELF_DESTRUCT", json={})
    assert response.status_code == 404 and response.json()["status_code"] == 2001
    response = await emsp.request(
        "POST", "commands", "START_SESSION", json={"response_url": "http://x/y"}
    )
    assert response.json()["status_code"] == 2001


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_each_charger_answer_becomes_the_result_the_spec_names(
    setup: tuple[Platform, EmspSimulator], version: str
) -> None:
    platform, emsp = setup
    start_action = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    start = {"token": app_token(), "location_id": f"CMD-{version}", "evse_uid": f"CMD-{version}-E1"}
    unlock = {
        "location_id": f"CMD-{version}",
        "evse_uid": f"CMD-{version}-E1",
        "connector_id": "1",
    }
    async with charger(platform, version) as cp:

        async def outcome(name: str, body: dict[str, Any]) -> str:
            _, answer, command_id = await command(emsp, name, body)
            assert answer["data"]["result"] == "ACCEPTED", answer
            return str((await result_of(emsp, command_id))["result"])

        cp.answers[start_action] = "Rejected"
        assert await outcome("START_SESSION", start) == "REJECTED"
        del cp.answers[start_action]
        cp.errors[start_action] = "NotSupported" if version == "2.0.1" else "NotImplemented"
        assert await outcome("START_SESSION", start) == "NOT_SUPPORTED"
        cp.errors[start_action] = "InternalError"
        assert await outcome("START_SESSION", start) == "FAILED"
        del cp.errors[start_action]
        cp.silent.add(start_action)
        assert await outcome("START_SESSION", start) == "TIMEOUT"
        cp.silent.discard(start_action)

        assert await outcome("UNLOCK_CONNECTOR", unlock) == "ACCEPTED"
        cp.answers["UnlockConnector"] = "UnlockFailed"
        assert await outcome("UNLOCK_CONNECTOR", unlock) == "FAILED"


async def test_reservations_map_to_the_chargers_ids_and_show_in_locations(
    setup: tuple[Platform, EmspSimulator],
) -> None:
    platform, emsp = setup
    assert await push(emsp, make_token("RFID-RES-1")) == 201
    later = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reserve = {
        "token": make_token("RFID-RES-1"),
        "expiry_date": later,
        "reservation_id": "EMSP-RES-1",
        "location_id": "CMD-2.0.1",
        "evse_uid": "CMD-2.0.1-E1",
        "authorization_reference": "REF-RES-1",
    }
    async with charger(platform, "2.0.1") as cp:
        _, answer, command_id = await command(emsp, "RESERVE_NOW", reserve)
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await result_of(emsp, command_id))["result"] == "ACCEPTED"
        (held,) = cp.reservations  # the platform's own id, never the eMSP's
        await emsp.wait_for(
            lambda r: r.module == "locations" and (r.body or {}).get("status") == "RESERVED"
        )
        # The same reservation again replaces it under the same id.
        _, _, again = await command(emsp, "RESERVE_NOW", reserve)
        assert (await result_of(emsp, again))["result"] == "ACCEPTED"
        assert list(cp.reservations) == [held]

        _, answer, cancel_id = await command(
            emsp, "CANCEL_RESERVATION", {"reservation_id": "EMSP-RES-1"}
        )
        assert (await result_of(emsp, cancel_id))["result"] == "ACCEPTED"
        assert cp.reservations == {}
        _, answer, _ = await command(emsp, "CANCEL_RESERVATION", {"reservation_id": "EMSP-RES-1"})
        assert answer["data"]["result"] == "REJECTED"  # nothing standing any more

        # Reserved again, then the driver comes: the session carries the reservation's reference.
        _, _, third = await command(emsp, "RESERVE_NOW", reserve | {"reservation_id": "EMSP-RES-2"})
        assert (await result_of(emsp, third))["result"] == "ACCEPTED"
        # Another eMSP reservation is another charger-side id (ids are never reused).
        (other,) = cp.reservations
        assert other != held
        assert await cp.authorize("RFID-RES-1") == "Accepted"
        await cp.start_transaction(1, "RFID-RES-1")
        put = (await emsp.wait_for(session_put("CMD-2.0.1"))).body
        assert put["authorization_reference"] == "REF-RES-1"
        # An occupied EVSE cannot be reserved.
        _, _, busy = await command(emsp, "RESERVE_NOW", reserve | {"reservation_id": "EMSP-RES-3"})
        assert (await result_of(emsp, busy))["result"] == "EVSE_OCCUPIED"


async def test_only_the_owner_stops_its_session(
    setup: tuple[Platform, EmspSimulator],
) -> None:
    platform, emsp = setup
    async with charger(platform, "1.6") as cp:
        _, _, command_id = await command(
            emsp,
            "START_SESSION",
            {"token": app_token(), "location_id": "CMD-1.6", "evse_uid": "CMD-1.6-E1"},
        )
        session_id = (await emsp.wait_for(session_put("CMD-1.6"))).body["id"]
        async with EmspSimulator(party_id="OTH") as other:
            await register_with(platform, other)
            _, answer = await other.send_command("STOP_SESSION", {"session_id": session_id})
            assert answer["data"]["result"] == "REJECTED"
            unlock = {"location_id": "CMD-1.6", "evse_uid": "CMD-1.6-E1", "connector_id": "1"}
            _, answer = await other.send_command("UNLOCK_CONNECTOR", unlock)
            assert answer["data"]["result"] == "REJECTED"  # someone else's driver is charging
        assert 1 in cp.transactions  # still charging


async def test_a_remote_start_that_never_becomes_a_transaction_is_reported(
    tmp_path: Path,
) -> None:
    async with await platform_with_emsp(tmp_path, remote_start_window_seconds=0) as (
        platform,
        emsp,
    ):
        async with charger(platform, "1.6") as cp:
            cp.start_on_remote = False  # accepted, but no driver ever plugs in
            _, _, command_id = await command(
                emsp,
                "START_SESSION",
                {"token": app_token(), "location_id": "CMD-1.6", "evse_uid": "CMD-1.6-E1"},
            )
            assert (await result_of(emsp, command_id))["result"] == "ACCEPTED"
            swept = await platform.state.ocpi_side.remote.sweep()
            assert swept["starts_expired"] == 1
            async with platform.admin() as admin:
                listed = (await admin.get("/commands")).json()
            assert listed[0]["command"] == "START_SESSION" and listed[0]["state"] == "expired"
            assert emsp.sessions == {}


async def test_a_command_cut_short_by_a_restart_is_reported_failed(tmp_path: Path) -> None:
    first = await Platform(tmp_path, push_retry_max=0.2, ocpp_response_timeout=30).start()
    async with EmspSimulator(party_id="EMS") as emsp:
        try:
            await register_with(first, emsp)
            await post(first, "/tariffs", TARIFF)
            await post(first, "/locations", site("1.6"))
            await first.add_station("CP-1.6", PASSWORD)
            async with charger(first, "1.6") as cp:
                cp.silent.add("RemoteStartTransaction")  # it never answers
                _, answer, command_id = await command(
                    emsp,
                    "START_SESSION",
                    {"token": app_token(), "location_id": "CMD-1.6", "evse_uid": "CMD-1.6-E1"},
                )
                assert answer["data"]["result"] == "ACCEPTED"
                # The process dies while the charger still says nothing: its command work ends
                # with it (a clean shutdown would first close the charger's socket, and the
                # command would end FAILED for that reason instead).
                await first.state.ocpi_side.remote.stop()
                await first.stop()
        finally:
            await first.stop()
        second = await Platform(tmp_path, push_retry_max=0.2, port=first.port).start()
        try:
            result = await result_of(emsp, command_id)
            assert result["result"] == "FAILED"
            assert "restarted" in result["message"][0]["text"]
        finally:
            await second.stop()
