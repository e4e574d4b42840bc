"""Plugins: found in folders and entry points, every hook called, the bundled examples."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import textwrap
import time
from pathlib import Path

import pluggy
import pytest

from apploom import hookspecs
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.access.signatures import signature
from apploom.engine.automation.actions import BUILTIN_ACTIONS
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.definitions.model import ADMIN_ROLE
from apploom.engine.query.filters import parse_params
from apploom.engine.versions.install import apply_definitions
from apploom.plugins import BUNDLED, gather, open_runtime, plugin_manager
from apploom.web import create_app
from tests.helpers import Shop, app_text, browser, make_runtime

PLUGIN = '''
from apploom.plugin import TextType, hookimpl


class Colour(TextType):
    """#rrggbb, picked in the form, named (red) in a spreadsheet, shown in capitals."""

    name = "colour"
    input_type = "color"
    names = {"red": "#ff0000", "sky": "#87ceeb"}

    def coerce(self, field, value):
        value = super().coerce(field, value).lower()
        if not value.startswith("#") or len(value) != 7:
            raise ValueError("must look like #a0b1c2")
        return value

    def parse_text(self, field, text):
        return self.names.get(text.lower(), text)

    def display(self, field, value, lang, titles):
        return value.upper()


@hookimpl
def apploom_field_types():
    return [Colour()]


@hookimpl
def apploom_functions():
    return {"shout": lambda text: text.upper() + "!"}


@hookimpl
def apploom_actions():
    return {"stamp": lambda context, params: context.set({"note": params}) or "stamped"}


@hookimpl
def apploom_senders(settings):
    return {"pigeon": lambda payload: None}


@hookimpl
def apploom_routes(app):
    app.add_url_rule("/hello", "hello", lambda: "hello from a plugin")


STARTED = []


@hookimpl
def apploom_startup(runtime):
    STARTED.append(sorted(runtime.apps.apps))
