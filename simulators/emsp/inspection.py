"""/_sim: plain JSON views of the simulator for people and scripts, and a few remote controls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulators.emsp.wire import OcpiError

if TYPE_CHECKING:
    from simulators.emsp.simulator import EmspSimulator


def routes(sim: EmspSimulator) -> list[BaseRoute]:
    async def received(request: Request) -> Response:
        return JSONResponse([r.to_json() for r in sim.received])

    async def violations(request: Request) -> Response:
        return JSONResponse([v.to_json() for v in sim.violations])

    async def state(request: Request) -> Response:
        return JSONResponse(sim.state())

    async def invite(request: Request) -> Response:
        return JSONResponse({"token": sim.invite(), "versions_url": sim.versions_url})

    async def register(request: Request) -> Response:
        body = await _json(request)
        try:
            credentials = await sim.register(str(body["versions_url"]), str(body["token"]))
        except (KeyError, TypeError):
            return JSONResponse({"error": "send {versions_url, token}"}, 400)
        except OcpiError as exc:
            return JSONResponse({"error": str(exc), "status_code": exc.status_code}, 502)
        return JSONResponse({"credentials": credentials, "cpo": sim.state()["cpo"]})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sim.clear_faults()
            return JSONResponse({"faults": []})
        body = await _json(request)
        try:
            sim.fault(
                str(body["kind"]),
                count=body.get("count"),
                delay=float(body.get("delay", 0.0)),
                modules=body.get("modules"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"send {{kind, count?, delay?, modules?}}: {exc}"}, 400)
        return JSONResponse({"faults": sim.state()["faults"]})

    return [
        Route("/_sim/received", received),
        Route("/_sim/violations", violations),
        Route("/_sim/state", state),
        Route("/_sim/invite", invite, methods=["POST"]),
        Route("/_sim/register", register, methods=["POST"]),
        Route("/_sim/faults", faults, methods=["POST", "DELETE"]),
    ]


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}
