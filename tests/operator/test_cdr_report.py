"""The CDR report of the admin API: CDRs of real charges filtered by end date, eMSP and
Location, their revenue per currency and energy in total and per day, the CSV of exactly the
filtered CDRs, and a 400 problem for each kind of bad filter."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cpo.cdrs.report import CdrRow
from simulators.emsp import EmspSimulator, Received, make_token
from tests.helpers.ocpi import location, push, register_with, two_currency_tariffs
from tests.helpers.platform import Platform, post
from tests.helpers.wire import booted, charge16

DRIVER = "REPORT-DRIVER-1"
# A token uid an eMSP may choose (printable ASCII): a spreadsheet would run it as a formula.
FORMULA = "=1+2"
STAFF = "REPORT-STAFF-1"
TARIFFS = two_currency_tariffs("R")


def at(day: int, hour: int, minute: int = 0) -> str:
    """A moment of May 2026, as a charger writes it."""
    moment = datetime(2026, 5, day, tzinfo=UTC) + timedelta(hours=hour, minutes=minute)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cdr_of(energy: float) -> Any:
    def matches(r: Received) -> bool:
        return (
            r.module == "cdrs"
            and r.method == "POST"
            and r.status < 300
            and r.body["total_energy"] == energy
        )

    return matches


@pytest.fixture
async def charged(tmp_path: Path) -> AsyncIterator[tuple[Platform, int, dict[str, str]]]:
    """Four charges ended on 1 and 3 May 2026 at two Locations (EUR with VAT, GBP without),
    one of them with the operator's own token, the others an eMSP's; the charge of the token
    FORMULA corrected (a credit and a reissue). The platform, the eMSP's party id, and each
    charge's CDR id by name."""
    platform = await Platform(tmp_path, push_retry_max=0.2, session_update_seconds=0.2).start()
    try:
        async with EmspSimulator(party_id="EMS") as emsp:
            party_id = (await register_with(platform, emsp))["id"]
            for uid in (DRIVER, FORMULA):
                assert await push(emsp, make_token(uid, whitelist="ALLOWED")) == 201
            await post(platform, "/tokens", {"uid": STAFF}, 201)
            await post(platform, "/tariffs", TARIFFS)
            await post(
                platform,
                "/locations",
                [
                    location("SITE-A", [("SITE-A-1", "CP-A", 1)], tariff_ids=["R-EUR"]),
                    location("SITE-B", [("SITE-B-1", "CP-B", 1)], tariff_ids=["R-GBP"]),
                ],
            )
            site_a, site_b = await booted(platform, "CP-A"), await booted(platform, "CP-B")
            # The operator's charge first: once the eMSP has the later CDRs, it was made too.
            await charge16(site_a, STAFF, at(1, 10), 0, at(1, 10, 30), 2000)
            await charge16(site_a, DRIVER, at(1, 11), 2000, at(1, 12), 5000)
            await charge16(site_a, FORMULA, at(3, 10), 5000, at(3, 10, 30), 6000)
            await charge16(site_b, DRIVER, at(3, 12), 0, at(3, 13), 4000)
            ids = {
                name: (await emsp.wait_for(cdr_of(energy))).body["id"]
                for name, energy in (("driver", 3.0), ("formula", 1.0), ("pounds", 4.0))
            }
            for ws in (site_a, site_b):
                await ws.close()
            async with platform.admin() as admin:
                sessions = (await admin.get("/sessions")).json()
                (own,) = [s for s in sessions if s["operator"]]
                ids["staff"] = own["cdrs"][0]["id"]
                corrected = await admin.post(f"/sessions/{ids['formula']}/correct")
                assert corrected.status_code == 201, corrected.text
            ids["credit"], ids["reissue"] = f"{ids['formula']}-C1", f"{ids['formula']}-R1"
            yield platform, party_id, ids
    finally:
        await platform.stop()


async def get(platform: Platform, path: str, **params: Any) -> httpx.Response:
    async with platform.admin() as admin:
        return await admin.get(path, params=params)


