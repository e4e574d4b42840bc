"""The REST API through Flask's test client."""

from __future__ import annotations

import io

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openpyxl import Workbook

from apploom.web import create_app
from tests.helpers import Api, Shop, finished, make_runtime


@pytest.fixture
def app(sqlite_runtime):
    return create_app(runtime=sqlite_runtime)


@pytest.fixture
def shop(sqlite_runtime):
    return Shop(sqlite_runtime)


def make_api(app, runtime, username: str, roles: list[str]) -> Api:
    runtime.users.create(username, roles, "password1234")
    return Api(app.test_client(), runtime.users.create_token(username))


@pytest.fixture
def sales(app, sqlite_runtime):
    return make_api(app, sqlite_runtime, "sue", ["sales"])


@pytest.fixture
def warehouse(app, sqlite_runtime):
    return make_api(app, sqlite_runtime, "wes", ["warehouse"])


def test_requests_without_a_valid_token_get_401(app):
    client = app.test_client()
    response = client.get("/api/v1/oms/order")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.get("/api/v1/oms/order", headers={"Authorization": "Bearer alt_nope"})
    assert bad.status_code == 401


def test_index_lists_the_apps_the_user_may_read(sales):
    body = sales.get("/api/v1/").json
    assert body["user"] == "sue"
    assert {a["name"] for a in body["apps"]} == {"crm", "wms", "oms"}


def test_create_read_update_delete_round_trip(app, sales, sqlite_runtime, shop):
    created = sales.post("/api/v1/oms/order", json=shop.order())
    assert created.status_code == 201
    order = created.json
    assert created.headers["Location"].endswith(f"/api/v1/oms/order/{order['id']}")
    assert order["total"] == "293.00"
    read = sales.get(f"/api/v1/oms/order/{order['id']}").json
    assert "transitions" in read.pop("_meta")
    assert read == order
    patched = sales.patch(f"/api/v1/oms/order/{order['id']}", json={"version": 1, "note": "urgent"})
    assert patched.status_code == 200 and patched.json["version"] == 2
    assert sales.get(f"/api/v1/oms/order/{order['id']}/history").json["data"][1]["changes"] == {
        "note": [None, "urgent"]
    }
    manager = make_api(app, sqlite_runtime, "max", ["manager"])
    assert (
        manager.delete(f"/api/v1/oms/order/{order['id']}", headers={"If-Match": "2"}).status_code
        == 204
    )
    assert sales.get(f"/api/v1/oms/order/{order['id']}").status_code == 404


def test_list_filters_sort_paging_and_total(sales, shop):
    for channel in ("web", "store", "web"):
        sales.post("/api/v1/oms/order", json=shop.order(channel=channel))
    body = sales.get("/api/v1/oms/order?channel=web&sort=-number&limit=1&fields=number").json
    assert body["total"] == 2
    assert len(body["data"]) == 1 and set(body["data"][0]) == {"id", "version", "number"}
    assert sales.get("/api/v1/oms/order?channel__in=web,store").json["total"] == 3
    assert sales.get("/api/v1/oms/order?customer.city=上海").json["total"] == 3


def test_decimals_arrive_exact_from_json_numbers(sales, shop):
    data = shop.order(lines=[{"item": shop.cup["id"], "qty": 3, "price": 0.1}])
    assert sales.post("/api/v1/oms/order", json=data).json["total"] == "0.30"


