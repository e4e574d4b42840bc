"""Users, passwords and API tokens. Passwords are hashed with scrypt; a token is
shown once and only its SHA-256 is stored."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select, update

from apploom.engine import clock
from apploom.engine.access.permissions import User
from apploom.engine.access.throttle import Throttle, address_key, user_key
from apploom.engine.errors import NotFound, Unauthenticated, ValidationFailed
from apploom.engine.messages import msg
from apploom.engine.storage.database import Database, inserted_id
from apploom.engine.storage.system_tables import sys_token, sys_user

USERNAME = re.compile(r"[a-z0-9][a-z0-9_.@-]{1,63}")
MIN_PASSWORD = 12
TOKEN_DAYS = 90  # how long a new API token works unless told otherwise
_USE_STAMPED_EVERY = timedelta(hours=1)  # a token's last use, without a write per request
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return (
        f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}$"
        f"{b64(digest).decode()}"
    )


def check_password(stored: str | None, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = (stored or "").split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(actual, base64.b64decode(digest))


@functools.cache
def _dummy_hash() -> str:
    """What a password is checked against when there is no user (or no password) to
    check it against: refusing then takes as long, so it does not tell who exists."""
    return hash_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _password_errors(password: str) -> dict[str, str]:
    if len(password) < MIN_PASSWORD:
        return {"password": msg("must be at least {count} characters", count=MIN_PASSWORD)}
    return {}


def _user(row) -> User:
    return User(
        id=row.id,
        username=row.username,
        roles=frozenset(row.roles),
        display_name=row.display_name or row.username,
    )


class Users:
    def __init__(self, db: Database, known_roles: set[str], throttle: Throttle):
        self.db = db
        self.known_roles = known_roles
        self.throttle = throttle

    def create(
        self,
        username: str,
        roles: list[str],
        password: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> User:
        errors = {}
        if not USERNAME.fullmatch(username or ""):
            errors["username"] = (
                "use 2-64 lowercase letters, digits and . _ @ -, starting with a letter or digit"
            )
        unknown = sorted(set(roles) - self.known_roles)
        if unknown:
            errors["roles"] = (
                f"unknown role {', '.join(unknown)}; known roles: "
                f"{', '.join(sorted(self.known_roles))}"
            )
        if password is not None:
            errors.update(_password_errors(password))
        if errors:
            raise ValidationFailed(errors)
        with self.db.write() as conn:
            if conn.execute(select(sys_user.c.id).where(sys_user.c.username == username)).first():
                raise ValidationFailed(
                    {"username": msg("'{value}' is already taken", value=username)}
                )
            user_id = inserted_id(
                conn,
                sys_user.insert().values(
                    username=username,
                    display_name=display_name or username,
                    email=email,
                    password_hash=hash_password(password) if password else None,
                    roles=sorted(set(roles)),
                    active=True,
                    created_at=datetime.now(timezone.utc),
                ),
            )
        return User(user_id, username, frozenset(roles), display_name or username)

    def get(self, username: str) -> User:
        with self.db.read() as conn:
            row = conn.execute(select(sys_user).where(sys_user.c.username == username)).first()
        if row is None:
            raise NotFound(f"There is no user '{username}'")
        return _user(row)

    def for_session(self, user_id: int, epoch: int) -> User | None:
        """The active user of a session, unless the user signed out since (see end_sessions)."""
        row = self._active_row(user_id)
        if row is None or (row.session_epoch or 0) != epoch:
            return None
        return _user(row)

    def active(self, user_id: int) -> User | None:
        """The user with this id, if still active (work they started goes on in their name)."""
        row = self._active_row(user_id)
        return None if row is None else _user(row)

    def _active_row(self, user_id: int):
        with self.db.read() as conn:
            return conn.execute(
                select(sys_user).where(sys_user.c.id == user_id, sys_user.c.active)
            ).first()

    def session_epoch(self, user_id: int) -> int:
        with self.db.read() as conn:
            return (
                conn.execute(
                    select(sys_user.c.session_epoch).where(sys_user.c.id == user_id)
                ).scalar()
                or 0
            )

    def end_sessions(self, user_id: int) -> None:
        """Sign the user out everywhere: every cookie issued before now stops working."""
        with self.db.write() as conn:
            conn.execute(
                update(sys_user)
                .where(sys_user.c.id == user_id)
                .values(session_epoch=func.coalesce(sys_user.c.session_epoch, 0) + 1)
            )

    def read_in(self, user_id: int, lang: str) -> None:
        """The language the user reads the screens in, so what is sent to them (an email
        of a notification, a digest) is written in it too."""
        with self.db.write() as conn:
            conn.execute(update(sys_user).where(sys_user.c.id == user_id).values(language=lang))

    def disable(self, username: str) -> None:
        """The user can no longer sign in, and their sessions and tokens stop working."""
        self._change(username, active=False)

    def enable(self, username: str) -> None:
        """Sign-ins and tokens work again; sessions from before the disabling do not."""
        self._change(username, active=True)

    def set_password(self, username: str, password: str) -> None:
        """A new password, which signs the user out everywhere."""
        errors = _password_errors(password)
        if errors:
            raise ValidationFailed(errors)
        self._change(username, password_hash=hash_password(password))
        self.throttle.clear(user_key(username))

    def _change(self, username: str, **values) -> None:
        """Change the user and end every session of theirs (see end_sessions)."""
        epoch = func.coalesce(sys_user.c.session_epoch, 0) + 1
        with self.db.write() as conn:
            changed = conn.execute(
                update(sys_user)
                .where(sys_user.c.username == username)
                .values(session_epoch=epoch, **values)
            ).rowcount
        if not changed:
            raise NotFound(f"There is no user '{username}'")

    def email(self, user_id: int) -> str | None:
        """The address the user's notification emails go to, if they have one."""
        with self.db.read() as conn:
            return conn.execute(
                select(sys_user.c.email).where(sys_user.c.id == user_id)
            ).scalar_one_or_none()

    def names(self, ids: set[int]) -> dict[int, str]:
        """{id: display name} for showing who did what."""
        if not ids:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(
                select(sys_user.c.id, sys_user.c.display_name, sys_user.c.username).where(
                    sys_user.c.id.in_(ids)
                )
            )
            return {r.id: r.display_name or r.username for r in rows}

    def everyone_active(self) -> list[User]:
        """Every active user, by display name: whom a user field may be set to."""
        with self.db.read() as conn:
            rows = conn.execute(select(sys_user).where(sys_user.c.active)).all()
        return sorted(map(_user, rows), key=lambda u: (u.display_name.casefold(), u.id or 0))

    def authenticate(self, username: str, password: str, address: str = "") -> User | None:
        """The user, if the password is theirs; raises TooManyAttempts once the username
        or the client ``address`` failed too often."""
        keys = [user_key(username)] + ([address_key(address)] if address else [])
        self.throttle.check(*keys)
        with self.db.read() as conn:
            row = conn.execute(
                select(sys_user).where(sys_user.c.username == username, sys_user.c.active)
            ).first()
        stored = row.password_hash if row is not None else None
        matches = check_password(stored or _dummy_hash(), password)
        if not (stored and matches):
            self.throttle.failed(*keys)
            return None
        self.throttle.clear(keys[0])
        return _user(row)

    def create_token(self, username: str, name: str | None = None, days: int = TOKEN_DAYS) -> str:
        """A new token for ``username``, valid for ``days``; only its hash is kept."""
        if days < 1:
            raise ValidationFailed({"days": msg("must be at least 1")})
        user = self.get(username)
        token = "alt_" + secrets.token_urlsafe(32)
        now = clock.now()
        with self.db.write() as conn:
            conn.execute(
                sys_token.insert().values(
                    user_id=user.id,
                    name=name,
                    token_hash=_token_hash(token),
                    created_at=now,
                    expires_at=now + timedelta(days=days),
                )
            )
        return token

    def for_token(self, token: str, address: str = "") -> User | None:
        """The token's user; a client ``address`` sending wrong tokens too often is
        refused with TooManyAttempts, as for passwords."""
        keys = [address_key(address)] if address else []
        self.throttle.check(*keys)
        t = sys_token.c
        query = (
            select(sys_user, t.id.label("token_id"), t.created_at.label("token_created_at"))
            .add_columns(t.expires_at, t.last_used_at)
            .join(sys_token, t.user_id == sys_user.c.id)
            .where(t.token_hash == _token_hash(token), sys_user.c.active)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            if keys:
                self.throttle.failed(*keys)
            return None
        now = clock.now()
        expires = _expiry(row.token_created_at, row.expires_at)
        if expires <= now:
            raise Unauthenticated(
                msg(
                    "This API token expired on {when} UTC: make a new one with '{command}'",
                    when=expires.strftime("%Y-%m-%d %H:%M"),
                    command="apploom token create " + row.username,
                )
            )
        if row.last_used_at is None or now - row.last_used_at >= _USE_STAMPED_EVERY:
            with self.db.write() as conn:
                conn.execute(update(sys_token).where(t.id == row.token_id).values(last_used_at=now))
        return _user(row)

    def tokens(self, username: str | None = None) -> list[dict]:
        """Every token (of ``username``) with its name and dates; never the token itself."""
        t = sys_token.c
        query = (
            select(t.id, sys_user.c.username, t.name, t.created_at, t.expires_at, t.last_used_at)
            .join(sys_user, t.user_id == sys_user.c.id)
            .order_by(t.id)
        )
        if username is not None:
            query = query.where(sys_user.c.id == self.get(username).id)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            {**row._asdict(), "expires_at": _expiry(row.created_at, row.expires_at)} for row in rows
        ]

    def revoke_token(self, token_id: int) -> None:
        with self.db.write() as conn:
            if not conn.execute(delete(sys_token).where(sys_token.c.id == token_id)).rowcount:
                raise NotFound(f"There is no token {token_id} (see 'apploom token list')")


def _expiry(created_at: datetime, expires_at: datetime | None) -> datetime:
    """Tokens made before tokens expired last as long as new ones do by default."""
    return expires_at or created_at + timedelta(days=TOKEN_DAYS)
