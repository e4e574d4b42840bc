"""The studio's designer: an app's entities as cards and a workflow drawn as a diagram
(every state in its layer, every transition an arrow between the right boxes, the lint's
warnings marked), whose panels change the definition through the usual preview and
apply."""

from __future__ import annotations

import html
import re

import pytest

from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.definitions.reading import read_document
from apploom.engine.versions import applied
from apploom.engine.workflow.definition import parse_workflow
from apploom.web import create_app
from apploom.web.studio.diagram import BOX_H, BOX_W, draw, layers
from tests.helpers import browser, make_runtime

TICKETS = {
    "initial": "new",
    "states": {
        "new": {},
        "open": {"colour": "blue"},
        "waiting": {"colour": "amber"},
        "stuck": {},  # left only by the close from any state
        "lost": {},  # nothing leads to it
        "closed": {"final": True, "colour": "green"},
    },
    "transitions": {
        "start": {"from": "new", "to": "open"},
        "ask": {"from": "open", "to": "waiting"},
        "answer": {"from": "waiting", "to": "open"},
        "remind": {"from": "waiting", "to": "open"},
        "jam": {"from": "open", "to": "stuck"},
        "close": {"from": "any", "to": "closed"},
    },
}


def order_workflow():
    oms = next(s for s in bundled_sources() if s.file.endswith("oms.yaml"))
    return parse_workflow(read_document(oms.file, oms.text).data["entities"]["order"]["workflow"])


def start_and_end(path: str) -> tuple[tuple[float, float], tuple[float, float]]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
    return (numbers[0], numbers[1]), (numbers[-2], numbers[-1])


def on_edge(point: tuple[float, float], box) -> bool:
    """The point lies on the box's outline (a pixel either way)."""
    x, y = point
    inside_x = box.x - 1 <= x <= box.x + BOX_W + 1
    inside_y = box.y - 1 <= y <= box.y + BOX_H + 1
    on_side = min(abs(x - box.x), abs(x - box.x - BOX_W)) <= 1
    on_top_or_bottom = min(abs(y - box.y), abs(y - box.y - BOX_H)) <= 1
    return inside_x and inside_y and (on_side or on_top_or_bottom)


def test_states_are_laid_out_in_layers_by_a_walk_from_the_initial_one():
    workflow = parse_workflow(TICKETS)
    assert layers(workflow) == [["new"], ["open", "closed"], ["waiting", "stuck"], ["lost"]]
    drawing = draw(workflow)
    assert set(drawing.boxes) == set(TICKETS["states"])
    for row in layers(workflow):
        ys = {drawing.boxes[s].y for s in row}
        assert len(ys) == 1  # one row a layer, below the one before
        lefts = sorted(drawing.boxes[s].x for s in row)
        assert all(b - a >= BOX_W for a, b in zip(lefts, lefts[1:], strict=False))  # no two overlap
    assert drawing.boxes["new"].y < drawing.boxes["open"].y < drawing.boxes["lost"].y
    assert drawing.boxes["lost"].warnings == ("unreachable",)
    assert drawing.boxes["closed"].warnings == drawing.boxes["stuck"].warnings == ()
    closing_open = {"close": {"from": "open", "to": "closed"}}
    no_close = {**TICKETS, "transitions": {**TICKETS["transitions"], **closing_open}}
    stranded = draw(parse_workflow(no_close)).boxes
    assert stranded["stuck"].warnings == ("dead_end",)
    assert stranded["lost"].warnings == ("unreachable", "dead_end")


def test_every_transition_is_an_arrow_from_its_source_box_to_its_target_box():
    workflow = parse_workflow(TICKETS)
    drawing = draw(workflow)
    drawn = {(a.transition, a.source, a.target) for a in drawing.arrows}
    # "any": every open state but the target, the one lost included
    closing = {("close", s, "closed") for s in ("new", "open", "waiting", "stuck", "lost")}
    assert (
        drawn
        == {
            ("start", "new", "open"),
            ("ask", "open", "waiting"),
            ("answer", "waiting", "open"),
            ("remind", "waiting", "open"),
            ("jam", "open", "stuck"),
        }
        | closing
    )
    for arrow in drawing.arrows:
        start, end = start_and_end(arrow.path)
        assert on_edge(start, drawing.boxes[arrow.source]), arrow
        assert on_edge(end, drawing.boxes[arrow.target]), arrow
    answer, remind = (a for a in drawing.arrows if a.transition in ("answer", "remind"))
    assert answer.path != remind.path  # two arrows between one pair curve apart
    assert (answer.label_x, answer.label_y) != (remind.label_x, remind.label_y)


