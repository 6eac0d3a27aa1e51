"""CDRs on the wire in each OCPI version, from the form they are stored in (2.2.1's)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cpo.cdrs import v211, v230
from cpo.locations.store import location_at
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.models_v211 import NotIn211


async def cdr_out(
    session: AsyncSession, stored: dict[str, Any], version: VersionNumber
) -> dict[str, Any]:
    """NotIn211 for a CDR OCPI 2.1.1 cannot express (a credit CDR, ADR 024): a 2.1.1 party
    does not get it. 2.1.1 embeds the Location, read through `session`."""
    if version == VersionNumber.V2_3_0:
        return v230.cdr_out(stored)
    if version == VersionNumber.V2_1_1:
        location = await location_at(session, stored["cdr_location"]["id"])
        return v211.cdr_out(stored, location)
    return stored


async def cdrs_out(
    session: AsyncSession, stored: list[dict[str, Any]], version: VersionNumber
) -> list[dict[str, Any]]:
    """Those of `stored` that `version` can express, in its shape."""
    out = []
    for cdr in stored:
        try:
            out.append(await cdr_out(session, cdr, version))
        except NotIn211:
            continue
    return out
