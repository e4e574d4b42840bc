"""Messages that keep what they were made of. ``msg(template, **params)`` is the English
text, a ``str`` everywhere it goes (logs, JSON, comparisons), and also remembers its
template and parameters, so a screen or an API answer can look the template up in the
translations catalog and fill the same parameters in the reader's language."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from apploom.engine.definitions.model import Label


class Message(str):
    """English text formatted from ``template`` with ``params``."""

    template: str
    params: Mapping[str, Any]

    def __new__(cls, template: str, params: Mapping[str, Any]) -> Message:
        made = super().__new__(cls, template.format(**params))
        made.template = template
        made.params = dict(params)
        return made

    def __reduce__(self):
        return (Message, (self.template, self.params))


def msg(template: str, **params: Any) -> Message:
    """A message for people; the template is the catalog's msgid, a format string (a
    brace written ``{{``)."""
    return Message(template, params)


def from_label(label: Label) -> Message:
    """An app's own words (a definition's ``{en, zh}``) as a message: they need no
    catalog entry, the label has both languages."""
    return Message("{text}", {"text": label})


def message_of(exc: BaseException) -> str:
    """What an exception says, as the Message it was raised with where it was one
    (``str(exc)`` gives back a plain copy)."""
    said = exc.args[0] if len(exc.args) == 1 else None
    return said if isinstance(said, Message) else str(exc)


def joined(parts: Sequence[str], separator: str = "; ") -> Message:
    """Several messages as one, each worded in the reader's language when it is read."""
    names = {f"part{i}": part for i, part in enumerate(parts)}
    return Message(separator.join(f"{{{name}}}" for name in names), names)


def prefixed(where: str, said: str) -> Message:
    """A message about a part of a setting, after that part's name ("set total: ..."): the
    name as written, the message in the reader's language."""
    return Message("{where}: {said}", {"where": where, "said": said})
