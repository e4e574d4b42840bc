"""Default values, including the ones that depend on the moment or the user."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from apploom.engine.definitions.model import Field

DYNAMIC_DEFAULTS = {"date": ("today",), "datetime": ("now",), "user": ("me",)}


def default_value(field: Field, user_id: int | None, now: datetime) -> Any:
    """The raw default of ``field`` (still to be coerced), resolving today/now/me."""
    value = field.default
    if value == "today" and field.type == "date":
        return now.astimezone(timezone.utc).date()
    if value == "now" and field.type == "datetime":
        return now
    if value == "me" and field.type == "user":
        return user_id
    return value
