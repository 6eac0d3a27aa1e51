"""Running the app under uvicorn with the platform's settings (the CLI and the tests share this)."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from cpo.app import create_app
from cpo.settings import Settings

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


def uvicorn_config(settings: Settings, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        # websockets-sansio: answers pings (dead-connection detection) and supports HTTP
        # denial responses (401/404 on the upgrade).
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_size,
        ws_ping_interval=settings.ws_ping_interval or None,
        ws_ping_timeout=settings.ws_ping_timeout or None,
        ws_per_message_deflate=True,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level,
        lifespan="on",
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        ssl_ciphers=TLS_CIPHERS,
    )
    options.update(overrides)
    return uvicorn.Config(create_app(settings), **options)


def serve(settings: Settings) -> None:
    uvicorn.Server(uvicorn_config(settings)).run()
