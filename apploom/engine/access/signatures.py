"""HMAC-SHA256 signatures of webhook bodies, as sent and checked in X-AppLoom-Signature."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` (compared in constant time)."""
    return hmac.compare_digest(signature(secret, body).encode(), header.encode())
