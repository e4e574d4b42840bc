"""The 中文 check in Chromium: every demo role signs in, switches to Chinese and opens
each kind of page it may open among those tests/test_chinese_screens.py starts from (one
of a shape: one rule's editor stands for all), and a refused and a missing page; what the
browser shows (the text drawn after scripts ran: charts, htmx panels, pickers; visible
elements' placeholders, titles and labels) has no English word that is not data. The
test-client crawl reads more pages; this reads them as drawn."""

from __future__ import annotations

import pytest

from apploom.demo import DEMO_PASSWORD, load_demo
from apploom.web import create_app
from tests.helpers import Browser, make_runtime, serving
from tests.test_browser import checked_page, pytestmark, settled, sign_in  # noqa: F401
from tests.test_chinese_screens import (
    KNOWN,
    ROLES,
    data_pattern,
    english_words,
    identifiers,
    pattern,
    seeds,
    summary,
)

# What a reader sees: text nodes whose element is drawn, outside code and the data being
# edited, and the shown attributes of drawn elements. SVG text (a chart's axes) counts.
SHOWN = """() => {
  const unshown = new Set(['SCRIPT', 'STYLE', 'CODE', 'KBD', 'TEXTAREA', 'NOSCRIPT']);
  const drawn = (el) => el.checkVisibility({visibilityProperty: true, opacityProperty: true});
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || el.closest('code, kbd, textarea, script, style')) continue;
    if (!unshown.has(el.tagName) && drawn(el)) texts.push(node.textContent);
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [aria-label], [alt]')) {
    if (!drawn(el)) continue;
    for (const name of ['placeholder', 'title', 'aria-label', 'alt']) {
      if (el.getAttribute(name)) texts.push(el.getAttribute(name));
    }
  }
  for (const el of document.querySelectorAll('input[type=submit], input[type=button]')) {
    if (drawn(el) && el.value) texts.push(el.value);
  }
  texts.push(document.title);
  return texts;
}"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    runtime = make_runtime(f"sqlite:///{folder / 'demo.db'}", folder / "instance")
    load_demo(runtime, orders=30, days=20)
    with serving(runtime) as url:
        yield runtime, url
    runtime.close()


def pages_of(runtime, username: str) -> list[str]:
    """One page of each shape the user may open, and one each they are refused or miss
    (asked through the test client, which answers in milliseconds)."""
    client = Browser(create_app(runtime=runtime))
    client.login(username, DEMO_PASSWORD)
    chosen, kinds = [], set()
    for path in seeds(runtime):
        status = client.get(path).status_code
        kind = pattern(path) if status == 200 else status
        if kind not in kinds:
            kinds.add(kind)
            chosen.append(path)
    return chosen


@pytest.mark.parametrize("role, username", ROLES, ids=[role for role, _ in ROLES])
def test_every_page_a_role_starts_from_reads_in_chinese_in_the_browser(demo, role, username):
    runtime, url = demo
    data, names = data_pattern(runtime), identifiers(runtime)
    leaks: dict[str, set[str]] = {}
    with checked_page(viewport={"width": 1280, "height": 800}, locale="zh-CN") as page:
        sign_in(page, url, username, DEMO_PASSWORD)
        page.goto(url + "/lang/zh")
        for path in pages_of(runtime, username):
            page.goto(url + path)
            settled(page)
            shown_names = names if path.startswith("/studio") else frozenset()
            known = set(KNOWN.get(pattern(path).split("?")[0], {}))
            words = english_words(page.evaluate(SHOWN), data, shown_names) - known
            if words:
                leaks[path] = words
    assert not leaks, f"{role}: English in the browser:\n{summary(leaks)}"
