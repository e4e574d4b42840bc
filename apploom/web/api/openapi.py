"""The OpenAPI 3.1 document, generated from the live definitions."""

from __future__ import annotations

import re
from dataclasses import replace

from apploom.engine.definitions.model import AppSet, Entity, Field, Section
from apploom.engine.fields.base import MAX_INT
from apploom.engine.fields.links import ME
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.fields.text import NO_NUL
from apploom.engine.imports.jobs import KIND as IMPORT
from apploom.engine.imports.templates import TEMPLATE_TYPES
from apploom.engine.jobs.service import RECENT, STATUSES
from apploom.engine.query.filters import (
    MAX_CURSOR,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_SEARCH,
    RESERVED_PARAMS,
    SYSTEM_FIELDS,
)
from apploom.engine.records.idempotency import MAX_KEY
from apploom.engine.records.service import COUNT_LIMIT
from apploom.engine.reports.definition import BUCKETS
from apploom.engine.workflow.bulk import KIND as TRANSITION
from apploom.engine.workflow.bulk import MAX_IDS
from apploom.engine.workflow.service import MAX_COMMENT
from apploom.web.reports import MAX_STUCK_HOURS


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


ERRORS = {
    "400": "A bad query parameter or body, named in fields",
    "401": "No valid API token",
    "403": "Your roles may not do this",
    "404": "No such record, transition or file",
    "409": "The record changed since you read it, or is in a state that does not allow this",
    "412": "The If-Match version is not the record's",
    "422": "Invalid input, each field at fault named in fields",
    "429": "Too many attempts: wait Retry-After seconds",
}


def _errors(*codes: str) -> dict:
    """The error answers an operation can give; every one needs a token, and a client
    whose sign-ins keep failing is refused for a while."""
    return {c: {"$ref": f"#/components/responses/E{c}"} for c in sorted({"401", "429", *codes})}


READ_ERRORS = _errors("400", "403", "404")
WRITE_ERRORS = _errors("400", "403", "404", "409", "412", "422")
ETAG = "The record's version: send it as If-Match to change it only if nobody did since"


def _schema_name(entity: Entity) -> str:
    return entity.qualified.replace(".", "_")


