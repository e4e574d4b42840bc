"""A business's own changes as a layer over the bundled definition they started from.

Each applied version remembers its base (the bundled text it builds on). When a new
release changes the base, the business's version is merged with it three ways, setting
by setting: what only the release changed is taken, what only the business changed is
kept, and where both changed the same setting differently the business's choice is
kept and the place is reported as a conflict for the admin to decide. Nothing of theirs
is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import Connection

from apploom.engine.definitions.loading import Source, app_name
from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import NotFound, ValidationFailed
from apploom.engine.versions import text_edits
from apploom.engine.versions.applied import base_of, source_of

MISSING = object()


@dataclass(frozen=True)
class Conflict:
    path: str
    base: Any
    mine: Any
    theirs: Any

    def __str__(self) -> str:
        return (
            f"{self.path}: the release changed {_shown(self.base)} to "
            f"{_shown(self.theirs)}, you had changed it to {_shown(self.mine)}; "
            "yours is kept"
        )


def merge(base: str, mine: str, theirs: str) -> tuple[str, list[Conflict]]:
    """``mine`` (the live definition, built on ``base``) moved onto ``theirs`` (the new
    base): the merged text, and the settings both changed. The release's changes are
    written into the business's own text, so its comments and layout stay."""
    conflicts: list[Conflict] = []
    own = _data(mine)
    merged = _merge(_data(base), own, _data(theirs), (), conflicts)
    try:
        text = _written_into(mine, own, merged, ())
        if _data(text) == merged:
            return text, conflicts
    except ValidationFailed:
        pass  # written in a way line edits cannot follow: the whole text anew
    return yaml.safe_dump(merged, allow_unicode=True, sort_keys=False, width=100), conflicts


def _written_into(text: str, own: dict, merged: dict, path: tuple) -> str:
    """``text`` (holding ``own`` at ``path``) edited line by line to hold ``merged``:
    settings changed, added at the end of their mapping, or removed."""
    for key in [k for k in own if k not in merged]:
        text = text_edits.remove_block(text, (*path, key))
    for key, value in merged.items():
        before = own.get(key, MISSING)
        if before == value:
            continue
        if (
            isinstance(before, dict)
            and isinstance(value, dict)
            and _written_as_block(text, (*path, key))
        ):
            text = _written_into(text, before, value, (*path, key))
        else:
            text = text_edits.set_block(text, (*path, key), value)
    return text


def _written_as_block(text: str, path: tuple) -> bool:
    """Whether the mapping at ``path`` has its settings on lines of their own (rather
    than ``{...}`` on its key's line)."""
    line = read_document("layer.yaml", text).lines[path]
    return not text.splitlines()[line - 1].lstrip().startswith(f"{path[-1]}:")


def _merge(base: Any, mine: Any, theirs: Any, path: tuple, conflicts: list) -> Any:
    if mine == theirs or theirs == base:
        return mine
    if mine == base:
        return theirs
    if (
        isinstance(mine, dict)
        and isinstance(theirs, dict)
        and (base is MISSING or isinstance(base, dict))
    ):
        found = {}
        base = base if isinstance(base, dict) else {}
        for key in [*mine, *(k for k in theirs if k not in mine)]:
            value = _merge(
                base.get(key, MISSING),
                mine.get(key, MISSING),
                theirs.get(key, MISSING),
                path + (key,),
                conflicts,
            )
            if value is not MISSING:
                found[key] = value
        return found
    conflicts.append(Conflict(".".join(map(str, path)), base, mine, theirs))
    return mine


def _data(text: str) -> dict:
    doc = read_document("layer.yaml", text)
    if doc.problems or not isinstance(doc.data, dict):
        raise ValidationFailed(
            {"text": str(doc.problems[0]) if doc.problems else "a definition must be a mapping"}
        )
    return doc.data


def _shown(value: Any) -> str:
    if value is MISSING:
        return "(nothing)"
    return (
        yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=100_000)
        .strip()
        .removesuffix("...")
        .strip()
    )


@dataclass(frozen=True)
class Upgrade:
    """A live app whose bundled base changed in this release."""

    app: str
    live: Source
    base: str  # the bundled text the live version builds on
    new_base: Source  # the bundled text now

    @property
    def edited(self) -> bool:
        """Whether the business changed the app since its base (else it simply upgrades)."""
        return self.live.text != self.base

    def merged(self) -> tuple[str, list[Conflict]]:
        return merge(self.base, self.live.text, self.new_base.text)


def upgrades(conn: Connection, bundled: list[Source]) -> list[Upgrade]:
    """The live apps whose bundled definition changed since their version was built."""
    found = []
    for source in bundled:
        app = app_name(source)
        if app is None:
            continue  # not an app definition the loader could name
        try:
            live = source_of(conn, app)
        except NotFound:
            continue  # not installed: a plain install, not an upgrade
        # versions from before bases were kept build on the first, installed from the bundle
        base = base_of(conn, app) or source_of(conn, app, 1).text
        if base != source.text:
            found.append(Upgrade(app, live, base, source))
    return found
