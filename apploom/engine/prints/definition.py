"""An entity's ``prints``: the documents its records print as, each a Jinja2 template
(``prints/<template>.html``) on a page size. The engine only names them; the printing
layer (apploom.printing) renders them in a sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from apploom.engine.definitions.model import Label, frozen_map

# Page sizes a print may ask for: A4 sheets, and 80 mm thermal receipt rolls.
PAGES = ("a4", "receipt")


@dataclass(frozen=True)
class Print:
    name: str
    label: Label
    template: str  # the file prints/<template>.html
    page: str = "a4"

    @property
    def path(self) -> str:
        return f"prints/{self.template}.html"


def parse_prints(raw: Mapping[str, Any] | None) -> Mapping[str, Print]:
    return frozen_map(
        {
            name: Print(
                name=name,
                label=Label.parse(spec.get("label"), name),
                template=spec.get("template") or name,
                page=spec.get("page") or "a4",
            )
            for name, spec in (raw or {}).items()
        }
    )