async def test_cdrs_are_filtered_by_end_date_emsp_and_location_and_linked_to_corrections(
    charged: tuple[Platform, int, dict[str, str]],
) -> None:
    platform, party_id, ids = charged
    page = (await get(platform, "/cdrs")).json()
    assert page["total"] == 6 and page["offset"] == 0
    rows = {c["id"]: c for c in page["cdrs"]}
    # Newest first, as they were made: the correction's two, then the charges backwards (made
    # in the order they fell due, even when several fall due in one step of the projection).
    assert [c["id"] for c in page["cdrs"]] == [
        ids["reissue"],
        ids["credit"],
        ids["pounds"],
        ids["formula"],
        ids["driver"],
        ids["staff"],
    ]
    staff, driver = rows[ids["staff"]], rows[ids["driver"]]
    assert (staff["party"], staff["emsp"], staff["emsp_name"]) == (None, "NL-CPO", None)
    assert (driver["party"], driver["emsp"], driver["token_uid"]) == (party_id, "NL-EMS", DRIVER)
    assert (driver["energy_kwh"], driver["duration_hours"], driver["currency"]) == (3.0, 1.0, "EUR")
    assert (driver["cost_excl_vat"], driver["cost_incl_vat"]) == (0.9, 1.08)
    assert (driver["location_id"], driver["location_name"], driver["evse_uid"]) == (
        "SITE-A",
        "Site SITE-A",
        "SITE-A-1",
    )
    assert (driver["start_date_time"], driver["end_date_time"]) == (
        "2026-05-01T11:00:00.000Z",
        "2026-05-01T12:00:00.000Z",
    )
    assert rows[ids["pounds"]]["cost_incl_vat"] is None  # that tariff names no VAT
    formula, credit, reissue = rows[ids["formula"]], rows[ids["credit"]], rows[ids["reissue"]]
    assert (formula["credited_by"], formula["replaced_by"]) == (ids["credit"], ids["reissue"])
    assert (credit["credit"], credit["cancels"], credit["cost_excl_vat"]) == (
        True,
        ids["formula"],
        -0.3,
    )
    assert (reissue["replaces"], reissue["credit"], reissue["credited_by"]) == (
        ids["formula"],
        False,
        None,
    )

    async def matching(**where: Any) -> list[str]:
        answer = await get(platform, "/cdrs", **where)
        assert answer.status_code == 200, answer.text
        return sorted(c["id"] for c in answer.json()["cdrs"])

    # A day is the whole (UTC) day; a date-time `to` is exclusive, `from` inclusive.
    assert await matching(to="2026-05-01") == sorted([ids["staff"], ids["driver"]])
    assert await matching(**{"from": "2026-05-02"}) == sorted(
        [ids["formula"], ids["credit"], ids["reissue"], ids["pounds"]]
    )
    assert await matching(**{"from": "2026-05-01T10:30:00Z", "to": "2026-05-01T12:00:00Z"}) == [
        ids["staff"]
    ]
    assert await matching(**{"from": "2026-05-01T12:30:00+01:00", "to": "2026-05-02"}) == [
        ids["driver"]
    ]
    assert await matching(party=party_id) == sorted(set(rows) - {ids["staff"]})
    # Location ids are case-blind, as OCPI's CiStrings are.
    assert await matching(location="site-b") == [ids["pounds"]]
    assert await matching(party=party_id, location="SITE-A", to="2026-05-01") == [ids["driver"]]
    paged = (await get(platform, "/cdrs", offset=4, limit=5)).json()
    assert [c["id"] for c in paged["cdrs"]] == [ids["driver"], ids["staff"]]
    assert paged["total"] == 6


