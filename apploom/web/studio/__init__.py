"""The studio, for admins: an app's definition changed in the browser."""

from apploom.web.studio import report_preview, rule_cards  # noqa: F401  (their pages join bp)
from apploom.web.studio.routes import bp

__all__ = ["bp"]
