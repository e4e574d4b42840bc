"""Loading definitions: the bundled apps, and broken ones with the message each must produce."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from apploom.engine.definitions.json_schema import app_schema
from apploom.engine.definitions.loading import Source, bundled_sources, load_apps
from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import DefinitionError
from apploom.engine.fields.registry import FieldTypes
from tests.helpers import bundled_actions

TYPES = FieldTypes()
ROOT = Path(__file__).resolve().parents[1]
SHIPPED_SCHEMA = ROOT / "apploom" / "engine" / "definitions" / "app.schema.json"
MINIMAL = "app: desk\nentities:\n  ticket:\n    fields: {subject: {type: text}}\n"


def load(*texts: str, names=None):
    sources = [
        Source(names[i] if names else f"app{i}.yaml", textwrap.dedent(t))
        for i, t in enumerate(texts)
    ]
    return load_apps(sources, TYPES)


def problems_of(*texts: str) -> list:
    with pytest.raises(DefinitionError) as caught:
        load(*texts)
    return caught.value.problems


def test_bundled_apps_load_with_cross_app_refs():
    apps = load_apps(bundled_sources(), TYPES, bundled_actions())
    assert set(apps.apps) == {"crm", "wms", "oms"}
    order = apps.entity("oms.order")
    assert order.fields["customer"].to == "crm.customer"
    assert apps.entity("oms.order_line").parent == "oms.order"
    assert order.fields["number"].type == "autonumber"
    assert [a.name for a in apps.ordered()].index("oms") > [a.name for a in apps.ordered()].index(
        "crm"
    )
    assert order.label.get("zh") == "销售订单"


def test_shipped_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(app_schema(TYPES.names()))


def test_json_definitions_load_with_lines():
    text = json.dumps(
        {
            "app": "notes",
            "entities": {
                "note": {
                    "fields": {
                        "title": {"type": "text", "required": True},
                        "stars": {"type": "integr"},
                    }
                }
            },
        },
        indent=2,
    )
    with pytest.raises(DefinitionError) as caught:
        load_apps([Source("notes.json", text)], TYPES)
    [problem] = caught.value.problems
    assert problem.path == "entities.note.fields.stars.type"
    assert problem.line == text.splitlines().index('          "type": "integr"') + 1


def test_yaml_words_like_on_and_no_stay_words():
    apps = load("""
        app: shop
        entities:
          answer:
            fields:
              reply: {type: select, options: [yes, no, on, off]}
    """)
    assert apps.entity("shop.answer").fields["reply"].option_values == ("yes", "no", "on", "off")


def test_several_problems_are_reported_together_and_nothing_loads():
    problems = problems_of("""
        app: shop
        entities:
          order:
            fields:
              qty: {type: integer, min: 10, max: 1}
              total: {type: money, formula: "qty * nope"}
    """)
    assert len(problems) == 2
    assert all(p.file == "app0.yaml" for p in problems)


SHOP_ORDERS = """app: shop
entities:
  order:
    fields:
      customer: {type: text}
      channel: {type: select, options: [web]}
      external_id: {type: text}
      lines: {type: table, of: line}
    workflow: {initial: draft, states: {draft: {}, cancelled: {}},
               transitions: {cancel: {from: draft, to: cancelled}}}
  line:
    fields: {item: {type: text}}