def bundled_workflows():
    for source in bundled_sources():
        for name, entity in read_document(source.file, source.text).data["entities"].items():
            if entity.get("workflow"):
                yield name, parse_workflow(entity["workflow"])


def test_no_arrow_of_a_bundled_workflow_runs_through_a_third_box():
    for name, workflow in bundled_workflows():
        drawing = draw(workflow)
        for arrow in drawing.arrows:
            (x0, y0), (x3, y3) = start_and_end(arrow.path)
            (x1, y1), (x2, y2) = arrow.controls
            for step in range(1, 20):
                at = step / 20
                x = (1 - at) ** 3 * x0 + 3 * (1 - at) ** 2 * at * x1
                x += 3 * (1 - at) * at**2 * x2 + at**3 * x3
                y = (1 - at) ** 3 * y0 + 3 * (1 - at) ** 2 * at * y1
                y += 3 * (1 - at) * at**2 * y2 + at**3 * y3
                for box in drawing.boxes.values():
                    if box.state in (arrow.source, arrow.target):
                        continue
                    inside = box.x < x < box.x + BOX_W and box.y < y < box.y + BOX_H
                    assert not inside, (name, arrow.transition, box.state)


def test_the_order_workflow_fits_its_drawing():
    workflow = order_workflow()
    drawing = draw(workflow)
    assert set(drawing.boxes) == set(workflow.states)
    sources = sum(len(t.sources) for t in workflow.transitions.values())
    assert len(drawing.arrows) == sources
    for arrow in drawing.arrows:
        for x, y in (*start_and_end(arrow.path), *arrow.controls):
            assert drawing.left <= x <= drawing.left + drawing.width
            assert drawing.top <= y <= drawing.top + drawing.height


@pytest.fixture
def studio(runtime):
    runtime.users.create("boss", ["admin"], "password1234")
    app = create_app(runtime=runtime)
    boss = browser(app, "boss")
    boss.get("/lang/zh?next=/")
    return app, boss


def visible_text(page: str) -> str:
    """The page's words a person reads: no tags, no script, no hover titles; but the
    hints shown in empty inputs."""
    body = re.split(r"<main[^>]*>", page, maxsplit=1)[-1]
    body = re.sub(r"<(script|style|title|textarea)\b.*?</\1>", " ", body, flags=re.S)
    hints = " ".join(re.findall(r'placeholder="([^"]*)"', body))
    return html.unescape(re.sub(r"<[^>]+>", " ", body) + " " + hints)


def test_the_studio_opens_on_the_designer_in_chinese(studio):
    app, boss = studio
    page = boss.get("/studio/oms").get_data(as_text=True)
    definition = app.extensions["apploom"].apps.apps["oms"]
    order = definition.entities["order"]
    assert page.count('class="entity-card"') == sum(
        1 for e in definition.entities.values() if not e.is_child
    )
    assert "销售订单" in page and "/studio/oms/order/form" in page
    assert "/studio/oms/order/list" in page and "/studio/oms/order/rules/0" in page
    for state in order.workflow.states.values():
        assert f'data-state="{state.name}"' in page and state.label.zh in page
    for name, t in order.workflow.transitions.items():
        assert page.count(f'class="flow-arrow" data-transition="{name}"') == len(t.sources)
    assert 'id="definition"' not in page  # the YAML is the expert's tab
    assert "/studio/oms/yaml" in page
    identifiers = {
        *definition.entities,
        *(r.name for e in definition.entities.values() for r in e.rules),
        *(s for e in definition.entities.values() if e.workflow for s in e.workflow.states),
        *definition.roles,
    }
    for panel in ("", "?state=confirmed", "?transition=pick", "?add=state", "?add=transition"):
        shown = visible_text(boss.get("/studio/oms" + panel).get_data(as_text=True))
        english = set(re.findall(r"[A-Za-z][A-Za-z_]+", shown))
        names = identifiers | set(order.workflow.transitions) | set(order.fields)
        names |= {"YAML", "Shopify", "WooCommerce"}  # product names, in rules' labels
        assert english <= names, (panel, english - names)
    expert = boss.get("/studio/oms/yaml").get_data(as_text=True)
    assert 'id="definition"' in expert and "app: oms" in expert


