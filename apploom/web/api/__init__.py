"""The REST API under /api/v1 and its OpenAPI document."""

from apploom.web.api.routes import bp

__all__ = ["bp"]
