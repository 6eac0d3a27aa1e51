"""Sessions on the wire in each OCPI version, from the form they are stored in (2.2.1's)."""

from __future__ import annotations

from typing import Any

from cpo.ocpi.models import VersionNumber
from cpo.sessions import v230


def session_out(stored: dict[str, Any], version: VersionNumber) -> dict[str, Any]:
    """A whole Session, or the fields of one a PATCH carries."""
    if version == VersionNumber.V2_3_0:
        return v230.session_out(stored)
    return stored