def entity_schema(entity: Entity, types: FieldTypes) -> dict:
    properties: dict = {"id": {"type": "integer", "readOnly": True}}
    if not entity.is_child:
        properties["version"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_INT,
            "readOnly": True,
            "description": "Send it back on PATCH (or as If-Match, the ETag); a stale one "
            "gets 409 (412 as If-Match).",
        }
    sections = {name: section for section in entity.form for name in section.fields}
    for fld in entity.fields.values():
        ftype = types[fld.type]
        schema = dict(ftype.json_schema(fld))
        # A required field is never empty: sending null for one is refused.
        if not fld.holds_rows and "type" in schema and not fld.required:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:  # a client checks the value against the list, null too
                schema["enum"] = [*schema["enum"], None]
        if fld.required and schema.get("type") == "string" and "enum" not in schema:
            schema["minLength"] = 1  # an empty text is no value
        schema["title"] = fld.label.en
        if fld.help:
            schema["description"] = fld.help.en
        if types.computed(fld) or fld.readonly:
            schema["readOnly"] = True
        if fld.default in ftype.dynamic_defaults:
            schema["description"] = f"Defaults to {fld.default}."
        elif fld.default is not None and not types.computed(fld):
            schema["default"] = ftype.dump(fld, ftype.coerce(fld, fld.default))
        if fld.editable_by:
            only = f"Only {' or '.join(fld.editable_by)} (and admins) may set or change it."
            schema["description"] = " ".join(filter(None, (schema.get("description"), only)))
        when = _conditions_words(fld, sections.get(fld.name))
        if when:
            schema["description"] = " ".join(filter(None, (schema.get("description"), when)))
        properties[fld.name] = schema
    if not entity.is_child:
        for name in ("created_at", "updated_at"):
            properties[name] = {"type": "string", "format": "date-time", "readOnly": True}
        for name in ("created_by", "updated_by"):
            properties[name] = {"type": ["integer", "null"], "readOnly": True}
    required = [
        f.name
        for f in entity.fields.values()
        if (f.required or f.min_rows) and not types.computed(f) and f.default is None
    ]
    if not entity.is_child:
        properties["_meta"] = {
            "type": "object",
            "readOnly": True,
            "description": "On a read: the transitions you may take now",
            "properties": {"transitions": {"type": "array", "items": {"type": "string"}}},
        }
    # Any other name is refused with 422 "is not a field of ...".
    schema = {
        "type": "object",
        "title": entity.label.en,
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _conditions_words(fld: Field, section: Section | None) -> str:
    """The field's conditions (its own and its form section's), which no JSON Schema
    keyword can say: each is an expression over the record as it will be after the write
    (a row's fields, for a row field)."""
    words = []
    for setting, told in (
        (
            "visible_if",
            "Shown on forms only while {}; while hidden it is never required, and a "
            "value sent for it is kept.",
        ),
        ("required_if", "Required while {}: a create or change leaving it empty then gets 422."),
        ("readonly_if", "Cannot be changed while {} (422)."),
    ):
        sources = [getattr(holder, setting) for holder in (fld, section) if holder is not None]
        sources = [source for source in sources if source]
        if sources:
            joined = " and " if setting == "visible_if" else " or "  # all must show it
            words.append(told.format(joined.join(f"`{source}`" for source in sources)))
    return " ".join(words)


def listed_schema(schema: dict) -> dict:
    """A record in a list: its fields, none of them required, as ``fields=`` may ask for
    only a few."""
    return {
        **{k: v for k, v in schema.items() if k != "required"},
        "title": f"{schema['title']} (listed)",
    }


def changes_schema(schema: dict, child: bool = False) -> dict:
    """A PATCH body: any of the fields (child rows as their changes, by id), plus the
    version the client read. Without the defaults: a generated client fills those in,
    and a PATCH of one field reset others."""
    properties = {}
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k != "default"}
        if "$ref" in prop.get("items", {}):
            prop["items"] = {"$ref": prop["items"]["$ref"] + "_changes"}
        properties[name] = prop
    if "version" in properties:  # the one system field a PATCH sends
        properties["version"] = {k: v for k, v in properties["version"].items() if k != "readOnly"}
    changes = {
        "type": "object",
        "title": f"Changes to a {schema['title']}",
        "properties": properties,
        "additionalProperties": False,
    }
    if not child:
        return {**changes, "required": ["version"]}
    properties["id"] = {"type": "integer", "description": "The row to change; none for a new row"}
    return changes


def _value_schema(fld: Field, types: FieldTypes) -> dict:
    """What a query parameter compares a field with: a value of its type, as text; any
    length and, past its min and max, any value matches (no record)."""
    keep = ("type", "enum", "format", "pattern", "not", "minimum", "maximum")
    unbounded = replace(fld, min=None, max=None)
    schema = {k: v for k, v in types[fld.type].json_schema(unbounded).items() if k in keep}
    if types[fld.type].holds_list:  # 'contains' takes one option
        return dict(types[fld.type].json_schema(fld)["items"])
    if types[fld.type].is_user:
        return {"anyOf": [schema, {"const": ME, "description": "The signed-in user"}]}
    return schema


def _names_pattern(names: list[str], descending: bool = False) -> str:
    """A comma list of ``names`` (each maybe after a '-'); empty is the default."""
    one = ("-?" if descending else "") + "(?:" + "|".join(names) + ")"
    return f"^(?:{one}(?:,{one})*)?$"


