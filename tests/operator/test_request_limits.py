"""What peers and operators send that the platform refuses before it costs anything: bodies over
CPO_MAX_BODY_BYTES (checked only after the caller's credentials), numbers beyond 64 bits and
dates beyond the calendar in query parameters and ids. Each gets a 4xx in the surface's own
terms (the OCPI envelope, problem+json), never a 500."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from simulators.emsp import EmspSimulator
from tests.helpers.ocpi import envelope, invite, peer, register_with, token_header
from tests.helpers.platform import ADMIN_TOKEN, Platform
from tests.helpers.raw_http import Answer, raw_request

MIB = 1 << 20  # the default CPO_MAX_BODY_BYTES
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def ocpi_envelope(answer: Answer, http: int, status: int) -> None:
    assert answer.status == http, answer
    # What is left of the body is not read to find the next request: the connection ends.
    assert answer.headers["connection"] == "close"
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["status_code"] == status and body["status_message"], body


def problem(answer: Answer | httpx.Response, http: int) -> dict[str, Any]:
    status = answer.status if isinstance(answer, Answer) else answer.status_code
    assert status == http, answer
    if isinstance(answer, Answer):
        assert answer.headers["connection"] == "close"
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["status"] == http and body["title"], body
    return body


def ocpi_token(token: str) -> dict[str, str]:
    return token_header(token) | {"Content-Type": "application/json"}


# -- bodies -----------------------------------------------------------------------------------


async def test_bodies_over_the_limit_are_413_in_each_surfaces_terms(platform: Platform) -> None:
    _, token_a = await invite(platform)
    too_big = b'{"token": "' + b"x" * MIB + b'"}'
    async with peer(platform, token_a) as emsp:
        response = await emsp.post("/ocpi/2.2.1/credentials", content=too_big)
        envelope(response, 413, 2000)
        assert str(MIB) in response.json()["status_message"]
    async with platform.admin() as admin:
        response = await admin.post("/locations", content=too_big)
        problem(response, 413)
        # A body within the limit still reaches the endpoint, chunked or not.
        response = await admin.post("/tokens", content=b'{"uid": "LIMIT-OK"}')
        assert response.status_code == 201, response.text

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"uid": '
            yield b'"LIMIT-CHUNKED"}'

        response = await admin.post("/tokens", content=chunks())
        assert response.status_code == 201, response.text


async def test_a_head_that_announces_too_much_is_refused_before_the_body_is_sent(
    platform: Platform,
) -> None:
    _, token_a = await invite(platform)
    announced = {"Content-Length": str(MIB + 1)}
    async with raw_request(platform.port) as request:
        await request.head("POST", "/ocpi/2.2.1/credentials", ocpi_token(token_a) | announced)
        ocpi_envelope(await request.answer(), 413, 2000)
    async with raw_request(platform.port) as request:
        await request.head("POST", "/admin/api/locations", ADMIN | announced)
        problem(await request.answer(), 413)


async def test_a_chunked_body_is_refused_once_it_passes_the_limit_not_at_its_end(
    platform: Platform,
) -> None:
    _, token_a = await invite(platform)
    chunked = {"Transfer-Encoding": "chunked"}
    for path, headers in [
        ("/ocpi/2.2.1/credentials", ocpi_token(token_a)),
        ("/admin/api/locations", ADMIN),
    ]:
        async with raw_request(platform.port) as request:
            await request.head("POST", path, headers | chunked)
            for _ in range(16):
                await request.chunk(b" " * (64 << 10))
            await request.chunk(b" ")  # one byte over; the body's end never comes
            answer = await request.answer()
        if path.startswith("/ocpi"):
            ocpi_envelope(answer, 413, 2000)
        else:
            problem(answer, 413)


async def test_credentials_are_checked_before_a_body_is_read(platform: Platform) -> None:
    huge = {"Content-Length": str(100 * MIB)}
    async with raw_request(platform.port) as request:
        await request.head("POST", "/ocpi/2.2.1/credentials", ocpi_token("not-a-token") | huge)
        ocpi_envelope(await request.answer(), 401, 2000)
    async with raw_request(platform.port) as request:
        headers = ADMIN | {"Authorization": "Bearer wrong"} | huge
        await request.head("POST", "/admin/api/locations", headers)
        problem(await request.answer(), 401)
    # Chunked: the same, with the body still streaming.
    async with raw_request(platform.port) as request:
        await request.head(
            "PUT",
            "/ocpi/2.2.1/credentials",
            ocpi_token(base64.b64encode(b"nobody").decode()) | {"Transfer-Encoding": "chunked"},
        )
        await request.chunk(b"{")
        ocpi_envelope(await request.answer(), 401, 2000)


# -- numbers and dates in queries and ids --------------------------------------------------------


@pytest.fixture
async def emsp(platform: Platform) -> AsyncIterator[EmspSimulator]:
    async with EmspSimulator(party_id="EMS") as sim:
        await register_with(platform, sim)
        yield sim


@pytest.mark.parametrize(
    "path, params",
    [
        ("locations", {"offset": "99999999999999999999999"}),
        ("locations", {"offset": str(1 << 63)}),
        ("tariffs", {"limit": "99999999999999999999999"}),
        ("locations", {"limit": "-1"}),
        ("locations", {"limit": "0"}),
        ("cdrs", {"offset": "-5"}),
        ("cdrs", {"date_from": "9999-12-31T23:59:59-01:00"}),
        ("locations", {"date_to": "0001-01-01T00:00:00+01:00"}),
        ("sessions", {"date_from": "1e400"}),
        ("sessions", {"date_from": "99999999999999999999"}),
    ],
)
async def test_paging_parameters_out_of_range_are_ocpi_2001(
    platform: Platform, emsp: EmspSimulator, path: str, params: dict[str, str]
) -> None:
    assert emsp.cpo is not None
    async with peer(platform, emsp.cpo.token) as client:
        response = await client.get(f"/ocpi/2.2.1/{path}", params=params)
    envelope(response, 400, 2001)
    assert next(iter(params)) in response.json()["status_message"]


async def test_the_largest_offset_is_an_empty_last_page(
    platform: Platform, emsp: EmspSimulator
) -> None:
    assert emsp.cpo is not None
    async with peer(platform, emsp.cpo.token) as client:
        response = await client.get(
            "/ocpi/2.2.1/locations", params={"offset": str((1 << 63) - 1), "limit": "1"}
        )
    assert envelope(response, 200, 1000) == []
    assert "link" not in response.headers


@pytest.mark.parametrize(
    ("path", "status"),
    [
        # An id no row can have names nothing (404); a cursor or size out of range is a
        # malformed request (400).
        ("/transactions/99999999999999999999", 404),
        (f"/transactions/{1 << 63}", 404),
        ("/parties/99999999999999999999", 404),
        ("/parties/99999999999999999999/requests", 404),
        ("/stations/CP1/messages?before=1e400", 400),
        ("/stations/CP1/messages?before=99999999999999999999", 400),
        ("/events?after=99999999999999999999999", 400),
        ("/events?limit=-1", 400),
        ("/sessions?limit=0", 400),
    ],
)
async def test_admin_ids_and_cursors_out_of_range_are_4xx_problems(
    platform: Platform, path: str, status: int
) -> None:
    await platform.add_station("CP1")
    async with platform.admin() as admin:
        response = await admin.get(path)
    problem(response, status)
