"""The JSON Schema for app definitions, and its errors in words an admin understands."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

from jsonschema import Draft202012Validator, ValidationError

from apploom.engine.definitions.reading import line_of
from apploom.engine.errors import Problem
from apploom.engine.fields.registry import FORMULA_RESULTS
from apploom.engine.messages import msg

NAME = "^[a-z][a-z0-9_]{0,39}$"
_PATTERN_WORDS = {
    NAME: msg(
        "must start with a lowercase letter and use only a-z, 0-9 and _ (at most 40 characters)"
    ),
    "^all$": msg("must be 'all' or a list of actions"),
    "^(created|updated|deleted)$": msg(
        "must be created, updated or deleted, or {{updated: [fields]}}, {{transition: name}}, "
        "{{schedule: '0 8 * * *'}} or {{webhook: name}}"
    ),
    "^(all|(read|create|update|delete)(:own)?)$": msg(
        "must be one of read, create, update, delete (optionally with ':own', "
        "e.g. 'update:own') or all"
    ),
    "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?$": msg(
        "must name an entity, like 'customer' or 'crm.customer'"
    ),
    "^[a-z][a-z0-9_]*$": msg("must name an entity of this app, like 'order_line'"),
    "^[a-z][a-z0-9_]{0,59}$": msg(
        "must name a template, prints/<name>.html, with a-z, 0-9 and _ only, like 'delivery_note'"
    ),
    "^/(?!/)[^{}]*\\{id\\}[^{}]*$": msg(
        "must be a path on this site with {{id}} for the record's id, like /a/oms/statement/{{id}}"
    ),
    "^[a-z0-9][a-z0-9_.@-]{1,63}$": msg("must be a username, or me"),
    "^\\{[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?\\}$": msg(
        "must name a user field, like '{{owner}}' or '{{order.owner}}'"
    ),
}
_TYPE_WORDS = {
    "string": msg("text"),
    "object": msg("a set of settings (key: value)"),
    "array": msg("a list"),
    "integer": msg("a whole number"),
    "number": msg("a number"),
    "boolean": msg("true or false"),
    "null": msg("empty"),
}


def _raw_schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("app.schema.json").read_text())


@lru_cache(maxsize=8)
def app_schema(type_names: tuple[str, ...]) -> dict:
    """The schema with the field types of the running registry (the shipped file lists
    the built-in ones; plugins add theirs)."""
    schema = copy.deepcopy(_raw_schema())
    schema["$defs"]["field"]["properties"]["type"]["enum"] = sorted({*type_names, "formula"})
    return schema


@lru_cache(maxsize=8)
def _validator(type_names: tuple[str, ...]) -> Draft202012Validator:
    return Draft202012Validator(app_schema(type_names))


def schema_problems(data: Any, file: str, lines: dict, type_names: Iterable[str]) -> list[Problem]:
    validator = _validator(tuple(sorted(type_names)))
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path, message = _explain(error)
        problems.append(Problem(file, ".".join(map(str, path)), line_of(lines, path), message))
    return problems


def _explain(error: ValidationError) -> tuple[tuple, str]:
    """Where the error is and what is wrong there, as a message."""
    path = tuple(error.absolute_path)
    # validation always sets these (the stubs also allow them unset, for errors made by hand);
    # the keyword in ``kind`` decides what the schema's value and the instance are
    kind = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    if "propertyNames" in error.schema_path:
        return path + (value,), msg(
            "'{name}' is not a valid name: {rule}", name=value, rule=_PATTERN_WORDS[NAME]
        )
    if kind == "additionalProperties":
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(known))
        if not known:
            return path + (extra[0],), msg("'{setting}' is not a known setting", setting=extra[0])
        return path + (extra[0],), msg(
            "'{setting}' is not a known setting; known settings here: {known}",
            setting=extra[0],
            known=", ".join(known),
        )
    if kind == "required":
        missing = [name for name in expected if name not in value]
        return path, msg("is missing '{setting}'", setting=missing[0])
    if kind == "enum":
        if path and path[-1] == "type":
            return path, msg(
                "'{value}' is not a field type; known types: {types}",
                value=value,
                types=", ".join(expected),
            )
        if path and path[-1] == "returns":
            return path, msg(
                "'{value}' cannot be a formula result; use one of: {results}",
                value=value,
                results=", ".join(FORMULA_RESULTS),
            )
        return path, msg(
            "'{value}' is not allowed; use one of: {allowed}",
            value=value,
            allowed=", ".join(map(str, expected)),
        )
    if kind == "type":
        wanted = [expected] if isinstance(expected, str) else expected
        return path, msg("must be {what}", what=_either([_TYPE_WORDS.get(w, w) for w in wanted]))
    if kind == "pattern":
        rule = _PATTERN_WORDS.get(expected) or msg("has the wrong format")
        return path, msg("'{value}' {rule}", value=value, rule=rule)
    if kind == "maximum":
        return path, msg(
            "{value} is too large; it must be at most {limit}", value=value, limit=expected
        )
    if kind == "minimum":
        return path, msg(
            "{value} is too small; it must be at least {limit}", value=value, limit=expected
        )
    if kind in ("minProperties", "minItems", "minLength"):
        return path, msg("must not be empty")
    if kind == "uniqueItems":
        return path, msg("lists the same name more than once")
    return path, error.message


def _either(words: list[str]) -> str:
    """'text or a list': the kinds a value may be, in the reader's language."""
    said = words[0]
    for other in words[1:]:
        said = msg("{one} or {other}", one=said, other=other)
    return said