def _list_parameters(entity: Entity, types: FieldTypes) -> list[dict]:
    columns = {n: f for n, f in entity.fields.items() if types[f.type].has_column}
    sortable = [n for n, f in columns.items() if types[f.type].sortable]
    system = ["id", "version", "created_at", "updated_at", "created_by", "updated_by"]
    params = [
        {
            "name": "q",
            "in": "query",
            "schema": {"type": "string", "maxLength": MAX_SEARCH, **NO_NUL},
            "description": "Search in: " + (", ".join(entity.list.search) or "nothing"),
        },
        {
            "name": "sort",
            "in": "query",
            "schema": {"type": "string", "pattern": _names_pattern(sortable + system, True)},
            "description": "Comma list of fields, '-' for descending, e.g. -created_at,number; "
            "a ref's field sorts by it too: customer.name",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        },
        {
            "name": "after",
            "in": "query",
            "schema": {"type": "string", "maxLength": MAX_CURSOR, "pattern": "^[A-Za-z0-9_-]*$"},
            "description": "The 'next' of the page before (with the same sort and filters): "
            "the page after it, as fast however deep",
        },
        {
            "name": "fields",
            "in": "query",
            "schema": {"type": "string", "pattern": _names_pattern([*columns, *system])},
            "description": "Comma list of the fields to return",
        },
    ]
    for fld in columns.values():
        ops = types[fld.type].ops
        if fld.name in RESERVED_PARAMS:
            continue
        if "eq" in ops:
            name, description = fld.name, "Equals"
        elif "contains" in ops:
            name, description = f"{fld.name}__contains", "Holds this option"
        else:
            continue
        params.append(
            {
                "name": name,
                "in": "query",
                "schema": _value_schema(fld, types),
                "description": f"{description}. Other operators: {fld.name}__<op> with op in "
                f"{', '.join(ops)}",
            }
        )
    return params


REPORT_SCHEMA = {
    "type": "object",
    "required": ["report", "rows", "totals"],
    "properties": {
        "report": {"type": "string"},
        "label": {"type": "object"},
        "rows_by": {"type": "array", "items": {"type": "object"}},
        "columns_by": {"type": "array", "items": {"type": "object"}},
        "measures": {"type": "array", "items": {"type": "object"}},
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "keys": {"type": "array", "items": {}},
                    "labels": {"type": "array", "items": {}},
                    "values": {"type": "object"},
                    "columns": {"type": "object"},
                },
            },
        },
        "totals": {"type": "object"},
    },
}


def _report_entity(apps: AppSet, report) -> Entity | None:
    """The entity whose fields a report filters: its own, or its balance's ledger."""
    if report.entity is not None:
        return apps.entity(report.entity)
    for entity in apps.entities():
        if any(b.name == report.balance for b in entity.balances):
            return entity
    return None


def _report_field(apps: AppSet, report, path: str) -> Field | None:
    """The field a report's filter path ends at (through refs and 'parent')."""
    entity = _report_entity(apps, report)
    *refs, name = path.split(".")
    for part in refs:
        if entity is None:
            return None
        fld = entity.fields.get(part)
        if part == "parent" and entity.parent is not None:
            entity = apps.entity(entity.parent)
        elif fld is not None and fld.target:
            entity = apps.entity(fld.target)
        else:
            return None
    return None if entity is None else {**SYSTEM_FIELDS, **entity.fields}.get(name)


def report_parameters(apps: AppSet, types: FieldTypes, report) -> list[dict]:
    """The viewer's filters: from/to for the first date filter, path__gte/__lte for every
    date filter, and a comma list of values for each other filter."""
    # blank is no filter, as a report form sends an empty date input
    day = {"type": "string", "anyOf": [{"format": "date"}, {"maxLength": 0}]}
    found: list[dict] = []
    dated = []
    for path in report.filters:
        fld = _report_field(apps, report, path)
        if fld is not None and types[fld.type].dated:
            dated.append(path)
            found += [
                {
                    "name": f"{path}__{op}",
                    "in": "query",
                    "schema": day,
                    "description": f"{path} {word} this day (YYYY-MM-DD)",
                }
                for op, word in (("gte", "on or after"), ("lte", "on or before"))
            ]
            continue
        found.append(
            {
                "name": path,
                "in": "query",
                "schema": _comma_list(fld, types),
                "description": "values, separated by commas",
            }
        )
    if dated:
        found[:0] = [
            {
                "name": name,
                "in": "query",
                "schema": day,
                "description": f"{name} this day (YYYY-MM-DD), on {dated[0]}",
            }
            for name in ("from", "to")
        ]
    return found


