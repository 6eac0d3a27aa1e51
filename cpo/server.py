"""Running the app under uvicorn with the platform's settings (the CLI and the tests share this)."""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import signal
import socket
import ssl
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request

from cpo import logs
from cpo.app import create_app
from cpo.schema import SchemaTooNew, migrate
from cpo.settings import Settings
from cpo.tls import tls_extension
from csms import garbage
from csms.mailbox import Mailbox

# The suites OCPP security profile 2 requires the CSMS to offer (TLS 1.2; 1.3 suites are always on),
# and the ECDHE-RSA ones that most RSA-certificate deployments use.
TLS_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
    ]
)


class _DenialIsNotAnError(logging.Filter):
    """uvicorn's websockets-sansio logs an error after every HTTP denial of an upgrade (401/404):
    our endpoint always accepts or denies, so that line only ever reports a denial."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


logging.getLogger("uvicorn.error").addFilter(_DenialIsNotAnError())


# permessage-deflate (RFC 7692; OCPP 2.0.1 requires a CSMS to support it) without context
# takeover either way: each message is compressed on its own, so an idle connection keeps no
# zlib state. With takeover (uvicorn's and websockets' default) every connection holds a
# compressor and a decompressor, about 50 KiB, which is more than all the rest of a connection.
# OCPP frames are small and sparse; what takeover would save on them is little.
DEFLATE = ServerPerMessageDeflateFactory(
    server_no_context_takeover=True,
    client_no_context_takeover=True,
    server_max_window_bits=12,
    client_max_window_bits=12,
    compress_settings={"memLevel": 5},
)


# Messages of one charger waiting for the app before its socket is read no more.
QUEUED_BEFORE_PAUSE = 4


class OcppWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with the compression above, a Mailbox for its
    queue (it has one reader), without the handshake's request and response once it is done, and with the
    ASGI TLS extension (the charger's client certificate, `cpo.tls`) in the scope."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.queue = Mailbox()  # type: ignore[assignment]
        if config.ws_per_message_deflate:
            self.conn.available_extensions = [DEFLATE]

    def send_receive_event_to_app(self) -> None:
        """uvicorn stops reading the socket at every message until the app has taken it: two
        epoll changes per frame, some 3 % of the server under meter values. A charger has
        one CALL in flight (and answers ours), so reading stops only once QUEUED_BEFORE_PAUSE
        messages wait: a charger that floods still cannot queue more."""
        if self.read_paused or self.queue.qsize() + 1 >= QUEUED_BEFORE_PAUSE:
            super().send_receive_event_to_app()
            return
        self.read_paused = True  # uvicorn's own pause skipped, this once
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = False

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete:
            # The handshake's request and response are not read again once it is done; kept,
            # their headers would be 3 KiB of every idle charger (ADR 034). The scope keeps
            # the request's headers for the app.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The scope exists once the upgrade goes on to the app, whose task has been created
        # but not run yet (it runs at the loop's next turn): it sees the extension.
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            tls = tls_extension(
                self.transport.get_extra_info("ssl_object"),
                self.client,
                scope["headers"],
                self.config.forwarded_allow_ips,
            )
            if tls is not None:
                scope["extensions"]["tls"] = tls


class Server(uvicorn.Server):
    """uvicorn's server; on SIGTERM the app drains first (`cpo.app`: several nodes hand their
    chargers over), while it still listens, so that health checks see it and new chargers
    are told 503. Ctrl-C (SIGINT) stops at once, as before."""

    drain_first = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM:
            self.drain_first = True
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        drain = getattr(state, "drain", None)
        if self.drain_first and drain is not None:
            try:
                await drain()
            except Exception:
                logging.getLogger("cpo").exception("draining failed; stopping anyway")
        await closing(state)
        await super().shutdown(sockets)


async def closing(state: Any) -> None:
    """Tells the app that the server stops: uvicorn waits for every open response before the
    app's own shutdown, and some never end by themselves (the console's live streams)."""
    if (close := getattr(state, "closing", None)) is not None:
        try:
            await close()
        except Exception:
            logging.getLogger("cpo").exception("closing the open responses failed")


def raise_open_files_limit() -> int:
    """Every charger holds a socket: raise the soft limit of open files to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as e:
            logging.getLogger("cpo").warning("open files stay limited to %d: %s", soft, e)
    return soft


