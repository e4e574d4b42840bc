"""The ``apploom`` command: init, serve, apps, users, tokens, backups and exports."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from apploom import logs
from apploom.demo import DEMO_PASSWORD, DEMO_USERS, demo_loaded, load_demo
from apploom.engine.access.users import TOKEN_DAYS
from apploom.engine.automation import outbox
from apploom.engine.automation.actions import BUILTIN_ACTIONS
from apploom.engine.backups.backup import back_up
from apploom.engine.backups.restore import restore as restore_backup
from apploom.engine.channels.secrets import SIGNING
from apploom.engine.definitions.loading import (
    Source,
    app_name,
    bundled_sources,
    load_apps,
    read_sources,
    with_companions,
)
from apploom.engine.errors import AppLoomError, DefinitionError, NotFound
from apploom.engine.exports.folder import FORMATS, export_data
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings
from apploom.engine.storage.database import Database
from apploom.engine.versions import applied, layers
from apploom.engine.versions.applied import active_sources
from apploom.engine.versions.install import ApplyResult
from apploom.plugins import (
    Extensions,
    gather,
    install_definitions,
    open_runtime,
    plugin_folders,
    plugin_manager,
)


class _Context:
    def __init__(self, instance: str | None, database_url: str | None):
        self.settings = Settings.load({"instance_path": instance, "database_url": database_url})

    def database(self) -> Database:
        self.settings.instance_path.mkdir(parents=True, exist_ok=True)
        return Database(self.settings.database_url, self.settings.db_pool_size)

    def extensions(self) -> Extensions:
        """What the plugins add (field types, actions, functions, senders)."""
        found = gather(plugin_manager(plugin_folders(self.settings)), self.settings)
        found.types.functions.update(found.functions)
        return found

    def apply(self, sources, **options) -> ApplyResult:
        return install_definitions(self.database(), sources, self.settings, **options)

    def runtime(self) -> Runtime:
        """The live apps; refuses to go on before ``apploom init`` installed any."""
        runtime = open_runtime(self.settings)
        if not runtime.apps.apps:
            runtime.close()
            click.echo(
                "No apps are installed in this database yet: run 'apploom init' first.", err=True
            )
            sys.exit(1)
        return runtime


def _fail(exc: AppLoomError) -> None:
    click.echo(str(exc), err=True)
    fields = getattr(exc, "fields", None)
    for name, message in (fields or {}).items():
        click.echo(f"  {name}: {message}", err=True)
    sys.exit(1)


@click.group()
@click.version_option(package_name="apploom", prog_name="apploom")
@click.option(
    "--instance",
    envvar="APPLOOM_INSTANCE_PATH",
    help="Instance folder (database, files). Default: ./instance",
)
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    help="SQLAlchemy URL; default: SQLite in the instance folder",
)
@click.pass_context
def main(ctx: click.Context, instance: str | None, database_url: str | None) -> None:
    """AppLoom: business apps from definitions."""
    ctx.obj = _Context(instance, database_url)


@main.command()
@click.option("--demo", is_flag=True, help="Also load demo users and data (once).")
@click.option(
    "--demo-orders",
    default=2000,
    show_default=True,
    help="How many orders the demo's year of history holds.",
)
@click.pass_obj
def init(obj: _Context, demo: bool, demo_orders: int) -> None:
    """Create or migrate the database and install the bundled apps not yet installed."""
    db = obj.database()
    try:
        with db.read() as conn:
            live = {app_name(s) for s in active_sources(conn)}
        missing = [s for s in bundled_sources() if app_name(s) not in live]
        result = obj.apply(
            missing, comment="apploom init", bases={app_name(s): s.text for s in missing}
        )
    except AppLoomError as exc:
        _fail(exc)
    for app, version in result.versions.items():
        click.echo(f"Installed {app} (version {version})")
    _upgrade_unchanged_apps(obj)
    shown = make_url(obj.settings.database_url).render_as_string(hide_password=True)
    click.echo(f"Database ready: {shown}")
    if demo:
        runtime = obj.runtime()
        if not demo_loaded(runtime):
            click.echo(
                f"Loading a year of demo history ({demo_orders} orders); this takes "
                "two or three minutes, once."
            )
            load_demo(runtime, orders=demo_orders, progress=click.echo)
            click.echo("Loaded demo data.")
        click.echo(
            f"Demo users ({', '.join(DEMO_USERS)}) share the password '{DEMO_PASSWORD}'. "
            f"Demo admin: admin / {DEMO_PASSWORD}"
        )
        runtime.close()


def _upgrade_unchanged_apps(obj: _Context) -> None:
    """Apps nobody changed move to this release's definitions; changed ones are told."""
    with obj.database().read() as conn:
        pending = layers.upgrades(conn, bundled_sources())
    for upgrade in pending:
        if upgrade.edited:
            click.echo(
                f"{upgrade.app}: this release changes its definition and you have your "
                f"own changes: see 'apploom apps upgrade {upgrade.app} --dry-run' (or "
                "the studio)"
            )
    ready = [upgrade for upgrade in pending if not upgrade.edited]
    if not ready:
        return
    try:  # together first: one app's new version may need another's (an order's item tax)
        _upgrade(obj, ready)
    except AppLoomError:
        for upgrade in ready:  # then one by one, so one that cannot go holds back no other
            try:
                _upgrade(obj, [upgrade])
            except AppLoomError as exc:  # the old definition stays live
                click.echo(f"{upgrade.app}: not upgraded to this release: {exc}")