def _comma_list(fld: Field | None, types: FieldTypes) -> dict:
    """A comma list of a field's values: options or ids spelled out, else any text;
    empty is no filter, as the viewer's form sends it."""
    one = {} if fld is None else types[fld.type].json_schema(fld)
    if "enum" in one:
        words = "(?:" + "|".join(map(re.escape, one["enum"])) + ")"
    elif one.get("type") == "integer":
        words = "[1-9][0-9]{0,17}"
    else:
        return {"type": "string"}
    return {"type": "string", "pattern": f"^(?:{words}(?:,{words})*)?$"}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                "current": {"type": "object", "description": "409/412: the record as stored"},
                "yours": {"type": "object", "description": "409/412: what you sent"},
                "problems": {"type": "array", "items": {"type": "string"}},
            },
        }
    },
}
ATTACHMENT_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "content_type", "size", "sha256"],
    "properties": {
        "id": {"type": "string", "description": "Put it in an attachment field"},
        "name": {"type": "string"},
        "content_type": {"type": "string"},
        "size": {"type": "integer"},
        "sha256": {"type": "string"},
    },
}
IMPORT_REPORT_SCHEMA = {
    "type": "object",
    "required": ["mapping", "records", "created", "existing", "errors", "dry_run"],
    "properties": {
        "mapping": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "constants": {"type": "object", "additionalProperties": {"type": "string"}},
        "create": {"type": "array", "items": {"type": "string"}},
        "records": {"type": "integer"},
        "created": {"type": "integer"},
        "existing": {"type": "integer", "description": "Already imported (same external id)"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": "integer"},
                    "column": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                },
            },
        },
        "dry_run": {"type": "boolean"},
        "after_row": {"type": "integer"},
        "done": {"type": "integer"},
        "total": {"type": "integer"},
    },
}
BULK_OUTCOME_SCHEMA = {
    "type": "object",
    "required": ["transition", "taken", "refused"],
    "properties": {
        "transition": {"type": "string"},
        "taken": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "The records it was taken on",
        },
        "refused": {
            "type": "array",
            "description": "The records it was not taken on, each with the reason",
            "items": {
                "type": "object",
                "required": ["id", "message", "fields"],
                "properties": {
                    "id": {"type": "integer"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
    },
}
JOB_SCHEMA = {
    "type": "object",
    "required": ["id", "kind", "entity", "status", "url", "progress", "user", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string", "enum": [IMPORT, TRANSITION]},
        "entity": {"type": "string", "description": "app.entity"},
        "status": {
            "type": "string",
            "enum": list(STATUSES),
            "description": "queued or running: poll again; done or failed: it ended "
            "(uploaded: an import started on the screens, waiting for its mapping)",
        },
        "url": {"type": "string", "description": "This job's address"},
        "progress": {
            "type": "object",
            "required": ["done", "total"],
            "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}},
            "description": "Records done, of those to do (0 until counted)",
        },
        "user": {"type": ["string", "null"], "description": "Who started it"},
        "message": {"type": ["string", "null"], "description": "Why it failed"},
        "created_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "outcome": {
            "anyOf": [_ref("ImportReport"), _ref("BulkTransitionOutcome"), {"type": "null"}],
            "description": "What it did so far, all of it once done; null before anything "
            "committed (a dry run: until it ends). Not in the list of jobs",
        },
    },
}
JOB_LOCATION = {
    "Location": {
        "required": True,
        "schema": {"type": "string"},
        "description": "The job's URL: GET it for its progress and, once done, its outcome",
    }
}
FLOW_SCHEMA = {
    "type": "object",
    "required": ["states", "throughput", "stuck", "period", "stuck_after_hours"],
    "properties": {
        "states": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "state": {"type": "string"},
                    "label": {"type": "object"},
                    "final": {"type": "boolean"},
                    "now": {"type": "integer", "description": "Records in it now"},
                    "records": {"type": "integer", "description": "Records that were in it"},
                    "average_hours": {"type": ["number", "null"]},
                    "p90_hours": {"type": ["number", "null"]},
                },
            },
        },
        "throughput": {"type": "array", "items": {"type": "object"}},
        "stuck": {"type": "array", "items": {"type": "object"}},
        "period": {"type": "string"},
        "stuck_after_hours": {"type": "number"},
    },
}
BOOLEAN_FORM = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}


