"""Running the app under uvicorn with the platform's settings (the CLI and the tests share this)."""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from cpo import logs
from cpo.app import create_app
from cpo.settings import Settings
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


class OcppWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with the compression above, a Mailbox for its
    queue (it has one reader), and without the handshake's response once it is sent."""

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

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete:
            self.response = None  # type: ignore[assignment]


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
    )
    options.update(overrides)
    logs.configure(settings.log_level, settings.log_format)
    return uvicorn.Config(create_app(settings), **options)


def serve(settings: Settings) -> None:
    raise_open_files_limit()
    uvicorn.Server(uvicorn_config(settings)).run()
