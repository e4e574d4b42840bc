"""The README's map of the code names only what exists."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from apploom.engine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"^[a-z_]+/?$|^[a-z_.]+\.json$")


def map_rows() -> list[tuple[list[str], list[str]]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Where things are", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) == 2:
            rows.append((re.findall(r"`([^`]+)`", cells[0]), re.findall(r"`([^`]+)`", cells[1])))
    return rows


def test_every_place_and_module_the_map_names_exists():
    rows = map_rows()
    assert len(rows) > 10
    for places, names in rows:
        folder = ROOT
        for place in places:  # later names in a cell sit beside the first
            path = ROOT / place if "/" in place.rstrip("/") else folder / place
            assert path.exists(), f"the README names {place}, which does not exist"
            folder = path if path.is_dir() else path.parent
        for name in filter(NAME.match, names):
            found = [folder / name, folder / f"{name}.py"]
            assert any(p.exists() for p in found), f"{places[0]} has no {name}"


def configuration_rows() -> dict[str, str]:
    """The README's configuration table: each variable it names, with its row."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## Configuration\n" in readme, "the README has no Configuration section"
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            for name in re.findall(
                r"`((?:APPLOOM_)?[A-Z_]+_[A-Z_]+|DATABASE_URL)`", line.split(" | ")[0]
            ):
                rows[name] = line
    return rows


def test_the_configuration_table_gives_every_setting_with_its_default():
    rows = configuration_rows()
    for setting in fields(Settings):
        name = f"APPLOOM_{setting.name.upper()}"
        assert name in rows, f"the README's Configuration table lacks {name}"
        default = setting.default
        if default not in ("", None):
            shown = str(int(default)) if isinstance(default, bool) else str(default)
            default_cell = rows[name].rstrip(" |").rsplit(" | ", 1)[1]
            assert f"`{shown}`" in default_cell, f"{name}: the default is {shown}"
    known = {f"APPLOOM_{s.name.upper()}" for s in fields(Settings)} | {"DATABASE_URL"}
    assert set(rows) - known == set()
