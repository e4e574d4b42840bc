"""The API over real HTTP, served on 127.0.0.1 by a server thread."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import Shop, serving


@pytest.fixture
def server(sqlite_runtime):
    with serving(sqlite_runtime) as url:
        yield url


def call(url: str, token: str, method: str = "GET", body=None, headers=None):
    request = urllib.request.Request(
        url,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            **(headers or {}),
        },
        data=json.dumps(body).encode() if body is not None else None,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_orders_over_http(server, sqlite_runtime):
    shop = Shop(sqlite_runtime)
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    token = sqlite_runtime.users.create_token("sue")
    status, order = call(f"{server}/api/v1/oms/order", token, "POST", shop.order())
    assert status == 201 and order["total"] == "293.00"
    status, page = call(f"{server}/api/v1/oms/order?channel=web", token)
    assert status == 200 and page["total"] == 1
    status, error = call(
        f"{server}/api/v1/oms/order/{order['id']}", token, "PATCH", {"version": 9, "note": "x"}
    )
    assert status == 409 and error["error"]["current"]["version"] == 1
    assert call(f"{server}/api/v1/oms/order", "wrong")[0] == 401


def test_concurrent_creates_over_http_with_one_idempotency_key(server, sqlite_runtime):
    shop = Shop(sqlite_runtime)
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    token = sqlite_runtime.users.create_token("sue")

    def create(i):
        key = {"Idempotency-Key": f"order-{i % 5}"}
        return call(f"{server}/api/v1/oms/order", token, "POST", shop.order(), key)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(create, range(20)))
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 5
    assert call(f"{server}/api/v1/oms/order", token)[1]["total"] == 5
