"""Waiting for what a firmware campaign recorded of a charger's status notifications."""

from __future__ import annotations

from typing import Any

from tests.helpers.cluster import until
from tests.helpers.platform import EventWaiter, Platform


async def reported(
    platform: Platform,
    waiter: EventWaiter,
    station_id: str,
    status: str,
    campaign_id: int | None = None,
) -> None:
    """Until `station_id` reported `status` and a campaign (this one, or any) recorded it: a
    step of the campaigns' own loop may hold the cursor over the event log for a moment, so one
    step of ours may find nothing to read yet."""
    await waiter.wait(
        "FirmwareStatusChanged",
        lambda e: e.station_id == station_id and e.data.get("status") == status,
    )
    firmware = platform.state.firmware

    async def recorded() -> bool:
        await firmware.step()
        ids = [campaign_id] if campaign_id is not None else [c["id"] for c in await firmware.all()]
        for one in ids:
            view: dict[str, Any] = await firmware.get(one)
            for charger in view["chargers"]:
                if charger["station_id"] == station_id and any(
                    step["status"] == status for step in charger["history"]
                ):
                    return True
        return False

    await until(recorded, what=f"{station_id}'s {status} in a campaign")
