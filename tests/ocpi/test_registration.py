"""The credentials handshake end to end: the platform and the eMSP simulator, two real servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cpo.ocpi.tokens import new_token
from cpo.parties import peer_of
from simulators.emsp import EmspSimulator, OcpiError, make_token
from tests.helpers.ocpi import credentials, envelope, invite, party, peer, register_with
from tests.helpers.platform import Platform
from tests.helpers.processes import BIN, run


@pytest.fixture
async def emsp() -> AsyncIterator[EmspSimulator]:
    async with EmspSimulator(country_code="NL", party_id="EMS") as sim:
        yield sim


async def test_emsp_registers_with_our_invitation_and_token_a_is_spent(
    platform: Platform, emsp: EmspSimulator
) -> None:
    party_id, token_a = await invite(platform, name="Sim")
    ours = await emsp.register(f"{platform.url}/ocpi/versions", token_a)

    assert ours["url"] == f"{platform.url}/ocpi/versions"
    assert ours["roles"] == [
        {
            "role": "CPO",
            "business_details": {"name": "CPO Platform"},
            "party_id": "CPO",
            "country_code": "NL",
        }
    ]
    assert ours["token"] != token_a
    view = await party(platform, party_id)
    assert view["state"] == "REGISTERED" and view["name"] == "Sim"
    assert view["roles"][0] | {"business_details": None} == {
        "role": "EMSP",
        "party_id": "EMS",
        "country_code": "NL",
        "business_details": None,
    }
    assert {"identifier": "tokens", "role": "SENDER", "url": emsp.module_url("tokens")} in view[
        "endpoints"
    ]
    # Before answering, the platform read the simulator's versions and details with token B.
    assert [r.module for r in emsp.received[:2]] == ["versions", "details"]

    async with peer(platform, token_a) as replay:
        envelope(await replay.get("/ocpi/versions"), 401, 2000)
        body = credentials("another-b", emsp.versions_url)
        envelope(await replay.post("/ocpi/2.2.1/credentials", json=body), 401, 2000)
    assert (await emsp.get_credentials())["token"] == ours["token"]
    async with peer(platform, ours["token"]) as registered:
        # Registered already: a second POST is 405.
        body = credentials("another-b", emsp.versions_url)
        envelope(await registered.post("/ocpi/2.2.1/credentials", json=body), 405, 2000)
    assert emsp.violations == []


async def test_emsp_rotates_its_credentials_then_unregisters(
    platform: Platform, emsp: EmspSimulator
) -> None:
    party_id, token_a = await invite(platform)
    first = await emsp.register(f"{platform.url}/ocpi/versions", token_a)
    seen = len(emsp.received)
    second = await emsp.update_credentials()
    assert second["token"] != first["token"]
    # The PUT made the platform read the simulator's endpoints again, with the new token B
    # (the token pull that follows registration may interleave).
    modules = [r.module for r in emsp.received[seen:] if r.module != "tokens"]
    assert modules[:2] == ["versions", "details"]
    async with peer(platform, first["token"]) as old:
        envelope(await old.get("/ocpi/2.2.1/credentials"), 401, 2000)
    assert (await party(platform, party_id))["state"] == "REGISTERED"

    await emsp.unregister()
    view = await party(platform, party_id)
    assert view["state"] == "UNREGISTERED" and not view["can_call_us"] and not view["we_can_call"]
    async with peer(platform, second["token"]) as gone:
        envelope(await gone.get("/ocpi/versions"), 401, 2000)
        envelope(await gone.delete("/ocpi/2.2.1/credentials"), 401, 2000)
    assert emsp.violations == []


async def test_platform_registers_with_the_emsp_rotates_and_unregisters(
    platform: Platform, emsp: EmspSimulator
) -> None:
    view = await register_with(platform, emsp, name="by us")
    assert view["state"] == "REGISTERED" and view["roles"][0]["party_id"] == "EMS"
    assert emsp.registered and emsp.cpo is not None
    assert emsp.cpo.party() == ("NL", "CPO")
    token_for_us = emsp.cpo.token
    assert (await emsp.get_credentials())["token"] == token_for_us

    async with platform.admin() as admin:
        response = await admin.post(f"/parties/{view['id']}/rotate")
        assert response.status_code == 200, response.text
        assert emsp.cpo.token != token_for_us
        async with peer(platform, token_for_us) as old:
            envelope(await old.get("/ocpi/versions"), 401, 2000)
        assert (await emsp.get_credentials())["token"] == emsp.cpo.token

        response = await admin.delete(f"/parties/{view['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "UNREGISTERED" and response.json()["peer_told"]
    assert not emsp.registered
    assert emsp.violations == []


async def test_a_peer_that_only_takes_raw_tokens_is_registered_with_raw_tokens(
    platform: Platform,
) -> None:
    async with EmspSimulator(party_id="RAW", token_encoding="raw", strict_encoding=True) as raw:
        view = await register_with(platform, raw)
        assert view["token_encoding"] == "raw"  # learned from the 401 on Base64
        assert (await raw.get_credentials())["token"] == raw.cpo.token  # type: ignore[union-attr]
        assert raw.violations == []

    async with EmspSimulator(party_id="RAX", token_encoding="raw") as raw:
        party_id, token_a = await invite(platform)
        await raw.register(f"{platform.url}/ocpi/versions", token_a)
        assert (await party(platform, party_id))["token_encoding"] == "raw"
        await raw.update_credentials()  # later calls with the raw token C are accepted
        assert raw.violations == []


async def test_one_token_a_registers_one_party_even_when_used_twice_at_once(
    platform: Platform,
) -> None:
    _, token_a = await invite(platform)
    url = f"{platform.url}/ocpi/versions"
    async with EmspSimulator(party_id="ONE") as one, EmspSimulator(party_id="TWO") as two:
        results = await asyncio.gather(
            one.register(url, token_a), two.register(url, token_a), return_exceptions=True
        )
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert sum(isinstance(r, OcpiError) for r in results) == 1, results
    async with platform.admin() as admin:
        parties = (await admin.get("/parties")).json()
    assert [p["state"] for p in parties] == ["REGISTERED"]


async def test_a_role_registered_by_another_party_is_refused(
    platform: Platform, emsp: EmspSimulator
) -> None:
    _, token_a = await invite(platform)
    await emsp.register(f"{platform.url}/ocpi/versions", token_a)
    party_id, token_a2 = await invite(platform)
    async with EmspSimulator(party_id="EMS") as twin:
        with pytest.raises(OcpiError) as caught:
            await twin.register(f"{platform.url}/ocpi/versions", token_a2)
    assert caught.value.status_code == 2001
    assert (await party(platform, party_id))["state"] == "INVITED"


async def test_two_parties_registering_the_same_roles_at_once_register_one(
    platform: Platform,
) -> None:
    """Two invitations, two eMSPs with the same roles at the same moment: the roles are
    checked free and taken in one transaction, so one wins and the other is refused (the
    check used to come before the peer was called, so both passed it)."""
    (first, token_1), (second, token_2) = await invite(platform), await invite(platform)
    url = f"{platform.url}/ocpi/versions"
    async with EmspSimulator(party_id="EMS") as one, EmspSimulator(party_id="EMS") as two:
        results = await asyncio.gather(
            one.register(url, token_1), two.register(url, token_2), return_exceptions=True
        )
    assert sum(isinstance(r, dict) for r in results) == 1, results
    [refused] = [r for r in results if isinstance(r, OcpiError)]
    assert refused.status_code == 2001 and "registered already" in str(refused)
    states = sorted([(await party(platform, p))["state"] for p in (first, second)])
    assert states == ["INVITED", "REGISTERED"]


async def test_suspended_party_is_refused_until_resumed(
    platform: Platform, emsp: EmspSimulator
) -> None:
    party_id, token_a = await invite(platform)
    ours = await emsp.register(f"{platform.url}/ocpi/versions", token_a)
    async with platform.admin() as admin, peer(platform, ours["token"]) as sim:
        assert (await admin.post(f"/parties/{party_id}/suspend")).json()["state"] == "SUSPENDED"
        envelope(await sim.get("/ocpi/2.2.1/credentials"), 401, 2000)
        again = await admin.post(f"/parties/{party_id}/suspend")  # idempotent
        assert again.status_code == 200 and again.json()["state"] == "SUSPENDED"
        assert (await admin.post(f"/parties/{party_id}/resume")).json()["state"] == "REGISTERED"
        envelope(await sim.get("/ocpi/2.2.1/credentials"), 200, 1000)


@pytest.mark.parametrize(
    ("fault", "modules", "ocpi_status"),
    [
        ("http_500", {"versions"}, 3001),
        ("garbage", {"details"}, 3001),
        ("ocpi_3000", {"credentials"}, 3000),
        ("refuse", {"credentials"}, 2000),  # the peer's own code is kept
    ],
)
async def test_registration_with_a_failing_emsp_leaves_no_party(
    platform: Platform, emsp: EmspSimulator, fault: str, modules: set[str], ocpi_status: int
) -> None:
    emsp.fault(fault, modules=modules)  # type: ignore[arg-type]
    async with platform.admin() as admin:
        response = await admin.post(
            "/parties/registrations",
            json={"versions_url": emsp.versions_url, "token": emsp.invite()},
        )
        assert response.status_code == 502, response.text
        assert response.json()["ocpi_status"] == ocpi_status
        assert (await admin.get("/parties")).json() == []


async def test_registration_with_an_emsp_that_is_down_fails_cleanly(
    platform: Platform, emsp: EmspSimulator
) -> None:
    token_a = emsp.invite()
    await emsp.down()
    async with platform.admin() as admin:
        response = await admin.post(
            "/parties/registrations", json={"versions_url": emsp.versions_url, "token": token_a}
        )
        assert response.status_code == 502 and response.json()["ocpi_status"] == 3001
        await emsp.up()
        response = await admin.post(
            "/parties/registrations", json={"versions_url": emsp.versions_url, "token": token_a}
        )
        assert response.status_code == 201, response.text


async def test_client_follows_link_pages_and_sends_routing_headers(
    platform: Platform,
) -> None:
    tokens = [make_token(f"TOK{i:04}", country_code="NL", party_id="EMS") for i in range(120)]
    async with EmspSimulator(party_id="EMS", tokens=tokens, page_limit=50) as sim:
        view = await register_with(platform, sim)
        ocpi_side = platform.state.ocpi_side
        registered = await ocpi_side.parties.get(view["id"])
        url = registered.endpoint("tokens", "SENDER")
        pages = [page async for page in ocpi_side.client.pages(url, peer_of(registered))]
        assert [len(p) for p in pages] == [50, 50, 20]
        assert [t["uid"] for p in pages for t in p] == [t["uid"] for t in tokens]
        # (the platform also pulls the list by itself after registering: 3 pages each time)
        calls = [r for r in sim.received if r.module == "tokens"]
        assert len(calls) >= 3
        assert all(r.headers.get("ocpi-from-party-id") == "CPO" for r in calls)
        assert all(r.headers.get("ocpi-to-party-id") == "EMS" for r in calls)
        assert sim.violations == []
    async with platform.admin() as admin:
        log = (await admin.get(f"/parties/{view['id']}/requests")).json()
    assert sum(1 for r in log if r["direction"] == "out" and "/tokens" in r["url"]) >= 3


async def test_cli_invites_and_registers_in_both_directions(
    platform: Platform, tmp_path: Path
) -> None:
    env = platform.cli_env()
    code, out, err = await run(
        str(BIN / "cpo"), "party", "invite", "--name", "cli", "--json", env=env
    )
    assert code == 0, err
    invitation = json.loads(out)
    assert invitation["versions_url"] == f"{platform.url}/ocpi/versions"
    async with EmspSimulator(party_id="CLI") as first, EmspSimulator(party_id="CLJ") as second:
        await first.register(invitation["versions_url"], invitation["token"])
        code, out, err = await run(
            str(BIN / "cpo"),
            "party",
            "register",
            second.versions_url,
            second.invite(),
            "--json",
            env=env,
        )
        assert code == 0, err
        assert json.loads(out)["roles"][0]["party_id"] == "CLJ" and second.registered
        code, out, err = await run(
            str(BIN / "cpo"), "party", "register", second.versions_url, "wrong-token-a", env=env
        )
        assert code == 1 and "OCPI 3001" in err
    code, out, err = await run(str(BIN / "cpo"), "party", "list", env=env)
    assert code == 0, err
    assert "CLI" in out and "CLJ" in out and out.count("REGISTERED") == 2
    assert out.count(" 2.2.1 ") == 2  # the version each party speaks


def test_tokens_we_make_never_read_as_a_command_line_option() -> None:
    # Tokens are pasted into command lines (`cpo-sim emsp --register URL TOKEN`), where a
    # leading "-" is taken for an option. One in 64 random tokens began with one; 2,000 draws
    # would meet it all but surely.
    assert not [t for t in (new_token() for _ in range(2000)) if t.startswith("-")]
