"""Every CALL a charger sends, checked against its OCPP version's JSON schema before a handler sees it."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fastjsonschema
from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from ocpp.exceptions import (
    FormatViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.messages import MessageType, get_validator


@dataclass(frozen=True, slots=True)
class Leniency:
    """What a handler accepts beyond its message's schema, each for chargers known to send it.

    Any handler with a Leniency also takes a number sent as a string ("1" for 1) and a null
    for an optional field it would rather have left out; nothing else is relaxed unless named.
    """

    # Properties whose value may be any string: vendors extend these enums (an Alfen
    # `context`, `Hz` or `Celcius` as a unit, a stop reason of their own).
    open_enums: frozenset[str] = frozenset()
    # Properties whose value may be any JSON at all (a 1.6 DataTransfer's `data` as an object).
    any_value: frozenset[str] = frozenset()
    # Objects may carry fields the schema does not name (extra fields in Authorize).
    extra_fields: bool = False
    # Integer properties that may carry a decimal (a meterStop of 1234.5 Wh).
    decimals: frozenset[str] = frozenset()


# Ids of places are never negative; the schemas leave that to the specification's text.
_NOT_NEGATIVE = frozenset({"connectorId", "evseId", "EVSEType.id"})

# OCPP 2.0.1 defines `integer` as 32 bits; 1.6 names no width, and its integers go to the same
# 32-bit columns, except the registers in Wh and the transaction ids we issue (64-bit columns).
_WIDE_INTEGERS = {"1.6": frozenset({"meterStart", "meterStop", "transactionId"})}

# A 1.6 sampled value is a decimal number in a string unless its format is SignedData.
_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")

# Which code each version names for a violated keyword (the 1.6 spellings are applied when
# the error is sent). A value outside the type's width is a data type violation, like a string
# over its length: OCPP's types are `integer` (32 bits) and `CiString20`, not bare JSON.
_CODES: dict[str, type[OCPPError]] = {
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "minLength": TypeConstraintViolationError,
    "ocppWidth": TypeConstraintViolationError,
    "enum": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
    "multipleOf": PropertyConstraintViolationError,
    "ocppDecimal": PropertyConstraintViolationError,
    "minItems": OccurrenceConstraintViolationError,
    "maxItems": OccurrenceConstraintViolationError,
    "required": ProtocolError,
}


def _width(validator: Any, bits: int, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if isinstance(instance, int | float) and not isinstance(instance, bool):
        if not -(2 ** (bits - 1)) <= instance < 2 ** (bits - 1):
            yield ValidationError(f"{instance} does not fit a {bits}-bit integer")


def _decimal(validator: Any, on: bool, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if not (on and isinstance(instance, dict)) or instance.get("format") == "SignedData":
        return
    value = instance.get("value")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        yield ValidationError(f"{value!r} is not a decimal number", path=["value"])


_Validator = validators.extend(Draft4Validator, {"ocppWidth": _width, "ocppDecimal": _decimal})

# What a keyword-free copy of a shaped schema leaves out: Draft4Validator checks no `format`
# (we pass it no format checker) and fills no `default`, while fastjsonschema would do both;
# an `$id` URN would make it resolve `$ref`s against that URN.
_NOT_COMPILED = frozenset({"format", "default", "$id", "id", "ocppWidth", "ocppDecimal"})
# The keywords whose value is a schema, a list of schemas or a name -> schema map.
_SUBSCHEMA = frozenset({"items", "additionalProperties", "not"})
_SUBSCHEMAS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_MAPS = frozenset({"properties", "definitions", "patternProperties"})


def _plain(node: Any) -> Any:
    """A shaped schema in plain Draft 4 for fastjsonschema: `ocppWidth` as an inclusive minimum
    and an exclusive maximum (the same bounds as `_width`, for decimals too), `ocppDecimal` as
    "format is SignedData, or value (when a string) matches _DECIMAL"."""
    if not isinstance(node, dict):
        return node
    plain: dict[str, Any] = {}
    extra: list[dict[str, Any]] = []
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            plain[key] = {name: _plain(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS and isinstance(value, list):
            plain[key] = [_plain(sub) for sub in value]
        elif key in _SUBSCHEMA:
            plain[key] = _plain(value)
        elif key not in _NOT_COMPILED:
            plain[key] = value
    if bits := node.get("ocppWidth"):
        bound = 2 ** (bits - 1)
        extra.append({"minimum": -bound, "maximum": bound, "exclusiveMaximum": True})
    if node.get("ocppDecimal"):
        extra.append(
            {
                "anyOf": [
                    {"required": ["format"], "properties": {"format": {"enum": ["SignedData"]}}},
                    {"properties": {"value": {"pattern": rf"\A(?:{_DECIMAL.pattern})\Z"}}},
                ]
            }
        )
    if extra:
        plain["allOf"] = plain.get("allOf", []) + extra
    return plain


class PayloadChecker:
    """One action's request schema, as the library ships it, with our ranges and the handler's
    leniencies worked in."""

    __slots__ = ("_schema", "_validator", "_leniency", "_accepts")

    def __init__(self, version: str, action: str, leniency: Leniency | None) -> None:
        shipped = get_validator(MessageType.Call, action, version).schema
        self._leniency = leniency
        self._schema = _Shaper(version, leniency).shape(copy.deepcopy(shipped))
        self._validator = _Validator(self._schema)
        # The same schema compiled to Python once: it accepts what the jsonschema validator
        # accepts (tests/ocpp/test_compiled_validation.py) in a tenth of the time, and a
        # payload it rejects is checked again by jsonschema, whose best_match names the error
        # (code and cause) a charger has always been answered.
        # Draft 4, as the validator reads every schema (the 2.0.1 ones name draft 6).
        plain = _plain(self._schema) | {"$schema": "http://json-schema.org/draft-04/schema#"}
        self._accepts = fastjsonschema.compile(
            plain, use_default=False, use_formats=False, detailed_exceptions=False
        )

    def check(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload as the handler will see it; raises the OCPPError OCPP names for the
        first violation."""
        payload = self.forgive(payload)
        if self.accepts(payload):
            return payload
        error = self.explain(payload)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            cause = f"{where}: {error.message}" if where else error.message
            raise _CODES.get(str(error.validator), FormatViolationError)(details={"cause": cause})
        return payload

    @property
    def schema(self) -> dict[str, Any]:
        """The shaped schema (jsonschema's, with our keywords)."""
        return self._schema

    def forgive(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with what the handler's leniency forgives made plain (itself if none)."""
        if self._leniency is None:
            return payload
        forgiven: dict[str, Any] = _forgiven(payload, self._schema, self._schema)
        return forgiven

    def accepts(self, payload: dict[str, Any]) -> bool:
        """Whether the compiled schema accepts the payload (after any leniency's forgiving)."""
        try:
            self._accepts(payload)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def explain(self, payload: dict[str, Any]) -> ValidationError | None:
        """jsonschema's verdict on the same payload: the error OCPP answers, or None."""
        return best_match(self._validator.iter_errors(payload))


_checkers: dict[tuple[str, str, Leniency | None], PayloadChecker] = {}


def checker(version: str, action: str, leniency: Leniency | None) -> PayloadChecker:
    key = (version, action, leniency)
    if key not in _checkers:
        _checkers[key] = PayloadChecker(version, action, leniency)
    return _checkers[key]


class _Shaper:
    """Rewrites a shipped schema: integer widths, the ranges the spec states in prose, and the
    leniencies."""

    def __init__(self, version: str, leniency: Leniency | None) -> None:
        self.version = version
        self.wide = _WIDE_INTEGERS.get(version, frozenset())
        self.leniency = leniency

    def shape(self, root: dict[str, Any]) -> dict[str, Any]:
        for name, definition in (root.get("definitions") or {}).items():
            root["definitions"][name] = self._node(definition, name, None)
        return self._node(root, None, None)

    def _node(self, node: dict[str, Any], owner: str | None, prop: str | None) -> dict[str, Any]:
        lenient = self.leniency
        if lenient is not None and prop in lenient.any_value:
            return {}
        if lenient is not None and prop in lenient.open_enums:
            return {"type": "string"}
        if node.get("type") == "integer":
            if lenient is not None and prop in lenient.decimals:
                node["type"] = "number"
            node["ocppWidth"] = 64 if prop in self.wide else 32
            if prop in _NOT_NEGATIVE or f"{owner}.{prop}" in _NOT_NEGATIVE:
                node["minimum"] = max(node.get("minimum", 0), 0)
        if "properties" in node:
            node["properties"] = {
                name: self._node(sub, owner, name) for name, sub in node["properties"].items()
            }
            if lenient is not None and lenient.extra_fields:
                node.pop("additionalProperties", None)
            if self.version == "1.6" and {"value", "format"} <= node["properties"].keys():
                node["ocppDecimal"] = True
        if isinstance(node.get("items"), dict):
            node["items"] = self._node(node["items"], owner, None)
        return node


def _forgiven(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """The payload with a lenient handler's forgiven forms made plain: nulls dropped, numbers
    sent as strings made numbers (so that their ranges are checked as numbers)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        schema = root["definitions"][ref.removeprefix("#/definitions/")]
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        return {
            key: _forgiven(item, properties[key], root) if key in properties else item
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_forgiven(item, schema["items"], root) for item in value]
    if isinstance(value, str):
        kind = schema.get("type")
        if kind == "integer" and _INTEGER.fullmatch(value):
            return int(value)
        if kind == "number" and _DECIMAL.fullmatch(value):
            return float(value)
    return value
