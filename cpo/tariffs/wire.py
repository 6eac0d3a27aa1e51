"""Tariffs on the wire in each OCPI version, from the form they are stored in (2.2.1's)."""

from __future__ import annotations

from typing import Any

from cpo.ocpi.models import VersionNumber
from cpo.tariffs import v230


def tariff_out(stored: dict[str, Any], version: VersionNumber) -> dict[str, Any]:
    if version == VersionNumber.V2_3_0:
        return v230.tariff_out(stored)
    return stored
