"""The composition root: one Starlette app with the OCPP endpoint, OCPI, the admin API, the console, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from cpo import meta, metrics
from cpo.admin.api import Admin, Problem
from cpo.admin.token import AdminToken, first_token
from cpo.body_limit import BodyLimit, BodyTooLarge
from cpo.console.routes import Console
from cpo.firmware.campaigns import Campaigns
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.status import Status
from cpo.ocpi_side import OcpiSide
from cpo.price_display.authorizer import PricedAuthorizer
from cpo.price_display.costs import CostDisplay, Costs
from cpo.push import outbox
from cpo.push.deliverer import Deliverer
from cpo.push.worker import PushWorker, can_share
from cpo.schema import migrate
from cpo.settings import Settings
from cpo.site_power.limits import SitePower
from cpo.stations import Stations
from cpo.tokens.operator import OperatorTokens
from cpo.uploads import Uploads
from cpo.wakes import NodeWakes
from csms import metrics as csms_metrics
from csms.certificates import OwnAuthority, records
from csms.cluster import Cluster
from csms.config import CsmsConfig
from csms.db import WalCheckpoints, make_database, make_engine, make_reader
from csms.events import EventFeed
from csms.passwords import configure_hashing
from csms.relay import REPLY_MARGIN
from csms.service import Csms

log = logging.getLogger("cpo")


def csms_config(settings: Settings) -> CsmsConfig:
    return CsmsConfig(
        auto_register=settings.auto_register,
        heartbeat_interval=settings.heartbeat_interval,
        response_timeout=settings.ocpp_response_timeout,
        rate_limit=settings.rate_limit,
        rate_burst=settings.rate_burst,
        message_log_days=settings.message_log_days,
        message_log_max_frame=settings.message_log_max_frame,
        message_log_bytes_per_minute=settings.message_log_bytes_per_minute,
        charger_data_bytes_per_minute=settings.charger_data_bytes_per_minute,
        status_trigger_delay=settings.status_trigger_delay,
        boot_pending=settings.boot_pending,
        boot_retry_interval=settings.boot_retry_interval,
        master_pass_group_id=settings.master_pass_group_id,
        hot_path=settings.ocpp_hot_path,
        stale_transaction_minutes=settings.stale_transaction_minutes,
        reconnect_grace=settings.reconnect_grace_seconds,
        upload_url=settings.base_url + "/uploads",
        upload_slot_seconds=settings.upload_slot_hours * 3600,
        upload_retention_days=settings.upload_retention_days,
        # The eMSP's budget, and a second for our own work around it.
        authorization_budget=settings.authorize_timeout + 1.0,
        signer=OwnAuthority(
            Path(settings.ca_cert),
            Path(settings.ca_key),
            days=settings.certificate_days,
            name=settings.business_name,
        ),
        certificate_organization=settings.certificate_organization,
    )


class Platform(Starlette):
    """The app; a charger's WebSocket goes straight to the OCPP endpoint.

    Through Starlette's stack, every connection would hold for its whole life a coroutine
    frame of each layer it passes (error middleware, body limit, exception middleware and its
    wrapper, router, route and its wrapper): about 5 KiB per idle charger, a fifth of what
    one costs (ADR 034). None of them does anything for an OCPP WebSocket: the body limit is
    for HTTP, the error handlers answer HTTP requests, the route only matched the prefix, and
    the endpoint reads the charger's id from the raw path. The route stays in the table for
    the rest (tests, the OpenAPI of what is served)."""

    def __init__(self, ocpp: Callable[[WebSocket], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ocpp = ocpp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and _route_path(scope).startswith(OCPP_PREFIX):
            scope["app"] = self
            await self._ocpp(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)


OCPP_PREFIX = "/ocpp/"


def _route_path(scope: Scope) -> str:
    """The path the router would match: without the root path the app is served under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def create_app(settings: Settings | None = None) -> Platform:
    settings = settings or Settings()
    configure_hashing(settings.password_hash_memory_kib, settings.password_hash_time_cost)
    engine = make_engine(settings.database_url, checkpoints_apart=True)
    checkpoints = WalCheckpoints.for_url(settings.database_url)
    database = make_database(engine)
    reader = make_reader(engine)
    readers = make_database(reader) if reader else None
    # Several nodes (ADR 018): Redis holds which node holds which charger, and carries
    # commands and wake-ups between the nodes.
    cluster = (
        Cluster(settings.redis_url, settings.node_name, settings.node_lease_seconds)
        if settings.redis_url
        else None
    )
    csms = Csms(database, csms_config(settings), cluster=cluster, reads=readers)
    stations = Stations(database)
    in_worker = settings.push_worker and can_share(settings.database_url)
    # A projection in this process wakes for this node's events and the other nodes' alike.
    projection_feed = EventFeed() if cluster is not None and not in_worker else None
    ocpi_side = OcpiSide(settings, database, csms, readers, feed=projection_feed)
    worker = None
    if in_worker:
        worker = PushWorker(settings, database)
        ocpi_side.outbox.forward = worker.wake_outbox
    wakes = (
        NodeWakes(cluster, csms.store.feed, ocpi_side.outbox, worker, projection_feed)
        if cluster is not None
        else None
    )
    # The driver is told the price with the authorization (2.0.1), and what charging costs.
    csms.authorizer = PricedAuthorizer(ocpi_side.authorizer, database)
    costs = Costs(database, ocpi_side.charging)
    csms.costs = costs
    cost_display = CostDisplay(
        database,
        costs,
        csms.commands,
        csms.registry,
        csms.store.feed,
        settings.cost_update_seconds,
        settings.california_pricing,
    )

    async def free_rows_of(nodes: set[str]) -> None:
        """Several nodes: what the deliverers of a node that died were sending goes to the
        live nodes' at once, not after the rows' lease (ADR 018)."""
        for node in nodes:
            if freed := await Deliverer.release(database, node):
                log.info("push: %d rows node %s was sending go again", freed, node)

    csms.nodes_gone.append(free_rows_of)
    firmware = Campaigns(
        database,
        csms.commands,
        csms.store.feed,
        silence=settings.firmware_silence,
        readers=readers,
    )
    site_power = SitePower(database, csms.commands, csms.store.feed)
    admin = Admin(
        csms,
        stations,
        OperatorTokens(database),
        ocpi_side,
        AdminToken(readers or database, settings.admin_token),
        firmware,
        site_power,
    )
    console = Console(settings, database, readers, csms, stations, ocpi_side, site_power, firmware)
    uploads = Uploads(csms.store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await migrate(settings.database_url)
        if checkpoints is not None:
            checkpoints.start()
        generated = None if settings.admin_token else await first_token(database)
        # The CLI hands peers this URL (invitations, registrations): where we really are.
        await meta.record_public_url(database, settings.base_url)
        await console.start()
        if cluster is not None:
            await cluster.start()
        await csms.start()
        firmware.start()
        site_power.start()
        cost_display.start()
        # One node: no deliverer runs yet, so any row still leased was being sent when the
        # previous process died. Several nodes: the live nodes' deliverers keep theirs (their
        # names begin with their node's, ADR 018).
        live = await cluster.live_nodes() if cluster is not None else ()
        if freed := await Deliverer.release(database, live=live):
            log.info("push: %d rows a crashed process was sending go again", freed)
        await ocpi_side.start(push=worker is None)
        if worker is not None:
            worker.follow(csms.store.feed)
            await worker.start()
        if wakes is not None:
            wakes.start()
        print(banner(settings, generated, on_terminal=sys.stdout.isatty()), flush=True)
        try:
            yield
        finally:
            await console.stop()
            if wakes is not None:
                await wakes.stop()
            await ocpi_side.stop()
            await firmware.stop()
            await site_power.stop()
            await cost_display.stop()
            await csms.stop()
            if worker is not None:
                await worker.stop()
            if cluster is not None:
                # What this node's deliverers still held goes to the others' at once.
                with contextlib.suppress(Exception):
                    await Deliverer.release(database, settings.node_name)
                # Drained, it stays "live" while its chargers reconnect elsewhere.
                linger = settings.reconnect_grace_seconds if csms.draining else 0.0
                await cluster.stop(linger=linger)
            await engine.dispose()
            if reader is not None:
                await reader.dispose()
            if checkpoints is not None:
                await checkpoints.stop()

    async def drain() -> None:
        """SIGTERM on one of several nodes (cpo.server): /health answers 503 and new chargers
        are refused, so the load balancer routes elsewhere; commands under way get their
        answers; then every charger is closed with 1001 and reconnects to another node,
        still online (ADR 018)."""
        if cluster is None:
            return
        log.info("draining: no new chargers; the connected ones move to other nodes")
        csms.draining = True
        await asyncio.sleep(settings.drain_seconds)  # the load balancer's health checks see it
        await asyncio.gather(
            ocpi_side.remote.finish(settings.ocpp_response_timeout + REPLY_MARGIN),
            ocpi_side.charging_profiles.finish(settings.ocpp_response_timeout + REPLY_MARGIN),
        )
        await csms.drain(settings.ocpp_response_timeout)
        log.info("drained")

    async def to_console(request: Request) -> Response:
        return RedirectResponse("/console/")

    async def health(request: Request) -> Response:
        if csms.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        try:
            async with database() as session:
                await session.execute(text("SELECT 1"))
        except Exception as e:
            return JSONResponse({"status": "unavailable", "database": str(e)}, status_code=503)
        if cluster is not None:
            try:
                await cluster.redis.ping()
            except Exception as e:
                return JSONResponse({"status": "unavailable", "redis": str(e)}, status_code=503)
        body: dict[str, object] = {"status": "ok", "chargers_connected": len(csms.registry)}
        if worker is not None:
            body["push_worker"] = {"state": worker.state, "restarts": worker.restarts}
        return JSONResponse(body)

    async def scrape(request: Request) -> Response:
        backlog: list[metrics.Backlog] | None = None
        try:
            async with database() as session:
                backlog = await outbox.backlog(session)
        except Exception as e:  # the rest is worth showing while the database is away
            log.warning("metrics: cannot read the outbox backlog: %s", e)
        try:
            async with database() as session:
                within = timedelta(days=settings.certificate_warn_days)
                expiring = await records.expiring_count(session, within)
            csms_metrics.CERTIFICATES_EXPIRING.set(expiring)
        except Exception as e:
            log.warning("metrics: cannot count the expiring certificates: %s", e)
        body = metrics.exposition(worker.metrics_dir if worker else None, backlog)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/ocpi"):
            return OcpiResponse(None, Status.CLIENT_ERROR, exc.detail, exc.status_code)
        if request.url.path.startswith("/admin/"):
            return Problem(exc.status_code, exc.detail).response()
        return PlainTextResponse(exc.detail, status_code=exc.status_code)

    async def too_large(request: Request, exc: Exception) -> Response:
        # Endpoints refuse bodies in their own terms; this answers for any that do not.
        if request.url.path.startswith("/ocpi"):
            return OcpiResponse(None, Status.CLIENT_ERROR, str(exc), 413)
        return Problem(413, "request body too large", str(exc)).response()

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        if request.url.path.startswith("/ocpi"):
            return OcpiResponse(None, Status.SERVER_ERROR, "the platform failed; it is logged", 500)
        return Problem(
            500, "internal error", "the platform failed to handle this request; it is logged"
        ).response()

    app = Platform(
        csms.endpoint,
        routes=[
            WebSocketRoute("/ocpp/{charge_point_id:path}", csms.endpoint),
            Route("/health", health),
            Route("/metrics", scrape),
            Mount("/ocpi", routes=ocpi_side.router.routes()),
            Mount("/admin/api", routes=admin.routes()),
            Mount("/console", routes=console.routes()),
            Route("/uploads/{upload_id:int}/{secret}", uploads.receive, methods=["PUT", "POST"]),
            Route(
                "/uploads/{upload_id:int}/{secret}/{name}", uploads.receive, methods=["PUT", "POST"]
            ),
            Route("/", to_console),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(
                BodyLimit,
                max_bytes=settings.max_body_bytes,
                wider={"/uploads/": settings.upload_max_bytes},
            )
        ],
        exception_handlers={
            HTTPException: http_error,
            BodyTooLarge: too_large,
            Exception: server_error,
        },
    )
    app.state.csms = csms
    app.state.settings = settings
    app.state.admin = admin
    app.state.ocpi_side = ocpi_side
    app.state.console = console
    app.state.firmware = firmware
    app.state.cost_display = cost_display
    app.state.push_worker = worker
    app.state.drain = drain
    # The server calls it as it begins to stop: it waits for every open response, and a
    # console page's live stream would otherwise hold it (cpo.server.Server.shutdown).
    app.state.closing = console.stop
    return app


def banner(settings: Settings, generated_token: str | None, on_terminal: bool) -> str:
    """What the operator needs to start with. A new admin token is shown only on a terminal,
    never where logs may go; it is stored hashed, so it is shown this once."""
    base = settings.base_url
    lines = [
        f"CPO platform on {base}  (Ctrl-C stops it)",
        f"  OCPP endpoint  {settings.ocpp_url}/{{charge_point_id}}  (ocpp2.0.1, ocpp1.6)",
        f"  OCPI versions  {settings.ocpi_versions_url}  (OCPI {', '.join(settings.ocpi_versions)};"
        " invite an eMSP with `cpo party invite`)",
        f"  admin API      {base}/admin/api  (Authorization: Bearer <admin token>)",
        f"  console        {base}/console/  (first user: cpo user add NAME --role admin)",
        f"  health         {base}/health   metrics {base}/metrics",
    ]
    if settings.admin_token:
        lines.append("  admin token    CPO_ADMIN_TOKEN, from the environment")
    elif generated_token and on_terminal:
        lines.append(f"  admin token    {generated_token}")
        lines.append(
            "                 (shown this once and stored hashed: keep it; `cpo admin-token`"
            " issues a new one)"
        )
    elif generated_token:
        lines.append(
            "  admin token    generated and stored hashed, not printed where logs may go:"
            " `cpo admin-token` issues one"
        )
    else:
        lines.append(
            "  admin token    stored hashed; `cpo admin-token` issues a new one (the old one"
            " stops working)"
        )
    if settings.listens_everywhere and not settings.public_url:
        lines.append(
            "  (CPO_HOST listens on every interface, so peers are given this machine's name;"
            " set CPO_PUBLIC_URL if they reach it by another)"
        )
    return "\n".join(lines)
