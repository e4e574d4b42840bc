"""Chinese and English for the screens: the chrome's and the engine's words in the
gettext catalogs under apploom/translations (``make translations``), the apps' words in
their definitions (``{en, zh}`` labels)."""

from __future__ import annotations

from flask import request, session

from apploom.engine.catalogs import LANGUAGES, in_language
from apploom.engine.definitions.model import Label
from apploom.engine.messages import msg


def current_language() -> str:
    """A screen's language: the one chosen in the top bar, else the browser's."""
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else client_language()


def client_language() -> str:
    """An API client's language: its Accept-Language (zh-CN, zh: Chinese), else English."""
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def translate(text: str) -> str:
    """The text in the reader's language; the text itself where the catalog has none."""
    return in_language(text, current_language())


def label(value: Label | None) -> str:
    return value.get(current_language()) if value else ""


# The colours' and the bundled apps' roles' names, spelled out so the catalog has them
# (the panels show them by name; a role of another app is shown as it is).
NAMES = {
    "grey": msg("grey"),
    "blue": msg("blue"),
    "green": msg("green"),
    "amber": msg("amber"),
    "red": msg("red"),
    "purple": msg("purple"),
    "teal": msg("teal"),
    "sales": msg("sales"),
    "warehouse": msg("warehouse"),
    "service": msg("service"),
    "manager": msg("manager"),
    "purchasing": msg("purchasing"),
    "admin": msg("admin"),
}


def shown_name(name: str) -> str:
    """A colour's or a role's name in the reader's language."""
    return translate(NAMES.get(name, name))
