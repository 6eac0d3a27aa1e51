"""The compiled schemas (fastjsonschema) accept exactly what the jsonschema validators accept.

The connection trusts the compiled copy of each shaped schema to accept a CALL and asks
jsonschema only about a rejected one (for the error OCPP answers), so a payload the two judged
differently would be either let through unchecked or refused with no reason to give. The
payloads are generated from the same shaped schemas, mostly valid and mutated at every level:
wrong types, integers at and beyond the 32- and 64-bit widths, values outside the enums and
lengths, required fields dropped, fields the schema does not name, nulls and numbers sent as
strings (the lenient handlers' forms).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.handlers import Routes
from csms.v16.handlers import ChargePoint16
from csms.v201.handlers import ChargePoint201
from csms.validation import _DECIMAL, _INTEGER, Leniency, PayloadChecker, checker
from tests.helpers.wire import typed

HOT = {
    "1.6": (
        ChargePoint16,
        [
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "StartTransaction",
            "StopTransaction",
            "Authorize",
        ],
    ),
    "2.0.1": (
        ChargePoint201,
        ["Heartbeat", "StatusNotification", "MeterValues", "TransactionEvent", "Authorize"],
    ),
}
CASES = [(version, action) for version, (_, actions) in HOT.items() for action in actions]

_EDGES = [
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
]
_JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


def _mostly(
    valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any], odds: int
) -> st.SearchStrategy[Any]:
    """`valid`, and one time in `odds` `other` (so that whole payloads pass often enough)."""
    return _rarely(odds).flatmap(lambda mutate: other if mutate else valid)


def _rarely(odds: int) -> st.SearchStrategy[bool]:
    """True one time in `odds` (the middle value: hypothesis favours the ends of a range)."""
    return st.integers(0, odds - 1).map(lambda n: n == odds // 2)


def _wrong() -> st.SearchStrategy[Any]:
    """A value of some other JSON kind than the one the schema names."""
    return st.one_of(
        _JSON_LEAVES,
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


def _integer(node: dict[str, Any], odds: int) -> st.SearchStrategy[Any]:
    low = node.get("minimum", -(2**31))
    edges = st.one_of(
        st.sampled_from(_EDGES),
        st.integers(min_value=-(2**65), max_value=2**65),
        st.floats(min_value=-(2**64), max_value=2**64),
        st.sampled_from([1.0, 2.5, -0.5, 2147483647.5, 9223372036854775807.0]),
        st.sampled_from(["1", " 12 ", "-3", "1.5", "x", "", "2147483648"]),
    )
    return _mostly(st.integers(min_value=low, max_value=low + 1000), edges, max(3, odds // 8))


def _number(odds: int) -> st.SearchStrategy[Any]:
    valid = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-1000, 1000))
    other = st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64),
        st.sampled_from(["1.5", " -2 ", "1e3", ".5", "x", ""]),
    )
    return _mostly(valid, other, odds)


def _string(node: dict[str, Any], odds: int) -> st.SearchStrategy[Any]:
    if "enum" in node:
        bogus = st.sampled_from(["", "Bogus", node["enum"][0].lower()])
        return _mostly(st.sampled_from(node["enum"]), bogus, max(6, odds // 4))
    limit = node.get("maxLength")
    # (Hypothesis draws no text of tens of thousands: a certificate chain's limit stays unmet.)
    sizes = (
        st.text(max_size=12)
        if limit is None or limit > 5000
        else st.text(min_size=limit, max_size=limit + 1)
    )
    decimals = st.sampled_from(["123.4", " 1e3 ", "+.5", "-7", "١٢"])
    other = st.one_of(sizes, st.sampled_from(["1.2.3", "abc", ""]))
    return _mostly(st.one_of(st.text(max_size=min(12, limit or 12)), decimals), other, odds)


def _value(
    node: dict[str, Any], root: dict[str, Any], depth: int, odds: int
) -> st.SearchStrategy[Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        node = root["definitions"][ref.removeprefix("#/definitions/")]
    kind = node.get("type")
    if depth > 8 or not node:
        return _JSON_LEAVES
    if kind == "object":
        valid = _object(node, root, depth, odds)
    elif kind == "array" and isinstance(node.get("items"), dict):
        least = node.get("minItems", 0)
        items = _value(node["items"], root, depth + 1, odds)
        valid = _mostly(
            st.lists(items, min_size=least, max_size=least + 2), st.lists(items, max_size=3), odds
        )
    elif kind == "integer":
        valid = _integer(node, odds)
    elif kind == "number":
        valid = _number(odds)
    elif kind == "string":
        valid = _string(node, odds)
    elif kind == "boolean":
        valid = st.booleans()
    else:
        valid = _JSON_LEAVES
    return _mostly(valid, _wrong(), odds)


def _object(
    node: dict[str, Any], root: dict[str, Any], depth: int, odds: int
) -> st.SearchStrategy[Any]:
    properties = node.get("properties") or {}
    required = [name for name in node.get("required", []) if name in properties]
    optional = [name for name in properties if name not in required]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        names = (
            required + draw(st.lists(st.sampled_from(optional), unique=True))
            if optional
            else required
        )
        result: dict[str, Any] = {}
        for name in names:
            if draw(_rarely(odds)):
                continue  # a required field dropped now and then
            if draw(_rarely(odds)):
                result[name] = None  # a null a lenient handler forgives
            else:
                result[name] = draw(_value(properties[name], root, depth + 1, odds))
        if draw(_rarely(odds)):
            result["vendorField"] = draw(_JSON_LEAVES)  # a field the schema does not name
        return result

    return build()


def _payloads(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads with one mutation in `odds` choices, for a mutation rate drawn per payload."""
    return st.sampled_from([4, 25, 10**6]).flatmap(lambda odds: _object(schema, schema, 0, odds))


