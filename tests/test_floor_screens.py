"""The floor's screens through the test client: a scanned code opens what it names, a
scan posted without the session's token is refused, a refused scan answers 422 in the
user's language, and the pick, receive and count screens show what the engine kept."""

from __future__ import annotations

import json

import pytest

from apploom.web import create_app
from tests.helpers import browser
from tests.test_floor_scans import a_parcel
from tests.test_journey import Shop


@pytest.fixture
def shop(sqlite_runtime):
    return Shop(sqlite_runtime)


@pytest.fixture
def floor(shop):
    return browser(create_app(runtime=shop.rt), "warehouse")


def test_a_scanned_code_opens_what_it_names(shop, floor):
    parcel = a_parcel(shop, (shop.tea, 1))
    order = shop.get("oms/order", {"id": parcel["order"]})
    for code, url in (
        (parcel["number"], f"/a/oms/shipment/{parcel['id']}"),
        (order["number"], f"/a/oms/order/{order['id']}"),
        ("tea", f"/a/wms/item/{shop.tea}"),
    ):
        answer = floor.get(f"/floor/lookup?code={code}")
        assert answer.status_code == 303 and answer.headers["Location"].endswith(url), code
    nothing = floor.get("/floor/lookup?code=XYZ-0").get_data(as_text=True)
    assert "Nothing has the code XYZ-0" in nothing
    picking = floor.get(f"/floor/pick?code={order['number']}")
    assert picking.headers["Location"].endswith(f"/floor/pick/{parcel['id']}")


def test_a_scan_needs_the_session_token_and_is_answered_in_the_users_language(shop, floor):
    parcel = a_parcel(shop, (shop.tea, 1))
    forged = floor.client.post(f"/floor/pick/{parcel['id']}/scan", data={"code": "TEA"})
    assert forged.status_code == 400
    floor.get("/lang/zh?next=/floor/")
    wrong = floor.post(
        f"/floor/pick/{parcel['id']}/scan", data={"code": "CUP"}, headers={"HX-Request": "true"}
    )
    assert wrong.status_code == 422
    text = wrong.get_data(as_text=True)
    assert 'data-scan-result="refused"' in text and "CUP Cup 不在此包裹中" in text
    assert "<html" not in text  # the panel alone, for htmx to swap
    right = floor.post(f"/floor/pick/{parcel['id']}/scan", data={"code": "TEA"})
    assert right.status_code == 200
    assert "所有商品已扫描完毕" in right.get_data(as_text=True)
    shipped = floor.post(f"/floor/pick/{parcel['id']}/ship", data={"carrier": "sf"})
    assert shipped.status_code == 303
    assert shop.get("oms/shipment", parcel)["status"] == "shipped"


def test_receive_and_count_screens_show_what_was_scanned(shop, floor):
    po = shop.purchase(shop.tea, 5, receive=False)
    assert floor.get(f"/floor/receive?code={po['number']}").status_code == 303
    floor.post(f"/floor/receive/{po['id']}/scan", data={"code": "TEA", "qty": "2"})
    screen = floor.get(f"/floor/receive/{po['id']}").get_data(as_text=True)
    assert "This receipt 2 · Received 0 / 5" in screen
    assert floor.post(f"/floor/receive/{po['id']}/post").status_code == 303
    assert shop.stock(shop.tea) == (2, 0)
    started = floor.post("/floor/count/new", data={"warehouse": str(shop.east)})
    count_url = started.headers["Location"]
    floor.post(count_url + "/scan", data={"code": "TEA", "qty": "1"})
    assert floor.post(count_url + "/post").status_code == 303
    assert "Difference -1" in floor.get(count_url).get_data(as_text=True)
    assert shop.stock(shop.tea) == (1, 0)


def test_the_app_installs_on_a_home_screen_from_its_manifest(floor):
    page = floor.get("/floor/").get_data(as_text=True)
    assert '<link rel="manifest" href="/static/manifest.webmanifest">' in page
    with floor.client.get("/static/manifest.webmanifest") as answer:
        assert answer.mimetype == "application/manifest+json"
        manifest = json.loads(answer.get_data(as_text=True))
    assert manifest["display"] == "standalone" and manifest["start_url"] == "../"
    for icon in manifest["icons"]:
        with floor.client.get(f"/static/{icon['src']}") as image:
            assert image.mimetype == "image/png" and image.data.startswith(b"\x89PNG")
            width = int.from_bytes(image.data[16:20], "big")  # the PNG header's width
        assert f"{width}x{width}" == icon["sizes"]