def _upgrade(obj: _Context, upgrades: list) -> None:
    done = obj.apply(
        [upgrade.new_base for upgrade in upgrades],
        comment="upgraded with the release",
        bases={upgrade.app: upgrade.new_base.text for upgrade in upgrades},
    )
    for app, version in done.versions.items():
        click.echo(f"Upgraded {app} to this release's definition (version {version})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option(
    "--deliver/--no-deliver",
    default=True,
    show_default=True,
    help="Also run a thread delivering the outbox.",
)
@click.pass_obj
def serve(obj: _Context, host: str, port: int, threads: int, deliver: bool) -> None:
    """Serve the app and its API (waitress, a production WSGI server); logs, an access
    line per request among them, go to stderr (see APPLOOM_LOG_FORMAT)."""
    from waitress import serve as waitress_serve

    from apploom.web import create_app

    runtime = obj.runtime()
    try:
        app = create_app(runtime=runtime)
    except AppLoomError as exc:
        runtime.close()
        _fail(exc)
    worker = runtime.worker().start() if deliver else None
    click.echo(f"AppLoom on http://{host}:{port}/  (API: http://{host}:{port}/api/v1/)")
    try:
        waitress_serve(app, host=host, port=port, threads=threads)
    finally:
        if worker is not None:
            worker.stop()


