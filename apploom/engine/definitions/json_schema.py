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

NAME = "^[a-z][a-z0-9_]{0,39}$"
_PATTERN_WORDS = {
    NAME: "must start with a lowercase letter and use only a-z, 0-9 and _ (at most 40 characters)",
    "^all$": "must be 'all' or a list of actions",
    "^(created|updated|deleted)$": "must be created, updated or deleted, or "
    "{updated: [fields]}, {transition: name}, "
    "{schedule: '0 8 * * *'} or {webhook: name}",
    "^(all|(read|create|update|delete)(:own)?)$": (
        "must be one of read, create, update, delete (optionally with ':own', "
        "e.g. 'update:own') or all"
    ),
    "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?$": "must name an entity, like 'customer' or "
    "'crm.customer'",
    "^[a-z][a-z0-9_]*$": "must name an entity of this app, like 'order_line'",
    "^[a-z][a-z0-9_]{0,59}$": "must name a template, prints/<name>.html, with a-z, 0-9 "
    "and _ only, like 'delivery_note'",
    "^/(?!/)[^{}]*\\{id\\}[^{}]*$": "must be a path on this site with {id} for the record's "
    "id, like /a/oms/statement/{id}",
    "^[a-z0-9][a-z0-9_.@-]{1,63}$": "must be a username, or me",
    "^\\{[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?\\}$": "must name a user field, like '{owner}' "
    "or '{order.owner}'",
}
_TYPE_WORDS = {
    "string": "text",
    "object": "a set of settings (key: value)",
    "array": "a list",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
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
    path = tuple(error.absolute_path)
    # validation always sets these (the stubs also allow them unset, for errors made by hand);
    # the keyword in ``kind`` decides what the schema's value and the instance are
    kind = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    if "propertyNames" in error.schema_path:
        return path + (value,), f"'{value}' is not a valid name: {_PATTERN_WORDS[NAME]}"
    if kind == "additionalProperties":
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(known))
        hint = f"; known settings here: {', '.join(known)}" if known else ""
        return path + (extra[0],), f"'{extra[0]}' is not a known setting{hint}"
    if kind == "required":
        missing = [name for name in expected if name not in value]
        return path, f"is missing '{missing[0]}'"
    if kind == "enum":
        if path and path[-1] == "type":
            return path, (f"'{value}' is not a field type; known types: {', '.join(expected)}")
        if path and path[-1] == "returns":
            return (
                path,
                f"'{value}' cannot be a formula result; use one of: {', '.join(FORMULA_RESULTS)}",
            )
        return path, f"'{value}' is not allowed; use one of: {', '.join(map(str, expected))}"
    if kind == "type":
        wanted = [expected] if isinstance(expected, str) else expected
        return path, "must be " + " or ".join(_TYPE_WORDS.get(w, w) for w in wanted)
    if kind == "pattern":
        return path, f"'{value}' {_PATTERN_WORDS.get(expected, 'has the wrong format')}"
    if kind in ("maximum", "minimum"):
        return (
            path,
            f"{value} is too {'large' if kind == 'maximum' else 'small'}; "
            f"it must be at {'most' if kind == 'maximum' else 'least'} {expected}",
        )
    if kind in ("minProperties", "minItems", "minLength"):
        return path, "must not be empty"
    if kind == "uniqueItems":
        return path, "lists the same name more than once"
    return path, error.message
