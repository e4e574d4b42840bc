"""The translations catalogs: every phrase the code says has its Chinese, the compiled
catalog is the one translators edit, and the engine's messages reach people in their
language, on the screens and over the API."""

from __future__ import annotations

import io
import json
import string
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from apploom.engine.catalogs import CATALOGS, in_language
from apploom.engine.definitions.model import Label
from apploom.engine.errors import Forbidden
from apploom.engine.kept_messages import kept, restored
from apploom.engine.messages import Message, from_label, message_of, msg
from apploom.web import create_app
from tests.helpers import Api, browser, finished

ROOT = Path(__file__).resolve().parent.parent
PO = CATALOGS / "zh" / "LC_MESSAGES" / "messages.po"


def catalog():
    with PO.open("rb") as f:
        return read_po(f)


def extracted() -> dict[str, str]:
    """{msgid: where} of what the sources say, read with babel.cfg's own mapping."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {}
    for file, line, text, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        found.setdefault(text[0] if isinstance(text, tuple) else text, f"{file}:{line}")
    return found


def test_every_phrase_in_the_catalog_has_its_chinese():
    untranslated = [m.id for m in catalog() if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_every_phrase_the_code_says_is_in_the_catalog():
    known = {m.id for m in catalog()}
    found = extracted()
    assert {"is required", "Sign in", "must be at least {min}"} <= set(found)
    missing = {text: where for text, where in found.items() if text not in known}
    assert missing == {}, "run `make translations` and give these their Chinese"


def test_the_compiled_catalog_is_the_one_translators_edit():
    with (PO.with_suffix(".mo")).open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    assert compiled == {m.id: m.string for m in catalog() if m.id}


def test_a_placeholder_survives_translation():
    for m in catalog():
        if m.id and "python-brace-format" in m.flags:
            assert _names(m.id) == _names(m.string), m.id


def _names(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_a_message_is_its_english_text_and_keeps_what_made_it():
    said = msg("must be at least {min}", min=1)
    assert said == "must be at least 1" and isinstance(said, str)
    assert (said.template, said.params) == ("must be at least {min}", {"min": 1})
    assert message_of(Forbidden(said)) is said
    assert message_of(Forbidden("plain")) == "plain"


def test_a_message_is_worded_in_the_language_asked_with_its_parts():
    said = msg("There is no {entity} with id {id}", entity=Label("Sales order", "销售订单"), id=7)
    assert in_language(said, "en") == "There is no Sales order with id 7"
    assert in_language(said, "zh") == "没有编号为 7 的销售订单"
    nested = msg("is not a valid {expected}", expected=msg("email address"))
    assert in_language(nested, "zh") == "不是有效的电子邮件地址"
    assert in_language("Sign in", "zh") == "登录" and in_language("Sign in", "en") == "Sign in"
    assert in_language("no such phrase", "zh") == "no such phrase"
    assert isinstance(msg("is required"), Message)
    own = from_label(Label("Add a line first", "请先添加明细"))
    assert own == "Add a line first" and in_language(own, "zh") == "请先添加明细"


@pytest.fixture
def app(sqlite_runtime):
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    return create_app(runtime=sqlite_runtime)


def test_the_api_answers_a_missing_field_in_the_language_of_accept_language(app, sqlite_runtime):
    api = Api(app.test_client(), sqlite_runtime.users.create_token("sue"))
    body = {"email": "x@example.com"}
    chinese = api.post("/api/v1/crm/customer", json=body, headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 422
    assert chinese.json["error"]["code"] == "validation_failed"
    assert chinese.json["error"]["fields"] == {"name": "为必填项"}
    assert chinese.json["error"]["message"] == "请修正：name"
    english = api.post("/api/v1/crm/customer", json=body)
    assert english.json["error"] == {
        "code": "validation_failed",
        "message": "Please correct: name",
        "fields": {"name": "is required"},
    }
    wrong = api.post("/api/v1/crm/customer", json={"name": "A", "tier": "z"})
    assert wrong.json["error"]["fields"]["tier"].startswith("'z' is not an option")


def test_a_refusal_over_the_api_names_the_entity_in_chinese(app, sqlite_runtime):
    sqlite_runtime.users.create("wes", ["warehouse"], "password1234")
    api = Api(app.test_client(), sqlite_runtime.users.create_token("wes"))
    refused = api.delete("/api/v1/crm/customer/1", headers={"Accept-Language": "zh"})
    assert refused.status_code == 403
    assert "客户" in refused.json["error"]["message"]


def test_a_form_posted_in_chinese_shows_the_chinese_message(app):
    b = browser(app, "sue")
    b.get("/lang/zh")
    response = b.post("/a/crm/customer/new", {"name": "", "email": "not-an-address"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "为必填项" in page and "不是有效的电子邮件地址" in page
    assert "is required" not in page
    b.get("/lang/en")
    english = b.post("/a/crm/customer/new", {"name": ""}).get_data(as_text=True)
    assert "is required" in english


def test_an_imports_row_problems_are_kept_to_be_read_in_either_language(app, sqlite_runtime):
    api = Api(app.test_client(), sqlite_runtime.users.create_token("sue"))
    text = "name,city\n,上海\nAmy,London\n"
    sent = api.post(
        "/api/v1/crm/customer/import",
        data={
            "file": (io.BytesIO(text.encode()), "c.csv"),
            "mapping": '{"name": "name", "city": "city"}',
            "dry_run": "true",
        },
        content_type="multipart/form-data",
    )
    job = finished(api, sent)
    assert job["outcome"]["errors"] == [{"row": 2, "column": "name", "message": "is required"}]
    chinese = api.get(f"/api/v1/jobs/{job['id']}", headers={"Accept-Language": "zh-CN"}).json
    assert chinese["outcome"]["errors"] == [{"row": 2, "column": "name", "message": "为必填项"}]
    b = browser(app, "sue")
    b.get("/lang/zh")
    page = b.get(f"/imports/{job['id']}").get_data(as_text=True)
    assert "<td>为必填项</td>" in page


def test_a_bulk_transitions_refusals_are_worded_by_accept_language(app, sqlite_runtime):
    api = Api(app.test_client(), sqlite_runtime.users.create_token("sue"))
    sent = api.post("/api/v1/oms/order/bulk/transitions/confirm", json={"ids": [99_999]})
    job = finished(api, sent)
    [refused] = job["outcome"]["refused"]
    assert refused["message"] == "There is no Sales order with id 99999"
    chinese = api.get(f"/api/v1/jobs/{job['id']}", headers={"Accept-Language": "zh"}).json
    assert chinese["outcome"]["refused"][0]["message"] == "没有编号为 99999 的销售订单"


def test_a_kept_message_comes_back_whole_from_json():
    """An import's report is JSON in the database; a reader later gets it in their language."""
    nested = {
        "row": 3,
        "column": "email",
        "message": msg("is not a valid {expected}", expected=msg("email address")),
    }
    stored = json.loads(json.dumps(kept(nested)))
    assert stored["message"] == "is not a valid email address"  # what it always was
    back = _through_json(nested)
    assert back == nested and back["message"].template == "is not a valid {expected}"
    assert in_language(back["message"], "zh") == "不是有效的电子邮件地址"
    labelled = {
        "message": msg("This {entity} was changed by someone else", entity=Label("Order", "订单"))
    }
    assert in_language(_through_json(labelled)["message"], "zh") == "该订单已被其他人修改"
    amount = _through_json({"message": msg("must be at least {min}", min=Decimal("1.50"))})
    assert in_language(amount["message"], "zh") == "不能小于 1.50"
    assert restored({"row": 1, "message": "as it was"}) == {"row": 1, "message": "as it was"}


def _through_json(problem: dict) -> dict:
    return restored(json.loads(json.dumps(kept(problem))))