@main.command()
@click.option("--interval", default=2.0, show_default=True, help="Seconds between rounds.")
@click.pass_obj
def worker(obj: _Context, interval: float) -> None:
    """Deliver the outbox (emails, webhooks), run scheduled rules, pull the polled sales
    channels and take up the jobs (imports, bulk transitions) whose process died, until
    stopped; run as many as you like."""
    logs.configure(obj.settings.log_format)
    runtime = obj.runtime()
    click.echo(f"Delivering the outbox every {interval:g} s; Ctrl+C stops.")
    delivering = runtime.worker(interval).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        delivering.stop()


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup_command(obj: _Context, file: Path) -> None:
    """Write a backup to FILE (a zip): the database, the instance's files (attachments,
    imports, its secret key) and the live definitions, with a manifest of row counts and
    checksums. Safe while the server runs: the database is read at one moment."""
    runtime = obj.runtime()
    started = time.monotonic()
    try:
        manifest = back_up(runtime, file)
    except AppLoomError as exc:
        _fail(exc)
    finally:
        runtime.close()
    click.echo(
        f"Backed up {_contents(manifest)} to {file} ({file.stat().st_size:,} bytes) in "
        f"{time.monotonic() - started:.1f} s"
    )
    for missing in manifest["missing_files"]:
        click.echo(f"warning: the file {missing} is recorded but not in the instance", err=True)


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def restore_command(obj: _Context, file: Path) -> None:
    """Restore the backup FILE into this instance, whose database and folder must be
    empty (restore into a new one, then switch over). A backup from SQLite restores into
    PostgreSQL and the other way round."""
    found = obj.extensions()
    db = obj.database()
    try:
        manifest = restore_backup(
            db, obj.settings, found.types, {**BUILTIN_ACTIONS, **found.actions}, file
        )
    except AppLoomError as exc:
        _fail(exc)
    finally:
        db.dispose()
    click.echo(
        f"Restored {_contents(manifest)}, backed up on {manifest['database']['kind']} at "
        f"{manifest['created_at']}"
    )
    if manifest["apploom_version"] != metadata.version("apploom"):
        click.echo(
            f"It was made by AppLoom {manifest['apploom_version']}: run 'apploom init' to "
            "bring it to this release before serving it."
        )


def _contents(manifest: dict) -> str:
    tables = manifest["database"]["tables"]
    rows = sum(t["rows"] for t in tables.values())
    files = sum(name.startswith("files/") for name in manifest["members"])
    return f"{len(tables)} tables ({rows:,} rows) and {files} file(s)"


@main.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.pass_obj
def export_command(obj: _Context, folder: Path, fmt: str) -> None:
    """Write every app's data to FOLDER (new or empty) in open formats: a file per entity
    (CSV with a header row, JSON, or one Excel workbook with a sheet each), child rows
    and balances too, the users, the uploaded files, the definitions (YAML) and a
    README.txt saying what each file holds."""
    runtime = obj.runtime()
    try:
        counts = export_data(runtime, folder, fmt)
    except AppLoomError as exc:
        _fail(exc)
    finally:
        runtime.close()
    click.echo(f"Exported {len(counts)} tables ({sum(counts.values()):,} rows) to {folder}")


@main.group("outbox")
def outbox_group() -> None:
    """See and retry queued emails and webhooks."""


@outbox_group.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "dead"]))
@click.pass_obj
def outbox_list(obj: _Context, status: str | None) -> None:
    """The latest messages (dead ones are the dead-letter list)."""
    for message in outbox.messages(obj.runtime().db, status):
        click.echo(
            f"{message['id']:>6} {message['status']:8} {message['kind']:10} "
            f"attempts={message['attempts']} {message['last_error'] or ''}"
        )


@outbox_group.command("retry")
@click.argument("message_id", type=int)
@click.pass_obj
def outbox_retry(obj: _Context, message_id: int) -> None:
    """Send message MESSAGE_ID again now."""
    try:
        outbox.retry(obj.runtime().db, message_id)
    except AppLoomError as exc:
        _fail(exc)
    click.echo(f"Message {message_id} will be sent again.")


@main.group("robots")
def robots_group() -> None:
    """Set up the group robots (WeCom, DingTalk, Feishu) notifications post to."""


@robots_group.command("set")
@click.argument("name")
@click.option("--kind", required=True, help="wecom, dingtalk or feishu (or a plugin's).")
@click.option("--url", help="The robot's webhook address (kept, never shown).")
@click.option("--secret", help="Its signing secret, if the group asks for signed posts.")
@click.option("--role", "roles", multiple=True, help="A role whose notifications it posts.")
@click.pass_obj
def robots_set(
    obj: _Context,
    name: str,
    kind: str,
    url: str | None,
    secret: str | None,
    roles: tuple[str, ...],
) -> None:
    """Add robot NAME or change it (what you leave out stays as it was)."""
    runtime = obj.runtime()
    try:
        runtime.robots.save(name, kind, url, secret, roles or None)
    except AppLoomError as exc:
        _fail(exc)
    finally:
        runtime.close()
    click.echo(f"Robot {name} is set.")


