"""Pagination as the spec has it: limits clamped, filters kept in Link, nothing missed while data changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from cpo.ocpi.pagination import Page, fetch_page, page_headers, page_of
from cpo.ocpi.status import OcpiError
from cpo.schema import migrate
from cpo.tables import Party
from csms.db import make_database, make_engine
from tests.helpers.databases import database_url

URL = "https://cpo.example.com/ocpi/2.2.1/locations"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def next_link(headers: dict[str, str]) -> dict[str, str] | None:
    link = headers.get("Link")
    if link is None:
        return None
    assert link.endswith('>; rel="next"') and link.startswith(f"<{URL}?")
    return dict(parse_qsl(urlsplit(link[1 : -len('>; rel="next"')]).query))


def test_limit_is_clamped_to_the_server_maximum_and_x_limit_says_so() -> None:
    page = page_of({"limit": "2000", "offset": "0"}, max_limit=100)
    assert page.limit == 100 and page.max_limit == 100
    headers = page_headers(URL, {"limit": "2000"}, page, total=250, returned=100)
    assert headers["X-Total-Count"] == "250" and headers["X-Limit"] == "100"
    assert next_link(headers) == {"offset": "100", "limit": "100"}
    assert page_of({}, max_limit=100, default_limit=20).limit == 20


def test_link_keeps_the_filters_and_appears_only_when_more_pages_exist() -> None:
    params = {"date_from": "2026-01-01T00:00:00Z", "date_to": "2026-02-01T00:00:00Z", "limit": "10"}
    page = page_of(params, max_limit=50)
    assert page.date_from == T0 and page.date_to == T0 + timedelta(days=31)
    headers = page_headers(URL, params, page, total=15, returned=10)
    assert next_link(headers) == params | {"offset": "10"}
    last = page_of(params | {"offset": "10"}, max_limit=50)
    assert "Link" not in page_headers(URL, params, last, total=15, returned=5)
    assert "Link" not in page_headers(URL, {}, page_of({}, max_limit=50), total=0, returned=0)


@pytest.mark.parametrize(
    "params",
    [
        {"offset": "-1"},
        {"limit": "ten"},
        {"offset": "1.5"},
        {"date_from": "yesterday"},
        {"date_to": "2026-13-01T00:00:00Z"},
    ],
)
def test_bad_paging_parameters_are_ocpi_2001(params: dict[str, str]) -> None:
    with pytest.raises(OcpiError) as caught:
        page_of(params, max_limit=100)
    assert caught.value.status == 2001 and caught.value.http == 400


def test_date_from_can_be_required() -> None:
    with pytest.raises(OcpiError) as caught:
        page_of({}, max_limit=10, date_from_required=True)
    assert "date_from" in caught.value.message


@settings(max_examples=40, deadline=None)
@given(total=st.integers(0, 60), limit=st.integers(1, 25), max_limit=st.integers(1, 30))
def test_following_links_visits_every_object_once(total: int, limit: int, max_limit: int) -> None:
    objects = list(range(total))
    params: dict[str, str] = {"limit": str(limit)}
    seen: list[int] = []
    for _ in range(total + 2):
        page = page_of(params, max_limit=max_limit)
        chunk = objects[page.offset : page.offset + page.limit]
        seen += chunk
        following = next_link(page_headers(URL, params, page, total, len(chunk)))
        if following is None:
            break
        params = following
    assert seen == objects


async def test_pages_from_the_database_miss_nothing_while_objects_change(tmp_path: Path) -> None:
    url = database_url(tmp_path, "page.db")
    await migrate(url)
    engine = make_engine(url)
    database = make_database(engine)
    try:
        async with database.begin() as session:
            for i in range(23):
                session.add(Party(name=f"p{i:02}", updated_at=T0 + timedelta(minutes=i)))
        names: list[str] = []
        params: dict[str, str] = {"limit": "5", "date_from": "2026-01-01T00:03:00Z"}
        for _ in range(10):
            page: Page = page_of(params, max_limit=100)
            async with database() as session:
                rows, total = await fetch_page(
                    session, select(Party), page, col(Party.updated_at), Party.id
                )
            names += [r.name for r in rows]
            if names == ["p03", "p04", "p05", "p06", "p07"]:
                # An object already seen and one not yet seen change mid-crawl: both keep
                # their place, since pages are in creation order.
                async with database.begin() as session:
                    for row in (
                        await session.execute(
                            select(Party).where(col(Party.name).in_(["p04", "p12"]))
                        )
                    ).scalars():
                        row.updated_at = T0 + timedelta(days=1)
            following = next_link(page_headers(URL, params, page, total, len(rows)))
            if following is None:
                break
            params = following
        assert names == [f"p{i:02}" for i in range(3, 23)]
        async with database() as session:
            _, total = await fetch_page(
                session,
                select(Party),
                page_of({"date_to": "2026-01-01T00:10:00Z"}, 100),
                col(Party.updated_at),
                Party.id,
            )
        assert total == 9  # p00..p09 are before 00:10 (exclusive), less p04 which moved
    finally:
        await engine.dispose()
