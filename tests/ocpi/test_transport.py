"""OCPI transport as peers meet it: tokens, envelopes, ids, unknown paths, bad bodies, the log."""

from __future__ import annotations

import orjson

from tests.helpers.ocpi import credentials, envelope, invite, party, peer
from tests.helpers.platform import Platform
from tests.helpers.servers import StaticPeer


async def test_every_answer_wears_the_envelope_and_unknown_tokens_get_401(
    platform: Platform,
) -> None:
    async with peer(platform) as anonymous:
        response = await anonymous.get("/ocpi/versions")
        envelope(response, 401, 2000)
        response = await anonymous.get(
            "/ocpi/versions", headers={"Authorization": "Bearer not-ocpi"}
        )
        envelope(response, 401, 2000)
    async with peer(platform, "no-such-token") as stranger:
        envelope(await stranger.get("/ocpi/versions"), 401, 2000)
        envelope(await stranger.get("/ocpi/2.2.1/credentials"), 401, 2000)
        envelope(await stranger.delete("/ocpi/2.2.1/credentials"), 401, 2000)


async def test_token_a_reads_versions_and_details_and_ids_are_echoed(platform: Platform) -> None:
    _, token_a = await invite(platform)
    async with peer(platform, token_a) as emsp:
        response = await emsp.get(
            "/ocpi/versions", headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"}
        )
        versions = envelope(response, 200, 1000)
        assert response.headers["x-request-id"] == "req-1"
        assert response.headers["x-correlation-id"] == "corr-1"
        assert "ocpi-from-party-id" not in response.headers  # not on configuration modules
        assert versions == [
            {"version": v, "url": f"{platform.url}/ocpi/{v}/details"}
            for v in ("2.3.0", "2.2.1", "2.1.1")
        ]

        response = await emsp.get("/ocpi/2.2.1/details")
        details = envelope(response, 200, 1000)
        assert response.headers["x-request-id"] != response.headers["x-correlation-id"]
        assert details["version"] == "2.2.1"
        assert {
            "identifier": "credentials",
            "role": "SENDER",
            "url": f"{platform.url}/ocpi/2.2.1/credentials",
        } in details["endpoints"]
        for endpoint in details["endpoints"]:
            assert endpoint["role"] in ("SENDER", "RECEIVER")


async def test_raw_token_a_is_learned_as_the_peer_quirk(platform: Platform) -> None:
    _, token_a = await invite(platform)
    async with peer(platform, token_a, raw=True) as emsp:
        envelope(await emsp.get("/ocpi/versions"), 200, 1000)


async def test_unknown_versions_modules_and_methods_answer_in_ocpi_terms(
    platform: Platform,
) -> None:
    _, token_a = await invite(platform)
    async with peer(platform, token_a) as emsp:
        envelope(await emsp.get("/ocpi/2.0/details"), 404, 3002)
        envelope(await emsp.get("/ocpi/9.9/locations"), 404, 3002)
        envelope(await emsp.get("/ocpi/2.2.1/nosuchmodule"), 404, 2000)
        envelope(await emsp.get("/ocpi/nowhere"), 404, 2000)
        envelope(await emsp.patch("/ocpi/2.2.1/credentials", json={}), 405, 2000)
        envelope(await emsp.post("/ocpi/versions", json={}), 405, 2000)


async def test_bad_credentials_bodies_leave_the_invitation_as_it_was(platform: Platform) -> None:
    party_id, token_a = await invite(platform)
    good = credentials("token-b-0001", "http://127.0.0.1:9/versions")
    async with peer(platform, token_a) as emsp:
        url = "/ocpi/2.2.1/credentials"
        envelope(await emsp.post(url, content=b"{not json"), 400, 2000)
        envelope(await emsp.post(url, content=b""), 400, 2000)
        problems = envelope(await emsp.post(url, json={"token": 5, "roles": "EMSP"}), 200, 2001)
        assert {p["field"] for p in problems} >= {"token", "url", "roles"}
        envelope(await emsp.post(url, json=good | {"token": "x" * 65}), 200, 2001)
        envelope(await emsp.post(url, json=good | {"token": "has space"}), 200, 2001)
        envelope(await emsp.post(url, json=good | {"url": "ftp://example.com/v"}), 200, 2001)
        envelope(await emsp.post(url, json=good | {"roles": []}), 200, 2001)
        envelope(
            await emsp.post(url, json=credentials("t", good["url"], party_id="EMSP")), 200, 2001
        )
        envelope(await emsp.post(url, json=credentials("t", good["url"], role="DRIVER")), 200, 2001)
        twice = good | {"roles": good["roles"] * 2}
        envelope(await emsp.post(url, json=twice), 200, 2001)
        # The versions URL cannot be reached: OCPI 3001, and nothing registered.
        envelope(await emsp.post(url, json=good), 200, 3001)
        # Not registered yet: PUT and DELETE are 405.
        envelope(await emsp.put(url, json=good), 405, 2000)
        envelope(await emsp.delete(url), 405, 2000)
        # The invitation still works.
        envelope(await emsp.get("/ocpi/versions"), 200, 1000)
    view = await party(platform, party_id)
    assert view["state"] == "INVITED" and view["roles"] == [] and not view["we_can_call"]