@robots_group.command("list")
@click.pass_obj
def robots_list(obj: _Context) -> None:
    """The robots, with their host and roles (never their address or secret)."""
    runtime = obj.runtime()
    listed = runtime.robots.listing()
    runtime.close()
    for robot in listed:
        signed = "signed" if robot["signed"] else "unsigned"
        click.echo(
            f"{robot['name']:20} {robot['kind']:10} {robot['host']:28} {signed:9} "
            f"roles={','.join(robot['roles']) or '-'}"
        )


@robots_group.command("remove")
@click.argument("name")
@click.pass_obj
def robots_remove(obj: _Context, name: str) -> None:
    """Remove robot NAME; posts still waiting for it become dead letters."""
    runtime = obj.runtime()
    try:
        runtime.robots.remove(name)
    except AppLoomError as exc:
        _fail(exc)
    finally:
        runtime.close()
    click.echo(f"Robot {name} is removed.")


@main.group("channels")
def channels_group() -> None:
    """Sales channels: their secrets (set, never shown)."""


@channels_group.command("secret")
@click.argument("channel")
@click.argument("value")
@click.option(
    "--name",
    default=SIGNING,
    show_default=True,
    help="Which secret: signing checks the platform's calls; others fill {secret:NAME} "
    "in webhook actions and pull URLs.",
)
@click.pass_obj
def channels_secret(obj: _Context, channel: str, value: str, name: str) -> None:
    """Set CHANNEL's secret to VALUE; applied at once, without a restart."""
    runtime = obj.runtime()
    if runtime.apps.channel(channel) is None:
        _fail(NotFound(f"There is no sales channel '{channel}'"))
    runtime.channel_secrets.set(channel, value, name)
    click.echo(f"The {name} secret of {channel} is set.")


@main.group()
def apps() -> None:
    """Validate, apply and list app definitions."""


@apps.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_obj
def apps_validate(obj: _Context, files: tuple[str, ...]) -> None:
    """Check definition FILES (with the bundled apps they may require)."""
    try:
        sources = read_sources(files)
        found = obj.extensions()
        apps = load_apps(
            with_companions(sources, bundled_sources()),
            found.types,
            {**BUILTIN_ACTIONS, **found.actions},
        )
    except DefinitionError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    for warning in apps.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"OK: {len(files)} file(s) valid")


@apps.command("apply")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show the migration plan, change nothing.")
@click.option("--comment", help="Why this change (kept with the version).")
@click.option(
    "--move",
    "moves",
    multiple=True,
    metavar="APP.ENTITY:STATE=NEW",
    help="Move the records of a state the new version removes.",
)
@click.option(
    "--fill",
    "fills",
    multiple=True,
    metavar="APP.ENTITY:FIELD=VALUE",
    help="Fill the empty rows of a field the new version requires.",
)
@click.pass_obj
def apps_apply(
    obj: _Context,
    files: tuple[str, ...],
    dry_run: bool,
    comment: str | None,
    moves: tuple[str, ...],
    fills: tuple[str, ...],
) -> None:
    """Apply definition FILES (default: the bundled apps) and migrate the database; a
    version that leaves existing records in a removed state, or a required field empty,
    is refused until --move and --fill say what to do with them."""
    try:
        sources = read_sources(files) if files else bundled_sources()
        result = obj.apply(
            sources,
            comment=comment,
            dry_run=dry_run,
            moves=_pairs(moves, "--move"),
            fills=_pairs(fills, "--fill"),
            bases=None if files else {app_name(s): s.text for s in sources},
        )
    except AppLoomError as exc:
        _fail(exc)
    _show(result, dry_run)


