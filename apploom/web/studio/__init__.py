"""The studio, for admins: an app's definition changed in the browser."""

from apploom.web.studio import form_designer, list_designer  # noqa: F401  (pages on the bp)
from apploom.web.studio.routes import bp

__all__ = ["bp"]
