"""Field types: coercion from form and JSON input, checks, dumps and JSON Schemas."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from jsonschema import Draft202012Validator

from apploom.engine.definitions.building import parse_field
from apploom.engine.fields.base import FieldType, Invalid
from apploom.engine.fields.registry import FieldTypes

TYPES = FieldTypes()


def coerce(spec: dict, value):
    field = parse_field("shop", "x", spec)
    ftype = TYPES[field.type]
    result = ftype.coerce(field, value)
    ftype.check(field, result)
    return result


@pytest.mark.parametrize(
    "spec, raw, expected",
    [
        ({"type": "text"}, "héllo 你好", "héllo 你好"),
        ({"type": "text"}, 42, "42"),
        ({"type": "integer"}, " 12 ", 12),
        ({"type": "integer"}, Decimal("3"), 3),
        ({"type": "decimal"}, "1,234.5", Decimal("1234.5000")),
        ({"type": "money"}, 0.1, Decimal("0.10")),
        ({"type": "money"}, "19.9", Decimal("19.90")),
        ({"type": "percent"}, "12.5", Decimal("12.50")),
        ({"type": "boolean"}, "on", True),
        ({"type": "boolean"}, "否", False),
        ({"type": "boolean"}, 0, False),
        ({"type": "date"}, "2026-02-28", date(2026, 2, 28)),
        (
            {"type": "datetime"},
            "2026-02-28T10:00:00+08:00",
            datetime(2026, 2, 28, 2, 0, tzinfo=timezone.utc),
        ),
        (
            {"type": "datetime"},
            "2026-02-28T10:00:00Z",
            datetime(2026, 2, 28, 10, tzinfo=timezone.utc),
        ),
        ({"type": "select", "options": ["a", "b"]}, "b", "b"),
        ({"type": "multiselect", "options": ["a", "b"]}, "b,a,b", ["b", "a"]),
        ({"type": "email"}, " li@example.cn ", "li@example.cn"),
        ({"type": "phone"}, "+86 138-0000-0000", "+86 138-0000-0000"),
        ({"type": "url"}, "https://example.com/a?b=1", "https://example.com/a?b=1"),
        ({"type": "ref", "to": "crm.customer"}, "7", 7),
        ({"type": "ref", "to": "crm.customer"}, {"id": 7}, 7),
        ({"type": "ref", "to": "crm.customer"}, "7.0", 7),
        ({"type": "user"}, 3, 3),
        (
            {"type": "attachment"},
            "0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdef",
        ),
        ({"type": "rich_text"}, '<p onclick="x()">hi<script>alert(1)</script></p>', "<p>hi</p>"),
    ],
)
def test_coercion(spec, raw, expected):
    assert coerce(spec, raw) == expected


@pytest.mark.parametrize(
    "spec, raw, message",
    [
        ({"type": "text", "length": 3}, "abcd", "at most 3 are allowed"),
        ({"type": "text", "pattern": "[A-Z]+"}, "abc", "does not match"),
        ({"type": "text"}, ["a"], "must be text"),
        ({"type": "integer"}, "1.5", "must be a whole number"),
        ({"type": "integer"}, True, "not true/false"),
        ({"type": "integer", "min": 1}, 0, "must be at least 1"),
        ({"type": "integer", "max": 5}, 6, "must be at most 5"),
        ({"type": "decimal"}, "abc", "must be a number"),
        ({"type": "decimal"}, "NaN", "must be a number"),
        ({"type": "money"}, "1.001", "at most 2 decimal places"),
        ({"type": "money"}, "1e30", "is too large"),
        ({"type": "boolean"}, "perhaps", "must be true or false"),
        ({"type": "date"}, "31/01/2026", "must be a date"),
        ({"type": "datetime"}, "soon", "must be a date and time"),
        ({"type": "select", "options": ["a"]}, "z", "'z' is not an option"),
        ({"type": "multiselect", "options": ["a"]}, [1], "must be a list of options"),
        ({"type": "email"}, "not-an-email", "not a valid email"),
        ({"type": "phone"}, "call me", "not a valid phone"),
        ({"type": "url"}, "javascript:alert(1)", "not a valid web address"),
        ({"type": "ref", "to": "crm.customer"}, -1, "must be the id of a record"),
        ({"type": "ref", "to": "crm.customer"}, "7.5", "must be the id of a record"),
        ({"type": "attachment"}, "../../etc/passwd", "must be the id of an uploaded file"),
    ],
)
def test_refusals(spec, raw, message):
    with pytest.raises(Invalid, match=message):
        coerce(spec, raw)


@pytest.mark.parametrize(
    "pattern, bad, good",
    [("(a+)+", "a" * 200 + "b", "a" * 200), ("(x+x+)+y", "x" * 250, "x" * 249 + "y")],
)
def test_patterns_match_in_linear_time(pattern, bad, good):
    """A backtracking engine would take exponential time on ``bad``; RE2 answers at once."""
    with pytest.raises(Invalid, match="does not match"):
        coerce({"type": "text", "pattern": pattern}, bad)
    assert coerce({"type": "text", "pattern": pattern}, good) == good


def test_every_type_has_a_valid_json_schema_and_a_column_unless_table():
    for name in TYPES.names():
        spec = {
            "type": name,
            "options": ["a"],
            "to": "crm.customer",
            "of": "oms.order_line",
            "format": "X-{###}",
        }
        field = parse_field("shop", "x", spec)
        ftype = TYPES[name]
        Draft202012Validator.check_schema(ftype.json_schema(field))
        assert (ftype.column_type(field) is not None) if ftype.has_column else name == "table"


def test_plugins_can_register_a_type_and_names_stay_unique():
    class Colour(FieldType):
        name = "colour"

    types = FieldTypes()
    types.register(Colour())
    assert "colour" in types.names()
    with pytest.raises(ValueError):
        types.register(Colour())


@pytest.mark.parametrize(
    "spec, value, lang, expected",
    [
        ({"type": "money"}, "1234.5", "zh", "¥1,234.50"),
        ({"type": "money"}, "1234.5", "en", "CN¥1,234.50"),
        ({"type": "money"}, "-2027705.51", "zh", "-¥2,027,705.51"),
        ({"type": "decimal"}, "1234.5670", "zh", "1,234.567"),
        ({"type": "integer"}, 1234567, "en", "1,234,567"),
        ({"type": "percent"}, "12.50", "en", "12.5%"),
        ({"type": "percent"}, "8.00", "zh", "8%"),
        ({"type": "boolean"}, True, "zh", "是"),
        ({"type": "date"}, "2026-12-02", "zh", "2026年12月2日"),
        ({"type": "date"}, "2026-12-02", "en", "Dec 2, 2026"),
        # in Shanghai: the next day, 01:00
        ({"type": "datetime"}, "2026-03-01T17:00:00Z", "zh", "2026年3月2日 01:00"),
        ({"type": "datetime"}, "2026-01-31T14:30:00Z", "en", "Jan 31, 2026, 10:30\u202fPM"),
        (
            {"type": "select", "options": [{"value": "a", "label": {"en": "A", "zh": "甲"}}]},
            "a",
            "zh",
            "甲",
        ),
        (
            {"type": "multiselect", "options": ["a", {"value": "b", "label": "Bee"}]},
            ["b", "a"],
            "en",
            "Bee, A",
        ),
        ({"type": "ref", "to": "crm.customer"}, 7, "en", "张三"),
        ({"type": "user"}, 8, "en", "#8"),
    ],
)
def test_each_type_shows_its_values(spec, value, lang, expected):
    field = parse_field("shop", "x", spec)
    assert TYPES[field.type].display(field, value, lang, {7: "张三"}) == expected


def test_spreadsheet_text_finds_options_by_label_and_defaults_resolve_per_record():
    options = ["small", {"value": "xl", "label": {"en": "Extra large", "zh": "特大"}}]
    one = parse_field("shop", "size", {"type": "select", "options": options})
    many = parse_field("shop", "sizes", {"type": "multiselect", "options": options})
    assert TYPES["select"].parse_text(one, "extra-large") == "xl"
    assert TYPES["multiselect"].parse_text(many, "特大，Small; huge") == ["xl", "small", "huge"]
    now = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)
    today = parse_field("shop", "on", {"type": "date", "default": "today"})
    me = parse_field("shop", "by", {"type": "user", "default": "me"})
    assert TYPES["date"].default(today, 5, now) == date(2026, 3, 2)  # 07:30 in Shanghai
    assert TYPES["user"].default(me, 5, now) == 5


def test_no_code_outside_the_field_types_switches_on_a_built_in_types_name():
    """The engine and the screens ask a field's type what it can do, so a plugin type
    behaves like a built-in one; a comparison of ``.type`` with a built-in name breaks that."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "apploom"
    names = set(FieldTypes().names())
    found = []
    for path in package.rglob("*.py"):
        if "fields" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            reads_type = any(isinstance(s, ast.Attribute) and s.attr == "type" for s in sides)
            constants = {c.value for s in sides for c in ast.walk(s) if isinstance(c, ast.Constant)}
            if reads_type and constants & names:
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert found == []
