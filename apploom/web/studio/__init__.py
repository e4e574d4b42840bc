"""The studio, for admins: an app's definition changed in the browser."""

from apploom.web.studio.routes import bp

__all__ = ["bp"]