def test_a_state_relabelled_on_the_diagram_is_previewed_applied_and_shown(runtime, studio):
    app, boss = studio
    panel = boss.get("/studio/oms?state=confirmed").get_data(as_text=True)
    assert 'name="label_zh" value="已确认"' in panel
    change = {"edit": "state", "name": "confirmed", "label_en": "Confirmed", "colour": "teal"}
    preview = boss.post("/studio/oms/order/workflow", data={**change, "label_zh": "已接单"})
    shown = html.unescape(preview.get_data(as_text=True))
    assert preview.status_code == 200
    assert "+        confirmed: {label: {en: Confirmed, zh: 已接单}, colour: teal," in shown
    said = re.search(r'<ul class="designer-said">(.*?)</ul>', shown, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", said) == [
        "状态“已确认”改名为“已接单 / Confirmed”",
        "状态“已接单”的颜色改为青色",
    ]
    text = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', shown, re.S).group(1)
    done = boss.post("/studio/oms/apply", data={"text": text, "comment": "接单"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/studio/oms")
    page = boss.get("/studio/oms").get_data(as_text=True)
    assert "已接单" in page and "接单" in page  # the drawing, and the version's comment
    confirmed = app.extensions["apploom"].apps.apps["oms"].entities["order"]
    assert confirmed.workflow.states["confirmed"].colour == "teal"
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "oms")) == 2


def test_a_transition_added_on_the_diagram_reaches_the_workflow(studio):
    app, boss = studio
    added = {
        "edit": "add_transition",
        "label_en": "Back to draft",
        "label_zh": "退回草稿",
        "from": ["confirmed", "backordered"],
        "to": "draft",
        "roles": ["manager"],
    }
    preview = boss.post("/studio/oms/order/workflow", data=added)
    shown = html.unescape(preview.get_data(as_text=True))
    line = (
        "        back_to_draft: {label: {en: Back to draft, zh: 退回草稿}, "
        "from: [confirmed, backordered], to: draft, roles: [manager]}"
    )
    assert "+" + line in shown
    assert "<li>新增流转“退回草稿 / Back to draft”：从已确认、缺货待补到草稿</li>" in shown
    text = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', shown, re.S).group(1)
    assert line in text.splitlines()
    assert boss.post("/studio/oms/apply", data={"text": text, "comment": "退回"}).status_code == 303
    page = boss.get("/studio/oms").get_data(as_text=True)
    workflow = app.extensions["apploom"].apps.apps["oms"].entities["order"].workflow
    back = workflow.transitions["back_to_draft"]
    assert back.sources == ("confirmed", "backordered") and back.target == "draft"
    assert back.roles == ("manager",)
    assert 'data-transition="back_to_draft" data-from="backordered" data-to="draft"' in page


def test_a_transition_changed_on_the_diagram_keeps_its_other_settings_and_its_note(studio):
    _, boss = studio
    changed = {
        "edit": "transition",
        "name": "ship",
        "label_en": "Ship",
        "label_zh": "出库",
        "from": ["picking"],
        "to": "shipped",
        "roles": ["warehouse"],
    }
    shown = html.unescape(
        boss.post("/studio/oms/order/workflow", data=changed).get_data(as_text=True)
    )
    assert (
        "+        ship: {label: {en: Ship, zh: 出库}, from: picking, to: shipped, "
        "roles: [warehouse], require: [carrier]}  "
        "# every parcel still open, and one for what is left"
    ) in shown
    assert "-          require: [carrier]" in shown
    assert "<li>流转“发货”改名为“出库 / Ship”</li>" in shown
    assert "<li>流转“出库”改为从拣货中到已发货</li>" in shown
    assert "<li>流转“出库”改由仓库操作</li>" in shown


def test_a_status_added_on_the_diagram_sits_between_the_two_it_joins(studio):
    app, boss = studio
    added = {
        "edit": "add_state",
        "label_en": "On hold",
        "label_zh": "暂缓",
        "colour": "amber",
        "after": "confirmed",
        "then": "confirmed",
        "roles": ["sales", "manager"],
    }
    shown = html.unescape(
        boss.post("/studio/oms/order/workflow", data=added).get_data(as_text=True)
    )
    assert "+        on_hold: {label: {en: On hold, zh: 暂缓}, colour: amber}" in shown
    assert "+        to_on_hold: {label: {en: On hold, zh: 暂缓}, from: confirmed," in shown
    assert "+        on_hold_done: {label: {en: Confirmed, zh: 已确认}, from: on_hold," in shown
    text = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', shown, re.S).group(1)
    assert boss.post("/studio/oms/apply", data={"text": text, "comment": "暂缓"}).status_code == 303
    page = boss.get("/studio/oms").get_data(as_text=True)
    assert 'data-state="on_hold"' in page and "flow-warning" not in page