def _record_paths(entity: Entity, types: FieldTypes) -> dict:
    """The collection, one record, its history; its workflow's flow and transitions (on
    one record, and on many); its imports and its inbound webhooks."""
    name = _schema_name(entity)
    ref = _ref(name)
    one = {
        "description": entity.label.en,
        "headers": {"ETag": {"schema": {"type": "string"}, "description": ETAG}},
        "content": _json(ref),
    }
    base = f"/{entity.app}/{entity.name}"
    tag = [entity.app]
    record_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    }
    page = {
        "type": "object",
        "required": ["data", "total", "total_exact", "next"],
        "properties": {
            "data": {"type": "array", "items": _ref(name + "_listed")},
            "total": {"type": "integer", "description": f"Matches, counted up to {COUNT_LIMIT}"},
            "total_exact": {"type": "boolean", "description": "False: more than 'total' match"},
            "next": {
                "type": ["string", "null"],
                "description": "Pass as 'after' for the page after this one; null on the last",
            },
        },
    }
    paths: dict = {
        base: {
            "get": {
                "tags": tag,
                "summary": f"List {entity.label.en}",
                "operationId": f"list_{name}",
                "parameters": _list_parameters(entity, types),
                "responses": {
                    "200": {"description": "A page of records", "content": _json(page)},
                    **READ_ERRORS,
                },
            },
            "post": {
                "tags": tag,
                "summary": f"Create a {entity.label.en}",
                "operationId": f"create_{name}",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
                        "description": "A repeated key returns the first result.",
                    }
                ],
                "requestBody": {"required": True, "content": _json(ref)},
                "responses": {"201": one, **_errors("400", "403", "409", "422")},
            },
        },
        base + "/{id}": {
            "parameters": [record_id],
            "get": {
                "tags": tag,
                "summary": f"Read a {entity.label.en}",
                "operationId": f"get_{name}",
                "responses": {"200": one, **READ_ERRORS},
            },
            "patch": {
                "tags": tag,
                "summary": f"Change a {entity.label.en}",
                "operationId": f"update_{name}",
                "parameters": [IF_MATCH],
                "requestBody": {"required": True, "content": _json(_ref(name + "_changes"))},
                "responses": {"200": one, **WRITE_ERRORS},
            },
            "delete": {
                "tags": tag,
                "summary": f"Delete a {entity.label.en}",
                "operationId": f"delete_{name}",
                "parameters": [IF_MATCH],
                "responses": {"204": {"description": "Deleted"}, **WRITE_ERRORS},
            },
        },
        base + "/{id}/history": {
            "parameters": [record_id],
            "get": {
                "tags": tag,
                "summary": "Who changed what, when",
                "operationId": f"history_{name}",
                "responses": {
                    "200": {
                        "description": "History entries, oldest first",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {"data": {"type": "array", "items": {}}},
                            }
                        ),
                    },
                    **READ_ERRORS,
                },
            },
        },
        base + "/import": {
            "post": {
                "tags": tag,
                "summary": f"Import {entity.label.en} records from a CSV or XLSX file",
                "operationId": f"import_{name}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": _import_form(entity),
                            "encoding": {
                                "mapping": {"contentType": "application/json"},
                                "constants": {"contentType": "application/json"},
                            },
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "The file is kept and its header, mapping and "
                        "options checked; the job at Location imports the rows (or, on a "
                        "dry run, checks them), its outcome the report of what was (or "
                        "would be) imported with every bad row and its reason",
                        "headers": JOB_LOCATION,
                        "content": _json(_ref("Job")),
                    },
                    **_errors("400", "403", "422"),
                },
            }
        },
    }
    paths[base + "/import/template"] = {
        "get": {
            "tags": tag,
            "summary": f"A blank file to fill for importing {entity.label.en} records",
            "operationId": f"import_template_{name}",
            "parameters": [
                {
                    "name": "format",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(TEMPLATE_TYPES), "default": "xlsx"},
                },
                {
                    "name": "lang",
                    "in": "query",
                    "description": "The language of the headers",
                    "schema": {"type": "string", "enum": ["en", "zh"], "default": "en"},
                },
            ],
            "responses": {
                "200": {
                    "description": "The header row of every column an import can fill, "
                    "headed by the fields' labels",
                    "content": {
                        kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in TEMPLATE_TYPES.values()
                    },
                },
                **_errors("403", "422"),
            },
        }
    }
    if entity.workflow is not None:
        paths[base + "/flow"] = {
            "get": {
                "tags": tag,
                "summary": f"How {entity.label.en} records move through their workflow",
                "operationId": f"flow_{name}",
                "parameters": [
                    {
                        "name": "period",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(BUCKETS)},
                    },
                    {
                        "name": "stuck_hours",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_STUCK_HOURS},
                        "description": "Records waiting longer than this are listed (48)",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Records per state, hours in each (average, 90th "
                        "percentile), finished per period, records waiting",
                        "content": _json(_ref("Flow")),
                    },
                    **READ_ERRORS,
                },
            }
        }
        for transition in entity.workflow.transitions.values():
            paths[f"{base}/bulk/transitions/{transition.name}"] = {
                "post": {
                    "tags": tag,
                    "summary": f"{transition.label.en} on many {entity.label.en} records",
                    "operationId": f"bulk_transition_{name}_{transition.name}",
                    "requestBody": {
                        "required": True,
                        "content": _json(_bulk_body(entity, transition.require, types)),
                    },
                    "responses": {
                        "202": {
                            "description": "Queued; the job at Location takes it on each "
                            "record in a transaction of its own, and its outcome lists the "
                            "records taken and those refused, each with the reason",
                            "headers": JOB_LOCATION,
                            "content": _json(_ref("Job")),
                        },
                        **_errors("400", "403", "404", "422"),
                    },
                }
            }
            paths[f"{base}/{{id}}/transitions/{transition.name}"] = {
                "parameters": [record_id],
                "post": {
                    "tags": tag,
                    "summary": f"{transition.label.en} ({', '.join(transition.sources)} → "
                    f"{transition.target})",
                    "operationId": f"transition_{name}_{transition.name}",
                    "parameters": [IF_MATCH],
                    "requestBody": {
                        "required": False,
                        "content": _json(_transition_body(entity, transition.require, types)),
                    },
                    "responses": {
                        "200": {
                            "description": f"The {entity.label.en} after the transition",
                            "content": _json(ref),
                        },
                        **WRITE_ERRORS,
                    },
                },
            }
    paths.update(_print_paths(entity, record_id))
    for hook in sorted({r.hook for r in entity.rules if r.trigger == "webhook" and r.hook}):
        paths[f"{base}/{{id}}/webhooks/{hook}"] = {
            "parameters": [record_id],
            "post": {
                "tags": tag,
                "summary": f"Run the rules on webhook '{hook}' with the JSON body as payload",
                "operationId": f"webhook_{name}_{hook}",
                "requestBody": {"required": False, "content": _json({"type": "object"})},
                "responses": {
                    "200": {"description": "The record after the rules", "content": _json(ref)},
                    **WRITE_ERRORS,
                },
            },
        }
    return paths


