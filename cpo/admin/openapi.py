"""The admin API's OpenAPI 3.1 document, built from its table of operations: every path and
query parameter, every body and answer as the pydantic models' JSON Schema."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from cpo.admin import views as v
from csms.commands import COMMANDS

Endpoint = Callable[[Request], Awaitable[Response]]
ID_MAX = (1 << 63) - 1  # the database's ids are signed 64-bit integers
PATH_PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")
PATH_PARAMETERS = {
    "station_id": "The charger's OCPP identity",
    "transaction_id": "The platform's transaction id",
    "uid": "The id token's uid",
    "location_id": "The Location's OCPI id",
    "tariff_id": "The Tariff's OCPI id",
    "session_id": "The OCPI Session id",
    "party_id": "The party's id on this platform",
    "campaign_id": "The firmware campaign's id",
    "name": "The command",
    "upload_id": "The upload's id (in the answer of get_diagnostics / get_log)",
}
ANSWERS = {200: "OK", 201: "Created", 204: "Done; no content"}
# The CDR list answers CSV too (format=csv, or Accept: text/csv).
ALSO_CSV = {"/cdrs"}
# Answers that are a file as it came, not JSON.
FILES = {"/uploads/{upload_id:int}"}


@dataclass(frozen=True)
class Operation:
    """One endpoint: its route, its query parameters, its body (a model, a list of one, or
    several that may be sent) and its answer (a model or a list of one; None: 204)."""

    method: str
    path: str
    endpoint: Endpoint
    summary: str
    answer: Any = None
    status: int = 200
    body: Any = None
    query: type[BaseModel] | None = None

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: {party_id}, not Starlette's {party_id:int}."""
        return PATH_PARAMETER.sub(r"{\1}", self.path)


def document(table: list[Operation]) -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], Any]] = [(v.Problem, "serialization")]
    for op in table:
        wanted += [(m, "serialization") for m in _models(op.answer)]
        wanted += [(m, "validation") for m in _models(op.body)]
    refs, top = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template="#/components/schemas/{model}"
    )
    problem = {
        "description": "A problem (RFC 9457)",
        "content": {
            "application/problem+json": {"schema": _schema(v.Problem, refs, "serialization")}
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for op in table:
        answer: dict[str, Any] = {"description": ANSWERS[op.status]}
        if op.answer is not None:
            content = {"application/json": {"schema": _schema(op.answer, refs, "serialization")}}
            if op.path in ALSO_CSV:
                content["text/csv"] = {
                    "schema": {"type": "string", "description": "A header row, one CDR a line"}
                }
            answer["content"] = content
        elif op.path in FILES:
            answer["content"] = {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            }
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(op),
            "tags": [op.path.split("/")[1]],
            "security": [{"bearer": []}],
            "parameters": _in_path(op) + _in_query(op),
            "responses": {
                str(op.status): answer,
                "401": problem | {"description": "Missing or wrong bearer token"},
                "4XX": problem,
            },
        }
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(op.body, refs, "validation")}},
            }
        paths.setdefault(op.template, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CPO platform admin API",
            "version": "1",
            "description": "Every call takes `Authorization: Bearer <admin token>`: the token"
            " the server printed at its first start, CPO_ADMIN_TOKEN, or one `cpo admin-token`"
            " issues. Errors are problem+json documents.",
        },
        "servers": [{"url": "/admin/api"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": top.get("$defs", {}),
        },
        "paths": paths,
    }


def _in_path(op: Operation) -> list[dict[str, Any]]:
    def schema(name: str, kind: str) -> dict[str, Any]:
        if kind == "int":
            return {"type": "integer", "minimum": 0, "maximum": ID_MAX}
        if name == "name":
            return {"enum": sorted(COMMANDS)}
        return {"type": "string"}

    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS.get(name, name),
            "schema": schema(name, kind),
        }
        for name, kind in PATH_PARAMETER.findall(op.path)
    ]


def _in_query(op: Operation) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    schema = op.query.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop.get("description", ""),
            "schema": {
                k: value
                for k, value in prop.items()
                if k not in ("description", "title") and not (k == "default" and value is None)
            },
        }
        for name, prop in schema["properties"].items()
    ]


def _operation_id(op: Operation) -> str:
    """get_stations_station_id_messages: unique, from the method and the path."""
    words = re.sub(r"[^a-z0-9]+", "_", PATH_PARAMETER.sub(r"\1", op.path).lower())
    return f"{op.method.lower()}{words}".rstrip("_")


def _models(shape: Any) -> list[type[BaseModel]]:
    if shape is None:
        return []
    if isinstance(shape, list):
        return [m for s in shape for m in _models(s)]
    if get_origin(shape) is list:
        return _models(get_args(shape)[0])
    return [shape]


def _schema(shape: Any, refs: dict[Any, Any], mode: str) -> dict[str, Any]:
    if isinstance(shape, list):
        return {"oneOf": [_schema(s, refs, mode) for s in shape]}
    if get_origin(shape) is list:
        return {"type": "array", "items": _schema(get_args(shape)[0], refs, mode)}
    return dict(refs[(shape, mode)])
