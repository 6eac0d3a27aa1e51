"""Commands for chargers that another node holds: sent to that node through Redis, and their
results back (ADR 018).

The requesting node makes one Redis round trip per command: a Lua call that looks up the
holder, checks that its lease runs and publishes the command on its channel. The result
comes back on the requesting node's own channel, which it listens to anyway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError

from csms.cluster import PREFIX, Cluster, node_channel
from csms.commands import COMMANDS, Command, CommandResult, Outcome
from csms.registry import charger_key

log = logging.getLogger("csms.relay")

# Beyond the charger's own time: the holder answers TIMEOUT itself just after it, and the
# result still has to come back.
REPLY_MARGIN = 2.0

_ROUTE = """
local node = redis.call('HGET', KEYS[1], 'node')
if not node then return {'none', ''} end
if redis.call('EXISTS', ARGV[1] .. node) == 0 then return {'dead', node} end
if redis.call('PUBLISH', ARGV[2] .. node, ARGV[3]) == 0 then return {'gone', node} end
return {'sent', node}
"""

Run = Callable[[str, Command, float | None], Awaitable[CommandResult]]


class CommandRelay:
    def __init__(self, cluster: Cluster, default_timeout: float) -> None:
        self.cluster = cluster
        self.default_timeout = default_timeout
        self._waiting: dict[str, asyncio.Future[CommandResult]] = {}
        self._route = cluster.redis.register_script(_ROUTE)
        self._run: Run | None = None
        self.in_flight = 0  # commands of other nodes running on this node's chargers
        cluster.on("command", self._on_command)
        cluster.on("result", self._on_result)

    def serve(self, run: Run) -> None:
        """How this node runs the commands other nodes send it (on its own sockets only)."""
        self._run = run

    async def send(
        self, station_id: str, command: Command, timeout: float | None = None
    ) -> CommandResult:
        """Runs `command` on the node that holds the charger; OFFLINE when none does, or its
        node is gone, TIMEOUT when it does not answer in the command's time."""
        timeout = timeout if timeout is not None else self.default_timeout
        request_id = uuid.uuid4().hex
        message = {
            "kind": "command",
            "id": request_id,
            "from": self.cluster.node,
            "station": station_id,
            "command": command.name,
            "body": command.model_dump(mode="json"),
            "timeout": timeout,
        }
        waiting: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiting
        try:
            try:
                sent, node = await self._route(
                    keys=[charger_key(station_id)],
                    args=[PREFIX + "node:", node_channel(""), _dumps(message)],
                )
            except RedisError as e:
                return CommandResult(Outcome.OFFLINE, error_description=f"Redis: {e}")
            sent, node = sent.decode(), node.decode()
            if sent == "none":
                return CommandResult(
                    Outcome.OFFLINE, error_description="the charger is not connected"
                )
            if sent in ("dead", "gone"):
                return CommandResult(
                    Outcome.OFFLINE,
                    error_description=f"node {node}, which held the charger, is gone",
                )
            try:
                return await asyncio.wait_for(waiting, timeout + REPLY_MARGIN)
            except TimeoutError:
                return CommandResult(
                    Outcome.TIMEOUT, error_description=f"node {node} did not answer"
                )
        finally:
            self._waiting.pop(request_id, None)

    async def _on_command(self, message: dict[str, Any]) -> None:
        assert self._run is not None
        self.in_flight += 1
        try:
            command = COMMANDS[message["command"]].model_validate(message["body"])
            result = await self._run(str(message["station"]), command, float(message["timeout"]))
        except Exception as e:
            log.exception("a command relayed from %s failed", message.get("from"))
            result = CommandResult(Outcome.OFFLINE, error_description=f"the node failed: {e}")
        finally:
            self.in_flight -= 1
        reply = {"kind": "result", "id": message["id"], "result": dataclasses.asdict(result)}
        try:
            await self.cluster.redis.publish(node_channel(str(message["from"])), _dumps(reply))
        except RedisError as e:
            log.warning("cannot send a command's result to %s: %s", message.get("from"), e)

    async def _on_result(self, message: dict[str, Any]) -> None:
        waiting = self._waiting.get(str(message["id"]))
        if waiting is None or waiting.done():
            return  # it timed out meanwhile
        fields = dict(message["result"])
        fields["outcome"] = Outcome(fields["outcome"])
        waiting.set_result(CommandResult(**fields))


def _dumps(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message, default=str)