async def test_peers_whose_api_is_unusable_get_3001_3002_3003(platform: Platform) -> None:
    party_id, token_a = await invite(platform)

    def ok(data: object) -> bytes:
        return orjson.dumps(
            {"data": data, "status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"}
        )

    only_211 = ok([{"version": "2.1.1", "url": "{url}/211"}])
    garbage = b"<html>hello</html>"
    not_versions = ok({"version": "2.2.1"})
    no_credentials = ok(
        {
            "version": "2.2.1",
            "endpoints": [{"identifier": "locations", "role": "RECEIVER", "url": "{url}/loc"}],
        }
    )
    failing = orjson.dumps({"status_code": 3000, "timestamp": "2026-01-01T00:00:00Z"})
    answers = {
        "/old/versions": (200, only_211),
        "/garbage/versions": (200, garbage),
        "/shape/versions": (200, not_versions),
        "/failing/versions": (500, failing),
        "/bare/versions": (200, ok([{"version": "2.2.1", "url": "{url}/bare/details"}])),
        "/bare/details": (200, no_credentials),
    }
    async with StaticPeer(answers) as emsp_api, peer(platform, token_a) as emsp:
        for path, status in [
            ("/old/versions", 3002),
            ("/garbage/versions", 3001),
            ("/shape/versions", 3001),
            ("/failing/versions", 3001),
            ("/bare/versions", 3003),
        ]:
            body = credentials("token-b-0002", emsp_api.url + path)
            data = envelope(await emsp.post("/ocpi/2.2.1/credentials", json=body), 200, status)
            assert data is None
        # The platform called back with the token B it was given, Base64-encoded.
        assert all(h["authorization"] == "Token dG9rZW4tYi0wMDAy" for _, _, h in emsp_api.requests)
        envelope(await emsp.get("/ocpi/versions"), 200, 1000)
    assert (await party(platform, party_id))["state"] == "INVITED"


async def test_request_log_keeps_both_directions_with_tokens_masked(platform: Platform) -> None:
    party_id, token_a = await invite(platform)
    async with peer(platform, token_a) as emsp:
        body = credentials("secret-token-b", "http://127.0.0.1:9/versions")
        await emsp.post("/ocpi/2.2.1/credentials", json=body, headers={"X-Request-ID": "log-1"})
    async with platform.admin() as admin:
        rows = (await admin.get(f"/parties/{party_id}/requests")).json()
        assert (await admin.get("/parties/999/requests")).status_code == 404
    incoming = next(r for r in rows if r["direction"] == "in" and r["request_id"] == "log-1")
    assert incoming["method"] == "POST" and incoming["ocpi_status"] == 3001
    assert incoming["url"].endswith("/ocpi/2.2.1/credentials")
    assert "secret-token-b" not in incoming["request_body"]
    assert orjson.loads(incoming["request_body"])["roles"][0]["party_id"] == "EMS"
    outgoing = next(r for r in rows if r["direction"] == "out")
    assert outgoing["url"] == "http://127.0.0.1:9/versions" and outgoing["error"]
    assert outgoing["id"] < incoming["id"]  # the callback happened while the POST was open


async def test_admin_party_operations_refuse_what_does_not_fit(platform: Platform) -> None:
    party_id, _ = await invite(platform, name="waiting")
    async with platform.admin() as admin:
        response = await admin.post(
            "/parties/registrations",
            json={"versions_url": "http://127.0.0.1:9/versions", "token": "token-a"},
        )
        assert response.status_code == 502 and response.json()["ocpi_status"] == 3001
        response = await admin.post("/parties/registrations", json={"versions_url": "nope"})
        assert response.status_code == 422
        assert (await admin.post(f"/parties/{party_id}/suspend")).status_code == 409
        assert (await admin.post(f"/parties/{party_id}/rotate")).status_code == 409
        unknown = await admin.post("/parties/999/resume")  # an operation: not registered
        assert unknown.status_code == 409 and "is not registered" in unknown.json()["title"]
        parties = (await admin.get("/parties")).json()
    assert [p["name"] for p in parties] == ["waiting"]  # the failed registration left nothing
    assert all("token" not in key for p in parties for key in p if key != "token_encoding")
