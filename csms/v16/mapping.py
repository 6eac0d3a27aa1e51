"""OCPP 1.6 words for version-neutral facts."""

from __future__ import annotations

from typing import Any

from csms import clock
from csms.authorization import AuthorizationResult, AuthStatus

_AUTH = {
    AuthStatus.ACCEPTED: "Accepted",
    AuthStatus.BLOCKED: "Blocked",
    AuthStatus.EXPIRED: "Expired",
    AuthStatus.CONCURRENT_TX: "ConcurrentTx",
}


def id_tag_info(decision: AuthorizationResult) -> dict[str, Any]:
    """1.6 IdTagInfo: anything 1.6 has no word for (no credit, not here, unknown) is Invalid."""
    info: dict[str, Any] = {"status": _AUTH.get(decision.status, "Invalid")}
    if decision.expires_at is not None:
        info["expiry_date"] = clock.iso(decision.expires_at)
    if decision.group_id:
        info["parent_id_tag"] = decision.group_id[:20]
    return info
