"""Where the platform's own OCPI requests go and what they carry: URLs exactly as peers publish
them, redirects only within a party's origins, no private addresses, peers kept on their origin
until the operator says otherwise, ids as one encoded segment, answers read up to a limit."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from cpo.ocpi.addresses import why_forbidden
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, OcpiError, make_token
from tests.helpers.ocpi import (
    PASSWORD,
    TARIFF,
    attempt,
    credentials,
    envelope,
    invite,
    location,
    ocpi_body,
    party,
    peer,
    push,
    register_static,
    register_with,
    static_emsp,
    watch_pushes,
)
from tests.helpers.platform import Platform, post
from tests.helpers.processes import BIN, run
from tests.helpers.servers import StaticPeer

UID = "SLASH-TOKEN-01"


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(
        tmp_path, push_retry_max=0.2, authorize_timeout=2.0, session_update_seconds=0.2
    ).start()
    try:
        yield p
    finally:
        await p.stop()


async def admin_call(platform: Platform, method: str, path: str, **kwargs: Any) -> Any:
    async with platform.admin() as admin:
        return await admin.request(method, path, **kwargs)


# -- URLs as published, redirects ------------------------------------------------------------------


async def test_cdrs_reach_an_emsp_that_wants_trailing_slashes_and_redirects_without(
    live: Platform,
) -> None:
    async with EmspSimulator(party_id="EMS", trailing_slash=True) as sim:
        assert sim.module_url("cdrs").endswith("/2.2.1/cdrs/")
        await register_with(live, sim)
        assert await push(sim, make_token(UID, whitelist="ALLOWED")) == 201
        await post(live, "/locations", location("SLASH", [("SLASH-1", "CP-SLASH", 1)]))
        await live.add_station("CP-SLASH", PASSWORD)
        async with ChargePointSimulator(
            id="CP-SLASH", url=live.ws_url, ocpp="1.6", password=PASSWORD, power_w=11000
        ) as cp:
            await cp.boot()
            await cp.status(1, "Available")
            assert (await cp.start_transaction(1, UID)).status == "Accepted"
            await cp.send_meter_values(1, 600)
            await cp.stop_transaction(1)
            cdr = await sim.wait_for(
                lambda r: r.module == "cdrs" and r.method == "POST" and r.status < 300
            )
        assert cdr.body["cdr_token"]["uid"] == UID and cdr.body["total_energy"] > 0
        assert len(sim.cdrs) == 1
        # The CDR went to the URL as published; the Location's own URL (which the eMSP never
        # published) came back as 307 to its slashed form, and the PUT followed with its body.
        assert not any(path.endswith("/cdrs") for path in sim.redirected)
        assert any(path.endswith("/NL/CPO/SLASH") for path in sim.redirected)
        assert ("NL", "CPO", "SLASH") in sim.locations
        assert sim.violations == []


async def test_redirects_are_followed_only_as_307_or_308_within_the_origin_three_deep(
    live: Platform,
) -> None:
    async with StaticPeer({}) as home, StaticPeer({}) as elsewhere:
        home.answers |= static_emsp(
            {("tokens", "SENDER"): "{url}/tokens", ("tariffs", "RECEIVER"): "{url}/tariffs"}
        )
        # The versions URL the operator has is an old one: 308 to where it is now.
        home.answers["/old/versions"] = (308, b"", {"Location": "{url}/versions"})
        response = await register_static(live, home.url + "/old/versions")
        assert response.status_code == 201, response.text
        party_id = response.json()["id"]

        def pull() -> Any:
            return admin_call(live, "POST", f"/parties/{party_id}/tokens/pull?full=true")

        chain = {
            "/tokens": (307, b"", {"Location": "{url}/tokens-1"}),
            "/tokens-1": (308, b"", {"Location": "/tokens-2"}),  # relative
            "/tokens-2": (307, b"", {"Location": "{url}/tokens-3"}),
            "/tokens-3": (200, ocpi_body([make_token("REDIRECTED-1")])),
        }
        home.answers |= chain
        response = await pull()
        assert response.status_code == 200, response.text
        assert response.json()["stored"] == 1

        home.answers["/tokens-3"] = (307, b"", {"Location": "{url}/tokens-4"})
        response = await pull()
        assert response.status_code == 502
        assert "more than 3 redirects" in response.json()["detail"]

        home.answers["/tokens"] = (302, b"", {"Location": "{url}/tokens-1"})
        response = await pull()
        assert response.status_code == 502
        assert "HTTP 302 redirect" in response.json()["detail"]
        assert "not followed" in response.json()["detail"]

        home.answers["/tokens"] = (307, b"", {"Location": elsewhere.url + "/tokens"})
        response = await pull()
        assert response.status_code == 502
        assert "off the party's origins" in response.json()["detail"]

        # A push keeps its method and body through a 307, and stops at another origin.
        pushes = watch_pushes(live)
        tariff_path = "/tariffs/NL/CPO/AC-STANDARD"
        home.answers[tariff_path] = (307, b"", {"Location": "{url}/moved" + tariff_path})
        home.answers["/moved" + tariff_path] = (200, ocpi_body(None))
        await post(live, "/tariffs", TARIFF)
        await attempt(pushes, "delivered", "AC-STANDARD")
        landed = home.requests.index(next(r for r in home.requests if r[1].startswith("/moved")))
        assert home.requests[landed][0] == "PUT"
        assert json.loads(home.bodies[landed])["id"] == "AC-STANDARD"

        home.answers[tariff_path] = (307, b"", {"Location": elsewhere.url + tariff_path})
        await post(live, "/tariffs", TARIFF | {"currency": "USD"})
        failed = await attempt(pushes, "retry", "AC-STANDARD")
        assert failed.error is not None and "off the party's origins" in failed.error
        state = (await admin_call(live, "GET", f"/parties/{party_id}/push")).json()
        assert "off the party's origins" in state["errors"][0]["error"]
        log = (await admin_call(live, "GET", f"/parties/{party_id}/requests")).json()
        assert any(r["http_status"] == 307 and "off the party" in (r["error"] or "") for r in log)
    assert elsewhere.requests == []


# -- where requests may go -------------------------------------------------------------------------


async def test_private_and_loopback_peers_are_refused_by_default(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, ocpi_allow_private_peers=False).start()
    try:
        async with EmspSimulator(party_id="EMS") as sim:
            port = sim.versions_url.split(":")[2].split("/")[0]
            for url, kind in [
                (sim.versions_url, "loopback"),
                (sim.versions_url.replace("127.0.0.1", "localhost"), "loopback"),
                (f"http://[::ffff:127.0.0.1]:{port}/ocpi/emsp/versions", "loopback"),
                ("http://169.254.169.254/latest/versions", "link-local"),
                ("http://10.1.2.3:9/versions", "private"),
                ("http://100.64.0.1/versions", "CGNAT"),
            ]:
                async with platform.admin() as admin:
                    response = await admin.post(
                        "/parties/registrations", json={"versions_url": url, "token": sim.invite()}
                    )
                assert response.status_code == 502, response.text
                detail = response.json()["detail"]
                assert kind in detail and "CPO_OCPI_ALLOW_PRIVATE_PEERS" in detail, detail

            # An eMSP that registers with us and gives a loopback versions URL hears why not.
            _, token_a = await invite(platform)
            with pytest.raises(OcpiError) as refused:
                await sim.register(f"{platform.url}/ocpi/versions", token_a)
            assert refused.value.status_code == 3001 and "loopback" in str(refused.value)
            assert sim.received == []  # the platform never called it
    finally:
        await platform.stop()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.8", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::1", "loopback"),
        ("192.0.2.10", "private"),  # documentation range
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_addresses_are_public_or_named_for_what_they_are(address: str, kind: str | None) -> None:
    assert why_forbidden(ipaddress.ip_address(address)) == kind


async def test_connection_failures_read_alike_whether_or_not_a_port_listens(
    tmp_path: Path,
) -> None:
    platform = await Platform(tmp_path, ocpi_timeout=0.5).start()
    release = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()  # accepts, never answers
        writer.close()

    listening = await asyncio.start_server(mute, "127.0.0.1", 0)
    closed = await asyncio.start_server(mute, "127.0.0.1", 0)
    closed_port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    try:
        details = []
        for port in (listening.sockets[0].getsockname()[1], closed_port):
            url = f"http://127.0.0.1:{port}/versions"
            response = await register_static(platform, url)
            assert response.status_code == 502
            details.append(response.json()["detail"].replace(url, "URL"))
        assert details[0] == details[1], details
    finally:
        release.set()
        listening.close()
        await platform.stop()


async def test_endpoints_off_the_versions_origin_are_refused_unless_the_operator_allows(
    platform: Platform,
) -> None:
    async with StaticPeer({}) as home, StaticPeer({}) as elsewhere:
        home.answers |= static_emsp({("tokens", "SENDER"): elsewhere.url + "/tokens"})
        elsewhere.answers["/tokens"] = (200, ocpi_body([make_token("FAR-1")]))
        response = await register_static(platform, home.url + "/versions")
        assert response.status_code == 502
        detail = response.json()["detail"]
        assert "tokens SENDER" in detail and "off the party's origins" in detail, detail
        assert elsewhere.requests == []
        assert [r[1] for r in home.requests] == ["/versions", "/details"]

        response = await register_static(
            platform, home.url + "/versions", allowed_origins=[elsewhere.url + "/any/path"]
        )
        assert response.status_code == 201, response.text
        view = response.json()
        assert view["allowed_origins"] == [elsewhere.url]
        pulled = await admin_call(platform, "POST", f"/parties/{view['id']}/tokens/pull")
        assert pulled.json()["stored"] == 1

        # The operator takes it back: the party is called on its versions URL's origin only.
        response = await admin_call(
            platform, "PUT", f"/parties/{view['id']}/origins", json={"allowed_origins": []}
        )
        assert response.status_code == 200 and response.json()["allowed_origins"] == []
        calls = len(elsewhere.requests)
        pulled = await admin_call(platform, "POST", f"/parties/{view['id']}/tokens/pull")
        assert pulled.status_code == 502 and "not on the party's origins" in pulled.text
        assert len(elsewhere.requests) == calls
        bad = await admin_call(
            platform, "PUT", f"/parties/{view['id']}/origins", json={"allowed_origins": ["ftp://x"]}
        )
        assert bad.status_code == 422


async def test_a_link_is_followed_only_on_the_origin_that_gave_it(platform: Platform) -> None:
    async with StaticPeer({}) as home, StaticPeer({}) as elsewhere:
        home.answers |= static_emsp({("tokens", "SENDER"): "{url}/tokens"})
        page = {"X-Total-Count": "2", "X-Limit": "1"}
        home.answers["/tokens"] = (
            200,
            ocpi_body([make_token("PAGE-1")]),
            page | {"Link": '</tokens-2?offset=1&limit=1>; rel="next"'},
        )
        home.answers["/tokens-2"] = (200, ocpi_body([make_token("PAGE-2")]), page)
        response = await register_static(platform, home.url + "/versions")
        assert response.status_code == 201, response.text
        party_id = response.json()["id"]
        pull = f"/parties/{party_id}/tokens/pull?full=true"
        assert (await admin_call(platform, "POST", pull)).json()["stored"] == 2

        home.answers["/tokens"] = (
            200,
            ocpi_body([make_token("PAGE-1")]),
            page | {"Link": f'<{elsewhere.url}/tokens?offset=1&limit=1>; rel="next"'},
        )
        response = await admin_call(platform, "POST", pull)
        assert response.status_code == 502
        assert "Link points to another origin" in response.json()["detail"]
    assert elsewhere.requests == []


async def test_a_credentials_update_to_another_origin_waits_for_the_operators_approval(
    platform: Platform,
) -> None:
    async with EmspSimulator(party_id="EMS") as sim, StaticPeer({}) as new_home:
        new_home.answers |= static_emsp({("tokens", "SENDER"): "{url}/tokens"})
        new_home.answers["/tokens"] = (200, ocpi_body([]))
        party_id, token_a = await invite(platform)
        ours = await sim.register(f"{platform.url}/ocpi/versions", token_a)
        moved = credentials("token-at-the-new-home", new_home.url + "/versions")

        async with peer(platform, ours["token"]) as emsp:
            answer = envelope(await emsp.put("/ocpi/2.2.1/credentials", json=moved), 200, 1000)
        view = await party(platform, party_id)
        assert view["pending_versions_url"] == new_home.url + "/versions"
        assert view["versions_url"] == sim.versions_url
        assert view["pending_since"] is not None
        assert new_home.requests == []
        response = await admin_call(platform, "POST", f"/parties/{party_id}/move/reject")
        assert response.status_code == 200 and response.json()["pending_versions_url"] is None
        response = await admin_call(platform, "POST", f"/parties/{party_id}/move/reject")
        assert response.status_code == 409

        async with peer(platform, answer["token"]) as emsp:
            envelope(await emsp.put("/ocpi/2.2.1/credentials", json=moved), 200, 1000)
        assert new_home.requests == []  # nothing, not even the token, before the approval
        env = platform.cli_env()
        code, out, err = await run(str(BIN / "cpo"), "party", "list", env=env)
        assert code == 0 and f"cpo party approve {party_id}" in out, out + err
        code, out, err = await run(
            str(BIN / "cpo"), "party", "approve", str(party_id), "--json", env=env
        )
        assert code == 0, err
        assert json.loads(out)["versions_url"] == new_home.url + "/versions"
    view = await party(platform, party_id)
    assert view["pending_versions_url"] is None
    assert {"identifier": "tokens", "role": "SENDER", "url": new_home.url + "/tokens"} in view[
        "endpoints"
    ]
    expected = "Token " + base64.b64encode(b"token-at-the-new-home").decode()
    assert [r[1] for r in new_home.requests[:2]] == ["/versions", "/details"]
    assert all(r[2]["authorization"] == expected for r in new_home.requests)


# -- path segments ---------------------------------------------------------------------------------


def segments(raw_paths: list[str], before: str, after: str = "") -> list[str]:
    """The values that came as exactly one path segment between `before` and `after`."""
    found = []
    for path in raw_paths:
        if path.startswith(before) and path.endswith(after):
            middle = path[len(before) : len(path) - len(after)]
            if "/" not in middle:
                found.append(unquote(middle))
    return found


async def test_ids_travel_as_one_encoded_segment_and_impossible_idtags_ask_nobody(
    live: Platform,
) -> None:
    async with StaticPeer({}) as emsp:
        emsp.answers |= static_emsp(
            {("tokens", "SENDER"): "{url}/tokens", ("locations", "RECEIVER"): "{url}/locations/"}
        )
        response = await register_static(live, emsp.url + "/versions")
        assert response.status_code == 201, response.text
        pushes = watch_pushes(live)
        await post(live, "/locations", location("A/../B?c=1", [("SEG-1", "CP-SEG", 1)]))
        await attempt(pushes, "retry", "A/../B?c=1")
        assert "A/../B?c=1" in segments(emsp.raw_paths, "/locations/NL/CPO/")

        await live.add_station("CP-SEG", PASSWORD)
        async with ChargePointSimulator(
            id="CP-SEG", url=live.ws_url, ocpp="1.6", password=PASSWORD
        ) as cp:
            await cp.boot()
            for id_tag in ["X/../../credentials", "Y?type=APP_USER&a="]:
                assert await cp.authorize(id_tag) == "Invalid"  # the peer answers 404
                assert id_tag in segments(emsp.raw_paths, "/tokens/", "/authorize"), emsp.raw_paths
            before = len(emsp.raw_paths)
            for id_tag in ["..", "BAD\x01TAG", "TAB\tTAG"]:
                assert await cp.authorize(id_tag) == "Invalid"
            # (the Location above is retried meanwhile: its PUTs are not questions)
            assert [p for p in emsp.raw_paths[before:] if p.startswith("/tokens")] == []


# -- answers' size ---------------------------------------------------------------------------------


async def test_answers_past_the_limit_are_refused_as_they_stream(tmp_path: Path) -> None:
    platform = await Platform(
        tmp_path, max_body_bytes=64 * 1024, ocpi_max_page_bytes=1 << 20
    ).start()
    chunks = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal chunks
        for _ in range(4096):  # 256 MiB if anyone read it all
            chunks += 1
            yield b" " * 65536

    try:
        async with StaticPeer({"/versions": (200, endless)}) as huge, StaticPeer({}) as paged:
            response = await register_static(platform, huge.url + "/versions")
            assert response.status_code == 502
            assert "larger than 65536 bytes" in response.json()["detail"]
            assert chunks < 4096

            # A page of a list may be larger than a body, up to its own limit.
            paged.answers |= static_emsp({("tokens", "SENDER"): "{url}/tokens"})
            tokens = [make_token(f"BULK-{i:04}", visual_number="x" * 64) for i in range(400)]
            paged.answers["/tokens"] = (200, ocpi_body(tokens))
            assert len(paged.answers["/tokens"][1]) > 64 * 1024  # type: ignore[arg-type]
            response = await register_static(platform, paged.url + "/versions")
            assert response.status_code == 201, response.text
            party_id = response.json()["id"]
            pulled = await admin_call(platform, "POST", f"/parties/{party_id}/tokens/pull")
            assert pulled.json()["stored"] == 400
            paged.answers["/tokens"] = (200, ocpi_body(tokens * 16))
            pulled = await admin_call(platform, "POST", f"/parties/{party_id}/tokens/pull")
            assert pulled.status_code == 502 and "larger than 1048576 bytes" in pulled.text
    finally:
        await platform.stop()