async def test_totals_and_days_count_a_correction_once_and_never_add_currencies(
    charged: tuple[Platform, int, dict[str, str]],
) -> None:
    platform, party_id, _ = charged
    summary = (await get(platform, "/cdrs/summary")).json()
    # The credit takes back 1 kWh and 0.30 that the reissue bills again.
    assert (summary["cdrs"], summary["energy_kwh"]) == (6, 10.0)
    assert summary["revenue"] == [
        {"currency": "EUR", "cdrs": 5, "excl_vat": 1.8, "incl_vat": 2.16},
        {"currency": "GBP", "cdrs": 1, "excl_vat": 1.6, "incl_vat": None},
    ]
    assert summary["days"] == [
        {
            "date": "2026-05-01",
            "cdrs": 2,
            "energy_kwh": 5.0,
            "revenue": [{"currency": "EUR", "cdrs": 2, "excl_vat": 1.5, "incl_vat": 1.8}],
        },
        {"date": "2026-05-02", "cdrs": 0, "energy_kwh": 0.0, "revenue": []},
        {
            "date": "2026-05-03",
            "cdrs": 4,
            "energy_kwh": 5.0,
            "revenue": [
                {"currency": "EUR", "cdrs": 3, "excl_vat": 0.3, "incl_vat": 0.36},
                {"currency": "GBP", "cdrs": 1, "excl_vat": 1.6, "incl_vat": None},
            ],
        },
    ]
    mine = (await get(platform, "/cdrs/summary", party=party_id, location="SITE-A")).json()
    assert (mine["cdrs"], mine["energy_kwh"]) == (4, 4.0)
    assert mine["revenue"] == [{"currency": "EUR", "cdrs": 4, "excl_vat": 1.2, "incl_vat": 1.44}]
    assert [d["date"] for d in mine["days"]] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    none = (await get(platform, "/cdrs/summary", **{"from": "2027-01-01"})).json()
    assert none == {"cdrs": 0, "energy_kwh": 0.0, "revenue": [], "days": []}


async def test_the_csv_holds_exactly_the_filtered_cdrs_and_runs_no_formula(
    charged: tuple[Platform, int, dict[str, str]],
) -> None:
    platform, party_id, ids = charged
    answer = await get(platform, "/cdrs", format="csv", party=party_id)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    header, *lines = list(csv.reader(io.StringIO(answer.text)))
    assert header == list(CdrRow.model_fields)
    # Oldest first; the operator's own charge is not the eMSP's.
    assert [line[0] for line in lines] == [
        ids["driver"],
        ids["formula"],
        ids["pounds"],
        ids["credit"],
        ids["reissue"],
    ]
    cells = {line[0]: dict(zip(header, line, strict=True)) for line in lines}
    formula = cells[ids["formula"]]
    assert formula["token_uid"] == "'" + FORMULA  # text, not a formula
    credit = cells[ids["credit"]]
    assert (credit["credit"], credit["cost_excl_vat"], credit["cancels"]) == (
        "true",
        "-0.3",  # a number stays a number
        ids["formula"],
    )
    assert cells[ids["pounds"]]["cost_incl_vat"] == ""
    # Accept: text/csv asks for the same; the filter applies to it alike.
    async with platform.admin() as admin:
        asked = await admin.get(
            "/cdrs", params={"location": "SITE-B"}, headers={"Accept": "text/csv"}
        )
    assert asked.status_code == 200 and asked.headers["content-type"].startswith("text/csv")
    assert [line[0] for line in csv.reader(io.StringIO(asked.text))][1:] == [ids["pounds"]]


BAD_FILTERS: list[dict[str, Any]] = [
    {"from": "2026-13-01"},
    {"from": "yesterday"},
    {"to": "99999-01-01"},
    {"to": "9999-12-31"},
    {"from": "0001-01-01"},
    {"from": "2026-05-02", "to": "2026-05-01"},
    {"from": "2026-05-01T10:00:00Z", "to": "2026-05-01T10:00:00Z"},
    {"from": "x" * 10_000},
    {"party": "999"},
    {"party": "-1"},
    {"party": "99999999999999999999999"},
    {"party": "EMS"},
    {"location": "NOWHERE"},
    {"location": "L" * 37},
    {"limit": "0"},
    {"limit": "1001"},
    {"offset": "-1"},
    {"offset": "1e9"},
    {"format": "xml"},
    {"currency": "EUR"},
]


async def test_each_kind_of_bad_filter_is_a_400_problem(platform: Platform) -> None:
    async with platform.admin() as admin:
        for params in BAD_FILTERS:
            # (limit, offset and format are not the summary's parameters at all)
            for path in ("/cdrs", "/cdrs/summary"):
                answer = await admin.get(path, params=params)
                assert answer.status_code == 400, (path, params, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["errors"], answer.text
        # The CSV too: a problem, not half a file.
        answer = await admin.get("/cdrs", params={"format": "csv", "party": "999"})
        assert answer.status_code == 400 and "no party 999" in answer.json()["detail"]
        twice = await admin.get("/cdrs?from=2026-05-01&from=2026-05-02")
        assert twice.status_code == 400 and "twice" in twice.json()["title"]
