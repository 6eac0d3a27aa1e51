"""The operator's party operations answer 409 for a party that is not registered: unregistered,
only invited, or unknown; nothing is done for it."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import col, func, select

from cpo.push.tables import PendingPush
from simulators.emsp import EmspSimulator
from tests.helpers.ocpi import invite, register_with
from tests.helpers.platform import Platform

OPERATIONS = [
    ("POST", "/suspend"),
    ("POST", "/resume"),
    ("POST", "/rotate"),
    ("POST", "/resync"),
    ("POST", "/retry"),
    ("POST", "/tokens/pull"),
    ("POST", "/tokens/pull?full=true"),
]


def not_registered(response: httpx.Response, party_id: int) -> bool:
    return (
        response.status_code == 409
        and response.headers["content-type"].startswith("application/problem+json")
        and f"party {party_id} is not registered" in response.json()["title"]
    )


async def test_operations_on_a_party_that_is_not_registered_answer_409(
    platform: Platform,
) -> None:
    async with EmspSimulator(party_id="EMS") as sim:
        gone = (await register_with(platform, sim))["id"]
        async with platform.admin() as admin:
            assert (await admin.delete(f"/parties/{gone}")).status_code == 200
    invited, _ = await invite(platform)
    unknown = 999
    async with platform.admin() as admin:
        wrong = []
        for party_id in (gone, invited, unknown):
            for method, path in OPERATIONS:
                response = await admin.request(method, f"/parties/{party_id}{path}")
                if not not_registered(response, party_id):
                    wrong.append((party_id, method, path, response.status_code, response.text))
        for party_id in (gone, unknown):  # an invitation may be withdrawn; the others not
            response = await admin.delete(f"/parties/{party_id}")
            if not not_registered(response, party_id):
                wrong.append((party_id, "DELETE", "", response.status_code, response.text))
        assert wrong == []
        # Nothing was queued for the gone party; its record can still be read.
        async with platform.state.ocpi_side.database() as session:
            queued = await session.execute(
                select(func.count())
                .select_from(PendingPush)
                .where(col(PendingPush.party_id) == gone)
            )
        assert queued.scalar_one() == 0
        assert (await admin.get(f"/parties/{gone}")).json()["state"] == "UNREGISTERED"
        assert (await admin.get(f"/parties/{gone}/push")).json()["pending"] == 0
        assert (await admin.get(f"/parties/{unknown}")).status_code == 404
        # The invitation is withdrawn; then it is not registered either.
        response = await admin.delete(f"/parties/{invited}")
        assert response.status_code == 200 and response.json()["state"] == "UNREGISTERED"
        assert not_registered(await admin.delete(f"/parties/{invited}"), invited)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/suspend", 200),  # already: nothing changes
        ("POST", "/resync", 200),  # the backlog goes when it is resumed
        ("POST", "/retry", 200),
        ("POST", "/tokens/pull", 409),  # no traffic with a suspended party
        ("POST", "/rotate", 409),
    ],
)
async def test_a_suspended_party_is_still_registered_but_not_called(
    platform: Platform, method: str, path: str, status: int
) -> None:
    async with EmspSimulator(party_id="EMS") as sim:
        party_id = (await register_with(platform, sim))["id"]
        await sim.wait_for(lambda r: r.module == "tokens")  # the pull after registering
        async with platform.admin() as admin:
            assert (await admin.post(f"/parties/{party_id}/suspend")).status_code == 200
            called = len(sim.received)
            response = await admin.request(method, f"/parties/{party_id}{path}")
            assert response.status_code == status, response.text
            state = (await admin.get(f"/parties/{party_id}")).json()["state"]
        assert state == "SUSPENDED"
        assert sim.received[called:] == []
