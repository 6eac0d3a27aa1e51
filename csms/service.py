"""The CSMS as a whole: the OCPP WebSocket endpoint and what the rest of the platform uses of it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import time
from datetime import datetime, timedelta
from urllib.parse import unquote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from csms import clock, log_context, metrics
from csms.authorization import Authorizer, LocalAuthorizer
from csms.commands import Commands
from csms.config import CsmsConfig
from csms.connection import StationConnection
from csms.grants import RemoteStartGrants
from csms.messagelog import MessageLog
from csms.passwords import Outcome, PasswordChecks
from csms.registry import MemoryRegistry, Registry
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
STALE_SWEEP_INTERVAL = 60.0  # seconds between sweeps for transactions left open by reboots
NOT_BACK = "did not reconnect after a restart"


class Csms:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: CsmsConfig,
        authorizer: Authorizer | None = None,
        registry: Registry[StationConnection] | None = None,
    ) -> None:
        self.config = config
        self.store = Store(sessions, config.charger_data_bytes_per_minute)
        self.message_log = MessageLog(
            sessions,
            config.message_log_days,
            writer=self.store.writer,
            max_frame=config.message_log_max_frame,
            bytes_per_minute=config.message_log_bytes_per_minute,
        )
        self.authorizer: Authorizer = authorizer or LocalAuthorizer(sessions)
        self.registry: Registry[StationConnection] = registry or MemoryRegistry()
        self.grants = RemoteStartGrants()
        self.passwords = PasswordChecks()
        self.commands = Commands(self.registry, self.store, self.grants)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.message_log.start()
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self._tasks.append(
            asyncio.create_task(self._restore_presence(clock.now()), name="restore-presence")
        )

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
        """Batched last-seen writes, and now and then the sweep of transactions left stale."""
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
        """Whether a live node holds the charger's socket. One node: this one, whose registry
        knows its own sockets. Several nodes: the shared registry's answer (ADR 015)."""
        return self.registry.get(station_id) is not None

    # -- the WebSocket endpoint -----------------------------------------------------------------

    async def endpoint(self, websocket: WebSocket) -> None:
        """`/ocpp/{charge_point_id}`: who it is, whether it may connect, which OCPP it speaks."""
        station_id = identity(websocket)
        if station_id is None:
            return await self._deny(websocket, 400, "invalid charge point identity", "identity")
        log_context.station_id.set(station_id)  # for every line this connection logs
        login = await self.store.login(station_id)
        if login is None and not self.config.auto_register:
            return await self._deny(websocket, 404, "unknown charge point", "unknown")
        if login is not None and login.password_hash is not None:
            password = basic_password(websocket, station_id)
            address = websocket.client.host if websocket.client else ""
            verdict = (
                await self.passwords.check(station_id, address, login.password_hash, password)
                if password is not None
                else None
            )
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
        await websocket.accept(subprotocol=chosen)
        presence = await self.store.connected(station_id, version, self.config.auto_register)
        await self._serve(
            websocket, station_id, version, presence.accepted, presence.energy_unit_override
        )
        return None

    async def _serve(
        self,
        websocket: WebSocket,
        station_id: str,
        version: str,
        accepted: bool,
        energy_unit_override: str | None,
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
        charge_point.setup(conn, self.store, self.authorizer, self.grants)
        previous = self.registry.register(station_id, conn)
        if previous is not None:
            # The newest socket wins: the old one is half-open or a duplicate.
            log.info("%s: a new connection replaces the old one", station_id)
            await previous.close(CLOSE_REPLACED, "replaced by a newer connection")
        metrics.CONNECTED.labels(version).inc()
        log.info("connected (OCPP %s)", version)
        try:
            await conn.run(charge_point)
        except Exception:
            log.exception("%s: connection failed", station_id)
        finally:
            metrics.CONNECTED.labels(version).dec()
            log.info("disconnected (%s)", conn.close_reason)
            if self.registry.unregister(station_id, conn):
                with contextlib.suppress(Exception):
                    await self.store.disconnected(station_id, conn.close_reason)

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
