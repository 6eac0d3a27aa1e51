"""The operator's admin API under /admin/api: stations, tokens, commands, locations, tariffs,
sessions, CDRs, parties, logs; bearer token; problem+json errors; its OpenAPI document."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import func
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from cpo import logs
from cpo.admin import docs
from cpo.admin import views as v
from cpo.admin.openapi import ID_MAX, Endpoint, Operation, document
from cpo.admin.token import AdminToken
from cpo.body_limit import BodyTooLarge
from cpo.cdrs.report import BadFilter, CdrPage, CdrReport, CdrSummary, encoded
from cpo.firmware.campaigns import CampaignIn, Campaigns
from cpo.locations.store import location_object
from cpo.locations.tables import Location
from cpo.locations.v230 import Location as OcpiLocation
from cpo.locations.v230 import LocationIn
from cpo.ocpi.status import OcpiError
from cpo.ocpi_side import InvitationIn, OcpiSide, OriginsIn, RegistrationIn
from cpo.operator_input import Conflict, Invalid, NotFound
from cpo.parties import NotRegistered, party_view
from cpo.push import outbox
from cpo.site_power.limits import PowerLimitIn, SitePower
from cpo.stations import StationIn, StationPatch, Stations, station_view
from cpo.tariffs.store import tariff_object
from cpo.tariffs.tables import Tariff
from cpo.tariffs.v221 import Tariff as OcpiTariff
from cpo.tariffs.v221 import TariffIn
from cpo.tokens.operator import OperatorTokens, TokenIn
from cpo.tokens.tables import OcpiToken
from csms import uploads
from csms.certificates import records
from csms.commands import COMMANDS, Outcome
from csms.models import Event, MeterSample
from csms.provisioning import EVERY_STATION, InvalidItem, check_item
from csms.service import Csms

# How long registering with a peer waits for the first pull of its tokens before it answers.
FIRST_PULL_WAIT = 60.0


class Problem(Exception):
    """An RFC 9457 problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra

    def response(self) -> Response:
        body = (
            {"type": "about:blank", "title": self.title, "status": self.status}
            | ({"detail": self.detail} if self.detail else {})
            | self.extra
        )
        headers = {"WWW-Authenticate": 'Bearer realm="admin"'} if self.status == 401 else None
        return Response(
            orjson.dumps(body),
            status_code=self.status,
            media_type="application/problem+json",
            headers=headers,
        )


