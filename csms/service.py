"""The CSMS as a whole: the OCPP WebSocket endpoint and what the rest of the platform uses of it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from urllib.parse import unquote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from csms import clock, log_context, metrics
from csms.authorization import Authorizer, LocalAuthorizer
from csms.cluster import Cluster
from csms.commands import Commands
from csms.config import CsmsConfig
from csms.connection import StationConnection
from csms.costs import NO_COSTS, TransactionCosts
from csms.grants import Grants, RedisGrants, RemoteStartGrants
from csms.messagelog import MessageLog
from csms.passwords import Outcome, PasswordChecks
from csms.provisioning import BootPolicy, Provisioning
from csms.registry import MemoryRegistry, RedisRegistry, Registry
from csms.relay import CommandRelay
from csms.security_profiles import (
    ClientCertificate,
    Refusal,
    UnreadableCertificate,
    client_certificate,
    refusal,
)
from csms.store import Store
from csms.tasks import finish, pause
from csms.v16.handlers import ChargePoint16
from csms.v201.handlers import ChargePoint201

log = logging.getLogger(__name__)

# In our order of preference when a charger does not state one; otherwise the charger's order wins.
SUBPROTOCOLS = {"ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}
IDENTITY_MAX = 48
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_REPLACED = 1000
CLOSE_GOING_AWAY = 1001  # RFC 6455: the server goes down; the charger reconnects (elsewhere)
CLOSE_RESTART = 1012  # RFC 6455: service restart
STALE_SWEEP_INTERVAL = 60.0  # seconds between sweeps for transactions left open by reboots
NOT_BACK = "did not reconnect after a restart"
NOT_HELD = "its node is gone and it did not reconnect"
PRESENCE_SWEEP = 60.0  # seconds between looks for chargers no live node holds, nodes unchanged


class Csms:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        config: CsmsConfig,
        authorizer: Authorizer | None = None,
        registry: Registry[StationConnection] | None = None,
        cluster: Cluster | None = None,
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """`cluster`: this node among several (ADR 018): the registry and the remote-start
        grants are then in Redis, and commands for chargers on other nodes go there. `reads`:
        sessions for what only reads (csms.db.make_reader)."""
        self.config = config
        self.store = Store(database, config.charger_data_bytes_per_minute, reads)
        self.message_log = MessageLog(
            database,
            config.message_log_days,
            writer=self.store.writer,
            max_frame=config.message_log_max_frame,
            bytes_per_minute=config.message_log_bytes_per_minute,
        )
        self.authorizer: Authorizer = authorizer or LocalAuthorizer(database)
        self.costs: TransactionCosts = NO_COSTS
        self.provisioning = Provisioning(
            database, self.store.feed, BootPolicy(config.boot_pending), config.master_pass_group_id
        )
        self.cluster = cluster
        self._shared: RedisRegistry[StationConnection] | None = None
        self.registry: Registry[StationConnection]
        self.grants: Grants
        relay = None
        if cluster is not None:
            self.registry = self._shared = RedisRegistry(cluster)
            self.grants = RedisGrants(cluster.redis)
            relay = CommandRelay(cluster, config.response_timeout)
        else:
            self.registry = registry or MemoryRegistry()
            self.grants = RemoteStartGrants()
        self.passwords = PasswordChecks()
        self.commands = Commands(self.registry, self.store, self.grants, relay)
        self.draining = False  # stopping: no new chargers, and the ones held are handed over
        # Several nodes: called with the nodes that were live and are gone (died, or drained
        # and done), for what else they held (their deliverers' rows, cpo.app).
        self.nodes_gone: list[Callable[[set[str]], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.message_log.start()
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        if self.cluster is not None:
            self.cluster.lost.append(self._lease_lapsed)
            self._tasks.append(asyncio.create_task(self._keep_presence(), name="keep-presence"))
        else:
            self._tasks.append(
                asyncio.create_task(self._restore_presence(clock.now()), name="restore-presence")
            )

    async def drain(self, wait: float) -> None:
        """Stops taking chargers, gives the commands running on its sockets up to `wait`
        seconds, and closes every socket with 1001 without letting go of its charger: the
        charger reconnects to another node, whose connect takes it over; if it never does,
        the other nodes mark it offline once this node's lease has lapsed (ADR 018)."""
        self.draining = True
        await self.commands.idle(wait)
        connections = [c for i in self.registry.connected() if (c := self.registry.get(i))]
        for conn in connections:
            await conn.close(CLOSE_GOING_AWAY, "server shutting down")
        for conn in connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.closed.wait(), 5.0)

    async def stop(self) -> None:
        for station_id in self.registry.connected():
            if conn := self.registry.get(station_id):
                await conn.close(1001, "server shutting down")
        # Background work ends between transactions, not inside one (see BatchedLog.stop).
        self._stopping.set()
        for task in self._tasks:
            await finish(task)
        await self.store.flush_seen()
        await self.message_log.stop()
        self.passwords.close()

    async def _housekeeping(self) -> None:
        """Batched last-seen writes, and now and then the sweep of transactions left stale and
        of uploaded files past their retention."""
        swept = time.monotonic()
        while not self._stopping.is_set():
            await pause(self._stopping, self.config.seen_flush_interval)
            if self._stopping.is_set():
                return
            try:
                await self.store.flush_seen()
            except Exception:
                log.exception("last-seen flush failed")
            if time.monotonic() - swept < STALE_SWEEP_INTERVAL:
                continue
            swept = time.monotonic()
            try:
                older_than = timedelta(minutes=self.config.stale_transaction_minutes)
                if closed := await self.store.close_stale(older_than):
                    log.info("ended %d stale transaction(s) left open by reboots", closed)
            except Exception:
                log.exception("stale transaction sweep failed")
            try:
                kept = timedelta(days=self.config.upload_retention_days)
                if forgotten := await self.store.forget_uploads(kept):
                    log.info("removed %d upload(s) past their retention", forgotten)
            except Exception:
                log.exception("upload retention sweep failed")

    async def _restore_presence(self, started: datetime) -> None:
        """A crash leaves the chargers it held online in the database, with no socket and no
        disconnect to come. Those that have not reconnected when the grace is over are marked
        offline the way a disconnect marks them, event included, so the projection makes
        their EVSEs UNKNOWN at every eMSP (ADR 015)."""
        await pause(self._stopping, self.config.reconnect_grace)
        if self._stopping.is_set():
            return
        try:
            recorded = await self.store.left_online(connected_before=started)
            gone = [station_id for station_id in recorded if not self._held(station_id)]
            for station_id in await self.store.abandoned(gone, started, NOT_BACK):
                log.info("%s: offline: %s", station_id, NOT_BACK)
        except Exception:
            log.exception("marking chargers that did not come back offline failed")

    def _held(self, station_id: str) -> bool:
        """Whether this node, the only one, holds the charger's socket (several nodes:
        `_keep_presence`)."""
        return self.registry.get(station_id) is not None

    async def _keep_presence(self) -> None:
        """Several nodes: the chargers recorded online whose node's lease lapsed (it died, or
        it drained and they did not come back) are marked offline the way a disconnect marks
        them, so eMSPs see their EVSEs UNKNOWN. Every node does it (it is idempotent) when
        the set of live nodes changes, and once a minute anyway; first after the grace that
        chargers get to reconnect when the whole cluster starts (ADR 015, 018)."""
        assert self.cluster is not None
        await pause(self._stopping, self.config.reconnect_grace)
        known: set[str] | None = None
        swept = 0.0
        while not self._stopping.is_set():
            try:
                live = await self.cluster.live_nodes()
                if live != known or time.monotonic() - swept > PRESENCE_SWEEP:
                    await self._let_go(live)
                    if gone := (known or set()) - live:
                        for handler in self.nodes_gone:
                            await handler(gone)
                    known, swept = live, time.monotonic()
            except Exception:
                log.exception("marking the chargers of nodes that are gone offline failed")
            await pause(self._stopping, self.cluster.lease / 2)

    async def _let_go(self, live: set[str]) -> None:
        assert self._shared is not None
        epochs = await self.store.online_epochs()
        if not epochs:
            return
        holders = await self._shared.holders(epochs)
        gone = {
            station_id: epoch
            for station_id, epoch in epochs.items()
            if (holder := holders[station_id]) is None or holder.node not in live
        }
        for station_id in await self.store.abandoned_connections(gone, NOT_HELD):
            log.info("%s: offline: %s", station_id, NOT_HELD)

    async def _lease_lapsed(self) -> None:
        """The other nodes took this one for dead and may have marked its chargers offline:
        they reconnect and are online again, on this node or another."""
        for station_id in self.registry.connected():
            if conn := self.registry.get(station_id):
                await conn.close(CLOSE_RESTART, "the node lost its lease; reconnect")

    # -- the WebSocket endpoint -----------------------------------------------------------------

    async def endpoint(self, websocket: WebSocket) -> None:
        """`/ocpp/{charge_point_id}`: who it is, whether it may connect, which OCPP it speaks."""
        if self.draining:
            return await self._deny(websocket, 503, "this node is shutting down", "draining")
        station_id = identity(websocket)
        if station_id is None:
            return await self._deny(websocket, 400, "invalid charge point identity", "identity")
        log_context.station_id.set(station_id)  # for every line this connection logs
        login = await self.store.login(station_id)
        if login is None and not self.config.auto_register:
            return await self._deny(websocket, 404, "unknown charge point", "unknown")
        address = websocket.client.host if websocket.client else ""
        try:
            certificate = client_certificate(websocket.scope)
            refused = refusal(
                station_id,
                login.security_profile if login is not None else 1,
                certificate,
                over_tls=websocket.scope.get("scheme") == "wss",
            )
        except UnreadableCertificate:
            certificate = None
            refused = Refusal(401, "the client certificate cannot be read", "certificate", True)
        if refused is not None:
            return await self._refuse(websocket, station_id, address, refused, certificate)
        # A certificate that names the charger identifies it (profile 3): no password then.
        password = basic_password(websocket, station_id) if certificate is None else None
        pending = login.pending_password_hash if login is not None else None
        if login is not None and login.password_hash is None and pending and password is not None:
            # No password needed yet, but one it was asked to take: once it uses it, it counts.
            first = await self.passwords.check(station_id, address, [pending], password)
            if first.outcome is Outcome.OK:
                await self.store.password_taken(station_id, pending)
        if certificate is None and login is not None and login.password_hash is not None:
            hashes = [login.password_hash, *filter(None, [login.pending_password_hash])]
            verdict = (
                await self.passwords.check(station_id, address, hashes, password)
                if password is not None
                else None
            )
            if pending is not None and verdict is not None and verdict.matched == pending:
                await self.store.password_taken(station_id, pending)
            if verdict is not None and verdict.outcome is Outcome.BACKOFF:
                retry_after = str(math.ceil(verdict.retry_after))
                return await self._deny(
                    websocket,
                    429,
                    "too many failed logins",
                    "backoff",
                    {"Retry-After": retry_after},
                )
            if verdict is None or verdict.outcome is Outcome.WRONG:
                return await self._deny(
                    websocket,
                    401,
                    "bad credentials",
                    "credentials",
                    {"WWW-Authenticate": 'Basic realm="ocpp", charset="UTF-8"'},
                )

        offered = [p.strip() for p in websocket.scope.get("subprotocols", [])]
        chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
        if chosen is None:
            # OCPP-J: complete the handshake without a subprotocol, then close.
            metrics.REJECTED_CONNECTIONS.labels("subprotocol").inc()
            await websocket.accept()
            await websocket.close(
                CLOSE_PROTOCOL_ERROR, "no common OCPP version (offer ocpp2.0.1 or ocpp1.6)"
            )
            return None
        version = SUBPROTOCOLS[chosen]
        try:
            epoch = await self.registry.claim(station_id)
        except Exception as e:  # Redis is away: this node cannot take chargers
            log.warning("cannot record the connection of %s: %s", station_id, e)
            return await self._deny(websocket, 503, "the platform is unavailable", "registry")
        await websocket.accept(subprotocol=chosen)
        presence = await self.store.connected(station_id, version, self.config.auto_register, epoch)
        # A charger back without booting while its last boot was answered Pending is still
        # Pending: it may send nothing but a BootNotification.
        accepted = presence.accepted and not await self.provisioning.pending(station_id)
        await self._serve(
            websocket, station_id, version, accepted, presence.energy_unit_override, epoch
        )
        return None

    async def _serve(
        self,
        websocket: WebSocket,
        station_id: str,
        version: str,
        accepted: bool,
        energy_unit_override: str | None,
        epoch: int,
    ) -> None:
        conn = StationConnection(
            websocket,
            station_id,
            version,
            self.config,
            self.store,
            self.message_log,
            accepted,
            energy_unit_override,
        )
        charge_point_class = ChargePoint201 if version == "2.0.1" else ChargePoint16
        charge_point = charge_point_class(
            station_id, conn, response_timeout=self.config.response_timeout
        )
        charge_point.setup(conn, self.store, self.authorizer, self.grants, self.provisioning)
        charge_point.costs = self.costs
        stale = self.registry.register(station_id, conn, epoch)
        if stale is not None:
            # The newest socket wins: the old one is half-open or a duplicate (or this one
            # lost to a newer one on another node before it got going).
            log.info("%s: a newer connection replaces an older one", station_id)
            await stale.close(CLOSE_REPLACED, "replaced by a newer connection")
        metrics.CONNECTED.labels(version).inc()
        log.info("connected (OCPP %s)", version)
        try:
            await conn.run(charge_point)
        except Exception:
            log.exception("%s: connection failed", station_id)
        finally:
            metrics.CONNECTED.labels(version).dec()
            log.info("disconnected (%s)", conn.close_reason)
            if self.draining:
                self.registry.forget(station_id, conn)  # handed over, still online
            else:
                try:
                    held = await self.registry.release(station_id, conn)
                except Exception:  # Redis is away: the database's epoch decides alone
                    held = True
                if held:
                    with contextlib.suppress(Exception):
                        await self.store.disconnected(station_id, conn.close_reason, epoch)

    async def _refuse(
        self,
        websocket: WebSocket,
        station_id: str,
        address: str,
        refused: Refusal,
        certificate: ClientCertificate | None,
    ) -> None:
        """A refusal by security profile; one that may be a guess (a certificate of another
        charger) is a security event, counted toward the back-off as a wrong password is."""
        if refused.guess:
            if held := self.passwords.addresses.held(address):
                retry_after = {"Retry-After": str(math.ceil(held))}
                return await self._deny(
                    websocket, 429, "too many failed logins", "backoff", retry_after
                )
            self.passwords.failed(station_id, address)
            log.warning(
                "security: %s refused from %s: %s (subject %s)",
                station_id,
                address,
                refused.text,
                certificate.subject if certificate is not None else "unreadable",
            )
        return await self._deny(websocket, refused.status, refused.text, refused.reason)

    async def _deny(
        self,
        websocket: WebSocket,
        status: int,
        text: str,
        reason: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        metrics.REJECTED_CONNECTIONS.labels(reason).inc()
        log.info("refused OCPP connection %s: %s", websocket.url.path, text)
        await websocket.send_denial_response(
            PlainTextResponse(text + "\n", status_code=status, headers=headers)
        )


def identity(websocket: WebSocket) -> str | None:
    """The charge point id: the last path segment, percent-decoded (so `/` may be inside as %2F)."""
    raw = websocket.scope.get("raw_path") or websocket.scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0].rstrip("/")
    segment = path.rsplit("/", 1)[-1]
    try:
        ident = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return None
    if not ident or len(ident) > IDENTITY_MAX or not ident.isprintable():
        return None
    return ident


def basic_password(websocket: WebSocket, station_id: str) -> str | None:
    """The password of an HTTP Basic header whose user is the charge point id."""
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return password if sep and user == station_id else None
