"""Locations on the wire in each OCPI version, from the form they are stored in: 2.2.1's plus
2.3.0's additions (v230.py)."""

from __future__ import annotations

from typing import Any

from cpo.locations import v211, v230
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.models_v211 import NotIn211


def location_out(stored: dict[str, Any], version: VersionNumber) -> dict[str, Any]:
    """A whole Location, its EVSEs and their Connectors in `version`'s shape. NotIn211 for a
    Location not to be published: 2.1.1 has no `publish`, so such a Location is not sent."""
    if version == VersionNumber.V2_3_0:
        return stored
    if version == VersionNumber.V2_2_1:
        return v230.without_additions(stored)
    if not stored.get("publish", True):
        raise NotIn211(f"location {stored.get('id')!r} is not published")
    return v211.location_out(v230.without_additions(stored))


def locations_out(stored: list[dict[str, Any]], version: VersionNumber) -> list[dict[str, Any]]:
    """Those of `stored` that `version` can express, in its shape."""
    out = []
    for location in stored:
        try:
            out.append(location_out(location, version))
        except NotIn211:
            continue
    return out
