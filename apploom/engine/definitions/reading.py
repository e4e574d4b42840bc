"""Reading YAML and JSON definition files, keeping the line of every value.

YAML is read with 1.2-style scalars: only true/false are booleans (so ``on``,
``no`` and ``yes`` stay words) and dates stay text until a field type reads them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from apploom.engine.errors import Problem
from apploom.engine.messages import msg

KeyPath = tuple[str | int, ...]  # keys and list positions from the document's root to a value


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser where it is installed (about ten times faster), with 1.2 scalars."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class Dumper(yaml.SafeDumper):
    """Writes YAML that reads back the same way: ``on``, ``no`` and dates stay unquoted."""


Dumper.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


@dataclass
class Document:
    file: str
    text: str
    data: Any = None
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_document(file: str, text: str) -> Document:
    """Parse ``text``; syntax problems and duplicate keys land in ``problems``."""
    doc = Document(file=file, text=text)
    if file.endswith(".json"):
        _read_json(doc)
        return doc
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        said = msg("not valid YAML: {reason}", reason=exc.problem or str(exc))
        doc.problems.append(Problem(file, "", line, said))
        return doc
    if node is None:
        doc.problems.append(Problem(file, "", 1, msg("the file is empty")))
        return doc
    doc.data = _Builder(doc).build(node, ())
    return doc


def _read_json(doc: Document) -> None:
    """JSON is parsed as JSON; its lines are read through YAML when it also parses as YAML."""

    def no_duplicates(pairs: list) -> dict:
        keys = [k for k, _ in pairs]
        for key in {k for k in keys if keys.count(k) > 1}:
            said = msg("'{key}' is written twice; keep one", key=key)
            doc.problems.append(Problem(doc.file, "", None, said))
        return dict(pairs)

    try:
        doc.data = json.loads(doc.text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        said = msg("not valid JSON: {reason}", reason=exc.msg)
        doc.problems.append(Problem(doc.file, "", exc.lineno, said))
        return
    try:
        node = yaml.compose(doc.text, Loader=_Loader)
    except yaml.YAMLError:
        return
    if node is not None:
        _Builder(Document(doc.file, doc.text, lines=doc.lines)).build(node, ())


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest located ancestor."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


class _Builder:
    def __init__(self, doc: Document):
        self.doc = doc
        self.constructor = _Loader("")

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict = {}
            seen: dict = {}
            for key_node, value_node in node.value:
                key = str(self.constructor.construct_object(key_node))
                if key in seen:
                    self.doc.problems.append(
                        Problem(
                            self.doc.file,
                            ".".join(map(str, path + (key,))),
                            key_node.start_mark.line + 1,
                            msg(
                                "'{key}' is written twice (first on line {line}); keep one",
                                key=key,
                                line=seen[key],
                            ),
                        )
                    )
                seen[key] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)
