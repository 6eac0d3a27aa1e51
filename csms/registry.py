"""Which node holds which charger: the connection registry (ADR 003). One node: in memory.
Several nodes: the sockets stay in memory, and Redis holds charger id → (node, epoch).

Every connection of a charger takes an epoch larger than any before it (`claim`), the newest
connection wins, and only the connection that still holds the charger may let it go
(`release`): the late close of a replaced socket, here or on another node, marks nothing
offline. The database keeps the same epoch (`stations.connection_epoch`) as its own fence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from csms.cluster import PREFIX, Cluster, node_channel

log = logging.getLogger("csms.registry")

T = TypeVar("T")


class Closable(Protocol):
    async def close(self, code: int = 1000, reason: str = "") -> None: ...


C = TypeVar("C", bound=Closable)

CLOSE_REPLACED = 1000


class Registry(Protocol[T]):
    async def claim(self, station_id: str) -> int:
        """A new epoch for a new connection of the charger, larger than any before it."""
        ...

    def register(self, station_id: str, connection: T, epoch: int) -> T | None:
        """Records this node's socket of the charger; the one that must close now: the
        connection it replaces, or this one if a newer one exists elsewhere already."""
        ...

    async def release(self, station_id: str, connection: T) -> bool:
        """Forgets a socket that closed; whether it still held the charger (only then is the
        charger offline), False when a newer connection replaced it."""
        ...

    def forget(self, station_id: str, connection: T) -> bool:
        """Forgets a socket here but not the charger's holder in Redis (a drain hands the
        charger over: its next connection, or this node's lapsed lease, decides)."""
        ...

    def get(self, station_id: str) -> T | None:
        """This node's socket of the charger."""
        ...

    def connected(self) -> list[str]:
        """The chargers this node holds."""
        ...

    def __len__(self) -> int: ...


class _Epochs:
    """Epochs of one process: microseconds of the clock, and one more than the last if the
    clock has not moved on (or went back), so they keep growing across restarts too."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, time.time_ns() // 1000)
        return self._last


class MemoryRegistry(Generic[T]):
    """One node: its sockets are all there is."""

    def __init__(self) -> None:
        self._live: dict[str, tuple[T, int]] = {}
        self._epochs = _Epochs()

    async def claim(self, station_id: str) -> int:
        return self._epochs.next()

    def register(self, station_id: str, connection: T, epoch: int) -> T | None:
        previous = self._live.get(station_id)
        if previous is not None and previous[1] > epoch:
            return connection
        self._live[station_id] = (connection, epoch)
        return previous[0] if previous is not None else None

    async def release(self, station_id: str, connection: T) -> bool:
        return self.forget(station_id, connection)

    def forget(self, station_id: str, connection: T) -> bool:
        held = self._live.get(station_id)
        if held is not None and held[0] is connection:
            del self._live[station_id]
            return True
        return False

    def get(self, station_id: str) -> T | None:
        held = self._live.get(station_id)
        return held[0] if held is not None else None

    def epoch(self, station_id: str) -> int | None:
        held = self._live.get(station_id)
        return held[1] if held is not None else None

    def connected(self) -> list[str]:
        return list(self._live)

    def __len__(self) -> int:
        return len(self._live)


def charger_key(station_id: str) -> str:
    return f"{PREFIX}charger:{station_id}"


# Epochs are microseconds of Redis's clock (one more than the last if it has not moved on), so
# they keep growing whatever Redis forgot, and compare with those of a single node's restarts.
# Formatted with %.0f: Lua's own number formatting would write 1.7e+15.
_CLAIM = """
local t = redis.call('TIME')
local epoch = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if epoch <= last then epoch = last + 1 end
local text = string.format('%.0f', epoch)
local previous = redis.call('HGET', KEYS[1], 'node')
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', text)
if previous and previous ~= ARGV[1] then
  redis.call('PUBLISH', ARGV[3] .. previous,
    cjson.encode({kind = 'replaced', station = ARGV[2], epoch = text}))
end
return text
"""
_RELEASE = """
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'node')
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Holder:
    node: str
    epoch: int


class RedisRegistry(Generic[C]):
    """Several nodes: this node's sockets in memory, charger id → (node, epoch) in Redis.

    A claim (one Lua call) takes the next epoch and the charger, and tells the node that held
    it to close its socket; that node closes it without marking the charger offline, since its
    release finds a newer epoch.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._local: MemoryRegistry[C] = MemoryRegistry()
        # Newest epochs other nodes announced for chargers whose socket here was not yet
        # registered when the news came.
        self._replaced: dict[str, int] = {}
        self._claim = cluster.redis.register_script(_CLAIM)
        self._release = cluster.redis.register_script(_RELEASE)
        cluster.on("replaced", self._on_replaced)

    async def claim(self, station_id: str) -> int:
        epoch = await self._claim(
            keys=[charger_key(station_id)],
            args=[self.cluster.node, station_id, node_channel("")],
        )
        return int(epoch)

    def register(self, station_id: str, connection: C, epoch: int) -> C | None:
        if self._replaced.get(station_id, 0) > epoch:
            del self._replaced[station_id]
            return connection
        self._replaced.pop(station_id, None)
        return self._local.register(station_id, connection, epoch)

    async def release(self, station_id: str, connection: C) -> bool:
        epoch = self._local.epoch(station_id)
        if not self._local.forget(station_id, connection) or epoch is None:
            return False
        held = await self._release(keys=[charger_key(station_id)], args=[str(epoch)])
        return bool(held)

    def forget(self, station_id: str, connection: C) -> bool:
        return self._local.forget(station_id, connection)

    def get(self, station_id: str) -> C | None:
        return self._local.get(station_id)

    def epoch(self, station_id: str) -> int | None:
        return self._local.epoch(station_id)

    def connected(self) -> list[str]:
        return self._local.connected()

    def __len__(self) -> int:
        return len(self._local)

    async def holders(self, station_ids: Iterable[str]) -> dict[str, Holder | None]:
        """Who holds each charger, as Redis has it (one round trip)."""
        ids = list(station_ids)
        async with self.cluster.redis.pipeline(transaction=False) as pipe:
            for station_id in ids:
                pipe.hmget(charger_key(station_id), "node", "epoch")
            found: list[list[Any]] = await pipe.execute()
        holders: dict[str, Holder | None] = {}
        for station_id, (node, epoch) in zip(ids, found, strict=True):
            holders[station_id] = (
                Holder(node.decode(), int(epoch))
                if node is not None and epoch is not None
                else None
            )
        return holders

    async def _on_replaced(self, message: dict[str, Any]) -> None:
        station_id, epoch = str(message["station"]), int(message["epoch"])
        connection = self._local.get(station_id)
        mine = self._local.epoch(station_id)
        if connection is None or mine is None:
            self._replaced[station_id] = max(epoch, self._replaced.get(station_id, 0))
            return
        if mine < epoch:
            log.info("%s: a newer connection on another node replaces this one", station_id)
            await connection.close(CLOSE_REPLACED, "replaced by a newer connection")
