"""Checking received JSON against the OCPI models, PATCH bodies included, as readable messages."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from simulators.emsp import models, models_v211, models_v230
from simulators.emsp.models import OcpiModel

# PATCH merges nested lists per item, in every version: (model, field) -> (item model, key).
NESTED = models.NESTED | models_v211.NESTED | models_v230.NESTED


def problems(model: type[OcpiModel], data: Any, where: str | None = None) -> list[str]:
    """Every way data fails to be a valid `model`, one message each; [] when it is valid."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [_describe(where or model.__name__, error) for error in exc.errors()]
    return []


def list_problems(model: type[OcpiModel], data: Any) -> list[str]:
    if not isinstance(data, list):
        return [f"expected a JSON array of {model.__name__}, got {type(data).__name__}"]
    found: list[str] = []
    for i, item in enumerate(data):
        found += problems(model, item, f"{model.__name__}[{i}]")
    return found


def patch_problems(
    model: type[OcpiModel], body: Any, *, last_updated: bool = True, where: str | None = None
) -> list[str]:
    """Check only the fields a PATCH carries, each against its type; nested lists per item."""
    name = where or f"{model.__name__} PATCH"
    if not isinstance(body, dict):
        return [f"{name}: expected a JSON object, got {type(body).__name__}"]
    found: list[str] = []
    if last_updated and "last_updated" not in body:
        found.append(f"{name}: last_updated is required in a PATCH")
    for field, value in body.items():
        if field not in model.model_fields:
            continue  # OCPI allows fields it does not define
        nested = NESTED.get((model, field))
        if nested and isinstance(value, list):
            item_model, key = nested
            for i, item in enumerate(value):
                at = f"{name}.{field}[{i}]"
                if not isinstance(item, dict) or key not in item:
                    found.append(f"{at}: each item needs its {key} to be merged")
                    continue
                found += patch_problems(item_model, item, last_updated=False, where=at)
            continue
        try:
            _adapter(model, field).validate_python(value, strict=True)
        except ValidationError as exc:
            found += [_describe(f"{name}.{field}", error) for error in exc.errors()]
    return found


def merge(stored: dict[str, Any], patch: dict[str, Any], model: type[OcpiModel]) -> dict[str, Any]:
    """Apply a PATCH: fields replace fields; nested evses/connectors merge per uid/id."""
    merged = dict(stored)
    for field, value in patch.items():
        nested = NESTED.get((model, field))
        current = merged.get(field)
        if nested and isinstance(value, list) and isinstance(current, list):
            item_model, key = nested
            items = list(current)
            for change in value:
                index = _index(items, key, change.get(key))
                if index is None:
                    items.append(change)
                else:
                    items[index] = merge(items[index], change, item_model)
            merged[field] = items
        else:
            merged[field] = value
    return merged


def find(items: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any] | None:
    index = _index(items, key, value)
    return None if index is None else items[index]


def _index(items: list[Any], key: str, value: Any) -> int | None:
    """Position of the item whose key equals value (CiString: case-insensitive)."""
    wanted = str(value).upper()
    for i, item in enumerate(items):
        if isinstance(item, dict) and str(item.get(key)).upper() == wanted:
            return i
    return None


@cache
def _adapter(model: type[OcpiModel], field: str) -> TypeAdapter[Any]:
    info = model.model_fields[field]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def _describe(where: str, error: ErrorDetails) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{where}{path}: required field missing"
    if error["type"] == "value_error":  # our own checks already quote the value
        return f"{where}{path}: {message}"
    shown = repr(error["input"])
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{where}{path}: {message} (got {shown})"