def test_a_panel_that_names_no_state_is_refused_and_changes_nothing(runtime, studio):
    _, boss = studio
    refused = boss.post(
        "/studio/oms/order/workflow",
        data={"edit": "add_transition", "from": ["nowhere"], "to": "draft"},
    )
    assert refused.status_code == 422
    assert "“nowhere”不在这些之中" in refused.get_data(as_text=True)  # in the admin's language
    nothing = boss.post("/studio/oms/order/workflow", data={"edit": "add_transition"})
    assert nothing.status_code == 422
    assert boss.post("/studio/oms/order_line/workflow", data={}).status_code == 404
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "oms")) == 1


def test_the_lint_warnings_are_marked_on_the_drawing_and_listed(tmp_path):
    sources = [
        Source(
            s.file,
            s.text.replace(
                "        draft:       {label: {en: Draft, zh: 草稿}, colour: grey}\n",
                "        draft:       {label: {en: Draft, zh: 草稿}, colour: grey}\n"
                "        limbo:       {label: {en: Limbo, zh: 搁置}}\n",
            ),
        )
        for s in bundled_sources()
    ]
    rt = make_runtime(f"sqlite:///{tmp_path / 'lint.db'}", tmp_path / "instance", sources)
    try:
        rt.users.create("boss", ["admin"], "password1234")
        boss = browser(create_app(runtime=rt), "boss")
        boss.get("/lang/zh?next=/")
        page = boss.get("/studio/oms").get_data(as_text=True)
    finally:
        rt.close()
    start = page.index('data-state="limbo"')
    box = page[start : page.index("</a>", start)]
    assert "flow-warning" in box
    assert page.count('class="flow-warning"') == 1
    listed = visible_text(page[page.index('class="flow-warnings"') :])
    assert "搁置" in listed and "从“草稿”出发，没有流转能到达这里" in listed
    assert "没有流转可以离开，也未标记为终态" in listed


def posted_text(preview) -> str:
    shown = html.unescape(preview.get_data(as_text=True))
    return re.search(r'<textarea name="text" hidden>(.*?)</textarea>', shown, re.S).group(1)


def test_an_arrow_drawn_between_two_boxes_opens_the_new_transition_between_them(studio):
    _, boss = studio
    panel = boss.get("/studio/oms?add=transition&from=shipped&to=picking").get_data(as_text=True)
    assert 'name="from" value="shipped" checked' in panel
    assert re.search(r'<select name="to">.*?<option value="picking" selected>', panel, re.S)
    assert 'data-draw="/studio/oms?flow=order&amp;add=transition"' in panel


def test_a_transition_is_guarded_from_its_panel_and_a_cleared_guard_goes(runtime, studio):
    app, boss = studio
    guarded = {
        "edit": "transition",
        "name": "pick",
        "label_en": "Start picking",
        "label_zh": "开始拣货",
        "from": ["confirmed"],
        "to": "picking",
        "full": "1",
        "guard": "paid >= total",
        "refusal_zh": "先收款再拣货",
        "refusal_en": "Take the payment first",
        "require": ["ship_address"],
        "confirm_zh": "确定开始拣货？",
    }
    preview = boss.post("/studio/oms/order/workflow", data=guarded)
    shown = html.unescape(preview.get_data(as_text=True))
    assert "<li>流转“开始拣货”现在需要满足：paid >= total</li>" in shown
    text = posted_text(preview)
    assert (
        boss.post("/studio/oms/apply", data={"text": text, "comment": "先收款"}).status_code == 303
    )
    panel = boss.get("/studio/oms?transition=pick").get_data(as_text=True)  # the apps reload
    pick = app.extensions["apploom"].apps.apps["oms"].entities["order"].workflow.transitions["pick"]
    assert pick.guard == "paid >= total" and pick.require == ("ship_address",)
    assert pick.refusal.zh == "先收款再拣货"
    assert pick.confirm.zh == pick.confirm.en == "确定开始拣货？"
    assert 'name="guard" value="paid &gt;= total"' in panel
    assert 'name="require" value="ship_address" checked' in panel
    cleared = {**guarded, "guard": "", "require": [], "confirm_zh": ""}
    text = posted_text(boss.post("/studio/oms/order/workflow", data=cleared))
    line = next(line for line in text.splitlines() if line.strip().startswith("pick:"))
    assert "if:" not in line and "require:" not in line and "confirm:" not in line


