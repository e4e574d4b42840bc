"""The studio, for admins: an app's definition changed in the browser."""

from apploom.web.studio import form_designer  # noqa: F401  (its pages, on the studio's bp)
from apploom.web.studio.routes import bp

__all__ = ["bp"]
