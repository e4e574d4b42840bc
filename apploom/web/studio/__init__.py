"""The studio, for admins: an app's definition changed in the browser."""

from apploom.web.studio import rule_cards  # noqa: F401  (its pages join the blueprint)
from apploom.web.studio.routes import bp

__all__ = ["bp"]