def _checker_of(version: str, action: str) -> PayloadChecker:
    cls, _ = HOT[version]
    return checker(version, action, Routes(cls.__new__(cls)).leniency(action))


@pytest.mark.parametrize(("version", "action"), CASES)
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_compiled_schema_accepts_exactly_what_jsonschema_accepts(
    version: str, action: str, data: st.DataObject
) -> None:
    check = _checker_of(version, action)
    schema = check.schema
    payload = check.forgive(data.draw(_payloads(schema)))
    error = check.explain(payload)
    assert check.accepts(payload) == (error is None), (payload, error and error.message)


@pytest.mark.parametrize(("version", "action"), CASES)
def test_generated_payloads_include_accepted_and_rejected_ones(version: str, action: str) -> None:
    """The property above is not vacuous: the generator reaches both verdicts for each action."""
    check = _checker_of(version, action)
    schema = check.schema
    verdicts: set[bool] = set()

    @settings(
        max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def sample(data: st.DataObject) -> None:
        verdicts.add(check.accepts(check.forgive(data.draw(_payloads(schema)))))

    sample()
    assert verdicts == {True, False}


# The payload a lenient handler sees (PayloadChecker.forgive) is worked out from a plan
# compiled once per schema and shares with the payload whatever it need not change. It must
# be exactly what the recursive walk of the schema it replaced gave, for every payload: the
# same values of the same types, or the same exception (an integer string too long for int()).


def _nested(depth: int) -> Any:
    value: Any = None
    for level in range(depth):
        value = {"a": value, "b": None} if level % 2 else [value, None]
    return value


def _reference_forgiven(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """The walk `forgive` was before it was compiled, as it was."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        schema = root["definitions"][ref.removeprefix("#/definitions/")]
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        return {
            key: _reference_forgiven(item, properties[key], root) if key in properties else item
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_reference_forgiven(item, schema["items"], root) for item in value]
    if isinstance(value, str):
        kind = schema.get("type")
        if kind == "integer" and _INTEGER.fullmatch(value):
            # Since: a string int() refuses (past 4,300 digits) stays a string, a wrong type
            # to the schema, instead of a ValueError no one answered.
            return int(value) if len(value.strip().lstrip("+-")) <= 4300 else value
        if kind == "number" and _DECIMAL.fullmatch(value):
            return float(value)
    return value


def _outcome(forgive: Any, payload: Any) -> Any:
    try:
        return ("returned", typed(forgive(payload)))
    except Exception as error:
        return ("raised", type(error), str(error))


# What a charger may put anywhere: nulls, numbers as strings (one too long for int()), objects
# holding nulls, lists holding nulls, objects and lists, and objects nested deeper than any
# schema.
_ODD = st.one_of(
    st.none(),
    st.sampled_from(["1", " -12 ", "1.5", "1e3", ".5", "١٢", "x", "", "9" * 5000, "9" * 4300]),
    st.dictionaries(st.sampled_from(["a", "value", "unit", "id"]), _JSON_LEAVES, max_size=3),
    st.lists(st.one_of(st.none(), _JSON_LEAVES, st.just({"a": None})), max_size=3),
    st.just({"deep": [{"deeper": {"x": None, "deepest": [None, {"y": None}]}}]}),
)


def _sprinkled(value: Any, draw: st.DrawFn, odds: int) -> Any:
    """`value` with odd things put in its objects and lists, one time in `odds` per place."""
    if isinstance(value, dict):
        result = {key: _sprinkled(item, draw, odds) for key, item in value.items()}
        for key in list(result):
            if draw(_rarely(odds)):
                result[key] = draw(_ODD)
        if draw(_rarely(odds)):
            result[draw(st.sampled_from(["vendorField", "customData"]))] = draw(_ODD)
        return result
    if isinstance(value, list):
        result_list = [_sprinkled(item, draw, odds) for item in value]
        if draw(_rarely(odds)):
            result_list.insert(draw(st.integers(0, len(result_list))), draw(_ODD))
        return result_list
    return value


def _odd_payloads(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        payload = draw(_payloads(schema))
        return _sprinkled(payload, draw, draw(st.sampled_from([3, 8, 10**6])))

    return build()


def _lenient_cases() -> list[tuple[str, str, Leniency]]:
    cases = []
    for version, cls in (("1.6", ChargePoint16), ("2.0.1", ChargePoint201)):
        routes = Routes(cls.__new__(cls))
        cases += [(version, a, lenient) for a in routes if (lenient := routes.leniency(a))]
    return cases


def _all_actions() -> list[tuple[str, str]]:
    """Every action a charger's CALL is checked for (all our handlers, not only the hot ones).

    Not the schemas of the CALLs we send: the library caches each schema it reads under its
    name alone, and a 1.6 SetChargingProfile read here (floats) would be the one its own
    outgoing calls were then validated with (Decimals).
    """
    return [
        (version, action)
        for version, cls in (("1.6", ChargePoint16), ("2.0.1", ChargePoint201))
        for action in Routes(cls.__new__(cls))
    ]


def _hold_forgive_to_reference(check: PayloadChecker, payload: Any) -> None:
    before = typed(payload)
    schema = check.schema
    expected = _outcome(lambda p: _reference_forgiven(p, schema, schema), payload)
    assert _outcome(check.forgive, payload) == expected, payload
    assert typed(payload) == before  # never changed in place
    if expected == ("returned", before):
        # Nothing to forgive: the payload itself, not a copy (the point of the compiled plan).
        assert check.forgive(payload) is payload


@pytest.mark.parametrize(("version", "action", "lenient"), _lenient_cases())
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_forgive_gives_what_the_recursive_walk_gave(
    version: str, action: str, lenient: Leniency, data: st.DataObject
) -> None:
    check = checker(version, action, lenient)
    _hold_forgive_to_reference(check, data.draw(_odd_payloads(check.schema)))


@pytest.mark.parametrize(("version", "action"), _all_actions())
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_forgive_gives_what_the_recursive_walk_gave_for_every_handler(
    version: str, action: str, data: st.DataObject
) -> None:
    """Every handler's schema, each `$ref` and nesting of theirs, with a leniency."""
    check = checker(version, action, Leniency(open_enums=frozenset({"status"})))
    _hold_forgive_to_reference(check, data.draw(_odd_payloads(check.schema)))


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"connectorId": "1", "transactionId": " 7 ", "meterValue": None},
        {"connectorId": 1, "meterValue": [None, "x", 3, [None], {"sampledValue": [None]}]},
        {"connectorId": "9" * 5000, "transactionId": "8" * 4400},  # int() refuses both: strings
        {"meterValue": [{"sampledValue": [{"value": None, "unit": None}]}], "x": {"a": None}},
        {"meterValue": {"timestamp": None}, "connectorId": {"a": None, "b": [None]}},
        {"connectorId": 1, "vendor": _nested(200), "meterValue": [{"timestamp": _nested(200)}]},
    ],
)
def test_forgive_handles_odd_payloads_as_the_recursive_walk_did(payload: dict[str, Any]) -> None:
    for version, action, lenient in _lenient_cases():
        check = checker(version, action, lenient)
        _hold_forgive_to_reference(check, payload)


