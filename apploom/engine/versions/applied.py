"""Applied definitions, one row per version of each app in ``sys_app_version``.

The database, not the files, says which definitions are live, so every worker
of a deployment serves the same apps.
"""

from __future__ import annotations

import difflib
from datetime import datetime, timezone

from sqlalchemy import Connection, func, inspect, select, update

from apploom.engine.definitions.loading import Source
from apploom.engine.errors import NotFound
from apploom.engine.storage.system_tables import sys_app_version, sys_user


def active_sources(conn: Connection) -> list[Source]:
    if not inspect(conn).has_table(sys_app_version.name):
        return []
    rows = conn.execute(
        select(sys_app_version.c.file, sys_app_version.c.source)
        .where(sys_app_version.c.active)
        .order_by(sys_app_version.c.app)
    )
    return [Source(file, source) for file, source in rows]


def definitions_mark(conn: Connection) -> int | None:
    """Changes whenever any app gets a new version: a cheap 'are mine current?' check."""
    return conn.execute(select(func.max(sys_app_version.c.id))).scalar()


def active_hashes(conn: Connection) -> dict[str, str]:
    rows = conn.execute(
        select(sys_app_version.c.app, sys_app_version.c.hash).where(sys_app_version.c.active)
    )
    return dict(rows.all())


def record_version(
    conn: Connection,
    app: str,
    source: Source,
    user_id: int | None,
    comment: str | None,
    base: str | None = None,
) -> int:
    """Store ``source`` as the new live version of ``app``, built on the bundled ``base``
    (None: on the live version's base); returns its number."""
    if base is None:
        base = base_of(conn, app)
    latest = (
        conn.execute(
            select(func.max(sys_app_version.c.version)).where(sys_app_version.c.app == app)
        ).scalar()
        or 0
    )
    conn.execute(update(sys_app_version).where(sys_app_version.c.app == app).values(active=False))
    conn.execute(
        sys_app_version.insert().values(
            app=app,
            version=latest + 1,
            file=source.file,
            source=source.text,
            hash=source.hash,
            base=base,
            comment=comment,
            created_by=user_id,
            created_at=datetime.now(timezone.utc),
            active=True,
        )
    )
    return latest + 1


def source_of(conn: Connection, app: str, version: int | None = None) -> Source:
    """An app's definition as stored: a given version, or the live one."""
    query = select(sys_app_version.c.file, sys_app_version.c.source).where(
        sys_app_version.c.app == app,
        sys_app_version.c.version == version if version is not None else sys_app_version.c.active,
    )
    found = conn.execute(query).first()
    if found is None:
        raise NotFound(
            f"{app} has no version {version}" if version is not None else f"There is no app '{app}'"
        )
    return Source(found.file, found.source)


def base_of(conn: Connection, app: str, version: int | None = None) -> str | None:
    """The bundled text a version (default: the live one) builds on."""
    return conn.execute(
        select(sys_app_version.c.base).where(
            sys_app_version.c.app == app,
            sys_app_version.c.version == version
            if version is not None
            else sys_app_version.c.active,
        )
    ).scalar()


def diff(old: Source, new: Source, old_name: str, new_name: str) -> str:
    """A unified diff of two definitions' text."""
    return "".join(
        difflib.unified_diff(
            old.text.splitlines(keepends=True),
            new.text.splitlines(keepends=True),
            fromfile=old_name,
            tofile=new_name,
        )
    )


def history(conn: Connection, app: str | None = None) -> list[dict]:
    """Every version (of ``app``): who applied it, when, why, and which is live."""
    query = (
        select(
            sys_app_version.c.app,
            sys_app_version.c.version,
            sys_app_version.c.hash,
            sys_app_version.c.comment,
            sys_app_version.c.created_at,
            sys_app_version.c.active,
            sys_user.c.username.label("author"),
        )
        .select_from(
            sys_app_version.outerjoin(sys_user, sys_user.c.id == sys_app_version.c.created_by)
        )
        .order_by(sys_app_version.c.app, sys_app_version.c.version)
    )
    if app:
        query = query.where(sys_app_version.c.app == app)
    return [dict(r._mapping) for r in conn.execute(query)]