def uvicorn_config(settings: Settings, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        # websockets-sansio: answers pings (dead-connection detection) and supports HTTP
        # denial responses (401/404 on the upgrade).
        ws=OcppWebSocketProtocol,
        ws_max_size=settings.ws_max_size,
        ws_ping_interval=settings.ws_ping_interval or None,
        ws_ping_timeout=settings.ws_ping_timeout or None,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level,
        log_config=None,  # cpo.logs configures every logger, uvicorn's too
        lifespan="on",
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        ssl_ciphers=TLS_CIPHERS,
        # Security profile 3: ask for a client certificate and let through only those
        # CPO_TLS_CLIENT_CA issued; optional unless the operator wants profile 3 alone, so that
        # chargers with passwords (profile 2) still connect (ADR 027).
        ssl_ca_certs=settings.tls_client_ca,
        ssl_cert_reqs=client_cert_reqs(settings),
    )
    options.update(overrides)
    logs.configure(settings.log_level, settings.log_format)
    return uvicorn.Config(create_app(settings), **options)


def client_cert_reqs(settings: Settings) -> ssl.VerifyMode:
    if not settings.tls_client_ca:
        return ssl.CERT_NONE
    return ssl.CERT_REQUIRED if settings.tls_client_cert_required else ssl.CERT_OPTIONAL


class Unservable(Exception):
    """The platform cannot start as configured; the message says why in one line."""


def check_tls(settings: Settings) -> None:
    """A certificate and key that cannot be loaded are named before anything starts."""
    if settings.tls_key and not settings.tls_cert:
        raise Unservable("CPO_TLS_KEY is set without CPO_TLS_CERT")
    for name, path in (("CPO_TLS_CERT", settings.tls_cert), ("CPO_TLS_KEY", settings.tls_key)):
        if path:
            try:
                with open(path, "rb"):
                    pass
            except OSError as e:
                raise Unservable(f"{name}: cannot read {path} ({e.strerror or e})") from None
    if settings.tls_cert:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                settings.tls_cert, settings.tls_key
            )
        except (ssl.SSLError, ValueError) as e:
            raise Unservable(
                f"CPO_TLS_CERT/CPO_TLS_KEY: not a certificate and its key ({e})"
            ) from None
    if settings.tls_client_ca:
        if not settings.tls_cert:
            raise Unservable("CPO_TLS_CLIENT_CA is set without CPO_TLS_CERT (profile 3 is TLS)")
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_verify_locations(
                settings.tls_client_ca
            )
        except (OSError, ssl.SSLError, ValueError) as e:
            raise Unservable(
                f"CPO_TLS_CLIENT_CA: cannot load {settings.tls_client_ca} ({e})"
            ) from None
    elif settings.tls_client_cert_required:
        raise Unservable("CPO_TLS_CLIENT_CERT_REQUIRED is set without CPO_TLS_CLIENT_CA")


def listen(host: str, port: int, backlog: int = 2048) -> list[socket.socket]:
    """Binds and listens on every address `host` names, as asyncio would, but before the app
    starts: a port that is taken is reported before any banner, not after the startup."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, OverflowError, UnicodeError) as e:
        raise Unservable(f"cannot listen on {host}:{port} ({e}; set CPO_HOST, CPO_PORT)") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:
                continue  # a family this machine lacks (IPv6), as asyncio skips it
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
                sock.listen(backlog)
            except OSError as e:
                raise Unservable(_bind_problem(e, host or "every interface", port)) from None
        if not sockets:
            raise Unservable(f"cannot listen on {host}:{port}: no usable address")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_problem(e: OSError, host: str, port: int) -> str:
    if e.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use (set CPO_PORT)"
    if e.errno == errno.EACCES:
        return f"not allowed to listen on port {port} on {host} (set CPO_PORT)"
    if e.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine (set CPO_HOST)"
    return f"cannot listen on port {port} on {host}: {e.strerror or e}"


def serve(settings: Settings) -> None:
    """Runs the platform until Ctrl-C or SIGTERM; raises Unservable when it cannot start."""
    check_tls(settings)
    sockets = listen(settings.host, settings.port)
    try:  # before the app starts: a node never serves a schema that is not its code's
        asyncio.run(migrate(settings.database_url))
    except SchemaTooNew as e:
        for sock in sockets:
            sock.close()
        raise Unservable(str(e)) from None
    if settings.port == 0:  # any free port: the URLs handed out name the one taken
        settings = settings.model_copy(update={"port": sockets[0].getsockname()[1]})
    raise_open_files_limit()
    garbage.keep_long_lived_apart()  # no stop-the-world pauses that grow with the chargers
    Server(uvicorn_config(settings)).run(sockets=sockets)
