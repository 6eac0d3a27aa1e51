"""Remote starts the platform asked for: the charger's Authorize / Start for that token is accepted."""

from __future__ import annotations

import time

from csms.authorization import normalise_uid

# A driver has this long to plug in after a remote start (OCPP ConnectionTimeOut plus margin).
GRANT_SECONDS = 15 * 60


class RemoteStartGrants:
    """In memory: a grant outlives neither the process nor its window, and need not."""

    def __init__(self, seconds: float = GRANT_SECONDS) -> None:
        self._seconds = seconds
        self._grants: dict[tuple[str, str], float] = {}

    def grant(self, station_id: str, id_token: str) -> None:
        now = time.monotonic()
        self._grants = {k: v for k, v in self._grants.items() if v > now}
        self._grants[(station_id, normalise_uid(id_token))] = now + self._seconds

    def granted(self, station_id: str, id_token: str) -> bool:
        expiry = self._grants.get((station_id, normalise_uid(id_token)))
        return expiry is not None and expiry > time.monotonic()
