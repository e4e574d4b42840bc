"""Chinese and English for the screens: the chrome's and the engine's words in the
gettext catalogs under apploom/translations (``make translations``), the apps' words in
their definitions (``{en, zh}`` labels)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from flask import request, session

from apploom.engine.definitions.model import Label
from apploom.engine.messages import Message

LANGUAGES = ("en", "zh")
CATALOGS = Path(__file__).resolve().parent.parent / "translations"


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


def in_language(text: str, lang: str) -> str:
    """``text`` in ``lang``; a Message's template is looked up and its parameters (a
    Message or a Label among them too) filled in the same language."""
    if isinstance(text, Message):
        said = _catalog(lang).gettext(text.template)
        return said.format(**{k: _param(v, lang) for k, v in text.params.items()})
    return _catalog(lang).gettext(text)


def _param(value: object, lang: str) -> object:
    if isinstance(value, Message):
        return in_language(value, lang)
    if isinstance(value, Label):
        return value.get(lang)
    return value


@cache
def _catalog(lang: str) -> NullTranslations:
    """One language's compiled catalog, read once per process; English is the msgids."""
    if lang == "en":
        return NullTranslations()
    return Translations.load(str(CATALOGS), [lang])


def label(value: Label | None) -> str:
    return value.get(current_language()) if value else ""
