"""OCPI versions: each enabled version is served at /ocpi/{version}/ with the modules that speak
it, listed in its own shape, and a peer speaks the newest version both sides have."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response
from starlette.routing import Route

from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import IMPLEMENTED, VersionNumber, newest_first
from cpo.ocpi.requestlog import RequestLog
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module, OcpiRouter
from cpo.parties import Parties
from cpo.settings import Settings
from tests.helpers.ocpi import (
    credentials,
    envelope,
    invite,
    ocpi_body,
    party,
    peer,
    static_emsp,
)
from tests.helpers.platform import Platform
from tests.helpers.servers import StaticPeer

V211, V221, V230 = VersionNumber.V2_1_1, VersionNumber.V2_2_1, VersionNumber.V2_3_0


def router_of(
    database: async_sessionmaker[AsyncSession], versions: list[VersionNumber]
) -> OcpiRouter:
    router = OcpiRouter(
        "http://cpo.test/",
        PartyRef("NL", "CPO"),
        Parties(database),
        RequestLog(database, 1),
        versions,
    )
    everywhere = Module("locations", "SENDER", versions=frozenset(VersionNumber))
    newer = Module("tokens", "RECEIVER", versions=frozenset({V221, V230}))

    @everywhere.on("GET")
    @newer.on("GET")
    async def page(call: Call) -> Response:
        return OcpiResponse([])

    router.add(everywhere)
    router.add(newer)
    return router


async def test_each_version_lists_the_modules_that_speak_it_in_its_own_shape(
    database: async_sessionmaker[AsyncSession],
) -> None:
    router = router_of(database, [V211, V230, V221])
    assert router.versions == [V230, V221, V211]  # newest first, whatever the order given
    assert router.endpoints(V211) == [
        {"identifier": "locations", "url": "http://cpo.test/ocpi/2.1.1/locations"}
    ]
    assert router.endpoints(V230) == [
        {
            "identifier": "locations",
            "role": "SENDER",
            "url": "http://cpo.test/ocpi/2.3.0/locations",
        },
        {"identifier": "tokens", "role": "RECEIVER", "url": "http://cpo.test/ocpi/2.3.0/tokens"},
    ]
    paths = {r.path for r in router.routes() if isinstance(r, Route)}
    assert {"/2.1.1/locations", "/2.2.1/tokens", "/2.3.0/tokens"} <= paths
    assert "/2.1.1/tokens" not in paths  # not served in a version it does not speak


async def test_a_version_not_enabled_is_not_served(
    database: async_sessionmaker[AsyncSession],
) -> None:
    router = router_of(database, [V221])
    paths = {r.path for r in router.routes() if isinstance(r, Route)}
    assert "/2.2.1/locations" in paths
    assert not [p for p in paths if p.startswith(("/2.1.1", "/2.3.0"))]


def test_versions_order_by_number_not_by_text() -> None:
    assert newest_first([V211, V230, V221, V211]) == [V230, V221, V211]
    assert V230.key > V221.key > V211.key


@pytest.mark.parametrize(
    ("given", "served"),
    [("2.2.1", [V221]), (" 2.2.1 , 2.2.1 ", [V221]), ('["2.2.1"]', None)],
)
def test_the_versions_setting_reads_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch, given: str, served: list[VersionNumber] | None
) -> None:
    monkeypatch.setenv("CPO_OCPI_VERSIONS", given)
    if served is None:
        with pytest.raises(ValueError, match="Input should be"):
            Settings(_env_file=None)
    else:
        assert Settings(_env_file=None).ocpi_versions == served


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("", "name at least one OCPI version"),
        ("2.0", "Input should be '2.1.1', '2.2.1' or '2.3.0'"),
        *[
            (v.value, f"OCPI {v.value} is not served by this code yet")
            for v in VersionNumber
            if v not in IMPLEMENTED
        ],
    ],
)
def test_a_version_this_code_cannot_serve_is_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, given: str, words: str
) -> None:
    monkeypatch.setenv("CPO_OCPI_VERSIONS", given)
    with pytest.raises(ValueError, match=words.replace(".", r"\.").replace("(", r"\(")):
        Settings(_env_file=None)


async def test_the_versions_list_names_each_served_version_and_its_details(
    platform: Platform,
) -> None:
    _, token_a = await invite(platform)
    async with peer(platform, token_a) as emsp:
        versions = envelope(await emsp.get("/ocpi/versions"), 200, 1000)
        assert versions == [
            {"version": v.value, "url": f"{platform.url}/ocpi/{v.value}/details"}
            for v in newest_first(IMPLEMENTED)
        ]
        for listed in versions:
            details = envelope(await emsp.get(listed["url"]), 200, 1000)
            assert details["version"] == listed["version"]
            assert {e["identifier"] for e in details["endpoints"]} >= {"credentials", "locations"}


async def test_a_credentials_update_at_another_versions_url_switches_the_party_to_it(
    platform: Platform,
) -> None:
    """Up from 2.2.1 to 2.3.0, then down to 2.1.1: each PUT answered in its version's shape."""
    party_id, token_a = await invite(platform)
    listed = [{"identifier": "credentials", "url": "{url}/credentials"}]
    async with StaticPeer({}) as emsp:
        emsp.answers |= static_emsp({}) | {
            "/versions": (
                200,
                ocpi_body(
                    [
                        {"version": v, "url": "{url}/details" + v.replace(".", "")}
                        for v in ("2.3.0", "2.2.1", "2.1.1")
                    ]
                ),
            ),
            "/details230": (200, ocpi_body({"version": "2.3.0", "endpoints": listed})),
            "/details221": (200, ocpi_body({"version": "2.2.1", "endpoints": listed})),
            "/details211": (200, ocpi_body({"version": "2.1.1", "endpoints": listed})),
        }
        ours = credentials("emsp-token-1", f"{emsp.url}/versions")
        async with peer(platform, token_a) as client:
            answer = await client.post("/ocpi/2.2.1/credentials", json=ours)
        token_c = envelope(answer, 200, 1000)["token"]
        assert (await party(platform, party_id))["version"] == "2.2.1"

        async with peer(platform, token_c) as client:
            answer = await client.put(
                "/ocpi/2.3.0/credentials", json=ours | {"token": "emsp-token-2"}
            )
        token_c = envelope(answer, 200, 1000)["token"]
        assert (await party(platform, party_id))["version"] == "2.3.0"
        assert "/details230" in [path for _, path, _ in emsp.requests]

        flat = {
            "token": "emsp-token-3",
            "url": f"{emsp.url}/versions",
            "business_details": {"name": "Test eMSP"},
            "party_id": "EMS",
            "country_code": "NL",
        }
        async with peer(platform, token_c, raw=True) as client:  # 2.1.1 sends tokens raw
            answer = await client.put("/ocpi/2.1.1/credentials", json=flat)
        mine = envelope(answer, 200, 1000)
        assert set(mine) == {"token", "url", "business_details", "party_id", "country_code"}
    view = await party(platform, party_id)
    assert view["version"] == "2.1.1" and view["token_encoding"] == "raw"
