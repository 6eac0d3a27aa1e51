"""A charger's password changed through the command port (security profiles 1 and 2): the new
one counts once the charger logs in with it, and no answer, refusal or lost answer ever locks the
charger out. OCPP 1.6 ChangeConfiguration AuthorizationKey; 2.0.1 SetVariables
SecurityCtrlr.BasicAuthPassword."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.helpers.platform import VERSIONS, Platform, command, online
from tests.helpers.wire import basic, open_raw

OLD = "charger-secret-1"  # what tests.helpers.platform.online gives the charger
NEW = "a-new-password-0042"
ACTION = {"1.6": "ChangeConfiguration", "2.0.1": "SetVariables"}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    """Chargers that do not answer are given up on after a second."""
    p = await Platform(tmp_path, ocpp_response_timeout=1.0).start()
    try:
        yield p
    finally:
        await p.stop()


async def logs_in(platform: Platform, station_id: str, password: str) -> bool:
    try:
        async with await open_raw(platform.ws_url, station_id, headers=basic(station_id, password)):
            return True
    except InvalidStatus as refused:
        assert refused.response.status_code == 401
        return False


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_new_password_counts_once_the_charger_logs_in_with_it(
    platform: Platform, version: str
) -> None:
    sim = await online(platform, f"CP-PW-{version}", version)
    status, result = await command(platform, sim.id, "set_password", {"password": NEW})
    assert (status, result["status"]) == (200, "Accepted")
    assert "password" not in result["data"]  # the operator's own is never said back
    await sim.close()
    assert sim.password == NEW
    # Until the charger uses the new one, both let it in.
    assert await logs_in(platform, sim.id, OLD)
    assert await logs_in(platform, sim.id, NEW)
    # Now that it has, the old one is gone.
    assert not await logs_in(platform, sim.id, OLD)
    assert await logs_in(platform, sim.id, NEW)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_refused_password_leaves_the_old_one_alone(
    platform: Platform, version: str
) -> None:
    sim = await online(platform, f"CP-NO-{version}", version)
    sim.answers[ACTION[version]] = "Rejected"
    status, result = await command(platform, sim.id, "set_password", {})
    assert (status, result["status"]) == (200, "Rejected")
    await sim.close()
    assert sim.password == OLD
    assert await logs_in(platform, sim.id, OLD)
    assert not await logs_in(platform, sim.id, NEW)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_charger_whose_answer_was_lost_gets_in_with_either_password(
    platform: Platform, version: str
) -> None:
    sim = await online(platform, f"CP-LOST-{version}", version)
    sim.silent.add(ACTION[version])
    async with platform.admin() as admin:
        answer = await admin.post(
            f"/stations/{sim.id}/commands/set_password", json={"password": NEW}
        )
    assert answer.status_code == 504  # no answer: it may or may not have taken it
    await sim.close()
    assert await logs_in(platform, sim.id, NEW)  # it did, say
    assert not await logs_in(platform, sim.id, OLD)


async def test_a_password_the_platform_makes_is_said_once(platform: Platform) -> None:
    sim = await online(platform, "CP-MADE", "2.0.1")
    status, result = await command(platform, sim.id, "set_password", {})
    made = result["data"]["password"]
    assert status == 200 and len(made) == 32 and made == sim.password
    await sim.close()
    assert await logs_in(platform, sim.id, made)


@pytest.mark.parametrize(
    ("name", "body", "problem"),
    [
        ("set_configuration", {"key": "AuthorizationKey", "value": NEW}, "set_password"),
        (
            "set_configuration",
            {"key": "SecurityCtrlr.BasicAuthPassword", "value": NEW},
            "set_password",
        ),
        ("set_password", {"password": "short"}, "at least 16"),
        ("set_password", {"password": "x" * 41}, "at most 40"),
        ("set_password", {"password": "has spaces in it, see"}, "pattern"),
    ],
)
async def test_a_password_change_that_would_lock_the_charger_out_is_refused(
    platform: Platform, name: str, body: dict[str, str], problem: str
) -> None:
    sim = await online(platform, "CP-LOCK", "1.6")
    status, result = await command(platform, sim.id, name, body)
    assert status == 422 and problem in str(result), result
    assert ACTION["1.6"] not in [action for action, _ in sim.received_calls]
    await sim.close()
    assert await logs_in(platform, sim.id, OLD)
