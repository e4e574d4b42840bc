"""The problems found in an app definition are told in the reader's language: the studio's
preview words them in the admin's, each still at the path (and line) it is about; the
English stays what the command line prints."""

from __future__ import annotations

import html
import re

import pytest

from apploom.engine.catalogs import in_language
from apploom.engine.definitions.loading import Source, load_apps
from apploom.engine.errors import DefinitionError
from apploom.engine.versions import applied
from apploom.web import create_app
from tests.helpers import browser

# Mistakes the schema finds: an unknown field type, a misspelt setting, a wrong kind of value.
SCHEMA_MISTAKES = (
    ("type: email", "type: emial"),
    ("zh: 邮编}, length: 16}", "zh: 邮编}, lenght: 16}"),
    ("required: true, length: 120", "required: true, length: long"),
)
SCHEMA_PROBLEMS = {
    "en": [
        ("entities.customer.fields.email.type", "'emial' is not a field type; known types:"),
        (
            "entities.customer.fields.postcode.lenght",
            "'lenght' is not a known setting; known settings here:",
        ),
        ("entities.customer.fields.name.length", "must be a whole number"),
    ],
    "zh": [
        ("entities.customer.fields.email.type", "“emial”不是字段类型；现有类型："),
        ("entities.customer.fields.postcode.lenght", "“lenght”不是可用的设置；这里可用的设置："),
        ("entities.customer.fields.name.length", "必须是整数"),
    ],
}
# Mistakes only the checks across the definition find: a title naming no field, a tile
# showing no report, a condition that does not parse.
CHECK_MISTAKES = (
    ('title: "{name}"', 'title: "{nme}"'),
    ("{report: pipeline,", "{report: pipelin,"),
    ("zh: 电话}}", 'zh: 电话}, visible_if: "kind =="}'),
)
CHECK_PROBLEMS = {
    "en": [
        ("entities.customer.title", "'{nme}' is not a field of customer"),
        ("dashboard.tiles.0", "'pipelin' is not a report of crm"),
        (
            "entities.customer.fields.phone.visible_if",
            "visible_if of 'phone' is not a valid expression (",
        ),
    ],
    "zh": [
        ("entities.customer.title", "“{nme}”不是 customer 的字段"),
        ("dashboard.tiles.0", "“pipelin”不是 crm 的报表"),
        (
            "entities.customer.fields.phone.visible_if",
            "“phone”的 visible_if 条件不是有效的表达式（",
        ),
    ],
}


@pytest.fixture
def boss(runtime):
    runtime.users.create("boss", ["admin"], "password1234")
    return browser(create_app(runtime=runtime), "boss")


def live_text(runtime) -> str:
    with runtime.db.read() as conn:
        return applied.source_of(conn, "crm").text


def mistaken(text: str, mistakes) -> str:
    for right, wrong in mistakes:
        assert right in text
        text = text.replace(right, wrong, 1)
    return text


def listed_problems(page: str) -> list[tuple[int | None, str, str]]:
    """(line, path, message) of each problem the studio lists."""
    listing = re.search(r'<ul class="problems">(.*?)</ul>', page, re.S)
    assert listing, "the page lists no problems"
    found = []
    for item in re.findall(r"<li>(.*?)</li>", listing.group(1), re.S):
        line = re.search(r'data-line="(\d+)"', item)
        path, said = re.search(r"<code>(.*?)</code>(.*)", item, re.S).groups()
        found.append((int(line.group(1)) if line else None, path, html.unescape(said).strip()))
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(
    "mistakes, expected", [(SCHEMA_MISTAKES, SCHEMA_PROBLEMS), (CHECK_MISTAKES, CHECK_PROBLEMS)]
)
def test_the_preview_words_each_problem_in_the_admins_language_at_its_path(
    runtime, boss, lang, mistakes, expected
):
    boss.get(f"/lang/{lang}")
    text = mistaken(live_text(runtime), mistakes)
    page = boss.post("/studio/crm/preview", data={"text": text}).get_data(as_text=True)
    listed = listed_problems(page)
    assert len(listed) == len(expected[lang])
    for path, start in expected[lang]:
        line, said = next((ln, s) for ln, p, s in listed if p == path)
        assert said.startswith(start), said
        assert line is not None
    wrong = next(w for _, w in mistakes)
    first = next(i for i, t in enumerate(text.splitlines(), 1) if wrong in t)
    assert first in {line for line, _, _ in listed}
    count = len(expected[lang])
    headline = {
        "en": f"{count} problems in the app definition",
        "zh": f"应用定义中有 {count} 处问题",
    }
    assert f'<p class="flash error">{headline[lang]}</p>' in page  # above the listed problems
    assert 'class="designer-said"' not in page  # a preview of typed text says no design
    other = "zh" if lang == "en" else "en"
    for _, start in expected[other]:
        assert start not in html.unescape(page)


def test_a_definition_error_says_its_problems_in_either_language(runtime):
    text = mistaken(live_text(runtime), CHECK_MISTAKES)
    with pytest.raises(DefinitionError) as caught:
        load_apps([Source("crm.yaml", text)], runtime.types, runtime.automation.actions)
    error = caught.value
    english = str(error)
    assert english.startswith("3 problems in the app definition:\n  crm.yaml:")
    assert "entities.customer.title: '{nme}' is not a field of customer" in english
    chinese = in_language(error.args[0], "zh")
    assert chinese.startswith("应用定义中有 3 处问题:\n  crm.yaml:")
    assert "entities.customer.title: “{nme}”不是 customer 的字段" in chinese
    assert "dashboard.tiles.0: “pipelin”不是 crm 的报表" in chinese
    assert [in_language(p.worded(), "en") for p in error.problems] == [
        str(p) for p in error.problems
    ]
