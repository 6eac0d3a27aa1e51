"""This node among several on one Redis: its liveness, the nodes alive, and the messages between them.

Each node keeps a key `cpo:node:{name}` that expires `lease` seconds after its last renewal
(renewed three times a lease): a node killed with -9 is no longer live within a lease. Each
node subscribes to a channel of its own, `cpo:to:{name}` (commands for the chargers it holds,
their results, "a newer connection took your charger"), and to `cpo:wakes`, where every node
says "events were committed" and "outbox rows wait" (ADR 018).

Pub/sub loses what is sent while nobody listens. Nothing here needs more: a command whose
node does not answer times out with a clear outcome, a lost wake costs the poll interval, and
a lost "close your socket" leaves an old socket whose writes the epochs fence off anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from csms.tasks import pause

log = logging.getLogger("csms.cluster")

PREFIX = "cpo:"
NODES = PREFIX + "nodes"  # every node that has started (the dead are pruned when seen)
WAKES = PREFIX + "wakes"
EVENTS = "e"  # a wake: events were committed (the projection has work)
OUTBOX = "o"  # a wake: outbox rows wait (the deliverers have work)
DRAINING = "draining"  # a node key's value while a stopped node's chargers move elsewhere


def node_key(node: str) -> str:
    return f"{PREFIX}node:{node}"


def node_channel(node: str) -> str:
    return f"{PREFIX}to:{node}"


# Lua, so that reading and pruning the set of nodes is one round trip.
_LIVE_NODES = """
local live = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. name) == 1 then
    table.insert(live, name)
  else
    redis.call('SREM', KEYS[1], name)
  end
end
return live
"""

Handler = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class Cluster:
    """One node's link to the others. `start` before use, `stop` at the end."""

    def __init__(self, url: str, node: str, lease: float = 5.0) -> None:
        self.url = url
        self.node = node
        self.lease = lease
        self.redis: redis.Redis = redis.from_url(url)
        self.lost: list[Callable[[], Awaitable[None]]] = []  # called when our lease lapsed
        self._handlers: dict[str, Handler] = {}
        self._wakes: list[Callable[[str], None]] = []
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._live_nodes = self.redis.register_script(_LIVE_NODES)

    # -- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Live from the moment this returns; raises RedisError when Redis cannot be reached."""
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(node_channel(self.node), WAKES)
        await self._beat()
        self._tasks = [
            asyncio.create_task(self._keep_alive(), name="cluster-liveness"),
            asyncio.create_task(self._listen(), name="cluster-messages"),
        ]
        log.info("node %s joined the cluster at %s", self.node, self.url)

    async def stop(self, linger: float = 0.0) -> None:
        """Leaves the cluster. With `linger`, the node still counts as live (draining) that
        long: the chargers it handed over get that long to reconnect elsewhere before the
        other nodes mark them offline."""
        self._stopping.set()
        for task in [*self._tasks, *self._running]:
            task.cancel()
        for task in [*self._tasks, *self._running]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(RedisError, OSError):
            if linger > 0:
                await self.redis.set(node_key(self.node), DRAINING, px=int(linger * 1000))
            else:
                await self.redis.delete(node_key(self.node))
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self.redis.aclose()

    async def _beat(self) -> bool:
        """Renews this node's key; False when it had expired (the others took us for dead)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(node_key(self.node), "live", px=int(self.lease * 1000), get=True)
            pipe.sadd(NODES, self.node)
            before, _ = await pipe.execute()
        return before is not None

    async def _keep_alive(self) -> None:
        while not self._stopping.is_set():
            await pause(self._stopping, self.lease / 3)
            if self._stopping.is_set():
                return
            try:
                alive = await self._beat()
            except (RedisError, OSError) as e:
                log.warning("cannot renew this node's lease in Redis: %s", e)
                continue
            if not alive:
                log.warning(
                    "this node's lease had lapsed; the others may have let go of its chargers"
                )
                for callback in self.lost:
                    try:
                        await callback()
                    except Exception:
                        log.exception("recovering from a lapsed lease failed")

    # -- who is alive -------------------------------------------------------------------------

    async def live_nodes(self) -> set[str]:
        """The nodes whose lease runs (a draining one's included)."""
        names = await self._live_nodes(keys=[NODES], args=[PREFIX + "node:"])
        return {n.decode() if isinstance(n, bytes) else str(n) for n in names}

    # -- messages -----------------------------------------------------------------------------

    def on(self, kind: str, handler: Handler) -> None:
        """Handles this node's messages of one kind (each in a task of its own)."""
        self._handlers[kind] = handler

    def on_wake(self, handler: Callable[[str], None]) -> None:
        """Called with EVENTS or OUTBOX when another node says so."""
        self._wakes.append(handler)

    async def send(self, node: str, message: dict[str, Any]) -> bool:
        """To one node; False when it does not listen (it is gone)."""
        return bool(await self.redis.publish(node_channel(node), orjson.dumps(message)))

    async def wake(self, what: str) -> None:
        await self.redis.publish(WAKES, f"{what}:{self.node}")

    async def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as e:
                log.warning("Redis subscription failed (%s); subscribing again", e)
                await pause(self._stopping, 1.0)
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(node_channel(self.node), WAKES)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()
            data: bytes = message["data"]
            if channel == WAKES:
                what, _, sender = data.decode().partition(":")
                if sender != self.node:  # our own processes were woken already
                    for wake in self._wakes:
                        wake(what)
                continue
            try:
                body = orjson.loads(data)
                handler = self._handlers[body["kind"]]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.warning("an unreadable cluster message: %.200r", data)
                continue
            task = asyncio.create_task(handler(body), name=f"cluster-{body['kind']}")
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("handling a cluster message failed: %r", exc)
