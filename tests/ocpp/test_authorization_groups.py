"""Authorization by group (2.0.1 block C, 1.6 parentIdTag): an eMSP token's group_id reaches
the charger, a token of the starter's group stops a transaction, a master pass token stops
any transaction and starts none, and answers carry the token's validity for the charger's
authorization cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, make_token
from tests.helpers.ocpi import PASSWORD, push, registers_with_us
from tests.helpers.platform import VERSIONS, Platform, post

MASTER = "MASTER-PASS"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(
        tmp_path,
        push_retry_max=0.2,
        authorize_timeout=1.0,
        boot_pending="new",
        master_pass_group_id=MASTER,
        status_trigger_delay=60,
    ).start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
async def emsp(platform: Platform) -> AsyncIterator[EmspSimulator]:
    """A registered eMSP whose drivers' cards are grouped: two of one fleet, one of another,
    and a master pass."""
    async with EmspSimulator(party_id="EMS") as sim:
        await registers_with_us(platform, sim)
        for uid, group in (
            ("FLEET1-A", "FLEET-1"),
            ("FLEET1-B", "FLEET-1"),
            ("OTHER-C", "FLEET-2"),
            ("MASTER-M", MASTER),
        ):
            assert await push(sim, make_token(uid, whitelist="ALWAYS", group_id=group)) == 201
        yield sim


async def provisioned(platform: Platform, station_id: str, version: str) -> ChargePointSimulator:
    """A new charger: Pending, provisioned (2.0.1: the master pass group), then Accepted."""
    await platform.add_station(station_id, PASSWORD)
    events = platform.events()
    sim = ChargePointSimulator(
        id=station_id, url=platform.ws_url, ocpp=version, password=PASSWORD, evses=2
    )
    try:
        await sim.connect()
        assert await sim.boot() == "Pending"
        await events.wait("StationBooted")
        await sim.wait_idle()
        assert sim.registration == "Accepted"
    finally:
        events.close()
    for evse in sim.evse_ids:
        await sim.status(evse, "Available")
    return sim


def group_of(sim: ChargePointSimulator, token: str) -> str | None:
    info = sim.id_tag_infos[token.upper()]
    if sim.ocpp == "1.6":
        return info.get("parent_id_tag")
    return (info.get("group_id_token") or {}).get("id_token")


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_c_09_a_token_of_the_starters_group_stops_its_transaction(
    platform: Platform, emsp: EmspSimulator, version: str
) -> None:
    """2.0.1 use case C09 (authorization by GroupId), 1.6 parentIdTag: the eMSP's group_id is
    the token's group in every answer; the charger lets a card of the starter's group stop the
    transaction and no other card."""
    sim = await provisioned(platform, f"CP-G{version}", version)
    events = platform.events()
    try:
        assert await sim.authorize("FLEET1-A") == "Accepted"
        assert group_of(sim, "FLEET1-A") == "FLEET-1"
        tx = await sim.start_transaction(1, "FLEET1-A")
        assert tx.status == "Accepted" and group_of(sim, "FLEET1-A") == "FLEET-1"

        assert await sim.present(1, "OTHER-C") is None  # another fleet's card
        assert group_of(sim, "OTHER-C") == "FLEET-2"
        assert 1 in sim.transactions

        assert await sim.present(1, "FLEET1-B") == "Local"
        ended = await events.wait("TransactionEnded")
        assert ended.station_id == sim.id
    finally:
        events.close()
        await sim.close()


async def test_tc_c_16_stop_transaction_with_master_pass(
    platform: Platform, emsp: EmspSimulator
) -> None:
    """The master pass group reaches the charger (AuthCtrlr.MasterPassGroupId) when it is
    provisioned; a master pass card stops another driver's transaction (stoppedReason
    MasterPass) and cannot start one."""
    sim = await provisioned(platform, "CP-M201", "2.0.1")
    events = platform.events()
    try:
        assert sim.variables[("AuthCtrlr", "MasterPassGroupId")] == MASTER
        await sim.start_transaction(1, "FLEET1-A")
        assert await sim.present(1, "MASTER-M") == "MasterPass"
        assert group_of(sim, "MASTER-M") == MASTER
        await events.wait("TransactionEnded")
        async with platform.admin() as admin:
            (transaction,) = (await admin.get(f"/stations/{sim.id}/transactions")).json()
        assert transaction["id_token"] == "FLEET1-A"  # the driver's, not the master pass's
        assert (transaction["status"], transaction["stop_reason"]) == ("ended", "MasterPass")
    finally:
        events.close()
        await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_master_pass_token_never_starts_a_transaction(
    platform: Platform, emsp: EmspSimulator, version: str
) -> None:
    """Authorize answers the master pass Accepted with its group (so that it may stop), but a
    start with it is refused, and not kept in the charger's cache (its expiry is now)."""
    sim = await provisioned(platform, f"CP-MS{version}", version)
    try:
        assert await sim.authorize("MASTER-M") == "Accepted"
        tx = await sim.start_transaction(2, "MASTER-M")
        assert tx.status == "Invalid"
        info = sim.id_tag_infos["MASTER-M"]
        expiry = info.get("expiry_date") or info.get("cache_expiry_date_time")
        assert expiry is not None
        assert datetime.fromisoformat(expiry) <= datetime.now(UTC)
    finally:
        await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_answers_carry_the_tokens_validity_for_the_cache(
    platform: Platform, emsp: EmspSimulator, version: str
) -> None:
    """1.6 expiryDate / 2.0.1 cacheExpiryDateTime come from the token's validity (now, for an
    eMSP token decided at every use); blocked and expired tokens are answered as such, so the
    charger's cache learns it."""
    asked_each_time = make_token("ASK-EACH-TIME", whitelist="NEVER")
    assert await push(emsp, asked_each_time) == 201
    emsp.tokens.append(asked_each_time)
    until = datetime.now(UTC) + timedelta(days=30)
    await post(
        platform,
        "/tokens",
        {"uid": "VALID-UNTIL", "expires_at": until.isoformat()},
        status=201,
    )
    await post(platform, "/tokens", {"uid": "BLOCKED-T", "status": "Blocked"}, status=201)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await post(platform, "/tokens", {"uid": "EXPIRED-T", "expires_at": past}, status=201)
    sim = await provisioned(platform, f"CP-K{version}", version)
    try:
        assert await sim.authorize("VALID-UNTIL") == "Accepted"
        info = sim.id_tag_infos["VALID-UNTIL"]
        expiry = info.get("expiry_date") or info.get("cache_expiry_date_time")
        assert abs(datetime.fromisoformat(expiry) - until) < timedelta(seconds=1)
        assert await sim.authorize("ASK-EACH-TIME") == "Accepted"
        info = sim.id_tag_infos["ASK-EACH-TIME"]
        expiry = info.get("expiry_date") or info.get("cache_expiry_date_time")
        assert datetime.fromisoformat(expiry) <= datetime.now(UTC)
        assert await sim.authorize("BLOCKED-T") == "Blocked"
        assert await sim.authorize("EXPIRED-T") == "Expired"
        assert await sim.authorize("NOBODY") == "Invalid"
    finally:
        await sim.close()