def test_forgive_returns_the_payload_itself_when_nothing_is_forgiven() -> None:
    check = _checker_of("1.6", "MeterValues")
    plain = {
        "connectorId": 1,
        "transactionId": 12,
        "meterValue": [
            {"timestamp": "2026-05-01T10:00:00Z", "sampledValue": [{"value": "1.5", "unit": "Wh"}]}
        ],
    }
    assert check.forgive(plain) is plain
    forgiven = check.forgive(plain | {"connectorId": "1"})
    assert forgiven == plain and forgiven["meterValue"] is plain["meterValue"]


def test_forgive_walks_no_deeper_than_the_schema() -> None:
    """Nesting deeper than Python's recursion limit (a hostile charger's) where the schema
    names nothing: left as it is, as the recursive walk left it."""
    deep = _nested(5000)
    for version, action, lenient in _lenient_cases():
        check = checker(version, action, lenient)
        payload = {"vendor": deep, "meterValue": [{"timestamp": deep, "sampledValue": [deep]}]}
        schema = check.schema
        for forgiven in (check.forgive(payload), _reference_forgiven(payload, schema, schema)):
            assert forgiven["vendor"] is deep


@pytest.mark.parametrize(("version", "action"), _all_actions())
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_compiled_schema_accepts_exactly_what_jsonschema_accepts_for_every_handler(
    version: str, action: str, data: st.DataObject
) -> None:
    """Every handler's schema, with its `$ref`s inlined for the compiled copy."""
    check = checker(version, action, None)
    payload = data.draw(_payloads(check.schema))
    error = check.explain(payload)
    assert check.accepts(payload) == (error is None), (payload, error and error.message)
