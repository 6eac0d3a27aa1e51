"""OCPI 2.3.0 Session objects: as 2.2.1 (v221.py) but for the Price of `total_cost`."""

from __future__ import annotations

from typing import Any

from cpo.cdrs.v230 import Cost, costs_out
from cpo.sessions import v221


class Session(v221.Session):
    total_cost: Cost | None = None  # type: ignore[assignment]


def session_out(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored (2.2.1) Session, or a PATCH of it, as a 2.3.0 one."""
    return costs_out(stored)