channels:
"""
CHANNEL = """  web:
    auth: {auth}
    map:
      external_id: {id}
      lines: {{each: items, qty: n, price: p}}
{more}"""

# (case, definition, path, message fragment, line)
BROKEN = [
    ("not yaml", "app: [shop\n", "", "not valid YAML", 2),
    ("empty file", "", "", "the file is empty", 1),
    ("missing app name", "entities: {a: {fields: {x: {type: text}}}}\n", "", "is missing 'app'", 1),
    (
        "bad app name",
        "app: Shop\nentities: {a: {fields: {x: {type: text}}}}\n",
        "app",
        "must start with a lowercase letter",
        1,
    ),
    (
        "unknown top-level setting",
        "app: shop\ncolour: red\nentities: {a: {fields: {x: {type: text}}}}\n",
        "colour",
        "'colour' is not a known setting",
        2,
    ),
    ("no entities", "app: shop\nentities: {}\n", "entities", "must not be empty", 2),
    (
        "unknown field type",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: integr}\n",
        "entities.a.fields.x.type",
        "'integr' is not a field type",
        5,
    ),
    (
        "misspelt field setting",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: text, lenght: 5}\n",
        "entities.a.fields.x.lenght",
        "'lenght' is not a known setting",
        5,
    ),
    (
        "bad field name",
        "app: shop\nentities:\n  a:\n    fields:\n      Qty: {type: integer}\n",
        "entities.a.fields.Qty",
        "'Qty' is not a valid name",
        5,
    ),
    (
        "duplicate key",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: text}\n      x: "
        "{type: integer}\n",
        "entities.a.fields.x",
        "'x' is written twice (first on line 5)",
        6,
    ),
    (
        "required not boolean",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: text, required: maybe}\n",
        "entities.a.fields.x.required",
        "must be true or false",
        5,
    ),
    (
        "select without options",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: select}\n",
        "entities.a.fields.x.options",
        "needs a list of options",
        5,
    ),
    (
        "duplicate option",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: select, options: [a, b, a]}\n",
        "entities.a.fields.x.options",
        "the option 'a' is listed more than once",
        5,
    ),
    (
        "setting of another type",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: money, options: [a]}\n",
        "entities.a.fields.x.options",
        "'options' does not apply to a money field",
        5,
    ),
    (
        "ref to unknown entity",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: ref, to: client}\n",
        "entities.a.fields.x.to",
        "'shop.client' is not an entity",
        5,
    ),
    (
        "ref across apps without requires",
        None,
        "entities.a.fields.x.to",
        "so 'crm' must be listed under requires",
        6,
    ),
    (
        "requires unknown app",
        "app: shop\nrequires: [billing]\nentities: {a: {fields: {x: {type: text}}}}\n",
        "requires.0",
        "requires the app 'billing', which is not loaded",
        2,
    ),
    ("requires cycle", None, "requires", "apps require each other in a circle", 2),
    (
        "unknown filter operator",
        "app: shop\nentities: {a: {fields: {d: {type: date}}}}\n"
        "reports:\n  r:\n    entity: a\n    where: {d: {older_than: 30}}\n"
        "    measures: {n: {count: '*'}}\n",
        "reports.r.where.d.older_than",
        "'older_than' is not a known setting; known settings here: between, contains",
        6,
    ),
    (
        "age in days below zero",
        "app: shop\nentities: {a: {fields: {d: {type: date}}}}\n"
        "reports:\n  r:\n    entity: a\n"
        "    measures: {n: {count: '*', where: {d: {not_older_than_days: -1}}}}\n",
        "reports.r.measures.n.where.d.not_older_than_days",
        "-1 is too small; it must be at least 0",
        6,
    ),
    (
        "panel link off the site",
        "app: shop\nentities:\n  a:\n    fields:\n      b: {type: ref, to: a, "
        "related: {link: {to: 'https://example.com/{id}'}}}\n",
        "entities.a.fields.b.related.link.to",
        "must be a path on this site with {id} for the record's id",
        5,
    ),
    (
        "reserved field name",
        "app: shop\nentities:\n  a:\n    fields:\n      version: {type: integer}\n",
        "entities.a.fields.version",
        "'version' is kept for the system",
        5,
    ),
    (
        "formula syntax",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: decimal, formula: 'qty *'}\n",
        "entities.a.fields.x.formula",
        "is not a valid expression",
        5,
    ),
    (
        "formula unknown field",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: decimal, formula: 'qty * 2'}\n",
        "entities.a.fields.x.formula",
        "uses 'qty', which is not a field",
        5,
    ),
    (
        "formula dunder",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: text, formula: "
        '"y.__class__"}\n      y: {type: text}\n',
        "entities.a.fields.x.formula",
        "names starting with _ are not allowed",
        5,
    ),
    (
        "formula import",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: text, formula: "
        "\"__import__('os')\"}\n",
        "entities.a.fields.x.formula",
        "names starting with _",
        5,
    ),
    (
        "formula nested too deeply",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: decimal, formula: '"
        + "1+" * 300
        + "1'}\n",
        "entities.a.fields.x.formula",
        "nested more than 100 levels deep",
        5,
    ),
    (
        "formula cycle",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: decimal, formula:"
        " 'y + 1'}\n      y: {type: decimal, formula: 'x + 1'}\n",
        "entities.a.fields.x.formula",
        "depends on itself",
        5,
    ),
    (
        "min above max",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: integer, min: 9, max: 1}\n",
        "entities.a.fields.x",
        "min (9) is greater than max (1)",
        5,
    ),
    (
        "bad default",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: date, default: tomorrow}\n",
        "entities.a.fields.x.default",
        "must be a date like 2026-01-31",
        5,
    ),
    (
        "bad pattern",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: text, pattern: '[a-'}\n",
        "entities.a.fields.x.pattern",
        "is not a valid pattern",
        5,
    ),
    (
        "backreference pattern",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: text, pattern: '(a)\\1'}\n",
        "entities.a.fields.x.pattern",
        "is not a valid pattern: invalid escape sequence",
        5,
    ),
    (
        "naming without counter",
        "app: shop\nentities:\n  a:\n    naming: 'SO-{YYYY}'\n    fields:\n      x: {type: text}\n",
        "entities.a.naming",
        "needs exactly one counter",
        4,
    ),
    (
        "unknown role",
        "app: shop\nroles: [sales]\nentities:\n  a:\n    permissions: {clerk: "
        "[read]}\n    fields: {x: {type: text}}\n",
        "entities.a.permissions.clerk",
        "the role 'clerk' is not declared",
        5,
    ),
    (
        "bad permission action",
        "app: shop\nroles: [sales]\nentities:\n  a:\n    permissions: "
        "{sales: [read, approve]}\n    fields: {x: {type: text}}\n",
        "entities.a.permissions.sales.1",
        "must be one of read, create, update, delete",
        5,
    ),
    (
        "list column unknown",
        "app: shop\nentities:\n  a:\n    fields: {x: {type: text}}\n    list: {columns: [x, y]}\n",
        "entities.a.list.columns",
        "'y' is not a field of a",
        5,
    ),
    (
        "form field unknown",
        "app: shop\nentities:\n  a:\n    fields: {x: {type: text}}\n    form:"
        "\n      - {section: Main, rows: [[x, z]]}\n",
        "entities.a.form.0.rows.0",
        "the form shows 'z'",
        6,
    ),
    (
        "title token unknown",
        "app: shop\nentities:\n  a:\n    title: '{name}'\n    fields: {x: {type: text}}\n",
        "entities.a.title",
        "'{name}' is not a field of a",
        4,
    ),
    (
        "table of unknown entity",
        "app: shop\nentities:\n  a:\n    fields:\n      rows: {type: table, of: line}\n",
        "entities.a.fields.rows.of",
        "'line' is not an entity of shop",
        5,
    ),
    (
        "table without of, with a formula",
        "app: shop\nentities:\n  a:\n    fields:\n      rows: "
        "{type: table}\n      total: {type: decimal, formula: 'sum(rows.x)'}\n",
        "entities.a.fields.rows.of",
        "a table field needs 'of'",
        5,
    ),
    (
        "table rows past the ceiling",
        "app: shop\nentities:\n  a:\n    fields:\n      rows: {type: table, of: line,"
        " max_rows: 50000}\n  line:\n    fields: {x: {type: text}}\n",
        "entities.a.fields.rows.max_rows",
        "50000 is too large; it must be at most 10000",
        5,
    ),
    (
        "table needing more rows than it holds",
        "app: shop\nentities:\n  a:\n    fields:\n      rows: {type: table, of: line,"
        " min_rows: 2000}\n  line:\n    fields: {x: {type: text}}\n",
        "entities.a.fields.rows.min_rows",
        "min_rows (2000) is greater than the most rows the table may hold (1000)",
        5,
    ),
    (
        "default_from without a ref",
        "app: shop\nentities:\n  a:\n    fields:\n      name: {type: text}\n"
        "      price: {type: money, default_from: name.price}\n",
        "entities.a.fields.price.default_from",
        "'name' is not a ref field of a",
        6,
    ),
    (
        "default_from a field the target lacks",
        "app: shop\nentities:\n  item:\n    fields: {sku: {type: text}}\n  a:\n"
        "    fields:\n      item: {type: ref, to: item}\n"
        "      price: {type: money, default_from: item.price}\n",
        "entities.a.fields.price.default_from",
        "'price' is not a field of shop.item",
        8,
    ),
    (
        "ref to child rows",
        "app: shop\nentities:\n  a:\n    fields:\n      rows: {type: table, of:"
        " line}\n  line:\n    fields: {x: {type: text}}\n  b:\n    fields:\n"
        "      l: {type: ref, to: line}\n",
        "entities.b.fields.l.to",
        "refer to shop.a instead",
        10,
    ),
    (
        "index on a multiselect",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: "
        "multiselect, options: [a], index: true}\n",
        "entities.a.fields.x.index",
        "'index' does not apply to a multiselect field",
        5,
    ),
    (
        "unique row field",
        "app: shop\nentities:\n  a:\n    fields:\n      rows: {type: table, "
        "of: line}\n  line:\n    fields:\n      code: {type: text, unique: true}\n",
        "entities.line.fields.code.unique",
        "'unique' does not apply to row fields",
        8,
    ),
    (
        "precision too large",
        "app: shop\nentities:\n  a:\n    fields:\n      x: {type: decimal, precision: 30}\n",
        "entities.a.fields.x.precision",
        "30 is too large; it must be at most 18",
        5,
    ),
    (
        "search on a number",
        "app: shop\nentities:\n  a:\n    fields: {x: {type: integer}}\n    list: {search: [x]}\n",
        "entities.a.list.search",
        "'x' cannot be searched",
        5,
    ),
    (
        "channel path that is not JMESPath",
        SHOP_ORDERS + CHANNEL.format(auth="{scheme: none}", id="'id['", more=""),
        "channels.web.map.external_id",
        "'id[' is not a JMESPath expression",
        17,
    ),
    (
        "channel that is not one of the order's",
        SHOP_ORDERS
        + CHANNEL.replace("  web:", "  kiosk:").format(auth="{scheme: none}", id="id", more=""),
        "channels.kiosk",
        "'kiosk' is not a channel of shop.order; add it to the options",
        15,
    ),
    (
        "channel status naming no transition",
        SHOP_ORDERS
        + CHANNEL.format(auth="{scheme: none}", id="id", more="    statuses: {paid: pay}\n"),
        "channels.web.statuses.paid",
        "'pay' is not a transition of order nor one of: cancel, payment, refund, none",
        19,
    ),
    (
        "channel signature without its header",
        SHOP_ORDERS + CHANNEL.format(auth="{scheme: hmac_base64}", id="id", more=""),
        "channels.web.auth",
        "the hmac_base64 scheme needs the header the platform signs in",
        15,
    ),
    (
        "channel scheme unknown",
        SHOP_ORDERS + CHANNEL.format(auth="{scheme: sha1}", id="id", more=""),
        "channels.web.auth.scheme",
        "'sha1' is not allowed; use one of: engine, hmac_base64",
        15,
    ),
]

CROSS_APP = (
    "app: shop\nentities:\n  a:\n    fields:\n      x:\n        {type: ref, to: crm.customer}\n"
)
CYCLE_A = "app: one\nrequires: [two]\nentities: {a: {fields: {x: {type: text}}}}\n"
CYCLE_B = "app: two\nrequires: [one]\nentities: {b: {fields: {x: {type: text}}}}\n"


@pytest.mark.parametrize("case, text, path, message, line", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_definition_names_path_line_and_problem(case, text, path, message, line):
    if case == "ref across apps without requires":
        crm = next(s for s in bundled_sources() if s.file.endswith("crm.yaml"))
        sources = [Source("shop.yaml", CROSS_APP), crm]
        file = "shop.yaml"
    elif case == "requires cycle":
        sources = [Source("one.yaml", CYCLE_A), Source("two.yaml", CYCLE_B)]
        file = "one.yaml"
    else:
        sources = [Source("shop.yaml", text)]
        file = "shop.yaml"
    with pytest.raises(DefinitionError) as caught:
        load_apps(sources, TYPES)
    matching = [p for p in caught.value.problems if message in p.message]
    assert matching, f"no problem says {message!r}: {caught.value}"
    problem = matching[0]
    assert (problem.file, problem.path, problem.line) == (file, path, line)
    assert f"{file}:{line}: {path or '(top)'}: " in str(caught.value)


def test_at_least_twenty_broken_definitions_are_covered():
    assert len(BROKEN) >= 20


def test_two_files_defining_the_same_app_are_refused():
    text = "app: shop\nentities: {a: {fields: {x: {type: text}}}}\n"
    with pytest.raises(DefinitionError, match="also defined in one.yaml"):
        load_apps([Source("one.yaml", text), Source("two.yaml", text)], TYPES)


def test_every_bundled_definition_is_valid_against_the_shipped_schema():
    """The file as shipped, for editors: its field-type list was a placeholder that every
    app failed on. Read as YAML 1.2 (as editors' YAML language servers do): 'on' stays a
    word."""
    shipped = json.loads(SHIPPED_SCHEMA.read_text())
    validator = Draft202012Validator(shipped)
    for source in bundled_sources():
        data = read_document(source.file, source.text).data
        assert not list(validator.iter_errors(data)), source.file
    field_type = shipped["$defs"]["field"]["properties"]["type"]
    assert field_type["enum"] == sorted({*FieldTypes().names(), "formula"})


def test_check_jsonschema_accepts_the_bundled_apps():
    """The validator a CI or an editor would run on definitions, over the shipped file."""
    apps = sorted(str(path) for path in (ROOT / "apps").glob("*.yaml"))
    checked = subprocess.run(
        [str(Path(sys.executable).with_name("check-jsonschema")), "--schemafile"]
        + [str(SHIPPED_SCHEMA), *apps],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_definition_may_name_its_schema_for_editors():
    text = "$schema: ../apploom/engine/definitions/app.schema.json\n" + MINIMAL
    (app,) = load(text).apps.values()
    assert app.name == "desk"
