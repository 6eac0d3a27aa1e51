"""Remote starts the platform asked for: the charger's Authorize / Start for that token is accepted."""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from csms.authorization import normalise_uid
from csms.cluster import PREFIX

log = logging.getLogger("csms.grants")

# A driver has this long to plug in after a remote start (OCPP ConnectionTimeOut plus margin).
GRANT_SECONDS = 15 * 60


class Grants(Protocol):
    async def grant(self, station_id: str, id_token: str) -> None: ...
    async def granted(self, station_id: str, id_token: str) -> bool: ...


class RemoteStartGrants:
    """One node, in memory: a grant outlives neither the process nor its window, and need not."""

    def __init__(self, seconds: float = GRANT_SECONDS) -> None:
        self._seconds = seconds
        self._grants: dict[tuple[str, str], float] = {}

    async def grant(self, station_id: str, id_token: str) -> None:
        now = time.monotonic()
        self._grants = {k: v for k, v in self._grants.items() if v > now}
        self._grants[(station_id, normalise_uid(id_token))] = now + self._seconds

    async def granted(self, station_id: str, id_token: str) -> bool:
        expiry = self._grants.get((station_id, normalise_uid(id_token)))
        return expiry is not None and expiry > time.monotonic()


class RedisGrants:
    """Several nodes: a key that expires with the window, so the charger may be on any node
    when it presents the token (and may have moved since the start was accepted)."""

    def __init__(self, client: redis.Redis, seconds: float = GRANT_SECONDS) -> None:
        self._redis = client
        self._seconds = int(seconds)

    @staticmethod
    def _key(station_id: str, id_token: str) -> str:
        return f"{PREFIX}grant:{station_id}:{normalise_uid(id_token)}"

    async def grant(self, station_id: str, id_token: str) -> None:
        try:
            await self._redis.set(self._key(station_id, id_token), "1", ex=self._seconds)
        except RedisError as e:  # the charger's Authorize goes to the authorizer instead
            log.warning("%s: cannot record a remote-start grant in Redis: %s", station_id, e)

    async def granted(self, station_id: str, id_token: str) -> bool:
        try:
            return bool(await self._redis.exists(self._key(station_id, id_token)))
        except RedisError as e:  # the authorizer decides instead
            log.warning("%s: cannot read remote-start grants from Redis: %s", station_id, e)
            return False
