"""Finding plugins and gathering what they add.

Plugins come from the ``apploom`` entry-point group (installed packages) and from
plugin folders (the bundled apps' ``bundled_plugins/``, and any named by
APPLOOM_PLUGIN_PATH). A misspelt hook is an error, not silence.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pluggy

from apploom import hookspecs
from apploom.engine.automation.actions import BUILTIN_ACTIONS
from apploom.engine.channels.pullers import as_puller
from apploom.engine.definitions.loading import Source
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings
from apploom.engine.storage.database import Database
from apploom.engine.versions.install import ApplyResult, apply_definitions

# Inside the package, so a wheel carries the actions its bundled apps name.
BUNDLED = Path(__file__).resolve().parent / "bundled_plugins"


@dataclass
class Extensions:
    """Everything the plugins add, ready for the runtime."""

    types: FieldTypes = field(default_factory=FieldTypes)
    actions: dict[str, Callable] = field(default_factory=dict)
    functions: dict[str, Callable] = field(default_factory=dict)
    senders: dict[str, Callable] = field(default_factory=dict)


def plugin_manager(folders: Iterable[Path] = ()) -> pluggy.PluginManager:
    manager = pluggy.PluginManager("apploom")
    manager.add_hookspecs(hookspecs)
    manager.load_setuptools_entrypoints("apploom")
    for folder in folders:
        for path in sorted(Path(folder).glob("*.py")):
            manager.register(_load(path), name=f"plugins.{path.stem}")
    manager.check_pending()
    return manager


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"apploom_plugins.{path.stem}", path)
    if spec is None or spec.loader is None:  # only for a file no loader reads
        raise ImportError(f"cannot load the plugin {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plugin_folders(settings: Settings) -> list[Path]:
    extra = [Path(p) for p in settings.plugin_path.split(os.pathsep) if p]
    return [BUNDLED, *extra]


def open_runtime(
    settings: Settings, manager: pluggy.PluginManager | None = None, db: Database | None = None
) -> Runtime:
    """The runtime with every plugin's additions (on ``db``, or a new connection pool);
    calls the start-up hook."""
    manager = manager or plugin_manager(plugin_folders(settings))
    found = gather(manager, settings)
    found.types.functions.update(found.functions)
    runtime = Runtime.open(settings, found.types, found.actions, found.senders, manager, db)
    manager.hook.apploom_startup(runtime=runtime)
    return runtime


def install_definitions(
    db: Database,
    sources: list[Source],
    settings: Settings,
    extra_actions: frozenset[str] = frozenset(),
    **options: Any,
) -> ApplyResult:
    """Apply definitions knowing every plugin's field types and actions (the bundled
    apps name the bundled plugins' actions); ``extra_actions`` are known by name only."""
    found = gather(plugin_manager(plugin_folders(settings)), settings)
    found.types.functions.update(found.functions)
    return apply_definitions(
        db,
        sources,
        found.types,
        actions={**dict.fromkeys(extra_actions), **BUILTIN_ACTIONS, **found.actions},
        **options,
    )


def gather(manager: pluggy.PluginManager, settings: Any) -> Extensions:
    found = Extensions()
    for types in manager.hook.apploom_field_types():
        for field_type in types or ():
            found.types.register(field_type)
    for added in manager.hook.apploom_pullers():
        pullers = {kind: as_puller(given) for kind, given in (added or {}).items()}
        _merge(found.types.pullers, pullers, "puller")
    for name, result in (
        ("actions", manager.hook.apploom_actions()),
        ("functions", manager.hook.apploom_functions()),
        ("senders", manager.hook.apploom_senders(settings=settings)),
    ):
        for added in result:
            _merge(getattr(found, name), added or {}, name[:-1])
    return found


def _merge(target: dict, added: dict, what: str) -> None:
    clash = set(target) & set(added)
    if clash:
        raise ValueError(f"two plugins add the same {what}: {', '.join(clash)}")
    target.update(added)
