"""The Locations, Tariffs and Tokens pages over HTTP against the real platform: the search on
the server, and the import of a Location or Tariff file from the browser, judged as `cpo
location import` and the admin API judge it (all of the file or none, the same problems), and
every kind of upload that is refused: bad data, not JSON, too large, not a file, no token, a
viewer's."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.helpers.browser import add_user, client, logged_in, rows
from tests.helpers.ocpi import TARIFF, location
from tests.helpers.platform import Platform, post


def upload(content: bytes, name: str = "sites.json") -> dict[str, Any]:
    return {"file": (name, content, "application/json")}


def import_result(page: str) -> str:
    start = page.find('id="import-result"')
    assert start >= 0, "no import result next to the upload field"
    return page[start : page.find("</div>", start)]


async def stored(platform: Platform, kind: str) -> list[str]:
    async with platform.admin() as admin:
        return [o["id"] for o in (await admin.get(f"/{kind}")).json()]


async def test_imports_from_the_browser_store_all_or_nothing_and_say_why(
    platform: Platform,
) -> None:
    await add_user(platform, "ivan", "operator")
    await add_user(platform, "vi", "viewer")
    good = [location("UP-1", [("UP-1-1", "CP-UP", 1)], tariff_ids=["AC-STANDARD"])]
    async with client(platform) as http:
        token = await logged_in(http, "ivan")

        async def send(kind: str, content: bytes, **kw: Any) -> httpx.Response:
            return await http.post(
                f"/console/{kind}/import", data={"csrf_token": token}, files=upload(content), **kw
            )

        # A Location naming a tariff that does not exist yet: refused whole, said as the CLI says.
        answer = await send("locations", json.dumps(good).encode())
        assert answer.status_code == 422
        said = import_result(answer.text)
        assert "Nothing imported from sites.json: 1 problem(s)." in said
        assert "<b>0.evses.UP-1-1.connectors.1.tariff_ids</b>" in said
        assert "no tariff &#39;AC-STANDARD&#39;: import or create it first" in said
        assert await stored(platform, "locations") == []

        answer = await send("tariffs", json.dumps(TARIFF).encode())  # one object, not a list
        assert answer.status_code == 200
        assert "tariff AC-STANDARD: created" in import_result(answer.text)
        assert list(rows(answer.text, "tariff")) == ["AC-STANDARD"]

        # One good Location and one bad: neither is stored.
        bad = location("UP-2", [("UP-2-1", "CP-UP", 2)])
        del bad["evses"][0]["station_id"]
        bad["coordinates"]["latitude"] = "north"
        answer = await send("locations", json.dumps([*good, bad]).encode())
        assert answer.status_code == 422
        said = import_result(answer.text)
        assert "2 problem(s)" in said
        assert "<b>1.evses.0.station_id</b>: Field required" in said
        assert "<b>1.coordinates.latitude</b>" in said
        assert await stored(platform, "locations") == []

        answer = await send("locations", json.dumps(good).encode())
        assert answer.status_code == 200
        assert "location UP-1: created" in import_result(answer.text)
        assert await stored(platform, "locations") == ["UP-1"]
        again = await send("locations", json.dumps(good).encode())
        assert "location UP-1: unchanged" in import_result(again.text)

        # What is not a file of OCPI objects at all.
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"files": upload(b"{not json")}, 400, "sites.json is not JSON"),
            ({"files": upload(b"\xff\xfe")}, 400, "is not JSON"),
            ({"files": upload(b"x" * (1100 * 1024))}, 413, "larger than 1024 KiB"),
            ({"files": upload(b"", name="")}, 400, "Choose a JSON file"),
            ({"files": {"other": ("a.json", b"[]", "application/json")}}, 400, "Choose a JSON"),
            ({"content": b"file=[]", "headers": _urlencoded()}, 415, "multipart/form-data"),
            ({"content": b"--x\r\n", "headers": _multipart()}, 400, "cannot be read"),
        ]
        for extra, status, message in cases:
            body = {"data": {"csrf_token": token}} if "files" in extra else {}
            answer = await http.post("/console/locations/import", **body, **extra)
            assert answer.status_code == status, (extra.keys(), answer.text[:300])
            assert message in import_result(answer.text)
        assert await stored(platform, "locations") == ["UP-1"]

        # Not without the login's token, whatever the file.
        answer = await http.post(
            "/console/tariffs/import", files=upload(json.dumps({**TARIFF, "id": "T2"}).encode())
        )
        assert answer.status_code == 403
        assert await stored(platform, "tariffs") == ["AC-STANDARD"]

    async with client(platform) as http:
        token = await logged_in(http, "vi")
        page = (await http.get("/console/locations")).text
        assert 'type="file"' not in page
        answer = await http.post(
            "/console/tariffs/import",
            data={"csrf_token": token},
            files=upload(json.dumps({**TARIFF, "id": "T3"}).encode()),
        )
        assert answer.status_code == 403 and "cannot act" in answer.text
    assert await stored(platform, "tariffs") == ["AC-STANDARD"]


def _urlencoded() -> dict[str, str]:
    return {"content-type": "application/x-www-form-urlencoded"}


def _multipart() -> dict[str, str]:
    return {"content-type": "multipart/form-data"}  # no boundary: no part can be found


async def test_the_lists_are_searched_on_the_server(platform: Platform) -> None:
    await add_user(platform, "sue", "viewer")
    await post(platform, "/tariffs", [TARIFF, {**TARIFF, "id": "DC_FAST", "currency": "CHF"}])
    await post(
        platform,
        "/locations",
        [
            location("CENTRAL", [("CENTRAL-1", "CP-NORTH", 1)]),
            location("HARBOUR", [("HARBOUR-1", "CP-SOUTH", 1)], city="Rotterdam"),
        ],
    )
    for uid in ("STAFF-ANNA", "STAFF-BOB"):
        await post(platform, "/tokens", {"uid": uid}, 201)
    async with client(platform) as http:
        await logged_in(http, "sue")

        async def shown(page: str, query: str, attribute: str) -> list[str]:
            answer = await http.get(f"/console/{page}?{query}")
            assert answer.status_code == 200
            return list(rows(answer.text, attribute))

        assert await shown("locations", "", "location") == ["CENTRAL", "HARBOUR"]
        assert await shown("locations", "q=rotter", "location") == ["HARBOUR"]  # its city
        assert await shown("locations", "q=cp-north", "location") == ["CENTRAL"]  # its charger
        assert await shown("locations", "q=site+harb", "location") == ["HARBOUR"]  # its name
        assert await shown("locations", "q=%25", "location") == []  # % is itself
        assert await shown("tariffs", "q=chf", "tariff") == ["DC_FAST"]
        assert await shown("tariffs", "q=C_F", "tariff") == ["DC_FAST"]
        assert await shown("tariffs", "q=C_", "tariff") == ["DC_FAST"]
        assert await shown("tariffs", "q=AC_", "tariff") == []  # _ is itself
        assert await shown("tokens", "q=anna", "token") == ["STAFF-ANNA"]
        assert await shown("tokens", "", "token") == ["STAFF-ANNA", "STAFF-BOB"]
        for query in ("q=" + "x" * 5000, "q=%00", "page=-1", "page=99999999999", "page=x"):
            assert (await http.get(f"/console/locations?{query}")).status_code == 200


async def test_a_refused_upload_is_answered_not_reset(platform: Platform) -> None:
    """A viewer's, a stranger's or a foreign page's file within the bound: the refusal reaches
    the browser. Answered before the body was read, the connection was closed with the file
    still arriving, and the kernel's reset could take the answer with it."""
    await add_user(platform, "vi", "viewer")
    big = json.dumps([{**TARIFF, "id": f"T{n}"} for n in range(1500)]).encode()
    assert 500_000 < len(big) < 1 << 20
    async with client(platform) as http:
        token = await logged_in(http, "vi")
        for _ in range(5):
            answer = await http.post(
                "/console/tariffs/import", data={"csrf_token": token}, files=upload(big)
            )
            assert answer.status_code == 403 and "cannot act" in answer.text
            answer = await http.post(
                "/console/tariffs/import",
                data={"csrf_token": token},
                files=upload(big),
                headers={"Origin": "https://elsewhere.example"},
            )
            assert answer.status_code == 403
    async with client(platform) as http:
        for _ in range(5):
            answer = await http.post("/console/tariffs/import", files=upload(big))
            assert answer.status_code == 303
    assert await stored(platform, "tariffs") == []
