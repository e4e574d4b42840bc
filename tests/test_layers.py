"""A business's changes as a layer over the bundled definitions: merged with a new
release setting by setting, conflicts reported, nothing of theirs lost silently."""

from __future__ import annotations

import html

import pytest
import yaml
from click.testing import CliRunner

from apploom import cli as commands
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.versions.layers import merge
from apploom.web import create_app
from apploom.web.studio import routes as studio
from tests.helpers import browser, install

BASE = """app: shop
entities:
  item:
    label: {en: Item}
    fields:
      name: {type: text, label: {en: Name}}
      price: {type: money}
"""


def test_each_side_keeps_what_only_it_changed():
    mine = BASE.replace("label: {en: Name}", "label: {en: Product name}")
    theirs = BASE.replace(
        "      price: {type: money}\n", "      price: {type: money}\n      barcode: {type: text}\n"
    )
    merged, conflicts = merge(BASE, mine, theirs)
    fields = yaml.safe_load(merged)["entities"]["item"]["fields"]
    assert conflicts == []
    assert fields["name"]["label"]["en"] == "Product name" and "barcode" in fields
    assert list(fields) == ["name", "price", "barcode"]


def test_a_setting_both_changed_is_a_conflict_and_yours_is_kept():
    mine = BASE.replace("label: {en: Name}", "label: {en: Product name}").replace(
        "      price: {type: money}\n", ""
    )  # you removed price
    theirs = BASE.replace("label: {en: Name}", "label: {en: Title}").replace(
        "price: {type: money}", "price: {type: money, min: 0}"
    )  # the release changed it
    merged, conflicts = merge(BASE, mine, theirs)
    assert [c.path for c in conflicts] == [
        "entities.item.fields.name.label.en",
        "entities.item.fields.price",
    ]
    assert "you had changed it to Product name; yours is kept" in str(conflicts[0])
    fields = yaml.safe_load(merged)["entities"]["item"]["fields"]
    assert fields["name"]["label"]["en"] == "Product name" and "price" not in fields


def test_the_merge_keeps_the_business_comments_and_layout():
    mine = BASE.replace(
        "    label: {en: Item}\n", "    label: {en: Item}   # what we sell\n"
    ).replace(
        "      price: {type: money}\n",
        "      # in yuan, tax included\n      price: {type: money, min: 0}\n",
    )
    theirs = BASE.replace(
        "    label: {en: Item}\n", "    label: {en: Item, zh: 商品}\n    icon: 📦\n"
    ).replace(
        "      name: {type: text, label: {en: Name}}\n",
        "      name: {type: text, label: {en: Name}, required: true}\n",
    )
    merged, conflicts = merge(BASE, mine, theirs)
    assert conflicts == []
    assert merged == (
        "app: shop\nentities:\n  item:\n    label: {en: Item, zh: 商品}  # what we sell\n"
        "    fields:\n"
        "      name: {type: text, label: {en: Name}, required: true}\n"
        "      # in yuan, tax included\n      price: {type: money, min: 0}\n"
        "    icon: 📦\n"
    )


CITY = "      city:     {type: text, label: {en: City, zh: 城市}, length: 60}\n"


@pytest.fixture
def release(monkeypatch, tmp_path):
    """The CLI on an instance, and a way to ship a new release of the bundled apps."""
    runner = CliRunner()
    shipped = {"sources": bundled_sources()}
    monkeypatch.setattr(commands, "bundled_sources", lambda: shipped["sources"])

    def run(*args):
        return runner.invoke(
            commands.main, ["--instance", str(tmp_path / "instance"), *args], catch_exceptions=False
        )

    def ship(old: str, new: str) -> None:
        shipped["sources"] = [
            Source(s.file, s.text.replace(old, new)) if s.file.endswith("crm.yaml") else s
            for s in shipped["sources"]
        ]

    run.ship = ship
    return run


def test_an_unchanged_app_follows_the_release_and_a_changed_one_is_merged(release, tmp_path):
    release("init")
    release.ship(CITY, CITY + "      region: {type: text}\n")  # release 2 adds a field
    assert "Upgraded crm to this release's definition (version 2)" in release("init").output

    mine = tmp_path / "crm.yaml"
    live = release("apps", "export", "crm").output
    mine.write_text(live.replace("label: {en: City, zh: 城市}", "label: {en: Town, zh: 城镇}"))
    release("apps", "apply", str(mine), "--comment", "we say town")
    release.ship(
        '    naming: "C-{#####}"\n',
        '    naming: "C-{#####}"\n    description: {en: People and firms we sell to}\n',
    )  # release 3
    told = release("init").output
    assert "crm: this release changes its definition and you have your own changes" in told
    dry = release("apps", "upgrade", "crm", "--dry-run").output
    assert "Dry run" in dry and "!" not in dry
    assert "Applied crm as version 4" in release("apps", "upgrade", "crm").output
    merged = release("apps", "export", "crm").output
    assert "Town" in merged and "People and firms we sell to" in merged and "region" in merged
    assert "crm is up to date" in release("apps", "upgrade", "crm").output
    assert "changes its definition" not in release("init").output


def test_a_conflict_is_shown_and_decided(release, tmp_path):
    release("init")
    mine = tmp_path / "crm.yaml"
    live = release("apps", "export", "crm").output
    mine.write_text(live.replace("label: {en: City, zh: 城市}", "label: {en: Town, zh: 城镇}"))
    release("apps", "apply", str(mine))
    release.ship("label: {en: City, zh: 城市}", "label: {en: Locality, zh: 地区}")
    refused = release("apps", "upgrade", "crm")
    assert refused.exit_code == 1
    assert (
        "entities.customer.fields.city.label.en: the release changed City to Locality, "
        "you had changed it to Town; yours is kept" in refused.output
    )
    kept = release("apps", "upgrade", "crm", "--keep-mine")
    assert kept.exit_code == 0 and "Town" in release("apps", "export", "crm").output


def test_the_studio_previews_and_applies_the_merge(runtime, monkeypatch):
    shipped = [
        Source(s.file, s.text.replace(CITY, CITY + "      region: {type: text}\n"))
        if s.file.endswith("crm.yaml")
        else s
        for s in bundled_sources()
    ]
    monkeypatch.setattr(studio, "bundled_sources", lambda: shipped)
    crm = next(s for s in bundled_sources() if s.file.endswith("crm.yaml"))
    install(runtime.db, [crm], bases={"crm": crm.text})
    install(
        runtime.db,
        [Source(crm.file, crm.text.replace("{en: City, zh: 城市}", "{en: Town, zh: 城镇}"))],
    )
    runtime.users.create("boss", ["admin"], "password1234")
    boss = browser(create_app(runtime=runtime), "boss")
    assert "Preview the merge" in boss.get("/studio/crm").get_data(as_text=True)
    preview = boss.post("/studio/crm/upgrade").get_data(as_text=True)
    assert "add column crm_customer.region" in preview and "Town" in preview
    assert 'name="base" value="release"' in preview
    editor = preview.split('id="definition"')[1].split(">", 1)[1].split("</textarea>")[0]
    done = boss.post(
        "/studio/crm/apply",
        data={"text": html.unescape(editor), "comment": "with the release", "base": "release"},
    )
    assert done.status_code == 303
    assert "Preview the merge" not in boss.get("/studio/crm").get_data(as_text=True)
