"""The studio, for admins: an app's definition changed in the browser."""

from apploom.web.studio import (  # noqa: F401  (their pages join bp)
    form_designer,
    list_designer,
    new_report,
    report_preview,
    rule_cards,
)
from apploom.web.studio.routes import bp

__all__ = ["bp"]