def _pairs(given: tuple[str, ...], option: str) -> dict[str, str]:
    found = {}
    for text in given:
        key, sign, value = text.partition("=")
        if not sign or ":" not in key:
            raise click.BadParameter(f"'{text}': write APP.ENTITY:NAME=VALUE", param_hint=option)
        found[key] = value
    return found


def _show(result: ApplyResult, dry_run: bool) -> None:
    """The migration plan, the questions about existing data, and what was applied."""
    for step in result.plan.steps:
        click.echo(f"  {step}")
    for question in result.questions:
        click.echo(f"  ? {question}")
    if result.plan.empty:
        click.echo("  (no schema change)")
    if dry_run:
        click.echo("Dry run: nothing was changed.")
    for app, version in result.versions.items():
        click.echo(f"Applied {app} as version {version}")


@apps.command("history")
@click.argument("app", required=False)
@click.pass_obj
def apps_history(obj: _Context, app: str | None) -> None:
    """Every applied version (of APP), oldest first; * marks the live one."""
    with obj.database().read() as conn:
        found = applied.history(conn, app)
    for row in found:
        mark = "*" if row["active"] else " "
        when = row["created_at"].strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{mark} {row['app']:8} v{row['version']:<4} {when}  "
            f"{row['author'] or '-':10} {row['comment'] or ''}"
        )


@apps.command("export")
@click.argument("app")
@click.option("--version", type=int, help="An earlier version (default: the live one).")
@click.pass_obj
def apps_export(obj: _Context, app: str, version: int | None) -> None:
    """Print APP's definition, as applied."""
    try:
        with obj.database().read() as conn:
            click.echo(applied.source_of(conn, app, version).text, nl=False)
    except AppLoomError as exc:
        _fail(exc)


@apps.command("diff")
@click.argument("app")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@click.pass_obj
def apps_diff(obj: _Context, app: str, old: int, new: int | None) -> None:
    """What changed in APP from version OLD to NEW (default: the live version)."""
    try:
        with obj.database().read() as conn:
            before, after = applied.source_of(conn, app, old), applied.source_of(conn, app, new)
    except AppLoomError as exc:
        _fail(exc)
    click.echo(
        applied.diff(before, after, f"{app} v{old}", f"{app} v{new}" if new else f"{app} (live)")
        or "(no change)",
        nl=False,
    )


@apps.command("rollback")
@click.argument("app")
@click.argument("version", type=int)
@click.option("--dry-run", is_flag=True, help="Show the migration plan, change nothing.")
@click.pass_obj
def apps_rollback(obj: _Context, app: str, version: int, dry_run: bool) -> None:
    """Make an earlier VERSION of APP live again (as a new version); archived fields come
    back with their data."""
    try:
        with obj.database().read() as conn:
            source = applied.source_of(conn, app, version)
        result = obj.apply([source], comment=f"rollback to v{version}", dry_run=dry_run)
    except AppLoomError as exc:
        _fail(exc)
    _show(result, dry_run)


@apps.command("upgrade")
@click.argument("app")
@click.option("--dry-run", is_flag=True, help="Show the merge and its plan, change nothing.")
@click.option(
    "--keep-mine",
    is_flag=True,
    help="Where the release and you changed the same setting, keep yours.",
)
@click.pass_obj
def apps_upgrade(obj: _Context, app: str, dry_run: bool, keep_mine: bool) -> None:
    """Merge your changes to APP with this release's bundled definition."""
    with obj.database().read() as conn:
        found = {u.app: u for u in layers.upgrades(conn, bundled_sources())}
    if app not in found:
        click.echo(f"{app} is up to date with this release.")
        return
    merged, conflicts = found[app].merged()
    for conflict in conflicts:
        click.echo(f"  ! {conflict}")
    if conflicts and not keep_mine and not dry_run:
        click.echo(
            "Both you and the release changed these settings: decide in the studio, "
            "or run again with --keep-mine.",
            err=True,
        )
        sys.exit(1)
    try:
        result = obj.apply(
            [Source(found[app].live.file, merged)],
            dry_run=dry_run,
            comment="merged with the release",
            bases={app: found[app].new_base.text},
        )
    except AppLoomError as exc:
        _fail(exc)
    _show(result, dry_run)