def test_a_status_removed_on_the_diagram_takes_its_transitions_with_it(studio):
    app, boss = studio
    preview = boss.post(
        "/studio/oms/order/workflow", data={"edit": "remove_state", "name": "partly_shipped"}
    )
    shown = html.unescape(preview.get_data(as_text=True))
    assert "<li>删除状态“部分发货”</li>" in shown and "<li>删除流转“部分发货”</li>" in shown
    text = posted_text(preview)
    workflow = parse_workflow(read_document("x.yaml", text).data["entities"]["order"]["workflow"])
    assert "partly_shipped" not in workflow.states and "ship_part" not in workflow.transitions
    assert workflow.transitions["ship"].sources == ("picking",)  # it left two, now one
    assert workflow.transitions["ship_last"].sources == ("picking",)
    first = boss.post("/studio/oms/order/workflow", data={"edit": "remove_state", "name": "draft"})
    assert first.status_code == 422 and "新记录从此状态开始" in first.get_data(as_text=True)
    gone = boss.post(
        "/studio/oms/order/workflow", data={"edit": "remove_transition", "name": "complete"}
    )
    shown = html.unescape(gone.get_data(as_text=True))
    assert "-        complete:\n-          label: {en: Complete, zh: 完成}\n" in shown
    assert "<li>删除流转“完成”</li>" in shown
    # a rule set off by a transition keeps it: the preview says so, and offers no apply
    used = boss.post(
        "/studio/oms/order/workflow", data={"edit": "remove_transition", "name": "allocate"}
    )
    assert 'name="text" hidden' not in used.get_data(as_text=True)


def test_a_status_made_final_with_fields_that_cannot_change_in_it(studio):
    app, boss = studio
    change = {
        "edit": "state",
        "name": "shipped",
        "label_en": "Shipped",
        "label_zh": "已发货",
        "colour": "green",
        "full": "1",
        "final": "1",
        "readonly": ["customer", "lines", "carrier"],
    }
    preview = boss.post("/studio/oms/order/workflow", data=change)
    assert "<li>状态“已发货”改为最终状态</li>" in html.unescape(preview.get_data(as_text=True))
    data = read_document("x.yaml", posted_text(preview)).data
    shipped = data["entities"]["order"]["workflow"]["states"]["shipped"]
    assert shipped["final"] is True and shipped["readonly"] == ["customer", "lines", "carrier"]


def test_a_new_report_is_made_on_the_designer_and_shown_on_the_dashboard(studio):
    app, boss = studio
    assert "/studio/oms/reports/new" in boss.get("/studio/oms").get_data(as_text=True)
    form = boss.get("/studio/oms/reports/new?entity=order").get_data(as_text=True)
    assert '<option value="total">应付金额合计</option>' in html.unescape(form)
    assert '<option value="channel">渠道</option>' in form
    made = {
        "entity": "order",
        "label_zh": "各渠道销售额",
        "label_en": "Sales by channel",
        "of": "total",
        "group": "channel",
        "chart": "bar",
        "dashboard": "1",
    }
    preview = boss.post("/studio/oms/reports/new", data=made)
    shown = html.unescape(preview.get_data(as_text=True))
    assert preview.status_code == 200 and "<li>新报表：各渠道销售额</li>" in shown
    text = posted_text(preview)
    report = read_document("x.yaml", text).data["reports"]["sales_by_channel"]
    assert report == {
        "label": {"en": "Sales by channel", "zh": "各渠道销售额"},
        "entity": "order",
        "rows": ["channel"],
        "measures": {
            "value": {"sum": "total", "label": {"en": "Total", "zh": "应付金额"}, "format": "money"}
        },
        "chart": "bar",
    }
    assert boss.post("/studio/oms/apply", data={"text": text, "comment": "报表"}).status_code == 303
    home = boss.get("/a/oms").get_data(as_text=True)
    assert "各渠道销售额" in home
    definition = app.extensions["apploom"].apps.apps["oms"]
    assert "sales_by_channel" in {t.report for t in definition.dashboard.tiles}
    nameless = boss.post("/studio/oms/reports/new", data={**made, "label_zh": "", "label_en": ""})
    assert nameless.status_code == 422 and "请给报表起个名字" in nameless.get_data(as_text=True)
    wrong = boss.post("/studio/oms/reports/new", data={**made, "of": "nothing"})
    assert wrong.status_code == 422 and "“nothing”不是它的字段" in wrong.get_data(as_text=True)