PRINT_LANGUAGE = {
    "name": "lang",
    "in": "query",
    "schema": {"type": "string", "enum": ["en", "zh"]},
    "description": "The document's language; without it, Accept-Language's (else English)",
}


def _print_paths(entity: Entity, record_id: dict) -> dict:
    """The documents a record prints as (its ``prints``), each a PDF."""
    name = _schema_name(entity)
    return {
        f"/{entity.app}/{entity.name}/{{id}}/print/{spec.name}": {
            "parameters": [record_id],
            "get": {
                "tags": [entity.app],
                "summary": f"The {entity.label.en}'s {spec.label.en} as PDF "
                f"({'A4' if spec.page == 'a4' else '80 mm receipt'})",
                "operationId": f"print_{name}_{spec.name}",
                "parameters": [PRINT_LANGUAGE],
                "responses": {
                    "200": {
                        "description": f"The {spec.label.en}, a PDF: to whoever may read "
                        "the record, with the records its refs point at that they may read "
                        "(the others by title)",
                        "content": {
                            "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **_errors("400", "403", "404", "422"),
                },
            },
        }
        for spec in entity.prints.values()
    }


IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "schema": {"type": "string", "pattern": r'^(W/)?"?[1-9][0-9]{0,17}"?$'},
    "description": "The ETag read: refused with 412 if the record changed since",
}


def _transition_body(entity: Entity, require: tuple[str, ...], types: FieldTypes) -> dict:
    """A comment, the version read, and the fields the transition asks for."""
    fields = entity_schema(entity, types)["properties"]
    properties: dict = {
        "comment": {"type": "string", "maxLength": MAX_COMMENT},
        "version": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    }
    for name in require:
        properties[name] = {k: v for k, v in fields[name].items() if k != "readOnly"}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _bulk_body(entity: Entity, require: tuple[str, ...], types: FieldTypes) -> dict:
    """The records, a comment, and the fields the transition asks for, alike for each."""
    body = _transition_body(entity, require, types)
    properties = {k: v for k, v in body["properties"].items() if k != "version"}
    properties["ids"] = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_IDS,
        "items": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
        "description": "The records, in order; an id sent twice is taken once",
    }
    return {**body, "properties": properties, "required": ["ids"]}