'''

PAINT = app_text("paint")


def paint_runtime(tmp_path, sqlite_url):
    """A runtime with the paint app and the plugin above, found in a plugin folder."""
    folder = tmp_path / "myplugins"
    folder.mkdir()
    (folder / "paint_tools.py").write_text(textwrap.dedent(PLUGIN))
    manager = plugin_manager([BUNDLED, folder])
    found = gather(manager, None)
    found.types.functions.update(found.functions)
    assert "colour" in found.types.names()
    assert set(found.senders) == {"pigeon", "wecom", "dingtalk", "feishu"}  # and the robots
    runtime = make_runtime(sqlite_url, tmp_path / "instance")
    apply_definitions(
        runtime.db,
        bundled_sources() + [Source("paint.yaml", PAINT)],
        found.types,
        actions=frozenset(BUILTIN_ACTIONS) | set(found.actions),
    )
    runtime.close()
    return open_runtime(runtime.settings, manager), manager


def test_hook_every_hook_from_a_plugin_folder(tmp_path, sqlite_url):
    rt, manager = paint_runtime(tmp_path, sqlite_url)
    swatch = rt.records.create(SYSTEM_USER, "paint.swatch", {"name": "sky", "colour": "#A0B1C2"})
    assert (swatch["colour"], swatch["loud"]) == ("#a0b1c2", "SKY!")
    assert rt.records.get(SYSTEM_USER, "paint.swatch", swatch["id"])["note"] == "from a plugin"
    assert "pigeon" in rt.senders
    module = manager.get_plugin("plugins.paint_tools")
    assert module.STARTED == [["crm", "oms", "paint", "wms"]]
    assert create_app(runtime=rt).test_client().get("/hello").data == b"hello from a plugin"
    rt.close()


def test_a_plugin_field_type_is_shown_imported_filtered_and_exported_like_a_built_in(
    tmp_path, sqlite_url
):
    rt, _ = paint_runtime(tmp_path, sqlite_url)
    report = rt.imports.importer.run(
        SYSTEM_USER,
        "paint.swatch",
        ["Name", "Colour"],
        [["sky", "Sky"], ["fire", "red"], ["moss", "#8A9A5B"]],
        {"Name": "name", "Colour": "colour"},
    )
    assert (report.created, report.errors) == (3, [])
    found = rt.records.list(
        SYSTEM_USER, "paint.swatch", parse_params({"colour__startswith": "#8", "sort": "name"})
    )
    assert [(s["name"], s["colour"]) for s in found.data] == [
        ("moss", "#8a9a5b"),
        ("sky", "#87ceeb"),
    ]
    rt.users.create("ada", [ADMIN_ROLE], "password1234")
    b = browser(create_app(runtime=rt), "ada")
    listed = b.get("/a/paint/swatch?colour__contains=ff").get_data(as_text=True)
    assert "#FF0000" in listed and "#87CEEB" not in listed
    assert 'name="colour__contains"' in listed
    fire = next(s for s in rt.records.list(SYSTEM_USER, "paint.swatch").data if s["name"] == "fire")
    assert "#FF0000" in b.get(f"/a/paint/swatch/{fire['id']}").get_data(as_text=True)
    form = b.get(f"/a/paint/swatch/{fire['id']}/edit").get_data(as_text=True)
    assert re.search(r'<input type="color" name="colour" id="colour" value="#ff0000"', form)
    rows = list(
        csv.reader(
            io.StringIO(b.get("/a/paint/swatch/export.csv?sort=name").data.decode("utf-8-sig"))
        )
    )
    assert [r[:2] for r in rows[1:]] == [
        ["fire", "#FF0000"],
        ["moss", "#8A9A5B"],
        ["sky", "#87CEEB"],
    ]
    rt.close()


def test_hook_plugins_load_from_the_entry_point_group(tmp_path, monkeypatch):
    (tmp_path / "shop_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "shop_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shop-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[apploom]\nshop = shop_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = plugin_manager()
    assert "colour" in gather(manager, None).types.names()


def test_a_misspelt_hook_is_an_error_not_silence(tmp_path):
    (tmp_path / "typo.py").write_text(
        "from apploom.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef apploom_action():\n    return {}\n"
    )
    with pytest.raises(pluggy.PluginValidationError, match="apploom_action"):
        plugin_manager([tmp_path])


def test_two_plugins_adding_the_same_action_is_an_error(tmp_path):
    for name in ("one", "two"):
        (tmp_path / f"{name}.py").write_text(
            "from apploom.hookspecs import hookimpl\n\n@hookimpl\ndef apploom_actions():\n"
            "    return {'same': lambda context, params: ''}\n"
        )
    with pytest.raises(ValueError, match="same"):
        gather(plugin_manager([tmp_path]), None)


def test_the_bundled_carrier_books_a_shipment_with_a_checked_number(tmp_path, sqlite_url):
    found = gather(plugin_manager([BUNDLED]), None)
    rule = (
        "    rules:\n      - name: book\n        on: {transition: pick}\n        do:\n"
        "          - book_shipment: {carrier: jd}\n"
    )
    sources = [
        Source(s.file, s.text.replace("    rules:\n", rule, 1))
        if s.file.endswith("oms.yaml")
        else s
        for s in bundled_sources()
    ]
    runtime = make_runtime(sqlite_url, tmp_path / "instance")
    apply_definitions(
        runtime.db, sources, found.types, actions=frozenset(BUILTIN_ACTIONS) | set(found.actions)
    )
    runtime.close()
    rt = open_runtime(runtime.settings)
    shop = Shop(rt)
    order = rt.records.create(SYSTEM_USER, "oms.order", shop.order())
    rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "confirm")
    picked = rt.transitions.take(SYSTEM_USER, "oms.order", order["id"], "pick")
    stored = rt.records.get(SYSTEM_USER, "oms.order", order["id"])
    assert picked["status"] == "picking"
    assert stored["carrier"] == "jd"
    assert stored["tracking_number"] == f"JD{order['id']:010d}" + stored["tracking_number"][-1]
    module = rt.plugins.get_plugin("plugins.fake_carrier")
    assert module.luhn_digit("7992739871") == "3"
    rt.close()


def test_the_bundled_signed_webhook_checks_the_signature(tmp_path, sqlite_url):
    runtime = make_runtime(
        sqlite_url, tmp_path / "instance", webhook_secret="s3cret", webhook_user="shopify"
    )
    runtime.close()
    rt = open_runtime(runtime.settings)
    rt.users.create("shopify", ["sales"], "password1234")
    shop = Shop(rt)
    client = create_app(runtime=rt).test_client()
    body = json.dumps(shop.order(channel="marketplace", external_id="TM-1")).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": "tm-1"}

    def post(signed, path="/hooks/oms/order"):
        return client.post(path, data=body, headers={**headers, "X-AppLoom-Signature": signed})

    good = signature("s3cret", "/hooks/oms/order", body)
    mac = good.partition(",v1=")[2]
    now = int(time.time())
    assert post(f"t={now},v1=" + "0" * 64).status_code == 401
    assert post("sha256=" + mac).json["error"]["message"].startswith("The signature has no time")
    stale = signature("s3cret", "/hooks/oms/order", body, now - 301)
    assert "seconds from ours" in post(stale).json["error"]["message"]
    elsewhere = post(good, "/hooks/crm/customer")  # the signature names the order path
    assert elsewhere.json["error"]["message"] == "The signature does not match the call."
    first = post(good)
    replayed = post(good)
    assert first.status_code == 201 and replayed.status_code == 401
    assert replayed.json["error"]["message"].startswith("This call was delivered before")
    assert post(good + ",x=1").status_code == 401  # the same signature, dressed up
    again = post(signature("s3cret", "/hooks/oms/order", body, now + 1))  # a retry, signed anew
    assert again.status_code == 201 and first.json == again.json
    assert first.json["created_by"] == rt.users.get("shopify").id
    assert rt.records.list(SYSTEM_USER, "oms.order").total == 1
    rt.close()


def test_bundled_plugins_import_only_the_plugin_api():
    for path in sorted(BUNDLED.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("apploom"):
                assert node.module == "apploom.plugin", f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("apploom") for a in node.names), path.name


def test_the_plugin_guide_lists_every_hook_and_only_those():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    guide = readme.split("## Plugins", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(apploom_\w+)\(", guide, re.M))
    hooks = {name for name in vars(hookspecs) if name.startswith("apploom_")}
    assert documented == hooks


def test_the_plugin_api_names_only_what_it_has():
    from apploom import plugin

    assert all(hasattr(plugin, name) for name in plugin.__all__)
