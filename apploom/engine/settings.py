"""Settings of one AppLoom instance, from a mapping or APPLOOM_* environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apploom.engine import catalogs, formatting
from apploom.engine.errors import BadSetting

LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Settings:
    instance_path: Path = Path("instance")
    database_url: str = ""
    max_attachment_bytes: int = 10 * 1024 * 1024
    secret_key: str = ""
    smtp_url: str = "smtp://127.0.0.1:25"
    mail_from: str = "apploom@localhost"
    webhook_secret: str = ""  # signs outgoing webhooks, checks incoming ones
    webhook_user: str = ""  # whose rights incoming webhooks act with
    plugin_path: str = ""  # more plugin folders, separated by os.pathsep
    base_url: str = "http://127.0.0.1:5000"  # where links in emails point
    secure_cookies: bool = False  # cookies only over HTTPS; always so when base_url is https
    db_pool_size: int = 10  # PostgreSQL connections per process, as many again in a burst
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-* headers count
    sign_in_attempts: int = 5  # failures of a user or address within the window lock it
    sign_in_window_minutes: int = 15
    time_zone: str = "Asia/Shanghai"  # the business's: what day it is, how times read
    currency: str = formatting.DEFAULT_CURRENCY  # the ISO 4217 code amounts are shown in
    language: str = catalogs.DEFAULT_LANGUAGE  # what customers, users and robots are written in
    log_format: str = "text"  # text, or json: one JSON object a line
    metrics_token: str = ""  # the bearer token /metrics asks for; unset, /metrics is off
    # the letterhead of printed documents (delivery notes, invoices, purchase orders)
    business_name: str = ""
    business_address: str = ""
    business_phone: str = ""
    business_logo: str = ""  # an image file (PNG, JPEG or SVG); relative: in the instance folder

    def __post_init__(self) -> None:
        if self.log_format not in LOG_FORMATS:
            raise BadSetting(
                f"APPLOOM_LOG_FORMAT is '{self.log_format}': use one of {', '.join(LOG_FORMATS)}"
            )
        _check_time_zone(self.time_zone)
        _check_currency(self.currency)
        if self.language not in catalogs.LANGUAGES:
            raise BadSetting(
                f"APPLOOM_LANGUAGE is '{self.language}': use one of {', '.join(catalogs.LANGUAGES)}"
            )
        _check_logo(self.business_logo_path)

    @property
    def https_only_cookies(self) -> bool:
        return self.secure_cookies or self.base_url.lower().startswith("https://")

    @property
    def attachments_path(self) -> Path:
        return self.instance_path / "attachments"

    @property
    def business_logo_path(self) -> Path | None:
        return self.instance_path / self.business_logo if self.business_logo else None

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] = os.environ
    ) -> Settings:
        """Defaults, then APPLOOM_<NAME> (and DATABASE_URL), then ``overrides``."""
        values: dict[str, Any] = {}
        if environ.get("DATABASE_URL"):
            values["database_url"] = environ["DATABASE_URL"]
        for f in fields(cls):
            env = environ.get(f"APPLOOM_{f.name.upper()}")
            if env:
                values[f.name] = env
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        instance = Path(values.get("instance_path", cls.instance_path))
        values["instance_path"] = instance
        for f in fields(cls):
            if f.type == "int" and f.name in values:
                values[f.name] = int(values[f.name])
            if f.type == "bool" and isinstance(values.get(f.name), str):
                values[f.name] = values[f.name].strip().lower() in ("1", "true", "yes", "on")
        if not values.get("database_url"):
            values["database_url"] = f"sqlite:///{(instance / 'apploom.db').resolve()}"
        return cls(**values)


def _check_time_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSetting(
            f"APPLOOM_TIME_ZONE: '{name}' is not a time zone; use a name like Asia/Shanghai"
        ) from None


def _check_currency(code: str) -> None:
    if not formatting.known_currency(code):
        raise BadSetting(
            f"APPLOOM_CURRENCY: '{code}' is not a currency code; use an ISO 4217 code like CNY"
        )


LOGO_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".svg")


def _check_logo(path: Path | None) -> None:
    if path is not None and (path.suffix.lower() not in LOGO_TYPES or not path.is_file()):
        raise BadSetting(
            f"APPLOOM_BUSINESS_LOGO: {path} is not an image file "
            f"({', '.join(t.lstrip('.') for t in LOGO_TYPES)}) that can be read"
        )


MIN_SECRET_KEY = 32
# Keys copied from documentation: anyone who read it could sign a session.
_PUBLISHED_KEYS = {
    "192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf",  # Flask's quickstart
}
_PLACEHOLDERS = ("changeme", "changethis", "yoursecret", "secretkey", "replaceme", "example")


def secret_key(settings: Settings) -> str:
    """APPLOOM_SECRET_KEY, or a key made once and kept in the instance folder. A set key
    that can be guessed is refused: it signs the session cookies, so whoever guesses
    it can sign in as anyone."""
    if settings.secret_key:
        check_key("APPLOOM_SECRET_KEY", settings.secret_key)
        return settings.secret_key
    path = settings.instance_path / "secret_key"
    if not path.exists():
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def check_key(setting: str, key: str) -> None:
    """Refuse a key set in ``setting`` that is short, or a placeholder or published one."""
    advice = "use a random one, e.g. from 'openssl rand -hex 32'"
    if len(key) < MIN_SECRET_KEY:
        raise BadSetting(
            f"{setting} is too short ({len(key)} characters; at least {MIN_SECRET_KEY}): {advice}"
        )
    letters = "".join(c for c in key.lower() if c.isalnum())
    if (
        key in _PUBLISHED_KEYS
        or len(set(key)) < 8
        or any(word in letters for word in _PLACEHOLDERS)
    ):
        raise BadSetting(f"{setting} is a placeholder or a published example: {advice}")
