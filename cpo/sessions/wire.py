"""Sessions on the wire in each OCPI version, from the form they are stored in (2.2.1's)."""

from __future__ import annotations

from typing import Any

from cpo.cdrs.v211 import location_of
from cpo.ocpi.models import VersionNumber
from cpo.sessions import v211, v230


def session_out(
    stored: dict[str, Any],
    version: VersionNumber,
    location: dict[str, Any] | None = None,
    place: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole Session, or (2.2 on) the fields of one a PATCH carries. 2.1.1 embeds the
    Location: `location` as stored, else one made of `place`, the session's CdrLocation."""
    if version == VersionNumber.V2_3_0:
        return v230.session_out(stored)
    if version == VersionNumber.V2_1_1:
        if location is None:
            location = location_of(place or {}, stored["last_updated"])
        return v211.session_out(stored, location)
    return stored