@apps.command("list")
@click.pass_obj
def apps_list(obj: _Context) -> None:
    """The live apps and their entities."""
    runtime = obj.runtime()
    for app in runtime.apps.ordered():
        entities = ", ".join(e.name for e in app.entities.values() if not e.is_child)
        click.echo(f"{app.name:8} {app.label.en} — {entities}")


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--password", help="Prompted for when not given.")
@click.option("--name", "display_name", help="Display name.")
@click.pass_obj
def users_create(
    obj: _Context,
    username: str,
    roles: tuple[str, ...],
    password: str | None,
    display_name: str | None,
) -> None:
    """Create USERNAME with the given roles."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = obj.runtime().users.create(username, list(roles), password, display_name)
    except AppLoomError as exc:
        _fail(exc)
    click.echo(f"Created user {user.username} with roles {', '.join(sorted(user.roles))}")


@users.command("disable")
@click.argument("username")
@click.pass_obj
def users_disable(obj: _Context, username: str) -> None:
    """USERNAME can no longer sign in; their sessions and tokens stop working at once."""
    try:
        obj.runtime().users.disable(username)
    except AppLoomError as exc:
        _fail(exc)
    click.echo(f"Disabled {username}: signed out, and their tokens refused.")


@users.command("enable")
@click.argument("username")
@click.pass_obj
def users_enable(obj: _Context, username: str) -> None:
    """USERNAME can sign in again, and their tokens work again."""
    try:
        obj.runtime().users.enable(username)
    except AppLoomError as exc:
        _fail(exc)
    click.echo(f"Enabled {username}.")


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def users_password(obj: _Context, username: str, password_stdin: bool) -> None:
    """Set USERNAME's password (prompted for twice); signs them out everywhere."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        obj.runtime().users.set_password(username, password)
    except AppLoomError as exc:
        _fail(exc)
    click.echo(f"Changed the password of {username}; they are signed out everywhere.")


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--name", help="What the token is for.")
@click.option(
    "--days",
    default=TOKEN_DAYS,
    show_default=True,
    type=click.IntRange(min=1),
    help="How long it works.",
)
@click.pass_obj
def token_create(obj: _Context, username: str, name: str | None, days: int) -> None:
    """Print a new API token for USERNAME (only its hash is stored)."""
    try:
        click.echo(obj.runtime().users.create_token(username, name, days))
    except AppLoomError as exc:
        _fail(exc)


@token.command("list")
@click.argument("username", required=False)
@click.pass_obj
def token_list(obj: _Context, username: str | None) -> None:
    """The tokens (of USERNAME): id, user, name and dates, never the token itself."""
    try:
        found = obj.runtime().users.tokens(username)
    except AppLoomError as exc:
        _fail(exc)
    now = datetime.now(timezone.utc)
    for t in found:
        used = f"{t['last_used_at']:%Y-%m-%d %H:%M}" if t["last_used_at"] else "never"
        expiry = "expired" if t["expires_at"] <= now else "expires"
        click.echo(
            f"{t['id']:>5} {t['username']:12} {t['name'] or '-':20} "
            f"created {t['created_at']:%Y-%m-%d}  last used {used:16}  "
            f"{expiry} {t['expires_at']:%Y-%m-%d}"
        )
    if not found:
        click.echo("No tokens.")


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@click.pass_obj
def token_revoke(obj: _Context, token_id: int) -> None:
    """Stop token ID (from 'apploom token list') working, at once."""
    try:
        obj.runtime().users.revoke_token(token_id)
    except AppLoomError as exc:
        _fail(exc)
    click.echo(f"Revoked token {token_id}.")
