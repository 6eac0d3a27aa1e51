"""Tariffs on the wire in each OCPI version, from the form they are stored in (2.2.1's)."""

from __future__ import annotations

from typing import Any

from cpo.ocpi.models import VersionNumber
from cpo.ocpi.models_v211 import NotIn211
from cpo.tariffs import v211, v230


def tariff_out(stored: dict[str, Any], version: VersionNumber) -> dict[str, Any]:
    """NotIn211 for a Tariff OCPI 2.1.1 cannot express (every element priced by current or for
    reservations): a 2.1.1 party does not get it."""
    if version == VersionNumber.V2_3_0:
        return v230.tariff_out(stored)
    if version == VersionNumber.V2_1_1:
        return v211.tariff_out(stored)
    return stored


def tariffs_out(stored: list[dict[str, Any]], version: VersionNumber) -> list[dict[str, Any]]:
    """Those of `stored` that `version` can express, in its shape."""
    out = []
    for tariff in stored:
        try:
            out.append(tariff_out(tariff, version))
        except NotIn211:
            continue
    return out
