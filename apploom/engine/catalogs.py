"""Messages in a language: the chrome's and the engine's words are looked up in the
gettext catalogs under apploom/translations (``make translations``), the apps' own words
come with their definitions (``{en, zh}`` labels). Pure Python, so the worker words an
email or a robot's post as the screens word a page.

The business's language (APPLOOM_LANGUAGE, Chinese unless set) is the one people are
written to in when nobody said otherwise: a customer with no language, a user who never
chose one, a group robot."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

from apploom.engine.definitions.model import Label
from apploom.engine.messages import Message

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "zh"
CATALOGS = Path(__file__).resolve().parent.parent / "translations"
_language = [DEFAULT_LANGUAGE]  # one business, one language it writes in, per process


def use_language(code: str) -> None:
    _language[0] = code


def business_language() -> str:
    return _language[0]


def known_language(code: object) -> str | None:
    """``code`` (zh, zh-CN, en-GB...) as one of LANGUAGES, or None."""
    head = str(code or "").strip().lower()[:2]
    return head if head in LANGUAGES else None


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
