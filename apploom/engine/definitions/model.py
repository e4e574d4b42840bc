"""App definitions as frozen dataclasses. Nothing downstream reads raw dicts."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from dataclasses import field as dc_field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, TypeVar

from apploom.engine.definitions.reading import KeyPath, line_of

if TYPE_CHECKING:
    from apploom.engine.automation.definition import Rule
    from apploom.engine.balances.definition import Balance
    from apploom.engine.channels.definition import Channel
    from apploom.engine.errors import Problem
    from apploom.engine.prints.definition import Print
    from apploom.engine.reports.definition import Dashboard, Report
    from apploom.engine.workflow.definition import Workflow

SYSTEM_COLUMNS = ("id", "version", "created_at", "created_by", "updated_at", "updated_by")
CHILD_SYSTEM_COLUMNS = ("id", "parent_id", "position")
RESERVED_NAMES = frozenset(SYSTEM_COLUMNS + CHILD_SYSTEM_COLUMNS)
ACTIONS = ("read", "create", "update", "delete")
ADMIN_ROLE = "admin"
# The most rows a table field holds unless its max_rows says otherwise: every record's
# rows, and the formulas and rules that loop over them, stay bounded.
MAX_TABLE_ROWS = 1_000


K = TypeVar("K")
V = TypeVar("V")


def frozen_map(items: Mapping[K, V]) -> Mapping[K, V]:
    return MappingProxyType(dict(items))


@dataclass(frozen=True)
class Label:
    en: str
    zh: str

    @classmethod
    def parse(cls, value: Any, fallback: str) -> Label:
        if isinstance(value, Mapping):
            en = value.get("en") or value.get("zh") or fallback
            return cls(en=en, zh=value.get("zh") or en)
        if isinstance(value, str) and value:
            return cls(en=value, zh=value)
        text = fallback.replace("_", " ").capitalize()
        return cls(en=text, zh=text)

    def get(self, lang: str = "en") -> str:
        return self.zh if lang.startswith("zh") else self.en

    @classmethod
    def listed(cls, labels: builtins.list[Label]) -> Label:
        """Labels as one, listed as each language lists: "a, b" and "甲、乙"."""
        return cls(", ".join(x.en for x in labels), "、".join(x.zh for x in labels))

    def __str__(self) -> str:
        return self.en


@dataclass(frozen=True)
class Option:
    value: str
    label: Label
    system: bool = False  # only the app's rules and plugins choose it (a reservation)
    colour: str | None = None  # its badge's colour on screens (a workflow state's kind)


@dataclass(frozen=True)
class PageLink:
    """A page about one record, on this site: ``to`` is its path with ``{id}`` for the
    record's id (a customer's statement, /a/oms/statement/{id})."""

    label: Label
    to: str

    def path(self, record_id: int) -> str:
        return self.to.replace("{id}", str(record_id))


@dataclass(frozen=True)
class Related:
    """How records holding a ref show on the page of the record they point at."""

    label: Label | None = None
    where: Mapping[str, Any] = dc_field(default_factory=lambda: frozen_map({}))
    sums: Mapping[str, Label] = dc_field(default_factory=lambda: frozen_map({}))
    latest: Mapping[str, Label] = dc_field(default_factory=lambda: frozen_map({}))
    shown: bool = True
    link: PageLink | None = None  # shown on the panel, which then shows even while empty


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: Label
    help: Label | None = None
    required: bool = False
    unique: bool = False
    index: bool = False
    readonly: bool = False
    # expressions over the record (a row field: its row), see records/conditions.py
    visible_if: str | None = None
    required_if: str | None = None
    readonly_if: str | None = None
    default: Any = None
    default_from: str | None = None  # "ref.field": the referenced record's value, until typed
    fill: str | None = None  # added by a version: what the records already there take
    min: Any = None
    max: Any = None
    length: int | None = None
    pattern: str | None = None
    options: tuple[Option, ...] = ()
    formula: str | None = None
    to: str | None = None  # ref: qualified entity name, "app.entity"
    of: str | None = None  # table: qualified child entity name
    format: str | None = None  # autonumber: naming series pattern
    scale: int | None = None
    precision: int | None = None
    min_rows: int = 0
    max_rows: int | None = None
    max_size: int | None = None  # attachment: bytes
    related: Related = Related()  # ref: the panel on the target's page
    locks: tuple[str, ...] = ()  # fields of its record that cannot change while it is set
    editable_by: tuple[str, ...] = ()  # the roles alone (and admins) who may set it; () all
    # user field: the message its new user gets (a template, or one for each language)
    notify: str | Mapping[str, str] | None = None
    settings: frozenset[str] = frozenset()  # the settings written in the definition

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)

    def option_label(self, value: str) -> Label:
        """What people read for one of the options (an unknown value as itself)."""
        found = next((o.label for o in self.options if o.value == value), None)
        return found or Label(value, value)

    @property
    def holds_rows(self) -> bool:
        """A table: its rows are records of the entity ``of`` names (a setting only field
        types holding rows take)."""
        return self.of is not None

    @property
    def row_limit(self) -> int:
        """The most rows this table may hold: its ``max_rows``, else MAX_TABLE_ROWS."""
        return self.max_rows if self.max_rows is not None else MAX_TABLE_ROWS

    @property
    def target(self) -> str:
        """The qualified entity a ref points at (its ``to``, which loading ensures)."""
        if self.to is None:
            raise TypeError(f"'{self.name}' is not a ref field")
        return self.to

    @property
    def child(self) -> str:
        """The qualified child entity a table field holds (its ``of``, which loading ensures)."""
        if self.of is None:
            raise TypeError(f"'{self.name}' is not a table field")
        return self.of


@dataclass(frozen=True)
class ListSpec:
    columns: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    sort: tuple[str, ...] = ("-created_at",)
    page_size: int = 50


@dataclass(frozen=True)
class Section:
    label: Label
    rows: tuple[tuple[str, ...], ...]
    # conditions on every field of the section, beside each field's own
    visible_if: str | None = None
    required_if: str | None = None
    readonly_if: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for row in self.rows for name in row)


@dataclass(frozen=True)
class Entity:
    app: str
    name: str
    label: Label
    fields: Mapping[str, Field]
    naming: str | None = None
    title: str | None = None
    list: ListSpec = ListSpec()
    form: tuple[Section, ...] = ()
    # role -> action -> "all" | "own"; empty means "use the app's permissions"
    permissions: Mapping[str, Mapping[str, str]] = dc_field(default_factory=lambda: frozen_map({}))
    indexes: tuple[tuple[str, ...], ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()  # field combinations no two records share
    parent: str | None = None  # qualified name of the entity whose table field holds us
    workflow: Workflow | None = None  # when the entity has one
    rules: tuple[Rule, ...] = ()  # in the order they run
    balances: tuple[Balance, ...] = ()  # kept over this entity as a ledger
    # True, False (a ledger: never), or the states a record may be deleted in (a draft);
    # documents past them have touched stock or money and are cancelled instead
    deletable: bool | tuple[str, ...] = True
    prints: Mapping[str, Print] = dc_field(default_factory=lambda: frozen_map({}))

    @property
    def qualified(self) -> str:
        return f"{self.app}.{self.name}"

    @property
    def table(self) -> str:
        return f"{self.app}_{self.name}"

    @property
    def is_child(self) -> bool:
        return self.parent is not None

    def kept(self, values: Mapping[str, Any]) -> bool:
        """Whether a record holding ``values`` is past deleting (see ``deletable``)."""
        if isinstance(self.deletable, bool):
            return not self.deletable
        return self.workflow is not None and values.get(self.workflow.field) not in self.deletable

    # ``list`` above is the entity's list view, so the builtin is spelled out here
    def table_fields(self) -> builtins.list[Field]:
        return [f for f in self.fields.values() if f.holds_rows]


@dataclass(frozen=True)
class App:
    name: str
    label: Label
    file: str
    source: str
    requires: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    permissions: Mapping[str, Mapping[str, str]] = dc_field(default_factory=lambda: frozen_map({}))
    entities: Mapping[str, Entity] = dc_field(default_factory=lambda: frozen_map({}))
    lines: Mapping[KeyPath, int] = dc_field(default_factory=lambda: frozen_map({}), repr=False)
    reports: tuple[Report, ...] = ()  # in the order defined
    dashboard: Dashboard | None = None  # shown on the app's home
    # sales channels posting orders to /hooks/orders/<name>, for the app's order entity
    channels: Mapping[str, Channel] = dc_field(default_factory=lambda: frozen_map({}))

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path`` in the source, or of its nearest located ancestor."""
        return line_of(self.lines, path)