def _import_form(entity: Entity) -> dict:
    form: dict = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "CSV or XLSX"},
            "mapping": {
                "type": "object",
                "additionalProperties": {"type": ["string", "null"]},
                "description": "A JSON object: column -> field path (null or '' skips the "
                "column); the default is the last import's of a file with this header "
                "(with its constants and create, where those are not sent), else the "
                "guess from the header",
            },
            "constants": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "A JSON object: field -> the value (as text, read as a "
                'cell) for every record the file brings, e.g. {"channel": "web"}',
            },
            "create": {
                "type": "string",
                "description": "Reference fields, comma-separated, whose records are "
                "created from the row when its key columns find none (e.g. customer, "
                "from customer.email or customer.phone and customer.name)",
            },
            "dry_run": {**BOOLEAN_FORM, "description": "Check everything, write nothing"},
        },
    }
    if entity.workflow is not None:
        form["properties"]["then"] = {
            "type": "string",
            "enum": list(entity.workflow.transitions),
            "description": "A transition to take on each new record",
        }
    return form


def _app_paths() -> dict:
    """The index, the jobs, the attachments and the document itself."""
    return {
        "/": {
            "get": {
                "summary": "The apps and entities you may read",
                "operationId": "index",
                "responses": {
                    "200": {
                        "description": "You, your roles, and the apps",
                        "content": _json(
                            {
                                "type": "object",
                                "required": ["user", "roles", "apps"],
                                "properties": {
                                    "user": {"type": "string"},
                                    "roles": {"type": "array", "items": {"type": "string"}},
                                    "apps": {"type": "array", "items": {"type": "object"}},
                                    "openapi": {"type": "string"},
                                },
                            }
                        ),
                    },
                    **_errors(),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": _json({"type": "object"})}
                },
            }
        },
        "/jobs": {
            "get": {
                "summary": "Your latest jobs (imports, bulk transitions), newest first",
                "operationId": "list_jobs",
                "responses": {
                    "200": {
                        "description": f"At most {RECENT} jobs, each without its outcome",
                        "content": _json(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": _ref("Job")}},
                            }
                        ),
                    },
                    **_errors("400"),
                },
            }
        },
        "/jobs/{job_id}": {
            "get": {
                "summary": "A job's status, progress and outcome (yours; an admin's: any)",
                "operationId": "get_job",
                "parameters": [
                    {
                        "name": "job_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                    }
                ],
                "responses": {
                    "200": {"description": "The job", "content": _json(_ref("Job"))},
                    **_errors("404"),
                },
            }
        },
        "/attachments": {
            "post": {
                "summary": "Upload a file, for an attachment field",
                "operationId": "upload_attachment",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        }
                    },
                },
                "responses": {
                    "201": {"description": "Stored", "content": _json(_ref("Attachment"))},
                    **_errors("403", "422"),
                },
            }
        },
        "/attachments/{attachment_id}": {
            "get": {
                "summary": "Download a file: yours, or on a record you may read",
                "operationId": "download_attachment",
                "parameters": [
                    {
                        "name": "attachment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The file, with its content type",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_errors("403", "404"),
                },
            }
        },
    }


