"""The CDRs and money page over HTTP against the real platform: real charges' CDRs with their
cost, the filters, the totals and the chart's figures of a filter, the CSV link that downloads
exactly the filtered CDRs, one CDR's page, and a message next to the field for each kind of bad
filter."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import httpx

from cpo.cdrs.report import CdrRow
from tests.helpers.browser import add_user, client, field_error, logged_in, rows
from tests.helpers.cluster import until
from tests.helpers.ocpi import invite, location, two_currency_tariffs
from tests.helpers.platform import Platform, post
from tests.helpers.wire import booted, charge16

STAFF = "MONEY-STAFF-1"
TARIFFS = two_currency_tariffs("M")


async def charges(platform: Platform) -> list[str]:
    """Three charges with the operator's own token: 2 and 3 kWh at SITE-A (EUR, with VAT) on
    1 and 3 May 2026, 4 kWh at SITE-B (GBP, no VAT) on 3 May. Their CDR ids, oldest first."""
    await post(platform, "/tariffs", TARIFFS)
    await post(
        platform,
        "/locations",
        [
            location("SITE-A", [("SITE-A-1", "CP-MA", 1)], tariff_ids=["M-EUR"]),
            location("SITE-B", [("SITE-B-1", "CP-MB", 1)], tariff_ids=["M-GBP"]),
        ],
    )
    await post(platform, "/tokens", {"uid": STAFF}, 201)
    site_a, site_b = await booted(platform, "CP-MA"), await booted(platform, "CP-MB")
    await charge16(site_a, STAFF, "2026-05-01T10:00:00Z", 0, "2026-05-01T10:30:00Z", 2000)
    await charge16(site_a, STAFF, "2026-05-03T10:00:00Z", 2000, "2026-05-03T11:00:00Z", 5000)
    await charge16(site_b, STAFF, "2026-05-03T12:00:00Z", 0, "2026-05-03T13:00:00Z", 4000)
    for ws in (site_a, site_b):
        await ws.close()

    async def made() -> list[str]:
        async with platform.admin() as admin:
            found = (await admin.get("/cdrs")).json()["cdrs"]
        return [c["id"] for c in reversed(found)] if len(found) == 3 else []

    return list(await until(made, what="the three CDRs"))  # type: ignore[arg-type]


def chart_figures(page: str) -> Any:
    found = re.search(r'<script type="application/json" id="cdr-series">(.*?)</script>', page, re.S)
    assert found, "no chart figures in the page"
    return json.loads(found.group(1))


def csv_link(page: str) -> str:
    found = re.search(r'<a class="button" href="([^"]+)" download>CSV</a>', page)
    assert found, "no CSV link in the page"
    return found.group(1).replace("&amp;", "&")


async def csv_ids(http: httpx.AsyncClient, link: str) -> list[str]:
    answer = await http.get(link)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="cdrs.csv"' in answer.headers["content-disposition"]
    header, *lines = list(csv.reader(io.StringIO(answer.text)))
    assert header == list(CdrRow.model_fields)
    return [line[0] for line in lines]


async def test_the_cdrs_page_shows_each_cdr_the_totals_and_chart_and_a_csv_of_the_filter(
    platform: Platform,
) -> None:
    await add_user(platform, "mona", "viewer")
    first, second, pounds = await charges(platform)
    party_id, _ = await invite(platform, name="Nobody's eMSP")
    async with client(platform) as http:
        await logged_in(http, "mona")
        page = (await http.get("/console/cdrs")).text
        shown = rows(page, "cdr")
        assert list(shown) == [pounds, second, first]  # newest first
        cdr, ended, emsp, site, token, kwh, _, excl, incl, currency, _ = shown[first]
        assert (ended, emsp, site, token) == (
            "2026-05-01 10:30:00",
            "operator NL-CPO",
            "SITE-A Site SITE-A",
            STAFF,
        )
        assert (kwh, excl, incl, currency) == ("2.000", "0.60", "0.72", "EUR")
        assert shown[pounds][7:10] == ["1.60", "—", "GBP"]  # that tariff names no VAT
        assert 'id="total-cdrs">3<' in page and 'id="total-energy">9.000 kWh<' in page
        assert "1.50 EUR</b><small>excl. VAT · 1.80 EUR incl." in page
        assert "1.60 GBP</b><small>excl. VAT</small>" in page
        assert chart_figures(page) == {
            "days": ["2026-05-01", "2026-05-02", "2026-05-03"],
            "energy": [2.0, 0.0, 7.0],
            "revenue": {"EUR": [0.6, 0.0, 0.9], "GBP": [0.0, 0.0, 1.6]},
        }
        assert sorted(await csv_ids(http, csv_link(page))) == sorted([first, second, pounds])

        # Location ids are case-blind; the CSV link carries the page's filter.
        page = (await http.get("/console/cdrs", params={"location": "site-b"})).text
        assert list(rows(page, "cdr")) == [pounds]
        assert 'id="total-cdrs">1<' in page and "EUR" not in page.split("<table")[0]
        assert await csv_ids(http, csv_link(page)) == [pounds]

        page = (await http.get("/console/cdrs", params={"from": "2026-05-02"})).text
        assert list(rows(page, "cdr")) == [pounds, second]
        assert await csv_ids(http, csv_link(page)) == [second, pounds]  # oldest first
        # A day is all of it: `to` takes in 1 May.
        page = (await http.get("/console/cdrs", params={"to": "2026-05-01"})).text
        assert list(rows(page, "cdr")) == [first]

        page = (await http.get("/console/cdrs", params={"party": party_id})).text
        assert rows(page, "cdr") == {} and "No CDR matches this filter." in page
        assert await csv_ids(http, csv_link(page)) == []
        assert f'<option value="{party_id}" selected>' in page

        page = (await http.get("/console/cdrs", params={"page": 2})).text
        assert rows(page, "cdr") == {} and 'rel="prev"' in page

        one = await http.get(f"/console/cdrs/{first}")
        assert one.status_code == 200
        assert "0.60 EUR excl. VAT, 0.72 EUR incl." in one.text
        assert "&#34;total_cost&#34;" in one.text  # the OCPI CDR as sent, as JSON


async def test_each_bad_filter_is_told_next_to_its_field_and_gives_no_csv(
    platform: Platform,
) -> None:
    await add_user(platform, "fred", "viewer")
    async with client(platform) as http:
        await logged_in(http, "fred")
        cases: list[tuple[dict[str, str], str, str]] = [
            ({"from": "yesterday"}, "from", "must be a date (YYYY-MM-DD)"),
            ({"from": "2026-13-01"}, "from", "must be a date (YYYY-MM-DD)"),
            ({"to": "0001-01-01"}, "to", "must lie between 1970 and 9000"),
            ({"from": "2026-05-03", "to": "2026-05-01"}, "to", "from must come before to"),
            ({"party": "abc"}, "party", "valid integer"),
            ({"party": "0"}, "party", "greater than or equal to 1"),
            ({"party": str(2**70)}, "party", "less than or equal to"),
            ({"party": "999"}, "party", "no party 999"),
            ({"location": "NOWHERE"}, "location", "no location NOWHERE"),
            ({"location": "%_"}, "location", "no location %_"),
            ({"location": "L" * 40}, "location", "at most 36 characters"),
            ({"location": "L" * 5000}, "location", "at most 64 characters"),
            ({"from": "<script>"}, "from", "must be a date"),
        ]
        for query, field, message in cases:
            page = await http.get("/console/cdrs", params=query)
            assert page.status_code == 400, query
            assert message in (field_error(page.text, field) or ""), (query, page.text)
            assert "<script>" not in page.text  # what was typed comes back escaped
            assert ">CSV</a>" not in page.text
            export = await http.get("/console/cdrs.csv", params=query)
            assert export.status_code == 400 and message in export.text, query
        for cdr_id in ("NO-SUCH-CDR", "C" * 40, "A%00B"):
            assert (await http.get(f"/console/cdrs/{cdr_id}")).status_code == 404
