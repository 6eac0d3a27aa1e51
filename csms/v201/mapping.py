"""OCPP 2.0.1 words for version-neutral facts."""

from __future__ import annotations

from typing import Any

from csms import clock
from csms.authorization import AuthorizationResult, AuthStatus

_AUTH = {
    AuthStatus.ACCEPTED: "Accepted",
    AuthStatus.BLOCKED: "Blocked",
    AuthStatus.EXPIRED: "Expired",
    AuthStatus.INVALID: "Invalid",
    AuthStatus.NO_CREDIT: "NoCredit",
    AuthStatus.NOT_ALLOWED: "NotAtThisLocation",
    AuthStatus.UNKNOWN: "Unknown",
    AuthStatus.CONCURRENT_TX: "ConcurrentTx",
}


PERSONAL_MESSAGE_MAX = 512  # MessageContentType.content


def id_token_info(decision: AuthorizationResult) -> dict[str, Any]:
    info: dict[str, Any] = {"status": _AUTH[decision.status]}
    if decision.expires_at is not None:
        info["cache_expiry_date_time"] = clock.iso(decision.expires_at)
    if decision.group_id:
        info["group_id_token"] = {"id_token": decision.group_id, "type": "Central"}
    if decision.personal_message:
        message = {"format": "UTF8", "content": decision.personal_message[:PERSONAL_MESSAGE_MAX]}
        if decision.language:
            message["language"] = decision.language
            info["language1"] = decision.language
        info["personal_message"] = message
    return info
