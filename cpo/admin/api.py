"""The operator's admin API under /admin/api: stations, tokens, commands, locations, tariffs, parties, logs; bearer token; problem+json errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cpo import logs
from cpo.admin.token import AdminToken
from cpo.body_limit import BodyTooLarge
from cpo.models import Location, Tariff
from cpo.ocpi.status import OcpiError
from cpo.operations import (
    Conflict,
    NotFound,
    Operations,
    StationIn,
    StationPatch,
    TokenIn,
    station_view,
)
from cpo.parties import NotRegistered, party_view
from cpo.push import outbox
from cpo.roaming import InvitationIn, OriginsIn, RegistrationIn, Roaming
from cpo.sites import Invalid, location_object, tariff_object
from csms.commands import COMMANDS, Outcome
from csms.models import Event, MeterSample
from csms.service import Csms

Endpoint = Callable[[Request], Awaitable[Response]]
ID_MAX = 2**63 - 1  # the database's ids are signed 64-bit integers


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


def ok(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as e:
        errors = [
            {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in e.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise Problem(
            422, "invalid request body", f"{len(errors)} problem(s) with the body", errors=errors
        ) from e


# Ids are 64-bit integers in the database: a larger one names nothing and cannot be looked up.
ID_MAX = (1 << 63) - 1


def query_int(
    request: Request, name: str, default: int | None, lo: int = 0, hi: int = 10_000
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Problem(400, f"query parameter {name} must be an integer") from None
    if not lo <= value <= hi:
        raise Problem(400, f"query parameter {name} must be between {lo} and {hi}")
    return value


@dataclass
class Admin:
    csms: Csms
    operations: Operations
    roaming: Roaming
    token: AdminToken

    # -- stations -------------------------------------------------------------------------------

    async def list_stations(self, request: Request) -> Response:
        return ok(
            [
                station_view(s) | {"connected": self.csms.registry.get(s.id) is not None}
                for s in await self.operations.stations()
            ]
        )

    async def add_station(self, request: Request) -> Response:
        station = await self.operations.add_station(await body(request, StationIn))
        return ok(station_view(station), 201)

    async def get_station(self, request: Request) -> Response:
        station, connectors = await self.operations.station(request.path_params["station_id"])
        return ok(
            station_view(station, connectors)
            | {"connected": self.csms.registry.get(station.id) is not None}
        )

    async def update_station(self, request: Request) -> Response:
        station = await self.operations.update_station(
            request.path_params["station_id"], await body(request, StationPatch)
        )
        if conn := self.csms.registry.get(station.id):
            conn.energy_unit_override = (
                station.energy_unit_override
            )  # applies to the live connection too
        return ok(station_view(station))

    async def delete_station(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.operations.delete_station(station_id)
        if conn := self.csms.registry.get(station_id):
            await conn.close(1000, "station removed")
        return Response(status_code=204)

    async def messages(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.operations.station(station_id)
        limit = query_int(request, "limit", 100, 1, 1000) or 100
        before = query_int(request, "before", None, 1, 2**62)
        rows = await self.csms.message_log.query(station_id, limit, before)
        return ok([r.model_dump(mode="json") for r in rows])

    async def transactions(self, request: Request) -> Response:
        station_id = request.path_params.get("station_id")
        if station_id:
            await self.operations.station(station_id)
        limit = query_int(request, "limit", 100, 1, 1000) or 100
        return ok(
            [
                t.model_dump(mode="json")
                for t in await self.operations.transactions(station_id, limit)
            ]
        )

    async def transaction(self, request: Request) -> Response:
        tx = await self.csms.store.transaction(int(request.path_params["transaction_id"]))
        if tx is None:
            raise Problem(404, "no such transaction")
        async with self.operations.sessions() as session:
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
        after = query_int(request, "after", 0, 0, 2**62) or 0
        limit = query_int(request, "limit", 100, 1, 1000) or 100
        stmt = select(Event).where(col(Event.id) > after).order_by(col(Event.id)).limit(limit)
        if station_id := request.query_params.get("station_id"):
            stmt = stmt.where(Event.station_id == station_id)
        async with self.operations.sessions() as session:
            return ok([e.model_dump(mode="json") for e in (await session.execute(stmt)).scalars()])

    async def command(self, request: Request) -> Response:
        station_id, name = request.path_params["station_id"], request.path_params["name"]
        if name not in COMMANDS:
            raise Problem(
                404, f"unknown command {name}", f"commands: {', '.join(sorted(COMMANDS))}"
            )
        await self.operations.station(station_id)
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

    # -- tokens -----------------------------------------------------------------------------------

    async def list_tokens(self, request: Request) -> Response:
        return ok([t.model_dump(mode="json") for t in await self.operations.tokens()])

    async def add_token(self, request: Request) -> Response:
        token = await self.operations.add_token(await body(request, TokenIn))
        return ok(token.model_dump(mode="json"), 201)

    async def delete_token(self, request: Request) -> Response:
        await self.operations.delete_token(
            request.path_params["uid"], request.query_params.get("type", "RFID")
        )
        return Response(status_code=204)

    # -- OCPI parties -------------------------------------------------------------------------------

    async def list_parties(self, request: Request) -> Response:
        return ok([party_view(p) for p in await self.roaming.parties.all()])

    async def get_party(self, request: Request) -> Response:
        return ok(party_view(await self.roaming.party(request.path_params["party_id"])))

    async def invite_party(self, request: Request) -> Response:
        data: InvitationIn = await body(request, InvitationIn)
        return ok(
            await self.roaming.invite(data.name, data.token_encoding, data.allowed_origins), 201
        )

    async def register_party(self, request: Request) -> Response:
        data: RegistrationIn = await body(request, RegistrationIn)
        party = await self.roaming.register(
            data.versions_url, data.token, data.token_encoding, data.name, data.allowed_origins
        )
        return ok(party_view(party), 201)

    async def party_origins(self, request: Request) -> Response:
        data: OriginsIn = await body(request, OriginsIn)
        party_id = request.path_params["party_id"]
        return ok(party_view(await self.roaming.allow_origins(party_id, data.allowed_origins)))

    async def approve_move(self, request: Request) -> Response:
        return ok(party_view(await self.roaming.approve_move(request.path_params["party_id"])))

    async def reject_move(self, request: Request) -> Response:
        return ok(party_view(await self.roaming.reject_move(request.path_params["party_id"])))

    async def suspend_party(self, request: Request) -> Response:
        return ok(party_view(await self.roaming.suspend(request.path_params["party_id"])))

    async def resume_party(self, request: Request) -> Response:
        return ok(party_view(await self.roaming.resume(request.path_params["party_id"])))

    async def rotate_party(self, request: Request) -> Response:
        return ok(party_view(await self.roaming.rotate(request.path_params["party_id"])))

    async def unregister_party(self, request: Request) -> Response:
        party_id = request.path_params["party_id"]
        problem = await self.roaming.unregister(party_id)
        return ok(
            party_view(await self.roaming.party(party_id))
            | {"peer_told": problem is None, "peer_problem": problem}
        )

    async def party_requests(self, request: Request) -> Response:
        party = await self.roaming.party(request.path_params["party_id"])
        assert party.id is not None
        limit = query_int(request, "limit", 100, 1, 1000) or 100
        before = query_int(request, "before", None, 1, 2**62)
        rows = await self.roaming.log.query(party.id, limit, before)
        return ok([r.model_dump(mode="json") for r in rows])

    # -- locations and tariffs ------------------------------------------------------------------

    async def raw_json(self, request: Request) -> Any:
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise Problem(400, "the body is not valid JSON") from None

    async def list_locations(self, request: Request) -> Response:
        sites = self.roaming.sites
        async with sites.sessions() as session:
            rows = list(
                (await session.execute(select(Location).order_by(col(Location.id)))).scalars()
            )
            evses = await sites.evses_of(session, [r.id for r in rows if r.id is not None])
        return ok([location_object(r, evses[r.id]) for r in rows if r.id is not None])

    async def upsert_locations(self, request: Request) -> Response:
        done = await self.roaming.sites.upsert_locations(await self.raw_json(request))
        return ok([d.view() for d in done])

    async def put_location(self, request: Request) -> Response:
        raw = await self.raw_json(request)
        location_id = request.path_params["location_id"]
        if not isinstance(raw, dict) or raw.setdefault("id", location_id) != location_id:
            raise Problem(422, "the body's id differs from the URL's")
        done = await self.roaming.sites.upsert_locations(raw)
        return ok(done[0].view())

    async def get_location(self, request: Request) -> Response:
        found = await self.roaming.sites.location(request.path_params["location_id"])
        if found is None:
            raise Problem(404, "no such location")
        return ok(found)

    async def publish_location(self, request: Request) -> Response:
        publish = request.url.path.endswith("/publish")
        done = await self.roaming.sites.set_publish(request.path_params["location_id"], publish)
        if done is None:
            raise Problem(404, "no such location")
        return ok(done.view())

    async def unassigned(self, request: Request) -> Response:
        return ok(await self.roaming.sites.unassigned())

    async def list_tariffs(self, request: Request) -> Response:
        async with self.roaming.sites.sessions() as session:
            rows = (
                await session.execute(
                    select(Tariff).where(col(Tariff.deleted).is_(False)).order_by(col(Tariff.id))
                )
            ).scalars()
            return ok([tariff_object(t) for t in rows])

    async def upsert_tariffs(self, request: Request) -> Response:
        done = await self.roaming.sites.upsert_tariffs(await self.raw_json(request))
        return ok([d.view() for d in done])

    async def delete_tariff(self, request: Request) -> Response:
        if not await self.roaming.sites.delete_tariff(request.path_params["tariff_id"]):
            raise Problem(404, "no such tariff")
        return Response(status_code=204)

    async def list_commands(self, request: Request) -> Response:
        limit = query_int(request, "limit", 100, 1, 1000)
        assert limit is not None
        return ok(await self.roaming.remote.recent(limit))

    async def list_sessions(self, request: Request) -> Response:
        limit = query_int(request, "limit", 100, 1, 1000)
        assert limit is not None
        status = request.query_params.get("status")
        return ok(await self.roaming.charging.recent(limit, status))

    async def get_session(self, request: Request) -> Response:
        found = await self.roaming.charging.view(request.path_params["session_id"])
        if found is None:
            raise Problem(404, "no such session")
        return ok(found)

    async def correct_session(self, request: Request) -> Response:
        try:
            found = await self.roaming.charging.correct_session(request.path_params["session_id"])
        except LookupError as e:
            raise Problem(409, "nothing to correct", str(e)) from e
        if found is None:
            raise Problem(404, "no such session")
        return ok(found, 201)

    async def push_status(self, request: Request) -> Response:
        party = await self.roaming.party(request.path_params["party_id"])
        assert party.id is not None
        async with self.roaming.sites.sessions() as session:
            return ok(await outbox.summary(session, party.id))

    async def resync_party(self, request: Request) -> Response:
        party = await self.roaming.registered(request.path_params["party_id"])
        assert party.id is not None
        return ok({"marked": await self.roaming.sites.resync(party.id)})

    async def retry_party(self, request: Request) -> Response:
        party = await self.roaming.registered(request.path_params["party_id"])
        assert party.id is not None
        async with self.roaming.sites.sessions.begin() as session:
            count = await outbox.retry_failed(session, party.id)
        self.roaming.outbox.wake()
        return ok({"retried": count})

    async def pull_tokens(self, request: Request) -> Response:
        full = request.query_params.get("full", "false").lower() in ("1", "true", "yes")
        return ok(await self.roaming.pull_tokens(request.path_params["party_id"], full))

    async def push_local_list(self, request: Request) -> Response:
        station_id = request.path_params["station_id"]
        await self.operations.station(station_id)
        assert self.roaming.local_lists is not None
        full = request.query_params.get("full", "true").lower() not in ("0", "false", "no")
        result = await self.roaming.local_lists.push(station_id, full=full)
        if result.outcome is not Outcome.ANSWERED:
            raise Problem(
                409 if result.outcome is Outcome.OFFLINE else 502,
                f"the charger did not take the list ({result.outcome.value})",
                result.error_description,
                error_code=result.error_code,
            )
        return ok({"status": result.status, "data": result.data})

    # -- plumbing ---------------------------------------------------------------------------------

    def guard(self, endpoint: Endpoint) -> Endpoint:
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

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, str, Endpoint, str, type[BaseModel] | None]] = [
            ("GET", "/stations", self.list_stations, "List stations", None),
            ("POST", "/stations", self.add_station, "Register a station", StationIn),
            (
                "GET",
                "/stations/{station_id}",
                self.get_station,
                "A station with its connectors",
                None,
            ),
            (
                "PATCH",
                "/stations/{station_id}",
                self.update_station,
                "Change a station's password or meter quirk",
                StationPatch,
            ),
            (
                "DELETE",
                "/stations/{station_id}",
                self.delete_station,
                "Remove a station without transactions",
                None,
            ),
            (
                "GET",
                "/stations/{station_id}/messages",
                self.messages,
                "The station's OCPP frames, newest first (?limit, ?before)",
                None,
            ),
            (
                "GET",
                "/stations/{station_id}/transactions",
                self.transactions,
                "The station's transactions, newest first",
                None,
            ),
            (
                "POST",
                "/stations/{station_id}/commands/{name}",
                self.command,
                "Send a command to the charger",
                None,
            ),
            (
                "POST",
                "/stations/{station_id}/local-list",
                self.push_local_list,
                "Send the charger its local authorization list (?full=false: only changes)",
                None,
            ),
            ("GET", "/transactions", self.transactions, "All transactions, newest first", None),
            (
                "GET",
                "/transactions/{transaction_id:int}",
                self.transaction,
                "A transaction with its meter samples",
                None,
            ),
            (
                "GET",
                "/events",
                self.events,
                "The domain event log from a cursor (?after, ?limit, ?station_id)",
                None,
            ),
            ("GET", "/tokens", self.list_tokens, "Locally authorized id tokens", None),
            ("POST", "/tokens", self.add_token, "Authorize an id token locally", TokenIn),
            ("DELETE", "/tokens/{uid}", self.delete_token, "Remove a local id token (?type)", None),
            ("GET", "/locations", self.list_locations, "Locations as eMSPs see them", None),
            (
                "POST",
                "/locations",
                self.upsert_locations,
                "Create or update Locations (an OCPI Location or a list; each EVSE names station_id and ocpp_evse_id)",
                None,
            ),
            ("GET", "/locations/{location_id}", self.get_location, "One Location", None),
            (
                "PUT",
                "/locations/{location_id}",
                self.put_location,
                "Create or replace one Location",
                None,
            ),
            (
                "POST",
                "/locations/{location_id}/publish",
                self.publish_location,
                "Publish a Location",
                None,
            ),
            (
                "POST",
                "/locations/{location_id}/unpublish",
                self.publish_location,
                "Hide a Location (publish false)",
                None,
            ),
            ("GET", "/unassigned", self.unassigned, "Charger EVSEs bound to no Location yet", None),
            ("GET", "/tariffs", self.list_tariffs, "Tariffs", None),
            (
                "POST",
                "/tariffs",
                self.upsert_tariffs,
                "Create or update Tariffs (one or a list)",
                None,
            ),
            (
                "DELETE",
                "/tariffs/{tariff_id}",
                self.delete_tariff,
                "Remove a Tariff (DELETE pushed)",
                None,
            ),
            (
                "GET",
                "/sessions",
                self.list_sessions,
                "OCPI Sessions with their CDRs, newest first (?limit, ?status)",
                None,
            ),
            (
                "GET",
                "/sessions/{session_id}",
                self.get_session,
                "One Session with its flags and CDRs",
                None,
            ),
            (
                "POST",
                "/sessions/{session_id}/correct",
                self.correct_session,
                "Credit the session's CDR and issue a new one from the data as it is now",
                None,
            ),
            (
                "GET",
                "/commands",
                self.list_commands,
                "eMSP commands, newest first, with their results (?limit)",
                None,
            ),
            ("GET", "/parties", self.list_parties, "OCPI parties (eMSP peers)", None),
            (
                "POST",
                "/parties/invitations",
                self.invite_party,
                "Invite a peer: a token A and our versions URL for it to register with",
                InvitationIn,
            ),
            (
                "POST",
                "/parties/registrations",
                self.register_party,
                "Register with a peer from its versions URL and token A",
                RegistrationIn,
            ),
            ("GET", "/parties/{party_id:int}", self.get_party, "One party", None),
            (
                "DELETE",
                "/parties/{party_id:int}",
                self.unregister_party,
                "Unregister: tell the peer, drop both tokens",
                None,
            ),
            (
                "POST",
                "/parties/{party_id:int}/suspend",
                self.suspend_party,
                "Stop all traffic with a party",
                None,
            ),
            (
                "POST",
                "/parties/{party_id:int}/resume",
                self.resume_party,
                "Resume a suspended party",
                None,
            ),
            (
                "POST",
                "/parties/{party_id:int}/rotate",
                self.rotate_party,
                "New tokens both ways (credentials PUT)",
                None,
            ),
            (
                "PUT",
                "/parties/{party_id:int}/origins",
                self.party_origins,
                "The origins a party may be called at besides its versions URL's",
                OriginsIn,
            ),
            (
                "POST",
                "/parties/{party_id:int}/move/approve",
                self.approve_move,
                "Let a party move to the origin its new versions URL is on",
                None,
            ),
            (
                "POST",
                "/parties/{party_id:int}/move/reject",
                self.reject_move,
                "Keep a party where it is; forget the move it asked for",
                None,
            ),
            (
                "GET",
                "/parties/{party_id:int}/push",
                self.push_status,
                "Pushes to a party: pending, failed, delivered, oldest pending age",
                None,
            ),
            (
                "POST",
                "/parties/{party_id:int}/resync",
                self.resync_party,
                "Send every Location and Tariff to the party again",
                None,
            ),
            (
                "POST",
                "/parties/{party_id:int}/retry",
                self.retry_party,
                "Try refused pushes again",
                None,
            ),
            (
                "POST",
                "/parties/{party_id:int}/tokens/pull",
                self.pull_tokens,
                "Fetch the party's tokens (changes since the last pull; ?full=true for all)",
                None,
            ),
            (
                "GET",
                "/parties/{party_id:int}/requests",
                self.party_requests,
                "The party's OCPI requests in and out, newest first (?limit, ?before)",
                None,
            ),
        ]
        routes: list[BaseRoute] = [
            Route(path, self.guard(fn), methods=[method]) for method, path, fn, _, _ in table
        ]
        document = openapi(table)
        routes.append(Route("/openapi.json", lambda request: ok(document), methods=["GET"]))
        return routes


def openapi(table: list[tuple[str, str, Endpoint, str, type[BaseModel] | None]]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, _, summary, model in table:
        op: dict[str, Any] = {
            "summary": summary,
            "security": [{"bearer": []}],
            "responses": {
                "200": {"description": "OK"},
                "401": {"description": "missing or wrong bearer token"},
            },
        }
        if model is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": model.model_json_schema()}},
            }
        if path.endswith("/commands/{name}"):
            op["requestBody"] = {
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [c.model_json_schema() for c in COMMANDS.values()]}
                    }
                }
            }
            op["parameters"] = [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": sorted(COMMANDS)},
                }
            ]
        paths.setdefault(path.replace(":int", ""), {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "CPO platform admin API", "version": "1"},
        "servers": [{"url": "/admin/api"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