OUTCOMES = ("created", "updated", "unchanged", "older", "repeated")
SCHEME_WORDS = {
    "engine": "X-AppLoom-Signature: t=<unix time>,v1=<hex HMAC-SHA256>",
    "hmac_base64": "the base64 HMAC-SHA256 of the raw body in {header}",
    "hmac_hex": "the hex HMAC-SHA256 of the raw body in {header}",
    "token": "the channel's secret in {header}",
    "md5_in_body": "md5 of the body's {signed} then the secret, in its field {field}",
    "none": "nothing (anyone may call)",
}


def _hook_paths(apps: AppSet) -> dict:
    """POST /hooks/orders/{channel}, outside /api/v1 and signed as each platform signs
    rather than with a token."""
    channels = {name: ch for app in apps.ordered() for name, ch in app.channels.items()}
    if not channels:
        return {}
    signed = "; ".join(
        f"{name}: "
        + SCHEME_WORDS[ch.auth.scheme].format(
            header=ch.auth.header, field=ch.auth.field, signed=" + ".join(ch.auth.signed)
        )
        for name, ch in sorted(channels.items())
    )
    outcome = {
        "type": "object",
        "required": ["outcome", "order"],
        "properties": {
            "outcome": {"enum": list(OUTCOMES)},
            "order": {"type": ["object", "null"], "description": "The order, as the API shows it"},
        },
    }
    errors = {
        code: {"description": text, "content": _json(_ref("Error"))}
        for code, text in (
            ("401", "Not signed as the channel signs, or outside its replay window"),
            ("403", "The webhook user may not create and confirm orders"),
            ("404", "No such channel, or no webhook user set"),
            ("422", "The mapping cannot read the payload (fields name the JMESPath at fault),"
             " or the order it describes is refused; kept in the channel's inbox"),
        )
    }  # fmt: skip
    return {
        "/hooks/orders/{channel}": {
            "servers": [{"url": "/"}],
            "post": {
                "tags": ["channels"],
                "summary": "An order from a sales channel, as its platform sends it",
                "description": f"Signed with: {signed}.",
                "operationId": "channel_order",
                "security": [],
                "parameters": [
                    {
                        "name": "channel",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": sorted(channels)},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": _json({"type": "object", "description": "The platform's payload"}),
                },
                "responses": {
                    "201": {"description": "The order was made", "content": _json(outcome)},
                    "200": {
                        "description": "Updated, or already applied, older, or repeated",
                        "content": _json(outcome),
                    },
                    **errors,
                },
            },
        }
    }


def openapi_document(apps: AppSet, types: FieldTypes) -> dict:
    schemas: dict = {
        "Error": ERROR_SCHEMA,
        "Attachment": ATTACHMENT_SCHEMA,
        "ImportReport": IMPORT_REPORT_SCHEMA,
        "BulkTransitionOutcome": BULK_OUTCOME_SCHEMA,
        "Job": JOB_SCHEMA,
        "Flow": FLOW_SCHEMA,
        "Report": REPORT_SCHEMA,
    }
    hooks = _hook_paths(apps)
    paths: dict = {**_app_paths(), **hooks}
    for entity in apps.entities():
        name = _schema_name(entity)
        schemas[name] = entity_schema(entity, types)
        schemas[name + "_changes"] = changes_schema(schemas[name], entity.is_child)
        schemas[name + "_listed"] = listed_schema(schemas[name])
        if not entity.is_child:
            paths.update(_record_paths(entity, types))
    for app in apps.ordered():
        for report in app.reports:
            paths[f"/reports/{app.name}/{report.name}"] = {
                "get": {
                    "tags": [app.name],
                    "summary": report.label.en,
                    "operationId": f"report_{app.name}_{report.name}",
                    "parameters": report_parameters(apps, types, report),
                    "responses": {
                        "200": {"description": report.label.en, "content": _json(_ref("Report"))},
                        **READ_ERRORS,
                    },
                }
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AppLoom API",
            "version": "1",
            "description": "Generated from the live app definitions.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "tags": [{"name": app.name, "description": app.label.en} for app in apps.ordered()]
        + ([{"name": "channels", "description": "Sales channels' hooks"}] if hooks else []),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                f"E{code}": {"description": description, "content": _json(_ref("Error"))}
                for code, description in ERRORS.items()
            },
        },
    }
