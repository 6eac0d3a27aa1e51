"""/metrics: the server's and the push worker's figures in one scrape, and each party's outbox
backlog (rows waiting, age of the oldest) read from the database when scraped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from simulators.emsp import EmspSimulator
from tests.helpers.ocpi import register_with
from tests.helpers.platform import Platform


async def scrape(platform: Platform) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, by name and labels."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{platform.url}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def pushes(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    """Tariff pushes the eMSP accepted, as counted in `samples`."""
    labels = frozenset({"direction": "out", "module": "tariffs", "status": "1000"}.items())
    return samples.get(("cpo_ocpi_requests_total", labels), 0.0)


def of_party(party_id: int) -> frozenset[tuple[str, str]]:
    return frozenset({"party": str(party_id)}.items())


def tariff(tariff_id: str) -> dict[str, Any]:
    return {
        "id": tariff_id,
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
    }


async def add_tariffs(platform: Platform, *ids: str) -> None:
    async with platform.admin() as admin:
        response = await admin.post("/tariffs", json=[tariff(i) for i in ids])
    assert response.status_code == 200, response.text


async def test_the_workers_pushes_and_the_outbox_backlog_are_on_the_servers_metrics(
    tmp_path: Path,
) -> None:
    # One object in flight per party: the worker counts a push before it sends the next.
    platform = await Platform(tmp_path, push_worker=True, push_concurrency=1).start()
    try:
        async with EmspSimulator(party_id="EMS") as emsp:
            party_id = (await register_with(platform, emsp))["id"]
            before = await scrape(platform)
            assert before[("cpo_push_outbox_pending", of_party(party_id))] == 0

            await add_tariffs(platform, "MET-1", "MET-2")
            for tariff_id in ("MET-1", "MET-2"):
                await emsp.wait_for(
                    lambda r, t=tariff_id: r.method == "PUT" and r.path.endswith(f"/{t}")
                )
            # The server pushed nothing itself (the worker does): what it shows is the worker's.
            assert pushes(await scrape(platform)) >= pushes(before) + 1

            await emsp.down()
            await add_tariffs(platform, "MET-3", "MET-4", "MET-5")
            backlog = await scrape(platform)
            # MET-2's row may still wait for its delivery to be noted: three at least.
            assert backlog[("cpo_push_outbox_pending", of_party(party_id))] >= 3
            assert backlog[("cpo_push_outbox_oldest_pending_seconds", of_party(party_id))] > 0
            assert backlog[("cpo_push_outbox_failed", of_party(party_id))] == 0
    finally:
        await platform.stop()