@pytest.mark.parametrize(
    "body, status, code, field",
    [
        ({"customer": "abc", "lines": []}, 422, "validation_failed", "customer"),
        ({"nope": 1}, 422, "validation_failed", "nope"),
        ([1, 2], 422, "validation_failed", "body"),
        ("not json", 400, "bad_query", "body"),
    ],
)
def test_bad_bodies_get_field_level_errors(sales, body, status, code, field):
    if isinstance(body, str):
        response = sales.post(
            "/api/v1/oms/order", data=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = sales.post("/api/v1/oms/order", json=body)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert field in response.json["error"]["fields"]


def test_bad_queries_are_400_and_unknown_things_404(sales):
    bad = sales.get("/api/v1/oms/order?colour=red")
    assert bad.status_code == 400 and "colour" in bad.json["error"]["fields"]
    assert sales.get("/api/v1/oms/order?limit=-1").status_code == 400
    too_many = sales.get("/api/v1/oms/order?limit=1000")  # was quietly cut to 500
    assert too_many.status_code == 400
    assert too_many.json["error"]["fields"] == {"limit": "must be a whole number up to 500"}
    assert sales.get("/api/v1/oms/order?limit=500").status_code == 200
    assert sales.get("/api/v1/oms/nothing").status_code == 404
    assert sales.get("/api/v1/oms/order/999").status_code == 404
    assert sales.get("/api/v1/oms/order_line").status_code == 404
    assert sales.get("/api/v1/no/where/at/all").status_code == 404


def test_permission_denials_are_403(warehouse, shop):
    response = warehouse.post("/api/v1/oms/order", json=shop.order())
    assert response.status_code == 403
    assert "may not create" in response.json["error"]["message"]


def test_stale_patch_is_409_with_both_values(sales, shop):
    order = sales.post("/api/v1/oms/order", json=shop.order()).json
    sales.patch(f"/api/v1/oms/order/{order['id']}", json={"version": 1, "note": "a"})
    stale = sales.patch(f"/api/v1/oms/order/{order['id']}", json={"version": 1, "note": "b"})
    assert stale.status_code == 409
    error = stale.json["error"]
    assert error["current"]["note"] == "a" and error["yours"] == {"note": "b"}
    missing = sales.patch(f"/api/v1/oms/order/{order['id']}", json={"note": "c"})
    assert missing.status_code == 422 and "version" in missing.json["error"]["fields"]


def test_records_carry_an_etag_and_a_stale_if_match_is_412(sales, shop):
    """HTTP's way: If-Match with the ETag read; a stale one is a failed precondition."""
    url = f"/api/v1/oms/order/{sales.post('/api/v1/oms/order', json=shop.order()).json['id']}"
    read = sales.get(url)
    assert read.headers["ETag"] == '"1"'
    patched = sales.patch(url, json={"note": "a"}, headers={"If-Match": read.headers["ETag"]})
    assert patched.status_code == 200 and patched.headers["ETag"] == '"2"'
    stale = sales.patch(url, json={"note": "b"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json["error"]["current"]["note"] == "a"
    taken = sales.post(url + "/transitions/confirm", headers={"If-Match": '"1"'})
    assert taken.status_code == 412
    assert sales.get(url).json["note"] == "a"


def test_idempotency_key_returns_the_first_result(sales, shop, sqlite_runtime):
    headers = {"Idempotency-Key": "shop-42"}
    first = sales.post("/api/v1/oms/order", json=shop.order(), headers=headers)
    again = sales.post("/api/v1/oms/order", json=shop.order(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    assert sales.get("/api/v1/oms/order").json["total"] == 1
    other = sales.post("/api/v1/crm/customer", json={"name": "x"}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json["error"]["fields"]
    changed = sales.post("/api/v1/oms/order", json=shop.order(note="another"), headers=headers)
    assert changed.status_code == 422  # was answered with the first order, silently
    assert changed.json["error"]["fields"] == {
        "Idempotency-Key": "was already used with another request: send a new key"
    }


def test_openapi_document_is_valid_3_1_and_describes_every_entity(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert "/oms/order/{id}" in doc["paths"]
    order = doc["components"]["schemas"]["oms_order"]
    assert order["properties"]["total"]["readOnly"] is True
    assert order["properties"]["lines"]["items"] == {"$ref": "#/components/schemas/oms_order_line"}
    assert "customer" in order["required"]


def test_openapi_patch_bodies_carry_no_defaults_and_enums_admit_null(app):
    """A client generated from the document filled PATCH bodies with the defaults (a
    PATCH of city reset kind and tier) and crashed listing a select left empty."""
    schemas = app.test_client().get("/api/v1/openapi.json").json["components"]["schemas"]
    changes = schemas["oms_order_changes"]["properties"]
    assert not [name for name, prop in changes.items() if "default" in prop]
    assert changes["lines"]["items"] == {"$ref": "#/components/schemas/oms_order_line_changes"}
    row = schemas["oms_order_line_changes"]["properties"]
    assert "default" not in row["qty"] and "readOnly" not in row["id"]  # rows named by id
    assert schemas["oms_order"]["properties"]["channel"]["default"] == "web"  # still shown
    carrier = schemas["oms_order"]["properties"]["carrier"]
    assert carrier["type"] == ["string", "null"] and None in carrier["enum"]


def download(api: Api, attachment_id: str) -> tuple[int, bytes]:
    with api.get(f"/api/v1/attachments/{attachment_id}") as response:
        return response.status_code, response.data


def test_attachments_upload_download_and_size_limit(sqlite_url, tmp_path):
    runtime = make_runtime(sqlite_url, tmp_path / "small", max_attachment_bytes=1000)
    app = create_app(runtime=runtime)
    shop = Shop(runtime)
    sales = make_api(app, runtime, "sue", ["sales"])
    warehouse = make_api(app, runtime, "wes", ["warehouse"])

    def upload(api, body=b"PNG...", name="../cup photo.png"):
        return api.post(
            "/api/v1/attachments",
            data={"file": (io.BytesIO(body), name)},
            content_type="multipart/form-data",
        )

    assert upload(sales).status_code == 403  # sales may not fill in any file field
    uploaded = upload(warehouse)
    assert uploaded.status_code == 201
    meta = uploaded.json
    assert meta["name"] == "cup photo.png" and meta["size"] == 6
    assert download(warehouse, meta["id"]) == (200, b"PNG...")
    assert download(sales, meta["id"])[0] == 403
    warehouse.patch(f"/api/v1/wms/item/{shop.cup['id']}", json={"version": 1, "photo": meta["id"]})
    assert download(sales, meta["id"]) == (200, b"PNG...")
    too_big = upload(warehouse, b"x" * 1001, "big.bin")
    assert too_big.status_code == 422
    assert "larger than the limit" in too_big.json["error"]["fields"]["file"]
    assert [p.name for p in runtime.settings.attachments_path.rglob("*") if p.is_file()] == [
        meta["id"]
    ]
    runtime.close()


HOSTILE = [
    (
        "post",
        "/api/v1/oms/order",
        '{"customer": 1, "lines": [{"item": 1, "qty": NaN, "price": "1"}]}',
    ),
    (
        "post",
        "/api/v1/oms/order",
        '{"customer": 1, "lines": [{"item": 1, "qty": Infinity, "price": "1"}]}',
    ),
    (
        "post",
        "/api/v1/wms/item",
        '{"sku": "BIG-1", "name": "x", "price": "1", "reorder_point": 9223372036854775808}',
    ),
    ("post", "/api/v1/oms/order", '{"customer": 1000000000000000000000000000000}'),
    ("post", "/api/v1/oms/order", '{"customer": "\u00b2"}'),
    ("post", "/api/v1/crm/customer", '{"name": "a\\u0000b"}'),
    ("post", "/api/v1/crm/customer", '{"name": "\\ud800"}'),
    ("post", "/api/v1/crm/customer", '{"name": "x", "tags": [[1]]}'),
    ("post", "/api/v1/crm/customer", '{"name": "x", "contacts": [1, "a", null, {"id": "x"}]}'),
    ("post", "/api/v1/crm/customer", '{"name": "x", "contacts": {"name": "y"}}'),
    ("post", "/api/v1/oms/order", "[" * 100_000 + "]" * 100_000),
    ("post", "/api/v1/crm/customer", '{"name": 1.5e400}'),
    ("patch", "/api/v1/crm/customer/1", '{"version": "\u00b2", "name": "y"}'),
    ("patch", "/api/v1/crm/customer/1", '{"version": true, "name": "y"}'),
    ("get", "/api/v1/oms/order?id=100000000000000000000", None),
    ("get", "/api/v1/oms/order?customer=100000000000000000000", None),
    ("get", "/api/v1/crm/customer/99999999999999999999999", None),
    ("delete", "/api/v1/crm/customer/99999999999999999999999", None),
    ("get", "/api/v1/oms/order?offset=100000000000000000000000", None),
    ("get", "/api/v1/oms/order?limit=\u00b2", None),
    ("get", "/api/v1/oms/order?created_by=\u00b2", None),
    ("get", "/api/v1/crm/customer?tags__contains=", None),
    ("get", "/api/v1/crm/customer?tags__contains=,", None),
    ("get", "/api/v1/crm/customer?sort=tags", None),
    ("get", "/api/v1/crm/customer?q=" + "x" * 100_000, None),
    ("get", "/api/v1/crm/customer?name__in=" + ",".join(["x"] * 70_000), None),
    ("get", "/api/v1/oms/order?created_at__gt=9999-12-31T23:59:59-01:00", None),
    ("get", "/api/v1/oms/order?order_date__between=2026-01-01", None),
    ("get", "/api/v1/crm/customer?name=a%00b", None),
    ("get", "/api/v1/oms/order?customer.customer.name=x", None),
    ("get", "/api/v1/oms/order?lines=1", None),
    ("get", "/api/v1/oms/order?sort=lines", None),
]


@pytest.mark.parametrize(
    "method, url, body", HOSTILE, ids=[f"{m} {u[:60]} {(b or '')[:40]}" for m, u, b in HOSTILE]
)
def test_hostile_input_gets_a_clear_4xx(app, sqlite_runtime, shop, method, url, body):
    manager = make_api(app, sqlite_runtime, "max", ["manager"])
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} if body else {}
    response = getattr(manager, method)(url, **kwargs)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    assert response.json["error"]["message"]


@pytest.mark.parametrize("hours", ["-1", "", "abc", "99999999999999"])
def test_flow_refuses_a_stuck_hours_that_is_no_hours(sales, hours):
    """A huge stuck_hours answered 500 (the date it names does not exist), and a
    negative one was taken as given."""
    response = sales.get(f"/api/v1/oms/order/flow?stuck_hours={hours}")
    assert response.status_code == 400
    assert "stuck_hours" in response.json["error"]["fields"]
    assert sales.get("/api/v1/oms/order/flow?stuck_hours=876000").status_code == 200


@pytest.mark.parametrize(
    "form, field",
    [
        ({"mapping": "[1, 2]"}, "mapping"),  # was a 500: a list has no columns
        ({"mapping": '{"SKU": ["sku"]}'}, "mapping"),
        ({"mapping": "not json"}, "mapping"),
        ({"dry_run": "perhaps"}, "dry_run"),  # was taken for no, and the import ran
        ({"then": "fly"}, "then"),  # was a 403 saying it may not be taken
    ],
)
def test_import_form_fields_are_checked_before_anything_runs(app, sqlite_runtime, form, field):
    admin = make_api(app, sqlite_runtime, "ada", ["admin"])
    response = admin.post(
        "/api/v1/wms/item/import" if field != "then" else "/api/v1/oms/order/import",
        data={"file": (io.BytesIO(b"SKU,Name,Price\nX-1,x,1.00\n"), "items.csv"), **form},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert admin.get("/api/v1/wms/item").json["total"] == 0


def test_a_405_names_the_methods_allowed(sales):
    response = sales.put("/api/v1/oms/order/1")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}


def test_a_malformed_if_match_or_a_null_version_is_refused(sales, shop):
    """Both were ignored: the write went through without the check the client asked for."""
    url = f"/api/v1/oms/order/{sales.post('/api/v1/oms/order', json=shop.order()).json['id']}"
    bad_tag = sales.patch(url, json={"version": 1, "note": "a"}, headers={"If-Match": "Yu"})
    assert bad_tag.status_code == 422 and "If-Match" in bad_tag.json["error"]["fields"]
    null = sales.post(url + "/transitions/confirm", json={"version": None})
    assert null.status_code == 422 and "version" in null.json["error"]["fields"]
    assert sales.get(url).json["version"] == 1


def test_openapi_documents_every_route_with_its_body_and_errors(app):
    """Transitions, imports, attachments and the index were missing from the document."""
    doc = app.test_client().get("/api/v1/openapi.json").json
    validate(doc)
    paths = doc["paths"]
    confirm = paths["/oms/order/{id}/transitions/confirm"]["post"]
    assert set(confirm["responses"]) >= {"200", "401", "404", "409", "412", "422"}
    ship = paths["/oms/order/{id}/transitions/ship"]["post"]["requestBody"]
    confirm_body = ship["content"]["application/json"]["schema"]
    assert set(confirm_body["properties"]) == {"comment", "version", "carrier"}
    form = paths["/oms/order/import"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert (
        form["schema"]["required"] == ["file"]
        and "confirm" in form["schema"]["properties"]["then"]["enum"]
    )
    assert "post" in paths["/attachments"] and "get" in paths["/attachments/{attachment_id}"]
    assert "/" in paths
    hook = paths["/hooks/orders/{channel}"]  # outside /api/v1, signed as each platform signs
    assert hook["servers"] == [{"url": "/"}] and hook["post"]["security"] == []
    assert hook["post"]["parameters"][0]["schema"]["enum"] == ["shopify", "woocommerce", "youzan"]
    assert "X-Shopify-Hmac-Sha256" in hook["post"]["description"]
    assert set(hook["post"]["responses"]) == {"200", "201", "401", "403", "404", "422"}
    order = doc["components"]["schemas"]["oms_order"]
    assert order["properties"]["version"]["readOnly"] is True  # a create that sent it got 422
    assert order["properties"]["customer"]["type"] == "integer"  # required: never null
    changes = doc["components"]["schemas"]["oms_order_changes"]["properties"]
    assert "readOnly" not in changes["version"]


def test_openapi_list_and_report_parameters_say_what_the_server_takes(app):
    """Every filter was any string: a select's '' or a ref's 'x' was documented as fine
    and refused; a report's date filter was documented as a comma list and ignored."""
    paths = app.test_client().get("/api/v1/openapi.json").json["paths"]
    params = {p["name"]: p["schema"] for p in paths["/crm/customer"]["get"]["parameters"]}
    assert params["kind"]["enum"] == ["person", "company"]
    assert "tags" not in params and params["tags__contains"]["enum"]  # no equals on a list
    assert params["q"]["maxLength"] == 200
    report = {p["name"]: p["schema"] for p in paths["/reports/oms/revenue"]["get"]["parameters"]}
    assert report["from"]["anyOf"][0]["format"] == "date" and "order_date" not in report
    assert report["order_date__gte"]["anyOf"] == [{"format": "date"}, {"maxLength": 0}]


def test_text_fields_refuse_json_numbers(sales, shop):
    """``"note": 0`` was stored as the text "0" while the document says string; a number
    is more likely a client's mistake (a column shifted) than text it meant."""
    url = f"/api/v1/oms/order/{sales.post('/api/v1/oms/order', json=shop.order()).json['id']}"
    for value in (0, 1.5):
        response = sales.patch(url, json={"version": 1, "note": value})
        assert response.status_code == 422
        assert response.json["error"]["fields"] == {
            "note": "must be text: send it as a JSON string, in quotes"
        }
    created = sales.post("/api/v1/crm/customer", json={"name": 42})
    assert created.status_code == 422 and "name" in created.json["error"]["fields"]
    assert sales.patch(url, json={"version": 1, "note": "0"}).json["note"] == "0"


def test_spreadsheet_numbers_still_import_into_text_fields(app, sqlite_runtime):
    """An XLSX cell holding 1001 is a number; imported into a text field it is text."""
    book = Workbook()
    book.active.append(["SKU", "Name", "Price"])
    book.active.append([1001, 2002, 1.5])
    data = io.BytesIO()
    book.save(data)
    admin = make_api(app, sqlite_runtime, "ada", ["admin"])
    response = admin.post(
        "/api/v1/wms/item/import",
        data={"file": (io.BytesIO(data.getvalue()), "items.xlsx")},
        content_type="multipart/form-data",
    )
    assert finished(admin, response)["outcome"]["created"] == 1
    item = admin.get("/api/v1/wms/item").json["data"][0]
    assert (item["sku"], item["name"]) == ("1001", "2002")


def _schemas(app) -> dict:
    return app.test_client().get("/api/v1/openapi.json").json["components"]["schemas"]


def test_openapi_bodies_admit_only_the_entitys_fields(app, sales, shop):
    """Other names are refused with 422, but the document let any through; a read's
    ``_meta`` was in no schema, so a strict client refused the answer."""
    schemas = _schemas(app)
    for name in ("oms_order", "oms_order_changes", "oms_order_line", "oms_order_line_changes"):
        assert schemas[name]["additionalProperties"] is False
    order = sales.post("/api/v1/oms/order", json=shop.order()).json
    read = sales.get(f"/api/v1/oms/order/{order['id']}").json
    assert set(read) <= set(schemas["oms_order"]["properties"])
    assert schemas["oms_order"]["properties"]["_meta"]["readOnly"] is True


def test_openapi_says_an_order_needs_a_line_and_a_key_a_character(app):
    """An order without lines, or an empty Idempotency-Key, matched the document and got
    422."""
    order = _schemas(app)["oms_order"]
    assert "lines" in order["required"] and order["properties"]["lines"]["minItems"] == 1
    create = app.test_client().get("/api/v1/openapi.json").json["paths"]["/oms/order"]["post"]
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert key["schema"]["minLength"] == 1


def test_openapi_text_schemas_refuse_nul_characters(app):
    """The server refuses text holding NUL (no database stores it); the document said any
    string, for bodies and for list filters."""
    name = _schemas(app)["crm_customer"]["properties"]["name"]
    assert Draft202012Validator(name).is_valid("张三")
    assert not Draft202012Validator(name).is_valid("a\x00b")
    doc = app.test_client().get("/api/v1/openapi.json").json
    params = doc["paths"]["/crm/customer"]["get"]["parameters"]
    city = next(p["schema"] for p in params if p["name"] == "city")
    assert not Draft202012Validator(city).is_valid("\x00")


def test_openapi_import_mapping_is_a_json_object_part(app):
    """The mapping was documented as any string; the server takes a JSON object only."""
    doc = app.test_client().get("/api/v1/openapi.json").json
    form = doc["paths"]["/wms/item/import"]["post"]["requestBody"]["content"]
    part = form["multipart/form-data"]
    assert part["schema"]["properties"]["mapping"]["type"] == "object"
    assert part["encoding"]["mapping"]["contentType"] == "application/json"


def test_a_refused_delete_answers_an_error_the_document_describes(app, sqlite_runtime, shop):
    """Deleting a customer an order refers to answered ``current: null``, which the
    document's object type refused."""
    admin = make_api(app, sqlite_runtime, "ada", ["admin"])
    admin.post("/api/v1/oms/order", json=shop.order())
    response = admin.delete(f"/api/v1/crm/customer/{shop.customer['id']}")
    assert response.status_code == 409
    error_schema = _schemas(app)["Error"]["properties"]["error"]
    assert Draft202012Validator(error_schema).is_valid(response.json["error"]), response.json


def test_an_id_too_large_for_a_record_is_404(sales):
    """It was 405 for PATCH and DELETE: no route matched, but others of the path did."""
    for method in ("get", "patch", "delete"):
        response = getattr(sales, method)("/api/v1/crm/customer/99999999999999999999", json={})
        assert response.status_code == 404, (method, response.json)
        assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "url, name",
    [
        ("/api/v1/oms/order/flow?perod=week", "perod"),
        ("/api/v1/reports/oms/revenue?form=2026-01-01", "form"),
        ("/api/v1/reports/oms/revenue?order_date__gte=2026-01-01&from=soon", "from"),
        ("/api/v1/reports/oms/revenue?to=2026-02-30", "to"),
    ],
)
def test_flow_and_reports_refuse_parameters_they_do_not_take(sales, url, name):
    """A misspelt parameter, or a bad ``from`` beside the filter that overrides it, was
    ignored: the answer covered every record without saying so."""
    response = sales.get(url)
    assert response.status_code == 400, response.json
    assert name in response.json["error"]["fields"]


def test_openapi_filters_admit_what_the_server_compares(app, sales):
    """A filter past a field's bounds matches no record and an empty report filter is
    none; the document refused both, though the server answers 200."""
    paths = app.test_client().get("/api/v1/openapi.json").json["paths"]
    items = {p["name"]: p["schema"] for p in paths["/wms/item"]["get"]["parameters"]}
    assert Draft202012Validator(items["receipt_tolerance"]).is_valid(-276)
    assert sales.get("/api/v1/wms/item?receipt_tolerance=-276").status_code == 200
    report = paths["/reports/wms/stock_value"]["get"]["parameters"]
    warehouse = next(p["schema"] for p in report if p["name"] == "warehouse")
    assert Draft202012Validator(warehouse).is_valid("")
    assert not Draft202012Validator(warehouse).is_valid("x")
    assert sales.get("/api/v1/reports/wms/stock_value?warehouse=").status_code == 200