def attachment(file_name: str) -> str:
    """A Content-Disposition that downloads under the charger's name for the file, made safe:
    a plain ASCII fallback, and the name itself in RFC 5987 form."""
    plain = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\/' else "_" for c in file_name
    )
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def ok(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _errors(e: ValidationError, where: str) -> list[dict[str, Any]]:
    return [
        {"loc": [where, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in e.errors(include_url=False, include_context=False, include_input=False)
    ]


async def body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as e:
        errors = [dict(err, loc=err["loc"][1:]) for err in _errors(e, "body")]
        raise Problem(
            422, "invalid request body", f"{len(errors)} problem(s) with the body", errors=errors
        ) from e


def query(request: Request, model: type[BaseModel] | None) -> Any:
    """The query parameters as `model` has them; a problem for one that is unknown, repeated
    or out of range."""
    given: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in given:
            raise Problem(400, f"query parameter {name} is given twice")
        given[name] = value
    if model is None:
        if given:
            raise Problem(400, "this endpoint takes no query parameters", ", ".join(given))
        return None
    try:
        return model.model_validate(given)
    except ValidationError as e:
        errors = _errors(e, "query")
        raise Problem(
            400,
            "invalid query parameters",
            "; ".join(
                f"{'.'.join(map(str, err['loc'][1:])) or 'query'}: {err['msg']}" for err in errors
            ),
            errors=errors,
        ) from e


@dataclass
class Admin:
    csms: Csms
    stations: Stations
    operator_tokens: OperatorTokens
    ocpi_side: OcpiSide
    token: AdminToken
    firmware: Campaigns
    site_power: SitePower
    report: CdrReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = CdrReport(self.stations.database)

    def _connected(self, station_id: str) -> bool:
        return self.csms.registry.get(station_id) is not None

    # -- firmware campaigns ---------------------------------------------------------------------

    async def create_campaign(self, request: Request) -> Response:
        campaign_id = await self.firmware.create(await body(request, CampaignIn))
        return ok(await self.firmware.get(campaign_id), 201)

    async def list_campaigns(self, request: Request) -> Response:
        return ok(await self.firmware.all())

    async def get_campaign(self, request: Request) -> Response:
        return ok(await self.firmware.get(request.path_params["campaign_id"]))

    async def cancel_campaign(self, request: Request) -> Response:
        campaign_id = request.path_params["campaign_id"]
        await self.firmware.cancel(campaign_id)
        return ok(await self.firmware.get(campaign_id))

    # -- stations -------------------------------------------------------------------------------

    async def list_stations(self, request: Request) -> Response:
        boots = await self.csms.provisioning.states()
        return ok(
            [
                station_view(s)
                | {"connected": self._connected(s.id), "boot_status": boots.get(s.id)}
                for s in await self.stations.all()
            ]
        )

    async def add_station(self, request: Request) -> Response:
        station = await self.stations.add(await body(request, StationIn))
        return ok(station_view(station) | {"connected": self._connected(station.id)}, 201)

    async def get_station(self, request: Request) -> Response:
        station, connectors = await self.stations.get(request.path_params["station_id"])
        boot = await self.csms.provisioning.state(station.id)
        return ok(
            station_view(station, connectors)
            | {"connected": self._connected(station.id), "boot_status": boot and boot.status}
        )

    async def update_station(self, request: Request) -> Response:
        station = await self.stations.update(
            request.path_params["station_id"], await body(request, StationPatch)
        )
        if conn := self.csms.registry.get(station.id):
            # Applies to the live connection too.
            conn.energy_unit_override = station.energy_unit_override
        return ok(station_view(station) | {"connected": conn is not None})

    async def delete_station(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.stations.delete(station_id)
        if conn := self.csms.registry.get(station_id):
            await conn.close(1000, "station removed")
        return Response(status_code=204)

    async def messages(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.stations.get(station_id)
        q: v.Before = request.state.query
        rows = await self.csms.message_log.query(station_id, q.limit, q.before)
        return ok([r.model_dump(mode="json") for r in rows])

    async def device_model(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.stations.get(station_id)
        q: v.DeviceModelQuery = request.state.query
        rows = await self.csms.store.device_variables(station_id, q.component, q.variable, q.limit)
        return ok([r.model_dump(mode="json", exclude={"id", "station_id"}) for r in rows])

    async def charging_profiles(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.stations.get(station_id)
        rows = await self.csms.store.profiles(station_id)
        return ok([r.model_dump(mode="json", exclude={"id", "station_id"}) for r in rows])

    async def certificates(self, request: Request) -> Response:
        q: v.CertificatesQuery = request.state.query
        within = None if q.expiring_within_days is None else timedelta(days=q.expiring_within_days)
        async with self.stations.database() as session:
            rows = await records.issued_list(session, q.station_id, within, q.limit)
        return ok([r.model_dump(mode="json", exclude={"id", "pem"}) for r in rows])

    async def authority(self, request: Request) -> Response:
        signer = self.csms.config.signer
        if signer is None:
            raise Problem(404, "this platform signs no certificates")
        return ok({"certificate": await signer.root()})

    async def station_certificates(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.stations.get(station_id)
        async with self.stations.database() as session:
            issued = await records.issued_list(session, station_id)
            installed = await records.installed_list(session, station_id)
        return ok(
            {
                "issued": [r.model_dump(mode="json", exclude={"id"}) for r in issued],
                "installed": [
                    r.model_dump(mode="json", exclude={"id", "station_id"}) for r in installed
                ],
            }
        )

    # -- provisioning: what a charger takes before its boot is accepted (csms.provisioning) ----

    async def provisioning(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        station, _ = await self.stations.get(station_id)
        p = self.csms.provisioning
        boot = await p.state(station_id)
        return ok(
            {
                "boot_status": boot and boot.status,
                "reason": boot and boot.reason,
                "keys": [_key_view(k) for k in await p.keys(station_id)],
                "wanted": await p.wanted(station_id, station.ocpp_version or ""),
                "results": [
                    r.model_dump(mode="json", exclude={"station_id"})
                    for r in await p.results(station_id)
                ],
            }
        )

    async def every_station_provisioning(self, request: Request) -> Response:
        return ok([_key_view(k) for k in await self.csms.provisioning.keys(EVERY_STATION)])

    async def put_provisioning(self, request: Request) -> Response:
        station_id = request.path_params.get("station_id", EVERY_STATION)
        version = None
        if station_id != EVERY_STATION:
            station, _ = await self.stations.get(station_id)
            version = station.ocpp_version
        key = request.path_params["key"]
        value = (await body(request, v.ProvisioningValue)).value
        try:
            check_item(key, value, version)
        except InvalidItem as e:
            raise Problem(
                422,
                "invalid provisioning item",
                str(e),
                errors=[
                    {
                        "loc": ["path", "key"] if e.field == "key" else ["body", "value"],
                        "msg": str(e),
                        "type": "value_error",
                    }
                ],
            ) from e
        at = await self.csms.provisioning.put(station_id, key, value)
        return ok({"key": key, "value": value, "updated_at": at.isoformat()})

    async def delete_provisioning(self, request: Request) -> Response:
        station_id = request.path_params.get("station_id", EVERY_STATION)
        if not await self.csms.provisioning.remove(station_id, request.path_params["key"]):
            raise Problem(404, "no such provisioning key")
        return Response(status_code=204)

    async def uploads(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.stations.get(station_id)
        q: v.Limit = request.state.query
        rows = await uploads.of_station(self.csms.store.database, station_id, q.limit)
        return ok([dataclasses.asdict(row) for row in rows])

    async def download(self, request: Request) -> Response:
        found = await uploads.file(self.csms.store.database, request.path_params["upload_id"])
        if found is None:
            raise Problem(404, "no such upload, or nothing received yet")
        info, content = found
        return Response(
            content,
            media_type=info.content_type or "application/octet-stream",
            headers={"Content-Disposition": attachment(info.file_name or f"upload-{info.id}")},
        )

    async def transactions(self, request: Request) -> Response:
        station_id = request.path_params.get("station_id")
        if station_id:
            await self.stations.get(station_id)
        q: v.Limit = request.state.query
        rows = await self.stations.transactions(station_id, q.limit)
        return ok([t.model_dump(mode="json") for t in rows])

    async def transaction(self, request: Request) -> Response:
        tx = await self.csms.store.transaction(int(request.path_params["transaction_id"]))
        if tx is None:
            raise Problem(404, "no such transaction")
        async with self.stations.database() as session:
            samples = (
                await session.execute(
                    select(MeterSample)
                    .where(MeterSample.transaction_id == tx.id)
                    .order_by(col(MeterSample.timestamp), col(MeterSample.id))
                )
            ).scalars()
            return ok(
                tx.model_dump(mode="json")
                | {
                    "samples": [
                        s.model_dump(mode="json", exclude={"station_id", "transaction_id"})
                        for s in samples
                    ]
                }
            )

    async def events(self, request: Request) -> Response:
        q: v.EventsQuery = request.state.query
        stmt = select(Event).where(col(Event.id) > q.after).order_by(col(Event.id)).limit(q.limit)
        if q.station_id:
            stmt = stmt.where(Event.station_id == q.station_id)
        async with self.stations.database() as session:
            return ok([e.model_dump(mode="json") for e in (await session.execute(stmt)).scalars()])

    async def command(self, request: Request) -> Response:
        station_id, name = request.path_params["station_id"], request.path_params["name"]
        if name not in COMMANDS:
            raise Problem(
                404, f"unknown command {name}", f"commands: {', '.join(sorted(COMMANDS))}"
            )
        await self.stations.get(station_id)
        command = await body(request, COMMANDS[name])
        result = await self.csms.commands.run(station_id, command)
        data = {
            "outcome": result.outcome.value,
            "status": result.status,
            "data": result.data,
            "error_code": result.error_code,
            "error_description": result.error_description,
        }
        if result.outcome is Outcome.ANSWERED:
            return ok(data)
        status, title = {
            Outcome.OFFLINE: (409, "the charger is offline"),
            Outcome.TIMEOUT: (504, "the charger did not answer in time"),
            Outcome.CALL_ERROR: (502, "the charger answered with an error"),
            Outcome.INVALID: (422, "the command does not fit this charger"),
        }[result.outcome]
        raise Problem(
            status,
            title,
            result.error_description,
            **{k: v for k, v in data.items() if v not in (None, {})},
        )

    async def push_local_list(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.stations.get(station_id)
        assert self.ocpi_side.local_lists is not None
        q: v.LocalListQuery = request.state.query
        result = await self.ocpi_side.local_lists.push(station_id, full=q.full)
        if result.outcome is not Outcome.ANSWERED:
            raise Problem(
                409 if result.outcome is Outcome.OFFLINE else 502,
                f"the charger did not take the list ({result.outcome.value})",
                result.error_description,
                error_code=result.error_code,
            )
        return ok({"status": result.status, "data": result.data})

    # -- tokens -----------------------------------------------------------------------------------

    async def list_tokens(self, request: Request) -> Response:
        return ok([t.model_dump(mode="json") for t in await self.operator_tokens.all()])

    async def add_token(self, request: Request) -> Response:
        token = await self.operator_tokens.add(await body(request, TokenIn))
        return ok(token.model_dump(mode="json"), 201)

    async def delete_token(self, request: Request) -> Response:
        q: v.TokenType = request.state.query
        await self.operator_tokens.delete(request.path_params["uid"], q.type)
        return Response(status_code=204)

    # -- OCPI parties -------------------------------------------------------------------------------

    async def list_parties(self, request: Request) -> Response:
        return ok([party_view(p) for p in await self.ocpi_side.parties.all()])

    async def get_party(self, request: Request) -> Response:
        return ok(party_view(await self.ocpi_side.party(request.path_params["party_id"])))

    async def invite_party(self, request: Request) -> Response:
        data: InvitationIn = await body(request, InvitationIn)
        invitation = await self.ocpi_side.invite(
            data.name, data.token_encoding, data.allowed_origins
        )
        settings = self.ocpi_side.settings
        if settings.listens_everywhere and not settings.public_url:
            invitation["note"] = (
                "CPO_HOST listens on every interface, so the URL names this machine; if eMSPs"
                " reach it by another name, set CPO_PUBLIC_URL and restart the server"
            )
        return ok(invitation, 201)

    async def register_party(self, request: Request) -> Response:
        data: RegistrationIn = await body(request, RegistrationIn)
        party = await self.ocpi_side.register(
            data.versions_url, data.token, data.token_encoding, data.name, data.allowed_origins
        )
        assert party.id is not None
        # The peer has answered us: its tokens can be fetched before we answer the operator.
        await self.ocpi_side.first_pull(party.id, FIRST_PULL_WAIT)
        async with self.ocpi_side.database() as session:
            tokens = await session.scalar(
                select(func.count())
                .select_from(OcpiToken)
                .where(col(OcpiToken.owner_id) == party.id, col(OcpiToken.valid).is_(True))
            )
        return ok(party_view(party) | {"tokens": int(tokens or 0)}, 201)

    async def party_origins(self, request: Request) -> Response:
        data: OriginsIn = await body(request, OriginsIn)
        party_id = request.path_params["party_id"]
        return ok(party_view(await self.ocpi_side.allow_origins(party_id, data.allowed_origins)))

    async def approve_move(self, request: Request) -> Response:
        return ok(party_view(await self.ocpi_side.approve_move(request.path_params["party_id"])))

    async def reject_move(self, request: Request) -> Response:
        return ok(party_view(await self.ocpi_side.reject_move(request.path_params["party_id"])))

    async def suspend_party(self, request: Request) -> Response:
        return ok(party_view(await self.ocpi_side.suspend(request.path_params["party_id"])))

    async def resume_party(self, request: Request) -> Response:
        return ok(party_view(await self.ocpi_side.resume(request.path_params["party_id"])))

    async def rotate_party(self, request: Request) -> Response:
        return ok(party_view(await self.ocpi_side.rotate(request.path_params["party_id"])))

    async def unregister_party(self, request: Request) -> Response:
        party_id = request.path_params["party_id"]
        problem = await self.ocpi_side.unregister(party_id)
        return ok(
            party_view(await self.ocpi_side.party(party_id))
            | {"peer_told": problem is None, "peer_problem": problem}
        )

    async def party_requests(self, request: Request) -> Response:
        party = await self.ocpi_side.party(request.path_params["party_id"])
        assert party.id is not None
        q: v.Before = request.state.query
        rows = await self.ocpi_side.log.query(party.id, q.limit, q.before)
        return ok([r.model_dump(mode="json") for r in rows])

    async def push_status(self, request: Request) -> Response:
        party = await self.ocpi_side.party(request.path_params["party_id"])
        assert party.id is not None
        async with self.ocpi_side.database() as session:
            return ok(await outbox.summary(session, party.id))

    async def resync_party(self, request: Request) -> Response:
        return ok({"marked": await self.ocpi_side.resync(request.path_params["party_id"])})

    async def retry_party(self, request: Request) -> Response:
        return ok({"retried": await self.ocpi_side.retry_pushes(request.path_params["party_id"])})

    async def pull_tokens(self, request: Request) -> Response:
        q: v.PullQuery = request.state.query
        return ok(await self.ocpi_side.pull_tokens(request.path_params["party_id"], q.full))

    async def pull_clients(self, request: Request) -> Response:
        return ok(await self.ocpi_side.pull_clients(request.path_params["party_id"]))

    # -- locations and tariffs ------------------------------------------------------------------

    async def raw_json(self, request: Request) -> Any:
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise Problem(400, "the body is not valid JSON") from None

    async def list_locations(self, request: Request) -> Response:
        locations = self.ocpi_side.locations
        async with self.ocpi_side.database() as session:
            rows = list(
                (await session.execute(select(Location).order_by(col(Location.id)))).scalars()
            )
            evses = await locations.evses_of(session, [r.id for r in rows if r.id is not None])
        return ok([location_object(r, evses[r.id]) for r in rows if r.id is not None])

    async def upsert_locations(self, request: Request) -> Response:
        done = await self.ocpi_side.locations.upsert(await self.raw_json(request))
        return ok([d.view() for d in done])

    async def put_location(self, request: Request) -> Response:
        raw = await self.raw_json(request)
        location_id = request.path_params["location_id"]
        if not isinstance(raw, dict) or raw.setdefault("id", location_id) != location_id:
            raise Problem(422, "the body's id differs from the URL's")
        done = await self.ocpi_side.locations.upsert(raw)
        return ok(done[0].view())

    async def get_location(self, request: Request) -> Response:
        found = await self.ocpi_side.locations.location(request.path_params["location_id"])
        if found is None:
            raise Problem(404, "no such location")
        return ok(found)

    async def publish_location(self, request: Request) -> Response:
        publish = request.url.path.endswith("/publish")
        done = await self.ocpi_side.locations.set_publish(
            request.path_params["location_id"], publish
        )
        if done is None:
            raise Problem(404, "no such location")
        return ok(done.view())

    async def put_power_limit(self, request: Request) -> Response:
        given = await body(request, PowerLimitIn)
        return ok(await self.site_power.set(request.path_params["location_id"], given))

    async def get_power_limit(self, request: Request) -> Response:
        return ok(await self.site_power.get(request.path_params["location_id"]))

    async def delete_power_limit(self, request: Request) -> Response:
        await self.site_power.delete(request.path_params["location_id"])
        return Response(status_code=204)

    async def unassigned(self, request: Request) -> Response:
        return ok(await self.ocpi_side.locations.unassigned())

    async def list_tariffs(self, request: Request) -> Response:
        async with self.ocpi_side.database() as session:
            rows = (
                await session.execute(
                    select(Tariff).where(col(Tariff.deleted).is_(False)).order_by(col(Tariff.id))
                )
            ).scalars()
            return ok([tariff_object(t) for t in rows])

    async def upsert_tariffs(self, request: Request) -> Response:
        done = await self.ocpi_side.tariffs.upsert(await self.raw_json(request))
        return ok([d.view() for d in done])

    async def delete_tariff(self, request: Request) -> Response:
        if not await self.ocpi_side.tariffs.delete(request.path_params["tariff_id"]):
            raise Problem(404, "no such tariff")
        return Response(status_code=204)

    # -- sessions, CDRs and eMSP commands -------------------------------------------------------

    async def list_commands(self, request: Request) -> Response:
        q: v.Limit = request.state.query
        return ok(await self.ocpi_side.remote.recent(q.limit))

    async def list_sessions(self, request: Request) -> Response:
        q: v.SessionsQuery = request.state.query
        return ok(await self.ocpi_side.charging.recent(q.limit, q.status))

    async def get_session(self, request: Request) -> Response:
        found = await self.ocpi_side.charging.view(request.path_params["session_id"])
        if found is None:
            raise Problem(404, "no such session")
        return ok(found)

    async def correct_session(self, request: Request) -> Response:
        try:
            found = await self.ocpi_side.charging.correct_session(request.path_params["session_id"])
        except LookupError as e:
            raise Problem(409, "nothing to correct", str(e)) from e
        if found is None:
            raise Problem(404, "no such session")
        return ok(found, 201)

    async def list_cdrs(self, request: Request) -> Response:
        q: v.CdrQuery = request.state.query
        asked_csv = "format" not in q.model_fields_set and "text/csv" in request.headers.get(
            "accept", ""
        )
        if q.format == "csv" or asked_csv:
            lines = await self.report.csv(q)
            return StreamingResponse(
                encoded(lines),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="cdrs.csv"'},
            )
        page = await self.report.page(q, q.offset, q.limit)
        return ok(page.model_dump(mode="json"))

    async def cdr_summary(self, request: Request) -> Response:
        q: v.CdrSummaryQuery = request.state.query
        return ok((await self.report.summary(q)).model_dump(mode="json"))

    # -- plumbing ---------------------------------------------------------------------------------

    def guard(self, operation: Operation) -> Endpoint:
        endpoint = operation.endpoint

        async def guarded(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            try:
                if scheme.lower() != "bearer" or not await self.token.accepts(token.strip()):
                    raise Problem(401, "missing or wrong bearer token")
                for name, value in request.path_params.items():
                    if isinstance(value, int) and not 0 <= value <= ID_MAX:
                        # No row has such an id (they are 64-bit), and the database cannot
                        # even be asked.
                        raise Problem(404, f"no such {name.removesuffix('_id')}: ids are 64-bit")
                request.state.query = query(request, operation.query)
                if "party_id" in request.path_params:
                    logs.about_party(request.path_params["party_id"])
                return await endpoint(request)
            except Problem as p:
                return p.response()
            except BodyTooLarge as e:
                return Problem(413, "request body too large", str(e)).response()
            except NotFound as e:
                return Problem(404, str(e)).response()
            except NotRegistered as e:
                return Problem(
                    409, str(e), "only a registered party can be operated on", party_id=e.party_id
                ).response()
            except Conflict as e:
                return Problem(409, str(e)).response()
            except BadFilter as e:
                errors = [{"loc": ["query", e.field], "msg": str(e), "type": "not_found"}]
                return Problem(400, "invalid query parameters", str(e), errors=errors).response()
            except Invalid as e:
                return Problem(
                    422,
                    "invalid OCPI data",
                    f"{len(e.problems)} problem(s); nothing was stored",
                    errors=e.problems,
                ).response()
            except OcpiError as e:
                # 405 is OCPI's "not in this state"; anything else is the peer's or the dance's.
                status = 409 if e.http == 405 else 502
                title = "not possible in this state" if status == 409 else "the OCPI peer failed"
                return Problem(status, title, e.message, ocpi_status=e.status).response()

        return guarded

    def table(self) -> list[Operation]:
        """Every endpoint of the admin API: the one place that lists them."""
        Op = Operation  # a table reads better with a short name
        return [
            Op("GET", "/stations", self.list_stations, "List stations", list[v.StationView]),
            Op(
                "POST",
                "/firmware/campaigns",
                self.create_campaign,
                "Send a firmware image to chargers (a campaign), and start it",
                v.CampaignDetail,
                201,
                CampaignIn,
            ),
            Op(
                "GET",
                "/firmware/campaigns",
                self.list_campaigns,
                "Firmware campaigns, with how many chargers are in each state",
                list[v.CampaignView],
            ),
            Op(
                "GET",
                "/firmware/campaigns/{campaign_id:int}",
                self.get_campaign,
                "A firmware campaign: each charger's progress and history",
                v.CampaignDetail,
            ),
            Op(
                "POST",
                "/firmware/campaigns/{campaign_id:int}/cancel",
                self.cancel_campaign,
                "Cancel a firmware campaign: the chargers not yet done leave it",
                v.CampaignDetail,
            ),
            Op(
                "POST",
                "/stations",
                self.add_station,
                "Register a station",
                v.StationView,
                201,
                StationIn,
            ),
            Op(
                "GET",
                "/stations/{station_id}",
                self.get_station,
                "A station with its connectors",
                v.StationDetail,
            ),
            Op(
                "PATCH",
                "/stations/{station_id}",
                self.update_station,
                "Change a station's password, security profile or meter quirk",
                v.StationView,
                body=StationPatch,
            ),
            Op(
                "DELETE",
                "/stations/{station_id}",
                self.delete_station,
                "Remove a station without transactions",
                status=204,
            ),
            Op(
                "GET",
                "/stations/{station_id}/messages",
                self.messages,
                "The station's OCPP frames, newest first",
                list[v.MessageView],
                query=v.Before,
            ),
            Op(
                "GET",
                "/stations/{station_id}/device-model",
                self.device_model,
                "A 2.0.1 station's device model as it reported it (get_base_report fills it)",
                list[v.DeviceVariableView],
                query=v.DeviceModelQuery,
            ),
            Op(
                "GET",
                "/stations/{station_id}/charging-profiles",
                self.charging_profiles,
                "The charging profiles the station should hold (those it accepted, less cleared)",
                list[v.HeldProfileView],
            ),
            Op(
                "GET",
                "/certificates",
                self.certificates,
                "Certificates the platform issued to chargers, soonest to expire first",
                list[v.IssuedCertificateView],
                query=v.CertificatesQuery,
            ),
            Op(
                "GET",
                "/certificates/authority",
                self.authority,
                "The platform CA's certificate (PEM): the CSMS root chargers install to take"
                " the certificates it signs",
                v.AuthorityView,
            ),
            Op(
                "GET",
                "/stations/{station_id}/certificates",
                self.station_certificates,
                "The certificates issued to the station, and those it said it holds",
                v.StationCertificates,
            ),
            Op(
                "GET",
                "/stations/{station_id}/provisioning",
                self.provisioning,
                "What the station takes before its boot is accepted, and how it went",
                v.StationProvisioning,
            ),
            Op(
                "PUT",
                "/stations/{station_id}/provisioning/{key}",
                self.put_provisioning,
                "Set a key of the station's provisioning set (sent at its next Pending boot)",
                v.ProvisioningKeyView,
                body=v.ProvisioningValue,
            ),
            Op(
                "DELETE",
                "/stations/{station_id}/provisioning/{key}",
                self.delete_provisioning,
                "Remove a key of the station's provisioning set",
                status=204,
            ),
            Op(
                "GET",
                "/provisioning",
                self.every_station_provisioning,
                "The provisioning keys of every station",
                list[v.ProvisioningKeyView],
            ),
            Op(
                "PUT",
                "/provisioning/{key}",
                self.put_provisioning,
                "Set a key every station takes before its boot is accepted",
                v.ProvisioningKeyView,
                body=v.ProvisioningValue,
            ),
            Op(
                "DELETE",
                "/provisioning/{key}",
                self.delete_provisioning,
                "Remove a key of every station's provisioning set",
                status=204,
            ),
            Op(
                "GET",
                "/stations/{station_id}/uploads",
                self.uploads,
                "Files the station was asked for (get_diagnostics, get_log), newest first",
                list[v.UploadView],
                query=v.Limit,
            ),
            Op(
                "GET",
                "/uploads/{upload_id:int}",
                self.download,
                "A file a station uploaded, as an attachment",
            ),
            Op(
                "GET",
                "/stations/{station_id}/transactions",
                self.transactions,
                "The station's transactions, newest first",
                list[v.TransactionView],
                query=v.Limit,
            ),
            Op(
                "POST",
                "/stations/{station_id}/commands/{name}",
                self.command,
                "Send a command to the charger (the body is the named command's)",
                v.CommandOutcome,
                body=list(COMMANDS.values()),
            ),
            Op(
                "POST",
                "/stations/{station_id}/local-list",
                self.push_local_list,
                "Send the charger its local authorization list",
                v.LocalListResult,
                query=v.LocalListQuery,
            ),
            Op(
                "GET",
                "/transactions",
                self.transactions,
                "All transactions, newest first",
                list[v.TransactionView],
                query=v.Limit,
            ),
            Op(
                "GET",
                "/transactions/{transaction_id:int}",
                self.transaction,
                "A transaction with its meter samples",
                v.TransactionDetail,
            ),
            Op(
                "GET",
                "/events",
                self.events,
                "The domain event log from a cursor",
                list[v.EventView],
                query=v.EventsQuery,
            ),
            Op(
                "GET",
                "/tokens",
                self.list_tokens,
                "Locally authorized id tokens",
                list[v.TokenView],
            ),
            Op(
                "POST",
                "/tokens",
                self.add_token,
                "Authorize an id token locally",
                v.TokenView,
                201,
                TokenIn,
            ),
            Op(
                "DELETE",
                "/tokens/{uid}",
                self.delete_token,
                "Remove a local id token",
                status=204,
                query=v.TokenType,
            ),
            Op(
                "GET",
                "/locations",
                self.list_locations,
                "Locations as eMSPs see them",
                list[OcpiLocation],
            ),
            Op(
                "POST",
                "/locations",
                self.upsert_locations,
                "Create or update Locations (an OCPI Location or a list; each EVSE names"
                " station_id and ocpp_evse_id)",
                list[v.Upserted],
                body=[LocationIn, list[LocationIn]],
            ),
            Op("GET", "/locations/{location_id}", self.get_location, "One Location", OcpiLocation),
            Op(
                "PUT",
                "/locations/{location_id}",
                self.put_location,
                "Create or replace one Location",
                v.Upserted,
                body=LocationIn,
            ),
            Op(
                "POST",
                "/locations/{location_id}/publish",
                self.publish_location,
                "Publish a Location",
                v.Upserted,
            ),
            Op(
                "POST",
                "/locations/{location_id}/unpublish",
                self.publish_location,
                "Hide a Location (publish false)",
                v.Upserted,
            ),
            Op(
                "PUT",
                "/locations/{location_id}/power-limit",
                self.put_power_limit,
                "Set the Location's power limit (W), spread over the chargers charging there",
                v.PowerLimitView,
                body=PowerLimitIn,
            ),
            Op(
                "GET",
                "/locations/{location_id}/power-limit",
                self.get_power_limit,
                "The Location's power limit and the share each charger holds",
                v.PowerLimitView,
            ),
            Op(
                "DELETE",
                "/locations/{location_id}/power-limit",
                self.delete_power_limit,
                "Lift the Location's power limit (its chargers' site profiles are cleared)",
                status=204,
            ),
            Op(
                "GET",
                "/unassigned",
                self.unassigned,
                "Charger EVSEs bound to no Location yet",
                list[v.Unassigned],
            ),
            Op("GET", "/tariffs", self.list_tariffs, "Tariffs", list[OcpiTariff]),
            Op(
                "POST",
                "/tariffs",
                self.upsert_tariffs,
                "Create or update Tariffs (one or a list)",
                list[v.Upserted],
                body=[TariffIn, list[TariffIn]],
            ),
            Op(
                "DELETE",
                "/tariffs/{tariff_id}",
                self.delete_tariff,
                "Remove a Tariff (DELETE pushed)",
                status=204,
            ),
            Op(
                "GET",
                "/sessions",
                self.list_sessions,
                "OCPI Sessions with their CDRs, newest first",
                list[v.SessionView],
                query=v.SessionsQuery,
            ),
            Op(
                "GET",
                "/sessions/{session_id}",
                self.get_session,
                "One Session with its flags and CDRs",
                v.SessionView,
            ),
            Op(
                "POST",
                "/sessions/{session_id}/correct",
                self.correct_session,
                "Credit the session's CDR and issue a new one from the data as it is now",
                v.SessionView,
                201,
            ),
            Op(
                "GET",
                "/cdrs",
                self.list_cdrs,
                "CDRs by end date, eMSP and Location, newest first; format=csv (or Accept:"
                " text/csv): all of them as CSV, oldest first",
                CdrPage,
                query=v.CdrQuery,
            ),
            Op(
                "GET",
                "/cdrs/summary",
                self.cdr_summary,
                "Revenue (per currency) and energy of the CDRs of a filter, in total and per day",
                CdrSummary,
                query=v.CdrSummaryQuery,
            ),
            Op(
                "GET",
                "/commands",
                self.list_commands,
                "eMSP commands, newest first, with their results",
                list[v.OcpiCommandView],
                query=v.Limit,
            ),
            Op(
                "GET", "/parties", self.list_parties, "OCPI parties (eMSP peers)", list[v.PartyView]
            ),
            Op(
                "POST",
                "/parties/invitations",
                self.invite_party,
                "Invite a peer: a token A and our versions URL for it to register with",
                v.Invitation,
                201,
                InvitationIn,
            ),
            Op(
                "POST",
                "/parties/registrations",
                self.register_party,
                "Register with a peer from its versions URL and token A (answers once its"
                " tokens are pulled)",
                v.RegisteredParty,
                201,
                RegistrationIn,
            ),
            Op("GET", "/parties/{party_id:int}", self.get_party, "One party", v.PartyView),
            Op(
                "DELETE",
                "/parties/{party_id:int}",
                self.unregister_party,
                "Unregister: tell the peer, drop both tokens",
                v.UnregisteredParty,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/suspend",
                self.suspend_party,
                "Stop all traffic with a party",
                v.PartyView,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/resume",
                self.resume_party,
                "Resume a suspended party",
                v.PartyView,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/rotate",
                self.rotate_party,
                "New tokens both ways (credentials PUT)",
                v.PartyView,
            ),
            Op(
                "PUT",
                "/parties/{party_id:int}/origins",
                self.party_origins,
                "The origins a party may be called at besides its versions URL's",
                v.PartyView,
                body=OriginsIn,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/move/approve",
                self.approve_move,
                "Let a party move to the origin its new versions URL is on",
                v.PartyView,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/move/reject",
                self.reject_move,
                "Keep a party where it is; forget the move it asked for",
                v.PartyView,
            ),
            Op(
                "GET",
                "/parties/{party_id:int}/push",
                self.push_status,
                "Pushes to a party: pending, failed, delivered, oldest pending age",
                v.PushStatus,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/resync",
                self.resync_party,
                "Send every Location and Tariff to the party again",
                v.Marked,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/retry",
                self.retry_party,
                "Try refused pushes again",
                v.Retried,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/tokens/pull",
                self.pull_tokens,
                "Fetch the party's tokens (changes since the last pull, or all)",
                v.Pulled,
                query=v.PullQuery,
            ),
            Op(
                "POST",
                "/parties/{party_id:int}/clients/pull",
                self.pull_clients,
                "Fetch a hub's list of the parties it relays for (HubClientInfo)",
                v.ClientsPulled,
            ),
            Op(
                "GET",
                "/parties/{party_id:int}/requests",
                self.party_requests,
                "The party's OCPI requests in and out, newest first",
                list[v.OcpiRequestView],
                query=v.Before,
            ),
        ]

    def routes(self) -> list[BaseRoute]:
        table = self.table()
        routes: list[BaseRoute] = [
            Route(op.path, self.guard(op), methods=[op.method]) for op in table
        ]
        described = orjson.dumps(document(table))
        routes.append(
            Route(
                "/openapi.json",
                lambda request: Response(described, media_type="application/json"),
                methods=["GET"],
            )
        )
        return routes + docs.routes()


def _key_view(key: Any) -> dict[str, Any]:
    return {"key": key.key, "value": key.value, "updated_at": key.updated_at.isoformat()}