class AppSet:
    """The apps loaded together; resolves entities across them."""

    def __init__(self, apps: Mapping[str, App], warnings: list[Problem] | None = None):
        self.apps: Mapping[str, App] = frozen_map(apps)
        self.warnings = tuple(warnings or ())  # definition problems that do not block loading

    def entity(self, qualified: str) -> Entity:
        app, _, name = qualified.partition(".")
        return self.apps[app].entities[name]

    def find(self, qualified: str) -> Entity | None:
        app, _, name = qualified.partition(".")
        return self.apps[app].entities.get(name) if app in self.apps else None

    def entities(self) -> list[Entity]:
        return [e for app in self.ordered() for e in app.entities.values()]

    def channel(self, name: str) -> tuple[App, Channel] | None:
        """The channel called ``name`` and the app defining it, if any app does."""
        for app in self.ordered():
            if name in app.channels:
                return app, app.channels[name]
        return None

    def roles(self) -> set[str]:
        return {ADMIN_ROLE} | {role for app in self.apps.values() for role in app.roles}

    def ordered(self) -> list[App]:
        """Apps with every app after the apps it requires."""
        done: dict[str, App] = {}
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in done or name in visiting or name not in self.apps:
                return
            visiting.add(name)
            for required in self.apps[name].requires:
                visit(required)
            visiting.discard(name)
            done[name] = self.apps[name]

        for name in sorted(self.apps):
            visit(name)
        return list(done.values())
