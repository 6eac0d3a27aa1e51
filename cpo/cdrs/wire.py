"""CDRs on the wire in each OCPI version, from the form they are stored in (2.2.1's)."""

from __future__ import annotations

from typing import Any

from cpo.cdrs import v230
from cpo.ocpi.models import VersionNumber


def cdr_out(stored: dict[str, Any], version: VersionNumber) -> dict[str, Any]:
    if version == VersionNumber.V2_3_0:
        return v230.cdr_out(stored)
    return stored
