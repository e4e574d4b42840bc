"""The OpenAPI 3.1 document, generated from the live definitions."""

from __future__ import annotations

from apploom.engine.definitions.model import AppSet, Entity
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.query.filters import RESERVED_PARAMS

ERROR = {"$ref": "#/components/responses/Error"}
ETAG = "The record's version: send it as If-Match to change it only if nobody did since"


def _schema_name(entity: Entity) -> str:
    return entity.qualified.replace(".", "_")


def entity_schema(entity: Entity, types: FieldTypes) -> dict:
    properties: dict = {"id": {"type": "integer", "readOnly": True}}
    if not entity.is_child:
        properties["version"] = {
            "type": "integer",
            "description": "Send it back on PATCH (or as If-Match, the ETag); a stale one "
            "gets 409 (412 as If-Match).",
        }
    for fld in entity.fields.values():
        ftype = types[fld.type]
        schema = dict(ftype.json_schema(fld))
        if not fld.holds_rows and "type" in schema:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:  # a client checks the value against the list, null too
                schema["enum"] = [*schema["enum"], None]
        schema["title"] = fld.label.en
        if fld.help:
            schema["description"] = fld.help.en
        if types.computed(fld) or fld.readonly:
            schema["readOnly"] = True
        if fld.default in ftype.dynamic_defaults:
            schema["description"] = f"Defaults to {fld.default}."
        elif fld.default is not None and not types.computed(fld):
            schema["default"] = ftype.dump(fld, ftype.coerce(fld, fld.default))
        properties[fld.name] = schema
    if not entity.is_child:
        for name in ("created_at", "updated_at"):
            properties[name] = {"type": "string", "format": "date-time", "readOnly": True}
        for name in ("created_by", "updated_by"):
            properties[name] = {"type": ["integer", "null"], "readOnly": True}
    required = [
        f.name
        for f in entity.fields.values()
        if f.required and not types.computed(f) and f.default is None
    ]
    schema = {"type": "object", "title": entity.label.en, "properties": properties}
    if required:
        schema["required"] = required
    return schema


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
    changes = {
        "type": "object",
        "title": f"Changes to a {schema['title']}",
        "properties": properties,
    }
    if not child:
        return {**changes, "required": ["version"]}
    properties["id"] = {"type": "integer", "description": "The row to change; none for a new row"}
    return changes


def _list_parameters(entity: Entity, types: FieldTypes) -> list[dict]:
    params = [
        {
            "name": "q",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Search in: " + (", ".join(entity.list.search) or "nothing"),
        },
        {
            "name": "sort",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Comma list of fields, '-' for descending, e.g. -created_at,number",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 500},
        },
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {
            "name": "fields",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Comma list of the fields to return",
        },
    ]
    for fld in entity.fields.values():
        ops = types[fld.type].ops
        if not ops or fld.name in RESERVED_PARAMS:
            continue
        params.append(
            {
                "name": fld.name,
                "in": "query",
                "schema": {"type": "string"},
                "description": f"Equals. Other operators: {fld.name}__<op> with op in "
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
        "rows_by": {"type": "array"},
        "columns_by": {"type": "array"},
        "measures": {"type": "array"},
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "keys": {"type": "array"},
                    "labels": {"type": "array"},
                    "values": {"type": "object"},
                    "columns": {"type": "object"},
                },
            },
        },
        "totals": {"type": "object"},
    },
}


def _report_parameters(report) -> list[dict]:
    """The viewer's filters: the date range, and a comma list per other filter."""
    text = {"type": "string"}
    found = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": text,
            "description": f"{name} date (YYYY-MM-DD) of the first date filter",
        }
        for name in ("from", "to")
    ]
    found += [
        {
            "name": path,
            "in": "query",
            "required": False,
            "schema": text,
            "description": "values, separated by commas",
        }
        for path in report.filters
    ]
    return found


def openapi_document(apps: AppSet, types: FieldTypes) -> dict:
    schemas: dict = {
        "Error": {
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
                    },
                }
            },
        }
    }
    paths: dict = {}
    for entity in apps.entities():
        name = _schema_name(entity)
        schemas[name] = entity_schema(entity, types)
        schemas[name + "_changes"] = changes_schema(schemas[name], entity.is_child)
        if entity.is_child:
            continue
        ref = {"$ref": f"#/components/schemas/{name}"}
        one = {
            "200": {
                "description": entity.label.en,
                "headers": {"ETag": {"schema": {"type": "string"}, "description": ETAG}},
                "content": {"application/json": {"schema": ref}},
            },
            "default": ERROR,
        }
        base = f"/{entity.app}/{entity.name}"
        tag = [entity.app]
        record_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
        paths[base] = {
            "get": {
                "tags": tag,
                "summary": f"List {entity.label.en}",
                "operationId": f"list_{name}",
                "parameters": _list_parameters(entity, types),
                "responses": {
                    "200": {
                        "description": "A page of records",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "data": {"type": "array", "items": ref},
                                        "total": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "default": ERROR,
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
                        "schema": {"type": "string", "maxLength": 200},
                        "description": "A repeated key returns the first result.",
                    }
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
                "responses": {"201": one["200"], "default": ERROR},
            },
        }
        paths[base + "/{id}"] = {
            "parameters": [record_id],
            "get": {
                "tags": tag,
                "summary": f"Read a {entity.label.en}",
                "operationId": f"get_{name}",
                "responses": one,
            },
            "patch": {
                "tags": tag,
                "summary": f"Change a {entity.label.en}",
                "operationId": f"update_{name}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{name}_changes"}
                        }
                    },
                },
                "responses": one,
            },
            "delete": {
                "tags": tag,
                "summary": f"Delete a {entity.label.en}",
                "operationId": f"delete_{name}",
                "responses": {"204": {"description": "Deleted"}, "default": ERROR},
            },
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
                            "required": False,
                            "schema": {"enum": ["day", "week", "month", "quarter", "year"]},
                        },
                        {
                            "name": "stuck_hours",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 0},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Records per state, hours in each "
                            "(average, 90th percentile), finished "
                            "per period, records waiting"
                        },
                        "default": ERROR,
                    },
                }
            }
        paths[base + "/{id}/history"] = {
            "parameters": [record_id],
            "get": {
                "tags": tag,
                "summary": "Who changed what, when",
                "operationId": f"history_{name}",
                "responses": {"200": {"description": "History entries"}, "default": ERROR},
            },
        }
    schemas["Report"] = REPORT_SCHEMA
    for app in apps.ordered():
        for report in app.reports:
            paths[f"/reports/{app.name}/{report.name}"] = {
                "get": {
                    "tags": [app.name],
                    "summary": report.label.en,
                    "operationId": f"report_{app.name}_{report.name}",
                    "parameters": _report_parameters(report),
                    "responses": {
                        "200": {
                            "description": report.label.en,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Report"}
                                }
                            },
                        },
                        "default": ERROR,
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
        "tags": [{"name": app.name, "description": app.label.en} for app in apps.ordered()],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
        },
    }
