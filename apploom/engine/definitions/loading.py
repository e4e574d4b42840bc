"""Loading app definitions: parse, check against the schema, build the model,
then check across apps. All problems are reported together, and a broken set
of definitions never half-loads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Collection, Iterable

from apploom.engine.automation.actions import BUILTIN_ACTIONS
from apploom.engine.definitions.building import parse_app
from apploom.engine.definitions.checks import semantic_problems
from apploom.engine.definitions.json_schema import schema_problems
from apploom.engine.definitions.model import App, AppSet
from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import DefinitionError, Problem
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import msg

_PACKAGE = Path(__file__).resolve().parents[2]
DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Source:
    file: str
    text: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def bundled_apps_dir() -> Path:
    """``apps/`` of the repository, or its copy inside an installed wheel."""
    packaged = _PACKAGE / "bundled" / "apps"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "apps"


def read_sources(paths: Iterable[str | Path]) -> list[Source]:
    sources = []
    for path in paths:
        path = Path(path)
        try:
            sources.append(Source(str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise DefinitionError(
                [Problem(str(path), "", None, msg("cannot be read: {reason}", reason=str(exc)))]
            ) from None
    return sources


def bundled_sources() -> list[Source]:
    folder = bundled_apps_dir()
    return read_sources(sorted(p for p in folder.iterdir() if p.suffix in DEFINITION_SUFFIXES))


def load_apps(
    sources: Iterable[Source], types: FieldTypes, actions: Collection[str] = BUILTIN_ACTIONS
) -> AppSet:
    """Every app of ``sources``, checked together; raises DefinitionError listing all problems.
    ``actions`` are those rules may take (see action_checks)."""
    problems: list[Problem] = []
    apps: dict[str, App] = {}
    for source in sources:
        app, found = _read_app(source.file, source.text, types.names())
        if app is None:
            problems.extend(found)
            continue
        if app.name in apps:
            problems.append(
                Problem(
                    source.file,
                    "app",
                    app.line(("app",)),
                    msg(
                        "the app '{app}' is also defined in {file}",
                        app=app.name,
                        file=apps[app.name].file,
                    ),
                )
            )
            continue
        apps[app.name] = app
    if problems:
        raise DefinitionError(problems)
    problems, warnings = semantic_problems(AppSet(apps), types, actions)
    if problems:
        raise DefinitionError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    return AppSet(apps, warnings)


@lru_cache(maxsize=128)
def _read_app(
    file: str, text: str, type_names: tuple[str, ...]
) -> tuple[App | None, tuple[Problem, ...]]:
    """One source read, schema-checked and built; kept, since every worker and every apply
    reads the same texts again (the model is frozen, so sharing it is safe)."""
    doc = read_document(file, text)
    found = doc.problems + (
        schema_problems(doc.data, file, doc.lines, type_names) if doc.data is not None else []
    )
    if found:
        return None, tuple(found)
    return parse_app(doc.data, file, text, doc.lines), ()


def with_companions(sources: list[Source], companions: list[Source]) -> list[Source]:
    """``sources`` plus the companion apps they do not replace (so cross-app refs resolve)."""
    names = {app_name(s) for s in sources}
    return sources + [c for c in companions if app_name(c) not in names]


def app_name(source: Source) -> str | None:
    """The app a source defines, if it can tell."""
    return _app_name(source.file, source.text)


@lru_cache(maxsize=128)
def _app_name(file: str, text: str) -> str | None:
    data = read_document(file, text).data
    return data.get("app") if isinstance(data, dict) else None
